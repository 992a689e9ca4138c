"""Distribution pages: catalog, request with the MTA, QA review, pick-and-ship by scanning, receipt, panels."""

import pytest
from django.template import Context, Template
from django.utils import timezone

from distribution import services
from distribution.models import DistributionRequest
from lots.models import Vial
from tests.distribution.factories import add_result, shipped_request, stocked_line, submit
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db

HTMX = {"HTTP_HX_REQUEST": "true"}


def test_catalog_page_lists_and_filters(client, users):
    line, lot = stocked_line(vials=3, hla=True, description="HLA-homozygous donor line")
    add_result(lot, "viability", value="93", unit="%")
    client.force_login(users["researcher"])
    html = client.get("/distribution/catalog/").content.decode()
    assert line.name in html and "Post-thaw viability" in html and "A*24:02" in html
    assert f'href="/distribution/catalog/{line.pk}/request/"' in html
    assert line.name not in client.get("/distribution/catalog/", {"cell_type": "UC-MSC"}).content.decode()
    bad = client.get("/distribution/catalog/", {"hla": "A24"}).content.decode()
    assert "Write an HLA allele like A*24:02" in bad
    detail = client.get(f"/distribution/catalog/{line.pk}/").content.decode()
    assert 'id="available-vials">3<' in detail and "93 %" in detail


def test_request_form_shows_the_mta_and_needs_acceptance(client, users, settings):
    settings.REQUEST_FEE_PUBLIC_PER_VIAL = "120"
    line, _lot = stocked_line(vials=3)
    client.force_login(users["researcher"])
    url = f"/distribution/catalog/{line.pk}/request/"
    html = client.get(url).content.decode()
    assert "MTA-2026-1" in html and "The bank may recall the material" in html
    assert "Fee: 120.00 CNY" in client.get(url + "fee/", {"vials": 1, "institution_type": "public"}).content.decode()
    data = {"vials": 2, "intended_use": "research", "project_title": "Hepatocytes", "mta_version": "MTA-2026-1",
            "institution_type": "public"}
    refused = client.post(url, data)
    assert refused.status_code == 200 and "You must read and accept" in refused.content.decode()
    assert not DistributionRequest.objects.exists()
    zero = client.post(url, {**data, "vials": 0, "mta_accepted": "on"})
    assert "greater than or equal to 1" in zero.content.decode() and not DistributionRequest.objects.exists()
    response = client.post(url, {**data, "mta_accepted": "on"})
    request = DistributionRequest.objects.get()
    assert response.status_code == 302 and response.url == f"/distribution/requests/{request.pk}/"
    assert request.mta.version == "MTA-2026-1" and request.fee_amount == 240
    assert users["qa"].notifications.filter(subject__contains=request.number).exists()


def test_requests_page_shows_only_own_requests_to_researchers(client, users):
    line, _lot = stocked_line(vials=3)
    mine = submit(users["researcher"], line)
    theirs = submit(UserFactory(username="other-lab", role="researcher"), line)
    client.force_login(users["researcher"])
    html = client.get("/distribution/requests/").content.decode()
    assert mine.number in html and theirs.number not in html
    assert client.get(f"/distribution/requests/{theirs.pk}/").status_code == 404
    own = client.get(f"/distribution/requests/{mine.pk}/").content.decode()
    assert 'id="cancel-request"' in own and 'id="review"' not in own
    assert client.post(f"/distribution/requests/{mine.pk}/cancel/").status_code == 302
    mine.refresh_from_db()
    assert mine.status == "cancelled"


def test_qa_reviews_and_approves_on_the_page(client, users):
    line, _lot = stocked_line(vials=3, grade="research")
    request = submit(users["researcher"], line, vials=2)
    mismatch = submit(users["researcher"], line, use="clinical")
    client.force_login(users["qa"])
    html = client.get(f"/distribution/requests/{request.pk}/").content.decode()
    for key in ("consent_withdrawn", "consent_scope", "grade", "eligibility", "stock"):
        assert f'data-check="{key}"' in html
    assert line.donor.code in html  # QA sees the donor code; researchers never do
    blocked = client.get(f"/distribution/requests/{mismatch.pk}/").content.decode()
    assert "Approval will be refused" in blocked
    refused = client.post(f"/distribution/requests/{mismatch.pk}/approve/", {})
    assert refused.status_code == 409 and "clinical use" in refused.content.decode().lower()
    response = client.post(f"/distribution/requests/{request.pk}/approve/", {"reason": "ok"})
    assert response.status_code == 302
    request.refresh_from_db()
    assert request.status == "approved" and request.allocations.count() == 2
    rejected = client.post(f"/distribution/requests/{mismatch.pk}/reject/", {"reason": "Clinical use needs a "
                                                                                       "clinical-grade line."})
    assert rejected.status_code == 302
    assert client.post(f"/distribution/requests/{request.pk}/reject/", {"reason": ""}).status_code == 400


