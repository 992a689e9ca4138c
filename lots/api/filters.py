"""Filters of the lots API: ids and the bench's identifiers (barcode, lot number, line name, donor code)."""

from __future__ import annotations

import django_filters
from django import forms

from bank import coding
from bank.identifiers import upper_equals
from lots import queries
from lots.choices import CellType, Grade, LotStatus, Tier, VialKind, VialStatus
from lots.models import CellLine, Lot, Vial


def _upper_equals(queryset, name, value):
    """Names that keep lower case (SCBi001-A) match in any case, on their upper-case unique index."""
    return queryset.filter(upper_equals(name, value))


class CellLineFilter(django_filters.FilterSet):
    name = django_filters.CharFilter(method=_upper_equals, help_text="exact line name in any case, e.g. SCBi001-A")
    cell_type = django_filters.ChoiceFilter(choices=CellType.choices)
    grade = django_filters.ChoiceFilter(choices=Grade.choices)
    donor_code = django_filters.CharFilter(field_name="donor__code")
    collection_code = django_filters.CharFilter(field_name="collection__code")

    class Meta:
        model = CellLine
        fields = ["name", "cell_type", "grade", "donor", "donor_code", "collection", "collection_code", "parent_line"]


class LotFilter(django_filters.FilterSet):
    lot_number = django_filters.CharFilter(method=_upper_equals)
    barcode = django_filters.CharFilter(method="filter_barcode",
                                        help_text="the lot's barcode, or the barcode of one of its vials")
    status = django_filters.MultipleChoiceFilter(choices=LotStatus.choices)
    tier = django_filters.ChoiceFilter(choices=Tier.choices)
    line = django_filters.CharFilter(field_name="cell_line__name", method=_upper_equals,
                                     help_text="cell line name, e.g. SCBi001-A")
    donor_code = django_filters.CharFilter(field_name="cell_line__donor__code")
    frozen_after = django_filters.DateFilter(field_name="frozen_on", lookup_expr="gte")
    frozen_before = django_filters.DateFilter(field_name="frozen_on", lookup_expr="lte")

    class Meta:
        model = Lot
        fields = ["lot_number", "barcode", "status", "tier", "cell_line", "line", "parent_lot", "donor_code",
                  "frozen_after", "frozen_before"]

    def filter_barcode(self, queryset, name, value):
        return queryset.filter(queries.lots_matching_barcode(value))


class ScanCodeField(forms.CharField):
    """A scanned or typed code: a DIN with a wrong check character or a malformed SEC is bad input (400 with the
    reason), never a silent "not found" (bank/coding.py)."""

    def clean(self, value):
        value = super().clean(value)
        if value:
            try:
                coding.identify(value)
            except coding.CodeError as exc:
                raise forms.ValidationError(str(exc)) from exc
        return value


class ScanCodeFilter(django_filters.CharFilter):
    field_class = ScanCodeField


class VialFilter(django_filters.FilterSet):
    barcode = ScanCodeFilter(
        method="filter_barcode",
        help_text="scan lookup: the vial's barcode, or an ISBT 128 DIN (13 characters, with or without its check "
                  "character, or the barcode's =DIN+flags) or an EU Single European Code: the vials of that lot. "
                  "A wrong check character or a malformed SEC is a 400.")
    lot_number = django_filters.CharFilter(field_name="lot__lot_number", method=_upper_equals)
    status = django_filters.MultipleChoiceFilter(choices=VialStatus.choices)
    kind = django_filters.MultipleChoiceFilter(choices=VialKind.choices,
                                               help_text="bag, segment, reference_cells ... (issue 12)")
    stored = django_filters.BooleanFilter(field_name="box", lookup_expr="isnull", exclude=True,
                                          help_text="true: only vials in a box; false: only vials not stored")

    class Meta:
        model = Vial
        fields = ["barcode", "lot", "lot_number", "status", "kind", "stored", "box"]

    def filter_barcode(self, queryset, name, value):
        din = coding.donation_number(value)  # validated by the field
        if din is not None:
            return queryset.filter(lot__din=din)  # the lot's unique DIN index, then its vials
        return queryset.filter(barcode=value)  # IdentifierField: normalised like the stored barcodes
