from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class QualityConfig(AppConfig):
    """Quality management (issue 16) sits downstream of every bench app: it reads donors, lots, qc and distribution,
    and none of them imports it. The bench services reach its gates through the ``activity_gate`` hook
    (bank.registry), registered here with its navigation and the QA dashboard panel."""

    name = "quality"
    verbose_name = _("Quality management")

    def ready(self) -> None:
        from bank.registry import register_hook, register_nav, register_object_panel, register_panel
        from quality import gates, panels

        register_hook("activity_gate", gates.on_activity)
        register_nav("quality", _("Quality"), "quality:matrix", perms=("quality.view_training",), order=420)
        register_panel("quality", "quality/partials/dashboard_panel.html", panels.dashboard_context,
                       perms=("quality.view_equipment",), order=450)
        register_object_panel("lots.cellline", "quality-trends", "quality/partials/line_trends.html",
                              panels.line_trends, perms=("qc.view_qcresult",), order=300)
