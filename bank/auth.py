"""Authentication with lockout (21 CFR 11.300(d)): failed logins, failed signatures and failed password
checks count together, per username **and client address**.

After ``LOGIN_FAILURE_LIMIT`` failures within ``LOGIN_FAILURE_WINDOW_MINUTES`` the pair (username, address)
is locked for ``LOGIN_LOCKOUT_MINUTES``; each further lockout of the pair doubles that, up to
``LOGIN_LOCKOUT_MAX_MINUTES``. A success from that address, or an admin's unlock, starts the pair afresh;
lockouts older than ``LOGIN_LOCKOUT_MEMORY_HOURS`` are forgotten. Attempts made while locked are recorded as
``locked_out`` events that never count, so nobody can keep a QA officer locked out by trying one wrong
password every few minutes; and a stranger failing from another computer never locks the officer's own bench.

The lock state is not stored: it is replayed from the ``AuthEvent`` rows of the pair (one indexed query), so
there is no second copy to drift from the record of attempts.
"""

from __future__ import annotations

import contextvars
import ipaddress
import math
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.contrib.auth import get_user_model, password_validation
from django.contrib.auth.backends import ModelBackend
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import ngettext

from bank.models import AuthEvent

Kind = AuthEvent.Kind
FAILURES = (Kind.LOGIN_FAILED, Kind.SIGNATURE_FAILED, Kind.PASSWORD_FAILED)
SUCCESSES = (Kind.LOGIN_OK, Kind.SIGNATURE_OK)


def now() -> datetime:
    """The clock the lockout reads (tests move it to travel past a lock)."""
    return timezone.now()


# --- the client address --------------------------------------------------------------------------------------

_client_ip: contextvars.ContextVar[str | None] = contextvars.ContextVar("stembank_client_ip", default=None)


def valid_ip(value: str | None) -> str | None:
    try:
        return ipaddress.ip_address((value or "").strip()).compressed
    except ValueError:
        return None


def client_ip(request) -> str | None:
    """The address a request came from: ``REMOTE_ADDR``, or behind ``TRUSTED_PROXY_COUNT`` reverse proxies the
    address the outermost of them saw (the N-th entry from the right of ``X-Forwarded-For``).

    With no trusted proxy (the default) the header is ignored: anybody can send one, and trusting it would let
    an attacker pick a fresh address for every guess.
    """
    meta = getattr(request, "META", {})
    remote = valid_ip(meta.get("REMOTE_ADDR"))
    hops = settings.TRUSTED_PROXY_COUNT
    if hops > 0:
        forwarded = [part.strip() for part in meta.get("HTTP_X_FORWARDED_FOR", "").split(",") if part.strip()]
        if forwarded:
            return valid_ip(forwarded[-min(hops, len(forwarded))]) or remote
    return remote


def current_client_ip() -> str | None:
    """The address of the request being served (set by ``bank.access.ClientAddressMiddleware``), None in a task."""
    return _client_ip.get()


class bind_client_ip:  # noqa: N801 — used as a context manager like a function
    """``with bind_client_ip(address):`` — events recorded inside name this client address."""

    def __init__(self, address: str | None) -> None:
        self.address = address

    def __enter__(self):
        self._token = _client_ip.set(self.address)
        return self.address

    def __exit__(self, *exc) -> None:
        _client_ip.reset(self._token)


# --- events and the lock --------------------------------------------------------------------------------------


CURRENT = object()  # record_event's default address: the request being served


def record_event(username: str, kind: str, source: str = "", *, ip=CURRENT, actor=None,
                 reason: str = "") -> AuthEvent:
    """Record an attempt (or an unlock) for ``ip`` — by default the address of the request being served."""
    return AuthEvent.objects.create(
        username=(username or "")[:150], kind=kind, source=(source or "")[:40], at=now(),
        client_ip=current_client_ip() if ip is CURRENT else ip, actor=actor, reason=(reason or "")[:300],
    )


