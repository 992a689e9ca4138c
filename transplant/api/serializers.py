"""Shapes of the transplant API: input and output only (the rules are in transplant.services)."""

from __future__ import annotations

from rest_framework import serializers

from cordblood.models import CordBloodUnit
from transplant import queries
from transplant.choices import (
    AdverseEventKind,
    AdverseEventSeverity,
    ArrivalCondition,
    DocumentItem,
    GVHDGrade,
    Survival,
)
from transplant.models import (
    AdverseEvent,
    FollowUp,
    LookBackNotice,
    Order,
    Patient,
    Reservation,
    ThawReport,
    TransplantCentre,
    TypingRequest,
)


class CentreSerializer(serializers.ModelSerializer):
    qualified = serializers.SerializerMethodField()

    class Meta:
        model = TransplantCentre
        fields = ["id", "code", "name", "city", "accreditation_until", "active", "qualified"]
        read_only_fields = fields

    def get_qualified(self, obj) -> bool:
        return obj.is_qualified()


class PatientSerializer(serializers.ModelSerializer):
    centre = serializers.CharField(source="centre.code", read_only=True)

    class Meta:
        model = Patient
        fields = ["id", "centre", "code", "diagnosis", "weight_kg", "abo", "rh", "hla", "created_at"]
        read_only_fields = fields


class PatientCreateSerializer(serializers.Serializer):
    code = serializers.CharField(max_length=30)
    diagnosis = serializers.CharField(max_length=200)
    weight_kg = serializers.DecimalField(max_digits=5, decimal_places=1)
    abo = serializers.CharField(max_length=2, required=False, allow_blank=True, default="")
    rh = serializers.CharField(max_length=3, required=False, allow_blank=True, default="")
    hla = serializers.JSONField(help_text='{"A": ["A*02:01", "A*24:02"], "B": [...], "C": [...], "DRB1": [...], '
                                          '"DQB1": [...]} (A, B and DRB1 needed)')
    centre = serializers.PrimaryKeyRelatedField(queryset=TransplantCentre.objects.all(), required=False,
                                                allow_null=True, help_text="bank staff only; a clinician's own")


class PatientUpdateSerializer(serializers.Serializer):
    """A correction of the patient's details; a field left out keeps its value. A change of ``hla`` needs
    ``reason`` (the earlier typing stays in the history: ``GET .../hla-history/``)."""

    diagnosis = serializers.CharField(max_length=200, required=False)
    weight_kg = serializers.DecimalField(max_digits=5, decimal_places=1, required=False)
    abo = serializers.CharField(max_length=2, required=False, allow_blank=True)
    rh = serializers.CharField(max_length=3, required=False, allow_blank=True)
    hla = serializers.JSONField(required=False)
    reason = serializers.CharField(max_length=90, required=False, allow_blank=True, default="")


class HLAVersionSerializer(serializers.Serializer):
    hla = serializers.JSONField()
    text = serializers.CharField()
    at = serializers.DateTimeField()
    by = serializers.CharField(source="by.username", default=None)
    reason = serializers.CharField()


class UnitSummarySerializer(serializers.ModelSerializer):
    """A unit as a transplant centre sees it: characterisation and HLA, never the donor."""

    hla = serializers.SerializerMethodField()
    age_years = serializers.SerializerMethodField()

    class Meta:
        model = CordBloodUnit
        fields = ["id", "din", "abo", "rh", "tnc_post", "cd34_post", "volume_post_ml", "frozen_at", "age_years",
                  "listing_status", "hla"]
        read_only_fields = fields

    def get_hla(self, obj) -> dict:
        return queries.unit_hla(obj)

    def get_age_years(self, obj) -> float | None:
        return queries.unit_age_years(obj)


class SearchResultSerializer(UnitSummarySerializer):
    mismatches = serializers.IntegerField(help_text="HLA mismatches at A, B (antigen) and DRB1 (allele), 0–6")
    tnc_per_kg = serializers.FloatField(help_text="TNC × 10^7 per kg of the patient's weight")
    cd34_per_kg = serializers.FloatField(help_text="CD34+ × 10^5 per kg of the patient's weight")

    class Meta(UnitSummarySerializer.Meta):
        fields = [*UnitSummarySerializer.Meta.fields, "mismatches", "tnc_per_kg", "cd34_per_kg"]
        read_only_fields = fields


class SearchParamsSerializer(serializers.Serializer):
    abo = serializers.ChoiceField(choices=["", "A", "B", "AB", "O"], required=False, default="")
    max_age_years = serializers.IntegerField(required=False, min_value=0, max_value=50, allow_null=True,
                                             default=None)
    min_tnc_per_kg = serializers.DecimalField(required=False, max_digits=6, decimal_places=2, min_value=0,
                                              allow_null=True, default=None, help_text="× 10^7 per kg")
    max_mismatches = serializers.IntegerField(required=False, min_value=0, max_value=6, allow_null=True,
                                              default=None)


