"""Serializers of the lots API: they shape input and output; the services decide."""

from __future__ import annotations

from django.urls import reverse
from django.utils.text import format_lazy
from django.utils.translation import gettext_lazy as _
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from bank.api import fields as bank_fields
from bank.api.serializers import BuiltOnceMixin, plain_representation
from bank.parsing import BIGINT_MAX
from bank.registry import ask
from bank.web import id_url
from donors.models import Collection
from lots import queries
from lots.choices import CellType, FreezingProgram, Grade, ReprogrammingMethod, Tier
from lots.models import CellLine, Culture, Lot, Passage, Vial


def _choice_error(message, choices) -> dict:
    """DRF fills ``{input}``; the list of valid values is filled in here."""
    return {"invalid_choice": format_lazy(message, choices=", ".join(v for v in choices.values if v))}


# --- cell lines ------------------------------------------------------------------------------------


class CellLineSerializer(serializers.ModelSerializer):
    collection_code = serializers.CharField(source="collection.code", read_only=True)
    donor_code = serializers.CharField(source="donor.code", read_only=True)
    parent_line_name = serializers.CharField(source="parent_line.name", read_only=True, allow_null=True,
                                             default=None)
    created_by = serializers.CharField(source="created_by.username", read_only=True)

    class Meta:
        model = CellLine
        fields = ["id", "name", "collection", "collection_code", "donor", "donor_code", "cell_type", "grade",
                  "reprogramming_method", "parent_line", "parent_line_name", "registry_number", "subclone",
                  "description", "established_on", "genetic_modification", "hpscreg_id", "icscb_id", "created_by",
                  "created_at"]
        read_only_fields = fields


class CellLineCreateSerializer(serializers.Serializer):
    collection = serializers.PrimaryKeyRelatedField(
        queryset=Collection.objects.select_related("donor"), required=False,
        help_text="The collection the line was established from (a subclone takes its parent's).")
    cell_type = serializers.ChoiceField(
        choices=CellType.choices,
        error_messages=_choice_error(_("Unknown cell type “{{input}}”. Use one of: {choices}."), CellType))
    grade = serializers.ChoiceField(
        choices=Grade.choices,
        error_messages=_choice_error(_("Unknown grade “{{input}}”. Use one of: {choices}."), Grade))
    reprogramming_method = serializers.ChoiceField(
        choices=ReprogrammingMethod.choices, required=False, allow_blank=True, default="",
        error_messages=_choice_error(
            _("Unknown reprogramming method “{{input}}”. Use one of: {choices}."), ReprogrammingMethod),
        help_text="iPSC lines only (sendai, episomal, mrna, lentivirus, other).")
    parent_line = serializers.PrimaryKeyRelatedField(
        queryset=CellLine.objects.select_related("collection"), required=False, allow_null=True,
        help_text="Register a subclone (-B, -C ...) of this iPSC/ESC line.")
    description = serializers.CharField(required=False, allow_blank=True, default="")
    established_on = bank_fields.DateField(required=False, allow_null=True)
    genetic_modification = serializers.CharField(
        required=False, allow_blank=True, default="", max_length=200,
        help_text="Empty when the line is not genetically modified (e.g. AAVS1-GFP knock-in).")
    reason = serializers.CharField(required=False, allow_blank=True, default="", max_length=100)


class RegistryIdsSerializer(serializers.Serializer):
    hpscreg_id = serializers.CharField(required=False, allow_blank=True, max_length=40,
                                       help_text="The ID hPSCreg gave the line's record (\"\" clears it).")
    icscb_id = serializers.CharField(required=False, allow_blank=True, max_length=40,
                                     help_text="The ID ICSCB gave the line's record (\"\" clears it).")
    reason = serializers.CharField(required=False, allow_blank=True, default="", max_length=100)


# --- vials -----------------------------------------------------------------------------------------


class PositionSerializer(serializers.Serializer):
    unit = serializers.IntegerField()
    rack = serializers.IntegerField()
    box = serializers.IntegerField()
    row = serializers.IntegerField()
    col = serializers.IntegerField()
    unit_name = serializers.CharField()
    rack_name = serializers.CharField()
    box_name = serializers.CharField()
    box_barcode = serializers.CharField()
    label = serializers.CharField(help_text="the position on the box grid, e.g. C4")


