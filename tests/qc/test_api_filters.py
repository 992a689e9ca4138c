"""The QC lists' FilterSets (qc/api/filters.py): specifications in force, re-checks, deviations."""

from __future__ import annotations

import datetime

import pytest
from django.utils import timezone

from qc import services
from qc.models import Deviation, Recheck, Specification, StabilityPlan
from tests.factories import LotFactory

pytestmark = pytest.mark.django_db

TODAY = timezone.localdate()


def ids(response) -> list[int]:
    assert response.status_code == 200, response.json()
    return [row["id"] for row in response.json()["results"]]


def test_specification_in_force_one_object_or_a_page(users, api, django_assert_num_queries):
    client = api(users["qa"])
    services.publish_specification(actor=users["qa"], cell_type="NSC", tier="MCB", notes="v2",
                                   criteria=[{"test": "sterility", "expected": "negative"}])
    client.get("/api/v1/qc/specifications/")  # warm the permission cache
    # Queries: the highest version for the cell type and tier (1) with its criteria (1): one object.
    with django_assert_num_queries(2):
        one = client.get("/api/v1/qc/specifications/", {"cell_type": "NSC", "tier": "MCB"}).json()
    assert (one["cell_type"], one["tier"], one["version"]) == ("NSC", "MCB", 2)
    # Queries: the versions (1), the ones in force (1) with their criteria (1): a page, no count query.
    with django_assert_num_queries(3):
        page = client.get("/api/v1/qc/specifications/", {"tier": "MCB"}).json()
    assert set(page) == {"count", "next", "previous", "results"}
    assert {s["tier"] for s in page["results"]} == {"MCB"} and page["count"] == len(page["results"])
    assert next(s for s in page["results"] if s["cell_type"] == "NSC")["version"] == 2
    every = client.get("/api/v1/qc/specifications/", {"cell_type": "NSC", "tier": "MCB", "all_versions": "yes"})
    assert [s["version"] for s in every.json()["results"]] == [2, 1]
    assert client.get("/api/v1/qc/specifications/", {"all_versions": "true"}).json()["count"] == \
        Specification.objects.count()
    missing = client.get("/api/v1/qc/specifications/", {"cell_type": "CB-HSC", "tier": "MCB"})
    assert missing.status_code == 404 and missing.json()["code"] == "not_found"


def test_specification_parameters_are_checked(users, api):
    client = api(users["qa"])
    bad = client.get("/api/v1/qc/specifications/", {"cell_type": "XYZ", "tier": "Gold", "all_versions": "maybe"})
    assert bad.status_code == 400
    body = bad.json()
    assert set(body) == {"cell_type", "tier", "all_versions"}
    assert body["cell_type"] == ["Unknown cell type “XYZ”. Use one of: iPSC, ESC, UC-MSC, AD-MSC, BM-MSC, DP-MSC, "
                                 "P-MSC, CB-HSC, NSC, AM-MSC, EN-MSC, MB-MSC, MuSC, SkSC, other."]
    assert body["tier"] == ["Unknown tier “Gold”. Use one of: MCB, WCB, unit."]


def _recheck(status: str, due_in_days: int) -> Recheck:
    lot = LotFactory(status="released")
    plan = StabilityPlan.objects.create(lot=lot, min_viability_pct=70, next_due_on=TODAY)
    return Recheck.objects.create(plan=plan, lot=lot, due_on=TODAY + datetime.timedelta(days=due_in_days),
                                  status=status)


def test_recheck_status_and_lot(users, api):
    due, overdue, done = _recheck("due", 0), _recheck("overdue", -40), _recheck("done", -400)
    client = api(users["technician"])
    assert ids(client.get("/api/v1/qc/rechecks/")) == [done.pk, overdue.pk, due.pk]  # soonest first
    assert ids(client.get("/api/v1/qc/rechecks/", {"status": "open"})) == [overdue.pk, due.pk]
    assert ids(client.get("/api/v1/qc/rechecks/", {"status": "due"})) == [due.pk]
    assert ids(client.get("/api/v1/qc/rechecks/", {"status": "open", "lot": due.lot_id})) == [due.pk]
    assert ids(client.get("/api/v1/qc/rechecks/", {"status": "done", "lot": due.lot_id})) == []
    bogus = client.get("/api/v1/qc/rechecks/", {"status": "bogus"}).json()
    assert list(bogus) == ["status"] and "due, overdue, done, cancelled, open" in bogus["status"][0]
    assert client.get("/api/v1/qc/rechecks/", {"lot": "x"}).json() == {"lot": ["Enter a whole number."]}


def test_deviation_status_and_lot(users, api):
    lot, other = LotFactory(), LotFactory()
    first = Deviation.objects.create(number="DEV-T-0001", lot=lot, opened_by=users["qa"])
    closed = Deviation.objects.create(number="DEV-T-0002", lot=lot, opened_by=users["qa"], status="closed")
    elsewhere = Deviation.objects.create(number="DEV-T-0003", lot=other, opened_by=users["qa"])
    client = api(users["qa"])
    assert ids(client.get("/api/v1/qc/deviations/")) == [elsewhere.pk, closed.pk, first.pk]  # newest first
    assert ids(client.get("/api/v1/qc/deviations/", {"status": "open"})) == [elsewhere.pk, first.pk]
    assert ids(client.get("/api/v1/qc/deviations/", {"status": "open", "lot": lot.pk})) == [first.pk]
    assert client.get("/api/v1/qc/deviations/", {"status": "shut"}).json() == {"status": ["Use open or closed."]}
    assert client.get("/api/v1/qc/deviations/", {"lot": "²"}).json() == {"lot": ["Enter a whole number."]}
