"""PlainRowsListSerializer: a list of plain rows gives exactly what DRF's own fields give, faster."""

import dataclasses

import pytest
from django.core.exceptions import ImproperlyConfigured
from rest_framework import serializers

from bank.api.serializers import PlainRowsListSerializer
from distribution.api.serializers import ForwardVialSerializer


class Position(serializers.Serializer):
    box = serializers.CharField()
    row = serializers.IntegerField()


class Row(serializers.Serializer):
    id = serializers.IntegerField()
    code = serializers.CharField(allow_null=True)
    ok = serializers.BooleanField()
    score = serializers.FloatField(allow_null=True)
    position = Position(allow_null=True)


class PlainRow(Row):
    class Meta:
        list_serializer_class = PlainRowsListSerializer


ROWS = [
    {"id": 1, "code": "V-1", "ok": True, "score": 1.5, "position": {"box": "B1", "row": 3}, "extra": "not declared"},
    {"id": 2, "code": None, "ok": False, "score": None, "position": None, "extra": 1},
    # values that are not yet their field's representation: the field converts them, as DRF would
    {"id": "3", "code": 42, "ok": 1, "score": 2, "position": {"box": 7, "row": True}, "extra": None},
]


@dataclasses.dataclass(frozen=True)
class Point:
    box: str
    row: int


@dataclasses.dataclass(frozen=True)
class Item:
    id: int
    code: str
    ok: bool
    score: float
    position: Point | None


def test_plain_rows_give_what_drf_fields_give():
    assert Row(ROWS, many=True).data == PlainRow(ROWS, many=True).data
    plain = PlainRow(ROWS, many=True).data
    assert plain[2] == {"id": 3, "code": "42", "ok": True, "score": 2.0, "position": {"box": "7", "row": 1}}
    assert type(plain[2]["score"]) is float
    assert "extra" not in plain[0] and plain[1]["position"] is None


def test_objects_are_read_by_attribute():
    items = [Item(1, "V-1", True, 0.25, Point("B1", 3)), Item(2, "V-2", False, 1.0, None)]
    assert PlainRow(items, many=True).data == Row(items, many=True).data == [
        {"id": 1, "code": "V-1", "ok": True, "score": 0.25, "position": {"box": "B1", "row": 3}},
        {"id": 2, "code": "V-2", "ok": False, "score": 1.0, "position": None}]


def test_the_forward_trace_vials_are_plain_rows():
    rows = [{"id": 9, "barcode": "SB-1", "status": "stored", "kind": "vial", "request": None,
             "position": {"unit": "U", "rack": "R", "box": "B", "box_barcode": "BX", "row": 1, "col": 2}}]
    serializer = ForwardVialSerializer(rows, many=True)
    assert isinstance(serializer, PlainRowsListSerializer)
    assert serializer.data == [{"id": 9, "barcode": "SB-1", "status": "stored", "request": None,
                                "position": {"unit": "U", "rack": "R", "box": "B", "box_barcode": "BX",
                                             "row": 1, "col": 2}}]


def test_a_field_read_from_another_source_is_refused():
    class Bad(serializers.Serializer):
        value = serializers.CharField(source="other")

        class Meta:
            list_serializer_class = PlainRowsListSerializer

    with pytest.raises(ImproperlyConfigured, match="Bad.value"):
        Bad([{"value": 1, "other": 2}], many=True).data  # noqa: B018 - the property does the work


class Result(serializers.Serializer):
    value = serializers.FloatField(allow_null=True)
    tested_on = serializers.DateField()
    amount = serializers.DecimalField(max_digits=6, decimal_places=2, allow_null=True)


class Summary(serializers.Serializer):
    name = serializers.CharField(allow_null=True)
    tests = Result(many=True)
    latest = Result(allow_null=True)
    missing = serializers.ListField(child=serializers.CharField())
    at = serializers.DateTimeField(allow_null=True)


def test_fields_with_a_format_of_their_own_are_formatted_by_it():
    """Dates, decimals, date-times and lists go through their fields; lists of nested rows are projected each."""
    import datetime
    from decimal import Decimal

    from bank.api.serializers import plain_representation

    day = datetime.date(2026, 12, 7)
    row = {"name": "viability", "missing": ["karyotype", 3],
           "tests": [{"value": 91.5, "tested_on": day, "amount": Decimal("1.5")},
                     {"value": None, "tested_on": day, "amount": None}],
           "latest": {"value": 2, "tested_on": day, "amount": Decimal("12.345")},
           "at": datetime.datetime(2026, 12, 7, 8, 30, tzinfo=datetime.UTC)}
    plain = plain_representation(Summary, row)
    assert plain == Summary(row).data
    assert plain["tests"][0]["tested_on"] == "2026-12-07" and plain["latest"]["amount"] == "12.34"
    assert plain["missing"] == ["karyotype", "3"] and type(plain["latest"]["value"]) is float
    assert plain_representation(Summary, {**row, "latest": None, "name": None, "at": None}) == \
        Summary({**row, "latest": None, "name": None, "at": None}).data


def test_the_lot_apis_qc_summary_is_what_its_serializer_gives(users):
    """The lot detail's QC summary (plain values from qc.queries.qc_summary) comes out as QCSummarySerializer
    would have shaped it, results, dates and lists included."""
    from django.utils import timezone

    from bank.api.serializers import plain_representation
    from lots.api.serializers import QCSummarySerializer
    from qc import services
    from qc.queries import qc_summary
    from tests.qc.factories import qc_lot

    lot = qc_lot()
    services.record_qc_result(lot, actor=users["technician"], test="viability", value="75.5",
                              tested_on=timezone.localdate())
    summary = qc_summary(lot)
    assert any(t["result"] for t in summary["tests"]) and any(t["result"] is None for t in summary["tests"])
    assert plain_representation(QCSummarySerializer, summary) == QCSummarySerializer(summary).data
