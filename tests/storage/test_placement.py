"""Placement: store_lot, find_space, segregation, mirror storage, relocation."""

import pytest
from django.core.exceptions import ValidationError
from django.test import override_settings

from bank.errors import Conflict
from lots.models import Vial
from storage.models import VialMove
from storage.queries import find_space
from storage.services import move_vial, relocate_lot, store_lot, update_unit
from tests.factories import LotFactory

pytestmark = pytest.mark.django_db


def positions(lot):
    return list(lot.vials.order_by("number").values_list("box__name", "row", "col"))


def test_store_lot_fills_boxes_in_order_row_by_row_skipping_taken(layout, users):
    first = LotFactory(vial_count=2)
    store_lot(first, [layout.q_box], actor=users["technician"])
    lot = LotFactory(vial_count=9)
    store_lot(lot, [layout.q_box2, layout.q_box], actor=users["technician"], reason="frozen today")
    assert positions(lot) == [("Q-B2", r, c) for r in (1, 2, 3) for c in (1, 2, 3)]
    lot2 = LotFactory(vial_count=3)
    store_lot(lot2, [layout.q_box2, layout.q_box], actor=users["technician"])
    assert positions(lot2) == [("Q-B1", 1, 3), ("Q-B1", 2, 1), ("Q-B1", 2, 2)]
    vial = lot2.vials.get(number=1)
    move = vial.moves.get()
    assert (move.kind, move.to_box, move.to_row, move.to_col, move.to_rack) == ("placed", layout.q_box, 1, 3,
                                                                               layout.q_rack)
    assert move.moved_by == users["technician"] and move.from_box is None
    record = vial.history.first()
    assert record.history_user == users["technician"]
    assert record.history_change_reason == "stored after freezing"
    assert lot.vials.first().moves.get().reason == "frozen today"


def test_insufficient_space_saves_nothing(layout, users):
    lot = LotFactory(vial_count=10)
    with pytest.raises(Conflict) as exc:
        store_lot(lot, [layout.q_box], actor=users["technician"])
    assert exc.value.code == "insufficient_space"
    assert exc.value.extra == {"needed": 10, "free": 9}
    assert not Vial.objects.filter(box__isnull=False).exists()
    assert not VialMove.objects.exists()


def test_quarantine_segregation_both_ways(layout, users, quarantine_lot, released_lot):
    with pytest.raises(Conflict) as exc:
        store_lot(quarantine_lot, [layout.box], actor=users["technician"])
    assert exc.value.code == "quarantine_segregation"
    with pytest.raises(Conflict) as exc:
        store_lot(released_lot, [layout.q_box], actor=users["technician"])
    assert exc.value.code == "quarantine_segregation"
    # one wrong box among right ones refuses the whole placement
    with pytest.raises(Conflict):
        store_lot(released_lot, [layout.box, layout.q_box], actor=users["technician"])
    rejected = LotFactory(status="rejected", vial_count=1)
    with pytest.raises(Conflict):
        store_lot(rejected, [layout.box], actor=users["technician"])
    on_hold = LotFactory(status="on_hold", vial_count=1)
    store_lot(on_hold, [layout.box], actor=users["technician"])
    assert not quarantine_lot.vials.filter(box__isnull=False).exists()
    assert not released_lot.vials.filter(box__isnull=False).exists()


def test_only_vials_in_stock_without_a_position_are_stored(layout, users, released_lot):
    vials = list(released_lot.vials.order_by("number"))
    Vial.objects.filter(pk=vials[0].pk).update(status="shipped")
    store_lot(released_lot, [layout.box], actor=users["technician"])
    assert released_lot.vials.filter(box__isnull=False).count() == 3
    with pytest.raises(Conflict) as exc:
        store_lot(released_lot, [layout.box], actor=users["technician"])
    assert exc.value.code == "nothing_to_store"


def test_bad_box_list_is_bad_input(layout, users, released_lot):
    for boxes in ([], [987654], [layout.box, layout.box], ["x"]):
        with pytest.raises(ValidationError) as exc:
            store_lot(released_lot, boxes, actor=users["technician"])
        assert "boxes" in exc.value.message_dict


