"""Read-only admin views of the quality records (writes go through the services, with e-signatures)."""

from django.contrib import admin

from quality.models import SOP, Calibration, Equipment, Material, SOPVersion, Training


class ReadOnly(admin.ModelAdmin):
    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False


@admin.register(SOP)
class SOPAdmin(ReadOnly):
    list_display = ("code", "title")
    search_fields = ("code", "title")


@admin.register(SOPVersion)
class SOPVersionAdmin(ReadOnly):
    list_display = ("sop", "version", "effective_on", "approved_by")


@admin.register(Training)
class TrainingAdmin(ReadOnly):
    list_display = ("user", "sop_version", "trained_on", "expires_on")


@admin.register(Equipment)
class EquipmentAdmin(ReadOnly):
    list_display = ("code", "name", "kind", "calibration_due_on", "last_calibration_passed", "retired")


@admin.register(Calibration)
class CalibrationAdmin(ReadOnly):
    list_display = ("equipment", "kind", "performed_on", "passed", "next_due_on")


@admin.register(Material)
class MaterialAdmin(ReadOnly):
    list_display = ("name", "lot_number", "supplier", "status", "expires_on")
    search_fields = ("lot_number", "name")