class VialSerializer(BuiltOnceMixin, serializers.ModelSerializer):
    """A vial: ``id, barcode, lot, status, position`` (``{unit, rack, box, row, col}`` or null)."""

    lot_number = serializers.CharField(source="lot.lot_number", read_only=True)
    position = serializers.SerializerMethodField()
    label_svg = serializers.SerializerMethodField()

    class Meta:
        model = Vial
        fields = ["id", "barcode", "lot", "lot_number", "number", "kind", "status", "status_changed_at", "position",
                  "label_svg"]
        read_only_fields = fields

    @extend_schema_field(PositionSerializer(allow_null=True))
    def get_position(self, vial):
        return queries.position_of(vial)

    @extend_schema_field(OpenApiTypes.URI)
    def get_label_svg(self, vial) -> str:
        # Resolved once per serializer (a page lists 50 vials), then filled in (bank.web.id_url).
        label_url = self.__dict__.get("_label_url")
        if label_url is None:
            label_url = self._label_url = id_url("api-vial-label")
        return label_url(vial.pk)


class NewVialSerializer(serializers.ModelSerializer):
    class Meta:
        model = Vial
        fields = ["id", "barcode", "number", "kind", "status"]
        read_only_fields = fields


# --- lots ------------------------------------------------------------------------------------------


class QCResultSummarySerializer(serializers.Serializer):
    id = serializers.IntegerField()
    value = serializers.FloatField(allow_null=True)
    outcome = serializers.CharField(allow_null=True)
    unit = serializers.CharField(allow_blank=True)
    tested_on = serializers.DateField()
    passed = serializers.BooleanField(allow_null=True)


class QCTestSummarySerializer(serializers.Serializer):
    test = serializers.CharField()
    name = serializers.CharField()
    required = serializers.BooleanField()
    min = serializers.FloatField(allow_null=True)
    max = serializers.FloatField(allow_null=True)
    unit = serializers.CharField(allow_blank=True)
    expected = serializers.CharField(allow_null=True)
    result = QCResultSummarySerializer(allow_null=True, help_text="The latest result of this test, or null.")
    passed = serializers.BooleanField(allow_null=True)


class QCSummarySerializer(serializers.Serializer):
    specification = serializers.CharField(allow_null=True)
    specification_id = serializers.IntegerField(allow_null=True)
    tests = QCTestSummarySerializer(many=True)
    missing = serializers.ListField(child=serializers.CharField(), help_text="Required tests without a result.")
    failed = serializers.ListField(child=serializers.CharField(),
                                   help_text="Required tests whose counted (latest, not re-check) result failed.")
    complete = serializers.BooleanField()


class LotSerializer(BuiltOnceMixin, serializers.ModelSerializer):
    """A lot as lists show it. ``lineage`` lists the ancestor lot numbers, nearest first."""

    cell_line_name = serializers.CharField(source="cell_line.name", read_only=True)
    parent_lot_number = serializers.CharField(source="parent_lot.lot_number", read_only=True, allow_null=True,
                                              default=None)
    operator = serializers.CharField(source="operator.username", read_only=True)
    lineage = serializers.SerializerMethodField()
    vials_by_status = serializers.SerializerMethodField()

    class Meta:
        model = Lot
        fields = ["id", "lot_number", "barcode", "din", "cell_line", "cell_line_name", "tier", "parent_lot",
                  "parent_lot_number", "lineage", "culture", "passage", "population_doublings", "vial_count",
                  "cells_per_vial", "volume_ml", "cryoprotectant", "cryoprotectant_lot", "freezing_program",
                  "freezing_profile", "frozen_on", "operator", "status", "status_changed_at",
                  "consent_withdrawn_flagged_at", "ancestor_recalled_at", "notes", "created_at", "vials_by_status"]
        read_only_fields = fields

    @extend_schema_field(serializers.ListField(child=serializers.CharField()))
    def get_lineage(self, lot) -> list[str]:
        cache = self.context.get("lineages")
        if cache is None or lot.pk not in cache:
            cache = queries.lineages([lot])
        return [item["lot_number"] for item in cache[lot.pk]]

    @extend_schema_field(serializers.DictField(child=serializers.IntegerField()))
    def get_vials_by_status(self, lot) -> dict:
        cache = self.context.get("vial_counts")
        if cache is None:
            cache = queries.vial_status_counts([lot.pk])
        return dict(cache.get(lot.pk, {}))


