"""Import of lots and their vials with storage positions: one row per vial, carrying its lot's columns.

The lot's columns are repeated on each of its vial rows and must agree; the lot is created at its first row. Vials
keep their legacy barcodes (a tube's 2D code is its barcode); a position names a box by its barcode or by its
path ``unit / rack / box``, and the place as ``A1`` (or the ``row`` and ``col`` columns). Positions are checked
against the box's grid, what the box holds, the rest of the file, the unit being in service and storage's
quarantine segregation (``storage.services.check_segregation``, the one source of that rule).

Lot states: a lot arrives in quarantine unless the file says ``released`` with the legacy release reference and
date, and the import is e-signed by a QA officer (``bank.signatures``): each released lot then gets a release
decision signed off by that QA officer, citing the legacy reference. Nothing else comes in as released.
"""

from __future__ import annotations

import datetime
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings
from django.db.models import Q
from django.db.models.functions import Upper
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from bank import coding
from bank.audit import bulk_create_audited
from bank.barcodes import KINDS as BARCODE_KINDS
from bank.barcodes import issue
from bank.errors import Conflict
from bank.parsing import BIGINT_MAX
from imports.choices import RefKind
from imports.services.common import _Errors, as_date, code, decimal_in, int_in, not_future, position, text
from imports.services.engine import Context, Report, Spec, add_refs, existing_refs
from imports.services.reader import Column
from lots.choices import FreezingProgram, LotStatus, Tier, VialKind, VialStatus
from lots.models import CellLine, Lot, Vial
from lots.services import MAX_PASSAGE
from qc.choices import Decision
from qc.models import LotDecision
from storage.choices import STORABLE_VIAL_STATUSES, MoveKind
from storage.models import Box, VialMove
from storage.services import _lock_boxes, check_segregation

L = gettext_lazy

LOT_COLUMNS = [
    Column("lot_number", True, L("The legacy lot number, kept as the lot's number."), "MCB-2019-004"),
    Column("cell_line", True, L("The line's name in StemBank (import the lines first)."), "SCBi001-A"),
    Column("tier", True, L("MCB or WCB."), "MCB"),
    Column("parent_lot", False, L("A WCB's MCB lot number (in the bank or earlier in the file)."), ""),
    Column("passage", True, L("Passage at freeze."), "12"),
    Column("vials_frozen", False, L("Vials frozen in the lot; empty: the lot's rows in the file."), ""),
    Column("cells_per_vial", True, L("Cells per vial."), "1000000"),
    Column("volume_ml", True, L("Volume per vial in mL."), "1.0"),
    Column("cryoprotectant", True, L("e.g. CryoStor CS10."), "CryoStor CS10"),
    Column("cryoprotectant_lot", False, L("The cryoprotectant's lot."), ""),
    Column("freezing_program", False, L("controlled_rate or container (default)."), "controlled_rate"),
    Column("frozen_on", True, L("Day frozen, YYYY-MM-DD."), "2019-05-14"),
    Column("lot_status", False, L("quarantine (default) or released (needs the release reference and date, and "
                                  "QA's e-signature of the import)."), "quarantine"),
    Column("release_reference", False, L("The legacy release record (certificate number)."), ""),
    Column("released_on", False, L("The legacy release date, YYYY-MM-DD."), ""),
    Column("lot_barcode", False, L("The lot's legacy barcode; empty: StemBank issues one."), ""),
    Column("din", False, L("ISBT 128 DIN of a clinical-grade lot."), ""),
    Column("lot_notes", False, L("Free text kept on the lot."), ""),
]
VIAL_COLUMNS = [
    Column("vial_barcode", True, L("The vial's legacy barcode or 2D tube code, kept as its barcode."), "LEG0000001"),
    Column("vial_number", False, L("Number of the vial in its lot; empty: numbered in file order."), ""),
    Column("vial_status", False, L("available (default), used, shipped or destroyed."), "available"),
    Column("box", False, L("The box's barcode, or unit / rack / box names."), "SBB00000001"),
    Column("position", False, L("Place in the box, A1 style (or use row and col)."), "A1"),
    Column("row", False, L("Row number (1 = A), when position is empty."), ""),
    Column("col", False, L("Column number, when position is empty."), ""),
]
COLUMNS = LOT_COLUMNS + VIAL_COLUMNS
LOT_KEYS = tuple(c.name for c in LOT_COLUMNS)
IMPORT_STATUSES = (LotStatus.QUARANTINE, LotStatus.RELEASED)
VIAL_STATUSES = (VialStatus.AVAILABLE, VialStatus.USED, VialStatus.SHIPPED, VialStatus.DESTROYED)


