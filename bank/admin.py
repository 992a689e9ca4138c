"""Django admin: user accounts and roles only. Regulated records are managed through the app's pages,
and nothing here can delete a user (deactivate instead) or touch history."""

from django.contrib import admin
from django.contrib.auth import get_user_model
from django.contrib.auth.admin import UserAdmin
from django.utils.translation import gettext_lazy as _

admin.site.site_header = _("StemBank administration")
admin.site.disable_action("delete_selected")

User = get_user_model()
admin.site.unregister(User)


@admin.register(User)
class BankUserAdmin(UserAdmin):
    list_display = ("username", "first_name", "last_name", "email", "is_active", "last_login")
    list_filter = ("is_active", "groups")

    def has_delete_permission(self, request, obj=None):
        return False
