"""Filters of the storage API: ids, the box barcode a scanner reads, alarm state, reading times."""

from __future__ import annotations

import django_filters
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from bank.api import filters
from storage import queries
from storage.choices import AlarmKind
from storage.models import Alarm, Box, Rack, StorageUnit, TemperatureReading


class UnitFilter(django_filters.FilterSet):
    quarantine = filters.BooleanFilter(help_text="true: quarantine units only; false: the others")
    active = filters.BooleanFilter(help_text="true: units in service; false: units out of service")

    class Meta:
        model = StorageUnit
        fields = ["quarantine", "active"]


class RackFilter(django_filters.FilterSet):
    unit = filters.IdFilter(field_name="unit_id")

    class Meta:
        model = Rack
        fields = ["unit"]


class BoxFilter(django_filters.FilterSet):
    # An IdentifierField: the value is normalised like the stored barcodes, an exact match on the unique index.
    barcode = django_filters.CharFilter(field_name="barcode", help_text="scan lookup: the box's barcode")
    rack = filters.IdFilter(field_name="rack_id")
    unit = filters.IdFilter(field_name="rack__unit_id")

    class Meta:
        model = Box
        fields = ["barcode", "rack", "unit"]


DATETIME_INVALID = _("Enter a valid date and time (ISO 8601, e.g. 2026-03-01T09:30+08:00).")


class ReadingFilter(django_filters.FilterSet):
    since = filters.DateTimeFilter(
        field_name="recorded_at", lookup_expr="gte", help_text="ISO 8601 time: readings recorded from then on",
        error_messages={"invalid": DATETIME_INVALID})
    until = filters.DateTimeFilter(
        field_name="recorded_at", lookup_expr="lt", help_text="ISO 8601 time: readings recorded before then",
        error_messages={"invalid": DATETIME_INVALID})
    range = filters.ChoiceFilter(
        choices=[(key, label) for key, label in queries.WINDOW_LABELS.items()], method="filter_range",
        help_text="the last 24h, 7d, 30d or 1y (from now)")

    class Meta:
        model = TemperatureReading
        fields = ["since", "until", "range"]

    def filter_range(self, queryset, name, value):
        # The chart's ranges (one source: storage.queries.WINDOWS).
        return queryset.filter(recorded_at__gte=timezone.now() - queries.WINDOWS[value])


class AlarmFilter(django_filters.FilterSet):
    active = filters.BooleanFilter(method="filter_alarms", help_text="true: not yet acknowledged; false: the others")
    unit = filters.IdFilter(method="filter_alarms")
    kind = filters.ChoiceFilter(choices=AlarmKind.choices, method="filter_alarms")

    class Meta:
        model = Alarm
        fields = ["active", "unit", "kind"]

    def filter_alarms(self, queryset, name, value):
        # Which alarms count as active, of a unit, of a kind: storage.queries.alarms answers (one source).
        return queryset & queries.alarms(**{name: value})