@dataclass
class LotInfo:
    row: int
    signature: tuple
    number: str
    ok: bool = True
    earlier_run: bool = False  # brought in by an earlier import of this source
    values: dict = field(default_factory=dict)
    count: int = 0
    max_number: int = 0
    next_number: int = 0
    numbers: set = field(default_factory=set)
    units: set = field(default_factory=set)
    stored: int = 0
    id: int | None = None
    passage: int = 0
    tier: str = ""
    line_id: int | None = None


@dataclass
class BoxInfo:
    id: int
    label: str
    rows: int
    cols: int
    rack_id: int
    unit: Any


@dataclass
class State:
    lots: dict = field(default_factory=dict)  # upper lot number -> LotInfo
    barcodes: set = field(default_factory=set)
    lot_barcodes: set = field(default_factory=set)
    dins: set = field(default_factory=set)
    boxes: dict = field(default_factory=dict)  # box column value -> BoxInfo | None
    occupied: dict = field(default_factory=dict)  # box id -> set of (row, col) taken in the bank
    claimed: set = field(default_factory=set)  # (box id, row, col) taken by the file
    segregation: dict = field(default_factory=dict)  # (lot key, unit id) -> message or ""
    lines: dict = field(default_factory=dict)  # upper name -> dict | None
    released: list = field(default_factory=list)  # (row, lot number) of lots arriving released


# --- look-ups (each one query per batch, for what the batch has not seen yet) ---------------------------------


def _own_barcode(barcode: str) -> bool:
    """Shaped like a barcode this bank issues (its sequence would hand it out again one day)."""
    prefix = settings.BARCODE_PREFIX
    return (barcode.startswith(prefix) and len(barcode) == len(prefix) + 9
            and barcode[len(prefix)] in BARCODE_KINDS.values() and barcode[len(prefix) + 1:].isdigit())


def _load_boxes(state: State, values: set[str]) -> None:
    wanted = [v for v in values if v and v not in state.boxes]
    if not wanted:
        return
    barcodes = {code(v, "box", _Errors()): v for v in wanted if "/" not in v}
    paths = {}
    for v in wanted:
        if "/" in v:
            parts = [p.strip() for p in v.split("/")]
            if len(parts) == 3 and all(parts):
                paths[tuple(parts)] = v
            state.boxes[v] = None
    for v in wanted:
        state.boxes.setdefault(v, None)
    query = Q(barcode__in=list(barcodes)) if barcodes else Q(pk__in=[])
    for unit, rack, name in paths:
        query |= Q(rack__unit__name=unit, rack__name=rack, name=name)
    new_ids = []
    for box in Box.objects.filter(query).select_related("rack__unit"):
        info = BoxInfo(box.pk, box.barcode, box.rows, box.cols, box.rack_id, box.rack.unit)
        if box.barcode in barcodes:
            state.boxes[barcodes[box.barcode]] = info
        key = (box.rack.unit.name, box.rack.name, box.name)
        if key in paths:
            state.boxes[paths[key]] = info
        new_ids.append(box.pk)
    fresh = [pk for pk in new_ids if pk not in state.occupied]
    if fresh:
        for pk in fresh:
            state.occupied[pk] = set()
        for box_id, r, c in Vial.objects.filter(box_id__in=fresh).values_list("box_id", "row", "col"):
            state.occupied[box_id].add((r, c))


def _load_lines(state: State, names: set[str]) -> None:
    wanted = [n for n in names if n and n not in state.lines]
    if not wanted:
        return
    for n in wanted:
        state.lines[n] = None
    for row in (CellLine.objects.annotate(u=Upper("name")).filter(u__in=wanted)
                .values("u", "id", "name", "cell_type", "donor__consent_withdrawn_at")):
        state.lines[row["u"]] = row


# --- validation -----------------------------------------------------------------------------------------------


