"""The lots API of API.md: paths, shapes, codes, roles, and bad input that saves nothing."""

from __future__ import annotations

import datetime
from decimal import Decimal

import pytest
from django.utils import timezone

from lots import services
from lots.models import CellLine, Lot, Vial
from qc.models import QCResult, QCTest
from tests.factories import BoxFactory

pytestmark = pytest.mark.django_db

API = "/api/v1"
TODAY = timezone.localdate().isoformat()
FROZEN = (timezone.localdate() - datetime.timedelta(days=3)).isoformat()


def lot_body(line, **overrides) -> dict:
    body = {"cell_line": line.pk, "tier": "MCB", "parent_lot": None, "passage": 12, "vial_count": 6,
            "cells_per_vial": 1_000_000, "volume_ml": "1.0", "cryoprotectant": "CryoStor CS10", "frozen_on": FROZEN}
    body.update(overrides)
    return body


@pytest.fixture
def lot(line, make_lot):
    return make_lot(line, vial_count=3)


# --- roles ------------------------------------------------------------------------------------------

READERS = {"technician": 200, "qa": 200, "coordinator": 200, "admin": 200, "researcher": 403, "sensor": 403,
           None: 401}
WRITERS = {"technician": 201, "admin": 201, "qa": 403, "coordinator": 403, "researcher": 403, "sensor": 403,
           None: 401}


@pytest.mark.parametrize("role", list(READERS))
def test_who_may_read(role, users, api, lot, tech):
    vial = lot.vials.first()
    culture = services.start_culture(lot.cell_line, actor=tech)
    client = api(users[role] if role else None)
    for path in ("/cell-lines/", f"/cell-lines/{lot.cell_line_id}/", "/lots/", f"/lots/{lot.pk}/",
                 f"/lots/{lot.pk}/vials/", f"/vials/?barcode={vial.barcode}", f"/vials/{vial.pk}/",
                 f"/vials/{vial.pk}/label.svg", f"/lots/{lot.pk}/labels.pdf", f"/lots/{lot.pk}/labels.zpl",
                 "/cultures/", f"/cultures/{culture.pk}/"):
        response = client.get(API + path)
        assert response.status_code == READERS[role], (path, response.status_code)
        if response.status_code in (401, 403):
            assert response["Content-Type"].startswith("application/json")
            assert response.json()["code"] in ("not_authenticated", "permission_denied")


@pytest.mark.parametrize("role", list(WRITERS))
def test_who_may_write(role, users, api, make_line):
    line = make_line(cell_type="iPSC")
    culture = services.start_culture(line, actor=users["technician"])
    client = api(users[role] if role else None)
    created = [
        client.post(f"{API}/cell-lines/", {"collection": line.collection_id, "cell_type": "iPSC",
                                            "grade": "research", "reprogramming_method": "sendai"}, format="json"),
        client.post(f"{API}/lots/", lot_body(line), format="json"),
        client.post(f"{API}/cultures/", {"cell_line": line.pk}, format="json"),
        client.post(f"{API}/cultures/{culture.pk}/passages/", {"passaged_on": TODAY}, format="json"),
    ]
    assert [r.status_code for r in created] == [WRITERS[role]] * 4
    if WRITERS[role] != 201:
        assert Lot.objects.count() == 0 and CellLine.objects.count() == 1


# --- cell lines -------------------------------------------------------------------------------------


def test_register_lines_through_the_api(api, tech, collection):
    client = api(tech)
    response = client.post(f"{API}/cell-lines/", {"collection": collection.pk, "cell_type": "iPSC",
                                                   "grade": "clinical", "reprogramming_method": "sendai"},
                           format="json")
    assert response.status_code == 201, response.json()
    body = response.json()
    assert body["name"] == "SCBi001-A" and body["donor_code"] == collection.donor.code
    assert body["collection_code"] == collection.code and body["grade"] == "clinical"
    sub = client.post(f"{API}/cell-lines/", {"parent_line": body["id"], "cell_type": "iPSC", "grade": "clinical",
                                             "reprogramming_method": "sendai"}, format="json")
    assert sub.status_code == 201 and sub.json()["name"] == "SCBi001-B"
    listing = client.get(f"{API}/cell-lines/", {"name": "scbi001-b"}).json()
    assert listing["count"] == 1 and listing["results"][0]["parent_line_name"] == "SCBi001-A"
    assert client.get(f"{API}/cell-lines/", {"donor_code": collection.donor.code}).json()["count"] == 2


