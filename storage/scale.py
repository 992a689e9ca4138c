"""load_scale steps of storage: the tanks, racks and boxes (``layout``, before the vials exist: the lots step
places every vial in the box the layout gives it), then the chain of custody of every placed vial (``custody``).

Bags go in 5 × 5 boxes of the cord blood tanks, culture vials in 10 × 10 boxes of the vial tanks, in lot order.
Box occupancy needs nothing here: the counters follow ``lots_vial`` through the statement-level triggers of
``storage.occupancy``.
"""

from __future__ import annotations

import math

from django.conf import settings

from bank.scale import SCALE_PREFIX, ScaleContext
from storage.models import Box, Rack, StorageUnit, VialMove

BAG_GRID = (5, 5)
VIAL_GRID = (10, 10)
RACKS_PER_UNIT = 10


def culture_vials(ctx: ScaleContext) -> int:
    p = ctx.profile
    return p.lines * (p.mcb_vials + p.wcbs * p.wcb_vials)


def layout(ctx: ScaleContext) -> None:
    p = ctx.profile
    cb_units = max(1, p.storage_units * 2 // 3)
    vial_units = max(1, p.storage_units - cb_units)
    bag_boxes = math.ceil(p.units / (BAG_GRID[0] * BAG_GRID[1]))
    vial_boxes = math.ceil(culture_vials(ctx) / (VIAL_GRID[0] * VIAL_GRID[1]))
    plan = [("CB", cb_units, bag_boxes, BAG_GRID), ("V", vial_units, vial_boxes, VIAL_GRID)]
    unit0 = ctx.reserve_ids(StorageUnit, cb_units + vial_units)
    rack0 = ctx.reserve_ids(Rack, (cb_units + vial_units) * RACKS_PER_UNIT)
    box0 = ctx.reserve_ids(Box, bag_boxes + vial_boxes)
    barcode0 = ctx.take_numbers("barcode:box", bag_boxes + vial_boxes)
    unit_at, rack_at, box_at = unit0, rack0, box0
    for kind, units, boxes, (rows, cols) in plan:
        per_rack = max(1, math.ceil(boxes / (units * RACKS_PER_UNIT)))
        ctx.insert(StorageUnit, {
            "id": f"{unit_at} + g", "name": f"'{SCALE_PREFIX}{p.code}-{kind}' || pg_temp.zpad((g + 1)::text, 3)",
            "kind": "'ln2_vapor'", "site": "'Scale Bank'", "room": "'Tank hall ' || (g / 20 + 1)",
            "min_temperature_c": "-196", "max_temperature_c": "-150", "quarantine": "FALSE",
            "active": "TRUE", "created_at": "%s::timestamptz - interval '11 years'"},
            "FROM generate_series(0::bigint, %s - 1) g", [ctx.now, units])
        ctx.insert(Rack, {
            "id": f"{rack_at} + g", "unit_id": f"{unit_at} + g / {RACKS_PER_UNIT}",
            "name": f"'R' || pg_temp.zpad((g % {RACKS_PER_UNIT} + 1)::text, 2)",
            "position": f"g % {RACKS_PER_UNIT} + 1", "capacity": str(per_rack)},
            "FROM generate_series(0::bigint, %s - 1) g", [units * RACKS_PER_UNIT])
        ctx.insert(Box, {
            "id": f"{box_at} + g", "rack_id": f"{rack_at} + g / {per_rack}",
            "name": f"'B' || pg_temp.zpad((g % {per_rack} + 1)::text, 3)",
            "barcode": f"'{settings.BARCODE_PREFIX}B' || pg_temp.zpad(({barcode0 + box_at - box0} + g)::text, 8)",
            "rows": str(rows), "cols": str(cols), "position": f"g % {per_rack} + 1",
            "created_at": "%s::timestamptz - interval '11 years'"},
            "FROM generate_series(0::bigint, %s - 1) g", [ctx.now, boxes])
        key = "bag" if kind == "CB" else "vial"
        ctx.data[f"{key}_box0"], ctx.data[f"{key}_grid"] = box_at, (rows, cols)
        ctx.add_history(StorageUnit, unit_at, units, date_sql='m."created_at"', reason="storage laid out",
                        user="admin")
        ctx.add_history(Rack, rack_at, units * RACKS_PER_UNIT, date_sql=_quoted(ctx.now),
                        reason="storage laid out", user="admin")
        ctx.add_history(Box, box_at, boxes, date_sql='m."created_at"', reason="storage laid out", user="admin")
        unit_at += units
        rack_at += units * RACKS_PER_UNIT
        box_at += boxes


def _quoted(value) -> str:
    return f"'{value.isoformat()}'::timestamptz"


def custody(ctx: ScaleContext) -> None:
    """A ``placed`` move for every vial the load stored, as ``store_lot`` would record it."""
    from lots.models import Vial

    lo, hi = ctx.data["vial0"], ctx.data["vial_end"]
    vial, box = Vial._meta.db_table, Box._meta.db_table
    ctx.insert(VialMove, {
        "vial_id": "v.id", "kind": "'placed'", "to_box_id": "v.box_id", "to_row": 'v."row"', "to_col": "v.col",
        "to_rack_id": "b.rack_id", "moved_at": "v.status_changed_at + interval '2 hours'",
        "moved_by_id": str(ctx.users["technician"]), "reason": "'stored after freezing'"},
        f'FROM "{vial}" v JOIN "{box}" b ON b.id = v.box_id WHERE v.id >= %s AND v.id < %s', [lo, hi])
