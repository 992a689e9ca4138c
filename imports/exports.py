"""The imports app's list export (issue 17): the history of imports, as the page shows it to the user
(``bank.exports``)."""

from __future__ import annotations

from django.utils.translation import gettext_lazy as _

from bank.exports import Column, register_export
from imports.queries import visible_runs

RUN_COLUMNS = [
    Column(_("Import"), "pk"),
    Column(_("Started"), "created_at"),
    Column(_("Kind"), "get_kind_display"),
    Column(_("Source system"), "source"),
    Column(_("File"), "filename"),
    Column(_("File SHA-256"), "sha256"),
    Column(_("Dry run"), "dry_run"),
    Column(_("Status"), "get_status_display"),
    Column(_("Rows"), "rows"),
    Column(_("Rows already imported"), "skipped"),
    Column(_("Bad rows"), "error_count"),
    Column(_("Imported by"), "user.username"),
    Column(_("Finished"), "finished_at"),
]


@register_export("imports.runs", url="imports:index", perms=("imports.view_importrun",), title=_("Imports"),
                 filename="imports")
def runs(user, params):
    return visible_runs(user), RUN_COLUMNS
