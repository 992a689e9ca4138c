"""The Donors section of API.md: paths, fields, codes; 401/403; bad input → 400 with nothing saved."""

import datetime

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from donors.models import Collection, Consent, Donor, DonorIdentity, HLATyping, Screening, ScreeningResult
from tests.factories import (
    CollectionFactory,
    ConsentFactory,
    DonorFactory,
    DonorIdentityFactory,
    EthicsApprovalFactory,
    LotFactory,
    full_negative_panel,
)

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _ethics_in_force(db):
    """Issue 15: collections need an ethics approval in force (REQUIRE_ETHICS_APPROVAL); the bank has one."""
    from tests.factories import ethics_in_force

    ethics_in_force()

NEW_DONOR = {"sex": "F", "birth_year": 1990, "population": "Han Chinese", "donor_type": "healthy", "diagnosis": "",
             "identity": {"full_name": "Zhou Hui", "national_id": "110101199001010077", "phone": "+86 138 1"}}
ALLELES = {"A": ["A*24:02", "A*24:02"], "B": ["B*52:01", "B*07:02"], "C": ["C*12:02", "C*07:02"],
           "DRB1": ["DRB1*15:02", "DRB1*15:02"], "DQB1": ["DQB1*06:01", "DQB1*06:02"]}
BASE = ["hiv_ab", "hiv_nat", "hbsag", "anti_hbc", "hcv_ab", "hcv_nat", "syphilis"]


def today(days=0):
    return (timezone.localdate() + datetime.timedelta(days=days)).isoformat()


def test_anonymous_gets_401(api):
    for path in ("/api/v1/donors/", "/api/v1/collections/", "/api/v1/ethics-approvals/"):
        assert api().get(path).status_code == 401


def test_researcher_gets_403_everywhere(api, users):
    donor = DonorFactory()
    client = api(users["researcher"])
    for path in (f"/api/v1/donors/{donor.pk}/", "/api/v1/donors/", "/api/v1/collections/",
                 "/api/v1/screening-markers/", f"/api/v1/donors/{donor.pk}/hla/"):
        response = client.get(path)
        assert response.status_code == 403 and response.json()["code"] == "permission_denied", path


def test_register_donor_returns_id_code_and_identity_for_the_coordinator(api, users):
    response = api(users["coordinator"]).post("/api/v1/donors/", NEW_DONOR, format="json")
    assert response.status_code == 201, response.json()
    body = response.json()
    assert body["id"] and body["code"].startswith("SBD-")
    assert body["identity"] == {"full_name": "Zhou Hui", "national_id": "110101199001010077", "phone": "+86 138 1"}
    assert body["eligibility"] == "incomplete" and body["consent_state"] == "none"
    assert Donor.objects.get(pk=body["id"]).registered_by == users["coordinator"]


def test_only_coordinators_and_admins_register(api, users):
    for role in ("technician", "qa", "researcher"):
        assert api(users[role]).post("/api/v1/donors/", NEW_DONOR, format="json").status_code == 403
    assert api(users["admin"]).post("/api/v1/donors/", NEW_DONOR, format="json").status_code == 201


@pytest.mark.parametrize("change,field", [
    ({"birth_year": timezone.localdate().year + 1}, "birth_year"),
    ({"sex": "Q"}, "sex"),
    ({"donor_type": "patient"}, "diagnosis"),
    ({"identity": {"full_name": "x"}}, "identity"),
    ({"birth_year": "soon"}, "birth_year"),
])
def test_bad_donor_input_is_400_and_nothing_saved(api, users, change, field):
    response = api(users["coordinator"]).post("/api/v1/donors/", {**NEW_DONOR, **change}, format="json")
    assert response.status_code == 400 and field in response.json()
    assert not Donor.objects.exists() and not DonorIdentity.objects.exists()


