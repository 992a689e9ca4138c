"""The storage API of API.md: paths, fields, codes, roles; bad input is a 400 with nothing saved."""

import datetime

import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from bank.services import issue_token
from storage.models import Alarm, Box, Rack, StorageUnit, TemperatureReading, VialMove
from storage.services import bind_sensors, store_lot
from storage.tasks import record_alarm_vials
from tests.factories import LotFactory

pytestmark = pytest.mark.django_db

ROLES = ("coordinator", "technician", "qa", "researcher", "sensor", "admin")


@pytest.fixture
def alarm(layout):
    return Alarm.objects.create(unit=layout.unit, kind="sensor_silent", message="silent")


def endpoints(layout, lot, vial, alarm):
    """(method, path, payload, roles allowed). Payloads are empty: allowed roles get 400, not 403."""
    return [
        ("get", "/api/v1/storage/units/", None, {"technician", "qa", "admin"}),
        ("post", "/api/v1/storage/units/", {}, {"admin"}),
        ("get", f"/api/v1/storage/units/{layout.unit.pk}/", None, {"technician", "qa", "admin"}),
        ("patch", f"/api/v1/storage/units/{layout.unit.pk}/", {}, {"admin"}),
        ("get", f"/api/v1/storage/units/{layout.unit.pk}/racks/", None, {"technician", "qa", "admin"}),
        ("post", f"/api/v1/storage/units/{layout.unit.pk}/racks/", {}, {"admin"}),
        ("get", f"/api/v1/storage/units/{layout.unit.pk}/readings/", None, {"technician", "qa", "admin"}),
        ("post", f"/api/v1/storage/units/{layout.unit.pk}/readings/", {}, {"sensor", "admin"}),
        ("post", f"/api/v1/storage/units/{layout.unit.pk}/evacuate/", {}, {"technician", "admin"}),
        ("get", "/api/v1/storage/racks/", None, {"technician", "qa", "admin"}),
        ("get", f"/api/v1/storage/racks/{layout.rack.pk}/", None, {"technician", "qa", "admin"}),
        ("get", f"/api/v1/storage/racks/{layout.rack.pk}/boxes/", None, {"technician", "qa", "admin"}),
        ("post", f"/api/v1/storage/racks/{layout.rack.pk}/boxes/", {}, {"admin"}),
        ("get", "/api/v1/storage/boxes/", None, {"technician", "qa", "admin"}),
        ("get", f"/api/v1/storage/boxes/{layout.box.pk}/", None, {"technician", "qa", "admin"}),
        ("get", f"/api/v1/storage/boxes/{layout.box.pk}/map/", None, {"technician", "qa", "admin"}),
        ("post", f"/api/v1/storage/boxes/{layout.box.pk}/move/", {}, {"technician", "admin"}),
        ("get", f"/api/v1/storage/find-space/?lot={lot.pk}", None, {"technician", "qa", "admin"}),
        ("get", f"/api/v1/storage/vials/{vial.pk}/moves/", None, {"technician", "qa", "admin"}),
        ("post", f"/api/v1/lots/{lot.pk}/store/", {}, {"technician", "admin"}),
        ("post", f"/api/v1/vials/{vial.pk}/move/", {}, {"technician", "admin"}),
        ("post", "/api/v1/vials/batch-move/", {}, {"technician", "admin"}),
        ("post", f"/api/v1/storage/racks/{layout.rack.pk}/move/", {}, {"technician", "admin"}),
        ("post", "/api/v1/storage/rack-scans/", {}, {"technician", "qa", "admin"}),
        ("post", "/api/v1/storage/rack-scans/store/", {}, {"technician", "admin"}),
        ("get", "/api/v1/storage/alarms/?active=true", None, {"technician", "qa", "admin"}),
        ("get", f"/api/v1/storage/alarms/{alarm.pk}/", None, {"technician", "qa", "admin"}),
        ("post", f"/api/v1/storage/alarms/{alarm.pk}/acknowledge/", {}, {"technician", "qa", "admin"}),
    ]


