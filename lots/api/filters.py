"""Filters of the lots API: ids and the bench's identifiers (barcode, lot number, line name, donor code)."""

from __future__ import annotations

import django_filters

from lots import queries
from lots.choices import CellType, Grade, LotStatus, Tier, VialStatus
from lots.models import CellLine, Lot, Vial


class CellLineFilter(django_filters.FilterSet):
    name = django_filters.CharFilter(lookup_expr="iexact", help_text="exact line name, e.g. SCBi001-A")
    cell_type = django_filters.ChoiceFilter(choices=CellType.choices)
    grade = django_filters.ChoiceFilter(choices=Grade.choices)
    donor_code = django_filters.CharFilter(field_name="donor__code", lookup_expr="iexact")
    collection_code = django_filters.CharFilter(field_name="collection__code", lookup_expr="iexact")

    class Meta:
        model = CellLine
        fields = ["name", "cell_type", "grade", "donor", "donor_code", "collection", "collection_code", "parent_line"]


class LotFilter(django_filters.FilterSet):
    lot_number = django_filters.CharFilter(lookup_expr="iexact")
    barcode = django_filters.CharFilter(method="filter_barcode",
                                        help_text="the lot's barcode, or the barcode of one of its vials")
    status = django_filters.MultipleChoiceFilter(choices=LotStatus.choices)
    tier = django_filters.ChoiceFilter(choices=Tier.choices)
    line = django_filters.CharFilter(field_name="cell_line__name", lookup_expr="iexact",
                                     help_text="cell line name, e.g. SCBi001-A")
    donor_code = django_filters.CharFilter(field_name="cell_line__donor__code", lookup_expr="iexact")
    frozen_after = django_filters.DateFilter(field_name="frozen_on", lookup_expr="gte")
    frozen_before = django_filters.DateFilter(field_name="frozen_on", lookup_expr="lte")

    class Meta:
        model = Lot
        fields = ["lot_number", "barcode", "status", "tier", "cell_line", "line", "parent_lot", "donor_code",
                  "frozen_after", "frozen_before"]

    def filter_barcode(self, queryset, name, value):
        return queryset.filter(queries.lots_matching_barcode(value))


class VialFilter(django_filters.FilterSet):
    barcode = django_filters.CharFilter(method="filter_barcode", help_text="scan lookup: the vial's barcode")
    lot_number = django_filters.CharFilter(field_name="lot__lot_number", lookup_expr="iexact")
    status = django_filters.MultipleChoiceFilter(choices=VialStatus.choices)
    stored = django_filters.BooleanFilter(field_name="box", lookup_expr="isnull", exclude=True,
                                          help_text="true: only vials in a box; false: only vials not stored")

    class Meta:
        model = Vial
        fields = ["barcode", "lot", "lot_number", "status", "stored", "box"]

    def filter_barcode(self, queryset, name, value):
        return queryset.filter(barcode__in=queries.code_variants(value))
