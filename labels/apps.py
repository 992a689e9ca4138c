from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class LabelsConfig(AppConfig):
    """Labels for every container (issue 17): vial selections, boxes (one, a rack's, a unit's) and lots, on the
    printer profiles admins keep. Downstream of lots and storage (it reads both, neither imports it); the layout
    engine and the profiles themselves are bank's (bank/labels.py, bank/printers.py)."""

    name = "labels"
    verbose_name = _("Labels")

    def ready(self) -> None:
        from bank.jobs import register_job
        from bank.registry import register_nav
        from bank.roles import ADMIN, QA, TECHNICIAN

        register_job("labels.sheet", "labels.services.run_label_job", label=_("Label sheet"))
        register_nav("labels", _("Labels"), "labels:vials", perms=("lots.view_vial",),
                     roles=(TECHNICIAN, QA, ADMIN), order=35)
