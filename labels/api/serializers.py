"""Shapes of the label API: what to print, and the admins' printer profiles."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from bank.api.serializers import JobSerializer
from bank.labels import FORMAT_CHOICES
from bank.models import PrinterProfile


@extend_schema_field({"oneOf": [{"type": "integer"}, {"type": "string"}]})
class CodeOrIdField(serializers.Field):
    """A barcode (or lot number) as a string, or a record id as an integer."""

    default_error_messages = {"invalid": "Give a barcode (text) or an id (number)."}

    def to_internal_value(self, data):
        if isinstance(data, bool) or not isinstance(data, (int, str)):
            self.fail("invalid")
        return data

    def to_representation(self, value):
        return value


class PrintOptionsSerializer(serializers.Serializer):
    profile = serializers.IntegerField(
        required=False, allow_null=True,
        help_text="printer profile id (GET /printer-profiles/); empty: the default profile of the labels' kind")
    format = serializers.ChoiceField(
        choices=FORMAT_CHOICES, required=False, allow_null=True, allow_blank=True,
        help_text="pdf (the profile's sheet, or one label per page for roll and Zebra profiles) or zpl; "
                  "empty: what the profile prints")
    copies = serializers.IntegerField(required=False, min_value=1, max_value=50, default=1,
                                      help_text="copies of each label")


class VialLabelsSerializer(PrintOptionsSerializer):
    vials = serializers.ListField(child=CodeOrIdField(), allow_empty=False,
                                  help_text="vial barcodes (strings) or vial ids (integers), printed in this order")


class BoxLabelsSerializer(PrintOptionsSerializer):
    boxes = serializers.ListField(child=CodeOrIdField(), required=False, allow_empty=False,
                                  help_text="box barcodes (strings) or box ids (integers)")
    rack = serializers.IntegerField(required=False, help_text="every box of this rack (id)")
    unit = serializers.IntegerField(required=False, help_text="every box of this storage unit (id)")

    def validate(self, attrs):
        given = [key for key in ("boxes", "rack", "unit") if attrs.get(key) is not None]
        if len(given) != 1:
            raise serializers.ValidationError({"boxes": ["Give boxes, a rack or a unit (one of them)."]})
        return attrs


class LotLabelsSerializer(PrintOptionsSerializer):
    lots = serializers.ListField(child=CodeOrIdField(), allow_empty=False,
                                 help_text="lot barcodes or lot numbers (strings), or lot ids (integers)")


class LabelJobAcceptedSerializer(serializers.Serializer):
    """202: the labels are made by a job (poll it; its result file is the PDF or ZPL)."""

    job = JobSerializer()


class PrinterProfileSerializer(serializers.ModelSerializer):
    """A printer profile; sizes in inches. Writing is for admins."""

    class Meta:
        model = PrinterProfile
        fields = ["id", "name", "kind", "output", "width_in", "height_in", "page_size", "columns", "rows",
                  "margin_left_in", "margin_top_in", "gap_x_in", "gap_y_in", "dpi", "is_default", "active",
                  "created_at"]
        read_only_fields = ["id", "created_at"]
        # Uniqueness and the model's rules are checked by the service (full_clean), which answers 400 per field.
        validators: list = []
        extra_kwargs = {"name": {"validators": []}}
