import functools

from django.apps import AppConfig, apps
from django.db.models.signals import post_migrate
from django.utils.translation import gettext_lazy as _


def once_all_migrated(receiver):
    """A bank-wide post_migrate receiver run once per ``migrate`` or ``flush``: for the last app with models (the
    signal is sent once per app, in INSTALLED_APPS order), when every app's tables and permissions exist. Each run
    used to repeat for all 17 apps: 2 s of every flush of a transactional test. Called with no sender, it runs."""

    @functools.wraps(receiver)
    def run(sender=None, **kwargs):
        if sender is not None:
            last = [config for config in apps.get_app_configs() if config.models_module is not None][-1]
            if sender.label != last.label:
                return None
        return receiver(sender=sender, **kwargs)

    return run


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
        post_migrate.connect(once_all_migrated(sync_role_permissions), weak=False, dispatch_uid="bank.roles.sync")
        post_migrate.connect(once_all_migrated(install_append_only_triggers), weak=False,
                             dispatch_uid="bank.audit.triggers")
        # Part 11 integrity (issue 11): every history row gets a link in the tamper-evident audit chain (PostgreSQL);
        # the system check wants AUDIT_CHAIN_KEY in production.
        import bank.integrity_checks  # noqa: F401
        from bank.audit_chain import install_audit_chain

        post_migrate.connect(once_all_migrated(install_audit_chain), weak=False,
                             dispatch_uid="bank.audit_chain.install")
        from bank.seeds import reseed_empty_tables

        post_migrate.connect(once_all_migrated(reseed_empty_tables), weak=False, dispatch_uid="bank.seeds.reseed")
        from bank.tally import install_tally_triggers

        # Kept counts (bank/tally.py): the apps define theirs in ready(); installed once every app has migrated.
        post_migrate.connect(install_tally_triggers, sender=self, dispatch_uid="bank.tally.triggers")
        from bank.operations_admin import register as register_operations_admin

        register_operations_admin()  # the outbox and the heartbeats in the admin (issue 11, operations)
        from bank.roles import ADMIN, COORDINATOR, QA, RESEARCHER, TECHNICIAN

        register_nav("dashboard", _("Dashboard"), "dashboard", order=0)
        register_nav("api", _("API"), "api-docs", order=900,
                     roles=(COORDINATOR, TECHNICIAN, QA, RESEARCHER, ADMIN))
        register_nav("users", _("Users"), "accounts_users", order=950, roles=(ADMIN,))
        # Authentication and access (issue 11): a login starts the session's clocks (bank.access).
        from django.contrib.auth.signals import user_logged_in

        from bank.access import on_login

        user_logged_in.connect(on_login, dispatch_uid="bank.access.on_login")
        from bank.integrity_views import audit_panel_context
        from bank.registry import register_panel

        register_panel("audit", "bank/partials/audit_panel.html", audit_panel_context,
                       perms=("bank.view_audit_trail",), order=940)
        from bank.jobs import dashboard_context as jobs_panel_context

        register_panel("jobs", "bank/partials/jobs_panel.html", jobs_panel_context, order=5)  # issue 17
        from bank.jobs import register_job

        # Issue 17: a list page's big XLSX export runs in the worker (bank/exports.py).
        register_job("bank.export", "bank.exports.run_export_job", label=_("List export (XLSX)"))
