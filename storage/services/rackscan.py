"""Rack scans against the database: what a 2D rack scanner read in a box (``storage.rackscan``) compared with
where the bank places its vials, and storing or moving the scanned tubes into the scanned positions in one step.

Outcomes per position (``compare_scan``):

- ``match``: the tube the scanner read is the vial the database places there;
- ``misplaced``: a vial of the bank stored elsewhere (another position of this box, or another box);
- ``unplaced``: a vial of the bank with no position yet (a store from the scan places it);
- ``unknown``: a barcode no vial of the bank has;
- ``missing``: the database places a vial there but the scanner saw no tube;
- ``no_read``: a tube the scanner could not read (nothing can be said);
- ``empty``: nothing there, and nothing expected.

A vial the database places in the box that the scan shows nowhere, or under another tube, is listed in
``missing`` (with the tube found in its place, if any). Lock order in ``apply_scan``: vials → boxes (as placements).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from bank.audit import acting, bulk_create_audited
from bank.errors import Conflict
from bank.registry import announce
from lots.choices import VialStatus
from lots.models import Vial
from storage.choices import STORABLE_VIAL_STATUSES, MoveKind
from storage.models import Box, VialMove
from storage.rackscan import EMPTY, NO_READ, TUBE, RackScan

from ._common import _move_record, _require_reason
from .placement import _lock_boxes, _save_positions_two_step
from .placement_rules import (
    _check_mirror_complete,
    _check_mirror_kept,
    _check_unit_in_service,
    _units_per_lot,
    check_segregation,
)

OUTCOMES = ("match", "misplaced", "unplaced", "unknown", "missing", "no_read", "empty")
# Outcomes that say the box and the database disagree.
PROBLEMS = ("misplaced", "unplaced", "unknown", "missing")

_VIAL_FIELDS = ("id", "barcode", "status", "box_id", "row", "col", "lot_id", "lot__lot_number", "lot__status",
                "box__name", "box__barcode")


@dataclass
class ScanComparison:
    """A rack scan compared with the database for one box: a cell per position, the missing vials, counts."""

    box: Box
    scan: RackScan
    cells: list[dict] = field(default_factory=list)
    missing: list[dict] = field(default_factory=list)
    counts: dict[str, int] = field(default_factory=dict)

    @property
    def consistent(self) -> bool:
        return not any(self.counts.get(o) for o in PROBLEMS)

    @property
    def grid(self) -> list[list[dict]]:
        cols = self.box.cols
        return [self.cells[r * cols:(r + 1) * cols] for r in range(self.box.rows)]

    @property
    def problems(self) -> list[dict]:
        return [c for c in self.cells if c["outcome"] in PROBLEMS]

    @property
    def to_store(self) -> int:
        """Tubes a store from this scan would move or place."""
        return self.counts.get("misplaced", 0) + self.counts.get("unplaced", 0)

    def as_dict(self) -> dict:
        """The API's answer (``RackScanResultSerializer``)."""
        box = self.box
        return {
            "format": self.scan.format, "rack_barcode": self.scan.rack_barcode,
            "box": {"id": box.pk, "barcode": box.barcode, "name": box.name, "rows": box.rows, "cols": box.cols,
                    "rack": box.rack_id, "unit": box.rack.unit_id},
            "consistent": self.consistent, "counts": self.counts, "cells": self.cells, "missing": self.missing,
        }


def resolve_box(scan: RackScan, box: Box | None = None) -> Box:
    """The box a scan is of: the one its rack barcode names (which must be ``box`` when one is chosen too)."""
    from storage.queries import box_by_barcode

    if scan.rack_barcode:
        named = box_by_barcode(scan.rack_barcode)
        if named is None:
            raise ValidationError({"file": [_("No box has the rack barcode %(code)s read by the scanner. Check the "
                                              "box label, or lay the box out first.") % {"code": scan.rack_barcode}]})
        if box is not None and named.pk != box.pk:
            raise ValidationError({"box": [_("The file is a scan of box %(named)s (%(code)s), not of box %(box)s.")
                                           % {"named": named.name, "code": named.barcode, "box": box.name}]})
        return named
    if box is None:
        raise ValidationError({"box": [_("The file names no rack: choose the box it is a scan of.")]})
    return Box.objects.select_related("rack__unit").get(pk=box.pk)