def _validate_lot(number: int, row: dict, key: str, state: State, report: Report, ctx: Context, db_lots: dict,
                  lot_refs: dict, taken_barcodes: set, taken_dins: set) -> LotInfo:
    errors = _Errors()
    info = LotInfo(row=number, signature=tuple(row.get(k, "") for k in LOT_KEYS), number=text(
        row.get("lot_number"), "lot_number", errors, required=True, max_length=40))
    if key in lot_refs:
        info.earlier_run = True
        return info
    if key in db_lots:
        errors.add("lot_number", _("Lot %(lot)s is already in the bank (not from this source's imports). Give the "
                                   "legacy lot another number, or leave its rows out.") % {"lot": info.number})
    line = state.lines.get(text(row.get("cell_line"), "cell_line", errors, required=True).upper())
    tier = text(row.get("tier"), "tier", errors, required=True)
    tier = {"mcb": Tier.MCB, "wcb": Tier.WCB}.get(tier.lower(), tier)
    if row.get("cell_line") and line is None:
        errors.add("cell_line", _("No cell line is named “%(name)s”. Import the cell lines first, or correct the "
                                  "name.") % {"name": row.get("cell_line")})
    elif line is not None and line["cell_type"] == "CB-HSC":
        errors.add("cell_line", _("%(name)s is a cord blood unit's line: cord blood units come in through the cord "
                                  "blood import.") % {"name": line["name"]})
    if tier and tier not in (Tier.MCB, Tier.WCB):
        errors.add("tier", _("Write MCB or WCB."))
    passage = int_in(row.get("passage"), "passage", errors, low=0, high=MAX_PASSAGE, required=True)
    parent_key = text(row.get("parent_lot"), "parent_lot", errors, max_length=40).upper()
    parent = None
    if tier == Tier.WCB and not parent_key:
        errors.add("parent_lot", _("A WCB is expanded from a master cell bank: give its MCB's lot number."))
    elif tier == Tier.MCB and parent_key:
        errors.add("parent_lot", _("Only a WCB has a parent lot; leave it empty for an MCB."))
    elif parent_key:
        earlier = state.lots.get(parent_key)
        if earlier is not None and earlier.ok and not earlier.earlier_run:
            parent = {"tier": earlier.tier, "line_id": earlier.line_id, "passage": earlier.passage,
                      "id": earlier.id}
        else:
            parent = db_lots.get(parent_key)
        if parent is None:
            errors.add("parent_lot", _("No lot %(lot)s in the bank or earlier in the file. Put the MCB's rows "
                                       "before its WCBs, or import it first.") % {"lot": row.get("parent_lot")})
        elif parent["tier"] != Tier.MCB:
            errors.add("parent_lot", _("Lot %(lot)s is a %(tier)s; a WCB is made from an MCB.") % {
                "lot": row.get("parent_lot"), "tier": parent["tier"]})
        elif line is not None and parent["line_id"] != line["id"]:
            errors.add("parent_lot", _("Lot %(lot)s is of another line; a WCB's MCB is of the same line.") % {
                "lot": row.get("parent_lot")})
        elif passage is not None and passage < parent["passage"]:
            errors.add("passage", _("Passage %(p)d is lower than the parent MCB's (%(parent)d).") % {
                "p": passage, "parent": parent["passage"]})
    vials_frozen = int_in(row.get("vials_frozen"), "vials_frozen", errors, low=1, high=settings.LOT_MAX_VIALS)
    cells = int_in(row.get("cells_per_vial"), "cells_per_vial", errors, low=1, high=BIGINT_MAX, required=True)
    volume = decimal_in(row.get("volume_ml"), "volume_ml", errors, low="0.01", high="999.99", required=True)
    cryo = text(row.get("cryoprotectant"), "cryoprotectant", errors, required=True, max_length=120)
    cryo_lot = text(row.get("cryoprotectant_lot"), "cryoprotectant_lot", errors, max_length=60)
    program = text(row.get("freezing_program"), "freezing_program", errors) or FreezingProgram.CONTAINER
    if program not in FreezingProgram.values:
        errors.add("freezing_program", _("Write one of: %(choices)s.") % {"choices": ", ".join(FreezingProgram.values)})
    frozen_on = as_date(row.get("frozen_on"), "frozen_on", errors)
    not_future(frozen_on, "frozen_on", errors, _("The freeze date"))
    status = (text(row.get("lot_status"), "lot_status", errors) or LotStatus.QUARANTINE).lower()
    reference = text(row.get("release_reference"), "release_reference", errors, max_length=100)
    released_on = as_date(row.get("released_on"), "released_on", errors, required=False)
    if status not in IMPORT_STATUSES:
        errors.add("lot_status", _("Write quarantine or released. A lot in any other state comes in quarantine and "
                                   "QA decides it in StemBank."))
    elif status == LotStatus.RELEASED:
        if not reference:
            errors.add("release_reference", _("A released lot needs its legacy release reference (the certificate "
                                              "or record number); otherwise leave lot_status as quarantine."))
        if released_on is None and "released_on" not in errors.by_field:
            errors.add("released_on", _("A released lot needs the date of its legacy release (YYYY-MM-DD)."))
        not_future(released_on, "released_on", errors, _("The release date"))
        if released_on and frozen_on and released_on < frozen_on:
            errors.add("released_on", _("The release date is before the freeze date."))
        if ctx.signer is None and not ctx.run.dry_run:
            errors.add("lot_status", _("Lot %(lot)s comes in released: a QA officer must e-sign the import (QA user "
                                       "and password), or set lot_status to quarantine.") % {"lot": info.number})
        state.released.append((number, info.number))
    elif reference or released_on:
        errors.add("lot_status", _("A release reference or date is given but the lot is not marked released."))
    lot_barcode = code(row.get("lot_barcode"), "lot_barcode", errors)
    if lot_barcode:
        if lot_barcode in taken_barcodes or lot_barcode in state.lot_barcodes:
            errors.add("lot_barcode", _("Barcode %(code)s is on another lot already.") % {"code": lot_barcode})
        elif _own_barcode(lot_barcode):
            errors.add("lot_barcode", _("%(code)s has the shape of this bank's own barcodes: leave it empty and "
                                        "StemBank issues one.") % {"code": lot_barcode})
        state.lot_barcodes.add(lot_barcode)
    din = text(row.get("din"), "din", errors)
    if din:
        try:
            parsed = coding.parse_din(din)
        except coding.CodeError as exc:
            errors.add("din", str(exc))
            parsed = None
        else:
            if parsed is None:
                errors.add("din", _("%(din)s is not an ISBT 128 DIN.") % {"din": din})
        if parsed is not None:
            din = parsed.din
            if din in taken_dins or din in state.dins:
                errors.add("din", _("DIN %(din)s is on another lot already.") % {"din": din})
            state.dins.add(din)
    notes = text(row.get("lot_notes"), "lot_notes", errors, max_length=2000)
    if errors:
        report.add_field_errors(number, errors.by_field)
        info.ok = False
        return info
    info.tier, info.passage, info.line_id = tier, passage, line["id"]
    info.values = {
        "lot_number": info.number, "cell_line_id": line["id"], "tier": tier, "passage": passage,
        "parent": parent_key or None, "parent_id": (parent or {}).get("id"), "vials_frozen": vials_frozen,
        "cells_per_vial": cells, "volume_ml": volume, "cryoprotectant": cryo, "cryoprotectant_lot": cryo_lot,
        "freezing_program": program, "frozen_on": frozen_on, "status": status, "reference": reference,
        "released_on": released_on, "barcode": lot_barcode or None, "din": din or None, "notes": notes,
        "withdrawn": line["donor__consent_withdrawn_at"] is not None}
    return info