def test_duplicate_national_id_is_400_under_identity(api, users):
    existing = DonorIdentityFactory(national_id="110101199001010077")
    response = api(users["coordinator"]).post("/api/v1/donors/", NEW_DONOR, format="json")
    assert response.status_code == 400
    assert existing.donor.code in response.json()["identity"]["national_id"][0]
    assert Donor.objects.count() == 1


def test_malformed_json_is_400(api, users):
    response = api(users["coordinator"]).post("/api/v1/donors/", "{not json", content_type="application/json")
    assert response.status_code == 400


def test_list_is_paginated_finds_by_code_and_never_carries_identity(api, users):
    donors = [DonorIdentityFactory().donor for _ in range(3)]
    body = api(users["coordinator"]).get("/api/v1/donors/", {"page_size": 2}).json()
    # A keyset list (bank.api.pagination.KeysetPagination): its total is the kept count (bank/tally.py), never a
    # COUNT over two million donors; next is a cursor.
    assert set(body) == {"count", "next", "previous", "results"} and body["count"] == 3
    assert len(body["results"]) == 2 and "cursor=" in body["next"]
    assert all("identity" not in item for item in body["results"])
    found = api(users["technician"]).get("/api/v1/donors/", {"code": donors[1].code.lower()}).json()
    assert found["count"] == 1 and found["results"][0]["id"] == donors[1].pk
    assert api(users["qa"]).get("/api/v1/donors/", {"code": "SBD-NOPE"}).json()["count"] == 0


def test_list_runs_a_constant_number_of_queries(api, users):
    def count():
        client = api(type(users["qa"]).objects.get(pk=users["qa"].pk))  # no permission cache carried over
        with CaptureQueriesContext(connection) as ctx:
            assert client.get("/api/v1/donors/").status_code == 200
        return len(ctx.captured_queries)

    for _ in range(2):
        full_negative_panel(CollectionFactory())
    small = count()
    for _ in range(6):
        ConsentFactory(donor=full_negative_panel(CollectionFactory()).donor)
    # user permissions (2), donors (one page: no count), consents, markers, windows, current results, newest
    # collections
    assert count() == small == 8


def test_detail_shows_eligibility_missing_markers_and_identity_only_to_coordinators(api, users):
    collection = CollectionFactory(tissue="cord_blood")
    full_negative_panel(collection, skip=("cmv",))
    DonorIdentityFactory(donor=collection.donor, full_name="Secret Name")
    url = f"/api/v1/donors/{collection.donor_id}/"
    body = api(users["technician"]).get(url).json()
    assert body["eligibility"] == "incomplete" and body["missing_markers"] == ["cmv"]
    assert "identity" not in body and "Secret Name" not in str(body)
    assert body["collections"][0]["code"] == collection.code and len(body["screenings"]) == 1
    assert api(users["coordinator"]).get(url).json()["identity"]["full_name"] == "Secret Name"
    assert api(users["qa"]).get("/api/v1/donors/999999/").status_code == 404


def test_patch_donor_needs_a_reason(api, users):
    donor = DonorIdentityFactory().donor
    client = api(users["coordinator"])
    assert client.patch(f"/api/v1/donors/{donor.pk}/", {"birth_year": 1980}, format="json").status_code == 400
    response = client.patch(f"/api/v1/donors/{donor.pk}/", {"birth_year": 1980, "reason": "typo"}, format="json")
    assert response.status_code == 200 and response.json()["birth_year"] == 1980
    assert api(users["technician"]).patch(f"/api/v1/donors/{donor.pk}/", {"birth_year": 1, "reason": "x"},
                                          format="json").status_code == 403


# --- consent and withdrawal -----------------------------------------------------------------------


def test_record_consent(api, users):
    donor = DonorFactory()
    url = f"/api/v1/donors/{donor.pk}/consents/"
    response = api(users["coordinator"]).post(url, {"form_version": "ICF-v3", "signed_on": today(),
                                                    "scopes": ["research", "clinical"]}, format="json")
    assert response.status_code == 201
    assert response.json()["scopes"] == ["research", "clinical"] and response.json()["recorded_by"] == "coordinator"
    assert api(users["qa"]).get(url).json()[0]["form_version"] == "ICF-v3"
    assert api(users["technician"]).post(url, {"form_version": "x", "signed_on": today(), "scopes": ["research"]},
                                         format="json").status_code == 403


