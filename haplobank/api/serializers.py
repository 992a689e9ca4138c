"""Shapes of the haplobank API: input and output only (the rules are in haplobank.services, .queries and
.matching)."""

from __future__ import annotations

from decimal import Decimal

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from bank.api.serializers import PlainRowsListSerializer
from haplobank.choices import CoverageDefinition, HLAResolution
from haplobank.models import Population
from haplobank.queries import TableSummary


class PopulationSerializer(serializers.ModelSerializer):
    """A population with the size of its tables in force (read from ``context["summaries"]``)."""

    created_by = serializers.CharField(source="created_by.username", read_only=True)
    haplotypes = serializers.SerializerMethodField(help_text="haplotypes in the table in force")
    frequency_total = serializers.SerializerMethodField(help_text="the sum of their frequencies (decimal string)")
    cohort_size = serializers.SerializerMethodField(help_text="persons in the typed cohort in force")

    class Meta:
        model = Population
        fields = ["id", "name", "source", "resolution", "haplotypes", "frequency_total", "cohort_size",
                  "haplotype_version", "haplotypes_uploaded_at", "genotype_version", "genotypes_uploaded_at",
                  "created_by", "created_at"]
        read_only_fields = fields

    def _summary(self, obj) -> TableSummary:
        summaries = self.context.get("summaries") or {}
        return summaries.get(obj.pk) or TableSummary(0, Decimal(0), 0)

    def get_haplotypes(self, obj) -> int:
        return self._summary(obj).haplotypes

    def get_frequency_total(self, obj) -> str:
        return f"{self._summary(obj).frequency_total.normalize():f}"

    def get_cohort_size(self, obj) -> int:
        return self._summary(obj).cohort_size


class PopulationCreateSerializer(serializers.Serializer):
    name = serializers.CharField(required=False, allow_blank=True, default="", max_length=500)
    source = serializers.CharField(required=False, allow_blank=True, default="", max_length=1000,
                                   help_text="where the frequencies come from (study, registry, year), or that they "
                                             "are synthetic")
    resolution = serializers.CharField(required=False, allow_blank=True, default="",
                                       help_text=" or ".join(HLAResolution.values))


class TableRefusedLineSerializer(serializers.Serializer):
    line = serializers.IntegerField(help_text="line number in the file (1 = the first line)")
    error = serializers.CharField()


class TableRefusedSerializer(serializers.Serializer):
    detail = serializers.CharField()
    code = serializers.ChoiceField(choices=["invalid_lines", "frequencies_exceed_one"])
    lines = TableRefusedLineSerializer(many=True, required=False, help_text="invalid_lines: every bad line")
    total = serializers.CharField(required=False, help_text="frequencies_exceed_one: the sum of the frequencies")


class CoverageParamsSerializer(serializers.Serializer):
    population = serializers.IntegerField(min_value=1)
    definition = serializers.ChoiceField(choices=CoverageDefinition.choices, default=CoverageDefinition.HAPLOTYPE)


class PopulationBriefSerializer(serializers.Serializer):
    id = serializers.IntegerField(source="pk")
    name = serializers.CharField()
    source = serializers.CharField()
    resolution = serializers.CharField()


class LineGainSerializer(serializers.Serializer):
    cell_line = serializers.IntegerField()
    name = serializers.CharField()
    cell_type = serializers.CharField()
    haplotype = serializers.CharField()
    gain_pct = serializers.FloatField()

    class Meta:
        list_serializer_class = PlainRowsListSerializer  # every homozygous line: tens of thousands in a national bank


class CurvePointSerializer(serializers.Serializer):
    lines = serializers.IntegerField()
    coverage_pct = serializers.FloatField()

    class Meta:
        list_serializer_class = PlainRowsListSerializer


class _TextsMixin(serializers.Serializer):
    definition_text = serializers.SerializerMethodField()
    resolution_text = serializers.SerializerMethodField()
    lines_text = serializers.SerializerMethodField()

    def get_definition_text(self, obj) -> str:
        return obj.texts["definition_text"]

    def get_resolution_text(self, obj) -> str:
        return obj.texts["resolution_text"]

    def get_lines_text(self, obj) -> str:
        return obj.texts["lines_text"]