def _check_fits(scan: RackScan, box: Box) -> None:
    outside = [r for r in scan.reads if r.row > box.rows or r.col > box.cols]
    if outside:
        first = outside[0]
        raise ValidationError({"file": [
            _("Line %(line)d: position %(pos)s is outside box %(box)s (%(rows)d rows × %(cols)d columns). Is this "
              "the right box?") % {"line": first.line, "pos": first.label, "box": box.name, "rows": box.rows,
                                   "cols": box.cols}]})


def _vial_info(values: dict) -> dict:
    return {"id": values["id"], "barcode": values["barcode"], "status": values["status"],
            "lot": values["lot_id"], "lot_number": values["lot__lot_number"], "lot_status": values["lot__status"]}


def compare_scan(scan: RackScan, box: Box | None = None) -> ScanComparison:
    """Compare a parsed rack scan with the database (see the module docstring). Three queries whatever the
    rack's size: the box, the vials the database places in it, the vials the scanner read."""
    box = resolve_box(scan, box)
    _check_fits(scan, box)
    expected = {(v["row"], v["col"]): v for v in Vial.objects.filter(box=box).values(*_VIAL_FIELDS).order_by()}
    codes = [r.barcode for r in scan.tubes]
    known = {v["barcode"]: v for v in Vial.objects.filter(barcode__in=codes).values(*_VIAL_FIELDS).order_by()}
    reads = scan.by_position()
    label = box.position_label
    cells, seen_here = [], set()
    for row in range(1, box.rows + 1):
        for col in range(1, box.cols + 1):
            read = reads.get((row, col))
            state = read.state if read else EMPTY
            here = expected.get((row, col))
            cell = {"row": row, "col": col, "label": label(row, col), "state": state,
                    "tube": read.barcode if read and state == TUBE else None, "line": read.line if read else None,
                    "expected": _vial_info(here) if here else None, "vial": None, "stored_at": None}
            if state == TUBE:
                vial = known.get(read.barcode)
                if vial is None:
                    outcome = "unknown"
                else:
                    cell["vial"] = _vial_info(vial)
                    if vial["box_id"] == box.pk:
                        seen_here.add(vial["id"])
                    if vial["box_id"] == box.pk and (vial["row"], vial["col"]) == (row, col):
                        outcome = "match"
                    elif vial["box_id"] is None:
                        outcome = "unplaced"
                    else:
                        outcome = "misplaced"
                        cell["stored_at"] = {"box": vial["box_id"], "box_name": vial["box__name"],
                                             "box_barcode": vial["box__barcode"],
                                             "label": label(vial["row"], vial["col"])}
            elif state == NO_READ:
                outcome = "no_read"
            else:
                outcome = "missing" if here else "empty"
            cell["outcome"] = outcome
            cells.append(cell)
    by_label = {c["label"]: c for c in cells}
    missing = []
    for (row, col), vial in sorted(expected.items()):
        if vial["id"] in seen_here:
            continue  # read somewhere in this box: misplaced (or a match), not missing
        cell = by_label[label(row, col)]
        if cell["state"] == NO_READ:
            continue  # perhaps it is the tube the scanner could not read
        missing.append({**_vial_info(vial), "label": label(row, col), "found": cell["tube"]})
    counts = {outcome: 0 for outcome in OUTCOMES}
    for cell in cells:
        counts[cell["outcome"]] += 1
    # A vial displaced by another tube is missing too, though its cell shows the tube that is there.
    counts["missing"] = len(missing)
    return ScanComparison(box=box, scan=scan, cells=cells, missing=missing, counts=counts)


@dataclass
class ScanStoreResult:
    box: Box
    moved: list[Vial] = field(default_factory=list)
    placed: list[Vial] = field(default_factory=list)


