from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class ImportsConfig(AppConfig):
    """Migration imports (issue 17): an existing inventory (cell lines, lots and vials with positions, cord blood
    units with HLA typings) brought in from another LIMS or a spreadsheet. Downstream of every bench app: it writes
    through their services and models, and none of them imports it."""

    name = "imports"
    verbose_name = _("Migration imports")

    def ready(self) -> None:
        from bank.jobs import register_job
        from bank.registry import register_nav

        register_job("imports.run", "imports.services.run_import_job", label=_("Migration import"))
        register_nav("imports", _("Imports"), "imports:index", perms=("imports.view_importrun",), order=880)
