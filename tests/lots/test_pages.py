"""Pages of cell lines, cultures and lots: who sees them, forms that explain refusals, constant queries."""

from __future__ import annotations

import datetime

import pytest
from django.template import Context, Template
from django.utils import timezone

from bank.registry import registry
from lots import services
from lots.models import CellLine, Lot, Passage, Vial
from tests.factories import BoxFactory, RackFactory

pytestmark = pytest.mark.django_db

YESTERDAY = (timezone.localdate() - datetime.timedelta(days=1)).isoformat()


def form_data(line, **overrides) -> dict:
    data = {"cell_line": line.pk, "tier": "MCB", "parent_lot": "", "culture": "", "passage": 10, "vial_count": 20,
            "cells_per_vial": 1_000_000, "volume_ml": "1.0", "cryoprotectant": "CryoStor CS10",
            "cryoprotectant_lot": "CS10-7", "freezing_program": "container", "freezing_profile": "",
            "frozen_on": YESTERDAY, "notes": ""}
    data.update(overrides)
    return data


@pytest.fixture
def lot(line, make_lot):
    return make_lot(line, vial_count=3)


def page_urls(lot, culture):
    return ["/lots/", "/lots/lines/", f"/lots/lines/{lot.cell_line_id}/", f"/lots/{lot.pk}/",
            f"/lots/{lot.pk}/labels.pdf", f"/lots/{lot.pk}/labels.zpl", f"/lots/cultures/{culture.pk}/",
            f"/lots/vials/{lot.vials.first().pk}/label.svg"]


@pytest.mark.parametrize("role,status", [("technician", 200), ("qa", 200), ("coordinator", 200), ("admin", 200),
                                         ("researcher", 403), ("sensor", 403)])
def test_who_sees_the_pages(client, users, lot, tech, role, status):
    culture = services.start_culture(lot.cell_line, actor=tech)
    client.force_login(users[role])
    for url in page_urls(lot, culture):
        assert client.get(url).status_code == status, url
    forms = {"/lots/new/": ("technician", "admin"), "/lots/lines/new/": ("technician", "admin"),
             f"/lots/lines/{lot.cell_line_id}/cultures/new/": ("technician", "admin")}
    for url, allowed in forms.items():
        assert client.get(url).status_code == (200 if role in allowed else 403), url


def test_pages_need_login(client, lot):
    response = client.get(f"/lots/{lot.pk}/")
    assert response.status_code == 302 and response.url.startswith("/accounts/login/")


def test_nav_entry_for_bank_staff_only(client, users):
    for role, shown in (("technician", True), ("qa", True), ("coordinator", True), ("admin", True),
                        ("researcher", False)):
        client.force_login(users[role])
        assert ('data-nav="lots"' in client.get("/").content.decode()) is shown, role


def test_freeze_a_lot_with_the_form(client, tech, line):
    client.force_login(tech)
    response = client.post("/lots/new/", form_data(line))
    lot = Lot.objects.get()
    assert response.status_code == 302 and response.url == f"/lots/{lot.pk}/#labels"
    assert lot.vials.count() == 20 and lot.operator == tech
    html = client.get(response.url).content.decode()
    assert "Print their labels now" in html and lot.lot_number in html
    assert html.count('<tr id="vial-SBV') == 20


@pytest.mark.parametrize("overrides,message", [
    ({"vial_count": -4}, "Freeze at least one vial."),
    ({"cells_per_vial": 0}, "Enter the number of cells per vial (above zero)."),
    ({"tier": "WCB"}, "choose its parent MCB lot"),
    ({"frozen_on": "2999-01-01"}, "The freeze date is in the future."),
])
def test_form_errors_say_what_to_fix_and_nothing_is_saved(client, tech, line, overrides, message):
    client.force_login(tech)
    response = client.post("/lots/new/", form_data(line, **overrides))
    assert response.status_code == 400
    html = response.content.decode()
    assert message in html and "Fix the fields marked below" in html
    assert not Lot.objects.exists() and not Vial.objects.exists()


def test_form_refuses_a_wcb_from_an_unreleased_parent(client, tech, line, lot):
    client.force_login(tech)
    response = client.post("/lots/new/", form_data(line, tier="WCB", parent_lot=lot.pk, passage=14))
    assert response.status_code == 400
    assert "a WCB can only be made from a released MCB" in response.content.decode()
    assert Lot.objects.count() == 1


