"""Vials in and out of positions: storing a lot, relocating it, moving one vial and
``remove_from_storage`` (shipping and thawing take vials out through it). Lock order: lot → vials → boxes."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext as _
from simple_history.utils import bulk_update_with_history

from bank.audit import acting, bulk_create_audited, current_reason
from bank.errors import Conflict
from bank.registry import announce
from lots.choices import VialStatus
from lots.models import Lot, Vial
from storage.choices import STORABLE_VIAL_STATUSES, MoveKind
from storage.models import Box, VialMove

from ._common import _move_record, _require_reason
from .placement_rules import (
    _check_mirror_complete,
    _check_mirror_kept,
    _check_unit_in_service,
    _mirror_lots,
    _units_per_lot,
    check_segregation,
)


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
        announce("activity_gate", activity="storage_move", actor=actor, on=timezone.localdate(), subject=locked)  # #16
        _check_mirror_kept([locked.lot], before)
        if not source:
            _check_mirror_complete([locked.lot])
    return locked


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
