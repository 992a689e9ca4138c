"""Who may use a browser session, and for how long (pages and the API's session authentication alike).

* ``ClientAddressMiddleware`` notes the request's client address (``bank.auth.client_ip``) for the lockout of
  logins, signatures and password checks made while serving it.
* ``SessionLimitsMiddleware`` ends a session idle for ``SESSION_IDLE_TIMEOUT_MINUTES`` or older than
  ``SESSION_ABSOLUTE_HOURS`` (shared bench PCs: nobody finds a QA officer's session open after lunch), refuses
  every page to a session of a sensor account (sensors post readings with a token), and keeps an
  account that needs a second factor on the second-factor page until it has given one, then an account an
  admin required to change its password on the password change page until it has (the API answers such a
  session 403 ``password_change_required``). API token requests carry no session: the token authentication
  refuses a flagged account itself (``bank.api.authentication``).
"""

from __future__ import annotations

import math
import time
from urllib.parse import urlsplit

from django.conf import settings
from django.contrib.auth import logout
from django.contrib.auth.models import AnonymousUser
from django.core.exceptions import PermissionDenied
from django.http import HttpResponse
from django.shortcuts import redirect
from django.urls import reverse
from django.utils.http import urlencode
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from bank.api.errors import is_api_request
from bank.auth import bind_client_ip, client_ip
from bank.roles import is_sensor_account

STARTED = "stembank_session_started"
SEEN = "stembank_session_seen"
SIGNED_OUT = "stembank_signed_out"
# The last-activity stamp is rewritten at most this often (seconds): not a session write per request.
TOUCH_EVERY = 10


def idle_seconds() -> float:
    return float(settings.SESSION_IDLE_TIMEOUT_MINUTES) * 60


def absolute_seconds() -> float:
    return float(settings.SESSION_ABSOLUTE_HOURS) * 3600


def warning_seconds() -> float:
    """How long before the end the page warns: ``SESSION_IDLE_WARNING_SECONDS``, at most half the timeout."""
    return min(float(settings.SESSION_IDLE_WARNING_SECONDS), idle_seconds() / 2)


def remaining_seconds(session, at: float | None = None) -> float:
    """Seconds the session has left: the sooner of the idle and the absolute limit."""
    at = time.time() if at is None else at
    seen = session.get(SEEN, at)
    started = session.get(STARTED, at)
    return max(0.0, min(idle_seconds() - (at - seen), absolute_seconds() - (at - started)))


def start_session(request) -> None:
    """Called at login: the absolute limit counts from here."""
    at = time.time()
    request.session[STARTED] = at
    request.session[SEEN] = at


def on_login(sender, request, user, **kwargs) -> None:
    """user_logged_in receiver: the absolute limit counts from here, and whether this account owes a second
    factor is settled now, so the pages that follow read both from the session without a query or a write."""
    from bank import second_factor

    if getattr(request, "session", None) is None:
        return
    start_session(request)
    second_factor.note_login(request, user)


def touch(request) -> None:
    request.session[SEEN] = time.time()


def end_session(request, reason: str) -> None:
    """Log out and leave the reason for the login page."""
    logout(request)
    request.session[SIGNED_OUT] = reason


def signed_out_message(reason: str) -> str:
    """What the login page says after the bank ended a session."""
    if reason == "idle":
        minutes = max(1, math.ceil(float(settings.SESSION_IDLE_TIMEOUT_MINUTES)))
        return ngettext(
            "You were signed out after %(minutes)s minute without activity. Log in again to continue.",
            "You were signed out after %(minutes)s minutes without activity. Log in again to continue.",
            minutes,
        ) % {"minutes": minutes}
    if reason == "absolute":
        return _("Your session reached its %(hours)s-hour limit. Log in again to continue.") % {
            "hours": settings.SESSION_ABSOLUTE_HOURS}
    return ""


class ClientAddressMiddleware:
    """Binds the request's client address for ``bank.auth`` (signatures and password checks deep in services)."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        with bind_client_ip(client_ip(request)):
            return self.get_response(request)


# Paths an account waiting for its second factor may still open.
def _second_factor_paths() -> tuple[str, ...]:
    return (reverse("second_factor"), reverse("second_factor_setup"), reverse("logout"), reverse("set_language"),
            reverse("session_status"), reverse("session_timeout"))


# Paths an account that must change its password may still open.
def _password_change_paths() -> tuple[str, ...]:
    return (reverse("password_change"), reverse("password_change_done"), reverse("logout"), reverse("set_language"),
            reverse("session_status"), reverse("session_timeout"), reverse("session_keepalive"))


def password_change_refusal(request):
    """The answer to any other request of an account that must change its password first: the API's 403
    ``password_change_required``; an HTMX fragment nothing (or a whole-page move to the password page); a page
    a redirect to the password change page."""
    from bank.api.errors import error_response

    target = reverse("password_change")
    if is_api_request(request):
        return error_response(403, _("An administrator requires you to change your password: change it on the "
                                     "pages (%(path)s) first.") % {"path": target}, "password_change_required")
    if request.headers.get("HX-Request") == "true":
        response = HttpResponse(status=204)
        if urlsplit(request.headers.get("HX-Current-URL", "")).path != target:
            response["HX-Redirect"] = target
        return response
    return redirect(target)


class SessionLimitsMiddleware:
    """Idle and absolute session limits, no sessions for sensors, the second factor before any page."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        user = getattr(request, "user", None)
        if user is not None and user.is_authenticated and hasattr(request, "session"):
            response = self._enforce(request, user)
            if response is not None:
                return response
        return self.get_response(request)

    def _enforce(self, request, user):
        from bank import second_factor
        from bank.services import must_change_password

        session = request.session
        at = time.time()
        if STARTED not in session:
            session[STARTED] = at
        seen = session.get(SEEN, at)
        reason = None
        if at - seen > idle_seconds():
            reason = "idle"
        elif at - session[STARTED] > absolute_seconds():
            reason = "absolute"
        if reason is not None:
            end_session(request, reason)
            return self._signed_out(request)
        if is_sensor_account(user):
            # Sensors post readings with a token: a session of theirs opens no page and is no API login either.
            if is_api_request(request):
                request.user = AnonymousUser()
                return None
            if request.path_info != reverse("logout"):
                raise PermissionDenied
        if second_factor.pending(request, user):
            if is_api_request(request):
                request.user = AnonymousUser()  # the API sees no session until the second factor is given
                return None
            if request.path_info not in _second_factor_paths():
                return redirect(f"{reverse('second_factor')}?{urlencode({'next': request.get_full_path()})}")
        elif must_change_password(user) and request.path_info not in _password_change_paths():
            return password_change_refusal(request)
        if request.path_info != reverse("session_status") and (SEEN not in session or at - seen >= TOUCH_EVERY):
            session[SEEN] = at
        return None

    @staticmethod
    def _signed_out(request):
        """An HTMX request is sent to the login page as a whole; anything else goes on as anonymous (a page then
        redirects to the login page, the API answers 401)."""
        if request.headers.get("HX-Request") == "true":
            response = HttpResponse(status=204)
            response["HX-Redirect"] = reverse("login")
            return response
        return None
