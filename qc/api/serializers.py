"""Serializers of the qc API: they shape input and output only; the services hold the rules."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from bank.api import fields as bank_fields
from bank.api.serializers import SignaturesField
from bank.models import SignatureMeaning
from lots.api.serializers import PositionSerializer
from lots.choices import CellType, Tier
from lots.queries import position_of
from qc.choices import RecheckStatus
from qc.models import (
    Criterion,
    Deviation,
    LotDecision,
    QCResult,
    QCTest,
    Recheck,
    Specification,
    StabilityPlan,
)


def _number(**kwargs):
    return serializers.DecimalField(max_digits=12, decimal_places=4, coerce_to_string=False, **kwargs)


class QCTestSerializer(serializers.ModelSerializer):
    class Meta:
        model = QCTest
        fields = ["id", "code", "name", "kind", "unit", "outcomes", "typical_method", "stage"]


class CriterionSerializer(serializers.ModelSerializer):
    test = serializers.CharField(source="test.code")
    name = serializers.CharField(source="test.name")
    min = _number(source="min_value", allow_null=True)
    max = _number(source="max_value", allow_null=True)
    text = serializers.CharField(source="describe", help_text="The limit as shown to people: ≥ 70 %, negative ...")

    class Meta:
        model = Criterion
        fields = ["test", "name", "min", "max", "unit", "expected", "blocking", "only_for_reprogramming", "text",
                  "stage"]


class SpecificationSerializer(serializers.ModelSerializer):
    published_by = serializers.CharField(source="published_by.username", allow_null=True, default=None)
    criteria = CriterionSerializer(many=True)

    class Meta:
        model = Specification
        fields = ["id", "cell_type", "tier", "version", "published_at", "published_by", "notes", "criteria"]


class CriterionInputSerializer(serializers.Serializer):
    test = serializers.CharField(max_length=40)
    min = _number(required=False, allow_null=True)
    max = _number(required=False, allow_null=True)
    unit = serializers.CharField(max_length=30, required=False, allow_blank=True)
    expected = serializers.CharField(max_length=40, required=False, allow_blank=True)
    blocking = serializers.BooleanField(default=True, help_text="false for a reference criterion")
    only_for_reprogramming = serializers.CharField(max_length=20, required=False, allow_blank=True,
                                                   help_text="e.g. sendai")
    stage = serializers.CharField(max_length=16, required=False, allow_blank=True,
                                  help_text="pre_processing, post_processing or post_thaw (default: the test's stage)")


class SpecificationPublishSerializer(serializers.Serializer):
    cell_type = serializers.ChoiceField(choices=CellType.choices)
    tier = serializers.ChoiceField(choices=Tier.choices)
    notes = serializers.CharField(required=False, allow_blank=True, default="")
    criteria = CriterionInputSerializer(many=True, allow_empty=False)


class VialRefSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    barcode = serializers.CharField()


class QCResultSerializer(serializers.ModelSerializer):
    lot_number = serializers.CharField(source="lot.lot_number")
    test = serializers.CharField(source="test.code")
    value = _number(allow_null=True)
    criterion = serializers.SerializerMethodField()
    vial = serializers.CharField(source="vial.barcode", allow_null=True, default=None)
    entered_by = serializers.CharField(source="entered_by.username")
    deviation = serializers.SerializerMethodField()

    class Meta:
        model = QCResult
        fields = ["id", "lot", "lot_number", "test", "value", "outcome", "unit", "passed", "criterion", "method",
                  "instrument", "tested_on", "vial", "retest_of", "entered_by", "entered_at", "notes", "deviation"]

    @extend_schema_field(serializers.CharField(allow_null=True))
    def get_criterion(self, obj) -> str | None:
        return obj.criterion.describe() if obj.criterion_id else None

    @extend_schema_field(serializers.CharField(allow_null=True))
    def get_deviation(self, obj) -> str | None:
        deviations = list(obj.deviations.all())
        return deviations[0].number if deviations else None


class QCResultInputSerializer(serializers.Serializer):
    test = serializers.CharField(max_length=40, help_text="a test code of GET /qc/tests/")
    value = _number(required=False, allow_null=True, help_text="for a numeric test, in the test's unit")
    outcome = serializers.CharField(max_length=40, required=False, allow_blank=True,
                                    help_text="for an outcome test, one of the test's outcomes")
    tested_on = bank_fields.DateField()
    method = serializers.CharField(max_length=200, required=False, allow_blank=True)
    instrument = serializers.CharField(max_length=120, required=False, allow_blank=True,
                                       help_text="instrument or kit lot")
    vial = serializers.CharField(max_length=40, required=False, allow_blank=True,
                                 help_text="barcode of the vial thawed for the test (it becomes used)")
    notes = serializers.CharField(required=False, allow_blank=True)


class ReleaseSerializer(serializers.Serializer):
    password = serializers.CharField(trim_whitespace=False, style={"input_type": "password"})
    meaning = serializers.CharField(max_length=200, help_text=f"e.g. {SignatureMeaning.RELEASE.value}")


class RejectSerializer(serializers.Serializer):
    password = serializers.CharField(trim_whitespace=False, style={"input_type": "password"})
    reason = serializers.CharField()
    meaning = serializers.CharField(max_length=200, required=False, default=SignatureMeaning.REJECTION.value)


class LiftHoldSerializer(serializers.Serializer):
    password = serializers.CharField(trim_whitespace=False, style={"input_type": "password"})
    cited_result = serializers.IntegerField(help_text="id of the passing viability re-test")
    reason = serializers.CharField(required=False, allow_blank=True, default="")
    meaning = serializers.CharField(max_length=200, required=False, default=SignatureMeaning.HOLD_LIFTED.value)


class LotDecisionSerializer(serializers.ModelSerializer):
    lot_number = serializers.CharField(source="lot.lot_number")
    lot_status = serializers.CharField(source="lot.status")
    decided_by = serializers.CharField(source="decided_by.username", allow_null=True, default=None)
    specification = serializers.CharField(source="specification.__str__", allow_null=True, default=None)
    signatures = SignaturesField()

    class Meta:
        model = LotDecision
        fields = ["id", "lot", "lot_number", "lot_status", "decision", "decided_at", "decided_by", "reason",
                  "cited_result", "specification", "signatures"]


class StabilityPlanSerializer(serializers.ModelSerializer):
    min_viability_pct = serializers.DecimalField(max_digits=5, decimal_places=2, coerce_to_string=False)

    class Meta:
        model = StabilityPlan
        fields = ["lot", "interval_days", "min_viability_pct", "next_due_on", "active"]


class StabilityPlanInputSerializer(serializers.Serializer):
    # Values are only parsed here: qc.services.set_stability_plan checks them.
    interval_days = serializers.IntegerField()
    min_viability_pct = serializers.DecimalField(max_digits=30, decimal_places=10)


class RecheckSerializer(serializers.ModelSerializer):
    lot_number = serializers.CharField(source="lot.lot_number")
    cell_line = serializers.CharField(source="lot.cell_line.name")
    min_viability_pct = serializers.DecimalField(source="plan.min_viability_pct", max_digits=5, decimal_places=2,
                                                 coerce_to_string=False)
    vial = serializers.CharField(source="vial.barcode", allow_null=True, default=None,
                                 help_text="barcode of the vial to thaw")
    position = serializers.SerializerMethodField()
    result = serializers.SerializerMethodField()
    completed_by = serializers.CharField(source="completed_by.username", allow_null=True, default=None)

    class Meta:
        model = Recheck
        fields = ["id", "lot", "lot_number", "cell_line", "due_on", "status", "min_viability_pct", "vial",
                  "position", "opened_at", "result", "completed_at", "completed_by"]

    @extend_schema_field(PositionSerializer(allow_null=True))
    def get_position(self, obj):
        return position_of(obj.vial) if obj.vial is not None else None

    @extend_schema_field(serializers.DictField(allow_null=True))
    def get_result(self, obj):
        result = obj.result
        if result is None:
            return None
        return {"id": result.pk, "viability_pct": float(result.value), "tested_on": result.tested_on.isoformat(),
                "passed": result.passed}


class RecheckResultSerializer(serializers.Serializer):
    viability_pct = serializers.DecimalField(max_digits=30, decimal_places=10)  # checked by the service
    tested_on = bank_fields.DateField()
    vial = serializers.CharField(max_length=40, required=False, allow_blank=True,
                                 help_text="barcode of the vial thawed (default: the one the re-check names)")
    method = serializers.CharField(max_length=200, required=False, allow_blank=True)
    instrument = serializers.CharField(max_length=120, required=False, allow_blank=True)
    notes = serializers.CharField(required=False, allow_blank=True)


class RecheckStatusQuery(serializers.Serializer):
    status = serializers.ChoiceField(choices=[*RecheckStatus.values, "open"], required=False)


class DeviationSerializer(serializers.ModelSerializer):
    lot_number = serializers.CharField(source="lot.lot_number", allow_null=True, default=None)
    collection_code = serializers.CharField(source="collection.code", allow_null=True, default=None)
    opened_by = serializers.CharField(source="opened_by.username")
    closed_by = serializers.CharField(source="closed_by.username", allow_null=True, default=None)
    signatures = SignaturesField()

    class Meta:
        model = Deviation
        fields = ["id", "number", "lot", "lot_number", "collection", "collection_code", "result", "status", "summary",
                  "opened_at", "opened_by",
                  "investigation", "root_cause", "capa", "closed_at", "closed_by", "signatures"]


class DeviationCreateSerializer(serializers.Serializer):
    lot = serializers.IntegerField()
    summary = serializers.CharField(max_length=300)


class DeviationUpdateSerializer(serializers.Serializer):
    investigation = serializers.CharField(required=False, allow_blank=True)
    root_cause = serializers.CharField(required=False, allow_blank=True)
    capa = serializers.CharField(required=False, allow_blank=True)


class DeviationCloseSerializer(serializers.Serializer):
    password = serializers.CharField(trim_whitespace=False, style={"input_type": "password"})
    meaning = serializers.CharField(max_length=200, required=False, default=SignatureMeaning.CLOSURE.value)


class BlockerSerializer(serializers.Serializer):
    code = serializers.CharField()
    detail = serializers.CharField()


class ReadinessRowSerializer(serializers.Serializer):
    test = serializers.CharField()
    criterion = serializers.CharField()
    blocking = serializers.BooleanField()
    state = serializers.ChoiceField(choices=["missing", "passed", "failed"])
    result = QCResultSerializer(allow_null=True)


class ReadinessSerializer(serializers.Serializer):
    lot = serializers.IntegerField()
    lot_number = serializers.CharField()
    status = serializers.CharField()
    specification = serializers.CharField(allow_null=True)
    ready = serializers.BooleanField()
    blockers = BlockerSerializer(many=True)
    eligibility = serializers.CharField()
    consent = serializers.CharField()
    tests = ReadinessRowSerializer(many=True)