def test_roles_table(layout, users, api, released_lot, alarm):
    vial = released_lot.vials.first()
    for method, path, payload, allowed in endpoints(layout, released_lot, vial, alarm):
        assert getattr(api(), method)(path, payload).status_code == 401, path
        for role in ROLES:
            response = getattr(api(users[role]), method)(path, payload)
            if role in allowed:
                assert response.status_code == (200 if method == "get" else 400), (method, path, role, response.data)
            else:
                assert response.status_code == 403, (method, path, role)
                assert response.data["code"] == "permission_denied"
    # nothing was written by any of these calls
    assert not VialMove.objects.exists() and not TemperatureReading.objects.exists()


def test_layout_endpoints(users, api):
    admin = api(users["admin"])
    response = admin.post("/api/v1/storage/units/", {
        "name": "LN2-09", "kind": "ln2_liquid", "min_temperature_c": -200, "max_temperature_c": -180,
        "quarantine": True, "site": "Main", "room": "B12"}, format="json")
    assert response.status_code == 201, response.data
    unit = response.data
    assert (unit["kind"], unit["quarantine"], unit["silent_after_minutes"]) == ("ln2_liquid", True, 30)
    assert unit["occupancy"] == {"used": 0, "capacity": 0, "free": 0, "pct": 0.0, "warning": False}
    rack = admin.post(f"/api/v1/storage/units/{unit['id']}/racks/", {"name": "C1", "capacity": 10}, format="json")
    assert rack.status_code == 201 and rack.data["unit"] == unit["id"] and rack.data["position"] == 1
    box = admin.post(f"/api/v1/storage/racks/{rack.data['id']}/boxes/", {"name": "B1", "rows": 8, "cols": 12},
                     format="json")
    assert box.status_code == 201, box.data
    assert (box.data["rows"], box.data["cols"], box.data["capacity"]) == (8, 12, 96)
    assert box.data["barcode"].startswith("SBB")
    preset = admin.post(f"/api/v1/storage/racks/{rack.data['id']}/boxes/", {"name": "B2", "preset": "10x10"},
                        format="json")
    assert (preset.data["rows"], preset.data["cols"]) == (10, 10)
    found = admin.get("/api/v1/storage/boxes/", {"barcode": box.data["barcode"]})
    assert found.data["count"] == 1 and found.data["results"][0]["id"] == box.data["id"]
    change = admin.patch(f"/api/v1/storage/units/{unit['id']}/", {"room": "B14", "reason": "moved rooms"},
                         format="json")
    assert change.status_code == 200 and change.data["room"] == "B14"
    assert StorageUnit.objects.get(pk=unit["id"]).history.first().history_change_reason == "moved rooms"


@pytest.mark.parametrize("payload,field", [
    ({"name": "X", "kind": "fridge", "min_temperature_c": -90, "max_temperature_c": -70}, "kind"),
    ({"name": "X", "kind": "freezer_minus80", "min_temperature_c": -70, "max_temperature_c": -90},
     "max_temperature_c"),
    ({"name": "X", "kind": "freezer_minus80", "min_temperature_c": "cold", "max_temperature_c": -70},
     "min_temperature_c"),
    ({"kind": "freezer_minus80", "min_temperature_c": -90, "max_temperature_c": -70}, "name"),
])
def test_bad_unit_is_a_400_and_saves_nothing(users, api, payload, field):
    response = api(users["admin"]).post("/api/v1/storage/units/", payload, format="json")
    assert response.status_code == 400 and field in response.data
    assert not StorageUnit.objects.exists()


@pytest.mark.parametrize("payload,field", [
    ({"name": "B", "rows": 9}, "cols"), ({"name": "B", "rows": 30, "cols": 9}, "rows"),
    ({"name": "B", "preset": "7x7"}, "preset"), ({"rows": 9, "cols": 9}, "name"),
])
def test_bad_box_is_a_400(layout, users, api, payload, field):
    before = Box.objects.count()
    response = api(users["admin"]).post(f"/api/v1/storage/racks/{layout.rack.pk}/boxes/", payload, format="json")
    assert response.status_code == 400 and field in response.data
    assert Box.objects.count() == before


