"""Moves: one vial, a whole box, an emergency evacuation; each step in the chain of custody."""

import pytest
from django.core.exceptions import ValidationError
from django.test import override_settings

from bank.errors import Conflict
from lots.models import Vial
from storage.models import VialMove
from storage.services import evacuate_unit, move_box, move_vial, remove_from_storage, store_lot
from tests.factories import BoxFactory, LotFactory, RackFactory, StorageUnitFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def stored(layout, users, released_lot):
    store_lot(released_lot, [layout.box], actor=users["technician"])
    return list(released_lot.vials.order_by("number"))


def test_move_vial_records_custody(layout, users, stored):
    vial = stored[0]
    move_vial(vial, layout.box2, 2, 3, actor=users["technician2"] if "technician2" in users else users["technician"],
              reason="consolidating box")
    vial.refresh_from_db()
    assert (vial.box, vial.row, vial.col) == (layout.box2, 2, 3)
    move = vial.moves.order_by("-moved_at", "-id").first()
    assert (move.kind, move.from_box, move.from_row, move.from_col, move.to_box, move.to_row, move.to_col) == (
        "moved", layout.box, 1, 1, layout.box2, 2, 3)
    assert move.reason == "consolidating box" and move.moved_by is not None
    assert vial.history.first().history_change_reason == "consolidating box"


def test_move_vial_refuses_an_occupied_position(layout, users, stored):
    with pytest.raises(Conflict) as exc:
        move_vial(stored[0], layout.box, 1, 2, actor=users["technician"], reason="x")
    assert exc.value.code == "position_occupied" and exc.value.extra["occupant"] == stored[1].barcode
    with pytest.raises(Conflict) as exc:
        move_vial(stored[0], layout.box, 1, 1, actor=users["technician"], reason="x")
    assert exc.value.code == "position_occupied"
    assert VialMove.objects.filter(kind="moved").count() == 0


def test_move_vial_bad_input(layout, users, stored):
    for row, col in ((0, 1), (4, 1), (1, 4), ("a", 1)):
        with pytest.raises(ValidationError):
            move_vial(stored[0], layout.box2, row, col, actor=users["technician"], reason="x")
    with pytest.raises(ValidationError) as exc:
        move_vial(stored[0], layout.box2, 1, 1, actor=users["technician"], reason="  ")
    assert "reason" in exc.value.message_dict


def test_move_vial_segregation_and_status(layout, users, stored):
    with pytest.raises(Conflict) as exc:
        move_vial(stored[0], layout.q_box, 1, 1, actor=users["technician"], reason="x")
    assert exc.value.code == "quarantine_segregation"
    Vial.objects.filter(pk=stored[1].pk).update(status="destroyed")
    with pytest.raises(Conflict) as exc:
        move_vial(stored[1], layout.box2, 1, 1, actor=users["technician"], reason="x")
    assert exc.value.code == "vial_unavailable"


def test_move_places_an_unplaced_vial(layout, users, quarantine_lot):
    vial = quarantine_lot.vials.first()
    move_vial(vial, layout.q_box, 3, 3, actor=users["technician"], reason="found on the bench")
    assert vial.moves.get().kind == "placed"


@override_settings(MIRROR_STORAGE_MCB=True)
def test_move_vial_keeps_the_mirror(layout, users):
    mcb = LotFactory(status="released", tier="MCB", vial_count=2)
    store_lot(mcb, [layout.box, layout.mirror_box], actor=users["technician"])
    mirror_vial = mcb.vials.get(box=layout.mirror_box)
    with pytest.raises(Conflict) as exc:
        move_vial(mirror_vial, layout.box2, 1, 1, actor=users["technician"], reason="x")
    assert exc.value.code == "mirror_storage"
    mirror_vial.refresh_from_db()
    assert mirror_vial.box == layout.mirror_box


