"""Fulfilment: the pick list, scan-to-confirm, shipping (vials shipped, positions freed), receipt."""

import datetime

import pytest
from django.utils import timezone

from distribution import queries, services
from distribution.models import Shipment
from lots.models import Vial
from storage.models import VialMove
from tests.distribution.factories import add_lot, make_line, place, shipped_request, stocked_line, submit
from tests.factories import BoxFactory, UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def approved(users):
    line, _lot = stocked_line(vials=4)
    return services.approve_request(submit(users["researcher"], line, vials=3), actor=users["qa"])


def _ship_payload(**overrides):
    data = {"courier": "SF Express Cold Chain", "tracking_number": "SF1402889311",
            "shipped_on": timezone.localdate().isoformat(), "shipper_type": "dry_shipper"}
    data.update(overrides)
    return data


def test_pick_list_gives_unit_rack_box_position_in_walking_order(api, users):
    line = make_line()
    far_box, near_box = BoxFactory(), BoxFactory()
    mcb = add_lot(line, tier="MCB", vials=0)
    lot = add_lot(line, vials=3, parent=mcb, store=False)
    first, second, third = lot.vials.order_by("number")
    place([first], far_box)
    place([second, third], near_box)
    approved = services.approve_request(submit(users["researcher"], line, vials=3), actor=users["qa"])
    rows = api(users["technician"]).get(f"/api/v1/requests/{approved.pk}/pick-list/").json()
    assert len(rows) == 3
    for row in rows:
        vial = Vial.objects.select_related("box__rack__unit").get(barcode=row["barcode"])
        assert (row["unit"], row["rack"], row["box"], row["row"], row["col"]) == (
            vial.box.rack.unit.name, vial.box.rack.name, vial.box.name, vial.row, vial.col)
        assert row["picked_at"] is None and row["lot"] == lot.lot_number
    # walking order: unit by unit (LN2-T.. names sort in creation order), box by box, row then column
    assert far_box.rack.unit.name < near_box.rack.unit.name
    assert [r["barcode"] for r in rows] == [first.barcode, second.barcode, third.barcode]


def test_pick_list_runs_a_constant_number_of_queries(users, django_assert_num_queries):
    line, _lot = stocked_line(vials=30)
    small = services.approve_request(submit(users["researcher"], line, vials=1), actor=users["qa"])
    large = services.approve_request(submit(users["researcher"], line, vials=25), actor=users["qa"])
    # allocations with vial, lot, box, rack, unit and picker (1)
    with django_assert_num_queries(1):
        assert len(queries.pick_list(small)) == 1
    with django_assert_num_queries(1):
        assert len(queries.pick_list(large)) == 25


def test_scan_confirms_each_vial_and_refuses_a_wrong_one(api, users, approved):
    client = api(users["technician"])
    barcode = approved.allocated_barcodes[0]
    response = client.post(f"/api/v1/requests/{approved.pk}/pick/", {"barcode": barcode}, format="json")
    assert response.status_code == 200
    picked = {r["barcode"]: r["picked_at"] for r in response.json()}
    assert picked[barcode] is not None and sum(1 for v in picked.values() if v) == 1
    stranger = Vial.objects.exclude(barcode__in=approved.allocated_barcodes).first()
    wrong = client.post(f"/api/v1/requests/{approved.pk}/pick/", {"barcode": stranger.barcode}, format="json")
    assert wrong.status_code == 409 and wrong.json()["code"] == "wrong_vial"
    assert "not on the pick list" in wrong.json()["detail"]
    unknown = client.post(f"/api/v1/requests/{approved.pk}/pick/", {"barcode": "NOPE"}, format="json")
    assert unknown.status_code == 409
    assert client.post(f"/api/v1/requests/{approved.pk}/pick/", {}, format="json").status_code == 400


def test_ship_marks_vials_shipped_frees_positions_and_records_custody(api, users, approved):
    boxes = {b: Vial.objects.get(barcode=b).box_id for b in approved.allocated_barcodes}
    response = api(users["technician"]).post(f"/api/v1/requests/{approved.pk}/ship/", _ship_payload(),
                                             format="json")
    assert response.status_code == 200, response.json()
    body = response.json()
    assert body["status"] == "shipped" and body["shipment"]["tracking_number"] == "SF1402889311"
    assert body["shipment"]["shipped_by"] == "technician"
    for vial in Vial.objects.filter(barcode__in=approved.allocated_barcodes):
        assert vial.status == "shipped" and vial.box is None and vial.row is None
        move = VialMove.objects.get(vial=vial)
        assert move.kind == "removed" and move.from_box_id == boxes[vial.barcode]
        assert approved.number in move.reason and move.moved_by == users["technician"]
    assert users["researcher"].notifications.filter(subject__contains="shipped").exists()


