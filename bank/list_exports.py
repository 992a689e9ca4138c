"""The bank-wide list exports (issue 17): the admins' users page and each user's own notifications
(``bank.exports``). Imported by ``bank.exports`` with the apps' ``exports`` modules."""

from __future__ import annotations

from django.utils.translation import gettext_lazy as _

from bank import account_queries, auth
from bank.exports import Column, Prepared, register_export
from bank.models import AccountChange, Notification
from bank.roles import ROLES

USERS_PERMS = ("auth.view_user", "auth.change_user")


def account_filters(params) -> dict:
    """The users page's filters: ``q`` (username, name or e-mail), ``role``, ``active``, ``locked``."""
    role = params.get("role") or ""
    return {"q": (params.get("q") or "").strip()[:150], "role": role if role in ROLES else "",
            "active": account_queries.parse_flag(params.get("active")),
            "locked": account_queries.parse_flag(params.get("locked"))}


def _account_rows(batch):
    from django_otp.plugins.otp_totp.models import TOTPDevice

    from bank import services

    locks: dict[str, list] = {}
    for lock in auth.active_locks([u.username for u in batch]):
        locks.setdefault(lock.username, []).append(lock)
    enrolled = set(TOTPDevice.objects.filter(user__in=batch, confirmed=True).values_list("user_id", flat=True))
    kinds = dict(AccountChange.Kind.choices)
    return [{"user": u, "roles": [str(ROLES[g.name]) for g in u.groups.all() if g.name in ROLES],
             "locked": bool(locks.get(u.username)), "second_factor": u.pk in enrolled,
             "must_change_password": services.must_change_password(u),
             "last_change": kinds.get(u.last_change_kind, ""), "last_change_at": u.last_change_at} for u in batch]


USER_COLUMNS = [
    Column(_("Username"), "user.username"),
    Column(_("Name"), "user.get_full_name"),
    Column(_("Roles"), "roles"),
    Column(_("Active"), "user.is_active"),
    Column(_("Must change the password"), "must_change_password"),
    Column(_("Locked out"), "locked"),
    Column(_("Second factor"), "second_factor"),
    Column(_("Last login"), "user.last_login"),
    Column(_("Last account change"), "last_change"),
    Column(_("Last account change at"), "last_change_at"),
]


@register_export("bank.users", url="accounts_users", perms=USERS_PERMS, title=_("Users"), filename="users")
def users(user, params):
    return Prepared(account_queries.accounts(**account_filters(params)), _account_rows), USER_COLUMNS


NOTIFICATION_COLUMNS = [
    Column(_("When"), "created_at"),
    Column(_("Level"), "get_level_display"),
    Column(_("Subject"), "subject"),
    Column(_("Details"), "body"),
    Column(_("Link"), "link"),
    Column(_("Read at"), "read_at"),
]


@register_export("bank.notifications", url="notifications", title=_("Notifications"), filename="notifications")
def notifications(user, params):
    """The user's own notifications, whoever they are (no permission beyond being signed in)."""
    return Notification.objects.filter(recipient=user).order_by("-created_at", "-id"), NOTIFICATION_COLUMNS


JOB_COLUMNS = [
    Column(_("Started"), "created_at"),
    Column(_("Job"), "title"),
    Column(_("Kind"), "kind"),
    Column(_("User"), "user.username"),
    Column(_("Status"), "get_status_display"),
    Column(_("Done"), "done"),
    Column(_("Total"), "total"),
    Column(_("Message"), "message"),
    Column(_("Error"), "error"),
    Column(_("Finished"), "finished_at"),
]


@register_export("bank.jobs", url="jobs", title=_("Jobs"), filename="jobs")
def jobs_list(user, params):
    """The user's jobs (``?all=1``: everyone's, for an admin), as on the jobs page."""
    from bank.jobs import listed_jobs

    return listed_jobs(user, params)[0], JOB_COLUMNS
