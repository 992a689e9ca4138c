"""Moving many vials at once: a batch scanned at the bench (or every vial of a box or a rack) into the free
positions of one box, and a whole rack (canister) into another unit. One transaction and one reason each; every
vial's step lands in the chain of custody.

Lock order: vials → boxes for a batch (as placements); racks → boxes for a rack (as box moves and evacuation).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Max
from django.utils import timezone
from django.utils.translation import gettext as _

from bank.audit import acting, bulk_create_audited
from bank.errors import Conflict
from bank.identifiers import normalise
from bank.registry import announce
from lots.choices import VialStatus
from lots.models import Vial
from storage.choices import STORABLE_VIAL_STATUSES, MoveKind
from storage.models import Box, Rack, StorageUnit, VialMove

from ._common import _move_record, _require_reason
from .placement import _lock_boxes, _save_positions_two_step
from .placement_rules import (
    _check_mirror_complete,
    _check_mirror_kept,
    _check_unit_in_service,
    _units_per_lot,
    check_segregation,
)

# A batch is what one person carries between tanks: a few boxes' worth. Bigger moves are box or rack moves.
BATCH_MOVE_MAX = 1000


def batch_vials(*, barcodes: Iterable[str] = (), vial_ids: Iterable[int] = (), boxes: Iterable = (),
                racks: Iterable = ()) -> list[int]:
    """The ids of the vials a batch names, in the order given: scanned barcodes and ids first, then every vial
    of the chosen boxes and racks (box by box, row by row). 400 ``{"vials": [...]}`` for an unknown barcode or
    id and for a vial named twice. At most four queries, whatever the batch's size."""
    codes = [normalise(c) for c in barcodes if normalise(c)]
    ids: list[int] = []
    errors = []
    if codes:
        found = dict(Vial.objects.filter(barcode__in=codes).values_list("barcode", "pk"))
        unknown = [c for c in codes if c not in found]
        if unknown:
            errors.append(_("No vial has the barcode %(codes)s.") % {"codes": ", ".join(unknown[:20])})
        ids += [found[c] for c in codes if c in found]
    wanted = [int(pk) for pk in vial_ids]
    if wanted:
        exists = set(Vial.objects.filter(pk__in=wanted).values_list("pk", flat=True))
        absent = [str(pk) for pk in wanted if pk not in exists]
        if absent:
            errors.append(_("No vial with id %(ids)s.") % {"ids": ", ".join(absent[:20])})
        ids += wanted
    box_ids = [int(getattr(b, "pk", b)) for b in boxes]
    if box_ids:
        order = {pk: i for i, pk in enumerate(box_ids)}
        rows = Vial.objects.filter(box_id__in=box_ids).values_list("pk", "box_id", "row", "col").order_by()
        ids += [r[0] for r in sorted(rows, key=lambda r: (order[r[1]], r[2], r[3]))]
    rack_ids = [int(getattr(r, "pk", r)) for r in racks]
    if rack_ids:
        order = {pk: i for i, pk in enumerate(rack_ids)}
        rows = (Vial.objects.filter(box__rack_id__in=rack_ids)
                .values_list("pk", "box__rack_id", "box__position", "box_id", "row", "col").order_by())
        ids += [r[0] for r in sorted(rows, key=lambda r: (order[r[1]], *r[2:]))]
    seen, twice = set(), []
    for pk in ids:
        if pk in seen:
            twice.append(pk)
        seen.add(pk)
    if twice:
        codes_twice = dict(Vial.objects.filter(pk__in=twice).values_list("pk", "barcode"))
        errors.append(_("Vial %(codes)s is in the batch twice.") % {
            "codes": ", ".join(codes_twice.get(pk, str(pk)) for pk in twice[:20])})
    if errors:
        raise ValidationError({"vials": errors})
    return ids


def _start_index(dest: Box, start: tuple[int, int] | None) -> int:
    if start is None:
        return 0
    row, col = start
    if not (isinstance(row, int) and isinstance(col, int) and 1 <= row <= dest.rows and 1 <= col <= dest.cols):
        raise ValidationError({"start": [_("Box %(box)s has %(rows)d rows and %(cols)d columns.")
                                         % {"box": dest.name, "rows": dest.rows, "cols": dest.cols}]})
    return (row - 1) * dest.cols + (col - 1)


