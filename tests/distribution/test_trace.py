"""Trace: backward from a vial, forward from a donor or a lot; staff only; constant queries."""

import pytest
from django.contrib.auth import get_user_model
from django.db import connection
from django.test.utils import CaptureQueriesContext

from distribution import queries, services
from tests.distribution.factories import add_lot, add_result, make_line, shipped_request, submit
from tests.factories import CultureFactory, PassageFactory, UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def bank(users):
    """A line with an MCB → WCB lineage, culture and reagent lots, QC results and one shipped vial."""
    line = make_line(hla=True)
    mcb_culture = CultureFactory(cell_line=line)
    PassageFactory(culture=mcb_culture, number=11, medium="mTeSR Plus", medium_lot="MT-2231",
                   reagents=[{"name": "Vitronectin", "lot": "VN-2231"}])
    mcb = add_lot(line, tier="MCB", vials=2, days_ago=90)
    mcb.culture = mcb_culture
    mcb.save(update_fields=["culture"])
    wcb_culture = CultureFactory(cell_line=line, source_vial=mcb.vials.order_by("number").first())
    PassageFactory(culture=wcb_culture, number=17, medium="StemFlex", medium_lot="SF-0042")
    wcb = add_lot(line, tier="WCB", vials=4, parent=mcb, days_ago=30)
    wcb.culture = wcb_culture
    wcb.save(update_fields=["culture"])
    add_result(mcb, "karyotype", outcome="normal")
    add_result(wcb, "viability", value="91.5", unit="%")
    add_result(wcb, "sterility", outcome="negative")
    shipped = shipped_request(users["researcher"], users["qa"], users["technician"], line, vials=2)
    return {"line": line, "mcb": mcb, "wcb": wcb, "shipped": shipped,
            "vial": shipped.allocations.order_by("vial_id").first().vial}


def test_vial_trace_shows_the_whole_path(api, users, bank):
    vial, line = bank["vial"], bank["line"]
    response = api(users["qa"]).get(f"/api/v1/trace/vials/{vial.barcode}/")
    assert response.status_code == 200
    t = response.json()
    assert t["vial"]["barcode"] == vial.barcode and t["vial"]["status"] == "shipped"
    assert t["vial"]["position"] is None
    assert t["donor"]["code"] == line.donor.code
    assert t["collection"]["code"] == line.collection.code
    assert t["cell_line"]["name"] == line.name
    assert t["lot"]["lot_number"] == bank["wcb"].lot_number
    assert [x["lot_number"] for x in t["lineage"]] == [bank["mcb"].lot_number]
    assert t["lot"]["culture"]["source_vial"] == bank["mcb"].vials.order_by("number").first().barcode
    assert t["lot"]["culture"]["passages"][0]["medium_lot"] == "SF-0042"
    assert t["lineage"][0]["culture"]["passages"][0]["reagents"] == [{"name": "Vitronectin", "lot": "VN-2231"}]
    assert t["lot"]["cryoprotectant_lot"] == bank["wcb"].cryoprotectant_lot
    assert {r["test"] for r in t["qc_results"]} == {"viability", "sterility"}
    assert t["lineage"][0]["qc_results"][0]["result"] == "normal"
    assert [m["kind"] for m in t["storage_moves"]] == ["removed"]
    assert t["storage_moves"][0]["from_position"]["box"] and t["storage_moves"][0]["to_position"] is None
    shipment = t["shipment"]
    assert shipment["request"] == bank["shipped"].number and shipment["tracking_number"] == "SF123"
    assert shipment["recipient"]["username"] == "researcher"
    assert shipment["recipient"]["institution"] == "Example University"
    # the donor's identity never appears, even to staff
    assert "Wang Xiaoli" not in response.content.decode()
    assert line.donor.identity.national_id not in response.content.decode()


def test_unknown_vial_is_404(api, users):
    assert api(users["qa"]).get("/api/v1/trace/vials/NOPE/").status_code == 404


