"""Reads shared by the lots pages and API. Each runs a fixed number of queries, whatever the size."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field

from django.contrib.auth import get_user_model
from django.db import connection
from django.db.models import Count, Prefetch, Q, Subquery

from bank import coding, tally
from bank.exports import person
from bank.identifiers import first_match, scannable, upper_equals
from bank.memo import memoized
from lots.choices import TEST_SAMPLE_KINDS, LotStatus, Tier, VialKind, VialStatus
from lots.models import CellLine, Culture, Lot, Passage, Vial

# --- lineage ---------------------------------------------------------------------------------------


def distributable_lot_q(prefix: str = "") -> Q:
    """Lots whose vials may leave the bank, as far as the lot itself says: released and not flagged for a
    withdrawn consent. The line's stock counter (lots/stock.py) keeps the same rule in SQL; a test holds the
    two together. (distribution adds the donor's own consent.)"""
    return Q(**{f"{prefix}status": LotStatus.RELEASED, f"{prefix}consent_withdrawn_flagged_at__isnull": True})


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

    One recursive query for any number of lots; none when no lot has a parent, or when each parent was loaded
    with its lot (``select_related("parent_lot")``) and has no parent itself (a WCB of an MCB, the common case).
    """
    found: dict[int, list[dict]] = {lot.pk: [] for lot in lots}
    ids = []
    for lot in lots:
        parent = lot._state.fields_cache.get("parent_lot") if lot.parent_lot_id else None
        if parent is not None and parent.parent_lot_id is None:
            found[lot.pk] = [_ancestor(parent.pk, parent.lot_number, parent.tier, parent.status)]
        elif lot.parent_lot_id:
            ids.append(lot.pk)
    if not ids:
        return found
    with connection.cursor() as cursor:
        cursor.execute(_LINEAGE_SQL.format(placeholders=", ".join(["%s"] * len(ids))), ids)
        for start_id, pk, number, tier, status in cursor.fetchall():
            found[start_id].append(_ancestor(pk, number, tier, status))
    return found


def _ancestor(pk: int, number: str, tier: str, status: str) -> dict:
    return {"id": pk, "lot_number": number, "tier": tier, "status": status,
            "status_label": LotStatus(status).label if status in LotStatus.values else status}


def lineage_numbers(lot: Lot) -> list[str]:
    """Ancestor lot numbers of ``lot``, nearest first (a WCB's MCB ...)."""
    return [item["lot_number"] for item in lineages([lot])[lot.pk]]


# --- vials -------------------------------------------------------------------------------------------


def sample_kinds(tier: str) -> tuple[str, ...]:
    """The kinds of container a stability re-check (or another test that uses cells up) may thaw in a lot of
    ``tier``: never a bag, and in a cord blood unit never a plain ``vial`` (a unit frozen before containers had
    kinds holds one: its product)."""
    if tier == Tier.UNIT:
        return tuple(kind for kind in TEST_SAMPLE_KINDS if kind != VialKind.VIAL)
    return TEST_SAMPLE_KINDS


def sample_vials_q(prefix: str = "") -> Q:
    """``sample_kinds`` as a filter on vials (``prefix`` is the path to the vial, e.g. ``"vials__"``)."""
    unit_kinds = sample_kinds(Tier.UNIT)
    return (Q(**{f"{prefix}kind__in": unit_kinds})
            | (Q(**{f"{prefix}kind__in": TEST_SAMPLE_KINDS}) & ~Q(**{f"{prefix}lot__tier": Tier.UNIT})))



def vial_status_counts(lot_ids) -> dict[int, dict[str, int]]:
    """``{lot id: {status: count}}`` in one query."""
    counts: dict[int, dict[str, int]] = defaultdict(dict)
    rows = Vial.objects.filter(lot_id__in=list(lot_ids)).values("lot_id", "status").annotate(n=Count("id"))
    for row in rows.order_by():
        counts[row["lot_id"]][row["status"]] = row["n"]
    return counts


def line_count(cell_type: str = "", grade: str = "") -> int:
    """How many cell lines (of ``cell_type`` and ``grade`` when given), from the kept counts. One query."""
    total = 0
    for key, n in tally.counts("lots.cellline").items():
        line_type, _sep, line_grade = key.partition(":")
        if cell_type in ("", line_type) and grade in ("", line_grade):
            total += n
    return total


def with_line_counts(lines) -> list[CellLine]:
    """Each line's ``lot_count`` and ``available`` vials, for a page of lines only: two grouped queries (never an
    annotation over every line: a million cord blood lines at national scale)."""
    lines = list(lines)
    ids = [line.pk for line in lines]
    lot_counts = dict(Lot.objects.filter(cell_line_id__in=ids).order_by().values_list("cell_line_id")
                      .annotate(n=Count("id")))
    available = dict(Vial.objects.filter(lot__cell_line_id__in=ids, status=VialStatus.AVAILABLE).order_by()
                     .values_list("lot__cell_line_id").annotate(n=Count("id")))
    for line in lines:
        line.lot_count, line.available = lot_counts.get(line.pk, 0), available.get(line.pk, 0)
    return lines


@dataclass(frozen=True)
class VialSummary:
    total: int
    stored: int
    other_kinds: int  # containers that are not plain vials (a cord blood unit's bag, segments, samples)
    by_status: dict[str, int]
    stored_by_status: dict[str, int] = field(default_factory=dict)

    def unstored(self, statuses) -> int:
        """How many vials in one of ``statuses`` have no position (storage asks: what waits for a place)."""
        return sum(self.by_status.get(s, 0) - self.stored_by_status.get(s, 0) for s in statuses)


def lot_vial_summary(lot_id: int) -> VialSummary:
    """A lot's vials counted by status, stored and kind: one query (the lot's vials by status, grouped), asked once
    per page (the lot page's figures and its storage section read the same answer)."""
    return memoized(("lots.vial_summary", lot_id), lambda: _lot_vial_summary(lot_id))


def _lot_vial_summary(lot_id: int) -> VialSummary:
    by_status: dict[str, int] = defaultdict(int)
    stored_by: dict[str, int] = defaultdict(int)
    total = stored = other = 0
    rows = (Vial.objects.filter(lot_id=lot_id).order_by().values("status")
            .annotate(n=Count("id"), stored=Count("id", filter=Q(box__isnull=False)),
                      other=Count("id", filter=~Q(kind=VialKind.VIAL))))
    for row in rows:
        by_status[row["status"]] += row["n"]
        stored_by[row["status"]] += row["stored"]
        total, stored, other = total + row["n"], stored + row["stored"], other + row["other"]
    return VialSummary(total, stored, other, dict(by_status), dict(stored_by))


def vial_page_of(lot_id: int, barcode: str, size: int) -> int:
    """The page (of ``size`` vials in number order) holding the lot's vial ``barcode``; the first page when the
    lot has no such vial. One query."""
    number = Vial.objects.filter(lot_id=lot_id, barcode__iexact=barcode).values("number")[:1]
    return Vial.objects.filter(lot_id=lot_id, number__lt=Subquery(number)).count() // size + 1


def status_count_list(counts: dict[str, int]) -> list[tuple[str, str, int]]:
    """``[(status, label, n)]`` in the order of the vial status machine, zero counts left out."""
    return [(status, label, counts[status]) for status, label in VialStatus.choices if counts.get(status)]


def vials_with_position():
    """Vials with what the API shows of them (``VialSerializer``: the lot's number, ``position_of``'s names): narrow
    rows, not every column of the lot, box, rack and unit for each vial."""
    return (Vial.objects.select_related("lot", "box__rack__unit")
            .only("id", "lot_id", "number", "barcode", "kind", "status", "status_changed_at", "box_id", "row", "col",
                  "lot__lot_number", "box__name", "box__barcode", "box__rack_id", "box__rack__name",
                  "box__rack__unit_id", "box__rack__unit__name"))


def lot_page_vials(lot: Lot):
    """The vials of ``lot`` in number order with what the lot page's table shows of their place (unit, rack and
    box names): narrow rows, the lot itself not read again for each vial."""
    return (Vial.objects.filter(lot=lot).select_related("box__rack__unit")
            .only("id", "lot_id", "number", "barcode", "kind", "status", "box_id", "row", "col", "box__name",
                  "box__rack_id", "box__rack__name", "box__rack__unit_id", "box__rack__unit__name")
            .order_by("number"))


@dataclass(frozen=True, slots=True)
class VialRow:
    """A vial as the lot page's table shows it: its own columns and the names of its place, read as plain values
    (no vial, box, rack and unit instances for each of the page's 50 rows)."""

    pk: int
    number: int
    barcode: str
    kind: str
    status: str
    box_id: int | None
    row: int | None
    col: int | None
    box_name: str | None
    rack_name: str | None
    unit_name: str | None

    def get_kind_display(self) -> str:
        return str(VialKind(self.kind).label) if self.kind in VialKind.values else self.kind

    def get_status_display(self) -> str:
        return str(VialStatus(self.status).label) if self.status in VialStatus.values else self.status


class VialRows:
    """``lot_page_vial_rows``' sliceable sequence (what a paginator needs): each slice one query of plain values."""

    FIELDS = ("id", "number", "barcode", "kind", "status", "box_id", "row", "col", "box__name", "box__rack__name",
              "box__rack__unit__name")

    def __init__(self, lot: Lot):
        self.queryset = Vial.objects.filter(lot=lot).order_by("number").values_list(*self.FIELDS)

    def count(self) -> int:
        return self.queryset.count()

    def __len__(self) -> int:
        return self.count()

    def __getitem__(self, index):
        if isinstance(index, slice):
            return [VialRow(*values) for values in self.queryset[index]]
        return VialRow(*self.queryset[index])


def lot_page_vial_rows(lot: Lot) -> VialRows:
    """The vials of ``lot`` in number order as the lot page's table shows them (``VialRow``), for its paginator."""
    return VialRows(lot)


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


# --- scanned identifiers (bank.identifiers): one lookup per kind, each an exact match on a unique index ------


def vial_by_barcode(code: str, *, related: tuple[str, ...] = ("lot",)) -> Vial | None:
    """The vial a scanner read (one indexed query; ``related`` names what to load with it)."""
    code = scannable(code)
    if not code:
        return None
    vials = Vial.objects.filter(barcode=code)
    # select_related() with no names would follow every foreign key (lot, line, donor, box, rack, unit...)
    return first_match(vials.select_related(*related) if related else vials)


def lot_by_code(code: str) -> Lot | None:
    """A lot by its barcode or its lot number (in any case). One query on the two unique indexes."""
    code = scannable(code)
    if not code:
        return None
    return first_match(Lot.objects.select_related("cell_line")
                       .filter(Q(barcode=code) | Q(upper_equals("lot_number", code))))


def lot_by_donation_code(code: str) -> Lot | None:
    """The lot an ISBT 128 DIN or an EU SEC names (on the unique DIN index); None for other codes. Raises
    ``bank.coding.CodeError`` for a DIN with a wrong check character or a malformed SEC."""
    din = coding.donation_number(code)
    if din is None:
        return None
    return first_match(Lot.objects.select_related("cell_line").filter(din=din))


def lot_coding(lot: Lot) -> dict | None:
    """The lot's ISBT 128 DIN parts and its EU SEC (split 001; no expiry date defined: 00000000), or None."""
    if not lot.din:
        return None
    din = coding.din_parts(lot.din)
    sec = coding.sec_for(donation_number=lot.din, cell_type=lot.cell_line.cell_type)
    return {"din": din.din, "facility": din.facility, "year": din.year, "sequence": din.sequence, "flags": din.flags,
            "check_character": din.check, "eye_readable": din.eye_readable,
            "sec": sec.code if sec else None, "sec_eye_readable": sec.eye_readable if sec else None}


def lot_for_scan(code: str) -> Lot | None:
    """The lot a scan names: its label (barcode or lot number), or the label of one of its vials."""
    lot = lot_by_code(code)
    if lot is None:
        vial = vial_by_barcode(code, related=("lot__cell_line",))
        lot = vial.lot if vial is not None else None
    return lot


def line_by_name(code: str) -> CellLine | None:
    """A cell line by its name in any case (``scbi001-a`` finds ``SCBi001-A``), on its upper-case index."""
    code = scannable(code)
    if not code:
        return None
    return first_match(CellLine.objects.filter(upper_equals("name", code)))


def lots_matching_barcode(code: str) -> Q:
    """Lots whose own barcode is ``code`` or that hold the vial with that barcode (for list filters). The vial's
    lot is read first (one indexed query), so the filter is two index conditions, never a scan of the lots."""
    code = scannable(code)
    holding = list(Vial.objects.filter(barcode=code).values_list("lot_id", flat=True).order_by()[:1]) if code else []
    return Q(barcode=code) | Q(pk__in=holding)


# --- lots --------------------------------------------------------------------------------------------


def lot_queryset():
    """Lots as the API shows them: with the line (name; type for the QC verdict and the SEC), the parent (a WCB's
    lineage) and the operator. Not the donor nor the culture: every join is paid on each row of a list."""
    return Lot.objects.select_related("cell_line", "parent_lot", "operator")


def lot_page_queryset():
    """A lot as its page shows it: ``lot_queryset`` and the donor's code (the culture has its own read)."""
    return lot_queryset().select_related("cell_line__donor")


def status_timeline(lot: Lot) -> list[dict]:
    """The lot's status changes from its history (creation first), with who, when and why. One query."""
    # Plain rows of the few columns shown (a historical record carries every column of the lot).
    records = lot.history.order_by("history_date", "history_id").values_list(
        "history_date", "status", "consent_withdrawn_flagged_at", "history_change_reason",
        "history_user__username", "history_user__first_name", "history_user__last_name")
    events, previous, flagged = [], None, None
    user_model = get_user_model()
    for at, status, withdrawn_flag, reason, username, first_name, last_name in records:
        who = person(user_model(username=username, first_name=first_name, last_name=last_name)
                     if username is not None else None)
        if status != previous:
            events.append({
                "at": at, "status": status,
                "label": LotStatus(status).label if status in LotStatus.values else status,
                "user": who, "reason": reason or "", "created": previous is None,
            })
            previous = status
        if withdrawn_flag and not flagged:
            flagged = withdrawn_flag
            events.append({"at": at, "status": "withdrawn", "label": None, "user": who,
                           "reason": reason or "", "consent": True})
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


# --- donors ---------------------------------------------------------------------------------------------


def derived_lots(donor) -> list[Lot]:
    """Every lot derived from ``donor`` (all lines and subclones) with vial counts by status (one query):
    what a consent withdrawal flags. Answers donors' ``derived_lots`` hook."""
    return list(
        Lot.objects.filter(cell_line__donor=donor)
        .select_related("cell_line")
        .annotate(
            vials_total=Count("vials"),
            vials_available=Count("vials", filter=Q(vials__status=VialStatus.AVAILABLE)),
            vials_reserved=Count("vials", filter=Q(vials__status=VialStatus.RESERVED)),
            vials_shipped=Count("vials", filter=Q(vials__status=VialStatus.SHIPPED)),
        )
        .order_by("cell_line__name", "frozen_on", "pk")
    )


def lines_under_approvals(approval_ids, limit: int = 20, count_cap: int = 1000) -> dict:
    """Cell lines derived from collections citing these ethics approvals (issue 15: a lapsed approval flags them
    for QA). Answers donors' ``lines_under_approvals`` hook in two bounded queries: the newest collections first
    through ``donors_collection_ethics_idx`` (``limit`` lines), and a count that stops at ``count_cap`` (None past
    it), so an approval that covered a million cord blood units costs no scan."""
    ids = list(approval_ids)
    if not ids:
        return {"lines": [], "count": 0}
    qs = CellLine.objects.filter(collection__ethics_approval_id__in=ids)
    lines = list(qs.select_related("collection__ethics_approval")
                 .order_by("-collection__collected_at", "-collection_id", "id")[:limit])
    capped = qs.values("pk")[:count_cap + 1].count()
    return {"lines": lines, "count": capped if capped <= count_cap else None}


# --- donor lines ------------------------------------------------------------------------------------------


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
