"""Django admin: user accounts only. Regulated records are managed through the app's pages, and nothing here
can delete a user (deactivate instead), touch history, read an API token or a second-factor secret, or grant a
permission outside the roles.

Every change made through the user forms — roles, activation, a new password — needs a reason and is recorded
as an ``AccountChange`` through ``bank.services`` (a role change or a new password revokes the API tokens),
exactly as the app's own user pages and ``manage.py add_user`` do.
"""

from django import forms
from django.contrib import admin
from django.contrib.auth import get_user_model
from django.contrib.auth.admin import UserAdmin
from django.contrib.auth.forms import AdminPasswordChangeForm, AdminUserCreationForm, UserChangeForm
from django.contrib.auth.models import Group
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils.translation import gettext_lazy as _

from bank import services
from bank.audit import acting, current_actor

admin.site.site_header = _("StemBank administration")
admin.site.disable_action("delete_selected")

User = get_user_model()
admin.site.unregister(User)
# Roles are the code's table (bank/roles.py), synced after every migrate: no hand-made group permissions.
if admin.site.is_registered(Group):
    admin.site.unregister(Group)


def _unregister_secret_holders() -> None:
    """API tokens (knox) and TOTP devices (their secret and QR code) have no place in the admin."""
    from django_otp.plugins.otp_totp.models import TOTPDevice
    from knox.models import AuthToken

    for model in (AuthToken, TOTPDevice):
        if admin.site.is_registered(model):
            admin.site.unregister(model)


_unregister_secret_holders()


def _reason_field() -> forms.CharField:
    return forms.CharField(label=_("Reason for this change"), max_length=300,
                           help_text=_("Recorded in the account's history (21 CFR 11.10(e))."))


class BankUserChangeForm(UserChangeForm):
    reason = _reason_field()

    class Meta(UserChangeForm.Meta):
        fields = ("username", "password", "first_name", "last_name", "email", "is_active", "groups")

    def clean_groups(self):
        groups = self.cleaned_data["groups"]
        try:
            services.check_roles([g.name for g in groups])
        except ValidationError as exc:
            raise ValidationError(exc.message_dict["role"])
        return groups


class BankUserCreationForm(AdminUserCreationForm):
    reason = _reason_field()


class BankPasswordChangeForm(AdminPasswordChangeForm):
    reason = _reason_field()

    def save(self, commit=True):
        with transaction.atomic():
            user = super().save(commit=commit)
            services.password_was_set(user, actor=current_actor(), reason=self.cleaned_data["reason"])
        return user


@admin.register(User)
class BankUserAdmin(UserAdmin):
    form = BankUserChangeForm
    add_form = BankUserCreationForm
    change_password_form = BankPasswordChangeForm
    list_display = ("username", "first_name", "last_name", "email", "is_active", "last_login")
    list_filter = ("is_active", "groups")
    filter_horizontal = ("groups",)
    readonly_fields = ("last_login", "date_joined")
    fieldsets = (
        (None, {"fields": ("username", "password")}),
        (_("Personal info"), {"fields": ("first_name", "last_name", "email")}),
        (_("Roles and access"), {"fields": ("is_active", "groups")}),
        (_("Important dates"), {"fields": ("last_login", "date_joined")}),
        (_("Why"), {"fields": ("reason",)}),
    )
    add_fieldsets = (
        (None, {"classes": ("wide",), "fields": ("username", "usable_password", "password1", "password2",
                                                 "reason")}),
    )

    def has_delete_permission(self, request, obj=None):
        return False

    def save_model(self, request, obj, form, change):
        before = services.account_state(User.objects.get(pk=obj.pk)) if change else {}
        form._stembank_before = before
        with acting(request.user, form.cleaned_data.get("reason", "")):
            super().save_model(request, obj, form, change)

    def save_related(self, request, form, formsets, change):
        reason = form.cleaned_data.get("reason", "")
        with acting(request.user, reason):
            super().save_related(request, form, formsets, change)
            services.record_account_update(form.instance, getattr(form, "_stembank_before", {}), actor=request.user,
                                           reason=reason)

    def user_change_password(self, request, id, form_url=""):
        with acting(request.user):
            return super().user_change_password(request, id, form_url)