def batch_move(vials: Sequence, box: Box, *, start: tuple[int, int] | None = None, actor, reason: str) -> list[Vial]:
    """Move (or place) ``vials`` (ids or vials, in this order) into the free positions of ``box``, row by row
    from ``start`` (a (row, col); the first position when None), with one reason, in one transaction.

    Positions held by vials of the batch count as free (a box can be compacted). All or nothing: 400 for bad
    input (``vials``, ``start``, ``reason``); 409 ``insufficient_space``, ``vial_unavailable``,
    ``quarantine_segregation`` (checked for every lot of the batch), ``unit_out_of_service``, ``mirror_storage``,
    ``nothing_to_store``, and what the quality gate on storage moves refuses (``training_required``).
    """
    reason = _require_reason(reason)
    ids = []
    for vial in vials:
        pk = getattr(vial, "pk", vial)
        if pk in ids:
            raise ValidationError({"vials": [_("A vial is in the batch twice.")]})
        ids.append(pk)
    if not ids:
        raise ValidationError({"vials": [_("Scan at least one vial.")]})
    if len(ids) > BATCH_MOVE_MAX:
        raise ValidationError({"vials": [_("Move at most %(n)d vials at once (move whole boxes or racks instead).")
                                         % {"n": BATCH_MOVE_MAX}]})
    with transaction.atomic(), acting(actor, reason):
        locked = {v.pk: v for v in Vial.objects.select_for_update(of=("self",)).select_related("lot", "box__rack")
                  .filter(pk__in=ids).order_by("pk")}
        absent = [str(pk) for pk in ids if pk not in locked]
        if absent:
            raise ValidationError({"vials": [_("No vial with id %(ids)s.") % {"ids": ", ".join(absent[:20])}]})
        batch = [locked[pk] for pk in ids]
        gone = [v for v in batch if v.status not in STORABLE_VIAL_STATUSES]
        if gone:
            raise Conflict(
                _("Vial %(vial)s is %(status)s: it is no longer in stock and cannot be stored. Take it out of the "
                  "batch; nothing was moved.") % {"vial": gone[0].barcode, "status": VialStatus(gone[0].status).label},
                code="vial_unavailable", barcodes=[v.barcode for v in gone],
            )
        boxes = _lock_boxes(sorted({box.pk} | {v.box_id for v in batch if v.box_id}))
        if box.pk not in boxes:
            raise ValidationError({"box": [_("No such box.")]})
        dest = boxes[box.pk]
        first = _start_index(dest, start)
        _check_unit_in_service(dest.rack.unit)
        lots = list({v.lot_id: v.lot for v in batch}.values())
        check_segregation(lots, dest.rack.unit)
        taken = {(r, c) for pk, r, c in Vial.objects.filter(box=dest).values_list("pk", "row", "col").order_by()
                 if pk not in locked}
        free = [divmod(i, dest.cols) for i in range(first, dest.rows * dest.cols)]
        free = [(r + 1, c + 1) for r, c in free if (r + 1, c + 1) not in taken]
        if len(free) < len(batch):
            raise Conflict(
                _("%(needed)d vials need a place but box %(box)s has only %(free)d free positions from %(start)s. "
                  "Choose another box or an earlier start position.")
                % {"needed": len(batch), "box": dest.name, "free": len(free),
                   "start": dest.position_label(*(start or (1, 1)))},
                code="insufficient_space", needed=len(batch), free=len(free),
            )
        plan = [(v, pos) for v, pos in zip(batch, free, strict=False) if (v.box_id, v.row, v.col) != (dest.pk, *pos)]
        if not plan:
            raise Conflict(_("Every vial of the batch is already in place."), code="nothing_to_store")
        before = _units_per_lot([lot.pk for lot in lots])
        now = timezone.now()
        moves, placed = [], False
        for vial, (row, col) in plan:
            source = boxes.get(vial.box_id)
            placed = placed or source is None
            moves.append(_move_record(
                vial, MoveKind.MOVED if source else MoveKind.PLACED, src_box=source, src_row=vial.row,
                src_col=vial.col, src_rack=source.rack if source else None, dst_box=dest, dst_row=row, dst_col=col,
                dst_rack=dest.rack, actor=actor, reason=reason, at=now,
            ))
            vial.box, vial.row, vial.col = dest, row, col
        _save_positions_two_step([v for v, _pos in plan], actor=actor, reason=reason)
        bulk_create_audited(VialMove, moves)
        # One gate for the batch: the same person, activity and day for every vial (issue 16).
        announce("activity_gate", activity="storage_move", actor=actor, on=timezone.localdate(), subject=None)
        _check_mirror_kept(lots, before)
        if placed:
            _check_mirror_complete(lots)
    return batch


def move_rack(rack: Rack, unit: StorageUnit, *, actor, reason: str) -> Rack:
    """Move a rack (canister) with its boxes into another unit: boxes and vials keep their places in it.

    Segregation is checked for every lot in the rack; 409 ``quarantine_segregation``, ``unit_out_of_service``,
    ``rack_name_taken`` (the unit has a rack of that name), ``mirror_storage`` (an MCB split across two units
    would end up in one), ``nothing_to_store`` never: an empty rack moves too. Each vial gets a ``rack_moved``
    step in its chain of custody.
    """
    reason = _require_reason(reason)
    with transaction.atomic(), acting(actor, reason):
        locked = Rack.objects.select_for_update(of=("self",)).select_related("unit").get(pk=rack.pk)
        target = StorageUnit.objects.filter(pk=unit.pk).first()
        if target is None:
            raise ValidationError({"unit": [_("No such storage unit.")]})
        if locked.unit_id == target.pk:
            raise ValidationError({"unit": [_("The rack is already in %(unit)s.") % {"unit": target.name}]})
        _check_unit_in_service(target)
        boxes = {b.pk: b for b in Box.objects.select_for_update(of=("self",)).filter(rack=locked).order_by("pk")}
        vials = list(Vial.objects.filter(box_id__in=list(boxes)).select_related("lot").order_by("box_id", "row", "col"))
        lots = list({v.lot_id: v.lot for v in vials}.values())
        check_segregation(lots, target)
        if Rack.objects.filter(unit=target, name=locked.name).exists():
            raise Conflict(
                _("%(unit)s already has a rack named %(rack)s. Rename one of them first.")
                % {"unit": target.name, "rack": locked.name},
                code="rack_name_taken", rack=locked.name, unit=target.name,
            )
        before = _units_per_lot([lot.pk for lot in lots])
        last = Rack.objects.filter(unit=target).aggregate(last=Max("position"))["last"] or 0
        locked.unit, locked.position = target, last + 1
        locked.save(update_fields=["unit", "position"])
        now = timezone.now()
        bulk_create_audited(VialMove, [
            _move_record(v, MoveKind.RACK_MOVED, src_box=boxes[v.box_id], src_row=v.row, src_col=v.col,
                         src_rack=locked, dst_box=boxes[v.box_id], dst_row=v.row, dst_col=v.col, dst_rack=locked,
                         actor=actor, reason=reason, at=now)
            for v in vials
        ])
        _check_mirror_kept(lots, before)
    return locked
