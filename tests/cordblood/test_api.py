import datetime

import pytest
from django.utils import timezone

from cordblood.models import InfantDonation
from tests import cordblood_factories as cb
from tests.cordblood import helpers as h
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db

API = "/api/v1/cordblood"


def test_the_coordinator_registers_a_mother_and_twins_through_the_api(api):
    client = api(h.coordinator())
    site, collector = h.site_and_collector()
    response = client.post(f"{API}/mothers/", {"birth_year": 1992, "population": "Han", "identity": {
        "full_name": "Li Na", "national_id": "330106199201010011"}}, format="json")
    assert response.status_code == 201, response.json()
    mother = response.json()["id"]
    born = (timezone.now() - datetime.timedelta(hours=5)).isoformat()
    ids = []
    for order in (1, 2):
        response = client.post(f"{API}/donations/", {
            "mother": mother, "sex": "F", "born_at": born, "gestational_age_weeks": 37, "birth_weight_g": 2600,
            "delivery_type": "caesarean", "site": site.pk, "collector": collector.pk, "birth_order": order,
            "questionnaire": {"family_blood_disease": "no"}, "consent_form_version": "CB-ICF-v1",
            "consent_scopes": ["clinical"], "collected_volume_ml": "80.0"}, format="json")
        assert response.status_code == 201, response.json()
        ids.append(response.json()["id"])
    response = client.post(f"{API}/donations/", {
        "mother": mother, "sex": "F", "born_at": born, "gestational_age_weeks": 37, "birth_weight_g": 2600,
        "delivery_type": "caesarean", "site": site.pk, "birth_order": 2, "consent_form_version": "CB-ICF-v1",
        "consent_scopes": []}, format="json")
    assert response.status_code == 400 and "birth_order" in response.json()
    listed = client.get(f"{API}/donations/?mother={mother}").json()
    assert listed["count"] == 2
    assert {d["birth_order"] for d in listed["results"]} == {1, 2}
    assert InfantDonation.objects.filter(mother_id=mother).count() == 2


def test_the_technician_accepts_processes_and_freezes_through_the_api(api):
    donation = h.donate()
    client = api(h.technician())
    unit = donation.unit.pk
    response = client.post(f"{API}/units/{unit}/accept/", {"collected_volume_ml": "30.0", "tnc": 10},
                           format="json")
    assert response.status_code == 409 and response.json()["code"] == "acceptance_criteria_not_met"
    response = client.post(f"{API}/units/{unit}/accept/", {"collected_volume_ml": "95.0", "tnc": 1_600_000_000},
                           format="json")
    assert response.status_code == 200 and response.json()["acceptance"] == "accepted"
    collected = donation.collection.collected_at
    response = client.post(f"{API}/units/{unit}/processing/", {
        "method": "AXP", "started_at": (collected + datetime.timedelta(hours=2)).isoformat(),
        "ended_at": (collected + datetime.timedelta(hours=4)).isoformat(), "volume_pre_ml": "95.0",
        "volume_post_ml": "25.0", "tnc_pre": 1_600_000_000, "tnc_post": 1_400_000_000, "cd34_post": 5_000_000,
        "reagent_lots": [{"name": "HES", "lot": "H1"}]}, format="json")
    assert response.status_code == 200, response.json()
    response = client.post(f"{API}/units/{unit}/freeze/", {"segments": 3}, format="json")
    assert response.status_code == 200, response.json()
    body = response.json()
    assert body["lot_status"] == "quarantine" and body["recovery_pct"] == 87.5
    # QA lists; the technician may not
    assert client.post(f"{API}/units/{unit}/listing/", {"status": "available"}, format="json").status_code == 403
    response = api(h.qa()).post(f"{API}/units/{unit}/listing/", {"status": "available"}, format="json")
    assert response.status_code == 409 and response.json()["code"] == "unit_not_released"


def test_unit_list_is_paginated_with_constant_queries_and_hides_family_units_from_clinicians(
        api, django_assert_max_num_queries):
    for _i in range(3):
        cb.unit()
    family = cb.unit(ownership="family")
    client = api(h.qa())
    # session/auth (~3: user, groups/perms), count (1), page of units with their donation, infant, mother,
    # site and lot (1)
    with django_assert_max_num_queries(6):
        response = client.get(f"{API}/units/?page_size=50")
    assert response.status_code == 200 and response.json()["count"] == 4
    assert response.json()["results"][0]["mother_code"]
    clinician = UserFactory(username="cb-clin", role="clinician")
    from django.contrib.auth.models import Permission
    clinician.user_permissions.add(Permission.objects.get(codename="view_cordbloodunit"))  # as the transplant app
    clinician = type(clinician).objects.get(pk=clinician.pk)
    body = api(clinician).get(f"{API}/units/").json()
    assert body["count"] == 3 and family.din not in {u["din"] for u in body["results"]}
    assert all(u["mother_code"] is None for u in body["results"])
    assert api(clinician).get(f"{API}/units/{family.pk}/").status_code == 404


def test_discard_counts_and_inventory_export(api):
    donation = h.donate()
    api(h.technician()).post(f"{API}/units/{donation.unit.pk}/discard/", {"reason": "clotted"}, format="json")
    rows = {r["reason"]: r["count"] for r in api(h.qa()).get(f"{API}/discards/").json()}
    assert rows["clotted"] == 1
    listed = cb.unit(hla={"a_1": "A*02:01", "a_2": "A*24:02"})
    cb.unit(ownership="family")
    response = api(h.qa()).get(f"{API}/export/inventory.csv")
    assert response.status_code == 200
    text = b"".join(response.streaming_content).decode()
    lines = text.strip().splitlines()
    assert lines[0].startswith("GRID_OR_CBU_ID,") and len(lines) == 2
    assert listed.din in lines[1] and ",AV," in lines[1] and "A*02:01" in lines[1]
    tomorrow = (timezone.localdate() + datetime.timedelta(days=1)).isoformat()
    response = api(h.qa()).get(f"{API}/export/inventory.csv?since={tomorrow}")
    assert len(b"".join(response.streaming_content).decode().strip().splitlines()) == 1
    assert api(h.qa()).get(f"{API}/export/inventory.csv?since=yesterday").status_code == 400


def test_sites_and_collectors_api(api):
    client = api(h.coordinator())
    response = client.post(f"{API}/sites/", {"code": "hosp-9", "name": "North Hospital"}, format="json")
    assert response.status_code == 201 and response.json()["code"] == "HOSP-9"
    site = response.json()["id"]
    assert client.post(f"{API}/sites/{site}/collectors/", {"name": "Nurse Zhao"}, format="json").status_code == 201
    assert client.get(f"{API}/sites/{site}/").json()["collectors"][0]["name"] == "Nurse Zhao"
    assert api(h.technician()).post(f"{API}/sites/", {"code": "X", "name": "Y"}, format="json").status_code == 403