def test_form_for_a_wcb_is_prefilled_from_its_parent(client, tech, released_mcb):
    client.force_login(tech)
    html = client.get(f"/lots/new/?parent_lot={released_mcb.pk}").content.decode()
    assert f'<option value="{released_mcb.pk}" selected>' in html
    assert 'value="WCB" required id="id_tier_1" checked' in html


def test_register_a_line_and_a_subclone_with_the_forms(client, tech, collection):
    client.force_login(tech)
    bad = client.post("/lots/lines/new/", {"collection": "COL-NOPE", "cell_type": "iPSC", "grade": "research",
                                           "reprogramming_method": "sendai"})
    assert bad.status_code == 400 and "No collection has the code COL-NOPE" in bad.content.decode()
    response = client.post("/lots/lines/new/", {"collection": collection.code.lower(), "cell_type": "iPSC",
                                                "grade": "clinical", "reprogramming_method": "sendai",
                                                "established_on": YESTERDAY})
    line = CellLine.objects.get()
    assert response.status_code == 302 and line.name == "SCBi001-A"
    html = client.get(response.url).content.decode()
    assert collection.donor.code in html and "Clinical grade" in html
    sub = client.post(f"/lots/lines/{line.pk}/subclone/", {"description": "CRISPR-corrected clone"})
    assert sub.status_code == 302 and CellLine.objects.get(parent_line=line).name == "SCBi001-B"


def test_culture_forms(client, tech, line, make_lot):
    lot = make_lot(line, vial_count=2)
    vial = lot.vials.first()
    client.force_login(tech)
    missing = client.post(f"/lots/lines/{line.pk}/cultures/new/", {"started_on": YESTERDAY,
                                                                   "source_vial": "SBV-NOT-THERE"})
    assert missing.status_code == 400 and "Scan the vial label again" in missing.content.decode()
    response = client.post(f"/lots/lines/{line.pk}/cultures/new/", {"started_on": YESTERDAY,
                                                                    "source_vial": vial.barcode})
    assert response.status_code == 302
    vial.refresh_from_db()
    assert vial.status == "used"
    url = response.url
    bad = client.post(url, {"passaged_on": YESTERDAY, "seeded_cells": -1, "viability_pct": "101"})
    assert bad.status_code == 400 and "Enter a cell count above zero." in bad.content.decode()
    ok = client.post(url, {"passaged_on": YESTERDAY, "seeded_cells": 1_000_000, "harvested_cells": 8_000_000,
                           "viability_pct": "97", "split_ratio": "1:8", "medium": "mTeSR Plus",
                           "medium_lot": "MT-7", "reagents": "Vitronectin, VN-2231\nReLeSR, RL-1"})
    assert ok.status_code == 302
    passage = Passage.objects.get()
    assert passage.number == lot.passage + 1 and passage.reagents[1] == {"name": "ReLeSR", "lot": "RL-1"}
    assert "3.00" in client.get(url).content.decode()  # cumulative PD on the culture page


