"""The label API: vial selections, boxes and lots as PDF or ZPL; unknown codes refused by name; a big selection
handed to a job; printer profiles kept by admins only."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.test import override_settings

from bank.jobs import run_job
from bank.models import Job, PrinterProfile
from tests.factories import LotFactory
from tests.lots.test_labels import pdf_pages, pdf_text

pytestmark = pytest.mark.django_db

VIALS = "/api/v1/labels/vials/"
BOXES = "/api/v1/labels/boxes/"
LOTS = "/api/v1/labels/lots/"
PROFILES = "/api/v1/printer-profiles/"


def test_a_selection_of_vials_as_zpl_and_pdf(api, users, lot, make_profile):
    client = api(users["technician"])
    picked = [lot.vials.get(number=n) for n in (3, 1, 7)]
    zebra = make_profile(name="Zebra", output="zpl", dpi=203)
    response = client.post(VIALS, {"vials": [picked[0].barcode, picked[1].pk, picked[2].barcode.lower()],
                                   "profile": zebra.pk, "format": "zpl"}, format="json")
    assert response.status_code == 200, response.content
    assert response["Content-Type"].startswith("text/plain")
    zpl = response.content.decode()
    assert zpl.count("^XA") == 3 and "^PW260" in zpl and "^LL102" in zpl  # 1.28" x 0.5" at 203 dpi
    positions = [zpl.index(f"^FD{v.barcode}^FS") for v in picked]
    assert positions == sorted(positions)  # printed in the order given

    response = client.post(VIALS, {"vials": [v.barcode for v in picked]}, format="json")
    assert response.status_code == 200 and response["Content-Type"] == "application/pdf"
    text = pdf_text(response.content)
    for vial in picked:
        assert f"({vial.barcode}  {lot.cell_line.name}) Tj" in text


def test_unknown_barcodes_refuse_the_whole_selection_naming_them(api, users, lot):
    client = api(users["technician"])
    response = client.post(VIALS, {"vials": [lot.vials.first().barcode, "SBV99999998", "nope-1", 999999]},
                           format="json")
    assert response.status_code == 400
    message = response.json()["vials"][0]
    assert "SBV99999998" in message and "NOPE-1" in message and "999999" in message
    assert not Job.objects.exists()
    assert client.post(VIALS, {"vials": []}, format="json").status_code == 400
    assert client.post(VIALS, {"vials": [True]}, format="json").status_code == 400


def test_a_profile_of_another_kind_or_retired_is_refused(api, users, lot, make_profile):
    client = api(users["technician"])
    box_profile = make_profile(name="Box", kind="box", width_in=Decimal("2"), height_in=Decimal("1"))
    retired = make_profile(name="Old", active=False)
    barcode = lot.vials.first().barcode
    for profile in (box_profile, retired):
        response = client.post(VIALS, {"vials": [barcode], "profile": profile.pk}, format="json")
        assert response.status_code == 400 and "profile" in response.json()
    response = client.post(VIALS, {"vials": [barcode], "format": "png"}, format="json")
    assert response.status_code == 400 and "format" in response.json()


def test_box_labels_of_a_rack_a_unit_or_some_boxes(api, users, place):
    client = api(users["technician"])
    response = client.post(BOXES, {"rack": place.rack.pk, "format": "zpl"}, format="json")
    zpl = response.content.decode()
    assert response.status_code == 200 and zpl.count("^XA") == 2
    assert "^FDSBB00000101^FS" in zpl and "^FDSBB00000102^FS" in zpl and "SBB00000103" not in zpl
    response = client.post(BOXES, {"unit": place.unit.pk, "format": "zpl"}, format="json")
    assert response.content.decode().count("^XA") == 3
    response = client.post(BOXES, {"boxes": ["SBB00000103"], "format": "pdf"}, format="json")
    assert response.status_code == 200 and "(BOX C) Tj" in pdf_text(response.content)
    response = client.post(BOXES, {"boxes": ["SBB00000999"]}, format="json")
    assert response.status_code == 400 and "SBB00000999" in response.json()["boxes"][0]
    assert client.post(BOXES, {"rack": place.rack.pk, "unit": place.unit.pk}, format="json").status_code == 400
    assert client.post(BOXES, {"rack": 987654}, format="json").status_code == 404


def test_lot_labels_by_number_or_barcode(api, users, lot):
    client = api(users["qa"])
    response = client.post(LOTS, {"lots": ["mcb-lbl-0001"], "format": "zpl"}, format="json")
    assert response.status_code == 200
    zpl = response.content.decode()
    assert "^FDSBL00000077^FS" in zpl and "^FDLOT MCB-LBL-0001^FS" in zpl and "12 vials" in zpl
    response = client.post(LOTS, {"lots": ["SBL00000077"], "copies": 3}, format="json")
    assert response.status_code == 200 and pdf_text(response.content).count("(LOT MCB-LBL-0001) Tj") == 3
    assert client.post(LOTS, {"lots": ["MCB-NONE"]}, format="json").status_code == 400


def test_researchers_cannot_print_bank_labels(api, users, lot):
    response = api(users["researcher"]).post(VIALS, {"vials": [lot.vials.first().barcode]}, format="json")
    assert response.status_code == 403


@override_settings(LABEL_JOB_THRESHOLD=300)
def test_a_thousand_vial_selection_runs_as_a_job_whose_result_is_the_sheet(api, users, django_assert_max_num_queries):
    big = LotFactory(vial_count=1000, lot_number="MCB-BIG-0001")
    barcodes = list(big.vials.order_by("number").values_list("barcode", flat=True))
    client = api(users["technician"])
    # resolve the barcodes, check the profile, write the job and its outbox row (plus auth and savepoints)
    with django_assert_max_num_queries(12):
        response = client.post(VIALS, {"vials": barcodes}, format="json")
    assert response.status_code == 202, response.content
    job = Job.objects.get(pk=response.json()["job"]["id"])
    assert response["Location"].endswith(f"/api/v1/jobs/{job.pk}/")
    assert job.kind == "labels.sheet" and job.status == "queued" and job.user == users["technician"]
    assert run_job(job.pk) == "done"
    job.refresh_from_db()
    assert job.result["labels"] == 1000 and job.done == job.total and job.result_type == "application/pdf"
    data = job.result_file.read()
    assert len(pdf_pages(data)) == 12  # 85 vial labels a page on A4
    text = pdf_text(data)
    assert f"({barcodes[0]}  " in text and f"({barcodes[-1]}  " in text
    response = client.get(f"/api/v1/jobs/{job.pk}/result/")
    assert response.status_code == 200


@override_settings(LABEL_JOB_THRESHOLD=2)
def test_a_big_box_sheet_job_as_zpl_uses_the_profile_snapshot(api, users, place, make_profile):
    profile = make_profile(name="Box zebra", kind="box", output="zpl", width_in=Decimal("2"), height_in=Decimal("1"),
                           dpi=600)
    response = api(users["technician"]).post(BOXES, {"unit": place.unit.pk, "profile": profile.pk}, format="json")
    assert response.status_code == 202
    job = Job.objects.get(pk=response.json()["job"]["id"])
    PrinterProfile.objects.filter(pk=profile.pk).update(dpi=203)  # changed after the job was asked for
    assert run_job(job.pk) == "done"
    job.refresh_from_db()
    zpl = job.result_file.read().decode()
    assert zpl.count("^XA") == 3 and "^PW1200" in zpl and job.result_name.endswith(".zpl")


# --- printer profiles ----------------------------------------------------------------------------------------


def profile_payload(**values):
    payload = {"name": "Cryo 1.28 A4", "kind": "vial", "output": "pdf_sheet", "width_in": "1.28",
               "height_in": "0.5", "page_size": "A4", "is_default": True}
    payload.update(values)
    return payload


def test_only_admins_keep_printer_profiles(api, users, make_profile):
    profile = make_profile(name="Existing")
    for role in ("technician", "qa", "coordinator"):
        client = api(users[role])
        assert client.get(PROFILES).status_code == 200  # staff read them to choose one
        assert client.post(PROFILES, profile_payload(), format="json").status_code == 403
        assert client.patch(f"{PROFILES}{profile.pk}/", {"dpi": 600}, format="json").status_code == 403
    assert api(users["researcher"]).get(PROFILES).status_code == 403
    admin = api(users["admin"])
    response = admin.post(PROFILES, profile_payload(), format="json")
    assert response.status_code == 201, response.content
    created = PrinterProfile.objects.get(pk=response.json()["id"])
    record = created.history.get()
    assert record.history_user == users["admin"] and record.history_change_reason == "Printer profile created"


def test_a_new_default_takes_over_and_retiring_drops_the_default(api, users, make_profile):
    old = make_profile(name="Old default", is_default=True)
    admin = api(users["admin"])
    response = admin.post(PROFILES, profile_payload(name="New default"), format="json")
    assert response.status_code == 201
    old.refresh_from_db()
    assert not old.is_default and old.history.latest().history_user == users["admin"]
    new = PrinterProfile.objects.get(name="New default")
    response = admin.patch(f"{PROFILES}{new.pk}/", {"active": False}, format="json")
    assert response.status_code == 200 and response.json()["is_default"] is False
    assert api(users["technician"]).get(PROFILES, {"kind": "vial", "active": "true"}).json()["count"] == 1


def test_profile_figures_are_checked(api, users, make_profile):
    admin = api(users["admin"])
    response = admin.post(PROFILES, profile_payload(width_in="3", columns=4), format="json")
    assert response.status_code == 400 and "columns" in response.json()
    response = admin.post(PROFILES, profile_payload(dpi=250), format="json")
    assert response.status_code == 400 and "dpi" in response.json()
    make_profile(name="Taken")
    response = admin.post(PROFILES, profile_payload(name="Taken"), format="json")
    assert response.status_code == 400 and "name" in response.json()


@pytest.mark.django_db(transaction=True)
@override_settings(LABEL_JOB_THRESHOLD=2)
def test_a_label_job_runs_through_the_real_worker(celery_worker, api, users, place):
    import time

    response = api(users["technician"]).post(BOXES, {"unit": place.unit.pk, "format": "zpl"}, format="json")
    assert response.status_code == 202
    job_id = response.json()["job"]["id"]
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        job = Job.objects.get(pk=job_id)
        if job.finished:
            break
        time.sleep(0.2)
    assert job.status == "done", job.error
    assert job.result["labels"] == 3 and job.result_file.read().decode().count("^XA") == 3
