"""Account pages: login, password change, the session's idle timeout, the second factor, your API tokens, and
the admins' user pages (create, roles, activation, lockouts and their unlock, second-factor reset, a required
password change, account history)."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth import get_user_model
from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.forms.utils import ErrorDict
from django.http import Http404, JsonResponse
from django.shortcuts import redirect, render
from django.urls import reverse, reverse_lazy
from django.utils.http import url_has_allowed_host_and_scheme, urlencode
from django.utils.safestring import mark_safe
from django.utils.translation import gettext as _
from django.utils.translation import ngettext
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from bank import access, account_queries, auth, second_factor, services
from bank.account_forms import (
    AccountForm,
    BankPasswordChangeForm,
    CodeForm,
    LoginForm,
    ReasonForm,
    UnlockForm,
    UserCreateForm,
)
from bank.api import throttling
from bank.errors import DomainError
from bank.exports import exportable
from bank.models import AccountChange, AuthEvent
from bank.roles import ROLES
from bank.web import apply_validation_error, perms_required

USERS_PERMS = ("auth.view_user", "auth.change_user")


def _next_url(request, default: str = "dashboard") -> str:
    target = request.POST.get("next") or request.GET.get("next") or ""
    if target and url_has_allowed_host_and_scheme(target, allowed_hosts={request.get_host()},
                                                  require_https=request.is_secure()):
        return target
    return reverse(default)


# --- login and password -----------------------------------------------------------------------------------------


class LoginView(auth_views.LoginView):
    template_name = "bank/login.html"
    authentication_form = LoginForm
    redirect_authenticated_user = True

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        reason = self.request.session.pop(access.SIGNED_OUT, "") if hasattr(self.request, "session") else ""
        context["signed_out"] = access.signed_out_message(reason) if reason else ""
        return context

    def post(self, request, *args, **kwargs):
        wait = throttling.page_wait(request, throttling.LOGIN)
        if wait is not None:  # many sign-ins from this computer, whatever the usernames: refused unseen
            form = self.get_form()
            form._errors, form.cleaned_data = ErrorDict(), {}  # bound, but not cleaned: no password looked at
            form.add_error(None, ngettext(
                "Too many sign-in attempts from this computer. Wait %(seconds)d second and try again.",
                "Too many sign-in attempts from this computer. Wait %(seconds)d seconds and try again.",
                wait) % {"seconds": wait})
            response = self.render_to_response(self.get_context_data(form=form), status=429)
            response["Retry-After"] = str(wait)
            return response
        return super().post(request, *args, **kwargs)

    def form_valid(self, form):
        user = form.get_user()
        response = super().form_valid(form)  # the login starts the session's clocks (bank.access.on_login)
        if not second_factor.owed(user):  # else the second factor's page records the login once given
            auth.record_event(user.get_username(), AuthEvent.Kind.LOGIN_OK, "web")
        return response


class PasswordChangeView(auth_views.PasswordChangeView):
    template_name = "bank/password_change.html"
    form_class = BankPasswordChangeForm
    success_url = reverse_lazy("password_change_done")

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        context["must_change_password"] = services.must_change_password(self.request.user)
        return context


# --- the session: keep-alive, status, timeout (bank/static/bank/idle.js) ----------------------------------------


@require_POST
def session_keepalive(request):
    """"Stay signed in": the request itself counts as activity (``bank.access``); answers the time left."""
    if not request.user.is_authenticated:
        return JsonResponse({"active": False, "remaining_seconds": 0}, status=401)
    access.touch(request)
    return JsonResponse({"active": True, "remaining_seconds": int(access.remaining_seconds(request.session))})


@require_GET
@never_cache
def session_status(request):
    """The time the session has left, without counting as activity (another tab may have been used)."""
    if not request.user.is_authenticated:
        return JsonResponse({"active": False, "remaining_seconds": 0})
    return JsonResponse({"active": True, "remaining_seconds": int(access.remaining_seconds(request.session))})


@require_POST
def session_timeout(request):
    """The page's timer ran out: sign out and show the login page, which brings the user back afterwards."""
    if request.user.is_authenticated:
        access.end_session(request, "idle")
    target = _next_url(request)
    return redirect(f"{reverse('login')}?{urlencode({'next': target})}")


# --- second factor -----------------------------------------------------------------------------------------------


@never_cache
@login_required
@require_http_methods(["GET", "POST"])
def second_factor_verify(request):
    user = request.user
    if not second_factor.pending(request, user):
        return redirect(_next_url(request))
    if not second_factor.enrolled(user):
        return redirect(f"{reverse('second_factor_setup')}?{urlencode({'next': _next_url(request)})}")
    form = CodeForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            if second_factor.verify(request, user, form.cleaned_data["code"]):
                return redirect(_next_url(request))
            form.add_error("code", _("This code is not right. Enter the code your app shows now (it changes every "
                                     "30 seconds); repeated failures lock the account for a while."))
        except auth.AccountLocked as locked:
            access.end_session(request, "")
            messages.error(request, locked.lock.message)
            return redirect("login")
    return render(request, "bank/accounts/second_factor.html", {"form": form, "next": _next_url(request)})


