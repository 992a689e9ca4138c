"""The API door (200 report, 202 job, 400, 403), templates, big files as jobs (the real worker), query counts."""

from __future__ import annotations

import io
import time

import pytest
from django.contrib.contenttypes.models import ContentType
from django.db import connection
from django.test.utils import CaptureQueriesContext
from openpyxl import load_workbook

from bank.jobs import run_job
from bank.models import Job
from imports.choices import RunStatus
from imports.models import ImportRun
from imports.services import start_import
from lots.models import Vial
from tests.imports.conftest import build_file, vial_rows


@pytest.mark.django_db
def test_api_import_answers_the_report(place, users, api):
    rows = vial_rows("ABCi001-A", "MCB-2020-100", "QBOX1", 3)
    client = api(users["technician"])
    answer = client.post("/api/v1/imports/inventory/", {"file": build_file("inventory", rows), "source": "old-lims",
                                                        "dry_run": "true"}, format="multipart")
    assert answer.status_code == 200, answer.json()
    assert answer.json()["status"] == "validated" and answer.json()["created"] == {"lots": 1, "vials": 3}
    bad = [{**rows[0], "position": "Z9"}]
    answer = client.post("/api/v1/imports/inventory/", {"file": build_file("inventory", bad), "source": "old-lims"},
                         format="multipart")
    assert answer.status_code == 200 and answer.json()["status"] == "rejected"
    assert answer.json()["errors"][0] | {"message": ""} == {"row": 2, "column": "position", "message": ""}
    answer = client.post("/api/v1/imports/inventory/", {"file": build_file("cell_lines", []), "source": "old-lims"},
                         format="multipart")
    assert answer.status_code == 400 and "file" in answer.json()
    answer = client.post("/api/v1/imports/inventory/", {"source": "old-lims"}, format="multipart")
    assert answer.status_code == 400 and "file" in answer.json()
    answer = client.post("/api/v1/imports/cord_blood/", {"file": build_file("cord_blood", []), "source": "x"},
                         format="multipart")
    assert answer.status_code == 403 and answer.json()["code"] == "import_not_allowed"
    assert api(users["researcher"]).post("/api/v1/imports/inventory/", {"source": "x"}).status_code == 403
    runs = client.get("/api/v1/imports/runs/").json()
    assert [r["status"] for r in runs["results"]] == ["rejected", "validated"]
    detail = client.get(f"/api/v1/imports/runs/{runs['results'][0]['id']}/").json()
    assert detail["report"]["errors"][0]["column"] == "position"


@pytest.mark.django_db
def test_templates_download_as_csv_and_xlsx(users, api, client):
    client.force_login(users["coordinator"])
    body = client.get("/imports/templates/cord_blood.csv").content.decode()
    assert body.startswith("external_id,din,ownership,mother_id") and "hla_a_1" in body
    answer = api(users["technician"]).get("/api/v1/imports/inventory/template/?filetype=xlsx")
    book = load_workbook(io.BytesIO(answer.content), read_only=True)
    header = next(book.worksheets[0].iter_rows(values_only=True))
    assert header[:3] == ("lot_number", "cell_line", "tier") and "vial_barcode" in header
    assert book.sheetnames == ["import", "columns"]


@pytest.mark.django_db
def test_a_big_file_runs_as_a_job_and_its_bad_rows_are_the_jobs_result(place, users, api, settings):
    settings.IMPORTS_SYNC_MAX_BYTES = 10
    rows = vial_rows("ABCi001-A", "MCB-2020-110", "QBOX1", 4)
    rows[3]["position"] = "A1"  # twice
    answer = api(users["technician"]).post("/api/v1/imports/inventory/",
                                           {"file": build_file("inventory", rows, "xlsx"), "source": "old-lims"},
                                           format="multipart")
    assert answer.status_code == 202 and answer["Location"].endswith(f"/api/v1/jobs/{answer.json()['job']['id']}/")
    job = Job.objects.get(pk=answer.json()["job"]["id"])
    assert run_job(job.pk) == "failed"
    job.refresh_from_db()
    assert "nothing was imported" in job.error
    assert job.result["errors"][0]["row"] == 5 and job.result["errors"][0]["column"] == "position"
    assert job.result_file.open("rb").read().decode().startswith("row,column,message")
    rows[3]["position"] = "A4"
    job = start_import("inventory", build_file("inventory", rows), actor=users["technician"],
                       source="old-lims")[0].job
    assert run_job(job.pk) == "done"
    job.refresh_from_db()
    assert job.result["created"] == {"lots": 1, "vials": 4} and job.done == job.total == 8
    assert ImportRun.objects.get(job=job).status == RunStatus.IMPORTED


