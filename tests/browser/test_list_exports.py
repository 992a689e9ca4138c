"""Issue 17, exports, in Chromium: a technician filters the lot list and downloads it as CSV and XLSX; the export
holds every released lot (not only the page shown), and a formula-like cell stays text."""

import csv
import io
import re
from pathlib import Path

import openpyxl
import pytest
from django.test import override_settings
from playwright.sync_api import expect

from tests.factories import CellLineFactory, LotFactory, UserFactory

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

SHOTS = Path("/tmp/shots")


def test_a_technician_exports_the_filtered_lot_list_as_csv_and_xlsx(page, login):
    tech = UserFactory(username="export-tech", role="technician")
    line = CellLineFactory(name="=HYPERLINK-A")
    released = [LotFactory(cell_line=line, status="released", vials=False) for _ in range(3)]
    LotFactory(status="quarantine", vials=False)
    login(tech)
    page.goto(page.base_url + "/lots/?status=released")
    links = page.locator("[data-export-links]")
    expect(links).to_be_visible()
    expect(links.locator("[data-export=csv]")).to_have_attribute("href", "?status=released&export=csv")
    SHOTS.mkdir(exist_ok=True)
    page.screenshot(path=str(SHOTS / "exports_lot_list.png"), full_page=False)

    with page.expect_download() as download:
        links.locator("[data-export=csv]").click()
    assert download.value.suggested_filename.startswith("lots-") and download.value.suggested_filename.endswith(
        ".csv")
    text = Path(download.value.path()).read_text(encoding="utf-8-sig")
    rows = list(csv.reader(io.StringIO(text)))
    assert sorted(r[0] for r in rows[1:]) == sorted(lot.lot_number for lot in released)
    assert {r[1] for r in rows[1:]} == {"'=HYPERLINK-A"}

    with page.expect_download() as download:
        links.locator("[data-export=xlsx]").click()
    assert download.value.suggested_filename.endswith(".xlsx")
    sheet = openpyxl.load_workbook(io.BytesIO(Path(download.value.path()).read_bytes())).active
    values = list(sheet.values)
    assert sorted(r[0] for r in values[1:]) == sorted(lot.lot_number for lot in released)
    assert sheet["B2"].value == "=HYPERLINK-A" and sheet["B2"].data_type == "s"


@override_settings(JOB_PROGRESS_INTERVAL=0, EXPORT_XLSX_SYNC_MAX_ROWS=2)
def test_a_big_xlsx_export_is_made_by_the_worker_and_downloaded_from_the_job_page(page, login, celery_worker,
                                                                                  tmp_path, settings):
    settings.STORAGES = {**settings.STORAGES, "default": {"BACKEND": "django.core.files.storage.FileSystemStorage",
                                                          "OPTIONS": {"location": str(tmp_path)}}}
    tech = UserFactory(username="export-tech-2", role="technician")
    released = [LotFactory(status="released", vials=False) for _ in range(4)]
    LotFactory(status="quarantine", vials=False)
    login(tech)
    page.goto(page.base_url + "/lots/?status=released")
    page.click("[data-export-links] [data-export=xlsx]")
    page.wait_for_url(re.compile(r".*/jobs/\d+/$"))
    expect(page.locator("#job-status")).to_have_text("Done", timeout=30_000)
    expect(page.locator("#job-count")).to_have_text("4 of 4")
    SHOTS.mkdir(exist_ok=True)
    page.screenshot(path=str(SHOTS / "exports_xlsx_job_done.png"), full_page=False)
    with page.expect_download() as download:
        page.click("#job-download")
    assert download.value.suggested_filename.startswith("lots-") and download.value.suggested_filename.endswith(
        ".xlsx")
    values = list(openpyxl.load_workbook(io.BytesIO(Path(download.value.path()).read_bytes())).active.values)
    assert sorted(r[0] for r in values[1:]) == sorted(lot.lot_number for lot in released)
