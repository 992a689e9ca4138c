"""API token authentication: django-rest-knox tokens (only a hash is stored; every token expires).

``Authorization: Token <token>`` as before. A header that cannot be a token (not ASCII, control characters,
absurdly long) is refused with 401 before it reaches the database, never a 500.
"""

from __future__ import annotations

from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from knox.auth import TokenAuthentication as KnoxTokenAuthentication
from knox.signals import token_expired
from rest_framework import exceptions

MAX_TOKEN_LENGTH = 128


class TokenAuthentication(KnoxTokenAuthentication):
    def authenticate_credentials(self, token: bytes):
        try:
            text = token.decode("ascii")
        except UnicodeDecodeError:
            raise exceptions.AuthenticationFailed(_("Invalid token."))
        if not text or len(text) > MAX_TOKEN_LENGTH or not text.isprintable():
            raise exceptions.AuthenticationFailed(_("Invalid token."))
        return super().authenticate_credentials(token)

    def _cleanup_token(self, auth_token) -> bool:
        """An expired token is deleted and refused (401). Knox would also sweep the user's other tokens on every
        request, a query more per call: the daily ``bank.tasks.purge_expired_tokens`` does that instead."""
        if auth_token.expiry is not None and auth_token.expiry < timezone.now():
            username = auth_token.user.get_username()
            auth_token.delete()
            token_expired.send(sender=self.__class__, username=username, source="auth_token")
            return True
        return False


class TokenAuthenticationScheme(OpenApiAuthenticationExtension):
    """The OpenAPI schema's description of ``Authorization: Token <token>``."""

    target_class = "bank.api.authentication.TokenAuthentication"
    name = "tokenAuth"

    def get_security_definition(self, auto_schema):
        return {"type": "apiKey", "in": "header", "name": "Authorization",
                "description": "`Token <token>` from POST /api/v1/auth/token/ (expires; see `expires_at`)."}
