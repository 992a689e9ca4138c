"""Every write of the storage app: layout, placement, moves, readings and alarms.

``remove_from_storage`` is shared: shipping (distribution) and thawing for QC (qc) take vials out of
their positions through it, so every exit lands in the chain of custody.

Locking (so concurrent technicians, sensors and the scheduler never deadlock or double-book):
lot → vials → boxes for placements and vial moves; racks → boxes for box moves and evacuation;
units alone for readings and alarms. Rows of one kind are always locked in primary-key order.
A vial's position is also guarded by the ``lots_vial_unique_position`` constraint: should a write
ever slip past the box lock, the database refuses it and the caller gets ``position_occupied``.
"""

from __future__ import annotations

import datetime
import logging
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import IntegrityError, connection, transaction
from django.db.models import Count, Exists, F, OuterRef
from django.db.models.functions import Coalesce
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from simple_history.utils import bulk_update_with_history

from bank.audit import acting, bulk_create_audited, current_actor, current_reason
from bank.barcodes import issue
from bank.errors import Conflict
from bank.models import SignatureMeaning
from bank.signatures import record_signature, verify_password
from lots.choices import LotStatus, Tier, VialStatus
from lots.models import Lot, Vial
from storage.choices import AlarmKind, AlarmStatus, BoxPreset, MoveKind
from storage.models import MAX_GRID, Alarm, AlarmVial, Box, Rack, StorageUnit, TemperatureReading, VialMove

log = logging.getLogger(__name__)

# Vials that may sit in a box. Shipped, used and destroyed vials have left storage for good.
STORABLE_VIAL_STATUSES = (VialStatus.AVAILABLE, VialStatus.RESERVED)
# Lots never released (quarantine, rejected) live only in quarantine units; lots that were released
# (released, on hold, depleted, recalled) never go into one (GMP segregation of untested material).
QUARANTINE_LOT_STATUSES = (LotStatus.QUARANTINE, LotStatus.REJECTED)

PRESETS = {BoxPreset.GRID_9: (9, 9), BoxPreset.GRID_10: (10, 10), BoxPreset.GRID_5: (5, 5)}

# Sensors' clocks drift; a reading stamped further ahead than this is refused as bad input.
READING_CLOCK_SKEW = datetime.timedelta(minutes=5)
MIN_TEMPERATURE_C = Decimal("-273.15")
MAX_TEMPERATURE_C = Decimal("150")


# --- helpers ----------------------------------------------------------------------------------------


def _require_reason(reason: str) -> str:
    reason = (reason or "").strip()
    if not reason:
        raise ValidationError({"reason": [_("Give a reason: it is kept in the chain of custody.")]})
    return reason


def _ids(objs: Iterable, field_name: str) -> list[int]:
    """Primary keys of ``objs`` (objects or ids) in the order given; a repeat is bad input."""
    ids = []
    for obj in objs:
        pk = getattr(obj, "pk", obj)
        try:
            pk = int(pk)
        except (TypeError, ValueError):
            raise ValidationError({field_name: [_("Give box ids as whole numbers.")]})
        if pk in ids:
            raise ValidationError({field_name: [_("Each box may be listed once.")]})
        ids.append(pk)
    return ids


def lot_needs_quarantine(status: str) -> bool:
    return status in QUARANTINE_LOT_STATUSES


def check_segregation(lots: Iterable[Lot], unit: StorageUnit) -> None:
    """409 ``quarantine_segregation`` when a lot may not be stored in ``unit``."""
    for lot in lots:
        if lot_needs_quarantine(lot.status) and not unit.quarantine:
            raise Conflict(
                _("Lot %(lot)s is not released (%(status)s): it may only be stored in a quarantine unit, "
                  "and %(unit)s is not one. Choose a box in a quarantine unit.")
                % {"lot": lot.lot_number, "status": LotStatus(lot.status).label, "unit": unit.name},
                code="quarantine_segregation", lot=lot.lot_number, unit=unit.name,
            )
        if not lot_needs_quarantine(lot.status) and unit.quarantine:
            raise Conflict(
                _("Lot %(lot)s has been released (%(status)s): it may not be stored in the quarantine unit "
                  "%(unit)s. Choose a box in a unit for released material.")
                % {"lot": lot.lot_number, "status": LotStatus(lot.status).label, "unit": unit.name},
                code="quarantine_segregation", lot=lot.lot_number, unit=unit.name,
            )


def _check_unit_in_service(unit: StorageUnit) -> None:
    if not unit.active:
        raise Conflict(
            _("%(unit)s is out of service: nothing may be stored in it.") % {"unit": unit.name},
            code="unit_out_of_service", unit=unit.name,
        )


def _units_per_lot(lot_ids: Iterable[int]) -> dict[int, set[int]]:
    units: dict[int, set[int]] = defaultdict(set)
    rows = (
        Vial.objects.filter(lot_id__in=list(lot_ids), box__isnull=False)
        .values_list("lot_id", "box__rack__unit_id").distinct()
    )
    for lot_id, unit_id in rows:
        units[lot_id].add(unit_id)
    return units