def test_move_box_to_another_unit(layout, users, stored):
    move_box(layout.box, layout.mirror_rack, actor=users["technician"], reason="rack R1 cracked")
    layout.box.refresh_from_db()
    assert layout.box.rack == layout.mirror_rack and layout.box.position == 2
    for vial in stored:
        vial.refresh_from_db()
        assert vial.box == layout.box  # same position in the same box
        move = vial.moves.order_by("-id").first()
        assert (move.kind, move.from_rack, move.to_rack, move.from_row, move.to_row) == (
            "box_moved", layout.rack, layout.mirror_rack, vial.row, vial.row)
    assert layout.box.history.first().history_change_reason == "rack R1 cracked"


def test_move_box_refusals(layout, users, stored):
    with pytest.raises(ValidationError):
        move_box(layout.box, layout.rack, actor=users["technician"], reason="x")
    with pytest.raises(Conflict) as exc:
        move_box(layout.box, layout.q_rack, actor=users["technician"], reason="x")
    assert exc.value.code == "quarantine_segregation"
    small = RackFactory(unit=layout.mirror_unit, name="small", capacity=1)
    BoxFactory(rack=small, name="already here")
    with pytest.raises(Conflict) as exc:
        move_box(layout.box, small, actor=users["technician"], reason="x")
    assert exc.value.code == "rack_full"
    BoxFactory(rack=layout.mirror_rack, name=layout.box.name)
    with pytest.raises(Conflict) as exc:
        move_box(layout.box, layout.mirror_rack, actor=users["technician"], reason="x")
    assert exc.value.code == "box_name_taken"
    assert not VialMove.objects.filter(kind="box_moved").exists()
    # an empty box may go anywhere, even into the quarantine tank
    move_box(layout.box2, layout.q_rack, actor=users["technician"], reason="spare box")


def test_evacuate_unit_keeps_positions(layout, users, stored):
    other = LotFactory(status="released", vial_count=2)
    store_lot(other, [layout.box2], actor=users["technician"])
    spare = StorageUnitFactory(name="LN2-SPARE")
    r1 = RackFactory(unit=spare, name="S1", capacity=1, position=1)
    r2 = RackFactory(unit=spare, name="S2", position=2)
    before = {v.pk: (v.box_id, v.row, v.col) for v in Vial.objects.filter(box__isnull=False)}
    result = evacuate_unit(layout.unit, spare, actor=users["technician"], reason="LN2-M vacuum failure")
    assert result.vials == 6 and len(result.boxes) == 2
    layout.box.refresh_from_db()
    layout.box2.refresh_from_db()
    assert (layout.box.rack, layout.box2.rack) == (r1, r2)
    assert {v.pk: (v.box_id, v.row, v.col) for v in Vial.objects.filter(box__isnull=False)} == before
    moves = VialMove.objects.filter(kind="evacuated")
    assert moves.count() == 6
    assert set(moves.values_list("from_rack", "to_rack")) == {(layout.rack.pk, r1.pk), (layout.rack.pk, r2.pk)}
    assert set(moves.values_list("reason", flat=True)) == {"LN2-M vacuum failure"}


def test_evacuate_refusals(layout, users, stored):
    with pytest.raises(Conflict) as exc:
        evacuate_unit(layout.unit, layout.q_unit, actor=users["technician"], reason="x")
    assert exc.value.code == "quarantine_segregation"
    tiny = StorageUnitFactory(name="LN2-TINY")
    RackFactory(unit=tiny, name="T1", capacity=1)
    with pytest.raises(Conflict) as exc:
        evacuate_unit(layout.unit, tiny, actor=users["technician"], reason="x")
    assert exc.value.code == "insufficient_space"
    empty = StorageUnitFactory(name="LN2-EMPTY")
    with pytest.raises(Conflict) as exc:
        evacuate_unit(empty, tiny, actor=users["technician"], reason="x")
    assert exc.value.code == "nothing_to_evacuate"
    with pytest.raises(ValidationError):
        evacuate_unit(layout.unit, layout.unit, actor=users["technician"], reason="x")
    layout.box.refresh_from_db()
    assert layout.box.rack == layout.rack


def test_removed_vial_frees_its_position(layout, users, stored):
    remove_from_storage([stored[0]], actor=users["technician"], reason="thawed for re-check")
    move_vial(stored[1], layout.box, 1, 1, actor=users["technician"], reason="tidy")
    chain = list(stored[0].moves.values_list("kind", flat=True))
    assert chain == ["placed", "removed"]
