"""Scanned identifiers: written normalised, looked up exactly through one function per kind, on an index.

The EXPLAIN test pins the index use: with sequential scans priced out (``enable_seqscan = off``) every
scan in the plan of a lookup must be an index scan *with an index condition* — a Seq Scan, or an index
walked end to end under a Filter, would read the whole table (four million vials at national scale).
"""

import re

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from distribution import queries as distribution_queries
from donors import queries as donor_queries
from lots import queries as lot_queries
from lots.models import Lot, Vial
from qc import queries as qc_queries
from qc.models import Deviation
from storage import queries as storage_queries
from tests.distribution.factories import make_line, submit
from tests.factories import BoxFactory, CollectionFactory, LotFactory, UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def things(users):
    line = make_line()
    lot = LotFactory(cell_line=line, lot_number="MCB-SCBi901-A-2026-0001", barcode="sblt9990001", vial_count=2)
    box = BoxFactory(barcode=" sbb00000777 ")
    deviation = Deviation.objects.create(number="dev-2026-0042", lot=lot, opened_by=users["qa"], summary="x")
    lot.status = "released"
    lot.save(update_fields=["status"])
    return {"line": line, "lot": lot, "box": box, "deviation": deviation,
            "collection": CollectionFactory(donor=line.donor)}


def test_identifiers_are_written_normalised(things):
    assert things["lot"].barcode == "SBLT9990001"
    assert Lot.objects.get(pk=things["lot"].pk).barcode == "SBLT9990001"
    assert things["box"].barcode == "SBB00000777"
    assert Deviation.objects.get(pk=things["deviation"].pk).number == "DEV-2026-0042"
    Vial.objects.filter(lot=things["lot"], number=1).update(barcode="  sbv55 ")
    assert Vial.objects.filter(lot=things["lot"], number=1).values_list("barcode", flat=True).get() == "SBV55"
    # the lot number keeps its registered case (it carries the hPSCreg name)
    assert Lot.objects.get(pk=things["lot"].pk).lot_number == "MCB-SCBi901-A-2026-0001"


def test_every_kind_is_found_however_it_was_scanned_or_typed(things, users):
    lot, line, box = things["lot"], things["line"], things["box"]
    vial = lot.vials.order_by("number").first()
    typed = f"  {vial.barcode.lower()}\r\n"
    assert lot_queries.vial_by_barcode(typed) == vial
    assert storage_queries.vial_by_barcode(typed) == vial
    assert lot_queries.lot_by_code(" sblt9990001") == lot
    assert lot_queries.lot_by_code("mcb-scbi901-a-2026-0001") == lot
    assert lot_queries.lot_for_scan(vial.barcode.lower()) == lot
    assert lot_queries.line_by_name(line.name.lower()) == line
    assert storage_queries.box_by_barcode("sbb00000777") == box
    assert donor_queries.donor_by_code(line.donor.code.lower()) == line.donor
    assert donor_queries.collection_by_code(things["collection"].code.lower()) == things["collection"]
    assert qc_queries.deviation_by_number("dev-2026-0042 ") == things["deviation"]
    assert Lot.objects.filter(lot_queries.lots_matching_barcode(vial.barcode.lower())).get() == lot
    for nothing in ("", "   ", "X" * 500):
        assert lot_queries.vial_by_barcode(nothing) is None and lot_queries.lot_by_code(nothing) is None


def test_request_numbers_are_found_for_those_who_may_see_them(users):
    from tests.distribution.factories import add_lot

    line = make_line()
    add_lot(line, vials=2)
    request = submit(users["researcher"], line, 1)
    assert distribution_queries.request_by_number(request.number.lower(), users["qa"]) == request
    assert distribution_queries.request_by_number(request.number, users["researcher"]) == request
    assert distribution_queries.request_by_number(request.number, UserFactory(role="researcher")) is None


LOOKUPS = {
    "vial barcode": lambda t: lot_queries.vial_by_barcode(t["lot"].vials.first().barcode.lower()),
    "vial with its place": lambda t: storage_queries.vial_by_barcode("sbv00000001"),
    "lot barcode or number": lambda t: lot_queries.lot_by_code("mcb-scbi901-a-2026-0001"),
    "line name": lambda t: lot_queries.line_by_name("scbi901-a"),
    "lots holding a vial": lambda t: list(Lot.objects.filter(lot_queries.lots_matching_barcode(
        t["lot"].vials.first().barcode))),
    "box barcode": lambda t: storage_queries.box_by_barcode("sbb00000777"),
    "donor code": lambda t: donor_queries.donor_by_code("sbd-abc"),
    "collection code": lambda t: donor_queries.collection_by_code("col-2026-0001"),
    "deviation number": lambda t: qc_queries.deviation_by_number("dev-2026-0001"),
    "request number": lambda t: distribution_queries.request_by_number("req-2026-00001", t["qa"]),
}
# What the test must catch (it did, before the lookups went through bank.identifiers): a case-insensitive
# substring match on the barcode, as the scan pages used to run.
TABLE_SCAN = lambda t: list(Vial.objects.filter(barcode__icontains="sbv1")[:1])  # noqa: E731


def plan_of(lookup, context) -> tuple[str, str]:
    with CaptureQueriesContext(connection) as ctx:
        lookup(context)
    lookups = [q["sql"] for q in ctx.captured_queries if q["sql"].lstrip().upper().startswith("SELECT")][-1:]
    assert lookups, "the lookup ran no query"
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL enable_seqscan = off")
        cursor.execute("EXPLAIN " + lookups[0])
        return lookups[0], "\n".join(row[0] for row in cursor.fetchall())


def unbounded_scans(plan: str) -> list[str]:
    """The scan nodes of a plan that read a whole table or index: a Seq Scan, or an index scan without an
    Index Cond (a Bitmap Heap Scan is bounded by its Bitmap Index Scans, checked themselves)."""
    nodes = re.split(r"\n(?=\s*(?:->\s*)?[A-Z][A-Za-z ]*Scan)", plan)
    bad = []
    for node in nodes:
        head = node.strip().lstrip("->").strip().splitlines()[0]
        if "Seq Scan" in head or ("Index" in head and "Scan" in head and "Index Cond" not in node):
            bad.append(head)
    return bad


@pytest.mark.parametrize("kind", list(LOOKUPS))
def test_each_lookup_uses_an_index_never_a_table_scan(kind, things, users):
    sql, plan = plan_of(LOOKUPS[kind], {**things, "qa": users["qa"]})
    assert not unbounded_scans(plan), f"{kind} reads a whole table:\n{sql}\n{plan}"
    assert "Index Cond" in plan


def test_the_plan_check_does_catch_a_table_scan(things):
    _sql, plan = plan_of(TABLE_SCAN, things)
    assert unbounded_scans(plan), plan
