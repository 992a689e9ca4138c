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

    def clean(self):
        data = super().clean()
        password = data.get("new_password2")
        if password and "new_password2" not in self.errors and self.user.check_password(password):
            self.add_error("new_password2", _("Choose a password different from the current one."))
        return data

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


class UserCreateForm(forms.Form):
    """A new account (``bank.services.create_user``): the initial password is typed twice, or generated and
    shown once; either way the user chooses their own at the first login unless the admin unticks it."""

    TYPED, GENERATED = "typed", "generated"

    username = forms.CharField(label=_("Username"), max_length=150,
                               widget=forms.TextInput(attrs={"autofocus": True, "autocomplete": "off",
                                                             "autocapitalize": "none", "spellcheck": "false"}),
                               help_text=_("Letters, digits and @ . + - _ only; it is the name the user signs with."))
    full_name = forms.CharField(label=_("Full name"), max_length=300, required=False,
                                widget=forms.TextInput(attrs={"autocomplete": "off"}))
    email = forms.EmailField(label=_("E-mail"), required=False, widget=forms.EmailInput(attrs={"autocomplete": "off"}))
    roles = forms.MultipleChoiceField(label=_("Roles"), choices=list(ROLES.items()),
                                      widget=forms.CheckboxSelectMultiple)
    password_mode = forms.ChoiceField(label=_("Initial password"), initial=GENERATED, widget=forms.RadioSelect,
                                      choices=[(GENERATED, _("Generate one (shown once, on the next page)")),
                                               (TYPED, _("Type one"))])
    password1 = forms.CharField(label=_("Password"), required=False, strip=False,
                                widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}))
    password2 = forms.CharField(label=_("Password again"), required=False, strip=False,
                                widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}))
    must_change_password = forms.BooleanField(label=_("The user must change it at the first login"),
                                              required=False, initial=True)
    reason = forms.CharField(label=_("Reason"), max_length=300, required=False,
                             widget=forms.TextInput(attrs={"size": 50}),
                             help_text=_("Recorded in the account's history (e.g. a new technician, ticket 1234)."))

    def clean_roles(self):
        try:
            return services.check_roles(self.cleaned_data["roles"])
        except ValidationError as exc:
            raise ValidationError(exc.message_dict["role"])

    def clean(self):
        data = super().clean()
        if data.get("password_mode") == self.TYPED:
            first, second = data.get("password1") or "", data.get("password2") or ""
            if not first:
                self.add_error("password1", _("Type the initial password, or choose to generate one."))
            elif first != second:
                self.add_error("password2", _("The two passwords differ."))
        return data

    def password(self) -> str | None:
        """The typed password, or None for a generated one."""
        if self.cleaned_data.get("password_mode") == self.TYPED:
            return self.cleaned_data.get("password1") or None
        return None
