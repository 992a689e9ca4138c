"""Readiness (``/healthz/ready``) and the banner that tells admins and QA when alarms cannot be raised.

``/healthz`` (liveness, ``bank.views.healthz``) only asks whether the process and the database answer.
Readiness asks whether the bank can do its job: 503 when the database does not answer, the worker or beat
has not been seen for ``HEARTBEAT_MAX_AGE_SECONDS``, or outbox messages are stuck. Anyone may ask (load
balancers, monitoring); only admins see the times and counts behind the verdict.
"""

from __future__ import annotations

from django.db import DatabaseError
from django.http import HttpResponse, JsonResponse
from django.shortcuts import render
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from bank import health
from bank.roles import ADMIN, QA, has_role

BANNER_ROLES = (ADMIN, QA)


def sees_details(request) -> bool:
    """An admin sees the details. Looking the user up must not fail the check when the database is down."""
    try:
        return has_role(request.user, ADMIN)
    except DatabaseError:
        return False


def readiness_response(request) -> tuple[dict, int]:
    state = health.readiness()
    return state.as_dict(details=sees_details(request)), 200 if state.ready else 503


@never_cache
@require_GET
def ready(request):
    body, status = readiness_response(request)
    return JsonResponse(body, status=status)


def shows_banner(user) -> bool:
    return has_role(user, *BANNER_ROLES)


@never_cache
@require_GET
def banner(request):
    """The operations banner (loaded by HTMX into every page of admins and QA): empty when all is well."""
    if not request.user.is_authenticated or not shows_banner(request.user):
        return HttpResponse(status=204)
    problems = health.problems()
    if not problems:
        return HttpResponse(status=204)
    return render(request, "bank/partials/operations_banner.html", {"problems": problems})