@dataclass(frozen=True)
class Lock:
    """A pair (username, client address) that may not log in or sign until ``until``."""

    username: str
    client_ip: str | None
    until: datetime
    lockouts: int  # how many times the pair was locked in a row (the backoff step)

    @property
    def minutes_left(self) -> int:
        return max(1, math.ceil((self.until - now()).total_seconds() / 60))

    @property
    def message(self) -> str:
        minutes = self.minutes_left
        return ngettext(
            "Too many failed attempts for this account from this computer. Try again in %(minutes)d minute, "
            "or ask an administrator to unlock it.",
            "Too many failed attempts for this account from this computer. Try again in %(minutes)d minutes, "
            "or ask an administrator to unlock it.",
            minutes,
        ) % {"minutes": minutes}


def lock_duration(lockouts: int) -> timedelta:
    """The base lock doubled for each lockout after the first, capped."""
    minutes = settings.LOGIN_LOCKOUT_MINUTES * 2 ** min(max(lockouts - 1, 0), 30)
    return timedelta(minutes=min(minutes, settings.LOGIN_LOCKOUT_MAX_MINUTES))


def _pair_q(ip: str | None) -> Q:
    return Q(client_ip=ip) if ip is not None else Q(client_ip__isnull=True)


def _replay(rows, username: str, ip: str | None, at: datetime) -> Lock | None:
    """Walk the pair's events oldest first: ``rows`` is ``[(kind, at), ...]``."""
    window = timedelta(minutes=settings.LOGIN_FAILURE_WINDOW_MINUTES)
    limit = settings.LOGIN_FAILURE_LIMIT
    lockouts, until, recent = 0, None, []
    for kind, when in rows:
        if kind in SUCCESSES or kind == Kind.UNLOCKED:
            lockouts, until, recent = 0, None, []
            continue
        if until is not None and when < until:
            continue  # recorded during a lock (a race with the check): never extends it
        recent = [t for t in recent if t > when - window] + [when]
        if len(recent) >= limit:
            lockouts += 1
            until = when + lock_duration(lockouts)
            recent = []
    if until is not None and until > at:
        return Lock(username=username, client_ip=ip, until=until, lockouts=lockouts)
    return None


def _events(at: datetime):
    since = at - timedelta(hours=settings.LOGIN_LOCKOUT_MEMORY_HOURS)
    return AuthEvent.objects.filter(at__gte=since, at__lte=at)


def _pair_rows(username: str, ip: str | None, at: datetime):
    """The events that decide one pair: its failures and successes, and the username's unlocks (for every
    address, or for this one)."""
    return (_events(at).filter(username=username)
            .filter((_pair_q(ip) & Q(kind__in=FAILURES + SUCCESSES))
                    | (Q(kind=Kind.UNLOCKED) & (Q(client_ip__isnull=True) | _pair_q(ip))))
            .order_by("at", "id").values_list("kind", "at"))


def lock_for(username: str, ip: str | None = None) -> Lock | None:
    """The lock on (``username``, ``ip``) now, or None."""
    at = now()
    return _replay(_pair_rows(username, ip, at), username, ip, at)


def is_locked(username: str, ip: str | None = None) -> bool:
    return lock_for(username, ip) is not None


def active_locks(usernames=None) -> list[Lock]:
    """Every pair locked now (optionally of some usernames), longest first: one query.

    Unlocks for every address are reported with a null address and apply to every pair of their username.
    """
    at = now()
    events = _events(at).filter(kind__in=FAILURES + SUCCESSES + (Kind.UNLOCKED,))
    if usernames is not None:
        events = events.filter(username__in=list(usernames))
    pairs: dict[tuple[str, str | None], list] = {}
    unlocks_everywhere: dict[str, list] = {}
    for username, ip, kind, when in events.order_by("at", "id").values_list("username", "client_ip", "kind", "at"):
        if kind == Kind.UNLOCKED and ip is None:
            unlocks_everywhere.setdefault(username, []).append((kind, when))
        else:
            pairs.setdefault((username, ip), []).append((kind, when))
    locks = []
    for (username, ip), rows in pairs.items():
        merged = sorted(rows + unlocks_everywhere.get(username, []), key=lambda row: row[1])
        lock = _replay(merged, username, ip, at)
        if lock is not None:
            locks.append(lock)
    return sorted(locks, key=lambda lock: (lock.username, -lock.until.timestamp()))


