"""Requests: submission with the MTA and fee, bad input refused with nothing saved, visibility, cancel."""

from decimal import Decimal

import pytest

from distribution import services
from distribution.models import Allocation, DistributionRequest
from lots.models import Vial
from tests.distribution.factories import add_lot, make_line, stocked_line, submit
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db


def _payload(line, **overrides):
    data = {"cell_line": line.pk, "vials": 2, "intended_use": "research", "project_title": "Cardiomyocytes",
            "project_summary": "Differentiation and calcium imaging.", "institution": "Example University",
            "mta_accepted": True, "institution_type": "public"}
    data.update(overrides)
    return data


def test_submit_stores_mta_acceptance_fee_and_number(api, users, settings):
    settings.REQUEST_FEE_PUBLIC_PER_VIAL = "350.00"
    settings.REQUEST_FEE_CURRENCY = "CNY"
    line, _lot = stocked_line(vials=4)
    response = api(users["researcher"]).post("/api/v1/requests/", _payload(line), format="json")
    assert response.status_code == 201, response.json()
    body = response.json()
    assert body["status"] == "submitted" and body["number"].startswith("REQ-")
    assert body["mta_version"] == "MTA-2026-1" and body["mta_accepted_at"]
    assert body["fee_amount"] == "700.00" and body["fee_currency"] == "CNY"
    assert body["allocated_vials"] == [] and body["researcher"] == "researcher"
    request = DistributionRequest.objects.get(pk=body["id"])
    assert request.history.first().history_user == users["researcher"]
    # nothing is reserved before QA approves
    assert not Allocation.objects.exists()
    assert set(Vial.objects.values_list("status", flat=True)) == {"available"}


def test_a_free_bank_charges_nothing_and_numbers_never_repeat(users, settings):
    settings.REQUEST_FEE_PUBLIC_PER_VIAL = "0"
    line, _lot = stocked_line(vials=4)
    first, second = submit(users["researcher"], line), submit(users["researcher"], line)
    assert first.fee_amount == Decimal("0") and first.number != second.number
    assert int(second.number.rsplit("-", 1)[1]) == int(first.number.rsplit("-", 1)[1]) + 1


@pytest.mark.parametrize("overrides, field", [
    ({"vials": 0}, "vials"), ({"vials": -3}, "vials"), ({"vials": "many"}, "vials"),
    ({"mta_accepted": False}, "mta_accepted"), ({"mta_accepted": None}, "mta_accepted"),
    ({"cell_line": 999999}, "cell_line"), ({"intended_use": "cosmetic"}, "intended_use"),
    ({"project_title": ""}, "project_title"), ({"mta_version": "MTA-1999-1"}, "mta_accepted"),
    ({"institution_type": ""}, "institution_type"), ({"institution_type": "charity"}, "institution_type"),
    ({"recipient_country": "XX"}, "recipient_country"), ({"recipient_country": "Germany"}, "recipient_country"),
])
def test_bad_input_is_400_and_nothing_is_saved(api, users, overrides, field):
    line, _lot = stocked_line(vials=4)
    response = api(users["researcher"]).post("/api/v1/requests/", _payload(line, **overrides), format="json")
    assert response.status_code == 400, response.json()
    assert field in response.json()
    assert not DistributionRequest.objects.exists() and not Allocation.objects.exists()
    assert set(Vial.objects.values_list("status", flat=True)) == {"available"}


def test_missing_mta_flag_is_400(api, users):
    line, _lot = stocked_line()
    data = _payload(line)
    del data["mta_accepted"]
    response = api(users["researcher"]).post("/api/v1/requests/", data, format="json")
    assert response.status_code == 400 and "mta_accepted" in response.json()


def test_unreleased_line_and_too_many_vials_are_409(api, users):
    unreleased = make_line()
    add_lot(unreleased, tier="MCB", status="quarantine")
    client = api(users["researcher"])
    response = client.post("/api/v1/requests/", _payload(unreleased), format="json")
    assert response.status_code == 409 and response.json()["code"] == "not_released"
    line, _lot = stocked_line(vials=2)
    response = client.post("/api/v1/requests/", _payload(line, vials=3), format="json")
    assert response.status_code == 409 and response.json()["code"] == "insufficient_stock"
    assert response.json()["available"] == 2
    assert not DistributionRequest.objects.exists()
    assert set(Vial.objects.values_list("status", flat=True)) == {"available"}


