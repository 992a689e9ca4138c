"""Whole boxes: moving a box to another rack and evacuating a unit in an emergency
(vials keep their positions in their box). Lock order: racks → boxes."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _
from simple_history.utils import bulk_update_with_history

from bank.audit import acting, bulk_create_audited
from bank.errors import Conflict
from lots.models import Vial
from storage.choices import MoveKind
from storage.models import Box, Rack, StorageUnit, VialMove

from ._common import _move_record, _require_reason
from .layout import _free_rack_position
from .placement_rules import _check_mirror_kept, _check_unit_in_service, _mirror_lots, _units_per_lot, check_segregation


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


def check_evacuation_target(unit: StorageUnit, target: StorageUnit) -> None:
    """What can be refused before any box is read (400): the boxes must go to another unit. A full tank's
    evacuation is a job; its starters ask this first, so a typo gets its answer at once, not as a failed job."""
    if unit.pk == target.pk:
        raise ValidationError({"unit": [_("Choose another unit to move the boxes into.")]})


def evacuate_unit(unit: StorageUnit, target: StorageUnit, *, actor, reason: str, progress=None) -> EvacuationResult:
    """Emergency: move every box of ``unit`` into racks of ``target``, vials keeping their positions.

    Boxes go to the target's racks in order, as far as each rack's capacity and box names allow.
    Segregation still holds (409 ``quarantine_segregation``); 409 ``insufficient_space`` when the
    target's racks cannot take every box. The mirror rule does not block an emergency: the MCB lots
    it affects are returned so QA can split them again.

    ``progress(done, total, message)`` (optional) hears how far it got: a full tank (thousands of boxes, 100,000
    vials) runs as a job in the worker (``storage.jobs.run_evacuation``) and the page shows it moving.
    """
    reason = _require_reason(reason)
    report = progress or (lambda done, total, message="": None)
    check_evacuation_target(unit, target)
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
        total = len(plan) + len(vials)
        report(0, total, _("Moving %(n)d boxes") % {"n": len(plan)})
        for box, rack, position in plan:
            box.rack, box.position = rack, position
        bulk_update_with_history(
            [b for b, _r, _p in plan], Box, ["rack", "position"], batch_size=500,
            default_user=actor, default_change_reason=reason[:100],
        )
        report(len(plan), total, _("Recording the chain of custody of %(n)d vials") % {"n": len(vials)})
        now = timezone.now()
        by_box = {b.pk: b for b in boxes}
        chunk = 5000
        for start in range(0, len(vials), chunk):
            bulk_create_audited(VialMove, [
                _move_record(v, MoveKind.EVACUATED, src_box=by_box[v.box_id], src_row=v.row, src_col=v.col,
                             src_rack=source_rack[v.box_id], dst_box=by_box[v.box_id], dst_row=v.row, dst_col=v.col,
                             dst_rack=by_box[v.box_id].rack, actor=actor, reason=reason, at=now)
                for v in vials[start:start + chunk]
            ])
            report(len(plan) + min(start + chunk, len(vials)), total)
        report(total, total, _("%(boxes)d boxes (%(vials)d vials) moved into %(unit)s.")
               % {"boxes": len(plan), "vials": len(vials), "unit": target_unit.name})
        broken = []
        if _mirror_lots(lots):
            after = _units_per_lot([lot.pk for lot in lots])
            broken = [lot.lot_number for lot in _mirror_lots(lots)
                      if len(before.get(lot.pk, ())) >= 2 and len(after[lot.pk]) < 2]
    return EvacuationResult(boxes=[b for b, _r, _p in plan], vials=len(vials), mirror_broken=broken)
