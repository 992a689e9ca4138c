"""Serializers of the quality API (API.md "Quality management"): they shape input and output only; the services
check the values (the pages show the same messages)."""

from __future__ import annotations

from rest_framework import serializers

from bank.api import fields as bank_fields
from bank.api.serializers import SignaturesField
from quality.choices import (
    Activity,
    Assessment,
    CalibrationKind,
    EnvironmentParameter,
    EquipmentKind,
    GMPGrade,
    MaterialKind,
)
from quality.models import SOP, Calibration, Cleanroom, EnvironmentResult, Equipment, Material, SOPVersion, Training


class SOPVersionSerializer(serializers.ModelSerializer):
    code = serializers.CharField(source="sop.code", read_only=True)
    title = serializers.CharField(source="sop.title", read_only=True)
    approved_by = serializers.CharField(source="approved_by.username", read_only=True)
    document = serializers.FileField(read_only=True, use_url=True, allow_null=True)
    signatures = SignaturesField()

    class Meta:
        model = SOPVersion
        fields = ["id", "sop", "code", "title", "version", "effective_on", "activities", "summary", "document",
                  "approved_by", "approved_at", "signatures"]
        read_only_fields = fields


class SOPSerializer(serializers.ModelSerializer):
    versions = serializers.SerializerMethodField()

    class Meta:
        model = SOP
        fields = ["id", "code", "title", "versions"]
        read_only_fields = fields

    def get_versions(self, sop) -> list[dict]:
        return [{"id": v.pk, "version": v.version, "effective_on": v.effective_on.isoformat(),
                 "activities": v.activities} for v in sop.versions.all()]


class SOPVersionInputSerializer(serializers.Serializer):
    code = serializers.CharField(max_length=40)
    title = serializers.CharField(max_length=200, required=False, allow_blank=True, default="",
                                  help_text="Required for a new SOP code.")
    version = serializers.CharField(max_length=20)
    effective_on = bank_fields.DateField()
    activities = serializers.ListField(child=serializers.ChoiceField(choices=Activity.choices), allow_empty=True)
    summary = serializers.CharField(required=False, allow_blank=True, default="")
    document = serializers.FileField(required=False, allow_null=True, default=None,
                                     help_text="The controlled document (multipart upload).")
    password = serializers.CharField(trim_whitespace=False, style={"input_type": "password"},
                                     help_text="The QA officer's password: signs the approval.")


class TrainingSerializer(serializers.ModelSerializer):
    user = serializers.CharField(source="user.username", read_only=True)
    sop = serializers.CharField(source="sop_version.sop.code", read_only=True)
    version = serializers.CharField(source="sop_version.version", read_only=True)
    recorded_by = serializers.CharField(source="recorded_by.username", read_only=True)

    class Meta:
        model = Training
        fields = ["id", "user", "sop", "version", "sop_version", "trained_on", "expires_on", "trainer", "assessment",
                  "recorded_by", "recorded_at"]
        read_only_fields = fields


class TrainingInputSerializer(serializers.Serializer):
    user = serializers.CharField(max_length=150, help_text="username (or user id)")
    sop = serializers.CharField(max_length=40, help_text="SOP code (or id)")
    version = serializers.CharField(max_length=20, required=False, allow_blank=True, default="",
                                    help_text="Leave out for the latest version.")
    trained_on = bank_fields.DateField()
    expires_on = bank_fields.DateField(required=False, allow_null=True, default=None)
    trainer = serializers.CharField(max_length=150, required=False, allow_blank=True, default="")
    assessment = serializers.ChoiceField(choices=Assessment.choices, required=False, default=Assessment.PASSED)


class CalibrationSerializer(serializers.ModelSerializer):
    equipment = serializers.CharField(source="equipment.code", read_only=True)
    recorded_by = serializers.CharField(source="recorded_by.username", read_only=True)

    class Meta:
        model = Calibration
        fields = ["id", "equipment", "kind", "performed_on", "passed", "next_due_on", "certificate", "notes",
                  "recorded_by", "recorded_at"]
        read_only_fields = fields


class CalibrationInputSerializer(serializers.Serializer):
    performed_on = bank_fields.DateField()
    passed = serializers.BooleanField()
    next_due_on = bank_fields.DateField()
    certificate = serializers.CharField(max_length=200, required=False, allow_blank=True, default="")
    kind = serializers.ChoiceField(choices=CalibrationKind.choices, required=False, default=CalibrationKind.CALIBRATION)
    notes = serializers.CharField(required=False, allow_blank=True, default="")