def validate(batch: list[tuple[int, dict]], state: State, report: Report, ctx: Context) -> list:
    source = ctx.source
    barcodes, lot_keys, line_names, box_values = set(), set(), set(), set()
    parents, lot_codes, dins = set(), set(), set()
    for _number, row in batch:
        barcodes.add(code(row.get("vial_barcode"), "vial_barcode", _Errors()))
        key = str(row.get("lot_number") or "").strip().upper()
        if key and key not in state.lots:
            lot_keys.add(key)
            line_names.add(str(row.get("cell_line") or "").strip().upper())
            parent = str(row.get("parent_lot") or "").strip().upper()
            if parent:
                parents.add(parent)
            lot_codes.add(code(row.get("lot_barcode"), "lot_barcode", _Errors()))
            din = str(row.get("din") or "").strip()
            if din:
                try:
                    parsed = coding.parse_din(din)
                except coding.CodeError:
                    parsed = None
                if parsed is not None:
                    dins.add(parsed.din)
        if row.get("box"):
            box_values.add(str(row["box"]).strip())
    barcodes.discard("")
    lot_codes.discard("")
    vial_refs = existing_refs(source, RefKind.VIAL, barcodes)
    taken = set(Vial.objects.filter(barcode__in=list(barcodes - set(vial_refs))).values_list("barcode", flat=True)) \
        if barcodes - set(vial_refs) else set()
    lot_refs = existing_refs(source, RefKind.LOT, lot_keys)
    db_lots = {}
    wanted_lots = list((lot_keys - set(lot_refs)) | parents)
    if wanted_lots:
        for lot in (Lot.objects.annotate(u=Upper("lot_number")).filter(u__in=wanted_lots)
                    .values("u", "id", "tier", "cell_line_id", "passage")):
            db_lots[lot["u"]] = {"id": lot["id"], "tier": lot["tier"], "line_id": lot["cell_line_id"],
                                 "passage": lot["passage"]}
    taken_lot_codes = set(Lot.objects.filter(barcode__in=list(lot_codes)).values_list("barcode", flat=True)) \
        if lot_codes else set()
    taken_dins = set(Lot.objects.filter(din__in=list(dins)).values_list("din", flat=True)) if dins else set()
    _load_lines(state, line_names)
    _load_boxes(state, box_values)

    items = []
    for number, row in batch:
        errors = _Errors()
        barcode = code(row.get("vial_barcode"), "vial_barcode", errors, required=True)
        if barcode and barcode in state.barcodes:
            errors.add("vial_barcode", _("Barcode %(code)s is on another row of the file.") % {"code": barcode})
        state.barcodes.add(barcode)
        key = str(row.get("lot_number") or "").strip().upper()
        info = state.lots.get(key)
        if info is None and key:
            info = _validate_lot(number, row, key, state, report, ctx, db_lots, lot_refs, taken_lot_codes,
                                 taken_dins)
            state.lots[key] = info
            first = True
        else:
            first = False
        if barcode and barcode in vial_refs:
            report.skipped += 1
            continue
        if not key:
            errors.add("lot_number", _("This column is required: fill it in."))
        elif not first:
            differing = [k for k, a, b in zip(LOT_KEYS, info.signature, (row.get(k, "") for k in LOT_KEYS),
                                              strict=True) if str(a) != str(b)]
            for column in differing[:3]:
                errors.add(column, _("Lot %(lot)s has another %(column)s on row %(row)s: a lot's columns are the "
                                     "same on each of its vial rows.") % {"lot": info.number, "column": column,
                                                                           "row": info.row})
        if info is not None and info.earlier_run:
            errors.add("lot_number", _("Lot %(lot)s was imported earlier from %(source)s: new vials cannot be "
                                       "added to it by an import.") % {"lot": info.number, "source": source})
        if barcode in taken:
            errors.add("vial_barcode", _("A vial with barcode %(code)s is already in the bank.") % {"code": barcode})
        elif barcode and _own_barcode(barcode):
            errors.add("vial_barcode", _("%(code)s has the shape of this bank's own barcodes, which its sequence "
                                         "issues: relabel the tube or ask the administrator.") % {"code": barcode})
        vial_number = int_in(row.get("vial_number"), "vial_number", errors, low=1, high=settings.LOT_MAX_VIALS)
        status = (text(row.get("vial_status"), "vial_status", errors) or VialStatus.AVAILABLE).lower()
        if status not in VIAL_STATUSES:
            errors.add("vial_status", _("Write one of: %(choices)s.") % {"choices": ", ".join(VIAL_STATUSES)})
        box_value = str(row.get("box") or "").strip()
        place = position(row, errors)
        box = None
        if box_value:
            box = state.boxes.get(box_value)
            if box is None:
                errors.add("box", _("No box %(box)s: give a box barcode, or unit / rack / box names as StemBank "
                                    "shows them.") % {"box": box_value})
            elif place is None and "position" not in errors.by_field and "row" not in errors.by_field:
                errors.add("position", _("Give the vial's place in box %(box)s, e.g. A1.") % {"box": box.label})
            if status not in STORABLE_VIAL_STATUSES:
                errors.add("box", _("A %(status)s vial is not in storage: leave box and position empty.") % {
                    "status": status})
        elif place is not None:
            errors.add("box", _("A position is given without its box."))
        if box is not None and place is not None:
            r, c = place
            where = "position" if str(row.get("position") or "").strip() else ("col" if c > box.cols else "row")
            if r > box.rows or c > box.cols:
                errors.add(where, _("Box %(box)s has %(rows)d rows (A–%(last)s) and %(cols)d columns: "
                                         "%(pos)s is outside it.") % {
                    "box": box.label, "rows": box.rows, "last": chr(64 + box.rows), "cols": box.cols,
                    "pos": Box.position_label(r, c)})
            elif (r, c) in state.occupied.get(box.id, ()):
                errors.add(where, _("%(pos)s of box %(box)s holds a vial already.") % {
                    "pos": Box.position_label(r, c), "box": box.label})
            elif (box.id, r, c) in state.claimed:
                errors.add(where, _("%(pos)s of box %(box)s is given to another vial of the file.") % {
                    "pos": Box.position_label(r, c), "box": box.label})
            else:
                state.claimed.add((box.id, r, c))
            if not box.unit.active:
                errors.add("box", _("%(unit)s is out of service: nothing may be stored in it.") % {
                    "unit": box.unit.name})
            elif info is not None and info.ok and not info.earlier_run:
                seg_key = (key, box.unit.pk)
                if seg_key not in state.segregation:
                    try:
                        check_segregation([Lot(lot_number=info.number, status=info.values["status"])], box.unit)
                        state.segregation[seg_key] = ""
                    except Conflict as exc:
                        state.segregation[seg_key] = str(exc.detail if hasattr(exc, "detail") else exc)
                if state.segregation[seg_key]:
                    errors.add("box", state.segregation[seg_key])
        if info is not None and info.ok and not info.earlier_run:
            if vial_number is None:
                info.next_number = max(info.next_number, info.max_number) + 1
                vial_number = info.next_number
            if vial_number in info.numbers:
                errors.add("vial_number", _("Lot %(lot)s has vial number %(n)d on another row.") % {
                    "lot": info.number, "n": vial_number})
            info.numbers.add(vial_number)
            info.max_number = max(info.max_number, vial_number)
            info.count += 1
            if box is not None and place is not None:
                info.units.add(box.unit.pk)
                info.stored += 1
        if errors:
            report.add_field_errors(number, errors.by_field)
            continue
        if info is None or not info.ok:
            continue
        items.append((number, key, first, barcode, vial_number, status, box, place))
        report.created["vials"] += 1
        if first:
            report.created["lots"] += 1
    return items


