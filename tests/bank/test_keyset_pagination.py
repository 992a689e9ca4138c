"""Keyset pages of the big lists (bank.api.pagination.KeysetPagination): vials, lots, donors, the audit trail.

A page is found by where the previous one ended, so walking ``next`` reads every row exactly once, in the list's
order, whatever is written meanwhile; page 2 neither counts nor skips rows; ``count`` is exact only when cheap.
"""

from __future__ import annotations

import base64
import datetime
import json
from urllib.parse import parse_qs, urlsplit

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from bank.api.pagination import KeysetPagination
from bank.audit import ACTIONS
from donors.models import Donor
from lots.models import Lot, Vial
from tests.factories import BoxFactory, DonorFactory, LotFactory

pytestmark = pytest.mark.django_db

VIALS, LOTS, DONORS, AUDIT = "/api/v1/vials/", "/api/v1/lots/", "/api/v1/donors/", "/api/v1/audit/"


def get(client, url: str, params: dict | None = None) -> dict:
    response = client.get(url, params or {})
    assert response.status_code == 200, response.json()
    return response.json()


def follow(client, link: str) -> dict:
    parts = urlsplit(link)
    return get(client, f"{parts.path}?{parts.query}")


def walk(client, url: str, params: dict, *, between=None) -> list[dict]:
    """Every page of a list through its ``next`` links (``between(n)`` runs after page n is read)."""
    pages = [get(client, url, params)]
    while pages[-1]["next"]:
        if between:
            between(len(pages))
        pages.append(follow(client, pages[-1]["next"]))
    return pages


def ids(pages: list[dict]) -> list[int]:
    return [row["id"] for page in pages for row in page["results"]]


@pytest.fixture
def qa(api, users):
    client = api(users["qa"])
    client.get(VIALS, {"barcode": "warm"})  # the permission cache, so the pins below count the list's queries
    return client


# --- every row once, in order ---------------------------------------------------------------------------------


def test_walking_next_reads_every_vial_once_in_lot_and_number_order(qa):
    for count in (4, 7, 3):
        LotFactory(vial_count=count)
    pages = walk(qa, VIALS, {"page_size": 5})
    expected = list(Vial.objects.order_by("lot_id", "number").values_list("id", flat=True))
    assert ids(pages) == expected and len(expected) == 14
    assert [len(p["results"]) for p in pages] == [5, 5, 4]
    assert all("cursor=" in p["next"] and "page_size=5" in p["next"] for p in pages[:-1])
    assert pages[0]["previous"] is None and pages[-1]["next"] is None
    # ... and back again through ``previous``, page by page
    back = [pages[-1]]
    while back[-1]["previous"]:
        back.append(follow(qa, back[-1]["previous"]))
    assert [page["results"] for page in back] == [page["results"] for page in reversed(pages)]


def test_ties_on_the_leading_key_are_broken_by_the_id(qa):
    """Every lot frozen the same day: the order (and the page boundary) is decided by ``-id``."""
    day = timezone.localdate() - datetime.timedelta(days=3)
    made = [LotFactory(vials=False, frozen_on=day).pk for _ in range(7)]
    older = LotFactory(vials=False, frozen_on=day - datetime.timedelta(days=1)).pk
    pages = walk(qa, LOTS, {"page_size": 3})
    assert ids(pages) == [*sorted(made, reverse=True), older]


