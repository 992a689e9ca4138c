"""API throttling: scoped rates (``API_THROTTLE_RATES``) on the endpoints that check a password.

``POST /auth/token/`` is limited per client address (scope ``token``), and so is the login page's form (scope
``login``, through ``page_wait``: a page answers 429 with a form error); the e-signature endpoints (release,
reject, lift a hold, recall, acknowledge an alarm, close a deviation) per user (scope ``signature``). A view
names its scope with ``throttle_scope``; views without one are not throttled. Over the rate → 429 ``throttled``
with ``Retry-After``. The counters live in the ``throttle`` cache (Redis when ``REDIS_URL`` is set, so every
web process shares them).
"""

from __future__ import annotations

from django.conf import settings
from django.core.cache import caches
from rest_framework.throttling import ScopedRateThrottle

from bank.auth import client_ip

TOKEN = "token"
LOGIN = "login"
SIGNATURE = "signature"


class ScopedThrottle(ScopedRateThrottle):
    @property
    def cache(self):
        return caches["throttle"]

    def get_rate(self):
        return settings.API_THROTTLE_RATES.get(self.scope)

    def get_ident(self, request):
        # The same client address as the lockout's: X-Forwarded-For only behind TRUSTED_PROXY_COUNT proxies.
        return client_ip(request) or "unknown"


class _Scoped:
    def __init__(self, scope: str):
        self.throttle_scope = scope


def page_wait(request, scope: str) -> int | None:
    """For a page's form: ``None`` when the request is within ``scope``'s rate (and counted), else the seconds
    to wait. The same counters and client address as the API's throttles."""
    throttle = ScopedThrottle()
    if throttle.allow_request(request, _Scoped(scope)):
        return None
    return max(1, round(throttle.wait() or 1))