def finish(state: State, report: Report, ctx: Context) -> None:
    for info in state.lots.values():
        if not info.ok or info.earlier_run:
            continue
        frozen = info.values["vials_frozen"]
        if frozen is not None and frozen < max(info.count, info.max_number):
            report.add(info.row, "vials_frozen", _("Lot %(lot)s has %(n)d vial rows (highest number %(max)d) but "
                                                   "%(frozen)d vials frozen.") % {
                "lot": info.number, "n": info.count, "max": info.max_number, "frozen": frozen})
        if (settings.MIRROR_STORAGE_MCB and info.tier == Tier.MCB and info.stored >= 2 and len(info.units) < 2):
            report.add(info.row, "box", _("Lot %(lot)s is a master cell bank: its vials must be split across at least "
                                          "two storage units (mirror storage).") % {"lot": info.number})
    released = [n for _row, n in state.released]
    if released and ctx.run.dry_run:
        report.notes.append(_("%(n)d lots would come in released (%(lots)s): the import must be e-signed by a QA "
                              "officer.") % {"n": len(released), "lots": ", ".join(released[:10])})


# --- writing --------------------------------------------------------------------------------------------------


def lock(previous: State, ctx: Context) -> None:
    """Lock every box the file fills, in pk order (as storage's placements do), before anything is written."""
    ids = sorted({b.id for b in previous.boxes.values() if b is not None})
    if ids:
        _lock_boxes(ids)
    # Pass 2 reads only the lots' totals of pass 1: the file-wide sets go (memory stays at one pass's keys).
    for name in ("barcodes", "claimed", "occupied", "segregation", "lot_barcodes", "dins"):
        getattr(previous, name).clear()
    for info in previous.lots.values():
        info.numbers.clear()


