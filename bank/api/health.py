"""``GET /api/v1/health/`` (readiness, as ``/healthz/ready``) and the API docs page under the CSP."""

from __future__ import annotations

from drf_spectacular.utils import OpenApiResponse, extend_schema, inline_serializer
from drf_spectacular.views import SpectacularSwaggerSplitView
from rest_framework import serializers
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.views import APIView

from bank.health_views import readiness_response

_READINESS = inline_serializer("HealthReadiness", {
    "status": serializers.ChoiceField(choices=["ok", "unavailable"]),
    "checks": serializers.DictField(
        child=serializers.DictField(),
        help_text="database, worker, beat, outbox: each {ok} — with seen_at/age_seconds or pending/stale "
                  "counts for admins.",
    ),
})


class HealthView(APIView):
    """Can the bank raise and send alarms? 200 when the database answers, the worker and beat were seen
    within ``HEARTBEAT_MAX_AGE_SECONDS`` and no outbox message is stuck; else 503. No login needed; admins
    also get the times and counts behind each check."""

    permission_classes = [AllowAny]
    throttle_classes = []

    def perform_authentication(self, request):
        # Authenticate lazily (readiness_response asks for the user inside a guard): a database that is down
        # must give a 503 here, not a 500 from the token lookup.
        pass

    @extend_schema(responses={200: _READINESS, 503: OpenApiResponse(_READINESS, description="Not ready")})
    def get(self, request):
        body, status = readiness_response(request)
        return Response(body, status=status, headers={"Cache-Control": "no-store"})


class DocsView(SpectacularSwaggerSplitView):
    """Swagger UI with its start-up script served as a file (``?script``) and its page style as a static file,
    not inline: it runs under the bank's Content-Security-Policy unchanged."""

    template_name = "bank/api_docs.html"