def test_unknown_records_are_404(users, api):
    admin = api(users["admin"])
    for method, path, payload in [
        ("get", "/api/v1/storage/boxes/999999/map/", None),
        ("post", "/api/v1/lots/999999/store/", {"boxes": [1]}),
        ("post", "/api/v1/vials/999999/move/", {"box": 1, "row": 1, "col": 1, "reason": "x"}),
        ("post", "/api/v1/storage/units/999999/readings/", {"temperature_c": -180}),
        ("post", "/api/v1/storage/alarms/999999/acknowledge/", {"reason": "x", "password": "x"}),
    ]:
        assert getattr(admin, method)(path, payload, format="json").status_code == 404, path


def test_box_map_contract_and_constant_queries(layout, users, api, released_lot, django_assert_num_queries):
    store_lot(released_lot, [layout.box], actor=users["technician"])
    client = api(users["technician"])
    client.get(f"/api/v1/storage/boxes/{layout.box.pk}/map/")  # warm the user's permission cache
    # 1: the box with its rack and unit; 2: its vials with their lot and cell line
    with django_assert_num_queries(2):
        response = client.get(f"/api/v1/storage/boxes/{layout.box.pk}/map/")
    data = response.data
    assert (data["rows"], data["cols"], data["used"]) == (3, 3, 4)
    assert [(c["row"], c["col"]) for c in data["cells"]] == [(r, c) for r in (1, 2, 3) for c in (1, 2, 3)]
    first = data["cells"][0]
    vial = released_lot.vials.get(number=1)
    assert first["label"] == "A1" and first["vial"]["barcode"] == vial.barcode
    assert first["vial"]["lot"] == released_lot.pk and first["vial"]["lot_number"] == released_lot.lot_number
    assert first["vial"]["cell_line"] == released_lot.cell_line.name and first["vial"]["status"] == "available"
    assert data["cells"][4]["vial"] is None
    assert first["vial"]["do_not_use"] is False and first["vial"]["lot_ancestor_recalled"] is False
    # a fuller box costs the same number of queries
    store_lot(LotFactory(status="released", vial_count=9), [layout.box2], actor=users["technician"])
    with django_assert_num_queries(2):
        assert client.get(f"/api/v1/storage/boxes/{layout.box2.pk}/map/").data["used"] == 9


def test_lists_run_constant_queries(layout, users, api, django_assert_num_queries):
    client = api(users["qa"])
    for _ in range(2):
        Alarm.objects.create(unit=StorageUnit.objects.create(
            name=f"U{Alarm.objects.count()}", kind="ln2_vapor", min_temperature_c=-196, max_temperature_c=-150),
            kind="excursion")
    client.get("/api/v1/storage/alarms/")
    # 1: the page of alarms with unit, reading, acknowledger and vial count (it fits one page: no count)
    with django_assert_num_queries(1):
        assert client.get("/api/v1/storage/alarms/?active=true").data["count"] == 2
    client.get("/api/v1/storage/units/")
    # 1: the page of units (it fits: no count), 2: occupancy of every unit (from the boxes' counters)
    with django_assert_num_queries(2):
        assert client.get("/api/v1/storage/units/").data["count"] == 5