def _write_lots(new_keys: list[str], state: State, ctx: Context, now) -> None:
    previous: State = ctx.previous
    infos = [state.lots[k] for k in new_keys]
    missing = sum(1 for i in infos if not i.values["barcode"])
    codes = iter(issue("lot", missing) if missing else [])
    lots = []
    for key, info in zip(new_keys, infos, strict=True):
        v = info.values
        first_pass = previous.lots[key]
        parent_id = v["parent_id"]
        if parent_id is None and v["parent"]:
            parent_id = state.lots[v["parent"]].id
        status = v["status"]
        changed_at = (timezone.make_aware(datetime.datetime.combine(v["released_on"], datetime.time(12)))
                      if status == LotStatus.RELEASED else now)
        lots.append(Lot(
            lot_number=v["lot_number"], barcode=v["barcode"] or next(codes), din=v["din"],
            cell_line_id=v["cell_line_id"], tier=v["tier"], parent_lot_id=parent_id, passage=v["passage"],
            vial_count=max(v["vials_frozen"] or 0, first_pass.count, first_pass.max_number),
            cells_per_vial=v["cells_per_vial"], volume_ml=v["volume_ml"], cryoprotectant=v["cryoprotectant"],
            cryoprotectant_lot=v["cryoprotectant_lot"], freezing_program=v["freezing_program"],
            frozen_on=v["frozen_on"], operator=ctx.actor, status=status, status_changed_at=changed_at,
            consent_withdrawn_flagged_at=now if v["withdrawn"] else None, notes=v["notes"], created_at=now))
    bulk_create_audited(Lot, lots, batch_size=len(lots))
    for key, lot in zip(new_keys, lots, strict=True):
        state.lots[key].id = lot.pk
    add_refs(ctx, RefKind.LOT, [(key, lot.pk) for key, lot in zip(new_keys, lots, strict=True)])
    decisions = [
        LotDecision(lot=lot, decision=Decision.RELEASE, decided_by=ctx.signer, decided_at=lot.status_changed_at,
                    reason=_("Legacy release %(ref)s of %(day)s, brought in by migration import #%(run)s and "
                             "e-signed by QA.") % {"ref": state.lots[key].values["reference"],
                                                   "day": state.lots[key].values["released_on"].isoformat(),
                                                   "run": ctx.run.pk})
        for key, lot in zip(new_keys, lots, strict=True) if lot.status == LotStatus.RELEASED]
    if decisions:
        bulk_create_audited(LotDecision, decisions, batch_size=len(decisions))