class CoverageSerializer(_TextsMixin):
    definition = serializers.CharField()
    lines = serializers.IntegerField(help_text="lines that count: released, homozygous at A, B and DRB1")
    coverage_pct = serializers.FloatField()
    per_line = LineGainSerializer(many=True)
    curve = CurvePointSerializer(many=True)
    population = PopulationBriefSerializer()
    resolution = serializers.CharField(source="population.resolution")


class SimulateInputSerializer(serializers.Serializer):
    population = serializers.IntegerField(min_value=1)
    haplotypes = serializers.ListField(child=serializers.CharField(allow_blank=True), required=False, default=list,
                                       max_length=5000, help_text='["A*24:02~B*52:01~DRB1*15:02", ...]')
    include_bank = serializers.BooleanField(required=False, default=False,
                                            help_text="add the haplotypes of the bank's homozygous lines")
    definition = serializers.ChoiceField(choices=CoverageDefinition.choices, default=CoverageDefinition.HAPLOTYPE)


class CandidateSerializer(serializers.Serializer):
    haplotype = serializers.CharField()
    gain_pct = serializers.FloatField()
    frequency = serializers.DecimalField(max_digits=11, decimal_places=10, allow_null=True)


class SimulationSerializer(_TextsMixin):
    definition = serializers.CharField()
    coverage_pct = serializers.FloatField()
    next_best = CandidateSerializer(many=True)
    haplotypes = serializers.ListField(child=serializers.CharField(), help_text="the planned set, normalised")
    bank_haplotypes = serializers.ListField(child=serializers.CharField(),
                                            help_text="the bank's haplotypes added (include_bank)")
    population = PopulationBriefSerializer()


class MatchInputSerializer(serializers.Serializer):
    """The patient's typing (for the schema; ``haplobank.matching.clean_patient`` reads the body)."""

    A = serializers.ListField(child=serializers.CharField(), min_length=1, max_length=2)
    B = serializers.ListField(child=serializers.CharField(), min_length=1, max_length=2)
    DRB1 = serializers.ListField(child=serializers.CharField(), min_length=1, max_length=2)
    C = serializers.ListField(child=serializers.CharField(), required=False, max_length=2)
    DQB1 = serializers.ListField(child=serializers.CharField(), required=False, max_length=2)


@extend_schema_field({"type": "object", "additionalProperties": {"type": "array", "items": {"type": "string"}},
                      "example": {"A": ["A*02:01", "A*24:02"], "B": ["B*07:02", "B*52:01"]}})
class TypingField(serializers.Field):
    """Alleles per locus, passed through as read (DRF's nested Dict/List fields cost more per result than the
    search's own queries)."""

    def __init__(self, **kwargs):
        kwargs.setdefault("read_only", True)
        super().__init__(**kwargs)

    def to_representation(self, value):
        return value


class MatchSerializer(serializers.Serializer):
    cell_line = serializers.IntegerField()
    name = serializers.CharField()
    cell_type = serializers.CharField()
    mismatches_hvg = serializers.IntegerField(help_text="host versus graft: donor alleles the patient lacks")
    mismatches_gvh = serializers.IntegerField(help_text="graft versus host: patient alleles the donor lacks")
    din = serializers.CharField(allow_null=True, help_text="the cord blood unit's DIN (null for a cell line)")
    hla = TypingField(help_text="the donor's typing at A, B, C, DRB1, DQB1 (each pair in code-point order)")


class MatchResultsSerializer(serializers.Serializer):
    results = MatchSerializer(many=True)


class RecruitmentParamsSerializer(serializers.Serializer):
    population = serializers.IntegerField(min_value=1)
    haplotype = serializers.CharField(help_text="A~B~DRB1, e.g. A*24:02~B*52:01~DRB1*15:02")
    limit = serializers.IntegerField(min_value=1, max_value=500, default=100)


class RecruitSerializer(serializers.Serializer):
    donor = serializers.IntegerField()
    code = serializers.CharField(help_text="the donor's pseudonymous code (never the identity)")
    donor_type = serializers.CharField()
    population = serializers.CharField()
    may_recontact = serializers.BooleanField(help_text="the consent in force names recontact")
    banked = serializers.BooleanField(help_text="a line of this donor counts already")


class RecruitmentSerializer(serializers.Serializer):
    haplotype = serializers.CharField()
    population = PopulationBriefSerializer()
    donors = RecruitSerializer(many=True)
