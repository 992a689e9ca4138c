"""Labels in Chromium: a technician scans vials into a selection and prints them; an admin keeps printer profiles.
Screenshots go to /tmp/shots/ (the selection page, the profiles page and a sheet page rendered as an image)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
from playwright.sync_api import expect

from bank.printers import seed_default_profiles
from tests.factories import BoxFactory, LotFactory, RackFactory, StorageUnitFactory, UserFactory
from tests.lots.test_labels import pdf_text

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]
SHOTS = Path("/tmp/shots")


def test_a_technician_scans_vials_into_a_selection_and_prints_their_labels(page, login):
    admin = UserFactory(username="label-admin", role="admin")
    seed_default_profiles(actor=admin)
    tech = UserFactory(username="label-tech", role="technician")
    lot = LotFactory(vial_count=30, lot_number="MCB-2026-0042")
    other = LotFactory(vial_count=5, lot_number="WCB-2026-0007")
    picked = [lot.vials.get(number=3).barcode, other.vials.get(number=1).barcode, lot.vials.get(number=17).barcode]
    login(tech)
    page.click("#main-nav a[data-nav=labels]")
    page.wait_for_url("**/labels/")
    expect(page.locator("#id_scan")).to_be_focused()  # ready for the scanner
    for code in picked:  # a keyboard-wedge scanner: the code, then Enter
        page.keyboard.type(code)
        page.keyboard.press("Enter")
    expect(page.locator("#id_codes")).to_have_value("\n".join(picked) + "\n")
    expect(page.locator("#code-count")).to_have_text("(3)")
    page.keyboard.type("SBV99999999")  # a barcode the bank never issued
    page.keyboard.press("Enter")
    SHOTS.mkdir(exist_ok=True)
    page.screenshot(path=str(SHOTS / "labels-selection.png"), full_page=True)
    with page.expect_navigation():
        page.keyboard.press("Enter")  # the scan field is empty: Enter prints
    expect(page.locator("#codes-error")).to_contain_text("SBV99999999")
    page.screenshot(path=str(SHOTS / "labels-selection-unknown.png"), full_page=True)

    codes = "\n".join(picked)
    page.fill("#id_codes", codes)
    page.select_option("#id_format", "pdf")
    response = page.request.post(page.base_url + "/labels/", form={
        "csrfmiddlewaretoken": page.input_value("input[name=csrfmiddlewaretoken]"), "codes": codes,
        "format": "pdf", "copies": "1", "profile": page.input_value("#id_profile")},
        headers={"Referer": page.base_url + "/labels/"})
    assert response.ok and response.headers["content-type"] == "application/pdf"
    data = response.body()
    text = pdf_text(data)
    for code in picked:
        assert f"({code}  " in text
    (SHOTS / "labels-selection.pdf").write_bytes(data)
    if shutil.which("pdftoppm"):  # the sheet as the printer gets it
        subprocess.run(["pdftoppm", "-png", "-r", "110", "-f", "1", "-l", "1", "-singlefile",
                        str(SHOTS / "labels-selection.pdf"), str(SHOTS / "labels-sheet")], check=True)


def test_an_admin_keeps_printer_profiles_and_prints_box_labels(page, login):
    admin = UserFactory(username="label-admin2", role="admin")
    unit = StorageUnitFactory(name="LN2-A")
    rack = RackFactory(unit=unit, name="Rack 3")
    for n in range(1, 7):
        BoxFactory(rack=rack, name=f"B{n:02d}", position=n, barcode=f"SBB000002{n:02d}")
    login(admin)
    page.goto(page.base_url + "/labels/printers/")
    expect(page.locator("#no-profiles")).to_be_visible()
    page.click("#seed-profiles")
    expect(page.locator("#profiles tbody tr")).to_have_count(5)
    page.click("#add-profile")
    page.screenshot(path=str(SHOTS / "labels-printer-form.png"), full_page=True)
    page.fill("#id_name", "Zebra ZD421 box 2.25 x 1.25")
    page.select_option("#id_kind", "box")
    page.select_option("#id_output", "zpl")
    page.fill("#id_width_in", "2.25")
    page.fill("#id_height_in", "1.25")
    page.select_option("#id_dpi", "203")
    page.press("#id_height_in", "Enter")
    page.wait_for_url("**/labels/printers/")
    expect(page.locator("#profiles")).to_contain_text("Zebra ZD421 box 2.25 x 1.25")
    page.screenshot(path=str(SHOTS / "labels-printers.png"), full_page=True)

    page.goto(page.base_url + f"/storage/racks/{rack.pk}/")
    page.click("#box-labels")
    expect(page.locator("#print-summary")).to_contain_text("6 box labels")
    page.screenshot(path=str(SHOTS / "labels-boxes.png"), full_page=True)
    with page.expect_download() as download:
        page.select_option("#id_profile", label="Zebra ZD421 box 2.25 x 1.25")
        page.click("#print")
    zpl = Path(download.value.path()).read_text()
    assert zpl.count("^XA") == 6 and "^PW457" in zpl and "^LL254" in zpl  # 2.25" x 1.25" at 203 dpi


def test_the_lot_page_leads_to_its_own_label_and_to_some_vials(page, login):
    tech = UserFactory(username="label-tech3", role="technician")
    lot = LotFactory(vial_count=8, lot_number="MCB-2026-0077")
    login(tech)
    page.goto(page.base_url + f"/lots/{lot.pk}/#labels")
    page.locator("#labels").screenshot(path=str(SHOTS / "labels-lot-section.png"))
    page.click("#some-vial-labels")
    expect(page.locator("#id_lot")).to_have_value("MCB-2026-0077")
    page.fill("#id_numbers", "2-4")
    page.select_option("#id_format", "zpl")
    with page.expect_download() as download:
        page.press("#id_numbers", "Enter")
    zpl = Path(download.value.path()).read_text()
    assert zpl.count("^XA") == 3
    page.goto(page.base_url + f"/lots/{lot.pk}/")
    page.click("#lot-label")
    expect(page.locator("#print-summary")).to_contain_text("MCB-2026-0077")
    posted = f"/labels/lots/{lot.pk}/"
    with page.expect_response(lambda r: r.url.endswith(posted) and r.request.method == "POST") as info:
        page.click("#print")
    assert info.value.headers["content-type"] == "application/pdf"