@never_cache
@login_required
@require_http_methods(["GET", "POST"])
def second_factor_setup(request):
    user = request.user
    if second_factor.enrolled(user):
        return redirect(f"{reverse('second_factor')}?{urlencode({'next': _next_url(request)})}")
    device = second_factor.enrolment_device(user)
    form = CodeForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        if second_factor.confirm(request, device, form.cleaned_data["code"]):
            messages.success(request, _("Second factor set up: from now on you give a code after your password."))
            return redirect(_next_url(request))
        form.add_error("code", _("This code is not right. Check the app's clock and enter the code it shows now."))
    return render(request, "bank/accounts/second_factor_setup.html", {
        "form": form, "next": _next_url(request), "secret": second_factor.secret_text(device),
        "qr": mark_safe(second_factor.qr_svg(device)),  # noqa: S308 — SVG drawn by qrcode from our own data
        "required": second_factor.required_by_role(user),
    })


# --- your API tokens ---------------------------------------------------------------------------------------------


@never_cache
@login_required
@require_http_methods(["GET", "POST"])
def tokens(request):
    """List, create and revoke your own API tokens. A new token is shown once, on this response only."""
    user = request.user
    new_token = None
    if request.method == "POST":
        action = request.POST.get("action")
        if action == "create":
            instance, new_token = services.issue_token(user)
        elif action == "revoke":
            key = (request.POST.get("token") or "")[:64]
            if services.revoke_tokens(user, actor=user, reason=_("revoked by the user"), token_key=key):
                messages.success(request, _("The token was revoked: programs using it get 401 from now on."))
                return redirect("tokens")
            messages.error(request, _("That token does not exist any more."))
            return redirect("tokens")
        elif action == "revoke_all":
            count = services.revoke_tokens(user, actor=user, reason=_("revoked by the user"))
            messages.success(request, _("%(count)d tokens revoked.") % {"count": count})
            return redirect("tokens")
    rows = services.token_model().objects.filter(user=user).order_by("-created", "token_key")
    return render(request, "bank/accounts/tokens.html", {"tokens": rows, "new_token": new_token,
                                                         "ttl_hours": services.token_ttl(user).total_seconds() // 3600})


# --- users (admins) ----------------------------------------------------------------------------------------------


def describe_change(values: dict) -> str:
    """An account change's before/after for people: ``roles: qa, technician · active: no``."""
    parts = []
    for key, value in (values or {}).items():
        if isinstance(value, list):
            shown = ", ".join(str(v) for v in value) or "—"
        elif isinstance(value, bool):
            shown = _("yes") if value else _("no")
        else:
            shown = "—" if value in (None, "") else str(value)
        parts.append(f"{key.replace('_', ' ')}: {shown}")
    return " · ".join(parts)


def _role_labels(user) -> list[str]:
    return [str(ROLES[g.name]) for g in user.groups.all() if g.name in ROLES]


@perms_required(*USERS_PERMS)
@exportable("bank.users")  # the same filters, as CSV or XLSX (bank/list_exports.py)
def users(request):
    """Every account with its roles, activation, current lockouts and latest account change; found by username,
    name or e-mail and filtered by role, activation and lockout (``bank.account_queries.accounts``)."""
    query = (request.GET.get("q") or "").strip()[:150]
    role = request.GET.get("role") or ""
    role = role if role in ROLES else ""
    active = account_queries.parse_flag(request.GET.get("active"))
    locked = account_queries.parse_flag(request.GET.get("locked"))
    qs = account_queries.accounts(q=query, role=role, active=active, locked=locked)
    page = Paginator(qs, 50).get_page(request.GET.get("page"))
    accounts = list(page.object_list)
    locks: dict[str, list] = {}
    for lock in auth.active_locks([u.username for u in accounts]):
        locks.setdefault(lock.username, []).append(lock)
    from django_otp.plugins.otp_totp.models import TOTPDevice

    enrolled = set(TOTPDevice.objects.filter(user__in=accounts, confirmed=True).values_list("user_id", flat=True))
    kinds = dict(AccountChange.Kind.choices)
    rows = [{"user": u, "roles": _role_labels(u), "locks": locks.get(u.username, []), "second_factor": u.pk in enrolled,
             "must_change_password": services.must_change_password(u),
             "last_change": kinds.get(u.last_change_kind, ""), "last_change_at": u.last_change_at} for u in accounts]
    return render(request, "bank/accounts/users.html", {
        "rows": rows, "page": page, "q": query, "role": role, "roles": list(ROLES.items()),
        "active": {True: "yes", False: "no"}.get(active, ""), "locked": {True: "yes", False: "no"}.get(locked, ""),
        "filtered": bool(query or role or active is not None or locked is not None)})


def _service_errors(form, exc: ValidationError, renames: dict[str, str]) -> None:
    """A service's field errors onto the form, its names mapped to the form's (``role`` → ``roles``)."""
    if hasattr(exc, "error_dict"):
        exc = ValidationError({renames.get(field, field): errors for field, errors in exc.error_dict.items()})
    apply_validation_error(form, exc)


@never_cache
@perms_required(*USERS_PERMS, "auth.add_user")
@require_http_methods(["GET", "POST"])
def user_create(request):
    """A new account: username, name, e-mail, roles and an initial password (typed twice, or generated and shown
    once on the answer to the POST, never again); the user changes it at the first login."""
    form = UserCreateForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            account, generated = services.create_user(
                data["username"], roles=data["roles"], password=form.password(), full_name=data["full_name"],
                email=data["email"], actor=request.user, reason=data["reason"],
                must_change_password=data["must_change_password"])
        except ValidationError as exc:
            _service_errors(form, exc, {"role": "roles", "password": "password1"})
        except DomainError as exc:
            form.add_error(None, exc.detail)
        else:
            if generated is None:
                messages.success(request, _("Account %(username)s created.") % {"username": account.username})
                return redirect("accounts_user", username=account.username)
            return render(request, "bank/accounts/user_created.html", {
                "account": account, "password": generated, "roles": _role_labels(account),
                "must_change_password": services.must_change_password(account)})
    return render(request, "bank/accounts/user_create.html", {"form": form})


@perms_required(*USERS_PERMS)
@require_http_methods(["GET", "POST"])
def user_detail(request, username: str):
    """One account: change roles or activation, unlock, reset the second factor — each with a reason."""
    User = get_user_model()
    account = User.objects.filter(username=username).first()
    if account is None:
        raise Http404(_("No such account."))
    action = request.POST.get("action") if request.method == "POST" else None
    account_form = AccountForm(request.POST if action == "account" else None, prefix="account", initial={
        "roles": sorted(account.groups.values_list("name", flat=True)), "active": account.is_active})
    unlock_form = UnlockForm(request.POST if action == "unlock" else None, prefix="unlock")
    reset_form = ReasonForm(request.POST if action == "reset_second_factor" else None, prefix="reset")
    force_form = ReasonForm(request.POST if action == "force_password" else None, prefix="force")
    if action == "account" and account_form.is_valid():
        data = account_form.cleaned_data
        try:
            services.save_user(account.username, roles=data["roles"], active=data["active"], actor=request.user,
                               reason=data["reason"])
        except ValidationError as exc:
            _service_errors(account_form, exc, {"role": "roles"})
        except DomainError as exc:
            account_form.add_error(None, exc.detail)
        else:
            messages.success(request, _("Account saved. Its API tokens were revoked if its roles changed."))
            return redirect("accounts_user", username=account.username)
    elif action == "unlock" and unlock_form.is_valid():
        data = unlock_form.cleaned_data
        try:
            services.unlock_account(account.username, actor=request.user, reason=data["reason"],
                                    ip=data.get("client_ip") or None)
        except ValidationError as exc:
            apply_validation_error(unlock_form, exc)
        else:
            messages.success(request, _("Unlocked. The user can log in again from %(where)s.") % {
                "where": data.get("client_ip") or _("every address")})
            return redirect("accounts_user", username=account.username)
    elif action == "force_password" and force_form.is_valid():
        try:
            services.require_password_change(account, actor=request.user, reason=force_form.cleaned_data["reason"])
        except ValidationError as exc:
            apply_validation_error(force_form, exc)
        except DomainError as exc:
            force_form.add_error(None, exc.detail)
        else:
            messages.success(request, _("From the next page or login on, %(username)s must change the password "
                                        "before anything else.") % {"username": account.username})
            return redirect("accounts_user", username=account.username)
    elif action == "reset_second_factor" and reset_form.is_valid():
        second_factor.reset(account, actor=request.user, reason=reset_form.cleaned_data["reason"])
        messages.success(request, _("Second factor removed: the user sets it up again at the next login."))
        return redirect("accounts_user", username=account.username)
    changes = list(AccountChange.objects.filter(user=account).select_related("actor").order_by("-at", "-id")[:50])
    for change in changes:
        change.before_text, change.after_text = describe_change(change.before), describe_change(change.after)
    return render(request, "bank/accounts/user_detail.html", {
        "account": account,
        "roles": _role_labels(account),
        "locks": auth.active_locks([account.username]),
        "second_factor": second_factor.enrolled(account),
        "account_form": account_form, "unlock_form": unlock_form, "reset_form": reset_form,
        "force_form": force_form, "must_change_password": services.must_change_password(account),
        "is_self": account.pk == request.user.pk,
        "changes": changes,
        "events": AuthEvent.objects.filter(username=account.username).select_related("actor")
        .order_by("-at", "-id")[:50],
    })
