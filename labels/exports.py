"""The labels app's list export (issue 17): the printer profiles, as on their page (``bank.exports``)."""

from __future__ import annotations

from django.utils.translation import gettext_lazy as _

from bank.exports import Column, register_export
from bank.models import PrinterProfile

PROFILE_COLUMNS = [
    Column(_("Name"), "name"),
    Column(_("Labels for"), "get_kind_display"),
    Column(_("Output"), "get_output_display"),
    Column(_("Label width (inches)"), "width_in"),
    Column(_("Label height (inches)"), "height_in"),
    Column(_("Sheet page size"), "get_page_size_display"),
    Column(_("Columns on a sheet"), "columns"),
    Column(_("Rows on a sheet"), "rows"),
    Column(_("Left margin (inches)"), "margin_left_in"),
    Column(_("Top margin (inches)"), "margin_top_in"),
    Column(_("Gap between columns (inches)"), "gap_x_in"),
    Column(_("Gap between rows (inches)"), "gap_y_in"),
    Column(_("Printer resolution (ZPL)"), "dpi"),
    Column(_("Default for its kind"), "is_default"),
    Column(_("In use"), "active"),
]


def profiles_queryset():
    """The profiles in the order of their page: in use first, by kind and name."""
    return PrinterProfile.objects.order_by("-active", "kind", "name", "id")


@register_export("labels.printers", url="labels:printers",
                 perms=("bank.add_printerprofile", "bank.change_printerprofile"), title=_("Printer profiles"),
                 filename="printer-profiles")
def printers(user, params):
    return profiles_queryset(), PROFILE_COLUMNS
