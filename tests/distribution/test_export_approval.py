"""The export gate (issue 15): a request to a recipient outside the bank's country ships only with a Human Genetic
Resources export approval valid on the shipping date (409 ``export_approval_required``); QA records it (with the
scan) through the API or the request page; the review, the pick page and the trace show it."""

import datetime
import hashlib

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils import timezone

from distribution import services
from distribution.models import ExportApproval, Shipment
from lots.models import Vial
from tests.distribution.factories import stocked_line, submit

pytestmark = pytest.mark.django_db

DAY = datetime.timedelta(days=1)


@pytest.fixture(autouse=True)
def media(settings, tmp_path):
    """Uploaded scans go to a temporary storage (through the same storage API the bank uses)."""
    settings.STORAGES = {**settings.STORAGES, "default": {
        "BACKEND": "django.core.files.storage.FileSystemStorage", "OPTIONS": {"location": str(tmp_path)}}}
    settings.BANK_COUNTRY = "CN"
    return tmp_path


def today():
    return timezone.localdate()


def foreign_approved(users, country="DE", vials=1):
    """An approved request to a recipient abroad, its vials picked and ready to ship."""
    line, _lot = stocked_line(vials=4)
    request = submit(users["researcher"], line, vials, recipient_country=country)
    request = services.approve_request(request, actor=users["qa"])
    for barcode in request.allocated_barcodes:
        services.confirm_pick(request, barcode, actor=users["technician"])
    return request


def ship(api, users, request, shipped_on=None):
    return api(users["technician"]).post(f"/api/v1/requests/{request.pk}/ship/", {
        "courier": "World Courier", "tracking_number": "WC-1",
        "shipped_on": (shipped_on or today()).isoformat()}, format="json")


def record(api, users, request, approved_on, expires_on, **extra):
    return api(users["qa"]).post(f"/api/v1/requests/{request.pk}/export-approval/", {
        "approval_number": "HGR-EXP-2026-0042", "authority": "MOST HGR Office",
        "approved_on": approved_on.isoformat(), "expires_on": expires_on.isoformat(), **extra}, format="json")


def test_a_foreign_shipment_is_refused_without_an_approval(api, users):
    request = foreign_approved(users)
    response = ship(api, users, request)
    assert response.status_code == 409, response.json()
    body = response.json()
    assert body["code"] == "export_approval_required" and body["recipient_country"] == "DE"
    assert body["shipped_on"] == today().isoformat()
    request.refresh_from_db()
    assert request.status == "approved" and not Shipment.objects.exists()
    assert set(Vial.objects.filter(allocations__request=request).values_list("status", flat=True)) == {"reserved"}


def test_a_foreign_shipment_is_accepted_with_an_approval_valid_on_the_date(api, users):
    request = foreign_approved(users)
    recorded = record(api, users, request, today() - 10 * DAY, today() + 180 * DAY)
    assert recorded.status_code == 201, recorded.json()
    assert recorded.json()["request"] == request.number and recorded.json()["recorded_by"] == "qa"
    detail = api(users["researcher"]).get(f"/api/v1/requests/{request.pk}/").json()
    assert detail["export_approval_required"] is True
    assert [a["approval_number"] for a in detail["export_approvals"]] == ["HGR-EXP-2026-0042"]
    response = ship(api, users, request)
    assert response.status_code == 200, response.json()
    assert response.json()["status"] == "shipped"
    # the trace shows the approval the vials left under
    barcode = request.allocations.first().vial.barcode
    trace = api(users["qa"]).get(f"/api/v1/trace/vials/{barcode}/").json()
    assert trace["shipment"]["recipient_country"] == "DE"
    assert trace["shipment"]["export_approval"]["approval_number"] == "HGR-EXP-2026-0042"
    donor = api(users["qa"]).get(f"/api/v1/trace/donors/{request.cell_line.donor_id}/").json()
    assert donor["shipments"][0]["export_approval"]["authority"] == "MOST HGR Office"


def test_an_expired_approval_is_refused(api, users):
    request = foreign_approved(users)
    assert record(api, users, request, today() - 400 * DAY, today() - DAY).status_code == 201
    response = ship(api, users, request)
    assert response.status_code == 409 and response.json()["code"] == "export_approval_required"
    assert not Shipment.objects.exists()
    # an approval that covers the shipping date lets it go; the expired one stays on record
    assert record(api, users, request, today(), today() + 30 * DAY).status_code == 201
    assert ship(api, users, request).status_code == 200
    assert ExportApproval.objects.filter(request=request).count() == 2


