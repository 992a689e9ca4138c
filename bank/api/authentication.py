"""API token authentication: django-rest-knox tokens (only a hash is stored; every token expires).

``Authorization: Token <token>`` as before. A header that cannot be a token (not ASCII, control characters,
absurdly long) is refused with 401 before it reaches the database, never a 500. The token of an account an
admin required to change its password is refused with 403 ``password_change_required`` until the user has
changed it on the pages (the change revokes the account's tokens anyway).
"""

from __future__ import annotations

import binascii
from hmac import compare_digest

from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from knox.auth import TokenAuthentication as KnoxTokenAuthentication
from knox.crypto import hash_token
from knox.models import get_token_model
from knox.settings import CONSTANTS, knox_settings
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
        # knox's own loop, with the account policy loaded with the user (one query, as before)
        tokens = (get_token_model().objects.filter(token_key=text[:CONSTANTS.TOKEN_KEY_LENGTH])
                  .select_related("user", "user__account_policy"))
        for auth_token in tokens:
            if self._cleanup_token(auth_token):
                continue
            try:
                digest = hash_token(text)
            except (TypeError, binascii.Error):
                raise exceptions.AuthenticationFailed(_("Invalid token."))
            if compare_digest(digest, auth_token.digest):
                if knox_settings.AUTO_REFRESH and auth_token.expiry:
                    self.renew_token(auth_token)
                return self.validate_user(auth_token)
        raise exceptions.AuthenticationFailed(_("Invalid token."))

    def validate_user(self, auth_token):
        from bank.services import must_change_password

        user, auth_token = super().validate_user(auth_token)
        if must_change_password(user):
            raise exceptions.PermissionDenied(
                _("An administrator requires you to change your password: change it on the pages "
                  "(/accounts/password/) first."), code="password_change_required")
        return user, auth_token

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