@pytest.mark.parametrize("body,field,words", [
    ({"cell_type": "fibroblast", "grade": "research"}, "cell_type", ["Unknown cell type", "fibroblast", "iPSC"]),
    ({"cell_type": "iPSC", "grade": "gold", "reprogramming_method": "sendai"}, "grade", ["Unknown grade"]),
    ({"cell_type": "iPSC", "grade": "research"}, "reprogramming_method", ["reprogrammed"]),
    ({"cell_type": "CB-HSC", "grade": "research"}, "collection", ["cord_blood"]),
])
def test_bad_cell_line_input_is_a_400_that_says_what_to_fix(api, tech, collection, body, field, words):
    response = api(tech).post(f"{API}/cell-lines/", {"collection": collection.pk, **body}, format="json")
    assert response.status_code == 400
    message = " ".join(response.json()[field])
    assert all(word in message for word in words), message
    assert not CellLine.objects.exists()


def test_cell_line_needs_a_collection(api, tech):
    response = api(tech).post(f"{API}/cell-lines/", {"cell_type": "iPSC", "grade": "research"}, format="json")
    assert response.status_code == 400 and "collection" in response.json()


# --- lots -------------------------------------------------------------------------------------------


def test_freeze_a_lot_through_the_api(api, tech, line):
    response = api(tech).post(f"{API}/lots/", lot_body(line, vial_count=12, reason="MCB freeze run 7"),
                              format="json")
    assert response.status_code == 201, response.json()
    body = response.json()
    assert body["lot_number"].startswith("MCB-") and body["status"] == "quarantine"
    assert body["vial_count"] == 12 and len(body["vials"]) == 12
    barcodes = [v["barcode"] for v in body["vials"]]
    assert len(set(barcodes)) == 12 and all(v["status"] == "available" for v in body["vials"])
    assert body["lineage"] == [] and body["cell_line_name"] == line.name
    assert body["vials_by_status"] == {"available": 12}
    lot = Lot.objects.get(pk=body["id"])
    assert lot.history.get().history_change_reason == "MCB freeze run 7"
    assert set(lot.vials.values_list("barcode", flat=True)) == set(barcodes)


def test_wcb_with_unreleased_parent_is_a_409(api, tech, line, lot):
    response = api(tech).post(f"{API}/lots/", lot_body(line, tier="WCB", parent_lot=lot.pk, passage=15),
                              format="json")
    assert response.status_code == 409
    assert response.json()["code"] == "parent_not_released" and lot.lot_number in response.json()["detail"]
    assert Lot.objects.count() == 1


def test_wcb_from_released_parent_shows_its_lineage(api, tech, line, released_mcb):
    client = api(tech)
    response = client.post(f"{API}/lots/", lot_body(line, tier="WCB", parent_lot=released_mcb.pk, passage=16),
                           format="json")
    assert response.status_code == 201, response.json()
    wcb = response.json()
    assert wcb["lineage"] == [released_mcb.lot_number] and wcb["parent_lot_number"] == released_mcb.lot_number
    detail = client.get(f"{API}/lots/{wcb['id']}/").json()
    assert detail["lineage"] == [released_mcb.lot_number]
    listing = client.get(f"{API}/lots/", {"tier": "WCB"}).json()
    assert [row["lineage"] for row in listing["results"]] == [[released_mcb.lot_number]]


def test_lineage_from_a_loaded_parent_agrees_with_the_recursive_query(api, tech, line, released_mcb,
                                                                       django_assert_num_queries):
    """A WCB whose MCB came with it (the lot detail's select_related) is answered without the recursive query;
    both ways give the same ancestors. A parent that has a parent itself still goes to the query."""
    from lots import queries

    response = api(tech).post(f"{API}/lots/", lot_body(line, tier="WCB", parent_lot=released_mcb.pk, passage=16),
                              format="json")
    wcb_id = response.json()["id"]
    loaded = queries.lot_queryset().get(pk=wcb_id)
    with django_assert_num_queries(0):
        from_memory = queries.lineages([loaded])[wcb_id]
    bare = Lot.objects.get(pk=wcb_id)  # the parent not loaded: the recursive query answers
    with django_assert_num_queries(1):
        from_query = queries.lineages([bare])[wcb_id]
    assert from_memory == from_query and [a["lot_number"] for a in from_query] == [released_mcb.lot_number]
    Lot.objects.filter(pk=released_mcb.pk).update(parent_lot=Lot.objects.get(pk=wcb_id))  # a cycle, as data only
    deeper = queries.lot_queryset().get(pk=wcb_id)
    with django_assert_num_queries(1):
        assert len(queries.lineages([deeper])[wcb_id]) > 1