def test_out_of_service_unit_takes_nothing(layout, users, released_lot):
    update_unit(layout.unit, actor=users["admin"], active=False)
    with pytest.raises(Conflict) as exc:
        store_lot(released_lot, [layout.box], actor=users["technician"])
    assert exc.value.code == "unit_out_of_service"


@override_settings(MIRROR_STORAGE_MCB=True)
def test_mirror_storage_splits_an_mcb_across_two_units(layout, users):
    mcb = LotFactory(status="released", tier="MCB", vial_count=4)
    with pytest.raises(Conflict) as exc:
        store_lot(mcb, [layout.box, layout.box2], actor=users["technician"])
    assert exc.value.code == "mirror_storage"
    assert not mcb.vials.filter(box__isnull=False).exists()
    store_lot(mcb, [layout.box, layout.mirror_box], actor=users["technician"])
    assert {v.box.rack.unit for v in mcb.vials.select_related("box__rack__unit")} == {layout.unit, layout.mirror_unit}
    # a WCB is not mirrored
    wcb = LotFactory(status="released", tier="WCB", parent_lot=mcb, vial_count=2)
    store_lot(wcb, [layout.box2], actor=users["technician"])


@override_settings(MIRROR_STORAGE_MCB=True)
def test_mirror_storage_counts_vials_placed_earlier(layout, users):
    mcb = LotFactory(status="released", tier="MCB", vial_count=12)
    first = mcb.vials.get(number=1)
    move_vial(first, layout.mirror_box, 1, 1, actor=users["technician"], reason="mirror copy first")
    store_lot(mcb, [layout.box, layout.box2], actor=users["technician"])
    assert mcb.vials.filter(box__rack__unit=layout.unit).count() == 11


def test_find_space_respects_segregation_and_prefers_one_box(layout, users, quarantine_lot, released_lot):
    proposal = find_space(quarantine_lot)
    assert proposal.enough and proposal.needed == 4
    assert [b.rack.unit for b in (box for box, _f, _t in proposal.boxes)] == [layout.q_unit]
    assert len(proposal.boxes) == 1
    proposal = find_space(released_lot)
    assert proposal.enough and len(proposal.boxes) == 1
    assert proposal.boxes[0][0].rack.unit in (layout.unit, layout.mirror_unit)
    # the fullest box that still holds the lot wins (keeps empty boxes for big lots)
    store_lot(LotFactory(status="released", vial_count=5), [layout.box2], actor=users["technician"])
    proposal = find_space(released_lot)
    assert proposal.boxes == [(layout.box2, 4, 4)]
    # more than one box when needed; not enough space says so
    big = LotFactory(vial_count=14)
    proposal = find_space(big)
    assert proposal.enough and proposal.take_total == 14 and len(proposal.boxes) == 2
    huge = LotFactory(vial_count=19)
    assert not find_space(huge).enough
    store_lot(released_lot, proposal_ids(find_space(released_lot)), actor=users["technician"])


def proposal_ids(proposal):
    return proposal.box_ids


@override_settings(MIRROR_STORAGE_MCB=True)
def test_find_space_splits_an_mcb_when_mirroring(layout, users):
    mcb = LotFactory(status="released", tier="MCB", vial_count=4)
    proposal = find_space(mcb)
    assert proposal.enough and proposal.mirror
    assert {box.rack.unit for box, _f, take in proposal.boxes if take} == {layout.unit, layout.mirror_unit}
    store_lot(mcb, proposal.box_ids, actor=users["technician"])


def test_relocate_released_lot_out_of_quarantine(layout, users, quarantine_lot):
    store_lot(quarantine_lot, [layout.q_box], actor=users["technician"])
    quarantine_lot.status = "released"
    quarantine_lot.save()
    relocate_lot(quarantine_lot, actor=users["technician"], reason="released by QA")
    vials = list(quarantine_lot.vials.select_related("box__rack__unit"))
    assert {v.box.rack.unit.quarantine for v in vials} == {False}
    assert all(v.moves.count() == 2 and v.moves.last().kind == "moved" for v in vials)
    assert vials[0].moves.last().from_box == layout.q_box
    # back into quarantine is refused
    with pytest.raises(Conflict) as exc:
        relocate_lot(quarantine_lot, [layout.q_box2], actor=users["technician"], reason="x")
    assert exc.value.code == "quarantine_segregation"