def refuse_if_locked(username: str, *, source: str, ip: str | None = None) -> Lock | None:
    """The pair's lock (recording the attempt as ``locked_out``, which never counts), or None when free."""
    ip = ip if ip is not None else current_client_ip()
    lock = lock_for(username, ip)
    if lock is not None:
        record_event(username, Kind.LOCKED_OUT, source, ip=ip)
    return lock


class AccountLocked(Exception):
    """``check_password`` refused to look at the password: the pair is locked (``lock``)."""

    def __init__(self, lock: Lock) -> None:
        self.lock = lock
        super().__init__(lock.message)


def check_password(user, password: str | None, *, failed_kind: str, ok_kind: str | None = None,
                   source: str) -> bool:
    """Re-check the password of a known account (a signature, a password change, a second factor).

    While the pair (user, this client address) is locked the password is not even looked at: the attempt is
    recorded as ``locked_out`` and ``AccountLocked`` raised. A wrong password is recorded as ``failed_kind``
    and counts towards the lock; a right one is recorded as ``ok_kind`` when given. Call it outside the
    caller's transaction, so a failure is kept when the caller rolls back.
    """
    username = user.get_username()
    lock = refuse_if_locked(username, source=source)
    if lock is not None:
        raise AccountLocked(lock)
    ok = bool(password) and user.is_active and user.check_password(password)
    if ok:
        if ok_kind:
            record_event(username, ok_kind, source)
        return True
    record_event(username, failed_kind, source)
    return False


def unlock(username: str, *, actor, reason: str, ip: str | None = None) -> AuthEvent:
    """Record an admin's unlock of ``username`` (for one address, or every address when ``ip`` is None).

    The caller (``bank.services.unlock_account``) checks the reason and records the account change.
    """
    return record_event(username, Kind.UNLOCKED, "admin", ip=ip, actor=actor, reason=reason)


# --- the login backend --------------------------------------------------------------------------------------


def lock_of(request) -> Lock | None:
    """The lock that refused the last ``authenticate()`` of this request, if one did."""
    return getattr(request, "_stembank_lock", None)


class LockoutModelBackend(ModelBackend):
    """ModelBackend that refuses a locked pair (username, client address) and records every attempt.

    A refused attempt leaves the lock on the request (``lock_of(request)``), so the login form and the token
    endpoint can say "locked, try again in N minutes" — without ever telling whether the password was right.
    """

    def authenticate(self, request, username=None, password=None, record_success=True, **kwargs):
        """``record_success=False``: the caller records the login once it is complete (after a second factor),
        so a right password followed by wrong codes does not reset the count of failures."""
        if username is None:
            username = kwargs.get(get_user_model().USERNAME_FIELD)
        if username is None or password is None:
            return None
        ip = client_ip(request) if request is not None else current_client_ip()
        source = "api" if request is not None and request.path.startswith("/api/") else "web"
        lock = refuse_if_locked(username, source=source, ip=ip)
        if lock is not None:
            if request is not None:
                request._stembank_lock = lock
            return None
        user = super().authenticate(request, username=username, password=password, **kwargs)
        if user is None:
            record_event(username, Kind.LOGIN_FAILED, source, ip=ip)
            if request is not None:
                request._stembank_lock = lock_for(username, ip)  # this failure may have just locked the pair
        elif record_success:
            record_event(username, Kind.LOGIN_OK, source, ip=ip)
        return user

    def get_user(self, user_id):
        """The session's user with its account policy in the same query (a LEFT JOIN): every page asks whether
        the user must change the password first (``bank.access``) without a query of its own."""
        model = get_user_model()
        try:
            user = model._default_manager.select_related("account_policy").get(pk=user_id)
        except model.DoesNotExist:
            return None
        return user if self.user_can_authenticate(user) else None



class MinimumLengthValidator(password_validation.MinimumLengthValidator):
    """Django's length rule with the bank's ``PASSWORD_MIN_LENGTH`` (12 in production, 8 in the embedded demo)."""

    def __init__(self, min_length: int | None = None) -> None:
        super().__init__(min_length or 8)
        self._fixed = min_length

    @property
    def min_length(self) -> int:
        return self._fixed or settings.PASSWORD_MIN_LENGTH

    @min_length.setter
    def min_length(self, value) -> None:
        pass  # the setting decides (read at each check, so a change of settings applies at once)
