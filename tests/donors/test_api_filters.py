"""The donors lists' FilterSets (donors/api/filters.py): parameters, their 400s and constant query counts."""

from __future__ import annotations

import pytest

from tests.factories import CollectionFactory, DonorFactory, EthicsApprovalFactory, full_negative_panel

pytestmark = pytest.mark.django_db


def ids(response) -> list[int]:
    assert response.status_code == 200, response.json()
    return [row["id"] for row in response.json()["results"]]


@pytest.mark.parametrize("donors", [2, 10])
def test_donor_list_runs_a_constant_number_of_queries(users, api, django_assert_num_queries, donors):
    for _ in range(donors):
        full_negative_panel(CollectionFactory())
    client = api(users["technician"])
    client.get("/api/v1/donors/")  # warm the permission cache
    # Queries: the page of donors (1; one page: no count) and their consents (1); the screening panel, read once for
    # the page: markers (1) and windows (1); the page's current results (1) and newest collections (1).
    with django_assert_num_queries(6):
        body = client.get("/api/v1/donors/").json()
    assert body["count"] == donors and {row["eligibility"] for row in body["results"]} == {"eligible"}


def test_donor_code_finds_one(users, api):
    wanted, _other = DonorFactory(), DonorFactory()
    client = api(users["technician"])
    assert ids(client.get("/api/v1/donors/", {"code": wanted.code})) == [wanted.pk]
    assert ids(client.get("/api/v1/donors/", {"code": f" {wanted.code.lower()} "})) == [wanted.pk]
    assert ids(client.get("/api/v1/donors/", {"code": wanted.code[:-1]})) == []  # exact, never a search


def test_collection_filters(users, api):
    first, second = CollectionFactory(), CollectionFactory()
    client = api(users["qa"])
    assert ids(client.get("/api/v1/collections/", {"donor": second.donor_id})) == [second.pk]
    assert ids(client.get("/api/v1/collections/", {"code": first.code.lower()})) == [first.pk]
    assert ids(client.get("/api/v1/collections/", {"code": first.code, "donor": second.donor_id})) == []
    for junk in ("x", "²", "1.5", "9" * 25):
        bad = client.get("/api/v1/collections/", {"donor": junk})
        assert bad.status_code == 400 and bad.json() == {"donor": ["Enter a whole number."]}


def test_ethics_approvals_valid_on(users, api):
    import datetime

    old = EthicsApprovalFactory(valid_from=datetime.date(2020, 1, 1), valid_to=datetime.date(2022, 12, 31))
    current = EthicsApprovalFactory()
    client = api(users["coordinator"])
    assert ids(client.get("/api/v1/ethics-approvals/", {"valid_on": "2021-06-01"})) == [old.pk]
    assert ids(client.get("/api/v1/ethics-approvals/", {"valid_on": "2028-12-31"})) == [current.pk]
    assert ids(client.get("/api/v1/ethics-approvals/", {"valid_on": "2023-06-01"})) == []
    for junk in ("2026-13-01", "2026-02-30", "01/06/2026", "tomorrow"):
        bad = client.get("/api/v1/ethics-approvals/", {"valid_on": junk})
        assert bad.status_code == 400 and bad.json() == {"valid_on": ["Enter a date as YYYY-MM-DD."]}
    out_of_range = client.get("/api/v1/ethics-approvals/", {"valid_on": "0001-01-01"})
    assert out_of_range.status_code == 400 and list(out_of_range.json()) == ["valid_on"]
