"""Reads shared by the lots pages and API. Each runs a fixed number of queries, whatever the size."""

from __future__ import annotations

from collections import defaultdict
from decimal import Decimal

from django.db import connection
from django.db.models import Count, Exists, OuterRef, Prefetch, Q

from lots.choices import LotStatus, Tier, VialStatus
from lots.models import CellLine, Culture, Lot, Passage, Vial

# --- lineage ---------------------------------------------------------------------------------------


def descendant_lots(lot: Lot, *, lock: bool = False) -> list[Lot]:
    """Every lot made from ``lot`` (its WCBs, and theirs), parents before children, each level in freezing
    order. One query over the donor's lots (a line's lots never come from another donor); with ``lock``,
    one more locks the rows found (in pk order, as every lot lock is taken).
    """
    family = list(Lot.objects.filter(cell_line__donor=CellLine.objects.filter(pk=lot.cell_line_id)
                                     .values("donor")[:1])
                  .select_related("cell_line").order_by("frozen_on", "pk"))
    children: dict[int, list[Lot]] = defaultdict(list)
    for x in family:
        if x.parent_lot_id:
            children[x.parent_lot_id].append(x)
    found, queue, seen = [], [lot.pk], {lot.pk}
    while queue:
        for child in children.get(queue.pop(0), []):
            if child.pk not in seen:
                seen.add(child.pk)
                found.append(child)
                queue.append(child.pk)
    if lock and found:
        locked = {x.pk: x for x in Lot.objects.select_for_update().filter(pk__in=seen - {lot.pk}).order_by("pk")}
        found = [locked[x.pk] for x in found]
    return found

_LINEAGE_SQL = """
WITH RECURSIVE chain(start_id, id, parent_lot_id, lot_number, tier, status, depth) AS (
    SELECT s.id, p.id, p.parent_lot_id, p.lot_number, p.tier, p.status, 1
      FROM lots_lot s JOIN lots_lot p ON p.id = s.parent_lot_id
     WHERE s.id IN ({placeholders})
    UNION ALL
    SELECT c.start_id, p.id, p.parent_lot_id, p.lot_number, p.tier, p.status, c.depth + 1
      FROM chain c JOIN lots_lot p ON p.id = c.parent_lot_id
     WHERE c.depth < 50
)
SELECT start_id, id, lot_number, tier, status FROM chain ORDER BY start_id, depth
"""


def lineages(lots) -> dict[int, list[dict]]:
    """``{lot id: [ancestor, ...]}`` nearest first, each ``{"id","lot_number","tier","status","status_label"}``.

    One recursive query for any number of lots (none when no lot has a parent).
    """
    ids = [lot.pk for lot in lots if lot.parent_lot_id]
    found: dict[int, list[dict]] = {lot.pk: [] for lot in lots}
    if not ids:
        return found
    with connection.cursor() as cursor:
        cursor.execute(_LINEAGE_SQL.format(placeholders=", ".join(["%s"] * len(ids))), ids)
        for start_id, pk, number, tier, status in cursor.fetchall():
            found[start_id].append({"id": pk, "lot_number": number, "tier": tier, "status": status,
                                    "status_label": LotStatus(status).label if status in LotStatus.values else status})
    return found


def lineage_numbers(lot: Lot) -> list[str]:
    """Ancestor lot numbers of ``lot``, nearest first (a WCB's MCB ...)."""
    return [item["lot_number"] for item in lineages([lot])[lot.pk]]


# --- vials -------------------------------------------------------------------------------------------


def vial_status_counts(lot_ids) -> dict[int, dict[str, int]]:
    """``{lot id: {status: count}}`` in one query."""
    counts: dict[int, dict[str, int]] = defaultdict(dict)
    rows = Vial.objects.filter(lot_id__in=list(lot_ids)).values("lot_id", "status").annotate(n=Count("id"))
    for row in rows.order_by():
        counts[row["lot_id"]][row["status"]] = row["n"]
    return counts


