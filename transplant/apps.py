from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class TransplantConfig(AppConfig):
    name = "transplant"
    verbose_name = _("Transplant centres")

    def ready(self) -> None:
        from bank.registry import register_hook, register_nav, register_object_panel, register_panel
        from transplant import panels
        from transplant.services import safety

        # A clinician's whole navigation is these two (and the dashboard): no bank-internal page is theirs.
        register_nav("transplant", _("Transplant"), "transplant:index", perms=("transplant.view_order",), order=750)
        register_nav("transplant-patients", _("Patients"), "transplant:patients",
                     perms=("transplant.search_units",), order=755)
        register_panel("transplant-work", "transplant/panels/work.html", panels.work_panel,
                       perms=("transplant.view_order",), order=700)
        # A recall reaches the patients only this app knows: the look-back of transplant orders.
        register_hook("lot_recalled", safety.on_lot_recalled)
        # The recall's page lists the transplant look-back (shown once distribution's recall page renders
        # object panels; the transplant order page and worklist show it meanwhile).
        register_object_panel("distribution.recall", "transplant-look-back", "transplant/panels/recall_look_back.html",
                              panels.recall_look_back_panel, perms=("transplant.view_order",), order=500)