@pytest.mark.parametrize("overrides, field", [
    ({"courier": ""}, "courier"), ({"tracking_number": ""}, "tracking_number"), ({"shipped_on": "tomorrow"},
                                                                                  "shipped_on"),
    ({"shipped_on": (timezone.localdate() + datetime.timedelta(days=2)).isoformat()}, "shipped_on"),
    ({"shipper_type": "pigeon"}, "shipper_type"),
])
def test_bad_shipment_is_400_and_nothing_moves(api, users, approved, overrides, field):
    response = api(users["technician"]).post(f"/api/v1/requests/{approved.pk}/ship/", _ship_payload(**overrides),
                                             format="json")
    assert response.status_code == 400 and field in response.json()
    assert Vial.objects.filter(status="reserved", box__isnull=False).count() == 3
    assert not Shipment.objects.exists()


def test_only_approved_requests_ship(api, users):
    line, _lot = stocked_line()
    request = submit(users["researcher"], line)
    response = api(users["technician"]).post(f"/api/v1/requests/{request.pk}/ship/", _ship_payload(), format="json")
    assert response.status_code == 409 and response.json()["code"] == "invalid_transition"


def test_the_pick_page_refuses_to_ship_before_every_vial_is_scanned(users, approved):
    with pytest.raises(services.Conflict) as refused:
        services.ship_request(approved, actor=users["technician"], courier="SF", tracking_number="1",
                              shipped_on=timezone.localdate(), require_all_picked=True)
    assert refused.value.code == "picks_incomplete" and len(refused.value.extra["unpicked"]) == 3
    for barcode in approved.allocated_barcodes:
        services.confirm_pick(approved, barcode, actor=users["technician"])
    shipped = services.ship_request(approved, actor=users["technician"], courier="SF", tracking_number="1",
                                    shipped_on=timezone.localdate(), require_all_picked=True)
    assert shipped.status == "shipped"


def test_receipt_by_the_requesting_researcher_with_condition(api, users):
    line, _lot = stocked_line(vials=2)
    shipped = shipped_request(users["researcher"], users["qa"], users["technician"], line)
    other = UserFactory(username="other-lab", role="researcher")
    assert api(other).post(f"/api/v1/requests/{shipped.pk}/receive/", {}, format="json").status_code == 404
    staff = api(users["admin"]).post(f"/api/v1/requests/{shipped.pk}/receive/", {}, format="json")
    assert staff.status_code == 403 and staff.json()["code"] == "not_requester"
    bad = api(users["researcher"]).post(f"/api/v1/requests/{shipped.pk}/receive/", {"condition": "meh"},
                                        format="json")
    assert bad.status_code == 400
    response = api(users["researcher"]).post(f"/api/v1/requests/{shipped.pk}/receive/",
                                             {"condition": "thawed", "notes": "Dry ice gone."}, format="json")
    assert response.status_code == 200 and response.json()["status"] == "received"
    assert response.json()["shipment"]["arrival_condition"] == "thawed"
    shipment = Shipment.objects.get(request=shipped)
    assert shipment.received_by == users["researcher"] and shipment.received_at is not None
    # a poor arrival is QA's business
    assert users["qa"].notifications.filter(subject__contains="poor condition").exists()
    again = api(users["researcher"]).post(f"/api/v1/requests/{shipped.pk}/receive/", {}, format="json")
    assert again.status_code == 409 and again.json()["code"] == "invalid_transition"


def test_receive_defaults_to_good(api, users):
    line, _lot = stocked_line()
    shipped = shipped_request(users["researcher"], users["qa"], users["technician"], line)
    response = api(users["researcher"]).post(f"/api/v1/requests/{shipped.pk}/receive/")
    assert response.status_code == 200 and response.json()["shipment"]["arrival_condition"] == "good"
    assert not users["qa"].notifications.filter(subject__contains="poor condition").exists()