def test_store_lot_endpoint(layout, users, api, quarantine_lot, released_lot):
    client = api(users["technician"])
    response = client.post(f"/api/v1/lots/{quarantine_lot.pk}/store/", {"boxes": [layout.q_box.pk]}, format="json")
    assert response.status_code == 200, response.data
    assert response.data["stored"] == 4
    first = response.data["vials"][0]
    assert first["position"]["box"] == layout.q_box.pk and (first["position"]["row"], first["position"]["col"]) == (
        1, 1)
    assert first["position"]["unit_name"] == "LN2-Q"
    # segregation, space, bad input: 409/400 and nothing saved
    response = client.post(f"/api/v1/lots/{released_lot.pk}/store/", {"boxes": [layout.q_box2.pk]}, format="json")
    assert response.status_code == 409 and response.data["code"] == "quarantine_segregation"
    big = LotFactory(vial_count=20)
    response = client.post(f"/api/v1/lots/{big.pk}/store/", {"boxes": [layout.q_box2.pk]}, format="json")
    assert response.status_code == 409 and response.data["code"] == "insufficient_space"
    assert response.data["needed"] == 20 and response.data["free"] == 9
    for payload in ({"boxes": []}, {"boxes": ["x"]}, {}, {"boxes": [987654]}, {"boxes": [layout.box.pk] * 2}):
        response = client.post(f"/api/v1/lots/{released_lot.pk}/store/", payload, format="json")
        assert response.status_code == 400 and "boxes" in response.data, payload
    assert not big.vials.filter(box__isnull=False).exists()
    assert not released_lot.vials.filter(box__isnull=False).exists()
    response = client.post(f"/api/v1/lots/{quarantine_lot.pk}/store/", {"boxes": [layout.q_box.pk]}, format="json")
    assert response.status_code == 409 and response.data["code"] == "nothing_to_store"


def test_move_vial_endpoint(layout, users, api, released_lot):
    store_lot(released_lot, [layout.box], actor=users["technician"])
    vial = released_lot.vials.get(number=1)
    client = api(users["technician"])
    url = f"/api/v1/vials/{vial.pk}/move/"
    response = client.post(url, {"box": layout.box2.pk, "row": 3, "col": 2, "reason": "box cracked"}, format="json")
    assert response.status_code == 200, response.data
    assert response.data["position"]["box"] == layout.box2.pk and response.data["position"]["label"] == "C2"
    assert vial.history.first().history_change_reason == "box cracked"
    other = released_lot.vials.get(number=2)
    response = client.post(f"/api/v1/vials/{other.pk}/move/",
                           {"box": layout.box2.pk, "row": 3, "col": 2, "reason": "x"}, format="json")
    assert response.status_code == 409 and response.data["code"] == "position_occupied"
    assert response.data["occupant"] == vial.barcode
    for payload, field in (({"box": layout.box2.pk, "row": 1, "col": 1}, "reason"),
                           ({"box": layout.box2.pk, "row": 4, "col": 1, "reason": "x"}, "row"),
                           ({"box": layout.box2.pk, "row": 0, "col": 1, "reason": "x"}, "row"),
                           ({"box": 987654, "row": 1, "col": 1, "reason": "x"}, "box"),
                           ({"box": "x", "row": 1, "col": 1, "reason": "x"}, "box")):
        response = client.post(f"/api/v1/vials/{other.pk}/move/", payload, format="json")
        assert response.status_code == 400 and field in response.data, payload
    other.refresh_from_db()
    assert (other.box, other.row, other.col) == (layout.box, 1, 2)
    custody = client.get(f"/api/v1/storage/vials/{vial.pk}/moves/").data["results"]
    assert [m["kind"] for m in custody] == ["placed", "moved"]
    assert custody[1]["moved_by"] == "technician" and custody[1]["reason"] == "box cracked"


def test_box_move_and_evacuate_endpoints(layout, users, api, released_lot):
    store_lot(released_lot, [layout.box], actor=users["technician"])
    client = api(users["technician"])
    response = client.post(f"/api/v1/storage/boxes/{layout.box.pk}/move/",
                           {"rack": layout.rack2.pk, "reason": "reorganising"}, format="json")
    assert response.status_code == 200 and response.data["rack"] == layout.rack2.pk
    response = client.post(f"/api/v1/storage/boxes/{layout.box.pk}/move/",
                           {"rack": layout.q_rack.pk, "reason": "x"}, format="json")
    assert response.status_code == 409 and response.data["code"] == "quarantine_segregation"
    response = client.post(f"/api/v1/storage/units/{layout.unit.pk}/evacuate/",
                           {"unit": layout.mirror_unit.pk, "reason": "tank failure"}, format="json")
    assert response.status_code == 200 and response.data["vials"] == 4 and len(response.data["boxes"]) == 2
    assert set(Rack.objects.filter(boxes__in=[layout.box, layout.box2]).values_list("unit", flat=True)) == {
        layout.mirror_unit.pk}