def test_donor_trace_lists_every_line_lot_vial_and_shipment(api, users, bank):
    line = bank["line"]
    other_line = make_line()
    add_lot(other_line)
    response = api(users["coordinator"]).get(f"/api/v1/trace/donors/{line.donor_id}/")
    assert response.status_code == 200
    t = response.json()
    assert t["donor"]["code"] == line.donor.code
    assert [x["name"] for x in t["cell_lines"]] == [line.name]
    lots = {x["lot_number"]: x for x in t["lots"]}
    assert set(lots) == {bank["mcb"].lot_number, bank["wcb"].lot_number}
    assert lots[bank["wcb"].lot_number]["vial_counts"] == {"shipped": 2, "available": 2}
    assert len(lots[bank["wcb"].lot_number]["vials"]) == 4
    assert len(t["shipments"]) == 1 and sorted(t["shipments"][0]["vials"]) == sorted(
        bank["shipped"].allocations.values_list("vial__barcode", flat=True))
    assert t["recipients"] == [{"username": "researcher", "name": users["researcher"].get_full_name(),
                                "institution": "Example University"}]
    assert "Wang Xiaoli" not in response.content.decode()


def test_lot_trace_goes_forward_to_derived_lots(api, users, bank):
    t = api(users["technician"]).get(f"/api/v1/trace/lots/{bank['mcb'].pk}/").json()
    assert [x["lot_number"] for x in t["lots"]] == [bank["mcb"].lot_number, bank["wcb"].lot_number]
    assert t["shipments"][0]["request"] == bank["shipped"].number
    only_wcb = api(users["technician"]).get(f"/api/v1/trace/lots/{bank['wcb'].pk}/").json()
    assert [x["lot_number"] for x in only_wcb["lots"]] == [bank["wcb"].lot_number]


def test_researchers_never_trace(api, users, bank, client):
    researcher = api(users["researcher"])
    assert researcher.get(f"/api/v1/trace/vials/{bank['vial'].barcode}/").status_code == 403
    assert researcher.get(f"/api/v1/trace/donors/{bank['line'].donor_id}/").status_code == 403
    assert researcher.get(f"/api/v1/trace/lots/{bank['wcb'].pk}/").status_code == 403
    assert api().get(f"/api/v1/trace/vials/{bank['vial'].barcode}/").status_code == 401
    client.force_login(users["researcher"])
    for url in ("/distribution/trace/", f"/distribution/trace/vials/{bank['vial'].barcode}/",
                f"/distribution/trace/donors/{bank['line'].donor_id}/", f"/distribution/trace/lots/{bank['wcb'].pk}/"):
        assert client.get(url).status_code == 403, url


def _count(func, *args):
    with CaptureQueriesContext(connection) as ctx:
        func(*args)
    return len(ctx)


def test_traces_run_a_constant_number_of_queries(users, bank):
    line, wcb = bank["line"], bank["wcb"]
    vial = bank["vial"]
    before = (_count(queries.trace_vial, vial.barcode), _count(queries.trace_donor, line.donor),
              _count(queries.trace_lot, bank["mcb"]))
    # grow everything: more lots, vials, moves, results, shipments, recipients
    for n in range(3):
        add_lot(line, tier="WCB", vials=5, parent=bank["mcb"], days_ago=10 + n)
        add_result(wcb, "mycoplasma", outcome="negative")
        other = UserFactory(username=f"lab-{n}", role="researcher")
        shipped_request(other, users["qa"], users["technician"], line, vials=2)
    after = (_count(queries.trace_vial, vial.barcode), _count(queries.trace_donor, line.donor),
             _count(queries.trace_lot, bank["mcb"]))
    assert after == before
    # vial: vial with lot/line/collection/donor/position (1), donor's lots (1), cultures (1), passages (1),
    # QC results (1), moves (1), allocations (1), recalls (1); donor: lines (1), lots (1), vials (1) and their
    # boxes' places (1), allocations (1), recalls (1); lot: donor's lots (1), lines (1), vials (1) and their boxes
    # (1), allocations (1), recalls (1); and each: the export approvals of the allocations' requests (1, issue 15)
    assert before == (9, 7, 7)


