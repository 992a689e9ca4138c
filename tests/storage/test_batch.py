"""Batch moves, rack moves and evacuation as a job (issue 17): one transaction and one reason each, all or nothing,
bounded queries for a 100-vial batch."""

import pytest
from django.core.exceptions import ValidationError
from django.test import override_settings

from bank.errors import Conflict
from bank.jobs import run_job
from bank.models import Job
from lots.models import Vial
from storage.models import Rack, UnitOccupancy, VialMove
from storage.services import batch_move, batch_vials, move_rack, store_lot
from tests.factories import BoxFactory, LotFactory, RackFactory, StorageUnitFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def stored(layout, users, released_lot):
    """Four released vials at A1-B1 of M-B1 (main tank)."""
    store_lot(released_lot, [layout.box], actor=users["technician"])
    return list(released_lot.vials.order_by("number"))


def positions(vials):
    return list(Vial.objects.filter(pk__in=[v.pk for v in vials]).order_by("pk").values_list("box_id", "row", "col"))


def test_batch_move_fills_free_positions_from_a_start(layout, users, stored):
    Vial.objects.filter(pk=LotFactory(status="released", vial_count=1).vials.get().pk).update(
        box=layout.box2, row=1, col=3)  # A3 of M-B2 is taken: A2, then B1 and B2
    moved = batch_move(stored[:3], layout.box2, start=(1, 2), actor=users["technician"], reason="Consolidating boxes")
    assert [(v.box_id, v.row, v.col) for v in moved] == [(layout.box2.pk, 1, 2), (layout.box2.pk, 2, 1),
                                                         (layout.box2.pk, 2, 2)]
    assert positions(stored[:3]) == [(layout.box2.pk, 1, 2), (layout.box2.pk, 2, 1), (layout.box2.pk, 2, 2)]
    moves = VialMove.objects.filter(reason="Consolidating boxes").order_by("vial_id")
    assert [(m.kind, m.from_box_id, m.to_box_id) for m in moves] == [("moved", layout.box.pk, layout.box2.pk)] * 3
    assert stored[0].history.first().history_change_reason == "Consolidating boxes"


def test_batch_move_can_compact_a_box(layout, users, stored):
    Vial.objects.filter(pk=stored[0].pk).update(box=layout.box, row=3, col=3)
    batch_move([stored[0]], layout.box, actor=users["technician"], reason="tidy")
    assert positions([stored[0]]) == [(layout.box.pk, 1, 1)]
    with pytest.raises(Conflict) as exc:
        batch_move(stored, layout.box, actor=users["technician"], reason="tidy")
    assert exc.value.code == "nothing_to_store"


@pytest.mark.parametrize("spoil,code", [
    ("destroyed", "vial_unavailable"), ("quarantine", "quarantine_segregation"), ("space", "insufficient_space"),
])
def test_one_bad_vial_moves_nothing(layout, users, stored, spoil, code):
    batch = list(stored)
    if spoil == "destroyed":
        Vial.objects.filter(pk=stored[2].pk).update(status="destroyed")
    elif spoil == "quarantine":
        batch.append(LotFactory(vial_count=1).vials.get())  # never released: may not enter the main tank
    else:
        batch += list(LotFactory(status="released", vial_count=6).vials.all())  # 10 vials, 9 positions
    before = positions(batch)
    with pytest.raises(Conflict) as exc:
        batch_move(batch, layout.box2, actor=users["technician"], reason="x")
    assert exc.value.code == code
    assert positions(batch) == before
    assert not VialMove.objects.filter(reason="x").exists()


def test_batch_bad_input(layout, users, stored):
    for kwargs, field in (({"vials": []}, "vials"), ({"vials": [stored[0], stored[0]]}, "vials"),
                          ({"vials": stored, "start": (4, 1)}, "start"), ({"vials": stored, "reason": ""}, "reason")):
        kwargs = {"reason": "x", **kwargs}
        with pytest.raises(ValidationError) as exc:
            batch_move(kwargs.pop("vials"), layout.box2, actor=users["technician"], **kwargs)
        assert field in exc.value.message_dict
    with pytest.raises(ValidationError) as exc:
        batch_vials(barcodes=[stored[0].barcode, "NOPE"], vial_ids=[stored[0].pk])
    assert "NOPE" in exc.value.message_dict["vials"][0] and "twice" in exc.value.message_dict["vials"][1]


