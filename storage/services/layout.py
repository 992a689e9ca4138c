"""Storage layout (admin): units (LN2 tanks, freezers), racks and cryoboxes."""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils.translation import gettext as _

from bank.audit import acting
from bank.barcodes import issue
from bank.errors import Conflict
from lots.models import Vial
from storage.choices import BoxPreset
from storage.models import MAX_GRID, Box, Rack, StorageUnit

PRESETS = {BoxPreset.GRID_9: (9, 9), BoxPreset.GRID_10: (10, 10), BoxPreset.GRID_5: (5, 5)}


# --- layout (admin) ---------------------------------------------------------------------------------


UNIT_FIELDS = ("name", "kind", "site", "room", "min_temperature_c", "max_temperature_c", "quarantine",
               "sensor_silent_minutes", "active")


def create_unit(*, actor, name: str, kind: str, min_temperature_c, max_temperature_c, quarantine: bool = False,
                site: str = "", room: str = "", sensor_silent_minutes: int | None = None,
                reason: str = "") -> StorageUnit:
    """Lay out a new LN2 tank or freezer."""
    unit = StorageUnit(
        name=(name or "").strip(), kind=kind, site=site or "", room=room or "",
        min_temperature_c=min_temperature_c, max_temperature_c=max_temperature_c, quarantine=bool(quarantine),
        sensor_silent_minutes=sensor_silent_minutes or None,
    )
    unit.full_clean()
    with transaction.atomic(), acting(actor, reason or _("storage layout")):
        unit.save()
    return unit


def update_unit(unit: StorageUnit, *, actor, reason: str = "", **changes) -> StorageUnit:
    """Change a unit's settings (name, place, range, silent time, in service). The quarantine flag
    changes only while the unit is empty, so segregation can never be broken by editing it."""
    unknown = set(changes) - set(UNIT_FIELDS)
    if unknown:
        raise ValueError(f"unknown unit fields: {sorted(unknown)}")
    with transaction.atomic(), acting(actor, reason or _("storage layout")):
        locked = StorageUnit.objects.select_for_update().get(pk=unit.pk)
        was_quarantine = locked.quarantine
        for name, value in changes.items():
            setattr(locked, name, value)
        if "sensor_silent_minutes" in changes and not changes["sensor_silent_minutes"]:
            locked.sensor_silent_minutes = None
        locked.full_clean()
        if "quarantine" in changes and bool(changes["quarantine"]) != was_quarantine:
            if Vial.objects.filter(box__rack__unit=locked).exists():
                raise Conflict(
                    _("%(unit)s holds vials: empty it before changing its quarantine flag.") % {"unit": locked.name},
                    code="unit_not_empty",
                )
        locked.save(update_fields=[name for name in changes])
    return locked


def create_rack(unit: StorageUnit, *, actor, name: str, position: int | None = None, capacity: int | None = None,
                reason: str = "") -> Rack:
    """Add a rack or canister to a unit (position: next one when not given)."""
    with transaction.atomic(), acting(actor, reason or _("storage layout")):
        locked = StorageUnit.objects.select_for_update().get(pk=unit.pk)
        if position is None:
            last = locked.racks.order_by("-position").values_list("position", flat=True).first()
            position = (last or 0) + 1
        rack = Rack(unit=locked, name=(name or "").strip(), position=position, capacity=capacity or None)
        rack.full_clean()
        rack.save()
    return rack


def create_box(rack: Rack, *, actor, name: str, preset: str | None = None, rows: int | None = None,
               cols: int | None = None, position: int | None = None, reason: str = "") -> Box:
    """Add a cryobox to a rack: a preset grid (9×9, 10×10, 5×5) or free-form rows × columns.

    The box gets a new barcode from the bank's sequence (``bank.barcodes.issue("box")``).
    """
    if preset and preset != BoxPreset.CUSTOM:
        if preset not in PRESETS:
            raise ValidationError({"preset": [_("Choose 9x9, 10x10, 5x5 or custom.")]})
        rows, cols = PRESETS[preset]
    errors = {}
    for field_name, value in (("rows", rows), ("cols", cols)):
        if value in (None, ""):
            errors[field_name] = [_("Give the number of rows and columns (or choose a preset).")]
        elif not isinstance(value, int) or not 1 <= value <= MAX_GRID:
            errors[field_name] = [_("A box has between 1 and %(max)d rows and columns.") % {"max": MAX_GRID}]
    if errors:
        raise ValidationError(errors)
    with transaction.atomic(), acting(actor, reason or _("storage layout")):
        locked = Rack.objects.select_for_update().get(pk=rack.pk)
        count = locked.boxes.count()
        if locked.capacity is not None and count >= locked.capacity:
            raise Conflict(
                _("Rack %(rack)s is full (%(n)d boxes).") % {"rack": locked.name, "n": locked.capacity},
                code="rack_full",
            )
        if position is None:
            position = _free_rack_position(locked)
        box = Box(rack=locked, name=(name or "").strip(), rows=rows, cols=cols, position=position,
                  barcode=issue("box")[0])
        box.full_clean()
        box.save()
    return box


def _free_rack_position(rack: Rack) -> int:
    taken = set(rack.boxes.values_list("position", flat=True))
    position = 1
    while position in taken:
        position += 1
    return position
