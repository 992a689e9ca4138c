"""The transplant pages (issue 12): a clinician's navigation holds nothing of the bank's, every page renders, the
forms call the services and show their refusals."""

from __future__ import annotations

import datetime

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils import timezone

from tests import cordblood_factories as cb
from tests.transplant import helpers as tx
from transplant import services
from transplant.models import Order, Patient, Reservation, TypingRequest

pytestmark = pytest.mark.django_db

BANK_PAGES = ["/donors/", "/lots/", "/storage/", "/qc/", "/distribution/requests/", "/distribution/trace/"]


@pytest.fixture
def clin(db):
    return tx.clinician()


@pytest.fixture
def pat(clin):
    return tx.patient(clin)


def nav_keys(html: str) -> list[str]:
    import re

    return re.findall(r'data-nav="([a-z-]+)"', html)


def test_a_clinician_sees_only_the_transplant_navigation_and_no_bank_page(client, clin):
    client.force_login(clin)
    keys = nav_keys(client.get("/").content.decode())
    assert keys[:3] == ["dashboard", "transplant", "transplant-patients"]
    assert not set(keys) & {"donors", "lots", "storage", "qc", "qc-results", "requests", "trace", "catalog", "api",
                            "users", "cordblood"}, keys
    for url in BANK_PAGES:
        assert client.get(url).status_code in (403, 404), url


def test_staff_see_the_worklist(client, users):
    for role in ("technician", "qa", "medical_director"):
        client.force_login(users[role])
        assert "transplant" in nav_keys(client.get("/").content.decode()), role
        assert client.get("/transplant/").status_code == 200, role
    client.force_login(users["researcher"])
    assert "transplant" not in nav_keys(client.get("/").content.decode())
    assert client.get("/transplant/").status_code == 403


def test_register_a_patient_and_search(client, clin):
    unit = cb.unit()
    family = cb.unit(ownership="family")
    client.force_login(clin)
    assert client.get("/transplant/patients/new/").status_code == 200
    response = client.post("/transplant/patients/new/", {
        "code": "P-100", "diagnosis": "AML", "weight_kg": "25.0", "abo": "O", "rh": "pos",
        "hla_A": "A*24:02", "hla_B": "B*52:01 B*52:01", "hla_DRB1": "DRB1*15:02"})
    patient = Patient.objects.get(code="P-100")
    assert response.status_code == 302 and response.url == f"/transplant/patients/{patient.pk}/"
    assert patient.hla["A"] == ["A*24:02", "A*24:02"]
    html = client.get(response.url).content.decode()
    assert unit.din in html and family.din not in html
    assert unit.donation.infant.code not in html  # never the donor
    html = client.get(f"{response.url}?abo=A").content.decode()
    assert unit.din not in html


def test_a_bad_hla_shows_on_the_form(client, clin):
    client.force_login(clin)
    response = client.post("/transplant/patients/new/", {"code": "P-101", "diagnosis": "AML", "weight_kg": "25",
                                                         "hla_A": "A*2402", "hla_B": "B*52:01", "hla_DRB1": "x"})
    assert response.status_code == 400
    assert "WHO nomenclature" in response.content.decode()


def test_request_typing_reserve_and_order_from_the_patient_page(client, clin, pat):
    unit = cb.unit()
    client.force_login(clin)
    client.post(f"/transplant/patients/{pat.pk}/typing/", {"unit": unit.pk})
    assert TypingRequest.objects.filter(unit=unit, patient=pat).exists()
    until = (timezone.localdate() + datetime.timedelta(days=10)).isoformat()
    client.post(f"/transplant/patients/{pat.pk}/reserve/", {"unit": unit.pk, "until": until})
    reservation = Reservation.objects.get(unit=unit)
    response = client.post(f"/transplant/reservations/{reservation.pk}/order/", {
        "infusion_date": (timezone.localdate() - datetime.timedelta(days=1)).isoformat()})
    assert response.status_code == 400 and "cannot be in the past" in response.content.decode()
    response = client.post(f"/transplant/reservations/{reservation.pk}/order/", {
        "infusion_date": timezone.localdate().isoformat()})
    order = Order.objects.get()
    assert response.status_code == 302 and response.url == f"/transplant/orders/{order.pk}/"
    assert client.get(response.url).status_code == 200


def test_the_director_is_told_on_the_page_what_makes_a_release_exceptional(client, clin, pat, users, password):
    unit = cb.unit()
    order = tx.ordered(unit, pat, clin)
    client.force_login(users["medical_director"])
    html = client.get(f"/transplant/orders/{order.pk}/").content.decode()
    assert 'data-exception="ct_missing"' in html
    response = client.post(f"/transplant/orders/{order.pk}/release/", {"password": password})
    assert response.status_code == 400 and "document the justification" in response.content.decode()
    response = client.post(f"/transplant/orders/{order.pk}/release/", {"password": password,
                                                                       "justification": "No time for CT"})
    assert response.status_code == 302
    client.force_login(users["technician"])
    log = SimpleUploadedFile("logger.csv", tx.LOGGER)
    response = client.post(f"/transplant/orders/{order.pk}/ship/", {
        "bag_barcode": order.bag.barcode, "dry_shipper": tx.shipper().code, "documents": tx.ALL_DOCUMENTS,
        "temperature_log": log})
    assert response.status_code == 400
    assert "must acknowledge it before shipment" in response.content.decode()


def test_another_centres_records_are_404(client, clin, pat):
    unit = cb.unit()
    order = tx.ordered(unit, pat, clin)
    other = tx.clinician(tx.centre("TC-09"), username="clin-9")
    client.force_login(other)
    assert client.get(f"/transplant/patients/{pat.pk}/").status_code == 404
    assert client.get(f"/transplant/orders/{order.pk}/").status_code == 404
    ct = services.request_typing(cb.unit(), pat, actor=clin)
    assert client.get(f"/transplant/typing/{ct.pk}/").status_code == 404


def test_lists_render(client, clin, pat, users):
    tx.ordered(cb.unit(), pat, clin)
    for user in (clin, users["technician"], users["medical_director"]):
        client.force_login(user)
        for url in ("/transplant/", "/transplant/orders/", "/transplant/typing/", "/transplant/follow-ups/", "/"):
            assert client.get(url).status_code == 200, (user, url)
    client.force_login(clin)
    assert client.get("/transplant/patients/").status_code == 200