class TypingRequestSerializer(serializers.ModelSerializer):
    unit_din = serializers.CharField(source="unit.din", read_only=True)
    patient_code = serializers.CharField(source="patient.code", read_only=True)
    requested_by = serializers.SlugRelatedField(slug_field="username", read_only=True)
    overdue = serializers.BooleanField(source="is_overdue", read_only=True)
    turnaround_days = serializers.IntegerField(read_only=True)
    concordant = serializers.SerializerMethodField()
    discordant_loci = serializers.SerializerMethodField()
    typed_alleles = serializers.SerializerMethodField()

    class Meta:
        model = TypingRequest
        fields = ["id", "unit", "unit_din", "patient", "patient_code", "status", "requested_by", "requested_at",
                  "due_on", "overdue", "completed_at", "turnaround_days", "concordant", "discordant_loci",
                  "typed_alleles", "cancelled_at", "cancel_reason"]
        read_only_fields = fields

    def get_concordant(self, obj) -> bool | None:
        return obj.typing.concordant if obj.typing_id else None

    def get_discordant_loci(self, obj) -> list[str]:
        return list(obj.typing.discordant_loci) if obj.typing_id else []

    def get_typed_alleles(self, obj) -> dict:
        return dict(obj.typing.alleles) if obj.typing_id else {}


class TypingRequestCreateSerializer(serializers.Serializer):
    unit = serializers.PrimaryKeyRelatedField(queryset=CordBloodUnit.objects.all())
    patient = serializers.PrimaryKeyRelatedField(queryset=Patient.objects.select_related("centre"))


class TypingCompleteSerializer(serializers.Serializer):
    alleles = serializers.JSONField()
    sample = serializers.CharField(required=False, allow_blank=True, default="",
                                   help_text="barcode of the segment or reference vial typed (default: a segment)")
    laboratory = serializers.CharField(required=False, allow_blank=True, default="", max_length=200)
    typed_on = serializers.DateField(required=False, allow_null=True, default=None)


class ReservationSerializer(serializers.ModelSerializer):
    unit_din = serializers.CharField(source="unit.din", read_only=True)
    patient_code = serializers.CharField(source="patient.code", read_only=True)
    reserved_by = serializers.SlugRelatedField(slug_field="username", read_only=True)
    bag = serializers.CharField(source="bag.barcode", read_only=True, default=None)

    class Meta:
        model = Reservation
        fields = ["id", "unit", "unit_din", "patient", "patient_code", "status", "until", "bag", "reserved_by",
                  "reserved_at", "ended_at"]
        read_only_fields = fields


class ReservationCreateSerializer(serializers.Serializer):
    unit = serializers.PrimaryKeyRelatedField(queryset=CordBloodUnit.objects.all())
    patient = serializers.PrimaryKeyRelatedField(queryset=Patient.objects.select_related("centre"))
    until = serializers.DateField()


class OrderCreateSerializer(serializers.Serializer):
    infusion_date = serializers.DateField()


class ReasonSerializer(serializers.Serializer):
    reason = serializers.CharField(max_length=500)


class OptionalReasonSerializer(serializers.Serializer):
    reason = serializers.CharField(max_length=500, required=False, allow_blank=True, default="")


class AdverseEventSerializer(serializers.ModelSerializer):
    order_number = serializers.CharField(source="order.number", read_only=True)
    unit_din = serializers.CharField(source="order.unit.din", read_only=True)
    reported_by = serializers.SlugRelatedField(slug_field="username", read_only=True)

    class Meta:
        model = AdverseEvent
        fields = ["id", "order", "order_number", "unit_din", "kind", "severity", "occurred_on", "description",
                  "reported_by", "reported_at", "recall", "recall_linked_at"]
        read_only_fields = fields


class AdverseEventCreateSerializer(serializers.Serializer):
    kind = serializers.ChoiceField(choices=AdverseEventKind.choices)
    severity = serializers.ChoiceField(choices=AdverseEventSeverity.choices)
    occurred_on = serializers.DateField()
    description = serializers.CharField()


class AdverseEventRecallSerializer(serializers.Serializer):
    recall = serializers.IntegerField(help_text="id of a recall of the unit's lot (or of its donor)")


class LookBackSerializer(serializers.ModelSerializer):
    recall_source = serializers.CharField(source="recall.source", read_only=True)
    recall_reason = serializers.SerializerMethodField(help_text="what the centre is told (never about the donor)")
    centre = serializers.CharField(source="centre.code", read_only=True)

    class Meta:
        model = LookBackNotice
        fields = ["id", "recall", "recall_source", "recall_reason", "order", "centre", "order_status", "created_at"]
        read_only_fields = fields

    def get_recall_reason(self, obj) -> str:
        from transplant.services.safety import centre_facing_reason

        return centre_facing_reason(obj.recall)


class ThawReportSerializer(serializers.ModelSerializer):
    meets_post_thaw_criteria = serializers.BooleanField(read_only=True)

    class Meta:
        model = ThawReport
        fields = ["thawed_at", "viable_cd34_pct", "viable_cd45_pct", "cfu_growth", "identity_confirmed", "infused_on",
                  "adverse_events", "meets_post_thaw_criteria", "recorded_at"]
        read_only_fields = fields