def _mirror_lots(lots: Iterable[Lot]) -> list[Lot]:
    """The lots the mirror-storage rule applies to (MCBs, when the bank asks for it)."""
    if not settings.MIRROR_STORAGE_MCB:
        return []
    return [lot for lot in lots if lot.tier == Tier.MCB]


def _mirror_conflict(lot: Lot) -> Conflict:
    return Conflict(
        _("Lot %(lot)s is a master cell bank: its vials must be split across at least two storage units "
          "(mirror storage). Add a box in another unit.") % {"lot": lot.lot_number},
        code="mirror_storage", lot=lot.lot_number,
    )


def _check_mirror_complete(lots: Iterable[Lot]) -> None:
    """After a placement: a fully stored MCB of two or more vials sits in at least two units."""
    lots = _mirror_lots(lots)
    if not lots:
        return
    ids = [lot.pk for lot in lots]
    units = _units_per_lot(ids)
    stored = dict(
        Vial.objects.filter(lot_id__in=ids, box__isnull=False).values("lot_id").annotate(n=Count("id"))
        .values_list("lot_id", "n")
    )
    waiting = set(
        Vial.objects.filter(lot_id__in=ids, box__isnull=True, status__in=STORABLE_VIAL_STATUSES)
        .values_list("lot_id", flat=True).distinct()
    )
    for lot in lots:
        if lot.pk not in waiting and stored.get(lot.pk, 0) >= 2 and len(units[lot.pk]) < 2:
            raise _mirror_conflict(lot)


def _check_mirror_kept(lots: Iterable[Lot], before: dict[int, set[int]]) -> None:
    """After a move: an MCB that was split across units is not brought back into one."""
    lots = [lot for lot in _mirror_lots(lots) if len(before.get(lot.pk, ())) >= 2]
    if not lots:
        return
    after = _units_per_lot([lot.pk for lot in lots])
    for lot in lots:
        if len(after[lot.pk]) < 2:
            raise _mirror_conflict(lot)


def _lock_boxes(box_ids: Sequence[int]) -> dict[int, Box]:
    """Lock box rows in pk order (no deadlock between two placements) and return them by id."""
    boxes = (
        Box.objects.select_for_update(of=("self",)).select_related("rack__unit")
        .filter(pk__in=list(box_ids)).order_by("pk")
    )
    return {box.pk: box for box in boxes}


def _save_positions(vials: list[Vial], *, actor, reason: str) -> None:
    """Write new positions; the unique constraint is the last guard against a double booking."""
    try:
        with transaction.atomic():
            bulk_update_with_history(
                vials, Vial, ["box", "row", "col"], batch_size=500,
                default_user=actor, default_change_reason=(reason or current_reason())[:100] or None,
            )
    except IntegrityError:
        raise Conflict(
            _("A position was taken by someone else at the same moment. Reload the box and choose again."),
            code="position_occupied",
        )


def _move_record(vial: Vial, kind: str, *, src_box, src_row, src_col, src_rack, dst_box, dst_row, dst_col,
                 dst_rack, actor, reason: str, at) -> VialMove:
    return VialMove(
        vial=vial, kind=kind, from_box=src_box, from_row=src_row, from_col=src_col, from_rack=src_rack,
        to_box=dst_box, to_row=dst_row, to_col=dst_col, to_rack=dst_rack, moved_at=at, moved_by=actor,
        reason=reason[:300],
    )


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


# --- placement ----------------------------------------------------------------------------------------


def _place(vials: list[Vial], box_ids: list[int], lots: list[Lot], *, actor, reason: str, kind: str) -> list[Vial]:
    """Put ``vials`` (already locked, in order) into the free positions of the boxes, in the boxes' order."""
    boxes = _lock_boxes(box_ids)
    missing = [pk for pk in box_ids if pk not in boxes]
    if missing:
        raise ValidationError({"boxes": [_("No box with id %(ids)s.") % {"ids": ", ".join(map(str, missing))}]})
    for box in boxes.values():
        _check_unit_in_service(box.rack.unit)
        check_segregation(lots, box.rack.unit)
    taken = set(Vial.objects.filter(box_id__in=box_ids).values_list("box_id", "row", "col"))
    free = [
        (boxes[pk], r, c)
        for pk in box_ids
        for r in range(1, boxes[pk].rows + 1)
        for c in range(1, boxes[pk].cols + 1)
        if (pk, r, c) not in taken
    ]
    if len(free) < len(vials):
        raise Conflict(
            _("%(needed)d vials need a place but the chosen boxes have only %(free)d free positions. "
              "Add another box.") % {"needed": len(vials), "free": len(free)},
            code="insufficient_space", needed=len(vials), free=len(free),
        )
    if _mirror_lots(lots) and kind == MoveKind.PLACED:
        free = _mirror_split(free, len(vials))
    now = timezone.now()
    moves = []
    for vial, (box, row, col) in zip(vials, free, strict=False):
        src = (vial.box, vial.row, vial.col, vial.box.rack if vial.box_id else None)
        vial.box, vial.row, vial.col = box, row, col
        moves.append(_move_record(
            vial, kind, src_box=src[0], src_row=src[1], src_col=src[2], src_rack=src[3],
            dst_box=box, dst_row=row, dst_col=col, dst_rack=box.rack, actor=actor, reason=reason, at=now,
        ))
    if kind != MoveKind.PLACED:
        # Relocating: free the old positions first, so vials may shuffle within the same boxes.
        _save_positions_two_step(vials, actor=actor, reason=reason)
    else:
        _save_positions(vials, actor=actor, reason=reason)
    bulk_create_audited(VialMove, moves)
    return vials


