"""The distribution lists' FilterSets (distribution/api/filters.py): requests by status, recalls."""

from __future__ import annotations

import pytest

from distribution import services
from distribution.models import Recall
from tests.distribution.factories import stocked_line, submit
from tests.factories import DonorFactory, LotFactory

pytestmark = pytest.mark.django_db


def ids(response) -> list[int]:
    assert response.status_code == 200, response.json()
    return [row["id"] for row in response.json()["results"]]


def test_requests_by_status(api, users):
    line, _lot = stocked_line(vials=4)
    submitted = submit(users["researcher"], line)
    approved = services.approve_request(submit(users["researcher"], line), actor=users["qa"])
    client = api(users["technician"])
    assert ids(client.get("/api/v1/requests/", {"status": "submitted"})) == [submitted.pk]
    assert ids(client.get("/api/v1/requests/", {"status": "approved"})) == [approved.pk]
    assert ids(client.get("/api/v1/requests/", {"status": "shipped"})) == []
    bad = client.get("/api/v1/requests/", {"status": "lost"}).json()
    assert list(bad) == ["status"] and "submitted, approved, rejected" in bad["status"][0]
    # the status narrows the list only: one request is found (and acted on) whatever its status
    assert client.get(f"/api/v1/requests/{approved.pk}/", {"status": "submitted"}).status_code == 200
    pick_list = client.get(f"/api/v1/requests/{approved.pk}/pick-list/", {"status": "lost"})
    assert pick_list.status_code == 200 and isinstance(pick_list.json(), list)


def test_recalls_by_lot_donor_and_source(api, users):
    lot, donor = LotFactory(status="recalled"), DonorFactory()
    of_lot = Recall.objects.create(source="lot_recall", lot=lot, reason="sterility", initiated_by=users["qa"])
    of_donor = Recall.objects.create(source="consent_withdrawal", donor=donor, reason="withdrawn",
                                     initiated_by=users["qa"])
    client = api(users["qa"])
    assert ids(client.get("/api/v1/recalls/")) == [of_donor.pk, of_lot.pk]  # newest first
    assert ids(client.get("/api/v1/recalls/", {"lot": lot.pk})) == [of_lot.pk]
    assert ids(client.get("/api/v1/recalls/", {"donor": donor.pk})) == [of_donor.pk]
    assert ids(client.get("/api/v1/recalls/", {"source": "consent_withdrawal"})) == [of_donor.pk]
    assert client.get("/api/v1/recalls/", {"lot": "x"}).json() == {"lot": ["Enter a whole number."]}
    assert list(client.get("/api/v1/recalls/", {"source": "flood"}).json()) == ["source"]
