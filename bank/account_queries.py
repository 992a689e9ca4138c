"""Reads of the admins' user management, shared by the users page and ``GET /api/v1/accounts/``."""

from __future__ import annotations

from django.contrib.auth import get_user_model
from django.db.models import OuterRef, Prefetch, Q, QuerySet, Subquery

from bank import auth
from bank.models import AccountChange
from bank.roles import ROLES


def accounts(*, q: str = "", role: str = "", active: bool | None = None, locked: bool | None = None) -> QuerySet:
    """Every account, by username, with its roles prefetched, its account policy joined and its latest account
    change annotated (``last_change_at``, ``last_change_kind``); optionally found by ``q`` (username, name or
    e-mail), and filtered by ``role``, ``active`` and ``locked`` (locked out at some address now).

    ``locked`` costs one query over the recent authentication events (``bank.auth.active_locks``), whatever
    the number of accounts."""
    User = get_user_model()
    latest = AccountChange.objects.filter(user=OuterRef("pk")).order_by("-at", "-id")
    qs = (User.objects.order_by("username")
          .select_related("account_policy")
          .prefetch_related(Prefetch("groups"))
          .annotate(last_change_at=Subquery(latest.values("at")[:1]),
                    last_change_kind=Subquery(latest.values("kind")[:1])))
    q = (q or "").strip()[:150]
    if q:
        words = q.split()
        for word in words:
            qs = qs.filter(Q(username__icontains=word) | Q(first_name__icontains=word)
                           | Q(last_name__icontains=word) | Q(email__icontains=word))
    if role in ROLES:
        qs = qs.filter(groups__name=role)
    if active is not None:
        qs = qs.filter(is_active=active)
    if locked is not None:
        names = {lock.username for lock in auth.active_locks()}
        qs = qs.filter(username__in=names) if locked else qs.exclude(username__in=names)
    return qs


def parse_flag(value) -> bool | None:
    """``yes``/``no`` (also ``true``/``false``, ``1``/``0``) of a filter; anything else means "either"."""
    text = str(value or "").strip().lower()
    if text in ("yes", "true", "1"):
        return True
    if text in ("no", "false", "0"):
        return False
    return None