def test_batch_vials_from_boxes_and_racks_in_order(layout, stored):
    other = LotFactory(status="released", vial_count=2)
    Vial.objects.filter(lot=other, number=1).update(box=layout.box2, row=3, col=2)
    Vial.objects.filter(lot=other, number=2).update(box=layout.box2, row=3, col=1)
    ids = batch_vials(boxes=[layout.box2, layout.box])
    assert ids == [other.vials.get(number=2).pk, other.vials.get(number=1).pk] + [v.pk for v in stored]
    assert batch_vials(racks=[layout.rack]) == [v.pk for v in stored] + ids[:2]


def test_batch_move_api_runs_bounded_queries_for_100_vials(layout, users, api, django_assert_num_queries):
    lot = LotFactory(status="released", vial_count=100)
    source = BoxFactory(rack=layout.rack, name="SRC", rows=10, cols=10, position=3)
    target = BoxFactory(rack=layout.rack2, name="DST", rows=10, cols=10, position=3)
    store_lot(lot, [source], actor=users["technician"])
    client = api(users["technician"])
    body = {"barcodes": list(lot.vials.order_by("number").values_list("barcode", flat=True)), "box": target.pk,
            "reason": "Box damaged"}
    # 2 the user's permissions (user, groups); 1 target box; 1 barcodes → ids (batch_vials); savepoint; 1 vials
    # locked with lots and source boxes; 1 boxes locked; 1 target's occupants; 1 units per lot (mirror rule, before);
    # 1 positions cleared; savepoint + 1 positions written + 1 their history + release; 1 moves + 1 their history;
    # 1 the quality gate's SOPs in force; release. The same for 1 or 1,000 vials.
    with django_assert_num_queries(18):
        response = client.post("/api/v1/vials/batch-move/", body, format="json")
    assert response.status_code == 200, response.json()
    assert response.json()["moved"] == 100 and response.json()["vials"][99]["position"]["label"] == "J10"
    assert Vial.objects.filter(box=target).count() == 100
    assert VialMove.objects.filter(reason="Box damaged", kind="moved").count() == 100
    # the whole box back, by picking the box
    response = client.post("/api/v1/vials/batch-move/", {"boxes": [target.pk], "box": source.pk, "reason": "back"},
                           format="json")
    assert response.status_code == 200 and Vial.objects.filter(box=source).count() == 100


def test_batch_move_api_refusals(layout, users, api, stored):
    client = api(users["technician"])
    response = client.post("/api/v1/vials/batch-move/", {"box": layout.box2.pk, "reason": "x"}, format="json")
    assert response.status_code == 400 and "vials" in response.json()
    response = client.post("/api/v1/vials/batch-move/", {"vials": [stored[0].pk], "box": layout.q_box.pk,
                                                         "reason": "x"}, format="json")
    assert response.status_code == 409 and response.json()["code"] == "quarantine_segregation"
    response = client.post("/api/v1/vials/batch-move/", {"barcodes": ["NOPE"], "box": layout.box2.pk,
                                                         "reason": "x"}, format="json")
    assert response.status_code == 400 and "NOPE" in response.json()["vials"][0]
    response = client.post("/api/v1/vials/batch-move/", {"vials": [stored[0].pk], "box": layout.box2.pk,
                                                         "start": "Z9", "reason": "x"}, format="json")
    assert response.status_code == 400 and "start" in response.json()
    response = api(users["researcher"]).post("/api/v1/vials/batch-move/", {"vials": [stored[0].pk],
                                                                           "box": layout.box2.pk, "reason": "x"},
                                             format="json")
    assert response.status_code == 403


# --- racks ----------------------------------------------------------------------------------------------------------