def test_an_approval_is_judged_on_the_shipping_date_not_today(api, users):
    request = foreign_approved(users)
    request.decided_at = timezone.now() - 5 * DAY
    request.save(update_fields=["decided_at"])
    # valid from yesterday: today's shipment may go, a shipment dated three days ago may not
    assert record(api, users, request, today() - DAY, today() + 30 * DAY).status_code == 201
    early = ship(api, users, request, shipped_on=today() - 3 * DAY)
    assert early.status_code == 409 and early.json()["shipped_on"] == (today() - 3 * DAY).isoformat()
    assert ship(api, users, request, shipped_on=today()).status_code == 200


def test_a_domestic_request_needs_no_approval(api, users):
    request = foreign_approved(users, country="CN")
    refused = record(api, users, request, today() - DAY, today() + DAY)
    assert refused.status_code == 400 and "recipient_country" in refused.json()
    assert ship(api, users, request).status_code == 200


def test_the_bank_country_is_a_setting(api, users, settings):
    settings.BANK_COUNTRY = "DE"
    request = foreign_approved(users, country="DE")
    assert ship(api, users, request).status_code == 200


@pytest.mark.parametrize("approved_delta, expires_delta, extra, field", [
    (-10, -20, {}, "expires_on"),  # expires before it was granted
    (5, 30, {}, "approved_on"),  # granted in the future
    (-10, 30, {"approval_number": ""}, "approval_number"),
    (-10, 30, {"authority": " "}, "authority"),
])
def test_bad_approval_input_is_400_and_nothing_saved(api, users, approved_delta, expires_delta, extra, field):
    request = foreign_approved(users)
    response = record(api, users, request, today() + approved_delta * DAY, today() + expires_delta * DAY, **extra)
    assert response.status_code == 400 and field in response.json(), response.json()
    assert not ExportApproval.objects.exists()


def test_bad_dates_are_400(api, users):
    request = foreign_approved(users)
    response = api(users["qa"]).post(f"/api/v1/requests/{request.pk}/export-approval/", {
        "approval_number": "N1", "authority": "MOST", "approved_on": "2026-02-30", "expires_on": "soon"},
        format="json")
    assert response.status_code == 400 and {"approved_on", "expires_on"} <= set(response.json())


@pytest.mark.parametrize("role", ["researcher", "technician", "coordinator"])
def test_only_qa_records_an_approval(api, users, role):
    request = foreign_approved(users)
    response = api(users[role]).post(f"/api/v1/requests/{request.pk}/export-approval/", {
        "approval_number": "N1", "authority": "MOST", "approved_on": today().isoformat(),
        "expires_on": (today() + DAY).isoformat()}, format="json")
    assert response.status_code in (403, 404) and not ExportApproval.objects.exists()


def test_no_approval_once_the_request_has_shipped(api, users):
    request = foreign_approved(users)
    assert record(api, users, request, today() - DAY, today() + DAY).status_code == 201
    assert ship(api, users, request).status_code == 200
    late = record(api, users, request, today() - DAY, today() + 9 * DAY)
    assert late.status_code == 409 and late.json()["code"] == "invalid_transition"
    assert ExportApproval.objects.count() == 1


def test_the_scan_is_kept_through_the_storage_api(api, users, media):
    request = foreign_approved(users)
    scan = b"%PDF-1.4 scanned approval"
    response = api(users["qa"]).post(f"/api/v1/requests/{request.pk}/export-approval/", {
        "approval_number": "HGR-2", "authority": "MOST", "approved_on": today().isoformat(),
        "expires_on": (today() + 90 * DAY).isoformat(),
        "document": SimpleUploadedFile("approval.pdf", scan, content_type="application/pdf")}, format="multipart")
    assert response.status_code == 201, response.json()
    body = response.json()
    assert body["has_document"] and body["document_name"] == "approval.pdf"
    assert body["document_sha256"] == hashlib.sha256(scan).hexdigest()
    approval = ExportApproval.objects.get()
    assert approval.document.read() == scan and list(media.rglob("approval*.pdf"))
    bad = api(users["qa"]).post(f"/api/v1/requests/{request.pk}/export-approval/", {
        "approval_number": "HGR-3", "authority": "MOST", "approved_on": today().isoformat(),
        "expires_on": (today() + 90 * DAY).isoformat(),
        "document": SimpleUploadedFile("approval.exe", b"MZ", content_type="application/octet-stream")},
        format="multipart")
    assert bad.status_code == 400 and "document" in bad.json() and ExportApproval.objects.count() == 1


