"""Box.occupied is kept by the database, whoever writes a vial's position (storage/occupancy.py)."""

import pytest

from lots.models import Vial
from storage.models import Box, Rack
from storage.occupancy import recount
from storage.queries import find_space, occupancy_by_unit
from storage.services import move_vial, relocate_lot, remove_from_storage, store_lot
from tests.factories import BoxFactory, LotFactory, VialFactory

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


def _unit_sums():
    """Every unit's kept sums and the sums of its boxes, side by side."""
    from django.db import connection

    from storage.models import UnitOccupancy
    from storage.occupancy import unit_drift

    kept = {u.unit_id: (u.used, u.capacity) for u in UnitOccupancy.objects.all() if u.used or u.capacity}
    return kept, unit_drift(connection)


def test_unit_sums_follow_boxes_racks_and_vials(layout, users, released_lot):
    """The units' kept sums (what the dashboard and the overview read) follow every write that changes them: vials
    placed and moved, a box added, resized, moved to another rack or deleted, a rack moved to another unit."""
    kept, drift = _unit_sums()
    assert drift == [] and kept[layout.unit.pk] == (0, 18)  # two 3 x 3 boxes in LN2-M
    store_lot(released_lot, [layout.box], actor=users["technician"])
    vials = list(released_lot.vials.order_by("number"))
    move_vial(vials[0], layout.mirror_box, 1, 1, actor=users["technician"], reason="x")
    kept, drift = _unit_sums()
    assert drift == [] and kept[layout.unit.pk] == (3, 18) and kept[layout.mirror_unit.pk] == (1, 9)
    extra = BoxFactory(rack=layout.rack2, name="B-extra", rows=2, cols=5)
    Box.objects.filter(pk=extra.pk).update(rows=4)  # resized: 20 positions
    assert _unit_sums()[0][layout.unit.pk] == (3, 38)
    Box.objects.filter(pk=layout.box.pk).update(rack=layout.mirror_rack)  # the box (3 vials) changes tank
    kept, drift = _unit_sums()
    assert drift == [] and kept[layout.unit.pk] == (0, 29) and kept[layout.mirror_unit.pk] == (4, 18)
    Rack.objects.filter(pk=layout.rack2.pk).update(unit=layout.q_unit)  # a rack moved with its boxes
    kept, drift = _unit_sums()
    assert drift == [] and kept[layout.unit.pk] == (0, 9) and kept[layout.q_unit.pk] == (0, 38)  # M-B2 stays on R1
    Box.objects.filter(pk=extra.pk).delete()
    kept, drift = _unit_sums()
    assert drift == [] and kept[layout.q_unit.pk] == (0, 18)
    assert occupancy_by_unit()[layout.mirror_unit.pk].used == 4


def test_unit_recount_repairs_a_wrong_sum(layout, users, released_lot):
    from storage.models import UnitOccupancy

    store_lot(released_lot, [layout.box], actor=users["technician"])
    UnitOccupancy.objects.filter(unit=layout.unit).update(used=999)
    UnitOccupancy.objects.filter(unit=layout.mirror_unit).delete()
    assert _unit_sums()[1]
    recount()
    kept, drift = _unit_sums()
    assert drift == [] and kept[layout.unit.pk] == (4, 18) and kept[layout.mirror_unit.pk] == (0, 9)


def test_the_embedded_sqlite_triggers_keep_the_same_sums():
    """``make run`` uses SQLite: its row triggers keep the boxes' counters and the units' sums the same way."""
    import sqlite3

    from storage import occupancy

    db = sqlite3.connect(":memory:")
    db.executescript("""
        CREATE TABLE storage_rack (id INTEGER PRIMARY KEY, unit_id INTEGER);
        CREATE TABLE storage_box (id INTEGER PRIMARY KEY, rack_id INTEGER, rows INTEGER, cols INTEGER,
                                  occupied INTEGER NOT NULL DEFAULT 0);
        CREATE TABLE lots_vial (id INTEGER PRIMARY KEY, box_id INTEGER);
        CREATE TABLE storage_unitoccupancy (unit_id INTEGER PRIMARY KEY, used INTEGER NOT NULL DEFAULT 0,
                                            capacity INTEGER NOT NULL DEFAULT 0);
    """)
    for statement in occupancy._SQLITE:
        db.execute(statement)

    def units():
        return dict((u, (used, cap)) for u, used, cap in db.execute(
            "SELECT unit_id, used, capacity FROM storage_unitoccupancy WHERE used <> 0 OR capacity <> 0"))

    db.execute("INSERT INTO storage_rack VALUES (1, 10), (2, 10), (3, 20)")
    db.execute("INSERT INTO storage_box (id, rack_id, rows, cols) VALUES (1, 1, 3, 3), (2, 2, 2, 5), (3, 3, 3, 3)")
    assert units() == {10: (0, 19), 20: (0, 9)}
    db.executemany("INSERT INTO lots_vial (box_id) VALUES (?)", [(1,), (1,), (2,), (3,), (None,)])
    assert units() == {10: (3, 19), 20: (1, 9)}
    db.execute("UPDATE lots_vial SET box_id = 3 WHERE box_id = 2")
    db.execute("UPDATE storage_box SET rows = 4 WHERE id = 2")
    assert units() == {10: (2, 29), 20: (2, 9)}
    db.execute("UPDATE storage_rack SET unit_id = 20 WHERE id = 1")  # rack 1 and its box 1 (2 vials)
    assert units() == {10: (0, 20), 20: (4, 18)}
    db.execute("DELETE FROM lots_vial WHERE box_id = 1")
    db.execute("DELETE FROM storage_box WHERE id = 2")
    assert units() == {20: (2, 18)}
