"""The whole distribution path in Chromium: catalog → request with the MTA → QA approval → technician picks
by scanning and ships → researcher confirms receipt → the vial's trace shows the whole path."""

import re

import pytest
from playwright.sync_api import expect

from distribution.models import DistributionRequest
from lots.models import Vial
from tests.browser.focus import assert_focus
from tests.distribution.factories import add_lot, add_result, make_line, reseed_reference_data
from tests.factories import UserFactory

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_catalog_to_trace(page, login):
    reseed_reference_data()
    researcher = UserFactory(username="dr-zhao", role="researcher", first_name="Lei", last_name="Zhao")
    qa = UserFactory(username="qa-wang", role="qa")
    technician = UserFactory(username="tech-li", role="technician")
    line = make_line(grade="clinical", hla=True, name="SCBi077-A")
    other = make_line(name="SCBi078-A")
    add_lot(other, vials=2)
    lot = add_lot(line, vials=4)
    add_result(lot, "viability", value="91.5", unit="%")
    add_result(lot, "mycoplasma", outcome="negative")

    def as_user(user):
        page.context.clear_cookies()
        return login(user)

    # The researcher finds the line in the catalog and requests it, accepting the MTA.
    as_user(researcher)
    page.click("#main-nav a[data-nav=catalog]")
    page.fill("#id_q", "SCBi077")
    page.press("#id_q", "Enter")
    page.wait_for_url("**/distribution/catalog/?q=SCBi077*")
    assert page.locator("#catalog-table tbody tr[data-line]").count() == 1
    assert "Post-thaw viability" in page.inner_text("#catalog-table")
    page.click("text=SCBi077-A")
    page.click("#request-line")
    expect(page.locator("#request-form")).to_contain_text("MTA-2026-1")
    page.fill("#id_vials", "2")
    page.fill("#id_project_title", "Dopaminergic neurons for transplantation studies")
    page.fill("#id_institution", "Fudan University")
    page.check("input[name=institution_type][value=public]")
    page.click("#submit-request")
    # not accepted yet (the form comes back from the server: wait for it rather than read the old one)
    expect(page.locator("#request-form .errorlist")).to_contain_text("You must read and accept")
    assert not DistributionRequest.objects.exists()
    page.check("#id_mta_accepted")
    page.click("#submit-request")
    page.wait_for_url(re.compile(r".*/distribution/requests/\d+/$"))
    assert page.get_attribute("#request-status", "data-status") == "submitted"
    request = DistributionRequest.objects.get()

    # QA reviews it and approves: two vials are reserved.
    as_user(qa)
    page.click("#main-nav a[data-nav=requests]")
    page.click(f"text={request.number}")
    expect(page.locator('[data-check="consent_scope"] .badge.ok')).to_have_count(1)
    page.click("#approve-request")
    page.wait_for_selector("#request-status[data-status=approved]")
    request.refresh_from_db()
    reserved = sorted(request.allocations.values_list("vial__barcode", flat=True))
    assert len(reserved) == 2

    # The technician picks by scanning (a wrong vial is refused) and ships.
    as_user(technician)
    page.click(f"#panel-distribution-pick a:text('{request.number}')")
    page.wait_for_selector("#pick-scan")
    assert_focus(page, "#pick-scan")
    wrong = Vial.objects.filter(lot__cell_line=other).first().barcode
    page.keyboard.type(wrong)
    page.keyboard.press("Enter")
    page.wait_for_selector("#pick-error")
    assert "Wrong vial" in page.inner_text("#pick-error")
    assert page.is_disabled("#ship-request")
    for n, barcode in enumerate(reserved, start=1):
        assert_focus(page, "#pick-scan")  # ready for the next scan
        page.keyboard.type(barcode)
        page.keyboard.press("Enter")
        page.wait_for_selector(f"#pick-progress:text('{n} of 2 picked')")
    page.fill("#id_courier", "SF Express Cold Chain")
    page.fill("#id_tracking_number", "SF1402889311")
    page.click("#ship-request")
    # Shipping writes the shipment, every vial's move and the notices in one transaction: on a CI machine whose
    # other worker runs a heavy test at the same moment it has taken more than the default 10 s (once in ~6 runs).
    page.wait_for_selector("#request-status[data-status=shipped]", timeout=30_000)

    # The researcher confirms receipt.
    as_user(researcher)
    page.goto(page.base_url + f"/distribution/requests/{request.pk}/")
    page.check("input[name=condition][value=good]")
    page.click("#confirm-receipt")
    page.wait_for_selector("#request-status[data-status=received]")

    # The vial's trace shows the whole path, from the donor to the recipient.
    as_user(qa)
    page.click("#main-nav a[data-nav=trace]")
    assert_focus(page, "#trace-scan")
    page.keyboard.type(reserved[0])
    page.keyboard.press("Enter")
    page.wait_for_url(f"**/distribution/trace/vials/{reserved[0]}/")
    path = page.inner_text("#trace-path")
    for text in (line.donor.code, line.collection.code, line.name, lot.lot_number, reserved[0], "Lei Zhao"):
        assert text in path, text
    assert "Post-thaw viability" in page.inner_text("#trace-qc")
    assert "Removed from storage" in page.inner_text("#trace-moves")
    shipment = page.inner_text("#trace-shipment")
    assert request.number in shipment and "SF1402889311" in shipment and "Fudan University" in shipment
    assert page.inner_text("#vial-status") == "Shipped"
