"""The bank-wide lists' FilterSets (bank/api/filters.py): the audit trail and notifications, and the
shared filters every app's FilterSet is built from."""

from __future__ import annotations

import pytest

from bank.notifications import mark_read, notify
from tests.factories import DonorFactory

pytestmark = pytest.mark.django_db


def test_notifications_unread(users, api, django_assert_num_queries):
    notes = notify([users["technician"]] * 3, subject="hello")
    mark_read(users["technician"], [notes[0].pk])
    notify([users["qa"]], subject="not yours")
    client = api(users["technician"])
    assert client.get("/api/v1/notifications/").json()["count"] == 3
    # Queries: the page (1; it fits one page, so no count).
    with django_assert_num_queries(1):
        unread = client.get("/api/v1/notifications/", {"unread": "true"}).json()
    assert [n["id"] for n in unread["results"]] == [notes[2].pk, notes[1].pk]  # newest first
    assert client.get("/api/v1/notifications/", {"unread": "false"}).json()["count"] == 3  # false: all of them
    bad = client.get("/api/v1/notifications/", {"unread": "perhaps"})
    assert bad.status_code == 400 and list(bad.json()) == ["unread"]


def test_audit_trail_of_a_record_or_a_type(users, api, django_assert_num_queries):
    first, second = DonorFactory(), DonorFactory()
    second.population = "Hui"
    second.save(update_fields=["population"])
    client = api(users["admin"])
    client.get("/api/v1/audit/", {"object_type": "donor"})  # warm the permission cache
    # Queries: the page of history rows (1; it fits one page, so no count), the previous version of each row:
    # ids (1), rows (1).
    with django_assert_num_queries(3):
        entries = client.get("/api/v1/audit/", {"object_type": "Donor ", "object_id": second.pk}).json()
    assert entries["count"] == 2 and {e["object_id"] for e in entries["results"]} == {second.pk}
    assert entries["results"][0]["changes"] == {"population": ["Han Chinese", "Hui"]}
    assert {e["object_id"] for e in client.get("/api/v1/audit/", {"object_type": "donor"}).json()["results"]} == {
        first.pk, second.pk}
    unknown = client.get("/api/v1/audit/", {"object_type": "spaceship"}).json()
    assert list(unknown) == ["object_type"] and "donor" in unknown["object_type"][0]
    assert list(client.get("/api/v1/audit/").json()) == ["object_type"]
    assert client.get("/api/v1/audit/", {"object_type": "donor", "object_id": "x1"}).json() == {
        "object_id": ["Enter a whole number."]}
    refused = api(users["researcher"]).get("/api/v1/audit/", {"object_type": "donor", "object_id": "x1"})
    assert refused.status_code == 403 and refused.json()["code"] == "permission_denied"


@pytest.mark.parametrize("value,expected", [("true", True), ("TRUE", True), ("1", True), ("yes", True), ("on", True),
                                            ("false", False), ("0", False), ("no", False), ("off", False)])
def test_boolean_parameters_take_what_a_body_takes(value, expected):
    from bank.api.filters import BooleanField

    assert BooleanField().clean(value) is expected
