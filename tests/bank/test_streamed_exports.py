"""Issue 13, "exports streamed": every row export is a streamed download written by ``bank.exports``, with the
same columns, headers, file names and encodings as before, and a number of queries that does not grow with the
number of rows (a constant per chunk of ``bank.exports.CHUNK_SIZE`` rows).

The row exports: the cord blood inventory in WMDA/EMDIS fields (``/api/v1/cordblood/export/inventory.csv``) and
the audit trail for inspectors (``/api/v1/audit/export.csv``, ``/audit/?format=csv``,
``/audit/<type>/<id>/export.csv``). The donor import template is two lines whatever the bank's size: written by
the same CSV writer, not streamed.
"""

from __future__ import annotations

import csv
import io

import pytest
from django.db import connection
from django.http import StreamingHttpResponse
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from bank import exports
from bank.models import Notification
from bank.notifications import notify
from cordblood import export
from cordblood.models import CordBloodUnit
from donors.services import import_columns
from tests import cordblood_factories as cb
from tests.cordblood import helpers as h

pytestmark = pytest.mark.django_db

INVENTORY = "/api/v1/cordblood/export/inventory.csv"
INVENTORY_HEADER = (
    "GRID_OR_CBU_ID,LOCAL_ID,STATUS,STATUS_REASON,STATUS_END_DATE,ABO,RH,TNC_POST_PROCESSING,CD34_POST_PROCESSING,"
    "VOLUME_FROZEN_ML,NRBC_PCT,COLLECTION_DATE,FREEZE_DATE,PROCESSING_METHOD,SEX,BIRTH_WEIGHT_G,"
    "GESTATIONAL_AGE_WEEKS,ETHNICITY,BAGS,ATTACHED_SEGMENTS,REFERENCE_SAMPLES,MATERNAL_SAMPLES,HLA_A_1,HLA_A_2,"
    "HLA_B_1,HLA_B_2,HLA_C_1,HLA_C_2,HLA_DRB1_1,HLA_DRB1_2,HLA_DQB1_1,HLA_DQB1_2,HLA_DPB1_1,HLA_DPB1_2,"
    "LAST_UPDATED")
AUDIT_HEADER = ("time (UTC),user,user name,action,record type,record id,changes,reason,history table,history id,"
                "chain link,chain state")


def body(response) -> str:
    return b"".join(response.streaming_content).decode("utf-8")


def queries_of(call) -> int:
    with CaptureQueriesContext(connection) as ctx:
        call()
    return len(ctx.captured_queries)


# --- the helper -------------------------------------------------------------------------------------------


def test_stream_csv_is_a_streamed_attachment_with_the_header_at_once():
    rows = ([i, f"name {i}", "x,y"] for i in range(3))
    response = exports.stream_csv("things.csv", ["id", "name", "note"], rows, bom=True)
    assert isinstance(response, StreamingHttpResponse) and response.streaming is True
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert response["Content-Disposition"] == 'attachment; filename="things.csv"'
    first = next(iter(response.streaming_content))
    assert first == "\ufeffid,name,note\r\n".encode()  # the download starts before any row is read
    rest = b"".join(response.streaming_content).decode()
    assert rest == '0,name 0,"x,y"\r\n1,name 1,"x,y"\r\n2,name 2,"x,y"\r\n'


def test_csv_chunks_hold_about_a_buffer_each_never_the_whole_file():
    row = ["x" * 100]
    pieces = list(exports.csv_chunks(["h"], (row for _ in range(5000))))  # ~0.5 MB
    assert pieces[0] == "h\r\n"
    assert len(pieces) > 5
    assert all(len(p) < exports.BUFFER_SIZE + 200 for p in pieces)
    assert "".join(pieces) == "h\r\n" + ("x" * 100 + "\r\n") * 5000
    assert list(exports.csv_chunks(["h"], [])) == ["h\r\n"]


def test_keyset_chunks_read_a_chunk_a_query_in_pk_order(django_assert_num_queries):
    for i in range(5):
        notify([h.qa()], subject=f"n{i}", email=False)
    with django_assert_num_queries(4):  # three chunks (2, 2, 1) and the empty one that ends the read
        chunks = list(exports.keyset_chunks(Notification.objects.order_by("-pk"), chunk_size=2))
    assert [len(c) for c in chunks] == [2, 2, 1]
    pks = [n.pk for c in chunks for n in c]
    assert pks == sorted(pks)


# --- the cord blood inventory (WMDA/EMDIS) ----------------------------------------------------------------


def test_the_inventory_export_streams_the_same_file(api):
    listed = cb.unit(hla={"a_1": "A*02:01", "a_2": "A*24:02"})
    cb.unit(ownership="family")
    response = api(h.qa()).get(INVENTORY)
    assert response.status_code == 200 and response.streaming is True
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert response["Content-Disposition"] == 'attachment; filename="cord-blood-inventory.csv"'
    text = body(response)
    assert not text.startswith("\ufeff")
    header, *rows = text.splitlines()
    assert header == INVENTORY_HEADER and len(rows) == 1
    row = next(csv.reader([rows[0]]))
    donation = listed.donation
    assert row[:22] == [
        listed.din, listed.lot.lot_number, "AV", "", "", "O", "+", "1500000000", "5000000", "25.0", "8.50",
        timezone.localtime(donation.collection.collected_at).date().isoformat(),
        timezone.localtime(listed.frozen_at).date().isoformat(), "HES sedimentation", "F", "3300", "39",
        donation.infant.population, "1", "2", "3", "1"]
    assert row[22:24] == ["A*02:01", "A*24:02"]
    assert row[-1] == timezone.localtime(listed.listing_changed_at).isoformat()
    since = timezone.localdate().isoformat()
    response = api(h.qa()).get(INVENTORY, {"since": since})
    assert response.streaming is True
    assert response["Content-Disposition"] == f'attachment; filename="cord-blood-inventory-since-{since}.csv"'
    assert len(body(response).splitlines()) == 2