def test_move_rack_keeps_places_and_records_custody(layout, users, stored):
    moved = move_rack(layout.rack, layout.mirror_unit, actor=users["technician"], reason="Rack reorganised")
    assert moved.unit == layout.mirror_unit and moved.position == 2
    assert positions(stored) == [(layout.box.pk, 1, 1), (layout.box.pk, 1, 2), (layout.box.pk, 1, 3),
                                 (layout.box.pk, 2, 1)]
    moves = VialMove.objects.filter(kind="rack_moved")
    assert moves.count() == 4 and {m.reason for m in moves} == {"Rack reorganised"}
    assert Rack.history.filter(id=layout.rack.pk).first().history_change_reason == "Rack reorganised"
    assert UnitOccupancy.objects.get(unit=layout.mirror_unit).used == 4
    assert UnitOccupancy.objects.get(unit=layout.unit).used == 0


def test_move_rack_refusals(layout, users, stored):
    with pytest.raises(Conflict) as exc:
        move_rack(layout.rack, layout.q_unit, actor=users["technician"], reason="x")
    assert exc.value.code == "quarantine_segregation"
    RackFactory(unit=layout.mirror_unit, name="R1")
    with pytest.raises(Conflict) as exc:
        move_rack(layout.rack, layout.mirror_unit, actor=users["technician"], reason="x")
    assert exc.value.code == "rack_name_taken"
    with pytest.raises(ValidationError):
        move_rack(layout.rack, layout.unit, actor=users["technician"], reason="x")
    layout.mirror_unit.active = False
    layout.mirror_unit.save()
    other = RackFactory(unit=layout.unit, name="R9")
    with pytest.raises(Conflict) as exc:
        move_rack(other, layout.mirror_unit, actor=users["technician"], reason="x")
    assert exc.value.code == "unit_out_of_service"
    assert not VialMove.objects.filter(kind="rack_moved").exists()
    assert Rack.objects.get(pk=layout.rack.pk).unit == layout.unit


def test_rack_move_api_and_page(layout, users, api, client, stored):
    response = api(users["technician"]).post(f"/api/v1/storage/racks/{layout.rack2.pk}/move/",
                                             {"unit": layout.mirror_unit.pk, "reason": "x"}, format="json")
    assert response.status_code == 200 and response.json()["unit"] == layout.mirror_unit.pk
    client.force_login(users["technician"])
    assert client.get(f"/storage/racks/{layout.rack.pk}/move/").status_code == 200
    response = client.post(f"/storage/racks/{layout.rack.pk}/move/", {"unit": layout.q_unit.pk, "reason": "x"})
    assert response.status_code == 200 and "may not be stored in the quarantine unit" in response.content.decode()
    response = client.post(f"/storage/racks/{layout.rack.pk}/move/", {"unit": layout.mirror_unit.pk,
                                                                       "reason": "Rack reorganised"})
    assert response.status_code == 302 and Rack.objects.get(pk=layout.rack.pk).unit == layout.mirror_unit


def test_batch_move_page_scans_removes_and_moves(layout, users, client, stored):
    client.force_login(users["technician"])
    response = client.post("/storage/batch-move/", {"codes": "", "scan": layout.box.barcode})
    html = response.content.decode()
    assert all(f'data-barcode="{v.barcode}"' in html for v in stored)
    codes = ",".join(v.barcode for v in stored)
    response = client.post("/storage/batch-move/", {"codes": codes, "remove": stored[3].barcode})
    assert f'data-barcode="{stored[3].barcode}"' not in response.content.decode()
    response = client.post("/storage/batch-move/", {"codes": codes, "scan": "NOPE"})
    assert "No vial has the barcode NOPE" in response.content.decode()
    response = client.post("/storage/batch-move/", {"codes": codes, "action": "move", "box": layout.q_box.barcode,
                                                    "reason": "x"})
    assert response.status_code == 200 and 'id="batch-error"' in response.content.decode()
    response = client.post("/storage/batch-move/", {"codes": codes, "action": "move", "box": layout.box2.barcode,
                                                    "start": "B1", "reason": "Box damaged"})
    assert response.status_code == 302
    assert positions(stored) == [(layout.box2.pk, 2, 1), (layout.box2.pk, 2, 2), (layout.box2.pk, 2, 3),
                                 (layout.box2.pk, 3, 1)]
    assert client.get(f"/storage/batch-move/?rack={layout.rack2.pk}").status_code == 200


