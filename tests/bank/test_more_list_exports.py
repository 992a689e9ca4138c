"""Issue 17, exports of the pages a review found without one (``bank.exports``):

- the QA release board (``/qc/``): every lot awaiting release with its QC progress and what stands in the way;
- the QC results worklist (``/qc/results/``): every lot waiting for results with the tests still missing;
- a record's audit trail (``/audit/<type>/<id>/``): CSV and now XLSX of the same columns as its export.csv;
- the screening panel (``/donors/panel/``): its markers.

Each export holds every row of its page's read (not only the rows the page shows), for the roles that may see the
page and no other, with formula-like cells neutralised in CSV and written as text in XLSX.
"""

from __future__ import annotations

import csv
import datetime
import io

import openpyxl
import pytest
from django.urls import reverse
from django.utils import timezone

from bank import audit_export, exports
from bank.audit import acting
from bank.jobs import run_job
from bank.models import Job
from donors.models import ScreeningMarker
from qc import services
from qc.models import Recheck
from tests.factories import DonorIdentityFactory, LotFactory
from tests.qc.factories import enter_panel, panel_codes, qc_lot
from tests.qc.test_stability import TODAY, released_lot

pytestmark = pytest.mark.django_db

FORMULA = '=HYPERLINK("http://evil.example","x")'


def csv_rows(response) -> list[list[str]]:
    assert response.status_code == 200, response
    assert response.streaming, "a CSV export is streamed"
    text = b"".join(response.streaming_content).decode("utf-8")
    assert text.startswith("\ufeff")
    return list(csv.reader(io.StringIO(text[1:])))


def xlsx_sheet(response):
    assert response.status_code == 200 and response["Content-Type"] == exports.XLSX_TYPE
    return openpyxl.load_workbook(io.BytesIO(response.content)).active


def no_formula(sheet) -> bool:
    return all(cell.data_type != "f" for row in sheet.iter_rows() for cell in row)


# --- lots awaiting release: the QA release board and the QC results worklist --------------------------------------


@pytest.fixture
def awaiting(users, password):
    """Three lots in quarantine (complete and passing; viability failed; karyotype missing, its line named like a
    formula), 51 more of one line frozen later, and lots that are not in quarantine (released; on hold)."""
    technician = users["technician"]
    today = timezone.localdate()
    ready = qc_lot(frozen_on=today - datetime.timedelta(days=30))
    enter_panel(ready, technician)
    failed = qc_lot(frozen_on=today - datetime.timedelta(days=29))
    enter_panel(failed, technician, override={"viability": {"value": "50"}})
    missing = qc_lot(frozen_on=today - datetime.timedelta(days=28), line_name=FORMULA)
    enter_panel(missing, technician, skip=("karyotype",))
    more = [LotFactory(cell_line=ready.cell_line, vials=False, frozen_on=today - datetime.timedelta(days=10))
            for _ in range(51)]
    released = LotFactory(status="released", vials=False)
    held = released_lot(users, password, due_in_days=0)
    services.open_due_rechecks(today=TODAY)
    services.record_recheck_result(Recheck.objects.get(lot=held), actor=technician, viability_pct="40",
                                   tested_on=today)
    held.refresh_from_db()
    assert held.status == "on_hold"
    return {"ready": ready, "failed": failed, "missing": missing, "more": more, "others": [released, held]}


BOARD_HEADER = ["Lot", "Cell line", "Tier", "Frozen on", "Results entered", "Tests in the specification", "Failed",
                "Donor eligibility", "Consent withdrawn", "Ready to sign", "What stands in the way", "Details"]
WORKLIST_HEADER = ["Lot", "Cell line", "Tier", "Frozen on", "Results entered", "Tests in the specification",
                   "Still missing"]


