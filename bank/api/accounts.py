"""Account endpoints: API tokens (issue, list, revoke), and the admins' user management: list, create, change
roles and activation, require a password change, unlock a locked-out account."""

from __future__ import annotations

from django.contrib.auth import authenticate, get_user_model
from django.core.exceptions import ValidationError as DjangoValidationError
from django.http import Http404
from django.utils.translation import gettext as _
from drf_spectacular.utils import (
    OpenApiParameter,
    OpenApiResponse,
    extend_schema,
    extend_schema_view,
    inline_serializer,
)
from rest_framework import exceptions, serializers, status
from rest_framework.exceptions import ValidationError as DRFValidationError
from rest_framework.generics import GenericAPIView, ListAPIView
from rest_framework.permissions import AllowAny, IsAuthenticated
from rest_framework.response import Response
from rest_framework.views import APIView

from bank import account_queries, auth, second_factor, services
from bank.api.permissions import HasPerms
from bank.api.throttling import TOKEN
from bank.errors import Forbidden
from bank.models import AuthEvent
from bank.roles import ROLES

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
        if services.must_change_password(user):
            raise Forbidden(_("An administrator requires you to change your password: change it on the pages "
                              "(/accounts/password/) first."), code="password_change_required")
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


# --- user management (admins) ------------------------------------------------------------------------------------


class AccountSerializer(serializers.Serializer):
    """An account as admins see it (never its password, tokens or second-factor secret)."""

    username = serializers.CharField()
    full_name = serializers.CharField(source="get_full_name")
    email = serializers.CharField()
    roles = serializers.SerializerMethodField()
    active = serializers.BooleanField(source="is_active")
    must_change_password = serializers.SerializerMethodField(
        help_text="the user must change the password before anything else (pages and API)")
    last_login = serializers.DateTimeField(allow_null=True)
    date_joined = serializers.DateTimeField()

    def get_roles(self, user) -> list[str]:
        return sorted(g.name for g in user.groups.all() if g.name in ROLES)

    def get_must_change_password(self, user) -> bool:
        return services.must_change_password(user)


class AccountCreateSerializer(serializers.Serializer):
    username = serializers.CharField(max_length=150)
    full_name = serializers.CharField(max_length=300, required=False, allow_blank=True, default="")
    email = serializers.EmailField(required=False, allow_blank=True, default="")
    roles = serializers.ListField(child=serializers.ChoiceField(choices=sorted(ROLES)), allow_empty=False)
    password = serializers.CharField(max_length=4096, required=False, trim_whitespace=False, write_only=True,
                                     style={"input_type": "password"},
                                     help_text="the initial password (Django's validators); left out, one is "
                                               "generated and returned once as `password`")
    must_change_password = serializers.BooleanField(required=False, default=True,
                                                    help_text="the user changes it at the first login (default)")
    reason = serializers.CharField(max_length=300, required=False, allow_blank=True, default="")


class AccountCreatedSerializer(AccountSerializer):
    password = serializers.CharField(required=False, help_text="the generated initial password, shown this once "
                                                               "(absent when the request gave one)")


class AccountUpdateSerializer(serializers.Serializer):
    roles = serializers.ListField(child=serializers.ChoiceField(choices=sorted(ROLES)), allow_empty=False,
                                  required=False, help_text="exactly these roles (left out: unchanged)")
    active = serializers.BooleanField(required=False, help_text="may log in (left out: unchanged)")
    reason = serializers.CharField(max_length=300)


class ForcePasswordChangeSerializer(serializers.Serializer):
    reason = serializers.CharField(max_length=300)


def _account(username: str):
    user = (get_user_model().objects.filter(username=username[:150]).select_related("account_policy")
            .prefetch_related("groups").first())
    if user is None:
        raise Http404
    return user


def _fresh(user):
    return _account(user.get_username())


def _service_fields(exc: DjangoValidationError) -> DjangoValidationError:
    """The service's ``role`` errors under the API's field name ``roles``."""
    if hasattr(exc, "error_dict") and "role" in exc.error_dict:
        errors = dict(exc.error_dict)
        errors["roles"] = errors.pop("role")
        return DjangoValidationError(errors)
    return exc