# --- evacuation as a job ---------------------------------------------------------------------------------------------


@override_settings(STORAGE_EVACUATE_JOB_BOXES=2)
def test_evacuating_a_big_unit_runs_as_a_job(layout, users, client, stored):
    spare = RackFactory(name="S1").unit
    client.force_login(users["technician"])
    response = client.post(f"/storage/units/{layout.unit.pk}/evacuate/",
                           {"target": spare.pk, "reason": "LN2 leak", "confirm": "on"})
    job = Job.objects.get(kind="storage.evacuate")
    assert response.status_code == 302 and response.url == f"/jobs/{job.pk}/"
    assert Vial.objects.get(pk=stored[0].pk).box.rack.unit == layout.unit  # nothing moved yet
    assert run_job(job.pk) == "done"
    job.refresh_from_db()
    assert job.result["vials"] == 4 and len(job.result["boxes"]) == 2 and job.done == job.total == 6
    assert Vial.objects.get(pk=stored[0].pk).box.rack.unit == spare
    assert VialMove.objects.filter(kind="evacuated", reason="LN2 leak").count() == 4


@override_settings(STORAGE_EVACUATE_JOB_BOXES=2)
def test_a_failed_evacuation_job_says_why(layout, users, client, stored):
    no_racks = StorageUnitFactory(name="LN2-EMPTY")
    client.force_login(users["technician"])
    client.post(f"/storage/units/{layout.unit.pk}/evacuate/",
                {"target": no_racks.pk, "reason": "LN2 leak", "confirm": "on"})
    job = Job.objects.get(kind="storage.evacuate")
    assert run_job(job.pk) == "failed"
    job.refresh_from_db()
    assert "LN2-EMPTY has no racks" in job.error
    assert not VialMove.objects.filter(kind="evacuated").exists()


@override_settings(STORAGE_EVACUATE_JOB_BOXES=2)
def test_the_evacuate_api_sends_a_full_unit_to_a_job_as_the_page_does(layout, users, api, stored):
    """LN2-M holds 2 boxes and the limit is 2: the API answers 202 with the job without being asked
    (storage.jobs.evacuation_needs_job, the page's rule), and ``"background": false`` does not keep it in the
    request. A refusal then comes as the failed job's error, with nothing moved."""
    spare = RackFactory(name="S1").unit
    client = api(users["technician"])
    url = f"/api/v1/storage/units/{layout.unit.pk}/evacuate/"

    # A target that cannot be right is refused at once (400), not as a failed job.
    response = client.post(url, {"unit": layout.unit.pk, "reason": "LN2 leak"}, format="json")
    assert response.status_code == 400 and "unit" in response.json() and not Job.objects.exists()

    response = client.post(url, {"unit": layout.q_unit.pk, "reason": "LN2 leak"}, format="json")
    assert response.status_code == 202
    refused = Job.objects.get(pk=response.json()["job"]["id"])
    assert run_job(refused.pk) == "failed"
    refused.refresh_from_db()
    assert refused.error and not VialMove.objects.filter(kind="evacuated").exists()

    response = client.post(url, {"unit": spare.pk, "reason": "LN2 leak", "background": False}, format="json")
    assert response.status_code == 202 and list(response.json()) == ["job"]
    job = Job.objects.get(pk=response.json()["job"]["id"])
    assert job.kind == "storage.evacuate" and response["Location"].endswith(f"/api/v1/jobs/{job.pk}/")
    assert response.json()["job"]["status"] == "queued"
    assert Vial.objects.get(pk=stored[0].pk).box.rack.unit == layout.unit  # nothing moved in the request
    assert run_job(job.pk) == "done"
    job.refresh_from_db()
    assert job.result["vials"] == 4 and len(job.result["boxes"]) == 2
    assert Vial.objects.get(pk=stored[0].pk).box.rack.unit == spare
    assert VialMove.objects.filter(kind="evacuated", reason="LN2 leak").count() == 4