@pytest.mark.parametrize("data,field", [
    ({"signed_on": today(1)}, "signed_on"),
    ({"scopes": ["marketing"]}, "scopes"),
    ({"scopes": []}, "scopes"),
    ({"signed_on": "01/02/2026"}, "signed_on"),
])
def test_bad_consent_is_400_nothing_saved(api, users, data, field):
    donor = DonorFactory()
    payload = {"form_version": "ICF-v3", "signed_on": today(), "scopes": ["research"], **data}
    response = api(users["coordinator"]).post(f"/api/v1/donors/{donor.pk}/consents/", payload, format="json")
    assert response.status_code == 400 and field in response.json()
    assert not Consent.objects.exists()


def test_withdraw_returns_affected_lots_and_then_refuses(api, users):
    lot = LotFactory(vial_count=1)
    consent = lot.cell_line.donor.consents.get()
    client = api(users["coordinator"])
    assert client.post(f"/api/v1/consents/{consent.pk}/withdraw/", {}, format="json").status_code == 400
    assert api(users["technician"]).post(f"/api/v1/consents/{consent.pk}/withdraw/", {"reason": "x"},
                                         format="json").status_code == 403
    response = client.post(f"/api/v1/consents/{consent.pk}/withdraw/", {"reason": "written request"}, format="json")
    assert response.status_code == 200
    body = response.json()
    assert body["affected_lots"] == [lot.pk] and body["affected_lot_numbers"] == [lot.lot_number]
    assert body["consent"]["state"] == "withdrawn" and body["consent"]["withdrawal_reason"] == "written request"
    again = client.post(f"/api/v1/consents/{consent.pk}/withdraw/", {"reason": "again"}, format="json")
    assert again.status_code == 409 and again.json()["code"] == "already_withdrawn"
    more = client.post(f"/api/v1/donors/{consent.donor_id}/consents/",
                       {"form_version": "v2", "signed_on": today(), "scopes": ["research"]}, format="json")
    assert more.status_code == 409 and more.json()["code"] == "consent_withdrawn"
    detail = api(users["qa"]).get(f"/api/v1/donors/{consent.donor_id}/").json()
    assert detail["consent_state"] == "withdrawn" and detail["consent_withdrawn_at"]
    assert api(users["qa"]).get(f"/api/v1/consents/{consent.pk}/").json()["withdrawn_by"] == "coordinator"


def test_derived_lots_preview(api, users):
    lot = LotFactory(vial_count=3)
    body = api(users["qa"]).get(f"/api/v1/donors/{lot.cell_line.donor_id}/derived-lots/").json()
    assert body == [{"id": lot.pk, "lot_number": lot.lot_number, "cell_line": lot.cell_line.name, "tier": "MCB",
                     "status": "quarantine", "consent_withdrawn_flagged_at": None, "vials_total": 3,
                     "vials_available": 3, "vials_reserved": 0, "vials_shipped": 0}]


# --- screening ------------------------------------------------------------------------------------


def test_record_screening_then_eligible(api, users):
    collection = CollectionFactory(tissue="skin")
    payload = {"sample_drawn_on": collection.collected_at.date().isoformat(),
               "results": [{"marker": m, "result": "negative"} for m in BASE]}
    url = f"/api/v1/donors/{collection.donor_id}/screenings/"
    response = api(users["coordinator"]).post(url, payload, format="json")
    assert response.status_code == 201, response.json()
    assert len(response.json()["results"]) == 7 and response.json()["maternal_sample"] is False
    detail = api(users["qa"]).get(f"/api/v1/donors/{collection.donor_id}/").json()
    assert detail["eligibility"] == "eligible" and detail["missing_markers"] == []
    assert api(users["qa"]).post(url, payload, format="json").status_code == 403