def test_pick_by_scanning_then_ship(client, users):
    line, _lot = stocked_line(vials=4)
    request = services.approve_request(submit(users["researcher"], line, vials=2), actor=users["qa"])
    client.force_login(users["technician"])
    url = f"/distribution/requests/{request.pk}/pick/"
    html = client.get(url).content.decode()
    assert "data-scan-target" in html and "autofocus-scan" in html
    for barcode in request.allocated_barcodes:
        vial = Vial.objects.select_related("box__rack__unit").get(barcode=barcode)
        assert vial.box.rack.unit.name in html and vial.box.name in html
    wrong = Vial.objects.exclude(barcode__in=request.allocated_barcodes).first()
    partial = client.post(url, {"barcode": wrong.barcode}, **HTMX).content.decode()
    assert 'id="pick-error"' in partial and "Wrong vial" in partial and "<html" not in partial
    ship = {"courier": "SF Express", "tracking_number": "SF99", "shipper_type": "dry_shipper",
            "shipped_on": timezone.localdate().isoformat()}
    early = client.post(f"/distribution/requests/{request.pk}/ship/", ship)
    assert early.status_code == 400 and "Scan every vial" in early.content.decode()
    for barcode in request.allocated_barcodes:
        partial = client.post(url, {"barcode": barcode}, **HTMX).content.decode()
        assert f"{barcode} picked" in partial
    assert "2 of 2 picked" in partial
    # without HTMX the scan redirects back to the pick list (keyboard-only browsers)
    assert client.post(url, {"barcode": request.allocated_barcodes[0]}).status_code == 302
    response = client.post(f"/distribution/requests/{request.pk}/ship/", ship)
    assert response.status_code == 302
    request.refresh_from_db()
    assert request.status == "shipped"
    assert set(Vial.objects.filter(barcode__in=request.allocated_barcodes).values_list("status", flat=True)) \
        == {"shipped"}


def test_researcher_confirms_receipt_on_the_page(client, users):
    line, _lot = stocked_line(vials=2)
    shipped = shipped_request(users["researcher"], users["qa"], users["technician"], line)
    client.force_login(users["researcher"])
    html = client.get(f"/distribution/requests/{shipped.pk}/").content.decode()
    assert 'id="receive-form"' in html and "SF123" in html
    response = client.post(f"/distribution/requests/{shipped.pk}/receive/", {"condition": "good", "notes": ""})
    assert response.status_code == 302
    shipped.refresh_from_db()
    assert shipped.status == "received"


def test_dashboard_panels_per_role(client, users):
    line, _lot = stocked_line(vials=4)
    submitted = submit(users["researcher"], line)
    approved = services.approve_request(submit(users["researcher"], line), actor=users["qa"])
    client.force_login(users["qa"])
    qa = client.get("/").content.decode()
    assert 'id="panel-distribution-review"' in qa and submitted.number in qa
    client.force_login(users["technician"])
    tech = client.get("/").content.decode()
    assert 'id="panel-distribution-pick"' in tech and approved.number in tech
    assert 'id="panel-distribution-review"' not in tech
    client.force_login(users["researcher"])
    mine = client.get("/").content.decode()
    assert 'id="panel-distribution-mine"' in mine and submitted.number in mine
    client.force_login(users["coordinator"])
    assert "panel-distribution" not in client.get("/").content.decode()


def test_lot_page_panel_lists_shipments_and_recipients(rf, users):
    line, lot = stocked_line(vials=3)
    shipped = shipped_request(users["researcher"], users["qa"], users["technician"], line, vials=2)
    template = Template("{% load bank_tags %}{% object_panels lot %}")
    request = rf.get("/")
    request.user = users["qa"]
    html = template.render(Context({"request": request, "lot": lot}))
    assert 'id="panel-distribution"' in html and shipped.number in html and "Example University" in html
    assert f"/distribution/lots/{lot.pk}/recall/" in html
    request.user = users["researcher"]
    assert "panel-distribution" not in template.render(Context({"request": request, "lot": lot}))


def test_header_scan_opens_a_request_number(client, users):
    line, _lot = stocked_line()
    request = submit(users["researcher"], line)
    client.force_login(users["technician"])
    response = client.get("/scan/", {"code": request.number.lower()})
    assert response.status_code == 302 and response.url == f"/distribution/requests/{request.pk}/"
    client.force_login(UserFactory(username="other-lab", role="researcher"))
    assert client.get("/scan/", {"code": request.number}).status_code == 404


def test_pages_need_the_right_role(client, users):
    line, _lot = stocked_line()
    request = submit(users["researcher"], line)
    client.force_login(users["coordinator"])
    for url in ("/distribution/catalog/", "/distribution/requests/", f"/distribution/requests/{request.pk}/pick/"):
        assert client.get(url).status_code == 403, url
    client.force_login(users["researcher"])
    assert client.get(f"/distribution/requests/{request.pk}/pick/").status_code == 403
    assert client.post(f"/distribution/requests/{request.pk}/approve/").status_code == 403
    client.logout()
    assert client.get("/distribution/catalog/").status_code == 302


def test_catalog_in_simplified_chinese(client, users):
    stocked_line()
    client.force_login(users["researcher"])
    client.post("/i18n/setlang/", {"language": "zh-hans", "next": "/"})
    html = client.get("/distribution/catalog/").content.decode()
    assert "细胞系" in html and "冻存管" in html
