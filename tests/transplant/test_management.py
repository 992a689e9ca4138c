"""Reference records and corrections: transplant centres and their clinicians, dry shippers (QA and admins),
the patient's edit page (its centre's clinicians; no HLA typing is ever overwritten) and cancelling a
confirmatory typing request."""

from __future__ import annotations

import datetime

import pytest
from django.core.exceptions import ValidationError
from django.utils import timezone

from bank.errors import Forbidden
from tests import cordblood_factories as cb
from tests.factories import UserFactory
from tests.transplant import helpers as tx
from transplant import services
from transplant.choices import TypingRequestStatus
from transplant.models import CentreClinician, DryShipper, TransplantCentre

pytestmark = pytest.mark.django_db


@pytest.fixture
def clin(db):
    return tx.clinician()


@pytest.fixture
def pat(clin):
    return tx.patient(clin)


# --- centres, clinicians, dry shippers -----------------------------------------------------------------------


@pytest.mark.parametrize("role,allowed", [("qa", True), ("admin", True), ("technician", False),
                                          ("medical_director", False), ("clinician", False),
                                          ("coordinator", False)])
def test_only_qa_and_admins_reach_the_centre_and_shipper_pages(client, users, role, allowed):
    client.force_login(users[role])
    for url in ("/transplant/centres/", "/transplant/centres/new/", "/transplant/dry-shippers/",
                "/transplant/dry-shippers/new/"):
        assert (client.get(url).status_code == 200) is allowed, (role, url)
    if users[role].has_perm("transplant.view_order"):
        html = client.get("/transplant/").content.decode()
        assert ('id="nav-centres"' in html) is allowed and ('id="nav-shippers"' in html) is allowed


def test_qa_creates_and_edits_a_centre_and_links_and_unlinks_a_clinician(client, users):
    qa = users["qa"]
    client.force_login(qa)
    until = (timezone.localdate() + datetime.timedelta(days=365)).isoformat()
    response = client.post("/transplant/centres/new/", {"code": "tc-07", "name": "Guangzhou BMT Unit",
                                                        "city": "Guangzhou", "accreditation_until": until,
                                                        "active": "on"})
    centre = TransplantCentre.objects.get(code="TC-07")
    assert response.status_code == 302 and response.url == f"/transplant/centres/{centre.pk}/"
    assert centre.accreditation_until.isoformat() == until and centre.is_qualified()

    # A second "new" centre with the same code is refused, never a silent change of the first.
    response = client.post("/transplant/centres/new/", {"code": "TC-07", "name": "Impostor", "active": "on"})
    assert response.status_code == 400 and "exists already" in response.content.decode()
    centre.refresh_from_db()
    assert centre.name == "Guangzhou BMT Unit"

    # Editing keeps the code (a posted code is ignored) and records the change.
    response = client.post(f"/transplant/centres/{centre.pk}/", {"code": "OTHER", "name": "Guangzhou BMT Unit",
                                                                 "city": "Guangzhou", "accreditation_until": ""})
    assert response.status_code == 302
    centre.refresh_from_db()
    assert (centre.code, centre.accreditation_until, centre.active) == ("TC-07", None, False)
    assert not centre.is_qualified()
    assert centre.history.count() == 2 and centre.history.first().history_user == qa

    doctor = UserFactory(username="dr-lin", role="clinician")
    response = client.post(f"/transplant/centres/{centre.pk}/clinicians/", {"user": doctor.pk})
    assert response.status_code == 302
    link = CentreClinician.objects.get(user=doctor)
    assert link.centre == centre and link.active
    assert "dr-lin" in client.get(f"/transplant/centres/{centre.pk}/").content.decode()
    # A non-clinician account is not offered, and refused if posted.
    response = client.post(f"/transplant/centres/{centre.pk}/clinicians/", {"user": users["technician"].pk})
    assert response.status_code == 400

    response = client.post(f"/transplant/centres/{centre.pk}/clinicians/{link.pk}/unlink/")
    assert response.status_code == 302
    link.refresh_from_db()
    assert not link.active and link.history.first().history_user == qa
    from transplant.queries import centre_of

    assert centre_of(doctor) is None
    # Linking again re-activates the same row.
    services.link_clinician(doctor, centre, actor=qa)
    link.refresh_from_db()
    assert link.active


def test_link_clinician_refuses_an_account_that_is_not_a_clinician(users):
    with pytest.raises(ValidationError) as invalid:
        services.link_clinician(users["qa"], tx.centre(), actor=users["admin"])
    assert "user" in invalid.value.message_dict