def status_count_list(counts: dict[str, int]) -> list[tuple[str, str, int]]:
    """``[(status, label, n)]`` in the order of the vial status machine, zero counts left out."""
    return [(status, label, counts[status]) for status, label in VialStatus.choices if counts.get(status)]


def vials_with_position():
    return Vial.objects.select_related("lot", "box__rack__unit")


def position_of(vial: Vial) -> dict | None:
    """API.md's vial ``position`` — ids of unit, rack and box, row and col, with the names a technician
    reads on the tank and the grid label (e.g. C4) — or None when not stored. The one shape every app
    uses (needs ``box__rack__unit`` selected)."""
    if vial.box_id is None:
        return None
    box = vial.box
    return {
        "unit": box.rack.unit_id, "rack": box.rack_id, "box": box.pk, "row": vial.row, "col": vial.col,
        "unit_name": box.rack.unit.name, "rack_name": box.rack.name, "box_name": box.name,
        "box_barcode": box.barcode, "label": box.position_label(vial.row, vial.col),
    }


def code_variants(code: str) -> list[str]:
    """A scanned code as typed and in capitals: exact lookups that use the unique index (a case-
    insensitive match would scan millions of vials)."""
    code = code.strip()
    return list(dict.fromkeys([code, code.upper()]))


def find_vial(code: str) -> Vial | None:
    return Vial.objects.filter(barcode__in=code_variants(code)).only("id", "lot_id", "barcode").first()


def find_lot(code: str) -> Lot | None:
    return (Lot.objects.filter(Q(barcode__in=code_variants(code)) | Q(lot_number__iexact=code.strip()))
            .only("id").first())


def lots_matching_barcode(code: str) -> Q:
    """Lots whose own barcode is ``code`` or that hold the vial with that barcode."""
    codes = code_variants(code)
    return Q(barcode__in=codes) | Q(Exists(Vial.objects.filter(lot=OuterRef("pk"), barcode__in=codes)))


# --- lots --------------------------------------------------------------------------------------------


def lot_queryset():
    return Lot.objects.select_related("cell_line__donor", "parent_lot", "operator", "culture")


def status_timeline(lot: Lot) -> list[dict]:
    """The lot's status changes from its history (creation first), with who, when and why. One query."""
    records = lot.history.select_related("history_user").order_by("history_date", "history_id")
    events, previous, flagged = [], None, None
    for record in records:
        user = record.history_user
        who = (user.get_full_name() or user.get_username()) if user else ""
        if record.status != previous:
            events.append({
                "at": record.history_date, "status": record.status,
                "label": LotStatus(record.status).label if record.status in LotStatus.values else record.status,
                "user": who, "reason": record.history_change_reason or "", "created": previous is None,
            })
            previous = record.status
        if record.consent_withdrawn_flagged_at and not flagged:
            flagged = record.consent_withdrawn_flagged_at
            events.append({"at": record.history_date, "status": "withdrawn", "label": None, "user": who,
                           "reason": record.history_change_reason or "", "consent": True})
    return events


def culture_with_passages(culture_id: int | None) -> Culture | None:
    """The culture, its source vial's lot and its passages (with operators): two queries."""
    if not culture_id:
        return None
    return (
        Culture.objects.select_related("cell_line", "source_vial__lot", "created_by")
        .prefetch_related(Prefetch("passages", queryset=Passage.objects.select_related("operator").order_by("number")))
        .filter(pk=culture_id)
        .first()
    )


TIER_ORDER = {Tier.MCB: 0, Tier.WCB: 1, Tier.UNIT: 2}


def lot_tree(lots: list[Lot], counts: dict | None = None) -> list[dict]:
    """MCB → WCB tree of ``lots`` (one line or one donor): ``[{"lot", "children", "counts", "available"}]``.

    Lots whose parent is not among ``lots`` are roots. Vial counts by status come in one query
    unless given.
    """
    if counts is None:
        counts = vial_status_counts(lot.pk for lot in lots) if lots else {}
    ordered = sorted(lots, key=lambda x: (TIER_ORDER.get(x.tier, 9), x.frozen_on, x.pk))
    nodes = {lot.pk: {"lot": lot, "children": [], "counts": status_count_list(counts.get(lot.pk, {})),
                      "available": counts.get(lot.pk, {}).get(VialStatus.AVAILABLE, 0)} for lot in ordered}
    roots = []
    for lot in ordered:
        if lot.parent_lot_id in nodes:
            nodes[lot.parent_lot_id]["children"].append(nodes[lot.pk])
        else:
            roots.append(nodes[lot.pk])
    return roots


