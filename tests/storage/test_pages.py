"""Storage pages: freezer map, scan-to-locate, moves and storing from the bench, alarms, layout, panels."""

import datetime

import pytest
from django.template import Context, Template
from django.test import override_settings
from django.utils import timezone

from storage.models import Alarm, Box, Rack, StorageUnit
from storage.services import bind_sensors, record_readings, store_lot
from tests.factories import LotFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def stored(layout, users, released_lot):
    store_lot(released_lot, [layout.box], actor=users["technician"])
    return list(released_lot.vials.order_by("number"))


def pages(layout, lot):
    return ["/storage/", f"/storage/units/{layout.unit.pk}/", f"/storage/racks/{layout.rack.pk}/",
            f"/storage/boxes/{layout.box.pk}/", "/storage/alarms/"]


def test_pages_need_a_storage_role(client, layout, users, released_lot):
    for url in pages(layout, released_lot) + ["/storage/move/", "/storage/store/"]:
        assert client.get(url).status_code == 302, url
    client.force_login(users["researcher"])
    for url in pages(layout, released_lot):
        assert client.get(url).status_code == 403, url
    client.force_login(users["qa"])
    for url in pages(layout, released_lot):
        assert client.get(url).status_code == 200, url
    for url in ("/storage/move/", "/storage/store/", "/storage/units/new/",
                f"/storage/units/{layout.unit.pk}/evacuate/"):
        assert client.get(url).status_code == 403, url  # QA reads storage, technicians place and move


def test_box_map_page(client, layout, users, stored):
    client.force_login(users["technician"])
    html = client.get(f"/storage/boxes/{layout.box.pk}/").content.decode()
    assert html.count('class="cell available') == 4 and html.count('class="cell empty') == 5
    assert f'data-barcode="{stored[0].barcode}"' in html and 'data-cell="A1"' in html
    assert f"{stored[0].barcode} · lot {stored[0].lot.lot_number} · {stored[0].lot.cell_line.name}" in html
    assert "data-scan-target autofocus-scan" in html
    # a full 10 x 10 box renders with the same number of queries as this one
    big = Box.objects.create(rack=layout.rack2, name="big", barcode="SBB-BIG", rows=10, cols=10)
    store_lot(LotFactory(status="released", vial_count=100), [big], actor=users["technician"])
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as few:
        client.get(f"/storage/boxes/{layout.box.pk}/")
    with CaptureQueriesContext(connection) as many:
        assert client.get(f"/storage/boxes/{big.pk}/").content.decode().count('class="cell available') == 100
    assert len(few) == len(many)


def test_box_page_says_where_a_scanned_vial_belongs(client, layout, users, stored, quarantine_lot):
    client.force_login(users["technician"])
    url = f"/storage/boxes/{layout.box.pk}/"
    html = client.get(url, {"vial": stored[1].barcode}).content.decode()
    assert "belongs here, at A2" in html and 'data-cell="A2" role="gridcell"' not in html
    assert 'hl" href' in html
    html = client.get(f"/storage/boxes/{layout.box2.pk}/", {"vial": stored[1].barcode}).content.decode()
    assert "does not belong in this box" in html and f"box {layout.box.name} at A2" in html
    html = client.get(url, {"vial": quarantine_lot.vials.first().barcode}).content.decode()
    assert "has no place in storage" in html
    html = client.get(url, {"vial": "SBV-NOPE"}).content.decode()
    assert "No vial has the barcode" in html
    response = client.get(url, {"vial": layout.box2.barcode})  # a box label scanned here opens that box
    assert response.status_code == 302 and response.url == f"/storage/boxes/{layout.box2.pk}/"


def test_vials_of_a_recalled_lot_are_marked_do_not_use(client, layout, users, stored, released_lot):
    client.force_login(users["technician"])
    url = f"/storage/boxes/{layout.box.pk}/"
    html = client.get(url).content.decode()
    assert "blocked" not in html.split('class="legend"')[0]
    assert "Available" in html and " · available" not in html  # the vial status is shown by its label
    released_lot.status = "recalled"
    released_lot.save(update_fields=["status"])
    html = client.get(url).content.decode()
    assert html.count('class="cell available blocked') == 4
    assert "lot recalled: do not use" in html
    scanned = client.get(url, {"vial": stored[0].barcode}).content.decode()
    assert 'id="scan-blocked"' in scanned and "do not use or ship this vial" in scanned
    # a lot made from a recalled lot is marked the same way, whatever its own status
    released_lot.status, released_lot.ancestor_recalled_at = "quarantine", timezone.now()
    released_lot.save(update_fields=["status", "ancestor_recalled_at"])
    html = client.get(url).content.decode()
    assert html.count('class="cell available blocked') == 4 and "made from a recalled lot: do not use" in html
    scanned = client.get(url, {"vial": stored[0].barcode}).content.decode()
    assert "was made from a recalled lot: do not use or ship this vial" in scanned


