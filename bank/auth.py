"""Authentication with lockout: failed logins and failed signatures count together (21 CFR 11.300(d))."""

from __future__ import annotations

from datetime import timedelta

from django.conf import settings
from django.contrib.auth.backends import ModelBackend
from django.db.models import Max
from django.utils import timezone

from bank.models import AuthEvent

FAILURES = (AuthEvent.Kind.LOGIN_FAILED, AuthEvent.Kind.SIGNATURE_FAILED)
SUCCESSES = (AuthEvent.Kind.LOGIN_OK, AuthEvent.Kind.SIGNATURE_OK)


def record_event(username: str, kind: str, source: str = "") -> None:
    AuthEvent.objects.create(username=(username or "")[:150], kind=kind, source=source[:40])


def recent_failures(username: str) -> int:
    """Failures inside the lockout window since the last success of this username."""
    since = timezone.now() - timedelta(minutes=settings.LOGIN_FAILURE_WINDOW_MINUTES)
    events = AuthEvent.objects.filter(username=username, at__gte=since)
    last_ok = events.filter(kind__in=SUCCESSES).aggregate(last=Max("at"))["last"]
    failures = events.filter(kind__in=FAILURES)
    if last_ok:
        failures = failures.filter(at__gt=last_ok)
    return failures.count()


def is_locked(username: str) -> bool:
    return recent_failures(username) >= settings.LOGIN_FAILURE_LIMIT


class LockoutModelBackend(ModelBackend):
    """ModelBackend that refuses a locked-out username and records every attempt."""

    def authenticate(self, request, username=None, password=None, **kwargs):
        if username is None:
            username = kwargs.get(self._username_field(), None)
        if username is None or password is None:
            return None
        if is_locked(username):
            record_event(username, AuthEvent.Kind.LOGIN_FAILED, "locked")
            return None
        user = super().authenticate(request, username=username, password=password, **kwargs)
        source = "api" if request is not None and request.path.startswith("/api/") else "web"
        record_event(username, AuthEvent.Kind.LOGIN_OK if user else AuthEvent.Kind.LOGIN_FAILED, source)
        return user

    @staticmethod
    def _username_field() -> str:
        from django.contrib.auth import get_user_model

        return get_user_model().USERNAME_FIELD
