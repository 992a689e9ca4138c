"""The quality pages (server-rendered): the refusal codes as a bench page shows them, the training matrix, the SOP,
equipment and material pages, the QA dashboard panel, and who may open them."""

from __future__ import annotations

import pytest
from django.test import Client
from django.urls import reverse

from quality.models import SOP, Equipment, Material, Training
from tests.factories import CultureFactory
from tests.qc.factories import qc_lot
from tests.quality.helpers import approve, days, instrument, material, today, train

pytestmark = pytest.mark.django_db


def client_for(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def post_result(client, lot, **extra):
    data = {"test": "sterility", "sterility-outcome": "negative", "sterility-tested_on": today().isoformat(),
            "sterility-method": "BacT/ALERT", **extra}
    return client.post(reverse("qc:lot-results", args=[lot.pk]), data)


def test_the_qc_results_page_shows_training_required(users):
    approve("SOP-QC-001", "1", ["qc_result"])
    lot = qc_lot()
    response = post_result(client_for(users["technician"]), lot)
    body = response.content.decode()
    assert response.status_code == 200 and "no current training on SOP-QC-001 version 1" in body
    assert not lot.qc_results.exists()


def test_the_qc_results_page_shows_equipment_not_calibrated(users):
    instrument("FC-01", due=days(-2))
    lot = qc_lot()
    response = post_result(client_for(users["technician"]), lot, **{"sterility-instrument": "FC-01"})
    assert "Instrument FC-01 may not be used" in response.content.decode()
    assert not lot.qc_results.exists()


@pytest.mark.parametrize("released,expired,message", [
    (False, False, "is not released by QA"), (True, True, "expired on")])
def test_the_passage_service_refuses_the_materials(users, released, expired, message):
    """The lots passage page has no materials field yet (the API has): the service the page calls refuses with the
    message a page would show."""
    from bank.errors import Conflict
    from lots import services as lot_services

    item = material("MT-P", released=released)
    if expired:
        Material.objects.filter(pk=item.pk).update(expires_on=days(-1))
    with pytest.raises(Conflict) as refused:
        lot_services.record_passage(CultureFactory(), passaged_on=today(), materials=[item.pk],
                                    actor=users["technician"])
    assert message in refused.value.detail


def test_the_culture_page_shows_training_required_for_a_passage(users):
    approve("SOP-CUL-001", "1", ["passage"])
    culture = CultureFactory()
    response = client_for(users["technician"]).post(reverse("lots:culture_detail", args=[culture.pk]), {
        "passaged_on": today().isoformat(), "split_ratio": "1:6"})
    assert "no current training on SOP-CUL-001 version 1" in response.content.decode()
    assert not culture.passages.exists()


@pytest.mark.parametrize("released,expires_in,code_text", [
    (False, 300, "is not released by QA"),   # material_not_released
    (True, -1, "expired on"),                 # material_expired
])
def test_the_culture_page_refuses_a_passage_citing_an_unusable_material(users, released, expires_in, code_text):
    """The passage form takes the material lots scanned off the bottles (their lot numbers): the gate's refusal is
    a form error that says what to do, and nothing is saved; a released lot in date is recorded for the trace."""
    culture = CultureFactory()
    bad = material("MT-BAD", released=released, expires_on=days(expires_in))
    good = material("MT-GOOD", released=True, expires_on=days(300))
    client = client_for(users["technician"])
    url = reverse("lots:culture_detail", args=[culture.pk])
    response = client.post(url, {"passaged_on": today().isoformat(), "split_ratio": "1:6",
                                 "materials": "MT-GOOD\nmt-bad"})
    body = response.content.decode()
    assert response.status_code == 400 and code_text in body and bad.lot_number in body
    assert not culture.passages.exists()
    unknown = client.post(url, {"passaged_on": today().isoformat(), "materials": "MT-NOPE"})
    assert unknown.status_code == 400 and "No material lot MT-NOPE" in unknown.content.decode()
    ok = client.post(url, {"passaged_on": today().isoformat(), "split_ratio": "1:6", "materials": "MT-GOOD"})
    assert ok.status_code == 302
    assert list(good.uses.values_list("passage__culture_id", flat=True)) == [culture.pk]


def test_the_training_matrix_page(users):
    v1 = approve("SOP-CUL-001", "1", ["passage"], effective_on=days(-100), title="Passaging")
    approve("SOP-QC-001", "1", ["qc_result"])
    train(users["technician"], v1, trained_on=days(-90), expires_on=days(-1))
    response = client_for(users["technician"]).get(reverse("quality:matrix"))
    body = response.content.decode()
    assert response.status_code == 200
    assert 'data-user="technician"' in body and 'data-state="expired"' in body and "SOP-QC-001" in body
    assert 'id="training-form"' not in body  # technicians read the matrix; QA records trainings


def test_qa_records_a_training_on_the_matrix_page(users):
    approve("SOP-QC-001", "1", ["qc_result"])
    client = client_for(users["qa"])
    bad = client.post(reverse("quality:matrix"), {"user": "nobody", "sop": "SOP-QC-001",
                                                  "trained_on": today().isoformat(), "assessment": "passed"})
    assert bad.status_code == 400 and "No user" in bad.content.decode()
    ok = client.post(reverse("quality:matrix"), {"user": "technician", "sop": "SOP-QC-001",
                                                 "trained_on": today().isoformat(), "assessment": "passed"})
    assert ok.status_code == 302 and Training.objects.filter(user=users["technician"]).count() == 1
    assert client_for(users["technician"]).post(reverse("quality:matrix"), {
        "user": "technician", "sop": "SOP-QC-001", "trained_on": today().isoformat(),
        "assessment": "passed"}).status_code == 403


def test_qa_approves_an_sop_on_the_page(users, password):
    client = client_for(users["qa"])
    data = {"code": "SOP-STO-001", "title": "Storage moves", "version": "1", "effective_on": today().isoformat(),
            "activities": ["storage_move"]}
    wrong = client.post(reverse("quality:sops"), {**data, "password": "nope"})
    assert wrong.status_code == 400 and "password is not correct" in wrong.content.decode()
    assert not SOP.objects.exists()
    ok = client.post(reverse("quality:sops"), {**data, "password": password})
    sop = SOP.objects.get()
    assert ok.status_code == 302 and ok.url == reverse("quality:sop", args=[sop.pk])
    page = client.get(ok.url).content.decode()
    assert 'data-state="in_force"' in page and "Storage move" in page and users["qa"].get_full_name() in page


def test_equipment_pages(users):
    instrument("FC-01", due=days(-2))
    instrument("CC-01", due=days(200))
    client = client_for(users["qa"])
    due = client.get(reverse("quality:equipment") + "?state=attention").content.decode()
    assert 'data-equipment="FC-01"' in due and 'data-state="overdue"' in due and 'data-equipment="CC-01"' not in due
    item = Equipment.objects.get(code="FC-01")
    response = client.post(reverse("quality:equipment-detail", args=[item.pk]), {
        "kind": "calibration", "performed_on": today().isoformat(), "passed": "true",
        "next_due_on": days(365).isoformat(), "certificate": "CAL-1"})
    assert response.status_code == 302
    item.refresh_from_db()
    assert item.calibration_due_on == days(365)
    bad = client.post(reverse("quality:equipment"), {"code": "CC-01", "name": "again", "kind": "cell_counter",
                                                     "calibration_due_on": days(5).isoformat()})
    assert bad.status_code == 400 and "already in the register" in bad.content.decode()


def test_material_pages_release_and_trace(users, password):
    item = material("MT-9", released=False)
    client = client_for(users["qa"])
    listed = client.get(reverse("quality:materials") + "?q=MT-9").content.decode()
    assert 'data-material="MT-9"' in listed and 'data-status="quarantine"' in listed
    wrong = client.post(reverse("quality:material", args=[item.pk]), {"password": "nope"})
    assert wrong.status_code == 400
    ok = client.post(reverse("quality:material", args=[item.pk]), {"password": password, "inspection": "OK"})
    assert ok.status_code == 302
    page = client.get(reverse("quality:material", args=[item.pk])).content.decode()
    assert 'id="forward-trace"' in page and "Released" in page
    assert client_for(users["technician"]).post(reverse("quality:material", args=[item.pk]),
                                                {"password": password}).status_code == 403


@pytest.mark.parametrize("role,status", [("qa", 200), ("technician", 200), ("coordinator", 200),
                                         ("researcher", 403)])
@pytest.mark.parametrize("name", ["quality:matrix", "quality:sops", "quality:equipment", "quality:materials"])
def test_who_opens_the_pages(users, role, status, name):
    assert client_for(users[role]).get(reverse(name)).status_code == status


def test_the_dashboard_panel_surfaces_what_needs_attention(users):
    instrument("FC-01", due=days(-2))
    expired = material("VN-1")
    Material.objects.filter(pk=expired.pk).update(expires_on=days(-1))
    body = client_for(users["qa"]).get(reverse("dashboard")).content.decode()
    assert 'id="quality-panel"' in body and "1 calibrations overdue" in body
    assert "1 released material lot has expired" in body


def test_qa_rejects_a_material_lot_on_its_page(users, password):
    item = material("MT-REJ-PAGE", released=False)
    client = client_for(users["qa"])
    url = reverse("quality:material", args=[item.pk])
    no_reason = client.post(url, {"password": password, "decision": "reject"})
    assert no_reason.status_code == 400 and "Say why the lot is rejected" in no_reason.content.decode()
    ok = client.post(url, {"password": password, "decision": "reject", "inspection": "Sterility failed"})
    assert ok.status_code == 302
    item.refresh_from_db()
    assert item.status == "rejected" and item.inspection == "Sterility failed"


def test_a_passage_citing_a_unicode_digit_is_a_form_error(users):
    """"²" is a digit to Python's str.isdigit but not to int(): it is an unknown material lot, never a 500."""
    culture = CultureFactory()
    response = client_for(users["technician"]).post(reverse("lots:culture_detail", args=[culture.pk]), {
        "passaged_on": today().isoformat(), "materials": "²"})
    assert response.status_code == 400 and "No material lot ²" in response.content.decode()
    huge = client_for(users["technician"]).post(reverse("lots:culture_detail", args=[culture.pk]), {
        "passaged_on": today().isoformat(), "materials": "9" * 20})  # past a bigint: a lot number, unknown
    assert huge.status_code == 400 and "No material lot " + "9" * 20 in huge.content.decode()