def test_the_release_board_exports_every_lot_awaiting_release_with_its_qc_progress(client, users, awaiting):
    ready, failed, missing = awaiting["ready"], awaiting["failed"], awaiting["missing"]
    client.force_login(users["qa"])
    page = client.get("/qc/").content.decode()
    assert 'data-export="xlsx"' in page and 'href="?export=xlsx"' in page
    assert page.count("data-lot=") == 50  # the board shows the 50 oldest; the export has them all

    header, *rows = csv_rows(client.get("/qc/", {"export": "csv"}))
    assert header == BOARD_HEADER
    by_lot = {r[0]: r for r in rows}
    expected = {lot.lot_number for lot in (ready, failed, missing, *awaiting["more"])}
    assert set(by_lot) == expected and len(rows) == 54  # neither the released nor the held lot
    total = str(len(panel_codes(ready)))
    assert by_lot[ready.lot_number] == [
        ready.lot_number, ready.cell_line.name, "MCB", ready.frozen_on.isoformat(), total, total, "", "Eligible",
        "no", "yes", "", ""]
    row = by_lot[failed.lot_number]
    assert row[4:10] == [total, total, "viability", "Eligible", "no", "no"]
    assert row[10] == "QC failed" and "failed viability" in row[11]
    row = by_lot[missing.lot_number]
    assert row[1] == "'" + FORMULA  # neutralised
    assert row[4:6] == [str(len(panel_codes(missing)) - 1), str(len(panel_codes(missing)))]
    assert row[10] == "QC incomplete" and "karyotype" in row[11]
    assert by_lot[awaiting["more"][0].lot_number][4] == "0"

    sheet = xlsx_sheet(client.get("/qc/", {"export": "xlsx"}))
    values = list(sheet.values)
    assert list(values[0]) == BOARD_HEADER and len(values) == 55
    cells = {row[0].value: row for row in sheet.iter_rows(min_row=2)}
    line = cells[missing.lot_number][1]
    assert line.value == FORMULA and line.data_type == "s" and line.quotePrefix
    first = cells[ready.lot_number]
    assert first[3].value == datetime.datetime.combine(ready.frozen_on, datetime.time())  # a typed date
    assert first[4].value == int(total) and first[9].value == "yes"
    assert no_formula(sheet)


def test_the_worklist_exports_every_lot_waiting_for_results_with_what_is_missing(client, users, awaiting):
    ready, missing = awaiting["ready"], awaiting["missing"]
    client.force_login(users["technician"])
    page = client.get("/qc/results/").content.decode()
    assert 'data-export="csv"' in page and 'href="?export=csv"' in page
    assert page.count("data-lot=") == 50

    # The scan field's code is no filter of the list: the export is the worklist whatever it says.
    header, *rows = csv_rows(client.get("/qc/results/", {"export": "csv", "code": ready.lot_number}))
    assert header == WORKLIST_HEADER
    by_lot = {r[0]: r for r in rows}
    assert len(rows) == 54 and set(by_lot) == {lot.lot_number for lot in (
        ready, awaiting["failed"], missing, *awaiting["more"])}
    total = str(len(panel_codes(ready)))
    assert by_lot[ready.lot_number] == [ready.lot_number, ready.cell_line.name, "MCB", ready.frozen_on.isoformat(),
                                        total, total, ""]
    assert by_lot[missing.lot_number][1] == "'" + FORMULA and by_lot[missing.lot_number][6] == "karyotype"
    more = by_lot[awaiting["more"][0].lot_number]
    assert more[4] == "0" and more[6].split(", ") == panel_codes(awaiting["more"][0])

    sheet = xlsx_sheet(client.get("/qc/results/", {"export": "xlsx"}))
    values = list(sheet.values)
    assert list(values[0]) == WORKLIST_HEADER and len(values) == 55
    assert {v[0]: v[6] for v in values[1:]}[missing.lot_number] == "karyotype"
    assert no_formula(sheet)