def test_lot_page_renders_1000_vials_in_a_constant_number_of_queries(client, django_assert_num_queries, line,
                                                                      released_mcb, tech, users):
    culture = services.start_culture(line, source_vial=released_mcb.vials.first(), actor=tech)
    services.record_passage(culture, passaged_on=timezone.localdate(), seeded_cells=10, harvested_cells=40,
                            medium_lot="MT-1", actor=tech)
    big = services.create_lot(cell_line=line, tier="WCB", parent_lot=released_mcb, culture=culture,
                              passage=released_mcb.passage + 1, vial_count=1000, cells_per_vial=1_000_000,
                              volume_ml="1.0", cryoprotectant="CryoStor CS10", frozen_on=timezone.localdate(),
                              actor=tech)
    small = services.create_lot(cell_line=line, tier="WCB", parent_lot=released_mcb, culture=culture,
                                passage=released_mcb.passage + 1, vial_count=5, cells_per_vial=1_000_000,
                                volume_ml="1.0", cryoprotectant="CryoStor CS10", frozen_on=timezone.localdate(),
                                actor=tech)
    rack = RackFactory()
    vials = list(big.vials.order_by("number"))
    for index, vial in enumerate(vials):  # stored across 13 boxes of 9 x 9
        if index % 81 == 0:
            box = BoxFactory(rack=rack)
        vial.box, vial.row, vial.col = box, index % 81 // 9 + 1, index % 9 + 1
    Vial.objects.bulk_update(vials, ["box", "row", "col"])
    services.change_lot_status(big, "released", actor=users["qa"], reason="QC passed")
    client.force_login(users["qa"])
    saved = registry.object_panels.pop("lots.lot", None)  # other apps' sections count their own queries
    try:
        for lot, rows in ((big, 1000), (small, 5)):
            # 1 session, 2 user, 3-4 user and group permissions, 5 the lot with line, donor, parent, operator
            # and culture, 6 the lot's vials counted by status, stored and kind, 7 the page holding the scanned
            # vial, 8 that page of vials with box, rack and unit, 9 child lots, 10 lot history (status timeline),
            # 11 culture with source vial and lot, 12 passages with operators, 13 the user's roles (navigation),
            # 14 unread notifications. The lineage comes from the parent loaded with 5 (an MCB has no parent).
            with django_assert_num_queries(14):
                response = client.get(f"/lots/{lot.pk}/?vial={vials[500].barcode}")
            html = response.content.decode()
            assert html.count('<tr id="vial-SBV') == min(rows, 50)  # a page of vials, however many the lot has
            assert (f"{rows} vials" in html) and ("Vials 501–550 of 1000" in html if rows == 1000 else True)
    finally:
        if saved is not None:
            registry.object_panels["lots.lot"] = saved
    html = client.get(f"/lots/{big.pk}/?vial={vials[500].barcode}").content.decode()
    assert f'<tr id="vial-{vials[500].barcode}" class="highlight"' in html
    assert released_mcb.lot_number in html and "MT-1" in html  # lineage and the culture's medium lot
    assert "Released" in html and "QC passed" in html  # status timeline from history


def test_lists_run_a_constant_number_of_queries(client, django_assert_num_queries, line, make_lot, users):
    for _ in range(3):
        make_lot(line, vial_count=2)
    client.force_login(users["qa"])
    # 1 session, 2 user, 3-4 permissions, 5 count, 6 lots with line and parent, 7 vial counts by status,
    # 8 roles (navigation), 9 unread notifications
    with django_assert_num_queries(9):
        assert client.get("/lots/").status_code == 200
    for _ in range(3):
        make_lot(line, vial_count=2)
    with django_assert_num_queries(9):
        assert client.get("/lots/").status_code == 200
    # lines: 1-4 as above, 5 the total (kept count), 6 the page's lines with donor and collection, 7 their lot
    # counts, 8 their available vials, 9-10 nav and notifications
    with django_assert_num_queries(10):
        assert client.get("/lots/lines/").status_code == 200
    for _ in range(3):
        make_lot(line, vial_count=2)
    with django_assert_num_queries(10):
        assert client.get("/lots/lines/").status_code == 200


def test_scan_opens_the_vial_lot_or_line(client, users, lot):
    vial = lot.vials.order_by("number").last()
    client.force_login(users["technician"])
    response = client.get("/scan/", {"code": vial.barcode})
    assert response.status_code == 302
    assert response.url == f"/lots/{lot.pk}/?vial={vial.barcode}#vial-{vial.barcode}"
    for code in (lot.barcode, lot.lot_number.lower()):
        assert client.get("/scan/", {"code": code}).url == f"/lots/{lot.pk}/"
    assert client.get("/scan/", {"code": lot.cell_line.name}).url == f"/lots/lines/{lot.cell_line_id}/"
    client.force_login(users["researcher"])  # researchers use the catalog; the scan finds nothing for them
    assert client.get("/scan/", {"code": vial.barcode}).status_code == 404


def test_donor_page_panel_lists_lines_and_lots(rf, users, line, make_lot, make_line):
    mcb = make_lot(line)
    template = Template("{% load bank_tags %}{% object_panels donor %}")
    request = rf.get("/")
    request.user = users["qa"]
    html = template.render(Context({"request": request, "donor": line.donor}))
    assert 'id="panel-lots"' in html and line.name in html and mcb.lot_number in html
    assert "5 Available" in html
    request.user = users["researcher"]
    assert 'id="panel-lots"' not in template.render(Context({"request": request, "donor": line.donor}))
