"""The storage lists' FilterSets (storage/api/filters.py): parameters, their 400s and constant query counts."""

from __future__ import annotations

import datetime

import pytest
from django.utils import timezone

from storage.models import Alarm, TemperatureReading

pytestmark = pytest.mark.django_db

NOW = timezone.now()


def ids(response) -> set[int]:
    assert response.status_code == 200, response.json()
    return {row["id"] for row in response.json()["results"]}


def test_units_filter_by_quarantine_and_service(layout, users, api):
    client = api(users["qa"])
    layout.mirror_unit.active = False
    layout.mirror_unit.save(update_fields=["active"])
    assert ids(client.get("/api/v1/storage/units/", {"quarantine": "true"})) == {layout.q_unit.pk}
    assert ids(client.get("/api/v1/storage/units/", {"quarantine": "False"})) == {layout.unit.pk,
                                                                                  layout.mirror_unit.pk}
    assert ids(client.get("/api/v1/storage/units/", {"active": "no"})) == {layout.mirror_unit.pk}
    assert ids(client.get("/api/v1/storage/units/", {"active": "1", "quarantine": "0"})) == {layout.unit.pk}
    bad = client.get("/api/v1/storage/units/", {"active": "maybe"})
    assert bad.status_code == 400 and list(bad.json()) == ["active"]


def test_racks_and_boxes_filter_by_ids(layout, users, api):
    client = api(users["technician"])
    assert ids(client.get("/api/v1/storage/racks/", {"unit": layout.unit.pk})) == {layout.rack.pk, layout.rack2.pk}
    assert ids(client.get("/api/v1/storage/boxes/", {"rack": layout.rack.pk})) == {layout.box.pk, layout.box2.pk}
    assert ids(client.get("/api/v1/storage/boxes/", {"unit": layout.q_unit.pk})) == {layout.q_box.pk,
                                                                                     layout.q_box2.pk}
    assert ids(client.get("/api/v1/storage/boxes/", {"unit": layout.q_unit.pk, "rack": layout.rack.pk})) == set()
    for url, name in (("/api/v1/storage/racks/", "unit"), ("/api/v1/storage/boxes/", "rack"),
                      ("/api/v1/storage/boxes/", "unit")):
        for junk in ("x", "²", "-1", "1.5", "9" * 25):
            bad = client.get(url, {name: junk})
            assert bad.status_code == 400 and bad.json() == {name: ["Enter a whole number."]}


def test_box_barcode_is_the_scan_lookup(layout, users, api, django_assert_num_queries):
    client = api(users["technician"])
    client.get("/api/v1/storage/boxes/")  # warm the permission cache
    # Queries: the page with its rack (1; it fits one page, so no count) — the barcode is an exact match on its
    # unique index.
    with django_assert_num_queries(1):
        assert ids(client.get("/api/v1/storage/boxes/", {"barcode": layout.box2.barcode})) == {layout.box2.pk}
    assert ids(client.get("/api/v1/storage/boxes/", {"barcode": f" {layout.box2.barcode.lower()} "})) == {
        layout.box2.pk}
    assert ids(client.get("/api/v1/storage/boxes/", {"barcode": "SBB-NO-SUCH"})) == set()


def test_alarms_filter_by_state_unit_and_kind(layout, users, api, django_assert_num_queries):
    active = Alarm.objects.create(unit=layout.unit, kind="excursion")
    silent = Alarm.objects.create(unit=layout.q_unit, kind="sensor_silent")
    done = Alarm.objects.create(unit=layout.unit, kind="sensor_silent", status="acknowledged")
    client = api(users["qa"])
    assert ids(client.get("/api/v1/storage/alarms/")) == {active.pk, silent.pk, done.pk}
    # Queries: the page with unit, reading, acknowledger and vial count (1; it fits one page, so no count).
    with django_assert_num_queries(1):
        assert ids(client.get("/api/v1/storage/alarms/", {"active": "true", "unit": layout.unit.pk})) == {active.pk}
    assert ids(client.get("/api/v1/storage/alarms/", {"active": "false"})) == {done.pk}
    assert ids(client.get("/api/v1/storage/alarms/", {"kind": "sensor_silent"})) == {silent.pk, done.pk}
    assert ids(client.get("/api/v1/storage/alarms/", {"kind": "sensor_silent", "active": "true"})) == {silent.pk}
    flood = client.get("/api/v1/storage/alarms/", {"kind": "flood"}).json()
    assert list(flood) == ["kind"] and "flood" in flood["kind"][0] and "excursion, sensor_silent" in flood["kind"][0]


def test_readings_since(layout, users, api, django_assert_num_queries):
    old = TemperatureReading.objects.create(unit=layout.unit, temperature_c=-190,
                                            recorded_at=NOW - datetime.timedelta(hours=3))
    new = TemperatureReading.objects.create(unit=layout.unit, temperature_c=-191,
                                            recorded_at=NOW - datetime.timedelta(minutes=5))
    url = f"/api/v1/storage/units/{layout.unit.pk}/readings/"
    client = api(users["admin"])
    assert ids(client.get(url)) == {old.pk, new.pk}
    since = (NOW - datetime.timedelta(hours=1)).isoformat()
    # Queries: the unit (1), the page (1, a keyset page: no count), the alarms raised by the page's readings (1).
    with django_assert_num_queries(3):
        assert ids(client.get(url, {"since": since})) == {new.pk}
    for junk in ("yesterday", "2026-02-30T00:00", "0001-01-01T00:00:00+14:00"):
        bad = client.get(url, {"since": junk})
        assert bad.status_code == 400 and list(bad.json()) == ["since"]
    assert client.get(f"/api/v1/storage/units/{layout.unit.pk + 1000}/readings/").status_code == 404