@pytest.mark.parametrize(("url", "name", "refused"), [
    ("/qc/", "qc.release_board", ["technician", "researcher", "coordinator", "medical_director"]),
    ("/qc/results/", "qc.worklist", ["researcher", "coordinator", "medical_director", "clinician"]),
])
def test_who_may_not_see_the_page_gets_no_export(client, users, url, name, refused):
    qc_lot()
    for role in refused:
        client.force_login(users[role])
        assert client.get(url).status_code == 403, role
        for fmt in ("csv", "xlsx"):
            assert client.get(url, {"export": fmt}).status_code == 403, (role, fmt)
        with pytest.raises(exports.PermissionDenied):
            exports.build(name, users[role], {})
        # nor through a job in the worker
        job = exports.start_export_job(name, user=users[role], params={}, title=name)
        assert run_job(job.pk) == Job.Status.FAILED
    client.force_login(users["admin"])
    assert client.get(url, {"export": "csv"}).status_code == 200


def test_the_worklist_export_runs_a_constant_number_of_queries_per_chunk(client, users, monkeypatch):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    line = qc_lot().cell_line
    monkeypatch.setattr(exports, "CHUNK_SIZE", 5)
    client.force_login(users["technician"])

    def queries(n_lots):
        while len(awaiting_numbers()) < n_lots:
            LotFactory(cell_line=line, vials=False)
        with CaptureQueriesContext(connection) as ctx:
            rows = csv_rows(client.get("/qc/results/", {"export": "csv"}))
        assert len(rows) == n_lots + 1
        return len(ctx.captured_queries)

    def awaiting_numbers():
        from qc.queries import awaiting_release

        return list(awaiting_release().values_list("lot_number", flat=True))

    queries(1)  # a running server has read the specifications' criteria (qc.queries.spec_criteria) already
    one, two, four = queries(5), queries(10), queries(20)  # 1, 2 and 4 chunks of 5 lots
    per_chunk = two - one
    assert 0 < per_chunk <= 16 and four - one == 3 * per_chunk  # a chunk's cost, whatever its rows


# --- a record's audit trail ------------------------------------------------------------------------------------


@pytest.fixture
def trail(users):
    """A lot changed twice (the second time with a reason a spreadsheet would run), and another lot."""
    lot = LotFactory(vials=False, notes="first")
    with acting(users["technician"], "recounted"):
        lot.notes = "second"
        lot.save(update_fields=["notes"])
    with acting(users["qa"], FORMULA):
        lot.notes = "@SUM(A1)"
        lot.save(update_fields=["notes"])
    LotFactory(vials=False, notes="someone else")
    return lot


def test_a_record_s_audit_trail_exports_csv_and_xlsx_with_the_columns_of_its_csv(client, users, trail):
    client.force_login(users["technician"])
    url = reverse("audit", args=["lot", trail.pk])
    page = client.get(url).content.decode()
    # CSV at its own address, XLSX from the page, PDF as before
    assert f'href="/audit/lot/{trail.pk}/export.csv" data-export="csv"' in page
    assert 'href="?export=xlsx" data-export="xlsx"' in page
    assert f"/audit/lot/{trail.pk}/export.pdf" in page

    existing = csv_rows(client.get(f"/audit/lot/{trail.pk}/export.csv"))
    header, *rows = csv_rows(client.get(url, {"export": "csv", "page": "2"}))
    assert header == existing[0] == audit_export.csv_header() == [
        "time (UTC)", "user", "user name", "action", "record type", "record id", "changes", "reason",
        "history table", "history id", "chain link", "chain state"]
    assert [header, *rows] == existing  # the same rows and cells as the trail's CSV
    history = list(trail.history.order_by("history_id"))
    assert [r[9] for r in rows] == [str(h.history_id) for h in history] and len(rows) == 3  # this lot's only
    assert [r[3] for r in rows] == ["created", "updated", "updated"]
    assert {r[5] for r in rows} == {str(trail.pk)} and rows[1][1] == "technician" and rows[1][7] == "recounted"
    assert rows[2][7] == "'" + FORMULA and '"notes": ["second", "@SUM(A1)"]' in rows[2][6]

    response = client.get(url, {"export": "xlsx"})
    assert response["Content-Disposition"].startswith('attachment; filename="audit-trail-')
    sheet = xlsx_sheet(response)
    values = list(sheet.values)
    assert list(values[0]) == header and len(values) == 4
    assert [v[9] for v in values[1:]] == [h.history_id for h in history]  # ids stay numbers
    for got, want in zip(values[1:], rows, strict=True):
        assert [exports.csv_cell(v) for v in got] == want
    reason = list(sheet.iter_rows(min_row=4))[0][7]
    assert reason.value == FORMULA and reason.data_type == "s" and reason.quotePrefix
    assert no_formula(sheet)