def write(items: list, state: State, ctx: Context) -> None:
    if not items:
        return
    now = timezone.now()
    actor = ctx.actor
    new_keys = [key for _n, key, first, *_rest in items if first]
    # MCBs before the WCBs made from them (a WCB's MCB may be new in the same batch): two generations at most.
    waiting = [k for k in new_keys if state.lots[k].values["parent"] in new_keys]
    for group in ([k for k in new_keys if k not in waiting], waiting):
        if group:
            _write_lots(group, state, ctx, now)
    vials = []
    for _n, key, _first, barcode, number, status, box, place in items:
        vial = Vial(lot_id=state.lots[key].id, number=number, barcode=barcode, kind=VialKind.VIAL, status=status,
                    status_changed_at=now)
        if box is not None and place is not None:
            vial.box_id, vial.row, vial.col = box.id, place[0], place[1]
        vials.append(vial)
    bulk_create_audited(Vial, vials, batch_size=len(vials))
    moves = [VialMove(vial=vial, kind=MoveKind.PLACED, to_box_id=box.id, to_row=place[0], to_col=place[1],
                      to_rack_id=box.rack_id, moved_at=now, moved_by=actor, reason=ctx.reason)
             for vial, (_n, _k, _f, _b, _num, _s, box, place) in zip(vials, items, strict=True)
             if box is not None and place is not None]
    if moves:
        bulk_create_audited(VialMove, moves, batch_size=len(moves))
    add_refs(ctx, RefKind.VIAL, [(vial.barcode, vial.pk) for vial in vials])


SPEC = Spec(
    key="inventory", label=L("Lots and vials with their positions"), columns=COLUMNS,
    permission="imports.import_inventory", new_state=lambda ctx: State(), validate=validate, write=write,
    finish=finish, lock=lock,
)
