"""Box.occupied is kept by the database, whoever writes a vial's position (storage/occupancy.py)."""

import pytest

from lots.models import Vial
from storage.models import Box
from storage.occupancy import recount
from storage.queries import find_space, occupancy_by_unit
from storage.services import move_vial, relocate_lot, remove_from_storage, store_lot
from tests.factories import LotFactory, VialFactory

pytestmark = pytest.mark.django_db


def occupied(*boxes):
    return [Box.objects.get(pk=b.pk).occupied for b in boxes]


def test_counters_follow_every_kind_of_write(layout, users, released_lot):
    store_lot(released_lot, [layout.box], actor=users["technician"])  # one bulk UPDATE of four vials
    assert occupied(layout.box, layout.box2) == [4, 0]
    vials = list(released_lot.vials.order_by("number"))
    move_vial(vials[0], layout.box2, 1, 1, actor=users["technician"], reason="x")
    assert occupied(layout.box, layout.box2) == [3, 1]
    remove_from_storage(vials[1:3], actor=users["technician"], reason="thawed")
    assert occupied(layout.box, layout.box2) == [1, 1]
    relocate_lot(released_lot, [layout.mirror_box], actor=users["technician"], reason="to the mirror tank")
    assert occupied(layout.box, layout.box2, layout.mirror_box) == [0, 0, 2]
    # writes from outside the storage services too: a plain save, a queryset update, a new row, a delete
    vial = Vial.objects.get(pk=vials[3].pk)
    vial.box, vial.row, vial.col = layout.box, 3, 3
    vial.save()
    assert occupied(layout.box, layout.mirror_box) == [1, 1]
    Vial.objects.filter(pk=vial.pk).update(status="reserved")  # not a position change
    assert occupied(layout.box) == [1]
    new = VialFactory(box=layout.box2, row=2, col=2)
    assert occupied(layout.box2) == [1]
    Vial.objects.filter(pk__in=[new.pk, vial.pk]).update(box=None, row=None, col=None)
    assert occupied(layout.box, layout.box2) == [0, 0]
    assert occupancy_by_unit()[layout.unit.pk].used == 0 and occupancy_by_unit()[layout.mirror_unit.pk].used == 1


def test_recount_repairs_a_wrong_counter(layout, users, released_lot):
    store_lot(released_lot, [layout.box], actor=users["technician"])
    Box.objects.filter(pk=layout.box.pk).update(occupied=40)
    recount()
    assert occupied(layout.box) == [4]


def test_find_space_reads_the_counters(layout, users):
    store_lot(LotFactory(status="released", vial_count=9), [layout.box], actor=users["technician"])
    proposal = find_space(LotFactory(status="released", vial_count=3))
    assert layout.box not in [b for b, _f, _t in proposal.boxes]
