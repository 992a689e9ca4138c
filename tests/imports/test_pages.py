"""The import page in Chromium: choose the kind and the file, Enter submits, the dry-run report names each bad row
and column; a good file imported; a big one followed on the job page through the real worker. Screenshots go to
/tmp/shots/imports/."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from django.test import override_settings
from playwright.sync_api import expect

from imports.models import ImportRun
from lots.models import Vial
from tests.imports.conftest import build_file, vial_rows

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

SHOTS = Path(os.environ.get("IMPORT_SHOTS", "/tmp/shots/imports"))


def _file(tmp_path, name: str, rows, fmt="csv") -> str:
    upload = build_file("inventory", rows, fmt)
    path = tmp_path / f"{name}.{fmt}"
    path.write_bytes(upload.read())
    return str(path)


def test_dry_run_report_then_import_from_the_page(page, login, place, users, tmp_path):
    SHOTS.mkdir(parents=True, exist_ok=True)
    rows = vial_rows("ABCi001-A", "MCB-2017-001", "QBOX1", 6)
    bad = [dict(r) for r in rows]
    bad[1]["position"] = "J1"
    bad[3]["box"] = "NO-SUCH-BOX"
    bad[4]["frozen_on"] = "2017-13-40"
    login(users["technician"])
    page.goto(page.base_url + "/imports/")
    expect(page.locator("#id_file")).to_be_focused()
    page.screenshot(path=str(SHOTS / "imports_index.png"), full_page=True)
    page.select_option("#id_kind", "inventory")
    page.set_input_files("#id_file", _file(tmp_path, "bad", bad, "xlsx"))
    page.fill("#id_source", "old-lims")
    page.press("#id_source", "Enter")  # Enter submits; the dry run is ticked by default
    expect(page.locator("#import-outcome")).to_have_attribute("data-status", "rejected")
    expect(page.locator("#import-errors tbody tr")).to_have_count(3)
    expect(page.locator('#import-errors tr[data-row="3"]')).to_contain_text("position")
    expect(page.locator('#import-errors tr[data-row="5"]')).to_contain_text("NO-SUCH-BOX")
    page.screenshot(path=str(SHOTS / "imports_rejected.png"), full_page=True)
    with page.expect_download() as download:
        page.click("#errors-csv")
    assert Path(download.value.path()).read_text().startswith("row,column,message")

    page.click("#import-another")
    page.set_input_files("#id_file", _file(tmp_path, "good", rows))
    page.fill("#id_source", "old-lims")
    page.press("#id_source", "Enter")
    expect(page.locator("#import-outcome")).to_have_attribute("data-status", "validated")
    expect(page.locator("#import-counts")).to_contain_text("Vials")
    page.screenshot(path=str(SHOTS / "imports_dry_run.png"), full_page=True)
    assert not Vial.objects.filter(barcode__startswith="LEG-MCB-2017-001").exists()

    page.click("#import-another")
    page.set_input_files("#id_file", _file(tmp_path, "good", rows))
    page.fill("#id_source", "old-lims")
    page.uncheck("#id_dry_run")
    page.press("#id_source", "Enter")
    expect(page.locator("#import-outcome")).to_have_attribute("data-status", "imported")
    assert Vial.objects.filter(barcode__startswith="LEG-MCB-2017-001").count() == 6
    page.goto(page.base_url + "/imports/")
    expect(page.locator("#runs tbody tr")).to_have_count(3)
    page.screenshot(path=str(SHOTS / "imports_history.png"), full_page=True)


@override_settings(JOB_PROGRESS_INTERVAL=0, IMPORTS_SYNC_MAX_BYTES=0, IMPORTS_BATCH_SIZE=50)
def test_a_big_import_is_followed_on_the_job_page(page, login, place, users, tmp_path, celery_worker):
    rows = vial_rows("ABCi001-A", "MCB-2016-001", "QBOX1", 81)
    login(users["technician"])
    page.goto(page.base_url + "/imports/")
    page.select_option("#id_kind", "inventory")
    page.set_input_files("#id_file", _file(tmp_path, "big", rows))
    page.fill("#id_source", "old-lims")
    page.uncheck("#id_dry_run")
    page.press("#id_source", "Enter")
    page.wait_for_url("**/jobs/*/")
    expect(page.locator("#job-status")).to_have_text("Done", timeout=30_000)
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / "imports_job_done.png"), full_page=True)
    run = ImportRun.objects.get(filename="big.csv")
    assert run.status == "imported" and Vial.objects.filter(box=place["q_box"]).count() == 81