@extend_schema_view(get=extend_schema(parameters=[
    OpenApiParameter("q", str, description="part of the username, name or e-mail"),
    OpenApiParameter("role", str, enum=sorted(ROLES)),
    OpenApiParameter("active", bool), OpenApiParameter("locked", bool,
                                                       description="locked out at some client address now"),
]))
class AccountListView(ListAPIView):
    """Every account (admins), by username; ``POST`` creates one. A created account's initial password is the one
    given (checked by Django's validators) or a generated one returned once; with ``must_change_password`` (the
    default) the user chooses their own at the first login. Recorded in the account's history with ``reason``."""

    permission_classes = [HasPerms]
    required_perms = {"GET": ["auth.view_user"], "POST": ["auth.view_user", "auth.add_user"]}
    serializer_class = AccountSerializer

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):
            return get_user_model().objects.none()
        params = self.request.query_params
        role = params.get("role") or ""
        if role and role not in ROLES:
            raise DRFValidationError({"role": [_("Unknown role; use one of: %(choices)s.") % {
                "choices": ", ".join(sorted(ROLES))}]})
        return account_queries.accounts(q=params.get("q") or "", role=role,
                                        active=account_queries.parse_flag(params.get("active")),
                                        locked=account_queries.parse_flag(params.get("locked")))

    @extend_schema(request=AccountCreateSerializer, responses={
        201: AccountCreatedSerializer, 400: OpenApiResponse(description="a field is missing or refused: "
                                                                        "`{\"field\": [messages]}`"),
        403: ERROR})
    def post(self, request):
        data = AccountCreateSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        v = data.validated_data
        try:
            user, generated = services.create_user(
                v["username"], roles=v["roles"], password=v.get("password"), full_name=v["full_name"],
                email=v["email"], actor=request.user, reason=v["reason"],
                must_change_password=v["must_change_password"])
        except DjangoValidationError as exc:
            raise _service_fields(exc)
        body = AccountSerializer(_fresh(user), context={"request": request}).data
        if generated is not None:
            body["password"] = generated
        return Response(body, status=status.HTTP_201_CREATED)


class AccountDetailView(GenericAPIView):
    """One account (admins). ``PATCH`` changes its roles and/or activation with a reason: an admin cannot remove
    their own admin role or deactivate themselves (409 ``self_lockout``), nor take the last active admin's
    (409 ``last_admin``); a role change or a deactivation revokes the account's API tokens."""

    permission_classes = [HasPerms]
    required_perms = {"GET": ["auth.view_user"], "PATCH": ["auth.view_user", "auth.change_user"]}
    serializer_class = AccountSerializer

    @extend_schema(responses={200: AccountSerializer, 403: ERROR, 404: ERROR})
    def get(self, request, username: str):
        return Response(AccountSerializer(_account(username), context={"request": request}).data)

    @extend_schema(request=AccountUpdateSerializer, responses={
        200: AccountSerializer, 400: OpenApiResponse(description="no reason, or unknown roles"), 403: ERROR,
        404: ERROR, 409: ERROR})
    def patch(self, request, username: str):
        user = _account(username)
        data = AccountUpdateSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        v = data.validated_data
        roles = v.get("roles", [g.name for g in user.groups.all()])
        try:
            services.save_user(user.username, roles=roles, active=v.get("active"), actor=request.user,
                               reason=v["reason"])
        except DjangoValidationError as exc:
            raise _service_fields(exc)
        return Response(AccountSerializer(_fresh(user), context={"request": request}).data)


class ForcePasswordChangeView(GenericAPIView):
    """An admin requires the user to change the password, with a reason: until the user has, every page leads to
    the password change page and the account's API tokens (and ``POST /auth/token/``) answer 403
    ``password_change_required``. 409 ``sensor_account`` for a sensor (it has no pages)."""

    permission_classes = [HasPerms]
    required_perms = {"POST": ["auth.view_user", "auth.change_user"]}
    serializer_class = ForcePasswordChangeSerializer

    @extend_schema(request=ForcePasswordChangeSerializer, responses={
        200: AccountSerializer, 400: OpenApiResponse(description="no reason"), 403: ERROR, 404: ERROR,
        409: ERROR})
    def post(self, request, username: str):
        user = _account(username)
        data = ForcePasswordChangeSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        services.require_password_change(user, actor=request.user, reason=data.validated_data["reason"])
        return Response(AccountSerializer(_fresh(user), context={"request": request}).data)