# --- pages --------------------------------------------------------------------------------------------------


def test_the_review_tells_qa_that_an_export_approval_is_needed(client, users):
    line, _lot = stocked_line(vials=4)
    abroad = submit(users["researcher"], line, 1, recipient_country="US")
    home = submit(users["researcher"], line, 1)
    client.force_login(users["qa"])
    page = client.get(f"/distribution/requests/{abroad.pk}/").content.decode()
    assert 'data-check="export_approval"' in page and "export approval is required" in page
    assert 'id="export-approval-missing"' in page and 'id="record-export-approval"' in page
    assert 'id="approve-request" disabled' not in page  # QA may approve; shipping waits
    assert 'data-check="export_approval"' not in client.get(f"/distribution/requests/{home.pk}/").content.decode()


def test_qa_records_the_approval_on_the_request_page_and_the_pick_page_follows(client, users, media):
    request = foreign_approved(users)
    client.force_login(users["technician"])
    pick = client.get(f"/distribution/requests/{request.pk}/pick/").content.decode()
    assert 'id="ship-export"' in pick and "no Human Genetic Resources export approval" in pick
    refused = client.post(f"/distribution/requests/{request.pk}/ship/", {
        "courier": "World Courier", "tracking_number": "WC1", "shipper_type": "dry_shipper",
        "shipped_on": today().isoformat()})
    assert refused.status_code == 400 and "export approval valid on" in refused.content.decode()
    assert client.post(f"/distribution/requests/{request.pk}/export-approval/", {}).status_code == 403
    client.force_login(users["qa"])
    missing_scan = client.post(f"/distribution/requests/{request.pk}/export-approval/", {
        "approval_number": "HGR-9", "authority": "MOST", "approved_on": today().isoformat(),
        "expires_on": (today() + 60 * DAY).isoformat()})
    assert missing_scan.status_code == 400 and not ExportApproval.objects.exists()
    saved = client.post(f"/distribution/requests/{request.pk}/export-approval/", {
        "approval_number": "HGR-9", "authority": "MOST", "approved_on": today().isoformat(),
        "expires_on": (today() + 60 * DAY).isoformat(),
        "document": SimpleUploadedFile("scan.png", b"\x89PNG scan", content_type="image/png")})
    assert saved.status_code == 302
    approval = ExportApproval.objects.get()
    page = client.get(f"/distribution/requests/{request.pk}/").content.decode()
    assert 'data-approval="HGR-9"' in page and "Valid" in page
    document = client.get(f"/distribution/export-approvals/{approval.pk}/document/")
    assert document.status_code == 200 and b"".join(document.streaming_content) == b"\x89PNG scan"
    client.force_login(users["researcher"])
    assert client.get(f"/distribution/export-approvals/{approval.pk}/document/"
                      ).status_code == 403
    client.force_login(users["technician"])
    assert "approval HGR-9" in client.get(f"/distribution/requests/{request.pk}/pick/").content.decode()
    shipped = client.post(f"/distribution/requests/{request.pk}/ship/", {
        "courier": "World Courier", "tracking_number": "WC1", "shipper_type": "dry_shipper",
        "shipped_on": today().isoformat()})
    assert shipped.status_code == 302
    barcode = request.allocations.first().vial.barcode
    client.force_login(users["qa"])
    trace = client.get(f"/distribution/trace/vials/{barcode}/").content.decode()
    assert "trace-export" in trace and "HGR-9" in trace


def test_a_bank_country_that_is_no_country_code_stops_the_checks(settings):
    from distribution.countries import check_bank_country

    assert check_bank_country() == []
    settings.BANK_COUNTRY = "China"
    assert [e.id for e in check_bank_country()] == ["distribution.E001"]
