"""The rack-scan check page and the batch move page in headless Chromium: upload a scanner file, see the box grid
coloured by outcome, store the tubes; scan vials one after the other and move them together."""

from pathlib import Path

import pytest

from lots.models import Vial
from storage.models import VialMove
from tests.browser.focus import assert_focus
from tests.factories import BoxFactory, LotFactory, RackFactory, StorageUnitFactory, UserFactory

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "rackscan"
SHOTS = Path("/tmp/shots")


def _scanned_box():
    """The box of the fixtures (see test_rackscan.scanned_box): two tubes swapped, one missing, one from another
    box, one unknown, one not stored yet, one unreadable."""
    unit = StorageUnitFactory(name="LN2-SCAN")
    rack = RackFactory(unit=unit, name="R1")
    box = BoxFactory(rack=rack, name="TR-1", barcode="SBB0090001", rows=8, cols=12)
    other = BoxFactory(rack=rack, name="M-B1", rows=9, cols=9, position=2)
    lot = LotFactory(status="released", vials=False)
    places = {1: (box, 1, 1), 2: (box, 1, 2), 3: (box, 1, 3), 4: (box, 1, 4), 5: (box, 1, 5), 6: (box, 1, 6),
              7: (other, 1, 1), 8: (None, None, None), 10: (box, 2, 1), 11: (box, 2, 2), 12: (box, 2, 3),
              13: (box, 2, 4)}
    for n, (where, row, col) in places.items():
        Vial.objects.create(lot=lot, number=n, barcode=f"SBV00900{n:02d}", box=where, row=row, col=col)
    return box


def test_rack_scan_page_shows_the_grid_by_outcome_and_stores(page, login, tmp_path):
    SHOTS.mkdir(exist_ok=True)
    box = _scanned_box()
    technician = UserFactory(username="scan-tech", role="technician")
    login(technician)
    page.click("#main-nav a[data-nav=storage]")
    page.click("#rack-scan-link")
    page.wait_for_url("**/storage/rack-scan/")
    assert_focus(page, "#id_box")
    page.set_input_files("#id_file", str(FIXTURES / "ziath_datapaq.csv"))
    page.click("#scan-submit")
    page.wait_for_selector("#scan-grid")
    outcome = {cell: page.locator(f'#scan-grid [data-cell="{cell}"]').get_attribute("data-outcome")
               for cell in ("A1", "A2", "A3", "A4", "A6", "A7", "A8", "A9", "H12")}
    assert outcome == {"A1": "match", "A2": "misplaced", "A3": "misplaced", "A4": "missing", "A6": "no_read",
                       "A7": "misplaced", "A8": "unknown", "A9": "unplaced", "H12": "empty"}
    assert "disagree" in page.inner_text("#scan-verdict")
    problems = page.inner_text("#scan-problems")
    assert "belongs in box M-B1 at A1" in problems and "SBV0090004 (lot" in problems
    page.screenshot(path=str(SHOTS / "rackscan_check.png"), full_page=True)

    # The unknown tube blocks the store (all or nothing): the page says so and nothing moves.
    page.fill("#id_reason", "Rack re-scanned after the audit")
    page.click("#store-submit")
    page.wait_for_selector("#store-error")
    assert "SBV0099999" in page.inner_text("#store-error")
    assert not VialMove.objects.exists()

    # Without it (the tube taken out of the rack), the store puts the database in line with the box.
    fixed = tmp_path / "rescan.csv"
    fixed.write_text((FIXTURES / "fluidx.csv").read_text().replace("SBV0099999", "NO TUBE"))
    page.goto(page.base_url + "/storage/rack-scan/")
    page.set_input_files("#id_file", str(fixed))
    page.click("#scan-submit")
    page.wait_for_selector("#store-from-scan")
    page.fill("#id_reason", "Rack re-scanned after the audit")
    page.click("#store-submit")
    page.wait_for_url(f"**/storage/boxes/{box.pk}/")
    assert "3 vials moved, 1 placed" in page.inner_text(".messages")
    assert "find them: SBV0090004 (A4)" in page.inner_text(".messages")
    assert page.locator('.boxmap [data-cell="A7"]').get_attribute("data-barcode") == "SBV0090007"
    page.screenshot(path=str(SHOTS / "rackscan_after_store.png"), full_page=True)


def test_batch_move_page_is_scanner_first(page, login):
    SHOTS.mkdir(exist_ok=True)
    unit = StorageUnitFactory(name="LN2-BATCH")
    rack = RackFactory(unit=unit, name="R1")
    home = BoxFactory(rack=rack, name="HOME", rows=5, cols=5)
    dest = BoxFactory(rack=rack, name="DEST", rows=5, cols=5, position=2)
    lot = LotFactory(status="released", vial_count=3)
    for vial in lot.vials.order_by("number"):
        Vial.objects.filter(pk=vial.pk).update(box=home, row=1, col=vial.number)
    technician = UserFactory(username="batch-tech", role="technician")
    login(technician)
    page.goto(page.base_url + "/storage/")
    page.click("#batch-move-link")
    page.wait_for_url("**/storage/batch-move/")
    for vial in lot.vials.order_by("number"):
        assert_focus(page, "#scan-vial")
        page.keyboard.type(vial.barcode)
        page.keyboard.press("Enter")
        page.wait_for_selector(f'#batch-list tr[data-barcode="{vial.barcode}"]')
    assert "3 vials in the batch" in page.inner_text("#batch-count")
    page.click(f'#batch-list tr[data-barcode="{lot.vials.get(number=3).barcode}"] button')
    page.wait_for_selector("#batch-count:has-text('2 vials in the batch')")
    page.keyboard.press("Enter")  # on the empty scan field: on to the destination
    page.wait_for_load_state()
    assert_focus(page, "#id_box")
    page.keyboard.type(dest.barcode)
    page.fill("#id_reason", "Consolidating boxes")
    page.screenshot(path=str(SHOTS / "batch_move.png"), full_page=True)
    page.click("#batch-submit")
    page.wait_for_url(f"**/storage/boxes/{dest.pk}/")
    assert "2 vials moved into box DEST." in page.inner_text(".messages")
    assert Vial.objects.filter(box=dest).count() == 2 and Vial.objects.filter(box=home).count() == 1