def test_header_scan_opens_a_box(client, layout, users):
    client.force_login(users["technician"])
    response = client.get("/scan/", {"code": layout.box.barcode})
    assert response.status_code == 302 and response.url == f"/storage/boxes/{layout.box.pk}/"
    client.force_login(users["researcher"])
    assert client.get("/scan/", {"code": layout.box.barcode}).status_code == 404


def test_move_a_vial_from_the_bench(client, layout, users, stored):
    client.force_login(users["technician"])
    vial = stored[0]
    assert 'id="scan-vial"' in client.get("/storage/move/").content.decode()
    html = client.get("/storage/move/", {"vial": vial.barcode}).content.decode()
    assert 'id="scan-box"' in html and "Now in LN2-M / R1 / box M-B1 at A1." in html
    html = client.get("/storage/move/", {"vial": layout.box.barcode}).content.decode()
    assert "is a box. Scan the vial" in html
    html = client.get("/storage/move/", {"vial": vial.barcode, "box": stored[1].barcode}).content.decode()
    assert "is a vial. Scan the barcode of the destination box" in html
    html = client.get("/storage/move/", {"vial": vial.barcode, "box": layout.box.barcode}).content.decode()
    assert 'name="position" value="B2" checked' in html  # first free position proposed
    response = client.post("/storage/move/", {"vial": vial.barcode, "box": layout.box.barcode, "position": "A2",
                                              "reason": "tidy"})
    assert response.status_code == 200 and "holds vial" in response.content.decode()
    response = client.post("/storage/move/", {"vial": vial.barcode, "box": layout.box2.barcode, "position": "C3",
                                              "reason": "tidy"})
    assert response.status_code == 302 and response.url == f"/storage/boxes/{layout.box2.pk}/?vial={vial.barcode}"
    vial.refresh_from_db()
    assert (vial.box, vial.row, vial.col) == (layout.box2, 3, 3)
    response = client.post("/storage/move/", {"vial": vial.barcode, "box": layout.box.barcode, "position": "Z9",
                                              "reason": "x"})
    assert "Pick a position" in response.content.decode()


def test_store_a_lot_from_the_bench(client, layout, users, quarantine_lot):
    client.force_login(users["technician"])
    response = client.get("/storage/store/", {"lot": quarantine_lot.barcode})
    assert response.status_code == 302 and response.url == f"/storage/lots/{quarantine_lot.pk}/store/"
    html = client.get(response.url).content.decode()
    assert f'data-box="{layout.q_box.barcode}"' in html  # find_space's proposal
    html = client.get(response.url, {"boxes": "", "add": layout.box.barcode}).content.decode()
    response = client.post(f"/storage/lots/{quarantine_lot.pk}/store/", {"boxes": str(layout.box.pk),
                                                                        "reason": "frozen today"})
    assert response.status_code == 200 and "may only be stored in a quarantine unit" in response.content.decode()
    response = client.post(f"/storage/lots/{quarantine_lot.pk}/store/", {"boxes": str(layout.q_box2.pk),
                                                                        "reason": "frozen today"})
    assert response.status_code == 302
    assert quarantine_lot.vials.filter(box=layout.q_box2).count() == 4
    html = client.get("/storage/store/", {"lot": "NOPE"}).content.decode()
    assert "No lot has the barcode" in html


def test_relocate_a_released_lot(client, layout, users, quarantine_lot):
    store_lot(quarantine_lot, [layout.q_box], actor=users["technician"])
    quarantine_lot.status = "released"
    quarantine_lot.save()
    client.force_login(users["technician"])
    assert quarantine_lot.lot_number in client.get("/storage/").content.decode()  # listed as misplaced
    response = client.post(f"/storage/lots/{quarantine_lot.pk}/relocate/", {"reason": "released", "boxes": ""})
    assert response.status_code == 302
    assert not quarantine_lot.vials.filter(box__rack__unit__quarantine=True).exists()