class LabelLinksSerializer(serializers.Serializer):
    pdf = serializers.CharField()
    zpl = serializers.CharField()


class IsbtSerializer(serializers.Serializer):
    din = serializers.CharField(help_text="The 13-character ISBT 128 DIN")
    facility = serializers.CharField(help_text="Facility identification number (5)")
    year = serializers.CharField(help_text="Year (2)")
    sequence = serializers.CharField(help_text="Sequence number (6)")
    flags = serializers.CharField()
    check_character = serializers.CharField(help_text="ISO/IEC 7064 MOD 37-2, printed boxed after the DIN")
    eye_readable = serializers.CharField(help_text="e.g. W0000 26 000042")
    sec = serializers.CharField(allow_null=True, help_text="The EU Single European Code of the lot (split 001), "
                                                           "null when the bank is not an EU tissue establishment")
    sec_eye_readable = serializers.CharField(allow_null=True)


class LotDetailSerializer(LotSerializer):
    """A lot with its QC summary, the links to its labels and (clinical grade, cord blood) its ISBT 128 coding."""

    qc_summary = serializers.SerializerMethodField()
    labels = serializers.SerializerMethodField()
    isbt = serializers.SerializerMethodField()

    class Meta(LotSerializer.Meta):
        fields = LotSerializer.Meta.fields + ["qc_summary", "labels", "isbt"]
        read_only_fields = fields

    @extend_schema_field(IsbtSerializer(allow_null=True))
    def get_isbt(self, lot) -> dict | None:
        return queries.lot_coding(lot)

    @extend_schema_field(QCSummarySerializer)
    def get_qc_summary(self, lot) -> dict:
        # The QC app owns the verdict (bank.registry hook): the lots app never re-derives it.
        summary = ask("lot_qc_summary", lot) or {"specification": None, "specification_id": None, "tests": [],
                                                 "missing": [], "failed": [], "complete": False}
        return plain_representation(QCSummarySerializer, summary)  # DRF's output, its fields built once

    @extend_schema_field(LabelLinksSerializer)
    def get_labels(self, lot) -> dict:
        return {"pdf": reverse("api-lot-labels-pdf", args=[lot.pk]),
                "zpl": reverse("api-lot-labels-zpl", args=[lot.pk])}


class LotCreatedSerializer(LotDetailSerializer):
    """The new lot with every vial and its barcode."""

    vials = NewVialSerializer(many=True, read_only=True)

    class Meta(LotDetailSerializer.Meta):
        fields = LotDetailSerializer.Meta.fields + ["vials"]
        read_only_fields = fields


class LotCreateSerializer(serializers.Serializer):
    cell_line = serializers.PrimaryKeyRelatedField(queryset=CellLine.objects.select_related("donor"))
    tier = serializers.ChoiceField(
        choices=Tier.choices, error_messages=_choice_error(_("Unknown tier “{{input}}”. Use one of: {choices}."), Tier))
    parent_lot = serializers.PrimaryKeyRelatedField(
        queryset=Lot.objects.select_related("cell_line"), required=False, allow_null=True,
        help_text="WCB only: the released MCB of the same line it was expanded from.")
    culture = serializers.PrimaryKeyRelatedField(
        queryset=Culture.objects.select_related("cell_line", "source_vial__lot").prefetch_related("passages"),
        required=False, allow_null=True, help_text="The culture harvested for this freeze (PD is copied).")
    # Values are only parsed here: lots.services.create_lot checks them (the page shows the same messages).
    passage = serializers.IntegerField()
    vial_count = serializers.IntegerField()
    cells_per_vial = serializers.IntegerField()
    volume_ml = serializers.DecimalField(max_digits=30, decimal_places=10, coerce_to_string=False)
    cryoprotectant = serializers.CharField(max_length=120)
    cryoprotectant_lot = serializers.CharField(max_length=60, required=False, allow_blank=True, default="")
    freezing_program = serializers.ChoiceField(
        choices=FreezingProgram.choices, required=False, default=FreezingProgram.CONTAINER,
        error_messages=_choice_error(
            _("Unknown freezing program “{{input}}”. Use one of: {choices}."), FreezingProgram))
    freezing_profile = serializers.CharField(max_length=120, required=False, allow_blank=True, default="")
    frozen_on = bank_fields.DateField()
    notes = serializers.CharField(required=False, allow_blank=True, default="")
    # issue 16: the quality gate checks what a freeze cites (equipment_not_calibrated, material_not_released/_expired)
    instrument = serializers.CharField(max_length=40, required=False, allow_blank=True, default="",
                                       help_text="Code of the controlled-rate freezer (equipment register).")
    materials = serializers.ListField(child=serializers.IntegerField(min_value=1, max_value=BIGINT_MAX),
                                      required=False, default=list,
                                      help_text="Ids of the material lots used (cryoprotectant, medium).")
    reason = serializers.CharField(required=False, allow_blank=True, default="", max_length=100)