@pytest.mark.parametrize("overrides,field", [
    ({"vial_count": -5}, "vial_count"),
    ({"vial_count": 0}, "vial_count"),
    ({"cells_per_vial": -1}, "cells_per_vial"),
    ({"volume_ml": "-1"}, "volume_ml"),
    ({"volume_ml": "0"}, "volume_ml"),
    ({"passage": -2}, "passage"),
    ({"tier": "XCB"}, "tier"),
    ({"frozen_on": "yesterday"}, "frozen_on"),
    ({"cell_line": 999999}, "cell_line"),
    ({"vial_count": 999999}, "vial_count"),
])
def test_bad_lot_input_is_a_400_and_nothing_is_created(api, tech, line, overrides, field):
    response = api(tech).post(f"{API}/lots/", lot_body(line, **overrides), format="json")
    assert response.status_code == 400
    assert field in response.json(), response.json()
    assert not Lot.objects.exists() and not Vial.objects.exists()


def test_wcb_whose_parent_is_another_line_is_a_400(api, tech, line, make_line, make_lot, users):
    other = make_line(cell_type="iPSC")
    foreign = services.change_lot_status(make_lot(other), "released", actor=users["qa"])
    response = api(tech).post(f"{API}/lots/", lot_body(line, tier="WCB", parent_lot=foreign.pk, passage=14),
                              format="json")
    assert response.status_code == 400
    assert "same line" in response.json()["parent_lot"][0]
    assert Lot.objects.count() == 1


def test_wcb_passage_lower_than_parent_is_a_400(api, tech, line, released_mcb):
    response = api(tech).post(f"{API}/lots/", lot_body(line, tier="WCB", parent_lot=released_mcb.pk,
                                                       passage=released_mcb.passage - 2), format="json")
    assert response.status_code == 400
    assert "lower than the parent" in response.json()["passage"][0]
    assert Lot.objects.count() == 1


def test_lot_list_filters(api, tech, line, make_line, make_lot, released_mcb):
    other = make_lot(make_line(cell_type="UC-MSC"), passage=3)
    client = api(tech)

    def numbers(**params):
        return {row["lot_number"] for row in client.get(f"{API}/lots/", params).json()["results"]}

    assert numbers(lot_number=released_mcb.lot_number.lower()) == {released_mcb.lot_number}
    assert numbers(barcode=released_mcb.barcode) == {released_mcb.lot_number}
    assert numbers(barcode=other.vials.first().barcode) == {other.lot_number}  # a vial's barcode finds its lot
    assert numbers(status="released") == {released_mcb.lot_number}
    assert numbers(status="quarantine") == {other.lot_number}
    assert numbers(line=other.cell_line.name) == {other.lot_number}
    assert numbers(cell_line=line.pk) == {released_mcb.lot_number}
    assert numbers(tier="unit") == set()
    assert client.get(f"{API}/lots/", {"status": "thawed"}).status_code == 400


def test_lot_detail_qc_summary_reads_the_latest_result_per_test(api, tech, users, lot):
    def result(code, *, value=None, outcome="", passed, days=5):
        return QCResult.objects.create(
            lot=lot, test=QCTest.objects.get(code=code), value=value, outcome=outcome, passed=passed,
            tested_on=timezone.localdate() - datetime.timedelta(days=days), entered_by=users["technician"])

    result("sterility", outcome="negative", passed=True)
    result("viability", value=Decimal("55"), passed=False, days=6)
    result("viability", value=Decimal("88.5"), passed=True, days=2)  # the retest is the latest
    result("endotoxin", value=Decimal("9"), passed=False)
    summary = api(users["qa"]).get(f"{API}/lots/{lot.pk}/").json()["qc_summary"]
    assert summary["specification"] == "iPSC MCB v1"
    tests = {t["test"]: t for t in summary["tests"]}
    assert tests["viability"]["result"]["value"] == 88.5 and tests["viability"]["passed"] is True
    assert tests["sterility"]["passed"] is True and tests["endotoxin"]["passed"] is False
    assert tests["endotoxin"]["max"] == 5.0 and tests["sterility"]["expected"] == "negative"
    assert summary["failed"] == ["endotoxin"]
    assert set(summary["missing"]) == {"mycoplasma", "str_identity", "karyotype", "pluripotency",
                                       "sendai_clearance"}
    assert summary["complete"] is False