def test_unit_page_draws_a_chart(client, layout, users):
    now = timezone.now()
    bind_sensors(layout.unit, ["sensor"], actor=users["admin"])
    record_readings(layout.unit, [(-180 - i % 3, now - datetime.timedelta(minutes=10 * i)) for i in range(30)]
                    + [(-120, now - datetime.timedelta(minutes=305))], actor=users["sensor"])
    client.force_login(users["qa"])
    html = client.get(f"/storage/units/{layout.unit.pk}/").content.decode()
    assert '<svg xmlns="http://www.w3.org/2000/svg" class="chart"' in html and 'data-points="31"' in html
    assert 'class="readings"' in html and 'class="excursion"' in html and 'class="allowed"' in html
    assert "Out of range" not in html and "In range" in html
    html = client.get(f"/storage/units/{layout.unit.pk}/", {"window": "7d"}).content.decode()
    assert 'class="band"' in html
    html = client.get(f"/storage/units/{layout.mirror_unit.pk}/").content.decode()
    assert "No readings in this period." in html


@override_settings(STORAGE_CAPACITY_WARNING_PCT=40)
def test_capacity_warning_and_dashboard_panel(client, layout, users, stored):
    Alarm.objects.create(unit=layout.unit, kind="sensor_silent", message="x")
    client.force_login(users["technician"])
    html = client.get("/").content.decode()
    assert 'id="storage-panel"' in html and "<strong>LN2-M</strong> — Sensor silent" in html
    assert "Nearly full" not in html  # 4 of 18 positions: 22 %
    store_lot(LotFactory(status="released", vial_count=5), [layout.box2], actor=users["technician"])
    html = client.get("/").content.decode()
    assert "Nearly full" in html and "LN2-M</a> 50%" in html
    assert "capacity-warning" in client.get(f"/storage/units/{layout.unit.pk}/").content.decode()
    client.force_login(users["coordinator"])
    assert 'id="storage-panel"' not in client.get("/").content.decode()


def test_acknowledge_from_the_alarm_page(client, layout, users, password):
    record_readings(layout.unit, [(-100, timezone.now())], actor=users["admin"])
    alarm = Alarm.objects.get()
    client.force_login(users["qa"])
    url = f"/storage/alarms/{alarm.pk}/"
    assert "Electronic signature" in client.get(url).content.decode()
    response = client.post(url, {"reason": "checked", "meaning": "acknowledgement", "password": "wrong"})
    assert response.status_code == 200 and "password is not correct" in response.content.decode()
    response = client.post(url, {"reason": "checked the seal", "meaning": "acknowledgement", "password": password})
    assert response.status_code == 302
    alarm.refresh_from_db()
    assert alarm.status == "acknowledged"
    html = client.get(url).content.decode()
    assert 'data-signature="' in html and "Electronic signature" not in html
    client.force_login(users["technician"])
    assert client.post(url, {"reason": "x", "meaning": "acknowledgement", "password": password}).status_code == 404


def test_admin_lays_out_storage_with_pages(client, users):
    client.force_login(users["admin"])
    response = client.post("/storage/units/new/", {"name": "LN2-05", "kind": "ln2_vapor", "min_temperature_c": "-196",
                                                   "max_temperature_c": "-150", "site": "Main", "room": "101"})
    unit = StorageUnit.objects.get(name="LN2-05")
    assert response.status_code == 302 and response.url == f"/storage/units/{unit.pk}/"
    response = client.post("/storage/units/new/", {"name": "LN2-06", "kind": "ln2_vapor", "min_temperature_c": "-150",
                                                   "max_temperature_c": "-196"})
    assert response.status_code == 200 and not StorageUnit.objects.filter(name="LN2-06").exists()
    client.post(f"/storage/units/{unit.pk}/racks/new/", {"name": "R1", "capacity": "8"})
    rack = Rack.objects.get(unit=unit)
    response = client.post(f"/storage/racks/{rack.pk}/boxes/new/", {"name": "B1", "preset": "custom", "rows": "",
                                                                    "cols": "4"})
    assert response.status_code == 200 and not Box.objects.exists()
    client.post(f"/storage/racks/{rack.pk}/boxes/new/", {"name": "B1", "preset": "5x5"})
    assert Box.objects.get().capacity == 25
    response = client.post(f"/storage/units/{unit.pk}/edit/", {
        "name": "LN2-05", "kind": "ln2_vapor", "min_temperature_c": "-196", "max_temperature_c": "-150",
        "sensor_silent_minutes": "10", "reason": "new sensor", "active": "on"})
    assert response.status_code == 302
    unit.refresh_from_db()
    assert unit.sensor_silent_minutes == 10 and unit.history.first().history_change_reason == "new sensor"
    client.force_login(users["technician"])
    assert client.get("/storage/units/new/").status_code == 403


