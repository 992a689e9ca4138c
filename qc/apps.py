from django.apps import AppConfig
from django.db.models.signals import post_migrate
from django.utils.translation import gettext_lazy as _


def ensure_catalog(sender=None, using="default", **kwargs) -> None:
    """post_migrate: put back the test catalog and version 1 specifications when the tables are empty.

    Migration 0002 seeds them; a database flushed after migrating (as transactional tests do) would
    otherwise have no catalog. Never touches a catalog that exists.
    """
    import importlib

    from django.apps import apps
    from django.db import connections

    from qc.models import QCTest

    connection = connections[using]
    if QCTest._meta.db_table not in connection.introspection.table_names():
        return
    if QCTest.objects.using(using).exists():
        return
    importlib.import_module("qc.migrations.0002_catalog_v1").seed(apps, None)


class QcConfig(AppConfig):
    name = "qc"
    verbose_name = _("QC and release")

    def ready(self) -> None:
        from bank.registry import register_nav, register_object_panel, register_panel, register_scanner
        from bank.roles import ADMIN, QA, TECHNICIAN
        from qc import views

        post_migrate.connect(ensure_catalog, sender=self, dispatch_uid="qc.ensure_catalog")
        register_nav("qc", _("QA release"), "qc:dashboard", roles=(QA, ADMIN), order=400)
        register_nav("qc-results", _("QC results"), "qc:results", roles=(TECHNICIAN, QA), order=410)
        register_panel("qc", "qc/partials/dashboard_panel.html", views.qa_panel_context,
                       perms=("qc.release_lot",), order=400)
        register_panel("qc-bench", "qc/partials/bench_panel.html", views.bench_panel_context,
                       perms=("qc.add_qcresult",), order=410)
        register_object_panel("lots.lot", "qc", "qc/partials/lot_panel.html", views.lot_panel_context,
                              perms=("qc.view_qcresult",), order=400)
        register_scanner(views.resolve_scan, order=400)