def test_lot_detail_has_status_lineage_and_label_links(api, tech, lot):
    body = api(tech).get(f"{API}/lots/{lot.pk}/").json()
    assert body["status"] == "quarantine" and body["lineage"] == []
    assert body["labels"]["pdf"] == f"{API}/lots/{lot.pk}/labels.pdf"
    assert api(tech).get(f"{API}/lots/999999/").status_code == 404


# --- vials ------------------------------------------------------------------------------------------


def test_lot_vials_with_positions_and_scan_lookup(api, tech, lot):
    box = BoxFactory()
    first, second, third = lot.vials.order_by("number")
    Vial.objects.filter(pk=second.pk).update(box=box, row=2, col=3)
    client = api(tech)
    listing = client.get(f"{API}/lots/{lot.pk}/vials/").json()
    assert listing["count"] == 3
    rows = {row["barcode"]: row for row in listing["results"]}
    assert set(rows[first.barcode]) >= {"id", "barcode", "lot", "status", "position"}
    assert rows[first.barcode]["position"] is None and rows[first.barcode]["lot"] == lot.pk
    position = rows[second.barcode]["position"]
    assert {k: position[k] for k in ("unit", "rack", "box", "row", "col")} == {
        "unit": box.rack.unit_id, "rack": box.rack_id, "box": box.pk, "row": 2, "col": 3}
    found = client.get(f"{API}/vials/", {"barcode": third.barcode.lower()}).json()
    assert found["count"] == 1 and found["results"][0]["id"] == third.pk
    assert client.get(f"{API}/vials/", {"barcode": "SBV99999999"}).json()["count"] == 0
    assert client.get(f"{API}/lots/{lot.pk}/vials/", {"stored": "true"}).json()["count"] == 1
    assert client.get(f"{API}/lots/999999/vials/").status_code == 404
    # an unknown lot is a 404 whatever the filters say; a bad filter on a lot that exists is a 400
    assert client.get(f"{API}/lots/999999/vials/", {"status": "bogus"}).status_code == 404
    assert client.get(f"{API}/lots/{lot.pk}/vials/", {"status": "bogus"}).status_code == 400


def test_vial_label_svg(api, tech, lot):
    vial = lot.vials.first()
    response = api(tech).get(f"{API}/vials/{vial.pk}/label.svg")
    assert response.status_code == 200 and response["Content-Type"] == "image/svg+xml"
    svg = response.content.decode()
    assert svg.lstrip().startswith("<?xml") and "<svg" in svg and vial.barcode in svg
    assert api(tech).get(f"{API}/vials/999999/label.svg", HTTP_ACCEPT="image/svg+xml").status_code == 404


def test_label_files(api, tech, lot):
    pdf = api(tech).get(f"{API}/lots/{lot.pk}/labels.pdf")
    assert pdf.status_code == 200 and pdf["Content-Type"] == "application/pdf" and pdf.content[:5] == b"%PDF-"
    zpl = api(tech).get(f"{API}/lots/{lot.pk}/labels.zpl")
    assert zpl.status_code == 200 and zpl.content.decode().count("^XA") == 3


# --- cultures ---------------------------------------------------------------------------------------


