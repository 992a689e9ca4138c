"""Sharing and the export gate in Chromium (issue 15): the researcher's institution profile prefills the request,
the fee follows the institution type and the vials before submitting, the enterprise request has its quotation;
QA publishes an MTA version and sets a fee; a request to Germany is approved, its export approval recorded with
the scan, and only then ships; the vial's trace shows the approval. Screenshots go to /tmp/shots/sharing/."""

import datetime
import re
from pathlib import Path

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from distribution.models import DistributionRequest, ExportApproval, FeeRate, MaterialTransferAgreement
from tests.distribution.factories import add_lot, make_line, reseed_reference_data
from tests.factories import UserFactory

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

SHOTS = Path("/tmp/shots/sharing")


def shot(page, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)


@pytest.fixture
def media(settings, tmp_path):
    """Uploaded scans go to a temporary folder (the live server runs in this process, with these settings)."""
    settings.STORAGES = {**settings.STORAGES, "default": {"BACKEND": "django.core.files.storage.FileSystemStorage",
                                                          "OPTIONS": {"location": str(tmp_path)}}}
    return tmp_path


def as_user(page, login, user):
    page.context.clear_cookies()
    return login(user)


def test_enterprise_request_with_fee_and_quotation(page, login):
    reseed_reference_data()
    researcher = UserFactory(username="dr-sun", role="researcher", first_name="Hui", last_name="Sun")
    qa = UserFactory(username="qa-wang", role="qa")
    line = make_line(name="SCBi088-A")
    add_lot(line, vials=6)

    # QA sets the enterprise fee of research-grade lines and publishes a new MTA version.
    as_user(page, login, qa)
    page.goto(page.base_url + "/distribution/requests/")
    page.click("#open-fees")
    page.fill("#id_target", "research")
    page.select_option("#id_institution_type", "enterprise")
    page.fill("#id_per_vial", "650")
    page.click("#save-fee")
    expect(page.locator('[data-rate="grade-research-enterprise"]')).to_contain_text("650.00 CNY")
    assert FeeRate.objects.get().per_vial == 650
    shot(page, "fees")
    page.goto(page.base_url + "/distribution/requests/")
    page.click("#open-mta")
    page.fill("#id_version", "MTA-2027-1")
    page.fill("#id_title", "Material transfer agreement 2027")
    page.fill("#id_text", "1. The material is for the project named in the request.\n2. No transfer to third parties.")
    page.click("#publish-mta")
    expect(page.locator('tr[data-version="MTA-2027-1"]')).to_contain_text("In use")
    expect(page.locator('tr[data-version="MTA-2026-1"]')).to_contain_text("Superseded")
    shot(page, "mta")

    # The researcher saves the institution profile; the request form starts from it.
    as_user(page, login, researcher)
    page.goto(page.base_url + "/distribution/requests/")
    page.click("#open-institution")
    page.fill("#id_name", "Hangzhou CardioScreen Biotech Co., Ltd.")
    page.check("input[name=institution_type][value=enterprise]")
    page.fill("#id_country", "CN")
    page.fill("#id_address", "18 Xiyuan Road\nHangzhou")
    page.fill("#id_billing_contact", "Accounts payable")
    page.fill("#id_billing_email", "ap@cardioscreen.example")
    page.click("#save-institution")
    expect(page.locator(".messages")).to_contain_text("Institution profile saved")
    shot(page, "institution")
    page.goto(page.base_url + f"/distribution/catalog/{line.pk}/request/")
    expect(page.locator("#id_institution")).to_have_value("Hangzhou CardioScreen Biotech Co., Ltd.")
    assert page.is_checked("input[name=institution_type][value=enterprise]")
    expect(page.locator("#fee-total")).to_have_attribute("data-total", "650.00")
    # the fee follows the vials (HTMX) ...
    page.fill("#id_vials", "3")
    page.locator("#id_vials").dispatch_event("change")
    expect(page.locator("#fee-total")).to_have_attribute("data-total", "1950.00")
    # ... and the institution type
    page.check("input[name=institution_type][value=public]")
    expect(page.locator("#fee-total")).to_have_attribute("data-total", "0.00")
    page.check("input[name=institution_type][value=enterprise]")
    expect(page.locator("#fee-total")).to_have_attribute("data-total", "1950.00")
    page.fill("#id_project_title", "Cardiotoxicity screening panel")
    expect(page.locator("#request-form")).to_contain_text("MTA-2027-1")
    page.check("#id_mta_accepted")
    shot(page, "request-form")
    page.click("#submit-request")
    page.wait_for_url(re.compile(r".*/distribution/requests/\d+/$"))
    request = DistributionRequest.objects.get()
    assert request.fee_amount == 1950 and request.institution_type == "enterprise"
    assert request.mta.version == "MTA-2027-1"
    expect(page.locator("#request-fee")).to_contain_text("1950.00 CNY")
    expect(page.locator("#mta-accepted")).to_contain_text("MTA-2027-1")
    shot(page, "request-enterprise")
    with page.expect_response(re.compile(r".*/quotation\.pdf$")) as pdf:
        page.evaluate("url => fetch(url)", page.get_attribute("#quotation-link", "href"))
    assert pdf.value.status == 200 and pdf.value.headers["content-type"] == "application/pdf"
    assert MaterialTransferAgreement.objects.filter(active=True).count() == 1