def test_the_audit_trail_export_keeps_the_audit_permissions(client, users, trail):
    url = reverse("audit", args=["lot", trail.pk])
    client.force_login(users["researcher"])  # no audit trail at all
    assert client.get(url).status_code == 403
    for fmt in ("csv", "xlsx"):
        assert client.get(url, {"export": fmt}).status_code == 403
    with pytest.raises(exports.PermissionDenied):
        exports.build("bank.audit", users["researcher"], {"object_type": "lot", "object_id": str(trail.pk)})
    # a technician reads a lot's trail, not a donor identity's
    identity = DonorIdentityFactory()
    client.force_login(users["technician"])
    url = reverse("audit", args=["donoridentity", identity.pk])
    assert client.get(url).status_code == 403
    for fmt in ("csv", "xlsx"):
        assert client.get(url, {"export": fmt}).status_code == 403
    with pytest.raises(exports.PermissionDenied):
        exports.build("bank.audit", users["technician"], {"object_type": "donoridentity",
                                                          "object_id": str(identity.pk)})
    assert client.get(reverse("audit", args=["nosuchthing", 1]), {"export": "csv"}).status_code == 400


def test_a_long_audit_trail_as_xlsx_is_a_job_for_the_same_record(client, users, trail, settings):
    settings.EXPORT_XLSX_SYNC_MAX_ROWS = 2
    client.force_login(users["technician"])
    response = client.get(reverse("audit", args=["lot", trail.pk]), {"export": "xlsx"})
    job = Job.objects.get(kind=exports.JOB_KIND)
    assert response.status_code == 302 and response.url == reverse("job", args=[job.pk])
    assert job.params["query"] == {"object_type": ["lot"], "object_id": [str(trail.pk)]}
    assert run_job(job.pk) == Job.Status.DONE
    job.refresh_from_db()
    rows = list(openpyxl.load_workbook(io.BytesIO(job.result_file.read())).active.values)
    assert rows[0][0] == "time (UTC)" and [r[9] for r in rows[1:]] == list(
        trail.history.order_by("history_id").values_list("history_id", flat=True))


# --- the screening panel ------------------------------------------------------------------------------------


def test_the_screening_panel_exports_its_markers(client, users):
    ScreeningMarker.objects.create(code="ZZ-FORMULA", name="@SUM(A1)", tissues=["cord_blood", "placenta"],
                                   required=False, order=999)
    client.force_login(users["technician"])
    page = client.get("/donors/panel/").content.decode()
    assert 'href="?export=xlsx"' in page
    header, *rows = csv_rows(client.get("/donors/panel/", {"export": "csv"}))
    assert header == ["Code", "Marker", "Required", "For tissues"]
    markers = list(ScreeningMarker.objects.order_by("order", "code"))
    assert sorted(r[0] for r in rows) == sorted(m.code for m in markers) and len(markers) > 1
    by_code = {r[0]: r for r in rows}
    assert by_code["ZZ-FORMULA"] == ["ZZ-FORMULA", "'@SUM(A1)", "no", "Cord blood, Placenta"]
    everywhere = next(m for m in markers if m.required and not m.tissues)
    assert by_code[everywhere.code][2:] == ["yes", "every collection"]

    sheet = xlsx_sheet(client.get("/donors/panel/", {"export": "xlsx"}))
    cells = {row[0].value: row for row in sheet.iter_rows(min_row=2)}
    assert cells["ZZ-FORMULA"][1].value == "@SUM(A1)" and cells["ZZ-FORMULA"][1].quotePrefix
    assert no_formula(sheet)

    client.force_login(users["researcher"])
    assert client.get("/donors/panel/", {"export": "csv"}).status_code == 403
    with pytest.raises(exports.PermissionDenied):
        exports.build("donors.markers", users["researcher"], {})