# --- cultures --------------------------------------------------------------------------------------


class PassageSerializer(serializers.ModelSerializer):
    operator = serializers.CharField(source="operator.username", read_only=True)
    population_doublings = serializers.FloatField(read_only=True, allow_null=True)

    class Meta:
        model = Passage
        fields = ["id", "culture", "number", "passaged_on", "split_ratio", "seeded_cells", "harvested_cells",
                  "population_doublings", "viability_pct", "medium", "medium_lot", "reagents", "operator", "notes"]
        read_only_fields = fields


class ReagentSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=120)
    lot = serializers.CharField(max_length=60, required=False, allow_blank=True, default="")


class PassageCreateSerializer(serializers.Serializer):
    # Values are only parsed here: lots.services.record_passage checks them (the page shows the same messages).
    number = serializers.IntegerField(required=False, allow_null=True, help_text="Leave out for the next number.")
    passaged_on = bank_fields.DateField()
    split_ratio = serializers.CharField(max_length=20, required=False, allow_blank=True, default="")
    seeded_cells = serializers.IntegerField(required=False, allow_null=True)
    harvested_cells = serializers.IntegerField(required=False, allow_null=True)
    viability_pct = serializers.DecimalField(max_digits=30, decimal_places=10, required=False, allow_null=True)
    medium = serializers.CharField(max_length=120, required=False, allow_blank=True, default="")
    medium_lot = serializers.CharField(max_length=60, required=False, allow_blank=True, default="")
    reagents = ReagentSerializer(many=True, required=False, default=list)
    notes = serializers.CharField(required=False, allow_blank=True, default="")
    materials = serializers.ListField(child=serializers.IntegerField(min_value=1, max_value=BIGINT_MAX),
                                      required=False, default=list,
                                      help_text="Ids of the material lots used (issue 16: the quality gate).")
    room = serializers.CharField(max_length=40, required=False, allow_blank=True, default="",
                                 help_text="Code of the cleanroom the passage was done in (issue 16).")
    reason = serializers.CharField(required=False, allow_blank=True, default="", max_length=100)


class CultureSerializer(serializers.ModelSerializer):
    cell_line_name = serializers.CharField(source="cell_line.name", read_only=True)
    source_vial_barcode = serializers.CharField(source="source_vial.barcode", read_only=True, allow_null=True,
                                                default=None)
    passages = PassageSerializer(many=True, read_only=True)
    population_doublings = serializers.SerializerMethodField()

    class Meta:
        model = Culture
        fields = ["id", "cell_line", "cell_line_name", "source_vial", "source_vial_barcode", "started_on", "notes",
                  "population_doublings", "passages"]
        read_only_fields = fields

    @extend_schema_field(serializers.DecimalField(max_digits=8, decimal_places=2, allow_null=True))
    def get_population_doublings(self, culture):
        from lots.services import culture_population_doublings

        value = culture_population_doublings(culture)
        return None if value is None else str(value)


class CultureCreateSerializer(serializers.Serializer):
    cell_line = serializers.PrimaryKeyRelatedField(queryset=CellLine.objects.select_related("donor"))
    started_on = bank_fields.DateField(required=False, allow_null=True)
    source_vial = serializers.SlugRelatedField(
        slug_field="barcode", queryset=Vial.objects.select_related("lot__cell_line"), required=False,
        allow_null=True, help_text="Barcode of the vial thawed to start the culture.")
    notes = serializers.CharField(required=False, allow_blank=True, default="")
    reason = serializers.CharField(required=False, allow_blank=True, default="", max_length=100)