@pytest.mark.parametrize("results,field", [
    ([{"marker": "zika", "result": "negative"}], "results"),
    ([{"marker": "hiv_ab", "result": "reactive"}], "results"),
    ([], "results"),
])
def test_bad_screening_is_400_nothing_saved(api, users, results, field):
    donor = DonorFactory()
    response = api(users["coordinator"]).post(f"/api/v1/donors/{donor.pk}/screenings/",
                                              {"sample_drawn_on": today(), "results": results}, format="json")
    assert response.status_code == 400 and field in response.json()
    assert not Screening.objects.exists() and not ScreeningResult.objects.exists()


def test_unknown_marker_message_names_it(api, users):
    donor = DonorFactory()
    response = api(users["coordinator"]).post(
        f"/api/v1/donors/{donor.pk}/screenings/",
        {"sample_drawn_on": today(), "results": [{"marker": "hiv_ab", "result": "negative"},
                                                  {"marker": "ebola_pcr", "result": "negative"}]}, format="json")
    assert response.status_code == 400 and "ebola_pcr" in response.json()["results"][0]
    assert not Screening.objects.exists()


def test_correct_a_result(api, users):
    screening = full_negative_panel(CollectionFactory(tissue="skin"))
    original = screening.results.get(marker="hbsag")
    url = f"/api/v1/screening-results/{original.pk}/correct/"
    client = api(users["coordinator"])
    assert client.post(url, {"result": "positive"}, format="json").status_code == 400
    response = client.post(url, {"result": "positive", "reason": "lab re-test"}, format="json")
    assert response.status_code == 201 and response.json()["corrects"] == original.pk
    again = client.post(url, {"result": "negative", "reason": "x"}, format="json")
    assert again.status_code == 409 and again.json()["code"] == "already_corrected"
    assert api(users["qa"]).get(f"/api/v1/donors/{screening.donor_id}/").json()["eligibility"] == "ineligible"


def test_markers_and_windows(api, users):
    markers = api(users["technician"]).get("/api/v1/screening-markers/").json()
    assert [m["code"] for m in markers][:3] == ["hiv_ab", "hiv_nat", "hbsag"] and len(markers) == 10
    windows = api(users["technician"]).get("/api/v1/screening-windows/").json()
    assert {"tissue": "bone_marrow", "days_before": 30, "days_after": 7} in windows


# --- HLA ------------------------------------------------------------------------------------------


def test_put_hla_returns_homozygous_loci(api, users):
    donor = DonorFactory()
    url = f"/api/v1/donors/{donor.pk}/hla/"
    response = api(users["coordinator"]).put(url, {**ALLELES, "method": "ngs"}, format="json")
    assert response.status_code == 200, response.json()
    body = response.json()
    assert body["homozygous_loci"] == ["A", "DRB1"] and body["A"] == ["A*24:02", "A*24:02"]
    assert body["resolution"] == "2-field" and body["method"] == "ngs"
    assert api(users["qa"]).get(url).json()["homozygous_loci"] == ["A", "DRB1"]
    assert api(users["technician"]).put(url, ALLELES, format="json").status_code == 403


@pytest.mark.parametrize("locus,alleles", [
    ("A", ["A*2402", "A*24:02"]),
    ("B", ["A*24:02", "B*07:02"]),
    ("DRB1", ["DRB1*15:02:01", "DRB1*15"]),
    ("C", ["C*07"]),
])
def test_malformed_alleles_are_400(api, users, locus, alleles):
    donor = DonorFactory()
    response = api(users["coordinator"]).put(f"/api/v1/donors/{donor.pk}/hla/", {**ALLELES, locus: alleles},
                                             format="json")
    assert response.status_code == 400 and locus in response.json()
    assert not HLATyping.objects.exists()


# --- collections ----------------------------------------------------------------------------------


def collection_payload(donor, **change):
    collected = timezone.now() - datetime.timedelta(days=1)
    return {"donor": donor.pk, "tissue": "skin", "collected_at": collected.isoformat(),
            "received_at": (collected + datetime.timedelta(hours=4)).isoformat(), "transport_temperature_c": 4.0,
            **change}