def test_trace_pages_for_staff(client, users, bank):
    client.force_login(users["qa"])
    vial = bank["vial"]
    html = client.get(f"/distribution/trace/vials/{vial.barcode}/").content.decode()
    for text in (bank["line"].donor.code, bank["line"].collection.code, bank["mcb"].lot_number,
                 bank["wcb"].lot_number, "SF-0042", "VN-2231", bank["shipped"].number, "Example University"):
        assert text in html, text
    assert "Wang Xiaoli" not in html
    donor_html = client.get(f"/distribution/trace/donors/{bank['line'].donor_id}/").content.decode()
    assert bank["shipped"].number in donor_html and vial.barcode in donor_html
    lot_html = client.get(f"/distribution/trace/lots/{bank['wcb'].pk}/").content.decode()
    assert 'id="recall-lot"' in lot_html  # QA may recall a released lot from here
    # the search field resolves vial barcodes, lot numbers and donor codes
    for code, target in ((vial.barcode, f"/distribution/trace/vials/{vial.barcode}/"),
                         (bank["wcb"].lot_number, f"/distribution/trace/lots/{bank['wcb'].pk}/"),
                         (bank["line"].donor.code, f"/distribution/trace/donors/{bank['line'].donor_id}/")):
        response = client.get("/distribution/trace/", {"code": code})
        assert response.status_code == 302 and response.url == target
    missing = client.get("/distribution/trace/", {"code": "NOTHING-42"})
    assert missing.status_code == 404 and "Nothing found" in missing.content.decode()


def test_trace_page_queries_do_not_grow(client, users, bank):
    fresh = get_user_model().objects.get(pk=users["qa"].pk)
    client.force_login(fresh)
    url = f"/distribution/trace/donors/{bank['line'].donor_id}/"
    first = _count(client.get, url)
    for n in range(2):
        shipped_request(UserFactory(username=f"lab-x{n}", role="researcher"), users["qa"], users["technician"],
                        bank["line"], vials=1)
    assert _count(client.get, url) == first
    vial_url = f"/distribution/trace/vials/{bank['vial'].barcode}/"
    first = _count(client.get, vial_url)
    add_result(bank["wcb"], "endotoxin", value="0.2", unit="EU/mL")
    assert _count(client.get, vial_url) == first


def test_trace_of_a_reserved_vial_shows_the_reservation(users, bank):
    # a trace of a reserved vial shows the live reservation
    request = services.approve_request(submit(users["researcher"], bank["line"], vials=1), actor=users["qa"])
    t = queries.trace_vial(request.allocated_barcodes[0])
    assert t["vial"]["status"] == "reserved" and t["shipment"] is None
    assert t["allocations"][0]["request"] == request.number


def test_the_lot_pages_shipments_agree_with_the_lots_trace(users, bank):
    """The lot page's section (one grouped query) shows what the full shipment briefs say: each shipped request with
    its recipient, vials and dates, and the vials approved requests reserve; a received shipment keeps its row."""
    second = shipped_request(users["researcher"], users["qa"], users["technician"], bank["line"], vials=1)
    services.receive_request(second, actor=users["researcher"])
    services.approve_request(submit(users["researcher"], bank["line"], vials=1), actor=users["qa"])
    shown, reserved_in_all = 0, 0
    for lot in (bank["mcb"], bank["wcb"]):
        full, full_reserved = queries.shipments_of_lot(lot)
        brief, reserved = queries.lot_panel_shipments(lot)
        assert reserved == full_reserved
        assert [(s["request"], s["request_id"], s["vials"], s["recipient"]["name"], s["recipient"]["institution"],
                 s["shipped_on"], s["received_at"]) for s in brief] == \
            [(s["request"], s["request_id"], s["vials"], s["recipient"]["name"], s["recipient"]["institution"],
              s["shipped_on"], s["received_at"]) for s in full]
        shown += len(brief)
        reserved_in_all += reserved
    assert shown >= 2 and reserved_in_all == 1
