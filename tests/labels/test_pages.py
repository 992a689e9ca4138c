"""The label pages: a selection of vials, boxes of a rack or unit, a lot's label; printer profiles for admins."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.test import Client, override_settings

from bank.jobs import run_job
from bank.models import Job, PrinterProfile
from tests.lots.test_labels import pdf_text

pytestmark = pytest.mark.django_db


def client_for(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def test_the_selection_page_prints_scanned_and_pasted_vials(users, lot, make_profile):
    client = client_for(users["technician"])
    page = client.get("/labels/")
    assert page.status_code == 200 and b"data-scan-target" in page.content and b"autofocus-scan" in page.content
    zebra = make_profile(name="Zebra 300", output="zpl")
    a, b, c = (lot.vials.get(number=n) for n in (2, 4, 6))
    response = client.post("/labels/", {"codes": f"{a.barcode}\n{b.barcode}, ", "scan": c.barcode,
                                        "profile": zebra.pk, "format": "", "copies": 1})
    assert response.status_code == 200 and response["Content-Disposition"].startswith("attachment;")
    zpl = response.content.decode()
    assert zpl.count("^XA") == 3 and all(f"^FD{v.barcode}^FS" in zpl for v in (a, b, c))


def test_the_selection_page_names_unknown_barcodes(users, lot):
    client = client_for(users["technician"])
    response = client.post("/labels/", {"codes": f"{lot.vials.first().barcode}\nSBV00000000\nXX-1",
                                        "format": "pdf", "copies": 1})
    assert response.status_code == 400
    page = response.content.decode()
    assert 'id="codes-error"' in page and "SBV00000000" in page and "XX-1" in page


def test_some_vials_of_a_lot_by_number(users, lot):
    client = client_for(users["technician"])
    assert f'value="{lot.lot_number}"' in client.get(f"/labels/?lot={lot.pk}").content.decode()
    response = client.post("/labels/", {"lot": lot.lot_number, "numbers": "1-3, 10", "format": "zpl", "copies": 1})
    zpl = response.content.decode()
    assert response.status_code == 200 and zpl.count("^XA") == 4
    assert f"^FD{lot.vials.get(number=10).barcode}^FS" in zpl and lot.vials.get(number=4).barcode not in zpl
    response = client.post("/labels/", {"lot": lot.lot_number, "numbers": "11-13", "format": "zpl", "copies": 1})
    assert response.status_code == 400 and "has no vial number 13." in response.content.decode()


@override_settings(LABEL_JOB_THRESHOLD=5)
def test_a_big_selection_goes_to_the_job_page(users, lot):
    client = client_for(users["technician"])
    response = client.post("/labels/", {"lot": lot.lot_number, "format": "pdf", "copies": 1})
    job = Job.objects.get()
    assert response.status_code == 302 and response["Location"] == f"/jobs/{job.pk}/"
    assert run_job(job.pk) == "done"
    job.refresh_from_db()
    assert job.result["labels"] == 12 and job.result_name == f"vial-labels-{lot.lot_number.lower()}.pdf"


def test_box_labels_of_a_rack_from_the_print_page(users, place):
    client = client_for(users["technician"])
    page = client.get(f"/labels/boxes/?rack={place.rack.pk}")
    assert page.status_code == 200 and "2 box labels" in page.content.decode()
    response = client.post("/labels/boxes/", {"rack": place.rack.pk, "format": "pdf", "copies": 2})
    assert response.status_code == 200 and response["Content-Type"] == "application/pdf"
    text = pdf_text(response.content)
    assert text.count("(BOX A) Tj") == 2 and text.count("(BOX B) Tj") == 2 and "(BOX C) Tj" not in text
    response = client.post("/labels/boxes/", {"box": place.box_c.pk, "format": "zpl", "copies": 1})
    assert "^FDSBB00000103^FS" in response.content.decode()


def test_the_lot_label_page(users, lot, make_profile):
    client = client_for(users["technician"])
    make_profile(name="Lot sheet", kind="lot", width_in=Decimal("2.625"), height_in=Decimal("1"), is_default=True)
    assert client.get(f"/labels/lots/{lot.pk}/").status_code == 200
    response = client.post(f"/labels/lots/{lot.pk}/", {"format": "", "copies": 1})
    assert response.status_code == 200 and "(LOT MCB-LBL-0001) Tj" in pdf_text(response.content)


def test_links_from_the_lot_box_rack_and_unit_pages(users, lot, place):
    client = client_for(users["technician"])
    assert f'href="/labels/lots/{lot.pk}/"' in client.get(f"/lots/{lot.pk}/").content.decode()
    assert f"/labels/boxes/?box={place.box_a.pk}" in client.get(f"/storage/boxes/{place.box_a.pk}/").content.decode()
    assert f"/labels/boxes/?rack={place.rack.pk}" in client.get(f"/storage/racks/{place.rack.pk}/").content.decode()
    assert f"/labels/boxes/?unit={place.unit.pk}" in client.get(f"/storage/units/{place.unit.pk}/").content.decode()


# --- printer profiles ----------------------------------------------------------------------------------------


def test_printer_profiles_are_for_admins_only(users, make_profile):
    profile = make_profile(name="Existing")
    for role in ("technician", "qa", "coordinator"):
        client = client_for(users[role])
        assert client.get("/labels/printers/").status_code == 403
        assert client.get(f"/labels/printers/{profile.pk}/").status_code == 403
        assert client.post("/labels/printers/defaults/").status_code == 403
        assert client.post(f"/labels/printers/{profile.pk}/active/", {"active": "0"}).status_code == 403
    assert PrinterProfile.objects.get(pk=profile.pk).active


def test_an_admin_seeds_creates_edits_and_retires_profiles(users, django_assert_max_num_queries):
    client = client_for(users["admin"])
    page = client.get("/labels/printers/")
    assert page.status_code == 200 and 'id="no-profiles"' in page.content.decode()
    client.post("/labels/printers/defaults/")
    assert PrinterProfile.objects.count() == 5
    assert set(PrinterProfile.objects.filter(is_default=True).values_list("kind", flat=True)) == {"vial", "box", "lot"}
    client.post("/labels/printers/defaults/")  # idempotent
    assert PrinterProfile.objects.count() == 5
    # the list: session, user, permissions, the count and the page of profiles
    with django_assert_max_num_queries(8):
        page = client.get("/labels/printers/")
    assert page.content.decode().count("data-profile=") == 5

    response = client.post("/labels/printers/new/", {
        "name": "Tube 1 x 0.5, Zebra 600", "kind": "vial", "output": "zpl", "width_in": "1", "height_in": "0.5",
        "page_size": "A4", "margin_left_in": "0.5", "margin_top_in": "0.5", "gap_x_in": "0.1", "gap_y_in": "0.1",
        "dpi": "600", "is_default": "on"})
    assert response.status_code == 302, response.context["form"].errors.as_text()
    new = PrinterProfile.objects.get(name="Tube 1 x 0.5, Zebra 600")
    assert new.is_default and not PrinterProfile.objects.get(name__startswith="Cryo vial 1.28 x 0.5 in, A4").is_default

    response = client.post(f"/labels/printers/{new.pk}/", {
        "name": new.name, "kind": "vial", "output": "pdf_sheet", "width_in": "4", "height_in": "0.5",
        "page_size": "A4", "columns": "3", "margin_left_in": "0.5", "margin_top_in": "0.5", "gap_x_in": "0.1",
        "gap_y_in": "0.1", "dpi": "600"})
    assert response.status_code == 400 and "do not fit across" in response.content.decode()

    client.post(f"/labels/printers/{new.pk}/active/", {"active": "0"})
    new.refresh_from_db()
    assert not new.active and not new.is_default
    assert new.history.latest().history_change_reason == "Printer profile retired"


def test_a_unit_with_more_boxes_than_one_selection_says_so_and_keeps_its_title(users, place, settings):
    settings.LABEL_SELECTION_MAX = 2
    client = client_for(users["technician"])
    page = client.get(f"/labels/boxes/?unit={place.unit.pk}").content.decode()
    assert "Box labels of unit LN2-LBL" in page
    response = client.post("/labels/boxes/", {"unit": place.unit.pk, "format": "pdf", "copies": 1})
    assert response.status_code == 400
    assert "At most 2 labels at a time; this asks for 3." in response.content.decode()