def test_rows_written_between_pages_are_neither_repeated_nor_skipped(qa):
    base = timezone.now() - datetime.timedelta(days=1)
    # Three donors registered in the same microsecond: the cursor must tell them apart by id.
    donors = [DonorFactory(registered_at=base - datetime.timedelta(minutes=n // 3)) for n in range(9)]
    expected = [d.pk for d in sorted(donors, key=lambda d: (d.registered_at, d.pk), reverse=True)]
    added = {}

    def register(page_number: int) -> None:
        # A newer donor lands before the cursor (it belongs to a page already read, as with any snapshot-free
        # list); an older one after it, where the walk will meet it exactly once. With OFFSET pages the newer
        # one would push a row already shown onto the next page.
        added[page_number] = (DonorFactory(registered_at=timezone.now()).pk,
                              DonorFactory(registered_at=base - datetime.timedelta(days=30 + page_number)).pk)

    seen = ids(walk(qa, DONORS, {"page_size": 4}, between=register))
    assert len(seen) == len(set(seen))
    older = [pair[1] for _n, pair in sorted(added.items())]
    assert seen == expected + older
    assert not {pair[0] for pair in added.values()} & set(seen)


def test_the_audit_trail_of_a_record_type_is_walked_newest_first(users, api):
    for n in range(5):
        donor = DonorFactory()
        donor.population = f"P{n}"
        donor.save(update_fields=["population"])
    client = api(users["admin"])
    pages = walk(client, AUDIT, {"object_type": "donor", "page_size": 3})
    history = Donor.history.order_by("-history_date", "-history_id")
    expected = [(row.id, ACTIONS[row.history_type], row.history_date) for row in history]
    walked = [(row["object_id"], row["action"], row["at"]) for page in pages for row in page["results"]]
    assert [(pk, action) for pk, action, _at in walked] == [(pk, action) for pk, action, _at in expected]
    assert len(expected) == 10 and [len(p["results"]) for p in pages] == [3, 3, 3, 1]
    assert all(p["count"] is None for p in pages)
    assert "object_type=donor" in pages[0]["next"]


# --- page size, count, page numbers -----------------------------------------------------------------------------


def test_page_size_is_honoured_up_to_500(qa):
    lot = LotFactory(vial_count=501)
    assert len(get(qa, VIALS, {"page_size": 7})["results"]) == 7
    assert len(get(qa, VIALS)["results"]) == KeysetPagination.page_size == 50
    capped = get(qa, VIALS, {"page_size": 100_000})
    assert len(capped["results"]) == 500 and capped["next"]
    last = follow(qa, capped["next"])
    assert [row["id"] for row in last["results"]] == [lot.vials.get(number=501).pk] and last["next"] is None


def test_count_is_exact_only_where_it_is_cheap(qa):
    lots = [LotFactory(vial_count=3) for _ in range(2)]
    lot_with_more = LotFactory(vial_count=4)
    # The whole list on its first page: its length is the count.
    assert get(qa, VIALS, {"page_size": 10})["count"] == 10
    # Longer than a page, no bounded filter: never counted, on any page.
    first = get(qa, VIALS, {"page_size": 4})
    assert first["count"] is None and follow(qa, first["next"])["count"] is None
    # A lot's vials (?lot=, ?lot_number=), a box's: a bounded set, counted on every page.
    by_lot = get(qa, VIALS, {"lot": lot_with_more.pk, "page_size": 3})
    with CaptureQueriesContext(connection) as captured:
        assert by_lot["count"] == 4 and follow(qa, by_lot["next"])["count"] == 4
    assert [q for q in captured.captured_queries if "COUNT(*)" in q["sql"]]  # what the pins below look for
    assert get(qa, VIALS, {"lot_number": lot_with_more.lot_number, "page_size": 2})["count"] == 4
    # The scan: one row or none, so a count without a COUNT.
    assert get(qa, VIALS, {"barcode": lots[0].vials.first().barcode})["count"] == 1
    assert get(qa, VIALS, {"barcode": "SBV-NOT-THERE"})["count"] == 0
    assert get(qa, LOTS, {"cell_line": lots[0].cell_line_id, "page_size": 2})["count"] == 1


def test_count_of_every_lot_or_donor_is_the_kept_count(qa):
    """The totals the database keeps (bank/tally.py) answer ``count`` on every page, as the lots and donors pages."""
    for _ in range(3):
        LotFactory(vials=False)
    held = LotFactory(vials=False)
    Lot.objects.filter(pk=held.pk).update(status="released")
    first = get(qa, LOTS, {"page_size": 2})
    assert first["count"] == 4 and follow(qa, first["next"])["count"] == 4
    assert get(qa, LOTS, {"status": "quarantine", "page_size": 2})["count"] == 3
    assert get(qa, LOTS, {"status": ["quarantine", "released"], "page_size": 2})["count"] == 4
    # Another filter beside the status: no kept count for it, so no count.
    assert get(qa, LOTS, {"status": "quarantine", "tier": "MCB", "page_size": 2})["count"] is None
    donors = get(qa, DONORS, {"page_size": 2})
    total = Donor.objects.count()
    assert total > 2 and donors["count"] == total and follow(qa, donors["next"])["count"] == total


def test_page_two_runs_no_count_and_a_constant_number_of_queries(qa, django_assert_num_queries):
    box = BoxFactory()
    for _ in range(3):
        LotFactory(vial_count=6)
    Vial.objects.filter(pk=Vial.objects.order_by("lot_id", "number")[8].pk).update(box=box, row=1, col=1)
    first = get(qa, VIALS, {"page_size": 5})
    # Queries: the page of vials with their lot and position (box, rack, unit), one row more to know there is a
    # next page. No COUNT, no OFFSET.
    with CaptureQueriesContext(connection) as captured, django_assert_num_queries(1):
        second = follow(qa, first["next"])
    assert len(second["results"]) == 5 and second["count"] is None
    sql = [q["sql"] for q in captured.captured_queries]
    assert not [s for s in sql if "COUNT(" in s.upper() or "OFFSET" in s.upper()], sql
    # The same for the lots (the page with line, donor, parent, culture and operator; the page's vial counts by
    # status; no lineage query, as no lot of the page has a parent; the kept count by status) and the donors (the
    # page, consents, the panel's markers and windows, the page's current results and newest collections, the kept
    # count): no COUNT(*) of the list on page 2.
    for url, queries in ((LOTS, 3), (DONORS, 7)):
        if url == DONORS:
            for _ in range(4):
                DonorFactory()
        first = get(qa, url, {"page_size": 2})
        with CaptureQueriesContext(connection) as captured, django_assert_num_queries(queries):
            follow(qa, first["next"])
        assert not [q for q in captured.captured_queries if "COUNT(*)" in q["sql"].upper()], url


def test_page_numbers_still_work_within_reach_then_say_to_follow_next(qa):
    for _ in range(3):
        LotFactory(vial_count=4)
    order = list(Vial.objects.order_by("lot_id", "number").values_list("id", flat=True))
    assert get(qa, VIALS, {"page": 1, "page_size": 5}) == get(qa, VIALS, {"page_size": 5})
    second = get(qa, VIALS, {"page": 2, "page_size": 5})
    assert [row["id"] for row in second["results"]] == order[5:10] and second["count"] is None
    # from there on the links are cursors (and the page number is dropped)
    query = parse_qs(urlsplit(second["next"]).query)
    assert "cursor" in query and "page" not in query and query["page_size"] == ["5"]
    assert [row["id"] for row in follow(qa, second["next"])["results"]] == order[10:12]
    assert [row["id"] for row in follow(qa, second["previous"])["results"]] == order[:5]
    assert qa.get(VIALS, {"page": 4, "page_size": 5}).status_code == 404  # past the end, as a numbered list says
    for junk in ("zz", "0", "-1", "1.5", str(10**30)):
        assert qa.get(VIALS, {"page": junk}).status_code == 404, junk
    # Past the rows reachable by OFFSET: a 400 that names the way on.
    deep = qa.get(VIALS, {"page": 202, "page_size": 50})
    body = deep.json()
    assert deep.status_code == 400 and body["code"] == "page_too_deep" and "next" in body["detail"]
    assert body["page"] == [body["detail"]]
    assert qa.get(VIALS, {"page": 201, "page_size": 50}).status_code == 404  # within reach: just past the end


def cursor(*values) -> str:
    return base64.urlsafe_b64encode(json.dumps(list(values)).encode()).decode().rstrip("=")


@pytest.mark.parametrize("value", [
    "zzz", "%%%", "a" * 2000, cursor(0, 1), cursor(2, 1, 1), cursor(0, "x", 1), cursor(0, 1, 10**30),
    cursor(0, None, 1), cursor(0, [1], 1), base64.urlsafe_b64encode(b"\xff\xfe").decode(), cursor({"p": 1}),
])
def test_a_cursor_the_bank_did_not_write_is_a_400(qa, value):
    response = qa.get(VIALS, {"cursor": value})
    assert response.status_code == 400 and list(response.json()) == ["cursor"], response.json()


@pytest.mark.parametrize("value", [
    cursor(0, "2026-02-30T00:00:00+00:00", 1), cursor(0, "2026-01-01T00:00:00", 1),  # no such day; no zone
    cursor(0, "9999-12-31T23:59:59-14:00", 1), cursor(0, "0001-01-01T00:00:00+14:00", 1),  # off the calendar
])
def test_a_cursor_with_a_bad_time_is_a_400(qa, value):
    response = qa.get(DONORS, {"cursor": value})
    assert response.status_code == 400 and list(response.json()) == ["cursor"], response.json()


def test_a_scan_is_still_one_query(qa, django_assert_num_queries):
    lot = LotFactory(vial_count=3)
    vial = lot.vials.get(number=2)
    with django_assert_num_queries(1):  # the vial with its lot and position: one row, so no count
        body = get(qa, VIALS, {"barcode": vial.barcode.lower()})
    assert body == {**body, "count": 1, "next": None, "previous": None} and body["results"][0]["id"] == vial.pk
    donor = DonorFactory()
    found = get(qa, DONORS, {"code": donor.code})
    assert found["count"] == 1 and [row["id"] for row in found["results"]] == [donor.pk]
    assert get(qa, LOTS, {"lot_number": lot.lot_number.lower()})["count"] == 1


# --- on an index, never a sort of the whole table ----------------------------------------------------------------


def page_two_sql(client, url: str, params: dict) -> str:
    first = get(client, url, {**params, "page_size": 1})
    with CaptureQueriesContext(connection) as captured:
        follow(client, first["next"])
    return next(q["sql"] for q in captured.captured_queries if q["sql"].lstrip().upper().startswith("SELECT"))


@pytest.mark.parametrize("url, params, table, cond", [
    (VIALS, {}, "lots_vial", "ROW(lot_id, number) > ROW("),
    (LOTS, {}, "lots_lot", "ROW(frozen_on, id) < ROW("),
    (DONORS, {}, "donors_donor", "ROW(registered_at, id) < ROW("),
    # A history table has an index on history_date alone (django-simple-history's): the row comparison starts the
    # scan at the leading key, and only rows written in the same microsecond are sorted by id (Presorted Key).
    (AUDIT, {"object_type": "lot"}, "lots_historicallot", "history_date <= "),
])
def test_page_two_starts_on_the_index_where_page_one_ended(url, params, table, cond, users, api):
    LotFactory(vial_count=3)
    LotFactory(vial_count=3)
    sql = page_two_sql(api(users["admin"]), url, params)
    with connection.cursor() as cursor_:
        cursor_.execute("SET LOCAL enable_seqscan = off")
        cursor_.execute("EXPLAIN " + sql)
        lines = [row[0] for row in cursor_.fetchall()]
    plan = "\n".join(lines)
    at = next(n for n, line in enumerate(lines) if f" on {table} " in line or line.endswith(f" on {table}"))
    assert "Index Scan" in lines[at] and "Index Cond: " in lines[at + 1] and cond in lines[at + 1], plan
    sorts = [line.strip().lstrip("-> ") for line in lines if "Sort  (" in line]
    assert all(s.startswith("Incremental Sort") for s in sorts), f"rows sorted, not read in index order:\n{plan}"
    assert not sorts or f"Presorted Key: {table}.history_date" in plan, plan


def test_the_ordering_of_every_keyset_list_ends_in_a_unique_key_with_an_index():
    from bank.api.views import AuditView
    from donors.api.views import DonorListView
    from lots.api.views import LotListView, VialListView

    def indexed(model, names) -> bool:
        columns = [name.lstrip("-") for name in names]
        opts = model._meta
        keys = [[opts.get_field(f.lstrip("-")).attname for f in index.fields] for index in opts.indexes]
        keys += [[opts.get_field(f).attname for f in c.fields] for c in opts.constraints if getattr(c, "fields", None)]
        keys += [[f.attname] for f in opts.concrete_fields if f.db_index or f.unique]
        attnames = [opts.get_field(c).attname for c in columns]
        return any(key[:len(attnames)] == attnames or key == attnames[:len(key)] for key in keys)

    assert VialListView.keyset_ordering == ("lot_id", "number") and indexed(Vial, VialListView.keyset_ordering)
    assert LotListView.keyset_ordering == ("-frozen_on", "-id") and indexed(Lot, LotListView.keyset_ordering)
    assert DonorListView.keyset_ordering == ("-registered_at", "-id") and indexed(Donor, DonorListView.keyset_ordering)
    assert indexed(Lot.history.model, AuditView.keyset_ordering)  # history_date's own index; history_id the pk
    assert Lot._meta.ordering == list(LotListView.keyset_ordering)
    assert Donor._meta.ordering == list(DonorListView.keyset_ordering)
    assert Vial._meta.ordering == list(VialListView.keyset_ordering)


def test_the_schema_describes_the_cursor_and_a_count_that_may_be_null():
    from drf_spectacular.generators import SchemaGenerator

    schema = SchemaGenerator().get_schema(request=None, public=True)
    for path in ("/api/v1/vials/", "/api/v1/lots/", "/api/v1/donors/", "/api/v1/audit/"):
        operation = schema["paths"][path]["get"]
        names = {p["name"] for p in operation["parameters"] if p["in"] == "query"}
        assert {"cursor", "page", "page_size"} <= names, path
        ref = operation["responses"]["200"]["content"]["application/json"]["schema"]["$ref"].rsplit("/", 1)[-1]
        assert schema["components"]["schemas"][ref]["properties"]["count"]["nullable"] is True, path
