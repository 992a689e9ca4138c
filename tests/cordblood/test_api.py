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


def test_donation_list_runs_a_constant_number_of_queries(api, django_assert_num_queries):
    for _i in range(2):
        h.donate()
    client = api(h.coordinator())
    client.get(f"{API}/donations/")  # the user's permissions, cached on the user for the next calls
    # the page of donations with infant, mother, site, collector, collection and unit (1; one page: no count)
    with django_assert_num_queries(1):
        first = client.get(f"{API}/donations/")
    for _i in range(3):
        h.donate()
    with django_assert_num_queries(1):
        second = client.get(f"{API}/donations/")
    assert first.json()["count"] == 2 and second.json()["count"] == 5
    assert all(d["collection_code"] for d in second.json()["results"])


def test_a_donation_naming_an_unknown_collector_or_mother_is_a_400_and_saves_nothing(api):
    client = api(h.coordinator())
    site, _collector = h.site_and_collector()
    mum = h.mother()
    body = {"mother": mum.pk, "sex": "F", "born_at": (timezone.now() - datetime.timedelta(hours=5)).isoformat(),
            "gestational_age_weeks": 39, "birth_weight_g": 3200, "delivery_type": "vaginal", "site": site.pk,
            "collector": 999_999, "consent_form_version": "CB-ICF-v1", "consent_scopes": ["clinical"]}
    response = client.post(f"{API}/donations/", body, format="json")
    assert response.status_code == 400 and "collector" in response.json()
    response = client.post(f"{API}/donations/", {**body, "collector": None, "mother": 999_999}, format="json")
    assert response.status_code == 400 and "mother" in response.json()
    assert not InfantDonation.objects.filter(mother=mum).exists()
    response = client.post(f"{API}/donations/", {**body, "collector": None, "gestational_age_weeks": 60},
                           format="json")
    assert response.status_code == 400 and "gestational_age_weeks" in response.json()


def test_qa_cannot_reserve_distribute_or_revive_a_unit_through_the_api(api):
    client = api(h.qa())
    unit = cb.unit()
    for status in ("reserved", "distributed"):
        response = client.post(f"{API}/units/{unit.pk}/listing/", {"status": status}, format="json")
        assert response.status_code == 409 and response.json()["code"] == "invalid_transition"
    destroyed = cb.unit(listing_status="destroyed")
    response = client.post(f"{API}/units/{destroyed.pk}/listing/", {"status": "available"}, format="json")
    assert response.status_code == 409 and response.json()["code"] == "invalid_transition"
    response = client.post(f"{API}/units/{unit.pk}/listing/", {"status": "not_listed"}, format="json")
    assert response.status_code == 200 and response.json()["listing_status"] == "not_listed"


def test_outside_the_bank_a_unit_names_no_donor(api):
    unit = cb.unit()
    clinician = UserFactory(username="cb-clin-2", role="clinician")
    from django.contrib.auth.models import Permission
    clinician.user_permissions.add(Permission.objects.get(codename="view_cordbloodunit"))
    clinician = type(clinician).objects.get(pk=clinician.pk)
    client = api(clinician)
    body = client.get(f"{API}/units/{unit.pk}/").json()
    assert body["din"] == unit.din
    assert (body["infant"], body["infant_code"], body["donation"], body["mother_code"]) == (None, None, None, None)
    # nor can a donor code be used to learn which units a mother gave
    other = cb.unit()
    listed = client.get(f"{API}/units/?mother={unit.donation.mother.code}").json()
    assert {u["din"] for u in listed["results"]} == {unit.din, other.din}
    inside = api(h.qa()).get(f"{API}/units/?mother={unit.donation.mother.code}").json()
    assert [u["din"] for u in inside["results"]] == [unit.din] and inside["results"][0]["infant_code"]


def test_a_unit_taken_off_the_listing_reaches_the_registry_as_not_listed(api):
    from cordblood import services

    unit = cb.unit()
    never = cb.unit(listing_status="not_listed")
    services.set_listing_by_qa(unit, "not_listed", reason="consent query", actor=h.qa())
    today = timezone.localdate().isoformat()
    response = api(h.qa()).get(f"{API}/export/inventory.csv?since={today}")
    lines = b"".join(response.streaming_content).decode().strip().splitlines()
    assert len(lines) == 2 and unit.din in lines[1] and ",NL," in lines[1]
    assert never.din not in "".join(lines)


def test_the_inventory_export_runs_a_constant_number_of_queries(django_assert_num_queries):
    from cordblood.export import inventory_csv

    for _i in range(2):
        cb.unit()
    # per chunk: the units with donation, infant, HLA, collection and lot (1) and their containers (1); then the
    # empty chunk that ends the file (1)
    with django_assert_num_queries(3):
        assert len("".join(inventory_csv()).strip().splitlines()) == 3
    for _i in range(4):
        cb.unit()
    with django_assert_num_queries(3):
        assert len("".join(inventory_csv()).strip().splitlines()) == 7