def test_qa_records_a_dry_shipper_and_its_validation(client, users):
    client.force_login(users["qa"])
    until = (timezone.localdate() + datetime.timedelta(days=180)).isoformat()
    response = client.post("/transplant/dry-shippers/new/", {"code": "ds-0100", "description": "CX100",
                                                             "validated_until": until, "active": "on"})
    assert response.status_code == 302
    shipper = DryShipper.objects.get(code="DS-0100")
    assert client.post("/transplant/dry-shippers/new/", {"code": "DS-0100", "validated_until": until,
                                                         "active": "on"}).status_code == 400
    assert client.post("/transplant/dry-shippers/new/", {"code": "DS-0101",
                                                         "validated_until": "31/02/2026"}).status_code == 400
    expired = (timezone.localdate() - datetime.timedelta(days=1)).isoformat()
    response = client.post(f"/transplant/dry-shippers/{shipper.pk}/", {"description": "CX100",
                                                                       "validated_until": expired, "active": "on"})
    assert response.status_code == 302
    shipper.refresh_from_db()
    assert shipper.validated_until.isoformat() == expired
    html = client.get("/transplant/dry-shippers/").content.decode()
    assert "DS-0100" in html and "expired" in html


def test_the_services_check_their_input_without_a_500(users):
    with pytest.raises(ValidationError) as invalid:
        services.save_dry_shipper(actor=users["qa"], code="", validated_until="tomorrow")
    assert set(invalid.value.message_dict) == {"code", "validated_until"}
    with pytest.raises(ValidationError) as invalid:
        services.save_centre(actor=users["qa"], code="X" * 25, name="", accreditation_until="2026-13-01")
    assert set(invalid.value.message_dict) == {"code", "name", "accreditation_until"}


def test_centre_and_shipper_lists_run_a_constant_number_of_queries(client, users, django_assert_num_queries):
    for i in range(3):
        centre = tx.centre(f"TC-{i:02d}")
        tx.clinician(centre, username=f"clin-{i}")
        tx.shipper(f"DS-{i:02d}")
    client.force_login(users["qa"])
    client.get("/transplant/centres/")  # warm the session and permission caches

    def count(url):
        from django.db import connection
        from django.test.utils import CaptureQueriesContext

        with CaptureQueriesContext(connection) as ctx:
            assert client.get(url).status_code == 200
        return len(ctx)

    base = {url: count(url) for url in ("/transplant/centres/", "/transplant/dry-shippers/")}
    for i in range(3, 8):
        centre = tx.centre(f"TC-{i:02d}")
        tx.clinician(centre, username=f"clin-{i}")
        tx.shipper(f"DS-{i:02d}")
    for url, n in base.items():
        # session, user, permissions, the count, the page (centres: with their clinician count) ...
        with django_assert_num_queries(n):
            assert client.get(url).status_code == 200


# --- the patient's edit page ---------------------------------------------------------------------------------


def test_the_centres_clinician_edits_a_patient_and_an_hla_change_keeps_the_earlier_typing(client, clin, pat):
    client.force_login(clin)
    html = client.get(f"/transplant/patients/{pat.pk}/").content.decode()
    assert f'href="/transplant/patients/{pat.pk}/edit/"' in html
    assert client.get(f"/transplant/patients/{pat.pk}/edit/").status_code == 200
    form = {"diagnosis": "AML in second remission", "weight_kg": "21.5", "abo": "O", "rh": "pos",
            "hla_A": "A*24:02 A*02:01", "hla_B": "B*52:01", "hla_C": "C*12:02", "hla_DRB1": "DRB1*15:02",
            "hla_DQB1": "DQB1*06:01"}
    response = client.post(f"/transplant/patients/{pat.pk}/edit/", form)
    assert response.status_code == 400 and "Give the reason the HLA typing changes" in response.content.decode()
    pat.refresh_from_db()
    assert pat.hla["A"] == ["A*24:02", "A*24:02"]  # nothing saved

    response = client.post(f"/transplant/patients/{pat.pk}/edit/", {**form, "reason": "High-resolution retyping"})
    assert response.status_code == 302
    pat.refresh_from_db()
    assert pat.hla["A"] == ["A*24:02", "A*02:01"] and str(pat.weight_kg) == "21.5"
    history = services.patient_hla_history(pat)
    assert [v["hla"]["A"] for v in history] == [["A*24:02", "A*02:01"], ["A*24:02", "A*24:02"]]
    assert history[0]["reason"] == "HLA retyped: High-resolution retyping" and history[0]["by"] == clin
    html = client.get(f"/transplant/patients/{pat.pk}/edit/").content.decode()
    assert "High-resolution retyping" in html and "A*24:02/A*24:02; B*52:01" in html

    # A correction that leaves the HLA alone needs no reason.
    response = client.post(f"/transplant/patients/{pat.pk}/edit/", {**form, "weight_kg": "22.0"})
    assert response.status_code == 302


