"""Forms of the account pages: login, password change, second factor, tokens and the admins' user pages."""

from __future__ import annotations

from django import forms
from django.contrib.auth import authenticate
from django.contrib.auth.forms import AuthenticationForm, PasswordChangeForm
from django.core.exceptions import ValidationError
from django.utils.translation import gettext_lazy as _

from bank import auth, services
from bank.models import AuthEvent
from bank.roles import ROLES, is_sensor_account


class LoginForm(AuthenticationForm):
    """The login form. A locked pair (username, this computer) is told so — "try again in N minutes or ask an
    admin" — without the password being looked at, so the message never tells whether it was right."""

    error_messages = {
        "invalid_login": _(
            "Please enter a correct username and password. Both are case-sensitive; accounts lock "
            "for a while after repeated failures."
        ),
        "inactive": _("This account is inactive. Ask an administrator."),
        "sensor": _("Sensor accounts cannot open pages: they post readings through the API with a token "
                    "(POST /api/v1/auth/token/)."),
    }

    def clean(self):
        username = self.cleaned_data.get("username")
        password = self.cleaned_data.get("password")
        if username is not None and password:
            # The login is recorded by the view once complete (a second factor may still be owed).
            self.user_cache = authenticate(self.request, username=username, password=password, record_success=False)
            if self.user_cache is None:
                lock = auth.lock_of(self.request)
                if lock is not None:
                    raise ValidationError(lock.message)
                raise self.get_invalid_login_error()
            self.confirm_login_allowed(self.user_cache)
        return self.cleaned_data

    def confirm_login_allowed(self, user):
        super().confirm_login_allowed(user)
        if is_sensor_account(user):
            raise ValidationError(self.error_messages["sensor"])


class BankPasswordChangeForm(PasswordChangeForm):
    """Django's password change, with the old password checked like a login: a wrong one counts towards the
    lockout (it is the signing password), and while locked the form refuses. Saving goes through the service,
    which records the change and revokes the account's API tokens."""

    def clean_old_password(self):
        old_password = self.cleaned_data["old_password"]
        try:
            ok = auth.check_password(self.user, old_password, failed_kind=AuthEvent.Kind.PASSWORD_FAILED,
                                     source="password_change")
        except auth.AccountLocked as locked:
            raise ValidationError(locked.lock.message)
        if not ok:
            raise ValidationError(
                _("Your old password was entered incorrectly. Please enter it again; repeated failures lock "
                  "the account for a while."))
        return old_password

    def save(self, commit=True):
        services.change_password(self.user, self.cleaned_data["new_password1"], actor=self.user,
                                 reason=str(_("changed by the user")), validate=False)  # validated in clean()
        return self.user


class CodeForm(forms.Form):
    code = forms.CharField(
        label=_("Code from your authenticator app"), max_length=16, strip=True,
        widget=forms.TextInput(attrs={"autocomplete": "one-time-code", "inputmode": "numeric", "autofocus": True,
                                      "pattern": "[0-9 ]*", "size": 8}),
    )


class ReasonForm(forms.Form):
    reason = forms.CharField(label=_("Reason"), max_length=300,
                             widget=forms.TextInput(attrs={"size": 50}),
                             help_text=_("Recorded in the account's history."))


class UnlockForm(ReasonForm):
    client_ip = forms.GenericIPAddressField(label=_("Client address"), required=False,
                                            widget=forms.HiddenInput)


class AccountForm(ReasonForm):
    """Roles and activation of an account, changed by an admin with a reason (``bank.services.save_user``)."""

    roles = forms.MultipleChoiceField(label=_("Roles"), choices=list(ROLES.items()),
                                      widget=forms.CheckboxSelectMultiple)
    active = forms.BooleanField(label=_("Active (may log in)"), required=False)

    def clean_roles(self):
        try:
            return services.check_roles(self.cleaned_data["roles"])
        except ValidationError as exc:
            raise ValidationError(exc.message_dict["role"])