# --- QC summary --------------------------------------------------------------------------------------


def _number(value) -> float | None:
    return float(value) if isinstance(value, Decimal) else value


def qc_summary(lot: Lot) -> dict:
    """Per required test of the lot's specification: the latest result and whether it passed.

    The specification is the one assigned to the lot (``qc.LotSpecification``, fixed at its first
    result), else the newest version for the line's cell type and tier. Three or four queries.
    The QC app owns the rules; this is the read the lot page and ``GET /lots/{id}/`` show.
    """
    from qc.models import Criterion, LotSpecification, QCResult, Specification

    assigned = LotSpecification.objects.select_related("specification").filter(lot=lot).first()
    spec = assigned.specification if assigned else (
        Specification.objects.filter(cell_type=lot.cell_line.cell_type, tier=lot.tier).order_by("-version").first()
    )
    criteria = []
    if spec is not None:
        method = lot.cell_line.reprogramming_method
        criteria = [
            c for c in Criterion.objects.filter(specification=spec).select_related("test").order_by("test__order", "id")
            if not c.only_for_reprogramming or c.only_for_reprogramming == method
        ]
    latest: dict[int, QCResult] = {}
    for result in QCResult.objects.filter(lot=lot).select_related("test").order_by("test_id", "-entered_at", "-id"):
        latest.setdefault(result.test_id, result)

    def shape(result):
        if result is None:
            return None
        return {"id": result.pk, "value": _number(result.value), "outcome": result.outcome or None,
                "unit": result.unit, "tested_on": result.tested_on, "passed": result.passed}

    tests, missing, failed = [], [], []
    for criterion in criteria:
        result = latest.pop(criterion.test_id, None)
        passed = result.passed if result is not None else None
        if result is None and criterion.blocking:
            missing.append(criterion.test.code)
        if passed is False:
            failed.append(criterion.test.code)
        tests.append({
            "test": criterion.test.code, "name": criterion.test.name, "required": criterion.blocking,
            "min": _number(criterion.min_value), "max": _number(criterion.max_value),
            "unit": criterion.unit or criterion.test.unit, "expected": criterion.expected or None,
            "result": shape(result), "passed": passed,
        })
    for result in sorted(latest.values(), key=lambda r: (r.test.order, r.test.code)):
        if result.passed is False:
            failed.append(result.test.code)
        tests.append({"test": result.test.code, "name": result.test.name, "required": False, "min": None,
                      "max": None, "unit": result.unit or result.test.unit, "expected": None,
                      "result": shape(result), "passed": result.passed})
    return {
        "specification": str(spec) if spec else None,
        "specification_id": spec.pk if spec else None,
        "tests": tests,
        "missing": missing,
        "failed": failed,
        "complete": spec is not None and not missing,
    }


# --- donors ------------------------------------------------------------------------------------------


def donor_lines(donor) -> list[dict]:
    """The donor's cell lines with their lot trees (three queries)."""
    lines = list(CellLine.objects.filter(donor=donor).select_related("collection").order_by("name"))
    lots = list(Lot.objects.filter(cell_line__donor=donor).order_by("frozen_on", "id"))
    by_line: dict[int, list[Lot]] = defaultdict(list)
    for lot in lots:
        by_line[lot.cell_line_id].append(lot)
    counts = vial_status_counts(lot.pk for lot in lots) if lots else {}
    out = []
    for line in lines:
        line_lots = by_line.get(line.pk, [])
        out.append({"line": line, "tree": lot_tree(line_lots, counts)})
    return out