def test_culture_and_passages_through_the_api(api, tech, line):
    client = api(tech)
    started = (timezone.localdate() - datetime.timedelta(days=10)).isoformat()
    culture = client.post(f"{API}/cultures/", {"cell_line": line.pk, "started_on": started}, format="json")
    assert culture.status_code == 201, culture.json()
    cid = culture.json()["id"]
    passage = client.post(f"{API}/cultures/{cid}/passages/", {
        "passaged_on": FROZEN, "split_ratio": "1:4", "seeded_cells": 1_000_000, "harvested_cells": 4_000_000,
        "viability_pct": "94.5", "medium": "mTeSR Plus", "medium_lot": "MT-9",
        "reagents": [{"name": "Vitronectin", "lot": "VN-1"}]}, format="json")
    assert passage.status_code == 201, passage.json()
    assert passage.json()["number"] == 1 and passage.json()["population_doublings"] == 2.0
    detail = client.get(f"{API}/cultures/{cid}/").json()
    assert detail["population_doublings"] == "2.00" and detail["passages"][0]["medium_lot"] == "MT-9"
    bad = client.post(f"{API}/cultures/{cid}/passages/", {"passaged_on": FROZEN, "seeded_cells": -10,
                                                           "viability_pct": "140"}, format="json")
    assert bad.status_code == 400 and {"seeded_cells", "viability_pct"} <= set(bad.json())
    lot = client.post(f"{API}/lots/", lot_body(line, culture=cid, passage=1), format="json")
    assert lot.status_code == 201 and lot.json()["population_doublings"] == "2.00"


def test_thaw_unknown_vial_is_a_400(api, tech, line):
    response = api(tech).post(f"{API}/cultures/", {"cell_line": line.pk, "source_vial": "SBV404"}, format="json")
    assert response.status_code == 400 and "source_vial" in response.json()



def test_api_lists_run_a_constant_number_of_queries(tech, line, released_mcb, make_lot, django_assert_num_queries):
    from rest_framework.test import APIClient

    from bank.services import issue_token

    client = APIClient()  # token auth, as an instrument would: every request loads its user afresh
    client.credentials(HTTP_AUTHORIZATION=f"Token {issue_token(tech)[1]}")
    wcb = make_lot(line, tier="WCB", parent_lot=released_mcb, passage=14, vial_count=40)
    # 1 token with its user, 2-3 user and group permissions, 4 lots with line, donor, parent, operator and
    # culture (the list fits one page: no count), 5 vial counts by status. Lineages come from the parents loaded
    # with 4 (an MCB has no parent of its own, so no recursive query: see the lineage test above).
    with django_assert_num_queries(5):
        assert client.get(f"{API}/lots/").json()["count"] == 2
    for _ in range(3):
        make_lot(line, tier="WCB", parent_lot=released_mcb, passage=14, vial_count=2)
    with django_assert_num_queries(5):
        assert client.get(f"{API}/lots/").json()["count"] == 5
    # 1 token, 2-3 permissions, 4 vials with lot, box, rack and unit (one page: no count); whether the lot exists
    # is asked only of an empty page
    with django_assert_num_queries(4):
        assert len(client.get(f"{API}/lots/{wcb.pk}/vials/", {"page_size": 500}).json()["results"]) == 40
    with django_assert_num_queries(5):  # a filter that leaves none: the lot exists, so 200 with no vial
        assert client.get(f"{API}/lots/{wcb.pk}/vials/", {"status": "shipped"}).json()["results"] == []
    barcode = wcb.vials.first().barcode
    # 1 token, 2-3 permissions, 4 the vial with its lot and position (the scan: one row, so no count)
    with django_assert_num_queries(4):
        assert client.get(f"{API}/vials/", {"barcode": barcode}).json()["count"] == 1


def test_lot_and_vial_serializers_build_their_fields_once_and_give_each_instance_its_own():
    from lots.api.serializers import LotDetailSerializer, LotSerializer, VialSerializer

    for cls in (LotSerializer, LotDetailSerializer, VialSerializer):
        first, second = cls().fields, cls().fields
        assert list(first) == list(second) == cls.Meta.fields
        assert all(first[name] is not second[name] for name in first)  # bound to their own serializer
        assert first["id"].parent is not second["id"].parent
    # each class keeps its own fields: the detail's extra fields never leak into the list's
    assert "qc_summary" in LotDetailSerializer().fields and "qc_summary" not in LotSerializer().fields


def test_a_scan_that_asks_for_no_relation_joins_none(lot, django_assert_num_queries):
    """``related=()`` means the vial alone: ``select_related()`` with no names would join every foreign key."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from lots.queries import vial_by_barcode
    from qc.queries import latest_decision

    vial = lot.vials.first()
    with CaptureQueriesContext(connection) as ctx:
        assert vial_by_barcode(vial.barcode, related=()).pk == vial.pk
        latest_decision(lot, related=())
    assert all(" JOIN " not in q["sql"] for q in ctx.captured_queries), ctx.captured_queries