class EquipmentSerializer(serializers.ModelSerializer):
    state = serializers.SerializerMethodField()

    class Meta:
        model = Equipment
        fields = ["id", "code", "name", "kind", "location", "storage_unit", "calibration_due_on",
                  "last_calibration_passed", "retired", "state"]
        read_only_fields = fields

    def get_state(self, equipment) -> str:
        from django.utils import timezone

        from quality.queries import reminder_days

        return equipment.state_on(timezone.localdate(), soon_days=reminder_days())


class EquipmentInputSerializer(serializers.Serializer):
    code = serializers.CharField(max_length=40)
    name = serializers.CharField(max_length=200)
    kind = serializers.ChoiceField(choices=EquipmentKind.choices)
    calibration_due_on = bank_fields.DateField()
    location = serializers.CharField(max_length=120, required=False, allow_blank=True, default="")
    storage_unit = serializers.IntegerField(required=False, allow_null=True, default=None,
                                            help_text="The storage unit this record is for (id).")


class MaterialSerializer(serializers.ModelSerializer):
    released_by = serializers.CharField(source="released_by.username", read_only=True, allow_null=True, default=None)
    signatures = SignaturesField()

    class Meta:
        model = Material
        fields = ["id", "name", "kind", "lot_number", "supplier", "expires_on", "received_on", "certificate",
                  "inspection", "status", "released_by", "released_at", "signatures"]
        read_only_fields = fields


class MaterialInputSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=200)
    kind = serializers.ChoiceField(choices=MaterialKind.choices)
    lot_number = serializers.CharField(max_length=80)
    supplier = serializers.CharField(max_length=200)
    expires_on = bank_fields.DateField()
    received_on = bank_fields.DateField()
    certificate = serializers.CharField(max_length=200, required=False, allow_blank=True, default="",
                                        help_text="Certificate of analysis (reference)")
    inspection = serializers.CharField(required=False, allow_blank=True, default="")


class MaterialReleaseSerializer(serializers.Serializer):
    password = serializers.CharField(trim_whitespace=False, style={"input_type": "password"})
    inspection = serializers.CharField(required=False, allow_blank=True, default="",
                                       help_text="Result of the incoming inspection.")


class MaterialRejectSerializer(serializers.Serializer):
    password = serializers.CharField(trim_whitespace=False, style={"input_type": "password"})
    reason = serializers.CharField(help_text="Why the lot failed incoming inspection.")


class TraceLotSerializer(serializers.Serializer):
    lot = serializers.CharField()
    lot_id = serializers.IntegerField()
    cell_line = serializers.CharField()
    status = serializers.CharField()
    vials = serializers.DictField(child=serializers.IntegerField())


class MaterialTraceSerializer(serializers.Serializer):
    material = MaterialSerializer()
    passages = serializers.ListField(child=serializers.DictField())
    cultures = serializers.ListField(child=serializers.IntegerField())
    lots = TraceLotSerializer(many=True)
    shipments = serializers.ListField(child=serializers.DictField())


class CleanroomSerializer(serializers.ModelSerializer):
    class Meta:
        model = Cleanroom
        fields = ["id", "code", "name", "grade"]
        read_only_fields = fields


class CleanroomInputSerializer(serializers.Serializer):
    code = serializers.CharField(max_length=40)
    name = serializers.CharField(max_length=200)
    grade = serializers.ChoiceField(choices=GMPGrade.choices)


class EnvironmentResultSerializer(serializers.ModelSerializer):
    room = serializers.CharField(source="room.code", read_only=True)

    class Meta:
        model = EnvironmentResult
        fields = ["id", "room", "parameter", "sampled_on", "location", "value", "alert_limit", "action_limit", "level",
                  "lots", "deviations", "recorded_at"]
        read_only_fields = fields


class EnvironmentResultInputSerializer(serializers.Serializer):
    parameter = serializers.ChoiceField(choices=EnvironmentParameter.choices)
    sampled_on = bank_fields.DateField()
    value = serializers.DecimalField(max_digits=14, decimal_places=2, min_value=0)
    location = serializers.CharField(max_length=120, required=False, allow_blank=True, default="")
