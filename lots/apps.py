from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class LotsConfig(AppConfig):
    name = "lots"
    verbose_name = _("Cell lines and lots")

    def ready(self) -> None:
        from django.core import checks
        from django.db.models.signals import post_migrate

        from lots.stock import install_stock_triggers

        post_migrate.connect(install_stock_triggers, sender=self, dispatch_uid="lots.stock.triggers")
        from bank.tally import define

        define("lots.status", "lots_lot", "{r}.status")  # the dashboard's lots by status, the list's total
        define("lots.cellline", "lots_cellline", "{r}.cell_type || ':' || {r}.grade")  # the lines list's total

        from bank.registry import register_hook, register_nav, register_object_panel, register_panel, register_scanner
        from bank.roles import ADMIN, COORDINATOR, QA, TECHNICIAN
        from lots import checks as lot_checks
        from lots import queries, services, views

        register_hook("consent_withdrawn", services.on_consent_withdrawn, order=20)
        register_hook("derived_lots", queries.derived_lots)
        register_hook("lines_under_approvals", queries.lines_under_approvals)  # issue 15, donors' ethics panel

        checks.register(lot_checks.check_naming_settings)
        register_nav("lots", _("Lots"), "lots:lot_list", perms=("lots.view_lot",),
                     roles=(TECHNICIAN, QA, COORDINATOR, ADMIN), order=20)
        register_scanner(views.resolve_scan, order=20)
        register_panel("lots", "lots/panels/dashboard.html", views.dashboard_panel, perms=("lots.view_lot",), order=20)
        register_object_panel("donors.donor", "lots", "lots/panels/donor_lines.html", views.donor_panel,
                              perms=("lots.view_cellline", "lots.view_lot"), order=20)