@override_settings(STORAGE_EVACUATE_JOB_BOXES=3)
def test_the_evacuate_api_answers_a_small_unit_at_once_unless_asked_for_a_job(layout, users, api, stored):
    """Below the limit the evacuation runs in the request (200, or a 409 refusal at once); ``"background": true``
    still hands it to a job."""
    spare = RackFactory(name="S1").unit
    client = api(users["technician"])
    response = client.post(f"/api/v1/storage/units/{layout.unit.pk}/evacuate/",
                           {"unit": layout.q_unit.pk, "reason": "LN2 leak"}, format="json")
    assert response.status_code == 409 and response.json()["code"] == "quarantine_segregation"
    response = client.post(f"/api/v1/storage/units/{layout.unit.pk}/evacuate/",
                           {"unit": spare.pk, "reason": "LN2 leak"}, format="json")
    assert response.status_code == 200
    assert response.json() == {"boxes": [layout.box.pk, layout.box2.pk], "vials": 4, "mirror_broken": []}
    assert not Job.objects.exists()
    assert Vial.objects.get(pk=stored[0].pk).box.rack.unit == spare

    response = client.post(f"/api/v1/storage/units/{spare.pk}/evacuate/",
                           {"unit": layout.unit.pk, "reason": "back", "background": True}, format="json")
    job = response.json()["job"]["id"]
    assert response.status_code == 202 and response["Location"].endswith(f"/api/v1/jobs/{job}/")
    assert Vial.objects.get(pk=stored[0].pk).box.rack.unit == spare
    assert run_job(job) == "done"
    assert Vial.objects.get(pk=stored[0].pk).box.rack.unit == layout.unit


def test_an_excursion_lists_the_vials_of_a_rack_moved_out_since(layout, users, stored):
    """The excursion's list is written by the worker after the alarm: a rack moved to another unit meanwhile is
    listed where it was then (its unit from the rack's history)."""
    import datetime

    from django.utils import timezone

    from storage.models import Alarm, AlarmVial
    from storage.services import bind_sensors, record_reading
    from storage.tasks import record_alarm_vials

    bind_sensors(layout.unit, ["sensor"], actor=users["admin"])
    record_reading(layout.unit, temperature_c="-120", recorded_at=timezone.now() - datetime.timedelta(minutes=3),
                   actor=users["sensor"])
    alarm = Alarm.objects.get(unit=layout.unit)
    move_rack(layout.rack, layout.mirror_unit, actor=users["technician"], reason="tank emptied")
    assert record_alarm_vials(alarm.pk) == 4
    assert set(AlarmVial.objects.filter(alarm=alarm).values_list("vial_id", flat=True)) == {v.pk for v in stored}


def test_new_endpoints_describe_themselves_and_survive_absurd_ids(layout, users, api):
    client = api(users["admin"])
    for path in ("/api/v1/vials/batch-move/", "/api/v1/storage/rack-scans/", "/api/v1/storage/rack-scans/store/",
                 f"/api/v1/storage/racks/{layout.rack.pk}/move/"):
        assert client.options(path).status_code in (200, 403), path  # POST-only views fail closed (HasPerms)
    for value in ("0", str(2**63), str(10**30)):
        assert client.post(f"/api/v1/storage/racks/{value}/move/", {"unit": 1, "reason": "x"},
                           format="json").status_code == 404
        response = client.post("/api/v1/vials/batch-move/", {"vials": [int(value) or 1], "box": int(value) or 1,
                                                             "reason": "x"}, format="json")
        assert response.status_code == 400, response.content
    response = client.post("/api/v1/vials/batch-move/", {"barcodes": ["a\x00b", "²" * 90], "box": layout.box.pk,
                                                         "start": "²", "reason": "x"}, format="json")
    assert response.status_code == 400