@pytest.mark.parametrize("role", ["technician", "coordinator", "admin"])
def test_technicians_and_coordinators_record_collections(api, users, role):
    consent = ConsentFactory()
    response = api(users[role]).post("/api/v1/collections/", collection_payload(consent.donor), format="json")
    assert response.status_code == 201, response.json()
    body = response.json()
    assert body["code"].startswith("COL-") and body["donor_code"] == consent.donor.code
    assert body["consent"] == consent.pk and body["received_by"] == role
    assert body["transport_delay_flagged"] is False and body["eligibility"] == "incomplete"
    assert api(users["qa"]).get(f"/api/v1/collections/{body['id']}/").json()["code"] == body["code"]


def test_qa_cannot_record_collections(api, users):
    consent = ConsentFactory()
    assert api(users["qa"]).post("/api/v1/collections/", collection_payload(consent.donor),
                                 format="json").status_code == 403


def test_collection_without_consent_is_409(api, users):
    donor = DonorFactory()
    response = api(users["technician"]).post("/api/v1/collections/", collection_payload(donor), format="json")
    assert response.status_code == 409 and response.json()["code"] == "no_active_consent"
    assert not Collection.objects.exists()


def test_collection_bad_input_is_400(api, users):
    consent = ConsentFactory()
    expired = EthicsApprovalFactory(valid_from=datetime.date(2020, 1, 1), valid_to=datetime.date(2020, 12, 31))
    client = api(users["technician"])
    for change, field in (({"tissue": "liver"}, "tissue"), ({"ethics_approval": expired.pk}, "ethics_approval"),
                          ({"donor": 999999}, "donor"), ({"transport_temperature_c": "4.25"},
                                                          "transport_temperature_c"),
                          ({"received_at": (timezone.now() - datetime.timedelta(days=5)).isoformat()},
                           "received_at")):
        response = client.post("/api/v1/collections/", {**collection_payload(consent.donor), **change}, format="json")
        assert response.status_code == 400 and field in response.json(), (change, response.json())
    assert not Collection.objects.exists()


def test_collection_list_filters(api, users):
    first = CollectionFactory()
    CollectionFactory()
    client = api(users["qa"])
    assert client.get("/api/v1/collections/").json()["count"] == 2
    assert client.get("/api/v1/collections/", {"donor": first.donor_id}).json()["results"][0]["id"] == first.pk
    assert client.get("/api/v1/collections/", {"code": first.code}).json()["count"] == 1
    assert client.get("/api/v1/collections/", {"donor": "x"}).status_code == 400


# --- ethics approvals -----------------------------------------------------------------------------


def test_ethics_approvals(api, users):
    client = api(users["coordinator"])
    payload = {"committee": "IEC", "approval_number": "IEC-9", "valid_from": "2026-01-01", "valid_to": "2027-01-01"}
    created = client.post("/api/v1/ethics-approvals/", payload, format="json")
    assert created.status_code == 201
    assert client.post("/api/v1/ethics-approvals/", payload, format="json").status_code == 400
    pk = created.json()["id"]
    assert client.patch(f"/api/v1/ethics-approvals/{pk}/", {"valid_to": "2028-01-01"}, format="json").status_code == 400
    patched = client.patch(f"/api/v1/ethics-approvals/{pk}/", {"valid_to": "2028-01-01", "reason": "renewed"},
                           format="json")
    assert patched.status_code == 200 and patched.json()["valid_to"] == "2028-01-01"
    listed = api(users["technician"]).get("/api/v1/ethics-approvals/", {"valid_on": "2027-06-01"}).json()
    # The module's own approval (in force 2000–2099, for the collections) aside.
    assert [a["id"] for a in listed["results"] if a["approval_number"] != "IEC-TESTS"] == [pk]
    assert api(users["technician"]).post("/api/v1/ethics-approvals/", payload, format="json").status_code == 403
