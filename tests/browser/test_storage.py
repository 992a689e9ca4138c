"""A technician at the tank with a barcode scanner: scan a vial, scan another box, pick a position,
and the freezer map shows the vial there."""

import pytest

from storage.services import store_lot
from tests.browser.focus import assert_focus
from tests.factories import BoxFactory, LotFactory, RackFactory, StorageUnitFactory, UserFactory

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_technician_scans_a_vial_moves_it_and_the_map_shows_it(page, login):
    technician = UserFactory(username="bench-tech", role="technician")
    unit = StorageUnitFactory(name="LN2-B")
    rack = RackFactory(unit=unit, name="R1")
    home = BoxFactory(rack=rack, name="HOME", rows=9, cols=9)
    dest = BoxFactory(rack=rack, name="DEST", rows=5, cols=5)
    lot = LotFactory(status="released", vial_count=3)
    store_lot(lot, [home], actor=technician)
    vial = lot.vials.get(number=2)

    login(technician)
    page.click("#main-nav a[data-nav=storage]")
    page.click("#move-vial-link")
    page.wait_for_url("**/storage/move/")
    # The page's own scan field has the focus: the scanner types the code and Enter.
    assert_focus(page, "#scan-vial")
    page.keyboard.type(vial.barcode)
    page.keyboard.press("Enter")
    page.wait_for_selector("#scan-box")
    assert "box HOME at A2" in page.inner_text("#vial-card")
    assert_focus(page, "#scan-box")
    page.keyboard.type(dest.barcode)
    page.keyboard.press("Enter")
    page.wait_for_selector("#move-form")
    page.click('.boxmap label[data-cell="C4"]')
    page.fill("#id_reason", "Consolidating boxes")
    page.click("#move-submit")

    page.wait_for_url(f"**/storage/boxes/{dest.pk}/?vial={vial.barcode}")
    cell = page.locator('.boxmap [data-cell="C4"]')
    assert cell.get_attribute("data-barcode") == vial.barcode
    assert "hl" in cell.get_attribute("class").split()
    assert f"Vial {vial.barcode} is now in box DEST at C4." in page.inner_text(".messages")
    assert "belongs here, at C4" in page.inner_text("#scan-result")
    # Hovering shows barcode, lot and line.
    assert lot.lot_number in cell.get_attribute("title") and lot.cell_line.name in cell.get_attribute("title")

    # The old box no longer has it; scanning it there says where it went.
    page.goto(page.base_url + f"/storage/boxes/{home.pk}/")
    assert page.locator(f'.boxmap [data-barcode="{vial.barcode}"]').count() == 0
    assert page.locator('.boxmap [data-cell="A2"]').get_attribute("class").split()[:2] == ["cell", "empty"]
    page.keyboard.type(vial.barcode)  # the box page's scan field has the focus
    page.keyboard.press("Enter")
    page.wait_for_selector("#scan-result")
    assert "belongs in LN2-B / R1 / box DEST at C4" in page.inner_text("#scan-result")