def _mirror_split(free: list[tuple[Box, int, int]], needed: int) -> list[tuple[Box, int, int]]:
    """Mirror storage: half the vials in the first chosen unit, the rest in the other chosen units."""
    first_unit = free[0][0].rack.unit_id if free else None
    here = [f for f in free if f[0].rack.unit_id == first_unit]
    there = [f for f in free if f[0].rack.unit_id != first_unit]
    if not there:
        return free
    take_here = min(len(here), (needed + 1) // 2)
    take_there = min(len(there), needed - take_here)
    take_here = min(len(here), needed - take_there)
    return here[:take_here] + there[:take_there]


def _save_positions_two_step(vials: list[Vial], *, actor, reason: str) -> None:
    targets = [(v.box, v.row, v.col) for v in vials]
    Vial.objects.filter(pk__in=[v.pk for v in vials]).update(box=None, row=None, col=None)
    for vial, (box, row, col) in zip(vials, targets, strict=True):
        vial.box, vial.row, vial.col = box, row, col
    _save_positions(vials, actor=actor, reason=reason)


def store_lot(lot: Lot, boxes: Sequence, *, actor, reason: str = "") -> list[Vial]:
    """Put the lot's unplaced vials into free positions of ``boxes``, box after box, row by row.

    One transaction with the lot, its vials and the boxes locked. 409 ``insufficient_space``,
    ``quarantine_segregation``, ``mirror_storage`` (MCB not split across two units when
    ``MIRROR_STORAGE_MCB`` is on), ``unit_out_of_service``, ``nothing_to_store``.
    """
    box_ids = _ids(boxes, "boxes")
    if not box_ids:
        raise ValidationError({"boxes": [_("Choose at least one box.")]})
    reason = (reason or "").strip() or _("stored after freezing")
    with transaction.atomic(), acting(actor, reason):
        locked_lot = Lot.objects.select_for_update().get(pk=lot.pk)
        vials = list(
            Vial.objects.select_for_update()
            .filter(lot=locked_lot, box__isnull=True, status__in=STORABLE_VIAL_STATUSES).order_by("number")
        )
        if not vials:
            raise Conflict(
                _("Every vial of lot %(lot)s is already in storage.") % {"lot": locked_lot.lot_number},
                code="nothing_to_store",
            )
        placed = _place(vials, box_ids, [locked_lot], actor=actor, reason=reason, kind=MoveKind.PLACED)
        _check_mirror_complete([locked_lot])
    return placed


def relocate_lot(lot: Lot, boxes: Sequence | None = None, *, actor, reason: str) -> list[Vial]:
    """Move every stored vial of a lot into ``boxes`` (or the boxes ``find_space`` proposes).

    Used when QA releases a lot that sits in the quarantine tank: its vials go to a unit for released
    material in one step, each move recorded in the chain of custody.
    """
    from storage.queries import find_space

    reason = _require_reason(reason)
    with transaction.atomic(), acting(actor, reason):
        locked_lot = Lot.objects.select_for_update().get(pk=lot.pk)
        vials = list(
            Vial.objects.select_for_update(of=("self",)).select_related("box__rack")
            .filter(lot=locked_lot, box__isnull=False).order_by("number")
        )
        if not vials:
            raise Conflict(_("No vial of lot %(lot)s is in storage.") % {"lot": locked_lot.lot_number},
                           code="nothing_to_store")
        if boxes is None:
            proposal = find_space(locked_lot, count=len(vials), exclude_units=_units_of(vials))
            if not proposal.enough:
                raise Conflict(
                    _("There is not enough free space for %(n)d vials of lot %(lot)s in a suitable unit.")
                    % {"n": len(vials), "lot": locked_lot.lot_number},
                    code="insufficient_space", needed=len(vials), free=proposal.free_total,
                )
            boxes = [box for box, _free, _take in proposal.boxes]
        box_ids = _ids(boxes, "boxes")
        if not box_ids:
            raise ValidationError({"boxes": [_("Choose at least one box.")]})
        # Lock the boxes the vials leave too (before the target boxes: pk order across both sets).
        _lock_boxes(sorted({v.box_id for v in vials} | set(box_ids)))
        before = _units_per_lot([locked_lot.pk])
        moved = _place(vials, box_ids, [locked_lot], actor=actor, reason=reason, kind=MoveKind.MOVED)
        _check_mirror_kept([locked_lot], before)
        _check_mirror_complete([locked_lot])
    return moved


def _units_of(vials: Iterable[Vial]) -> set[int]:
    return {v.box.rack.unit_id for v in vials if v.box_id}


# --- moves ----------------------------------------------------------------------------------------------


def move_vial(vial: Vial, box: Box, row: int, col: int, *, actor, reason: str) -> Vial:
    """Move one vial (or place an unplaced one) to ``box`` at (row, col).

    409 ``position_occupied`` when another vial is there (checked under the box lock, and again by
    the database's unique constraint), ``quarantine_segregation``, ``mirror_storage``,
    ``vial_unavailable`` (shipped, used or destroyed), ``unit_out_of_service``.
    """
    reason = _require_reason(reason)
    with transaction.atomic(), acting(actor, reason):
        locked = Vial.objects.select_for_update(of=("self",)).select_related("lot").get(pk=vial.pk)
        if locked.status not in STORABLE_VIAL_STATUSES:
            raise Conflict(
                _("Vial %(vial)s is %(status)s: it is no longer in stock and cannot be stored.")
                % {"vial": locked.barcode, "status": VialStatus(locked.status).label},
                code="vial_unavailable",
            )
        boxes = _lock_boxes(sorted({box.pk} | ({locked.box_id} if locked.box_id else set())))
        if box.pk not in boxes:
            raise ValidationError({"box": [_("No such box.")]})
        dest = boxes[box.pk]
        errors = {}
        for name, value, limit in (("row", row, dest.rows), ("col", col, dest.cols)):
            if not isinstance(value, int) or not 1 <= value <= limit:
                errors[name] = [_("Box %(box)s has %(rows)d rows and %(cols)d columns.")
                                % {"box": dest.name, "rows": dest.rows, "cols": dest.cols}]
        if errors:
            raise ValidationError(errors)
        _check_unit_in_service(dest.rack.unit)
        check_segregation([locked.lot], dest.rack.unit)
        label = dest.position_label(row, col)
        if locked.box_id == dest.pk and (locked.row, locked.col) == (row, col):
            raise Conflict(_("Vial %(vial)s is already at %(pos)s of box %(box)s.")
                           % {"vial": locked.barcode, "pos": label, "box": dest.name},
                           code="position_occupied", occupant=locked.barcode)
        occupant = Vial.objects.filter(box=dest, row=row, col=col).values_list("barcode", flat=True).first()
        if occupant:
            raise Conflict(
                _("Position %(pos)s of box %(box)s holds vial %(other)s. Choose a free position.")
                % {"pos": label, "box": dest.name, "other": occupant},
                code="position_occupied", occupant=occupant,
            )
        before = _units_per_lot([locked.lot_id])
        source = boxes.get(locked.box_id)
        move = _move_record(
            locked, MoveKind.MOVED if source else MoveKind.PLACED,
            src_box=source, src_row=locked.row, src_col=locked.col, src_rack=source.rack if source else None,
            dst_box=dest, dst_row=row, dst_col=col, dst_rack=dest.rack, actor=actor, reason=reason,
            at=timezone.now(),
        )
        locked.box, locked.row, locked.col = dest, row, col
        try:
            with transaction.atomic():
                locked.save(update_fields=["box", "row", "col"])
        except IntegrityError:
            raise Conflict(
                _("Position %(pos)s of box %(box)s was taken at the same moment. Choose a free position.")
                % {"pos": label, "box": dest.name},
                code="position_occupied",
            )
        move.save()
        _check_mirror_kept([locked.lot], before)
        if not source:
            _check_mirror_complete([locked.lot])
    return locked


def move_box(box: Box, rack: Rack, *, actor, reason: str) -> Box:
    """Move a whole box to another rack (any unit); its vials keep their positions in the box."""
    reason = _require_reason(reason)
    with transaction.atomic(), acting(actor, reason):
        target = Rack.objects.select_for_update(of=("self",)).select_related("unit").get(pk=rack.pk)
        locked = Box.objects.select_for_update(of=("self",)).select_related("rack__unit").get(pk=box.pk)
        if locked.rack_id == target.pk:
            raise ValidationError({"rack": [_("The box is already in this rack.")]})
        _check_unit_in_service(target.unit)
        vials = list(Vial.objects.filter(box=locked).select_related("lot").order_by("row", "col"))
        lots = list({v.lot_id: v.lot for v in vials}.values())
        check_segregation(lots, target.unit)
        in_rack = list(target.boxes.values_list("name", "position"))
        if target.capacity is not None and len(in_rack) >= target.capacity:
            raise Conflict(_("Rack %(rack)s is full (%(n)d boxes).") % {"rack": target.name, "n": target.capacity},
                           code="rack_full")
        if any(name == locked.name for name, _pos in in_rack):
            raise Conflict(
                _("Rack %(rack)s already has a box named %(box)s. Rename one of them first.")
                % {"rack": target.name, "box": locked.name},
                code="box_name_taken",
            )
        before = _units_per_lot([lot.pk for lot in lots])
        source_rack = locked.rack
        locked.rack = target
        locked.position = _free_rack_position(target)
        locked.save(update_fields=["rack", "position"])
        now = timezone.now()
        bulk_create_audited(VialMove, [
            _move_record(v, MoveKind.BOX_MOVED, src_box=locked, src_row=v.row, src_col=v.col, src_rack=source_rack,
                         dst_box=locked, dst_row=v.row, dst_col=v.col, dst_rack=target, actor=actor,
                         reason=reason, at=now)
            for v in vials
        ])
        _check_mirror_kept(lots, before)
    return locked


@dataclass
class EvacuationResult:
    boxes: list[Box] = field(default_factory=list)
    vials: int = 0
    # MCB lots whose two copies ended up in one unit (mirror storage): QA should split them again.
    mirror_broken: list[str] = field(default_factory=list)


def evacuate_unit(unit: StorageUnit, target: StorageUnit, *, actor, reason: str) -> EvacuationResult:
    """Emergency: move every box of ``unit`` into racks of ``target``, vials keeping their positions.

    Boxes go to the target's racks in order, as far as each rack's capacity and box names allow.
    Segregation still holds (409 ``quarantine_segregation``); 409 ``insufficient_space`` when the
    target's racks cannot take every box. The mirror rule does not block an emergency: the MCB lots
    it affects are returned so QA can split them again.
    """
    reason = _require_reason(reason)
    if unit.pk == target.pk:
        raise ValidationError({"unit": [_("Choose another unit to move the boxes into.")]})
    with transaction.atomic(), acting(actor, reason):
        racks = list(Rack.objects.select_for_update(of=("self",)).select_related("unit")
                     .filter(unit=target).order_by("pk"))
        racks.sort(key=lambda r: (r.position, r.name, r.pk))
        boxes = list(Box.objects.select_for_update(of=("self",)).select_related("rack")
                     .filter(rack__unit=unit).order_by("pk"))
        boxes.sort(key=lambda b: (b.rack.position, b.rack.name, b.position, b.pk))
        if not boxes:
            raise Conflict(_("%(unit)s has no boxes to move.") % {"unit": unit.name}, code="nothing_to_evacuate")
        target_unit = StorageUnit.objects.get(pk=target.pk)
        _check_unit_in_service(target_unit)
        vials = list(Vial.objects.filter(box__in=boxes).select_related("lot").order_by("box_id", "row", "col"))
        lots = list({v.lot_id: v.lot for v in vials}.values())
        check_segregation(lots, target_unit)
        if not racks:
            raise Conflict(_("%(unit)s has no racks to take the boxes.") % {"unit": target_unit.name},
                           code="insufficient_space", needed=len(boxes), free=0)
        names: dict[int, set[str]] = defaultdict(set)
        positions: dict[int, set[int]] = defaultdict(set)
        for rack_id, name, position in Box.objects.filter(rack__in=racks).values_list("rack_id", "name", "position"):
            names[rack_id].add(name)
            positions[rack_id].add(position)
        before = _units_per_lot([lot.pk for lot in lots])
        source_rack = {b.pk: b.rack for b in boxes}
        plan = []
        for box in boxes:
            for rack in racks:
                full = rack.capacity is not None and len(positions[rack.pk]) >= rack.capacity
                if not full and box.name not in names[rack.pk]:
                    position = 1
                    while position in positions[rack.pk]:
                        position += 1
                    names[rack.pk].add(box.name)
                    positions[rack.pk].add(position)
                    plan.append((box, rack, position))
                    break
            else:
                raise Conflict(
                    _("The racks of %(unit)s cannot take all %(n)d boxes (rack capacity or box names). "
                      "Add racks to %(unit)s first.") % {"unit": target_unit.name, "n": len(boxes)},
                    code="insufficient_space", needed=len(boxes), free=len(plan),
                )
        for box, rack, position in plan:
            box.rack, box.position = rack, position
        bulk_update_with_history(
            [b for b, _r, _p in plan], Box, ["rack", "position"], batch_size=500,
            default_user=actor, default_change_reason=reason[:100],
        )
        now = timezone.now()
        by_box = {b.pk: b for b in boxes}
        bulk_create_audited(VialMove, [
            _move_record(v, MoveKind.EVACUATED, src_box=by_box[v.box_id], src_row=v.row, src_col=v.col,
                         src_rack=source_rack[v.box_id], dst_box=by_box[v.box_id], dst_row=v.row, dst_col=v.col,
                         dst_rack=by_box[v.box_id].rack, actor=actor, reason=reason, at=now)
            for v in vials
        ])
        broken = []
        if _mirror_lots(lots):
            after = _units_per_lot([lot.pk for lot in lots])
            broken = [lot.lot_number for lot in _mirror_lots(lots)
                      if len(before.get(lot.pk, ())) >= 2 and len(after[lot.pk]) < 2]
    return EvacuationResult(boxes=[b for b, _r, _p in plan], vials=len(vials), mirror_broken=broken)


def remove_from_storage(vials: Iterable[Vial], *, actor, reason: str) -> list[Vial]:
    """Take vials out of their positions (shipped, thawed, destroyed), recording each exit."""
    ids = sorted({v.pk for v in vials})
    with transaction.atomic(), acting(actor, reason):
        locked = list(
            Vial.objects.select_for_update(of=("self",)).filter(pk__in=ids, box__isnull=False)
            .select_related("box__rack").order_by("pk")
        )
        # Lock order vials → boxes, as placements do: a box being moved or evacuated waits for us.
        _lock_boxes(sorted({v.box_id for v in locked}))
        now = timezone.now()
        moves = [
            VialMove(
                vial=v, kind=MoveKind.REMOVED, from_box=v.box, from_row=v.row, from_col=v.col,
                from_rack=v.box.rack, moved_at=now, moved_by=actor, reason=(reason or "")[:300],
            )
            for v in locked
        ]
        for vial in locked:
            vial.box, vial.row, vial.col = None, None, None
        bulk_update_with_history(
            locked, Vial, ["box", "row", "col"], batch_size=500,
            default_user=actor, default_change_reason=(reason or current_reason())[:100] or None,
        )
        bulk_create_audited(VialMove, moves)
    return locked


# --- temperature readings and alarms ---------------------------------------------------------------------


def _parse_temperature(value) -> Decimal:
    try:
        temperature = Decimal(str(value))
    except (InvalidOperation, ValueError, TypeError):
        raise ValidationError({"temperature_c": [_("Give the temperature in °C as a number.")]})
    if not temperature.is_finite() or not MIN_TEMPERATURE_C <= temperature <= MAX_TEMPERATURE_C:
        raise ValidationError({"temperature_c": [_("A temperature must lie between -273.15 and 150 °C.")]})
    return temperature.quantize(Decimal("0.01"))


def record_reading(unit: StorageUnit, *, temperature_c, recorded_at=None, actor) -> tuple[TemperatureReading, bool]:
    """Store one sensor reading; returns ``(reading, created)`` (a retried POST is not stored twice).

    An out-of-range reading raises an ``excursion`` alarm at once (see ``record_readings``).
    """
    readings, created = record_readings(unit, [(temperature_c, recorded_at)], actor=actor)
    return readings[0], bool(created)


def record_readings(unit: StorageUnit, values: Sequence[tuple], *, actor) -> tuple[list[TemperatureReading], list]:
    """Store readings ``[(temperature_c, recorded_at), ...]`` of one unit (a sensor uploading its buffer).

    Updates the unit's ``last_reading_at``. The first out-of-range reading of an episode raises an
    excursion alarm at once, recording every vial then in the unit (AlarmVial) for QA's assessment;
    later out-of-range readings of the same episode only update its most extreme temperature, so no
    second alarm is raised while one is active or until the temperature has come back into range.
    Returns ``(readings, created)`` — every reading asked for, and the ones that were new.
    """
    now = timezone.now()
    parsed: dict = {}
    for temperature, recorded_at in values:
        temperature = _parse_temperature(temperature)
        recorded_at = recorded_at or now
        if timezone.is_naive(recorded_at):
            raise ValidationError({"recorded_at": [_("Give the time with its time zone (ISO 8601).")]})
        if recorded_at > now + READING_CLOCK_SKEW:
            raise ValidationError({"recorded_at": [_("This time is in the future: check the sensor's clock.")]})
        parsed.setdefault(recorded_at, temperature)
    if not parsed:
        return [], []
    with transaction.atomic(), acting(actor, _("temperature reading")):
        locked = StorageUnit.objects.select_for_update().get(pk=unit.pk)
        existing = {r.recorded_at: r for r in TemperatureReading.objects.filter(unit=locked, recorded_at__in=parsed)}
        new = [
            TemperatureReading(unit=locked, temperature_c=t, recorded_at=at, received_at=now, sensor=actor)
            for at, t in sorted(parsed.items())
            if at not in existing
        ]
        created = bulk_create_audited(TemperatureReading, new)
        latest = max(parsed)
        if locked.last_reading_at is None or latest > locked.last_reading_at:
            # Derived data (the newest reading's time, kept for the scheduler's index): no history row a
            # minute per tank. The readings themselves are the audited record.
            StorageUnit.objects.filter(pk=locked.pk).update(last_reading_at=latest)
            locked.last_reading_at = latest
        out_of_range = [r for r in created if not locked.in_range(r.temperature_c)]
        if out_of_range:
            _excursion(locked, out_of_range, actor=actor)
    by_time = {**existing, **{r.recorded_at: r for r in created}}
    return [by_time[at] for at in parsed], created


def _distance(unit: StorageUnit, temperature: Decimal) -> Decimal:
    if temperature > unit.max_temperature_c:
        return temperature - unit.max_temperature_c
    if temperature < unit.min_temperature_c:
        return unit.min_temperature_c - temperature
    return Decimal(0)


def _excursion(unit: StorageUnit, readings: list[TemperatureReading], *, actor) -> Alarm | None:
    """Raise (or extend) the excursion alarm of ``unit`` for out-of-range ``readings`` (unit locked)."""
    worst = max(readings, key=lambda r: _distance(unit, r.temperature_c))
    active = Alarm.objects.filter(unit=unit, kind=AlarmKind.EXCURSION, status=AlarmStatus.ACTIVE).first()
    if active is not None:
        if active.peak_temperature_c is None or _distance(unit, worst.temperature_c) > _distance(
                unit, active.peak_temperature_c):
            active.peak_temperature_c = worst.temperature_c
            active.save(update_fields=["peak_temperature_c"])
        return None
    first = readings[0]
    last = (
        Alarm.objects.filter(unit=unit, kind=AlarmKind.EXCURSION).select_related("reading")
        .order_by("-raised_at", "-id").first()
    )
    if last is not None:
        since = last.reading.recorded_at if last.reading_id else last.raised_at
        back_in_range = TemperatureReading.objects.filter(
            unit=unit, recorded_at__gt=since, recorded_at__lt=first.recorded_at,
            temperature_c__gte=unit.min_temperature_c, temperature_c__lte=unit.max_temperature_c,
        ).exists()
        if not back_in_range:
            return None  # the same episode (already acknowledged), or an old reading arriving late
    alarm = Alarm.objects.create(
        unit=unit, kind=AlarmKind.EXCURSION, reading=first, peak_temperature_c=worst.temperature_c,
        message=_("%(unit)s read %(t)s °C at %(at)s; the allowed range is %(min)s to %(max)s °C.") % {
            "unit": unit.name, "t": first.temperature_c,
            "at": timezone.localtime(first.recorded_at).strftime("%Y-%m-%d %H:%M"),
            "min": unit.min_temperature_c, "max": unit.max_temperature_c,
        },
    )
    _record_vials_in_unit(alarm, unit)
    _notify_later([alarm.pk])
    return alarm


def _record_vials_in_unit(alarm: Alarm, unit: StorageUnit) -> None:
    """AlarmVial rows (and their history rows) for every vial in ``unit`` now.

    A full tank holds tens of thousands of vials, and the sensor's request waits for this: on
    PostgreSQL one INSERT … SELECT writes the rows and their history rows (the same rows
    ``bulk_create_audited`` would write, with the acting user and reason) in well under a second.
    """
    if connection.vendor != "postgresql":
        inside = Vial.objects.filter(box__rack__unit=unit).values_list("pk", "box_id", "row", "col").order_by("pk")
        bulk_create_audited(AlarmVial, [AlarmVial(alarm=alarm, vial_id=pk, box_id=box, row=row, col=col)
                                        for pk, box, row, col in inside], batch_size=2000)
        return
    actor = current_actor()
    with connection.cursor() as cursor:
        cursor.execute(
            f"""
            WITH recorded AS (
                INSERT INTO {AlarmVial._meta.db_table} (alarm_id, vial_id, box_id, "row", col)
                SELECT %s, v.id, v.box_id, v."row", v.col
                FROM {Vial._meta.db_table} v
                JOIN {Box._meta.db_table} b ON b.id = v.box_id
                JOIN {Rack._meta.db_table} r ON r.id = b.rack_id
                WHERE r.unit_id = %s
                ORDER BY v.id
                RETURNING id, alarm_id, vial_id, box_id, "row", col
            )
            INSERT INTO {AlarmVial.history.model._meta.db_table}
                (id, alarm_id, vial_id, box_id, "row", col, history_date, history_change_reason, history_type,
                 history_user_id)
            SELECT id, alarm_id, vial_id, box_id, "row", col, %s, %s, '+', %s FROM recorded
            """,  # noqa: S608 — table names come from the models, values are parameters
            [alarm.pk, unit.pk, timezone.now(), current_reason()[:100] or None, getattr(actor, "pk", None)],
        )


def silent_units():
    """Units in service whose sensor has been silent longer than allowed and that have no alarm for it yet.

    Silent means no reading (or, for a unit never heard from, no reading since it was laid out) for the
    unit's ``sensor_silent_minutes`` or the bank's ``SENSOR_SILENT_MINUTES``. One alarm per silence:
    none while one is active, and none again until a new reading has arrived.
    """
    now = timezone.now()
    default = settings.SENSOR_SILENT_MINUTES
    # Deadlines are computed here, not in SQL: SQLite (the embedded default) has no interval arithmetic,
    # and a bank has at most a few hundred units in service.
    candidates = [
        pk
        for pk, last, created, minutes in StorageUnit.objects.filter(active=True).values_list(
            "pk", "last_reading_at", "created_at", "sensor_silent_minutes"
        )
        if (last or created) + datetime.timedelta(minutes=minutes or default) < now
    ]
    silent_alarms = Alarm.objects.filter(unit=OuterRef("pk"), kind=AlarmKind.SENSOR_SILENT)
    return (
        StorageUnit.objects.filter(pk__in=candidates)
        .annotate(heard=Coalesce(F("last_reading_at"), F("created_at")))
        .exclude(Exists(silent_alarms.filter(status=AlarmStatus.ACTIVE)))
        .exclude(Exists(silent_alarms.filter(raised_at__gte=OuterRef("heard"))))
    )


def raise_silent_sensor_alarms(*, actor=None) -> list[Alarm]:
    """Raise a ``sensor_silent`` alarm for every unit whose sensor is silent (the beat task calls this).

    Candidate units are locked with SKIP LOCKED (a unit taking a reading right now is not silent) and
    checked again under the lock; the partial unique constraint forbids a second active alarm anyway.
    """
    with transaction.atomic(), acting(actor, current_reason() or _("sensor watch")):
        units = list(silent_units().select_for_update(skip_locked=True, of=("self",)).order_by("pk"))
        if not units:
            return []
        now = timezone.now()
        alarms = [
            Alarm(
                unit=unit, kind=AlarmKind.SENSOR_SILENT, raised_at=now,
                message=(
                    _("No reading from %(unit)s since %(at)s (allowed: %(n)d minutes). Check the sensor and the "
                      "tank.") % {"unit": unit.name, "at": timezone.localtime(unit.last_reading_at)
                                  .strftime("%Y-%m-%d %H:%M"), "n": unit.silent_minutes}
                    if unit.last_reading_at else
                    _("No reading has ever arrived from %(unit)s (allowed: %(n)d minutes). Connect its sensor.")
                    % {"unit": unit.name, "n": unit.silent_minutes}
                ),
            )
            for unit in units
        ]
        created = bulk_create_audited(Alarm, alarms)
        _notify_later([a.pk for a in created])
    return created


def acknowledge_alarm(alarm: Alarm, *, actor, password: str, reason: str,
                      meaning: str = SignatureMeaning.ACKNOWLEDGEMENT) -> Alarm:
    """Acknowledge an active alarm with a reason and an electronic signature.

    403 ``signature_invalid`` (wrong password, checked before anything is written and counted like a
    failed login), 409 ``alarm_not_active`` when someone acknowledged it already.
    """
    reason = (reason or "").strip()
    if not reason:
        raise ValidationError({"reason": [_("Say what was found and done: the reason is part of the record.")]})
    verify_password(actor, password)
    with transaction.atomic(), acting(actor, reason):
        locked = Alarm.objects.select_for_update().get(pk=alarm.pk)
        if locked.status != AlarmStatus.ACTIVE:
            raise Conflict(_("This alarm was already acknowledged."), code="alarm_not_active")
        locked.status = AlarmStatus.ACKNOWLEDGED
        locked.acknowledged_at = timezone.now()
        locked.acknowledged_by = actor
        locked.acknowledgement_reason = reason
        locked.save(update_fields=["status", "acknowledged_at", "acknowledged_by", "acknowledgement_reason"])
        record_signature(locked, signer=actor, meaning=meaning, statement=reason)
    return locked


# --- alarm notifications ---------------------------------------------------------------------------------


def _notify_later(alarm_ids: list[int]) -> None:
    """After commit, hand the notifications to a Celery worker; if the broker is unreachable, send now."""
    if not alarm_ids:
        return

    def enqueue() -> None:
        from storage.tasks import notify_alarms

        try:
            notify_alarms.delay(alarm_ids)
        except Exception:  # broker down: an alarm must still reach people
            log.exception("could not enqueue alarm notifications; sending them in-process")
            send_alarm_notifications(alarm_ids)

    transaction.on_commit(enqueue)


def send_alarm_notifications(alarm_ids: Iterable[int] | None = None, *, older_than: datetime.timedelta | None = None
                             ) -> list[Alarm]:
    """Tell technicians and QA about alarms not yet notified (in-app and e-mail); each alarm once.

    The alarms are claimed with SKIP LOCKED and marked ``notified_at`` in the same transaction, so a
    retried task or the scheduler's sweep never notifies twice. Without ids: every active alarm left
    unnotified for longer than ``older_than`` (a lost message).
    """
    from bank.models import Notification
    from bank.notifications import notify_role

    qs = Alarm.objects.filter(notified_at__isnull=True)
    if alarm_ids is not None:
        qs = qs.filter(pk__in=list(alarm_ids))
    else:
        qs = qs.filter(status=AlarmStatus.ACTIVE, raised_at__lt=timezone.now() - (older_than or datetime.timedelta()))
    with transaction.atomic():
        alarms = list(qs.select_for_update(skip_locked=True, of=("self",)).select_related("unit").order_by("pk"))
        if not alarms:
            return []
        Alarm.objects.filter(pk__in=[a.pk for a in alarms]).update(notified_at=timezone.now())
        for kind in AlarmKind.values:
            of_kind = [a for a in alarms if a.kind == kind]
            if not of_kind:
                continue
            units = ", ".join(a.unit.name for a in of_kind)
            subject = (_("Temperature excursion: %(units)s") if kind == AlarmKind.EXCURSION
                       else _("Sensor silent: %(units)s")) % {"units": units}
            body = "\n".join(a.message for a in of_kind)
            body += "\n\n" + _("Check the unit, then acknowledge the alarm with a reason and your signature.")
            link = reverse("storage:alarm", args=[of_kind[0].pk]) if len(of_kind) == 1 else reverse("storage:alarms")
            notify_role("technician", "qa", subject=subject[:200], body=body, link=link,
                        level=Notification.Level.ALARM)
    return alarms