@pytest.mark.django_db(transaction=True)
def test_a_job_import_through_the_real_worker(celery_worker, place, users, settings):
    settings.IMPORTS_SYNC_MAX_BYTES = 10
    rows = vial_rows("ABCi001-A", "MCB-2020-120", "QBOX1", 6)
    run, report = start_import("inventory", build_file("inventory", rows), actor=users["technician"],
                               source="old-lims")
    assert report is None and run.job_id
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:  # the run ends inside the job, and the job's own status is saved after it
        run.refresh_from_db()
        if run.finished and Job.objects.get(pk=run.job_id).finished:
            break
        time.sleep(0.2)
    assert run.status == RunStatus.IMPORTED, run.report
    assert Vial.objects.filter(barcode__startswith="LEG-MCB-2020-120").count() == 6
    assert Job.objects.get(pk=run.job_id).status == "done"


def _import_queries(users, n: int, lot: str, first_box: int) -> int:
    rows = []
    for k in range(n):  # five vials per lot, in one 26 x 26 box
        row = vial_rows("ABCi001-A", f"{lot}-{k // 5:03d}", f"QBOX{first_box}", 1, prefix=f"Q{n}-{k}")[0]
        r, c = divmod(k, 26)
        rows.append({**row, "position": f"{chr(65 + r)}{c + 1}"})
    upload = build_file("inventory", rows)
    ContentType.objects.clear_cache()  # the same cold caches for every measure
    actor = type(users["technician"]).objects.get(pk=users["technician"].pk)
    with CaptureQueriesContext(connection) as queries:
        run, report = start_import("inventory", upload, actor=actor, source="old-lims")
    assert report["status"] == RunStatus.IMPORTED, report["errors"][:3]
    return len(queries)


@pytest.mark.django_db
def test_queries_grow_with_batches_not_rows(place, users, settings):
    """A batch costs a fixed number of queries, whatever its size: 40 rows in batches of 20 cost what 400 rows in
    batches of 200 cost. Per batch, validation: external IDs, vial barcodes, lots' external IDs, lot numbers, lot
    barcodes (pass 1 and 2 each) and the first time lines, boxes and their occupied places; writing: lot barcodes
    (sequence), lots + history, lot external IDs, vials + history, moves + history, vial external IDs."""
    from tests.factories import BoxFactory

    for i in range(2, 12):
        BoxFactory(rack=place["q_box"].rack, name=f"QB{i}", barcode=f"QBOX{i}", rows=26, cols=26)
    settings.IMPORTS_BATCH_SIZE = 20
    small = _import_queries(users, 40, "MCB-QS", 2)
    settings.IMPORTS_BATCH_SIZE = 200
    big = _import_queries(users, 400, "MCB-QB", 3)
    # Two batches each: 19 queries for the run (permissions, the run row and its status, the first look-ups of the
    # line, the box and its occupied places, in both passes, the box lock, the savepoints) and 21 per batch (pass 1
    # and pass 2 each look up the batch's external IDs, vial barcodes, lots' external IDs and lot numbers; pass 2
    # takes lot barcodes from the sequence and inserts lots, vials and moves with their history rows, and the
    # external IDs of lots and vials).
    assert small == big == 61
    settings.IMPORTS_BATCH_SIZE = 20
    assert _import_queries(users, 80, "MCB-QT", 4) == 61 + 2 * 21  # two batches more