def test_the_inventory_export_keeps_its_permission(api):
    assert api(h.technician()).get(INVENTORY).status_code == 403
    assert api(None).get(INVENTORY).status_code in (401, 403)


def test_the_inventory_export_runs_the_same_queries_for_n_and_3n_units(api, django_assert_num_queries):
    client = api(h.qa())
    client.get(INVENTORY)  # the user's permissions, cached on the user for the next calls
    for _i in range(2):
        cb.unit()
    # one chunk: the units with donation, infant, HLA, collection and lot (1), their containers' kinds (1); then the
    # empty chunk that ends the file (1)
    with django_assert_num_queries(3):
        assert len("".join(export.inventory_csv()).splitlines()) == 3
    small = queries_of(lambda: body(client.get(INVENTORY)))
    for _i in range(4):
        cb.unit()
    with django_assert_num_queries(3):
        assert len("".join(export.inventory_csv()).splitlines()) == 7
    large = queries_of(lambda: body(client.get(INVENTORY)))
    assert small == large


def test_the_inventory_is_read_a_chunk_at_a_time_and_chunks_change_nothing(django_assert_num_queries):
    for _i in range(5):
        cb.unit()
    whole = "".join(export.inventory_csv())
    # three chunks of 2, 2 and 1 units (2 queries each) and the empty chunk (1)
    with django_assert_num_queries(7):
        assert "".join(export.inventory_csv(chunk=2)) == whole
    dins = [line.split(",")[0] for line in whole.splitlines()[1:]]
    assert dins == list(CordBloodUnit.objects.order_by("pk").values_list("din", flat=True))


# --- the audit trail --------------------------------------------------------------------------------------


def rows_of(text: str) -> list[list[str]]:
    assert text.startswith("\ufeff")  # UTF-8 with a byte-order mark, so spreadsheets read Chinese text
    return list(csv.reader(io.StringIO(text[1:])))


def test_the_audit_export_streams_the_same_file(api, users, client):
    note = notify([users["qa"]], subject="液氮罐 3 号", email=False)[0]
    response = api(users["admin"]).get("/api/v1/audit/export.csv", {"object_type": "notification",
                                                                    "object_id": note.pk})
    assert response.status_code == 200 and response.streaming is True
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert response["Content-Disposition"] == f'attachment; filename="audit-notification-{note.pk}.csv"'
    text = body(response)
    assert text.startswith("\ufeff" + AUDIT_HEADER + "\r\n")
    header, *rows = rows_of(text)
    assert len(rows) == 1
    row = rows[0]
    assert row[3:6] == ["created", "notification", str(note.pk)] and "液氮罐 3 号" in row[6]
    assert row[8] == Notification.history.model._meta.db_table
    assert row[9] == str(Notification.history.get().history_id)
    # the pages stream the same file
    client.force_login(users["admin"])
    page = client.get(f"/audit/notification/{note.pk}/export.csv")
    assert page.streaming is True and body(page) == text
    today = timezone.localdate().isoformat()
    ranged = client.get("/audit/", {"object_type": "notification", "date_from": today, "date_to": today,
                                    "format": "csv"})
    assert ranged.streaming is True and body(ranged) == text
    assert ranged["Content-Disposition"] == f'attachment; filename="audit-notification-{today}-{today}.csv"'


def test_the_audit_export_keeps_its_permissions(api, users):
    today = timezone.localdate().isoformat()
    assert api(users["researcher"]).get("/api/v1/audit/export.csv", {"from": today, "to": today}).status_code == 403
    assert api(None).get("/api/v1/audit/export.csv", {"from": today, "to": today}).status_code == 401


def test_the_audit_export_runs_the_same_queries_for_n_and_3n_entries(api, users):
    client = api(users["admin"])
    today = timezone.localdate().isoformat()
    params = {"object_type": "notification", "from": today, "to": today}
    client.get("/api/v1/audit/export.csv", params)  # the user's permissions, cached on the user
    notify([users["qa"]] * 4, subject="first", email=False)
    small = queries_of(lambda: len(rows_of(body(client.get("/api/v1/audit/export.csv", params)))))
    notify([users["qa"]] * 8, subject="more", email=False)
    captured = []
    large = queries_of(lambda: captured.append(rows_of(body(client.get("/api/v1/audit/export.csv", params)))))
    assert len(captured[0]) == 1 + 12
    assert small == large


# --- not a row export -------------------------------------------------------------------------------------


def test_the_donor_import_template_is_two_lines_and_not_streamed(client, users):
    client.force_login(users["coordinator"])
    response = client.get("/donors/import/template.csv")
    assert response.status_code == 200 and response.streaming is False
    assert response["Content-Disposition"] == 'attachment; filename="donor-import-template.csv"'
    text = response.content.decode()
    assert not text.startswith("\ufeff") and text.count("\r\n") == 2
    header, example = list(csv.reader(io.StringIO(text)))
    assert header == import_columns()
    assert example[header.index("full_name")] == "Example Name"
    assert example[header.index("consent_signed_on")] == f"{timezone.localdate():%Y-%m-%d}"
