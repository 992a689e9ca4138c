"""Demo bank, storage step (baseline): tanks, racks, boxes, and every demo lot's vials placed.

ctx in: ``lots``. ctx out: ``units`` and ``boxes`` (name → object).
Quarantine material goes to the quarantine tank (the QC step moves released lots later).
"""

from __future__ import annotations

from decimal import Decimal

from bank.barcodes import issue
from lots.models import Vial
from storage.models import Box, Rack, StorageUnit

UNITS = [
    ("LN2-01", "ln2_vapor", "Main site", "Cryo room 101", False, 4, 6),
    ("LN2-02", "ln2_vapor", "Mirror site", "Cryo room 201", False, 2, 4),
    ("LN2-Q1", "ln2_vapor", "Main site", "Quarantine room 103", True, 3, 5),
    ("FRZ-80-01", "freezer_minus80", "Main site", "Lab 105", False, 2, 3),
]


def load(ctx: dict) -> None:
    units, boxes = {}, {}
    for name, kind, site, room, quarantine, racks, per_rack in UNITS:
        freezer = kind == "freezer_minus80"
        low, high = (Decimal("-90"), Decimal("-70")) if freezer else (Decimal("-196"), Decimal("-150"))
        unit = StorageUnit.objects.create(name=name, kind=kind, site=site, room=room, quarantine=quarantine,
                                          min_temperature_c=low, max_temperature_c=high)
        units[name] = unit
        for r in range(1, racks + 1):
            rack = Rack.objects.create(unit=unit, name=f"R{r}", position=r)
            for b in range(1, per_rack + 1):
                size = 9 if (r + b) % 2 else 10
                box = Box.objects.create(rack=rack, name=f"{name}-R{r}-B{b}", barcode=issue("box")[0],
                                         rows=size, cols=size, position=b)
                boxes[box.name] = box
    # Place every lot's vials in the quarantine tank, box after box.
    free = iter([b for b in boxes.values() if b.rack.unit.quarantine])
    box, row, col = next(free), 1, 1
    for lot in ctx.get("lots", {}).values():
        vials = list(Vial.objects.filter(lot=lot).order_by("number"))
        for vial in vials:
            vial.box, vial.row, vial.col = box, row, col
            col += 1
            if col > box.cols:
                col, row = 1, row + 1
            if row > box.rows:
                box, row, col = next(free), 1, 1
        Vial.objects.bulk_update(vials, ["box", "row", "col"])
    ctx.update(units=units, boxes=boxes)