def test_foreign_request_waits_for_its_export_approval(page, login, media):
    reseed_reference_data()
    researcher = UserFactory(username="dr-zhao", role="researcher", first_name="Lei", last_name="Zhao")
    qa = UserFactory(username="qa-wang", role="qa", first_name="Fang", last_name="Wang")
    technician = UserFactory(username="tech-li", role="technician")
    line = make_line(name="SCBi099-A")
    add_lot(line, vials=4)

    # The researcher asks for a vial to be sent to a partner in Germany.
    as_user(page, login, researcher)
    page.goto(page.base_url + f"/distribution/catalog/{line.pk}/request/")
    page.check("input[name=institution_type][value=public]")
    page.fill("#id_project_title", "Joint microglia study")
    page.fill("#id_institution", "Max Delbrück Center")
    page.fill("#id_recipient_country", "DE")
    page.check("#id_mta_accepted")
    page.click("#submit-request")
    page.wait_for_url(re.compile(r".*/distribution/requests/\d+/$"))
    request = DistributionRequest.objects.get()
    assert request.recipient_country == "DE" and request.fee_amount == 0

    # QA is told at review that an export approval is needed, approves, and records it with the scan.
    as_user(page, login, qa)
    page.goto(page.base_url + f"/distribution/requests/{request.pk}/")
    expect(page.locator('[data-check="export_approval"]')).to_contain_text("export approval is required")
    expect(page.locator("#export-approval-missing")).to_be_visible()
    shot(page, "review-export")
    page.click("#approve-request")
    page.wait_for_selector("#request-status[data-status=approved]")

    # The technician picks, but the shipment is refused without the approval.
    as_user(page, login, technician)
    page.goto(page.base_url + f"/distribution/requests/{request.pk}/pick/")
    expect(page.locator("#ship-export")).to_contain_text("no Human Genetic Resources export approval")
    barcode = request.allocations.get().vial.barcode
    page.fill("#pick-scan", barcode)
    page.press("#pick-scan", "Enter")
    page.wait_for_selector("#pick-progress:text('1 of 1 picked')")
    page.fill("#id_courier", "World Courier")
    page.fill("#id_tracking_number", "WC-778812")
    page.click("#ship-request")
    expect(page.locator("#ship-form [role=alert]")).to_contain_text("export approval valid on")
    assert DistributionRequest.objects.get().status == "approved"

    as_user(page, login, qa)
    page.goto(page.base_url + f"/distribution/requests/{request.pk}/")
    page.fill("#id_approval_number", "HGR-EXP-2026-0042")
    today = timezone.localdate()
    page.fill("#id_approved_on", (today - datetime.timedelta(days=30)).isoformat())
    page.fill("#id_expires_on", (today + datetime.timedelta(days=365)).isoformat())
    page.set_input_files("#id_document", files=[{"name": "approval.pdf", "mimeType": "application/pdf",
                                                 "buffer": b"%PDF-1.4 scanned approval"}])
    page.click("#record-export-approval")
    expect(page.locator('[data-approval="HGR-EXP-2026-0042"]')).to_contain_text("Valid")
    assert ExportApproval.objects.get().document_name == "approval.pdf"
    shot(page, "request-export-approval")

    # Now it ships, and the vial's trace shows the approval it left under.
    as_user(page, login, technician)
    page.goto(page.base_url + f"/distribution/requests/{request.pk}/pick/")
    expect(page.locator("#ship-export")).to_contain_text("HGR-EXP-2026-0042")
    page.fill("#id_courier", "World Courier")
    page.fill("#id_tracking_number", "WC-778812")
    page.click("#ship-request")
    page.wait_for_selector("#request-status[data-status=shipped]", timeout=30_000)
    as_user(page, login, qa)
    page.goto(page.base_url + f"/distribution/trace/vials/{barcode}/")
    expect(page.locator("#trace-shipment .trace-export")).to_contain_text("HGR-EXP-2026-0042")
    shot(page, "trace-export")
