"""Layout services (admin): units, racks, boxes with presets and barcodes."""

import pytest
from django.core.exceptions import ValidationError

from bank.errors import Conflict
from storage.services import create_box, create_rack, create_unit, store_lot, update_unit

pytestmark = pytest.mark.django_db


def make_unit(users, **kw):
    data = dict(name="LN2-07", kind="ln2_vapor", min_temperature_c=-196, max_temperature_c=-150, site="Main",
                room="101")
    data.update(kw)
    return create_unit(actor=users["admin"], **data)


def test_create_unit_rack_and_boxes(users):
    unit = make_unit(users, quarantine=True, sensor_silent_minutes=15)
    assert unit.silent_minutes == 15 and unit.quarantine
    assert unit.history.first().history_user == users["admin"]
    r1 = create_rack(unit, actor=users["admin"], name="A")
    r2 = create_rack(unit, actor=users["admin"], name="B", capacity=2)
    assert (r1.position, r2.position) == (1, 2)
    b1 = create_box(r2, actor=users["admin"], name="B-1", preset="10x10")
    b2 = create_box(r2, actor=users["admin"], name="B-2", preset="custom", rows=8, cols=12)
    assert (b1.rows, b1.cols, b2.rows, b2.cols, b1.position, b2.position) == (10, 10, 8, 12, 1, 2)
    assert b1.barcode.startswith("SBB") and b1.barcode != b2.barcode
    with pytest.raises(Conflict) as exc:
        create_box(r2, actor=users["admin"], name="B-3", preset="5x5")
    assert exc.value.code == "rack_full"
    assert create_box(r1, actor=users["admin"], name="small", preset="5x5").capacity == 25


@pytest.mark.parametrize("kw,field", [
    ({"min_temperature_c": -150, "max_temperature_c": -196}, "max_temperature_c"),
    ({"kind": "fridge"}, "kind"),
    ({"name": ""}, "name"),
])
def test_bad_unit_is_refused(users, kw, field):
    with pytest.raises(ValidationError) as exc:
        make_unit(users, **kw)
    assert field in exc.value.message_dict


def test_bad_boxes_are_refused(users):
    rack = create_rack(make_unit(users), actor=users["admin"], name="A")
    for kw in ({"preset": "custom"}, {"preset": "custom", "rows": 27, "cols": 3}, {"preset": "7x7"},
               {"rows": 0, "cols": 4}):
        with pytest.raises(ValidationError):
            create_box(rack, actor=users["admin"], name="X", **kw)
    create_box(rack, actor=users["admin"], name="X", preset="9x9")
    with pytest.raises(ValidationError):
        create_box(rack, actor=users["admin"], name="X", preset="9x9")  # same name in the rack
    assert rack.boxes.count() == 1


def test_quarantine_flag_changes_only_while_empty(layout, users, released_lot):
    update_unit(layout.mirror_unit, actor=users["admin"], quarantine=True, reason="new quarantine tank")
    store_lot(released_lot, [layout.box], actor=users["admin"])
    with pytest.raises(Conflict) as exc:
        update_unit(layout.unit, actor=users["admin"], quarantine=True)
    assert exc.value.code == "unit_not_empty"
    update_unit(layout.unit, actor=users["admin"], room="102", sensor_silent_minutes=None)
    layout.unit.refresh_from_db()
    assert layout.unit.room == "102" and not layout.unit.quarantine