def test_find_space_endpoint(layout, users, api, quarantine_lot):
    response = api(users["technician"]).get("/api/v1/storage/find-space/", {"lot": quarantine_lot.pk})
    assert response.status_code == 200 and response.data["enough"] and response.data["needed"] == 4
    assert response.data["boxes"][0]["unit_name"] == "LN2-Q"
    assert api(users["technician"]).get("/api/v1/storage/find-space/", {"lot": "x"}).status_code == 400


def test_sensor_posts_readings_with_a_token(layout, users, released_lot):
    store_lot(released_lot, [layout.box], actor=users["technician"])
    bind_sensors(layout.unit, ["sensor"], actor=users["admin"])
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION="Token " + issue_token(users["sensor"])[1])
    url = f"/api/v1/storage/units/{layout.unit.pk}/readings/"
    at = (timezone.now() - datetime.timedelta(minutes=2)).isoformat()
    response = client.post(url, {"temperature_c": -185.4, "recorded_at": at}, format="json")
    assert response.status_code == 201 and response.data["alarm"] is None
    assert response.json()["temperature_c"] == -185.4
    assert client.post(url, {"temperature_c": -185.4, "recorded_at": at}, format="json").status_code == 200
    response = client.post(url, {"temperature_c": "-121.333"}, format="json")
    assert response.status_code == 201 and response.data["alarm"] is not None
    alarm = Alarm.objects.get(pk=response.data["alarm"])
    assert alarm.kind == "excursion" and alarm.alarmvial_set.count() == 0  # the sensor does not wait: the worker lists
    record_alarm_vials(alarm.pk)
    assert alarm.alarmvial_set.count() == 4
    for payload, field in (({"temperature_c": "warm"}, "temperature_c"), ({}, "temperature_c"),
                           ({"temperature_c": -400}, "temperature_c"),
                           ({"temperature_c": -180, "recorded_at": "yesterday"}, "recorded_at"),
                           ({"temperature_c": -180, "recorded_at": "2099-01-01T00:00:00Z"}, "recorded_at")):
        response = client.post(url, payload, format="json")
        assert response.status_code == 400 and field in response.data, payload
    assert TemperatureReading.objects.count() == 2
    # the sensor posts, nothing else
    assert client.get(url).status_code == 403
    assert client.get("/api/v1/storage/alarms/").status_code == 403


def test_alarm_list_and_acknowledge(layout, users, api, password):
    Alarm.objects.create(unit=layout.unit, kind="sensor_silent", message="silent")
    excursion = Alarm.objects.create(unit=layout.q_unit, kind="excursion", message="warm")
    Alarm.objects.create(unit=layout.mirror_unit, kind="excursion", status="acknowledged")
    client = api(users["qa"])
    active = client.get("/api/v1/storage/alarms/", {"active": "true"}).data
    assert active["count"] == 2 and {a["kind"] for a in active["results"]} == {"excursion", "sensor_silent"}
    assert client.get("/api/v1/storage/alarms/", {"active": "false"}).data["count"] == 1
    assert client.get("/api/v1/storage/alarms/", {"active": "maybe"}).status_code == 400
    assert client.get("/api/v1/storage/alarms/", {"kind": "flood"}).status_code == 400
    url = f"/api/v1/storage/alarms/{excursion.pk}/acknowledge/"
    assert client.post(url, {"password": password}, format="json").status_code == 400
    response = client.post(url, {"password": "nope", "reason": "checked"}, format="json")
    assert response.status_code == 403 and response.data["code"] == "signature_invalid"
    excursion.refresh_from_db()
    assert excursion.status == "active"
    response = client.post(url, {"password": password, "reason": "LN2 refilled, vials assessed"}, format="json")
    assert response.status_code == 200, response.data
    assert response.data["status"] == "acknowledged" and response.data["acknowledged_by"] == "qa"
    assert response.data["signatures"][0]["meaning"] == "acknowledgement"
    response = client.post(url, {"password": password, "reason": "again"}, format="json")
    assert response.status_code == 409 and response.data["code"] == "alarm_not_active"
