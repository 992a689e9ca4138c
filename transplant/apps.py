from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class TransplantConfig(AppConfig):
    name = "transplant"
    verbose_name = _("Transplant centres")

    def ready(self) -> None:
        from bank.registry import register_nav, register_panel
        from transplant import panels

        # A clinician's whole navigation is these two (and the dashboard): no bank-internal page is theirs.
        register_nav("transplant", _("Transplant"), "transplant:index", perms=("transplant.view_order",), order=750)
        register_nav("transplant-patients", _("Patients"), "transplant:patients",
                     perms=("transplant.search_units",), order=755)
        register_panel("transplant-work", "transplant/panels/work.html", panels.work_panel,
                       perms=("transplant.view_order",), order=700)
