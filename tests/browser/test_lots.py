"""A technician freezes an MCB lot of 20 vials in Chromium and prints its label sheet."""

import re

import pytest
from playwright.sync_api import expect

from lots import services
from lots.models import Lot
from tests.factories import UserFactory, eligible_collection
from tests.lots.test_labels import pdf_text

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_technician_freezes_an_mcb_and_prints_its_label_sheet(page, login):
    tech = UserFactory(username="bench-tech", role="technician")
    line = services.create_cell_line(collection=eligible_collection(), cell_type="iPSC", grade="clinical",
                                     reprogramming_method="sendai", actor=tech)
    login(tech)
    page.click("#main-nav a[data-nav=lots]")
    page.click("text=Freeze a lot >> nth=0")
    page.wait_for_url("**/lots/new/")
    page.select_option("#id_cell_line", str(line.pk))
    assert page.is_checked("#id_tier_0")  # MCB is the default tier
    page.fill("#id_passage", "8")
    page.fill("#id_vial_count", "-20")  # a slip of the finger ...
    page.fill("#id_cells_per_vial", "1000000")
    page.fill("#id_cryoprotectant_lot", "CS10-25A17")
    page.press("#id_vial_count", "Enter")  # Enter submits
    expect(page.locator("#field-vial_count")).to_contain_text("Freeze at least one vial.")
    expect(page.locator("#lot-form-errors")).to_be_visible()
    assert Lot.objects.count() == 0
    page.fill("#id_vial_count", "20")  # ... fixed, and Enter again
    page.press("#id_vial_count", "Enter")
    page.wait_for_url(re.compile(r".*/lots/\d+/#labels$"))
    lot = Lot.objects.get()
    assert page.inner_text("#lot-number") == lot.lot_number and lot.vial_count == 20
    assert page.inner_text("#lot-status") == "Quarantine"
    assert page.locator("#vial-table tbody tr").count() == 20

    link = page.locator("#label-sheet")
    assert link.is_visible()
    response = page.request.get(page.base_url + link.get_attribute("href"))
    assert response.ok and response.headers["content-type"] == "application/pdf"
    text = pdf_text(response.body())
    barcodes = list(lot.vials.order_by("number").values_list("barcode", flat=True))
    assert len(barcodes) == 20
    for barcode in barcodes:
        assert text.count(f"({barcode}  {line.name}) Tj") == 1
    assert text.count(f"Frozen {lot.frozen_on.isoformat()}") == 20

    # A scanner reading a vial's label anywhere opens the lot with that vial highlighted.
    page.keyboard.press("/")
    page.keyboard.type(barcodes[12])
    page.keyboard.press("Enter")
    page.wait_for_url(re.compile(rf".*/lots/{lot.pk}/\?vial={barcodes[12]}.*"))
    assert page.locator("#vial-table tr.highlight").inner_text().startswith("13")