def test_lot_and_vial_pages_get_a_storage_section(rf, layout, users, stored):
    lot = stored[0].lot
    request = rf.get("/")
    request.user = users["technician"]
    html = Template("{% load bank_tags %}{% object_panels obj %}").render(Context({"request": request, "obj": lot}))
    assert 'id="panel-storage"' in html and "M-B1" in html and "A1 A2 A3 B1" in html
    html = Template("{% load bank_tags %}{% object_panels obj %}").render(
        Context({"request": request, "obj": stored[0]}))
    assert "chain of custody" in html.lower() and "Placed into storage" in html
    request.user = users["coordinator"]
    html = Template("{% load bank_tags %}{% object_panels obj %}").render(Context({"request": request, "obj": lot}))
    assert 'id="panel-storage"' not in html


@override_settings(STORAGE_CAPACITY_WARNING_PCT=40)
def test_dashboard_lists_the_fullest_units_and_counts_the_rest(client, users, monkeypatch):
    """Hundreds of full tanks must not make the dashboard list hundreds of rows: the fullest five, then a count."""
    from storage import panels, queries
    from storage.models import StorageUnit

    units = [StorageUnit.objects.create(name=f"FULL-{n}", kind="ln2_vapor", min_temperature_c=-196,
                                        max_temperature_c=-150) for n in range(7)]
    warnings = [(unit, queries.Occupancy(90 - n, 100)) for n, unit in enumerate(units)]
    monkeypatch.setattr(queries, "capacity_warnings", lambda limit: (warnings[:limit], len(warnings) - limit))
    client.force_login(users["technician"])
    html = client.get("/").content.decode()
    assert html.count('class="capacity-warning"') == panels.DASHBOARD_WARNINGS == 5
    assert "FULL-0</a> 90%" in html and "FULL-6" not in html
    assert "2 more units are nearly full." in html


@override_settings(STORAGE_CAPACITY_WARNING_PCT=40)
def test_capacity_warnings_rank_the_fullest_units_in_service_and_count_the_rest():
    from storage import queries
    from storage.models import StorageUnit, UnitOccupancy

    def unit(name, used, active=True):
        made = StorageUnit.objects.create(name=name, kind="ln2_vapor", min_temperature_c=-196,
                                          max_temperature_c=-150, active=active)
        UnitOccupancy.objects.create(unit=made, used=used, capacity=100)  # as the boxes' triggers keep it
        return made

    units = [unit("T-B", 90), unit("T-A", 90), unit("T-C", 95), unit("T-D", 41), unit("T-E", 30),
             unit("T-F", 99, active=False)]
    shown, more = queries.capacity_warnings(3)
    assert [u.name for u, _o in shown] == ["T-C", "T-A", "T-B"] and more == 1
    everything, none_left = queries.capacity_warnings()
    assert [u.name for u, _o in everything] == ["T-C", "T-A", "T-B", "T-D"] and none_left == 0
    assert all(o.used == {u.pk: u for u in units}[u.pk].kept_occupancy.used for u, o in everything)


def test_a_lots_storage_lists_its_boxes_in_the_databases_order_and_positions_by_row_and_column():
    """Unit name (in the database's collation), rack position, box position, then each box's positions by row and
    column, whatever order the vials were placed in."""
    from lots.models import Vial
    from storage.queries import lot_storage
    from tests.factories import BoxFactory, LotFactory, RackFactory, StorageUnitFactory

    lot = LotFactory(vial_count=7)
    lower, upper = StorageUnitFactory(name="ln2-b"), StorageUnitFactory(name="LN2-C")
    racks = [RackFactory(unit=upper, position=2), RackFactory(unit=lower, position=1), RackFactory(unit=upper,
                                                                                                   position=1)]
    boxes = [BoxFactory(rack=racks[0], position=1), BoxFactory(rack=racks[1], position=3),
             BoxFactory(rack=racks[2], position=2), BoxFactory(rack=racks[2], position=1)]
    places = [(boxes[0], 1, 1), (boxes[2], 2, 2), (boxes[2], 1, 3), (boxes[1], 1, 1), (boxes[3], 3, 1),
              (boxes[2], 1, 1), (boxes[0], 4, 4)]
    for vial, (box, row, col) in zip(Vial.objects.filter(lot=lot).order_by("number"), places, strict=True):
        Vial.objects.filter(pk=vial.pk).update(box=box, row=row, col=col)
    expected = list(Box.objects.filter(pk__in=[b.pk for b in boxes])
                    .order_by("rack__unit__name", "rack__position", "position", "id").values_list("pk", flat=True))
    found = lot_storage(lot)
    assert [entry["box"].pk for entry in found["boxes"]] == expected and found["stored"] == 7
    by_box = {entry["box"].pk: entry["positions"] for entry in found["boxes"]}
    assert by_box[boxes[2].pk] == "A1 A3 B2" and by_box[boxes[0].pk] == "A1 D4"