def test_researcher_sees_only_their_own_requests(api, users):
    line, _lot = stocked_line(vials=4)
    mine = submit(users["researcher"], line)
    other_researcher = UserFactory(username="other-lab", role="researcher")
    theirs = submit(other_researcher, line)
    client = api(users["researcher"])
    listed = client.get("/api/v1/requests/").json()
    assert [r["number"] for r in listed["results"]] == [mine.number]
    assert client.get(f"/api/v1/requests/{theirs.pk}/").status_code == 404
    assert client.post(f"/api/v1/requests/{theirs.pk}/cancel/").status_code == 404
    assert client.get(f"/api/v1/requests/{mine.pk}/").json()["cell_line_name"] == line.name
    # staff see every request
    assert api(users["qa"]).get("/api/v1/requests/").json()["count"] == 2
    assert api(users["technician"]).get("/api/v1/requests/?status=submitted").json()["count"] == 2


def test_researcher_cancels_only_while_submitted(api, users):
    line, _lot = stocked_line(vials=4)
    request = submit(users["researcher"], line)
    client = api(users["researcher"])
    response = client.post(f"/api/v1/requests/{request.pk}/cancel/")
    assert response.status_code == 200 and response.json()["status"] == "cancelled"
    again = client.post(f"/api/v1/requests/{request.pk}/cancel/")
    assert again.status_code == 409 and again.json()["code"] == "invalid_transition"
    approved = services.approve_request(submit(users["researcher"], line), actor=users["qa"])
    refused = client.post(f"/api/v1/requests/{approved.pk}/cancel/")
    assert refused.status_code == 409 and refused.json()["code"] == "invalid_transition"


def test_only_the_researcher_may_cancel_or_receive(api, users):
    line, _lot = stocked_line(vials=4)
    request = submit(users["researcher"], line)
    response = api(users["admin"]).post(f"/api/v1/requests/{request.pk}/cancel/")
    assert response.status_code == 403 and response.json()["code"] == "not_requester"
    request.refresh_from_db()
    assert request.status == "submitted"


ROLE_ENDPOINTS = [
    # (method, path suffix, role, expected status) for a submitted request owned by "researcher"
    ("get", "", None, 401), ("post", "approve/", "researcher", 403), ("post", "approve/", "technician", 403),
    ("post", "reject/", "technician", 403), ("post", "ship/", "qa", 403), ("post", "ship/", "researcher", 403),
    ("get", "pick-list/", "researcher", 403), ("post", "pick/", "qa", 403), ("get", "", "coordinator", 403),
    ("get", "", "sensor", 403), ("get", "", "qa", 200), ("get", "", "technician", 200),
    ("get", "", "admin", 200), ("get", "", "researcher", 200),
    # issue 15: QA records export approvals; the quotation is for the requester and staff (none for a public one)
    ("post", "export-approval/", "researcher", 403), ("post", "export-approval/", "technician", 403),
    ("post", "export-approval/", "coordinator", 403), ("get", "quotation.pdf", "coordinator", 403),
]


@pytest.mark.parametrize("method, suffix, role, expected", ROLE_ENDPOINTS)
def test_role_by_endpoint(api, users, method, suffix, role, expected):
    line, _lot = stocked_line()
    request = submit(users["researcher"], line)
    client = api(users[role] if role else None)
    response = getattr(client, method)(f"/api/v1/requests/{request.pk}/{suffix}", {}, format="json")
    assert response.status_code == expected
    request.refresh_from_db()
    assert request.status == "submitted"


def test_only_researchers_create_requests(api, users):
    line, _lot = stocked_line()
    for role in ("qa", "technician", "coordinator"):
        assert api(users[role]).post("/api/v1/requests/", _payload(line), format="json").status_code == 403
    assert not DistributionRequest.objects.exists()


def test_request_list_runs_a_constant_number_of_queries(api, users, django_assert_num_queries):
    from django.contrib.auth import get_user_model

    line, _lot = stocked_line(vials=30)
    for _ in range(2):
        services.approve_request(submit(users["researcher"], line, 2), actor=users["qa"])
    fresh = api(get_user_model().objects.get(pk=users["qa"].pk))
    # permissions (2), roles (1), page of requests with line/researcher/MTA/shipment (1; it fits one page, so
    # no count), live allocations with vials (1), export approvals (1)
    with django_assert_num_queries(6):
        assert fresh.get("/api/v1/requests/").json()["count"] == 2
    for _ in range(4):
        services.approve_request(submit(users["researcher"], line, 3), actor=users["qa"])
    fresh = api(get_user_model().objects.get(pk=users["qa"].pk))
    with django_assert_num_queries(6):
        assert fresh.get("/api/v1/requests/").json()["count"] == 6
