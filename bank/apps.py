from django.apps import AppConfig
from django.db.models.signals import post_migrate
from django.utils.translation import gettext_lazy as _


class BankConfig(AppConfig):
    name = "bank"
    verbose_name = _("Bank")

    def ready(self) -> None:
        from simple_history.signals import pre_create_historical_record

        from bank.audit import install_append_only_triggers, stamp_reason
        from bank.registry import register_nav
        from bank.roles import sync_role_permissions

        pre_create_historical_record.connect(stamp_reason, dispatch_uid="bank.audit.stamp_reason")
        # Runs after every app's migrations: roles get their permissions, history becomes append-only.
        post_migrate.connect(sync_role_permissions, dispatch_uid="bank.roles.sync")
        post_migrate.connect(install_append_only_triggers, dispatch_uid="bank.audit.triggers")
        from bank.seeds import reseed_empty_tables

        post_migrate.connect(reseed_empty_tables, dispatch_uid="bank.seeds.reseed")
        from bank.roles import ADMIN, COORDINATOR, QA, RESEARCHER, TECHNICIAN

        register_nav("dashboard", _("Dashboard"), "dashboard", order=0)
        register_nav("api", _("API"), "api-docs", order=900,
                     roles=(COORDINATOR, TECHNICIAN, QA, RESEARCHER, ADMIN))
        register_nav("users", _("Users"), "admin:auth_user_changelist", order=950, roles=(ADMIN,))