class FollowUpSerializer(serializers.ModelSerializer):
    order_number = serializers.CharField(source="order.number", read_only=True)
    patient_code = serializers.CharField(source="order.patient.code", read_only=True)
    overdue = serializers.BooleanField(source="is_overdue", read_only=True)

    class Meta:
        model = FollowUp
        fields = ["id", "order", "order_number", "patient_code", "milestone", "due_on", "status", "overdue",
                  "engrafted", "engraftment_day", "gvhd_grade", "chronic_gvhd", "survival", "notes", "recorded_at"]
        read_only_fields = fields


class OrderSerializer(serializers.ModelSerializer):
    unit_din = serializers.CharField(source="unit.din", read_only=True)
    patient_code = serializers.CharField(source="patient.code", read_only=True)
    centre = serializers.CharField(source="patient.centre.code", read_only=True)
    released_by = serializers.SlugRelatedField(slug_field="username", read_only=True)
    acknowledged_by = serializers.SlugRelatedField(slug_field="username", read_only=True)
    bag = serializers.CharField(source="bag.barcode", read_only=True, default=None)
    dry_shipper = serializers.CharField(source="dry_shipper.code", read_only=True, default=None)
    thaw_report = serializers.SerializerMethodField()
    follow_ups = serializers.SerializerMethodField()
    adverse_events = serializers.SerializerMethodField()
    look_back = serializers.SerializerMethodField()

    class Meta:
        model = Order
        fields = ["id", "number", "status", "unit", "unit_din", "patient", "patient_code", "centre", "infusion_date",
                  "ordered_at", "release_kind", "release_exceptions", "justification", "released_by", "released_at",
                  "acknowledged_by", "acknowledged_at", "bag", "dry_shipper", "documents", "courier", "shipped_at",
                  "received_at", "arrival_condition", "receipt_notes", "thaw_report", "follow_ups", "adverse_events",
                  "look_back"]
        read_only_fields = fields

    # The order's queryset (transplant.queries.orders_with_outcome) reads these with the orders: a list page
    # costs the same few queries whatever its length.
    def get_thaw_report(self, obj) -> dict | None:
        report = getattr(obj, "thaw_report", None)
        return ThawReportSerializer(report).data if report else None

    def get_follow_ups(self, obj) -> list[dict]:
        return FollowUpSerializer(sorted(obj.follow_ups.all(), key=lambda f: (f.due_on, f.pk)), many=True).data

    def get_adverse_events(self, obj) -> list[dict]:
        return AdverseEventSerializer(sorted(obj.adverse_events.all(), key=lambda e: (e.reported_at, e.pk)),
                                      many=True).data

    def get_look_back(self, obj) -> list[dict]:
        return LookBackSerializer(sorted(obj.look_back_notices.all(), key=lambda n: (n.created_at, n.pk)),
                                  many=True).data


class OrderReleaseSerializer(serializers.Serializer):
    password = serializers.CharField(style={"input_type": "password"}, trim_whitespace=False)
    justification = serializers.CharField(required=False, allow_blank=True, default="")


class PasswordSerializer(serializers.Serializer):
    password = serializers.CharField(style={"input_type": "password"}, trim_whitespace=False)


class OrderShipSerializer(serializers.Serializer):
    bag_barcode = serializers.CharField(max_length=40)
    dry_shipper = serializers.CharField(max_length=30)
    documents = serializers.MultipleChoiceField(choices=DocumentItem.choices)
    temperature_log = serializers.FileField()
    courier = serializers.CharField(required=False, allow_blank=True, default="", max_length=120)


class OrderReceiveSerializer(serializers.Serializer):
    condition = serializers.ChoiceField(choices=ArrivalCondition.choices, default=ArrivalCondition.GOOD)
    notes = serializers.CharField(required=False, allow_blank=True, default="")


class ThawReportCreateSerializer(serializers.Serializer):
    thawed_at = serializers.DateTimeField()
    viable_cd34_pct = serializers.DecimalField(max_digits=5, decimal_places=1)
    viable_cd45_pct = serializers.DecimalField(max_digits=5, decimal_places=1)
    cfu_growth = serializers.BooleanField()
    identity_confirmed = serializers.BooleanField()
    infused_on = serializers.DateField()
    adverse_events = serializers.CharField(required=False, allow_blank=True, default="")


class FollowUpRecordSerializer(serializers.Serializer):
    survival = serializers.ChoiceField(choices=Survival.choices)
    engrafted = serializers.BooleanField(required=False, allow_null=True, default=None)
    engraftment_day = serializers.IntegerField(required=False, allow_null=True, default=None)
    gvhd_grade = serializers.ChoiceField(choices=GVHDGrade.choices, required=False, allow_blank=True, default="")
    chronic_gvhd = serializers.BooleanField(required=False, allow_null=True, default=None)
    notes = serializers.CharField(required=False, allow_blank=True, default="")