def test_another_centre_and_the_bank_cannot_edit_a_patient(client, clin, pat, users, api):
    other = tx.clinician(tx.centre("TC-02"), username="clin-2")
    client.force_login(other)
    assert client.get(f"/transplant/patients/{pat.pk}/edit/").status_code == 404
    assert api(other).patch(f"/api/v1/transplant/patients/{pat.pk}/", {"diagnosis": "x"},
                            format="json").status_code == 404
    client.force_login(users["qa"])
    assert client.get(f"/transplant/patients/{pat.pk}/edit/").status_code == 403
    with pytest.raises(Forbidden) as refused:
        services.update_patient(pat, actor=users["admin"], diagnosis="x", weight_kg="20", hla=pat.hla)
    assert refused.value.code == "not_your_centre"


def test_the_patient_api_edit_and_hla_history(clin, pat, api):
    url = f"/api/v1/transplant/patients/{pat.pk}/"
    response = api(clin).patch(url, {"hla": {**pat.hla, "DRB1": ["DRB1*15:01", "DRB1*15:02"]}}, format="json")
    assert response.status_code == 400 and "reason" in response.json()
    response = api(clin).patch(url, {"hla": {**pat.hla, "DRB1": ["DRB1*15:01", "DRB1*15:02"]},
                                     "reason": "Allele-level DRB1"}, format="json")
    assert response.status_code == 200, response.json()
    assert response.json()["hla"]["DRB1"] == ["DRB1*15:01", "DRB1*15:02"]
    assert response.json()["diagnosis"] == "ALL"  # left out: kept
    history = api(clin).get(f"{url}hla-history/").json()
    assert len(history) == 2 and history[0]["reason"] == "HLA retyped: Allele-level DRB1"
    assert api(clin).patch(url, {"hla": {"A": [7, None]}, "reason": "x"}, format="json").status_code == 400
    assert api(clin).patch(url, {"weight_kg": "abc"}, format="json").status_code == 400


# --- cancelling a confirmatory typing request ---------------------------------------------------------------


def test_the_requesting_centre_cancels_an_open_typing_request(client, clin, pat, users, api):
    ct = services.request_typing(cb.unit(), pat, actor=clin)
    client.force_login(clin)
    html = client.get(f"/transplant/typing/{ct.pk}/").content.decode()
    assert 'id="cancel-typing-form"' in html
    assert client.post(f"/transplant/typing/{ct.pk}/cancel/", {"reason": ""}).status_code == 400
    response = client.post(f"/transplant/typing/{ct.pk}/cancel/", {"reason": "Patient's search closed"})
    assert response.status_code == 302
    ct.refresh_from_db()
    assert (ct.status, ct.cancelled_by, ct.cancel_reason) == (TypingRequestStatus.CANCELLED, clin,
                                                              "Patient's search closed")
    assert users["technician"].notifications.filter(subject__contains="cancelled").exists()
    html = client.get(f"/transplant/typing/{ct.pk}/").content.decode()
    assert 'id="typing-cancelled"' in html and 'id="cancel-typing-form"' not in html
    response = api(clin).post(f"/api/v1/transplant/typing-requests/{ct.pk}/cancel/", {"reason": "again"},
                              format="json")
    assert (response.status_code, response.json()["code"]) == (409, "invalid_transition")


def test_a_completed_typing_cannot_be_cancelled_and_others_cannot_cancel(clin, pat, users, api):
    unit = cb.unit()
    done = tx.ct_done(unit, pat, clin, users["technician"])
    url = f"/api/v1/transplant/typing-requests/{done.pk}/cancel/"
    response = api(clin).post(url, {"reason": "Changed our mind"}, format="json")
    assert (response.status_code, response.json()["code"]) == (409, "invalid_transition")
    open_ct = services.request_typing(cb.unit(), pat, actor=clin)
    url = f"/api/v1/transplant/typing-requests/{open_ct.pk}/cancel/"
    other = tx.clinician(tx.centre("TC-02"), username="clin-2")
    assert api(other).post(url, {"reason": "x"}, format="json").status_code == 404
    assert api(users["technician"]).post(url, {"reason": "x"}, format="json").status_code == 403
    response = api(clin).post(url, {"reason": "Found a better unit"}, format="json")
    assert response.status_code == 200 and response.json()["status"] == "cancelled"
    assert response.json()["cancel_reason"] == "Found a better unit"
