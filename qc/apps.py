from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class QcConfig(AppConfig):
    name = "qc"
    verbose_name = _("QC and release")

    def ready(self) -> None:
        from bank.registry import register_hook, register_nav, register_object_panel, register_panel, register_scanner
        from bank.roles import ADMIN, QA, TECHNICIAN
        from qc import demo, queries, services, views

        register_hook("lot_qc_summary", queries.qc_summary)
        register_hook("demo_release_master", demo.qualify_master)
        register_hook("collection_deviation", services.open_collection_deviation)  # issue 15, custody

        register_nav("qc", _("QA release"), "qc:dashboard", roles=(QA, ADMIN), order=400)
        register_nav("qc-results", _("QC results"), "qc:results", roles=(TECHNICIAN, QA), order=410)
        register_panel("qc", "qc/partials/dashboard_panel.html", views.qa_panel_context,
                       perms=("qc.release_lot",), order=400)
        register_panel("qc-bench", "qc/partials/bench_panel.html", views.bench_panel_context,
                       perms=("qc.add_qcresult",), order=410)
        register_object_panel("lots.lot", "qc", "qc/partials/lot_panel.html", views.lot_panel_context,
                              perms=("qc.view_qcresult",), order=400)
        register_scanner(views.resolve_scan, order=400)
