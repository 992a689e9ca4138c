"""System checks of Part 11 integrity (issue 11): the audit chain's checkpoint key."""

from __future__ import annotations

from django.conf import settings
from django.core.checks import Error, register


@register()
def audit_chain_key(app_configs=None, **kwargs) -> list[Error]:
    """Production on PostgreSQL needs AUDIT_CHAIN_KEY: without it no checkpoint can be keyed, and a superuser could
    rewrite history and re-hash the chain unseen. (SQLite has no chain: nothing to key.)"""
    if not getattr(settings, "PRODUCTION", False):
        return []
    if settings.DATABASES["default"]["ENGINE"] != "django.db.backends.postgresql":
        return []
    key = getattr(settings, "AUDIT_CHAIN_KEY", "")
    if not key:
        return [Error(
            "AUDIT_CHAIN_KEY is not set: the audit chain's checkpoints cannot be keyed.",
            hint="Set AUDIT_CHAIN_KEY (or AUDIT_CHAIN_KEY_FILE) to a random secret of 32+ characters kept outside "
                 "the database, e.g. `python -c 'import secrets; print(secrets.token_hex(32))'`.",
            id="bank.E111",
        )]
    if len(key) < 32:
        return [Error("AUDIT_CHAIN_KEY is shorter than 32 characters.",
                      hint="Use a random secret of 32+ characters.", id="bank.E112")]
    return []
