"""Account endpoints: API tokens (issue, list, revoke) and an admin's unlock of a locked-out account."""

from __future__ import annotations

from django.contrib.auth import authenticate, get_user_model
from django.http import Http404
from django.utils.translation import gettext as _
from drf_spectacular.utils import OpenApiResponse, extend_schema, inline_serializer
from rest_framework import exceptions, serializers, status
from rest_framework.generics import GenericAPIView, ListAPIView
from rest_framework.permissions import AllowAny, IsAuthenticated
from rest_framework.response import Response
from rest_framework.views import APIView

from bank import auth, second_factor, services
from bank.api.permissions import HasPerms
from bank.api.throttling import TOKEN
from bank.errors import Forbidden
from bank.models import AuthEvent

ERROR = inline_serializer("AccountError", {"detail": serializers.CharField(), "code": serializers.CharField()})


class TokenRequestSerializer(serializers.Serializer):
    username = serializers.CharField(max_length=150)
    password = serializers.CharField(max_length=4096, trim_whitespace=False, style={"input_type": "password"})
    otp = serializers.CharField(max_length=16, required=False, allow_blank=True,
                                help_text="the authenticator app's code, for accounts with a second factor")


class TokenResponseSerializer(serializers.Serializer):
    token = serializers.CharField(help_text="shown once; send it as `Authorization: Token <token>`")
    expires_at = serializers.DateTimeField()


class TokenView(APIView):
    """Exchange a username and password for an API token that expires (``expires_at``).

    401 for wrong credentials; 403 ``account_locked`` while this username is locked for this client address
    (repeated failures, with backoff); 429 ``throttled`` when the address asks too often. An account with a
    second factor adds ``otp``, the code of its authenticator app.
    """

    permission_classes = [AllowAny]
    authentication_classes = []
    throttle_scope = TOKEN

    @extend_schema(
        request=TokenRequestSerializer,
        responses={200: TokenResponseSerializer, 400: OpenApiResponse(description="missing or malformed fields"),
                   401: ERROR, 403: ERROR, 429: ERROR},
    )
    def post(self, request):
        data = TokenRequestSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        v = data.validated_data
        user = authenticate(request._request, username=v["username"], password=v["password"], record_success=False)
        if user is None:
            lock = auth.lock_of(request._request)
            if lock is not None:
                raise Forbidden(lock.message, code="account_locked", retry_after_minutes=lock.minutes_left)
            raise exceptions.AuthenticationFailed(
                _("Unable to log in with these credentials (accounts lock after repeated failures).")
            )
        if second_factor.owed(user):
            if not second_factor.enrolled(user):
                raise exceptions.AuthenticationFailed(
                    _("This account needs a second factor: log in on the pages once to set it up."))
            if second_factor.matching_device(user, v.get("otp")) is None:
                auth.record_event(user.get_username(), AuthEvent.Kind.LOGIN_FAILED, "second_factor")
                raise exceptions.AuthenticationFailed(
                    _("Add \"otp\": the current code of your authenticator app."))
        auth.record_event(user.get_username(), AuthEvent.Kind.LOGIN_OK, "api")  # only now: a complete login
        instance, token = services.issue_token(user)
        return Response({"token": token, "expires_at": serializers.DateTimeField().to_representation(instance.expiry)})

    def get_authenticate_header(self, request):
        return 'Token realm="api"'


class TokenSerializer(serializers.Serializer):
    id = serializers.CharField(source="token_key", help_text="the token's first characters; use it to revoke it")
    created = serializers.DateTimeField()
    expires_at = serializers.DateTimeField(source="expiry")
    current = serializers.SerializerMethodField(help_text="the token of this request")

    def get_current(self, token) -> bool:
        auth_token = getattr(self.context["request"], "auth", None)
        return getattr(auth_token, "digest", None) == token.digest


class TokenListView(ListAPIView):
    """Your own API tokens (never the token itself: only its first characters). ``DELETE`` revokes them all."""

    permission_classes = [IsAuthenticated]
    serializer_class = TokenSerializer

    def get_queryset(self):
        model = services.token_model()
        if getattr(self, "swagger_fake_view", False):
            return model.objects.none()
        return model.objects.filter(user=self.request.user).order_by("-created", "token_key")

    @extend_schema(operation_id="auth_tokens_revoke_all",
                   responses={200: inline_serializer("TokensRevoked", {"revoked": serializers.IntegerField()})})
    def delete(self, request):
        count = services.revoke_tokens(request.user, actor=request.user, reason=_("revoked by the user"))
        return Response({"revoked": count})


class TokenDetailView(GenericAPIView):
    """Revoke one of your API tokens by its ``id``."""

    permission_classes = [IsAuthenticated]
    serializer_class = TokenSerializer

    @extend_schema(operation_id="auth_tokens_revoke", responses={204: None, 404: ERROR})
    def delete(self, request, token_id: str):
        if not services.revoke_tokens(request.user, actor=request.user, reason=_("revoked by the user"),
                                      token_key=token_id[:64]):
            raise Http404
        return Response(status=status.HTTP_204_NO_CONTENT)


class UnlockSerializer(serializers.Serializer):
    reason = serializers.CharField(max_length=300)
    client_ip = serializers.IPAddressField(required=False, allow_null=True,
                                           help_text="unlock at this address only; every address when left out")


class UnlockView(GenericAPIView):
    """An admin unlocks an account locked out by failed attempts (at one client address, or at every address),
    with a reason: recorded as an ``unlocked`` authentication event and an account change."""

    permission_classes = [HasPerms]
    required_perms = {"POST": ["auth.change_user"]}
    serializer_class = UnlockSerializer

    @extend_schema(request=UnlockSerializer, responses={
        200: inline_serializer("Unlocked", {"username": serializers.CharField(),
                                            "client_ip": serializers.CharField(allow_null=True),
                                            "unlocked_at": serializers.DateTimeField()}),
        400: OpenApiResponse(description="no reason, or a malformed address"), 403: ERROR, 404: ERROR})
    def post(self, request, username: str):
        if not get_user_model().objects.filter(username=username[:150]).exists():
            raise Http404
        data = UnlockSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        event = services.unlock_account(username, actor=request.user, reason=data.validated_data["reason"],
                                        ip=data.validated_data.get("client_ip"))
        return Response({"username": event.username, "client_ip": event.client_ip,
                         "unlocked_at": serializers.DateTimeField().to_representation(event.at)})