def apply_scan(scan: RackScan, box: Box | None = None, *, actor, reason: str) -> ScanStoreResult:
    """Store or move every scanned tube of the bank into the position the scanner read it at, in one
    transaction with one reason; each step lands in the chain of custody (``placed`` or ``moved``).

    All or nothing: 409 ``unknown_vials`` (a barcode no vial has: label or register it first),
    ``vial_unavailable`` (shipped, used or destroyed), ``position_occupied`` (the database places a vial
    the scan does not account for where a tube must go: move or remove it first), ``quarantine_segregation``,
    ``unit_out_of_service``, ``mirror_storage``, ``nothing_to_store`` (every tube is already in place), and
    what the quality gate on storage moves refuses (``training_required``).
    """
    reason = _require_reason(reason)
    box = resolve_box(scan, box)
    _check_fits(scan, box)
    reads = {r.barcode: r for r in scan.tubes}
    with transaction.atomic(), acting(actor, reason):
        vials = list(Vial.objects.select_for_update(of=("self",)).select_related("lot", "box__rack")
                     .filter(barcode__in=list(reads)).order_by("pk"))
        unknown = sorted(set(reads) - {v.barcode for v in vials})
        if unknown:
            raise Conflict(
                _("The bank has no vial with barcode %(codes)s. Register or relabel these tubes first; nothing was "
                  "moved.") % {"codes": ", ".join(unknown[:20])},
                code="unknown_vials", barcodes=unknown,
            )
        gone = [v for v in vials if v.status not in STORABLE_VIAL_STATUSES]
        if gone:
            raise Conflict(
                _("Vial %(vial)s is %(status)s: it is no longer in stock and cannot be stored.")
                % {"vial": gone[0].barcode, "status": VialStatus(gone[0].status).label},
                code="vial_unavailable", barcodes=[v.barcode for v in gone],
            )
        to_move = [v for v in vials if (v.box_id, v.row, v.col) != (box.pk, reads[v.barcode].row,
                                                                      reads[v.barcode].col)]
        if not to_move:
            raise Conflict(_("Every scanned tube is already where the database places it."), code="nothing_to_store")
        boxes = _lock_boxes(sorted({box.pk} | {v.box_id for v in to_move if v.box_id}))
        dest = boxes[box.pk]
        _check_unit_in_service(dest.rack.unit)
        lots = list({v.lot_id: v.lot for v in to_move}.values())
        check_segregation(lots, dest.rack.unit)
        moving = {v.pk for v in to_move}
        targets = {(reads[v.barcode].row, reads[v.barcode].col) for v in to_move}
        blockers = sorted(
            (row, col, code) for pk, row, col, code in
            Vial.objects.filter(box=dest).values_list("pk", "row", "col", "barcode").order_by()
            if pk not in moving and (row, col) in targets
        )
        if blockers:
            raise Conflict(
                _("The database places %(vials)s where scanned tubes must go, but the scan does not show them "
                  "there. Find them and move them (or take them out of storage) first.")
                % {"vials": ", ".join(f"{code} ({dest.position_label(r, c)})" for r, c, code in blockers[:20])},
                code="position_occupied", occupants=[code for _r, _c, code in blockers],
            )
        before = _units_per_lot([lot.pk for lot in lots])
        now = timezone.now()
        moves, moved, placed = [], [], []
        for vial in to_move:
            read = reads[vial.barcode]
            source = boxes.get(vial.box_id)
            moves.append(_move_record(
                vial, MoveKind.MOVED if source else MoveKind.PLACED, src_box=source, src_row=vial.row,
                src_col=vial.col, src_rack=source.rack if source else None, dst_box=dest, dst_row=read.row,
                dst_col=read.col, dst_rack=dest.rack, actor=actor, reason=reason, at=now,
            ))
            (moved if source else placed).append(vial)
            vial.box, vial.row, vial.col = dest, read.row, read.col
        _save_positions_two_step(to_move, actor=actor, reason=reason)
        bulk_create_audited(VialMove, moves)
        # One gate for the batch: the same person, activity and day for every tube (issue 16).
        announce("activity_gate", activity="storage_move", actor=actor, on=timezone.localdate(), subject=None)
        _check_mirror_kept(lots, before)
        if placed:
            _check_mirror_complete(lots)
    return ScanStoreResult(box=dest, moved=moved, placed=placed)
