"""Django admin: the transplant app's reference records, read only.

As for every regulated record (see ``bank/admin.py``), writes go through the app's pages and services
(``/transplant/centres/``, ``/transplant/dry-shippers/``), which validate, lock and record a reason; the admin
only shows them, so an admin looking for a centre or a shipper finds it here too.
"""

from django.contrib import admin

from transplant.models import CentreClinician, DryShipper, TransplantCentre


class _ReadOnly(admin.ModelAdmin):
    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False


@admin.register(TransplantCentre)
class TransplantCentreAdmin(_ReadOnly):
    list_display = ("code", "name", "city", "accreditation_until", "active")
    list_filter = ("active",)
    search_fields = ("code", "name", "city")


@admin.register(CentreClinician)
class CentreClinicianAdmin(_ReadOnly):
    list_display = ("user", "centre", "active")
    list_filter = ("active", "centre")
    list_select_related = ("user", "centre")
    search_fields = ("user__username", "centre__code")


@admin.register(DryShipper)
class DryShipperAdmin(_ReadOnly):
    list_display = ("code", "description", "validated_until", "active")
    list_filter = ("active",)
    search_fields = ("code", "description")
