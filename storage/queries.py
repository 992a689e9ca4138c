"""Reads of the storage app shared by pages, the API, the dashboard and other apps.

Every function here runs a fixed number of queries whatever the size of the bank (the box map is two,
occupancy one per level), so a tank of 50,000 vials costs what a tank of 50 does.
"""

from __future__ import annotations

import datetime
from collections import defaultdict
from dataclasses import dataclass, field

from django.conf import settings
from django.db.models import Count, Exists, F, IntegerField, OuterRef, Q, Subquery, Sum
from django.db.models.functions import Cast
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from bank.identifiers import first_match, scannable
from lots import queries as lots_queries
from lots.choices import VIAL_KIND_MARKS, VialKind, lot_unusable
from lots.models import Lot, Vial
from lots.queries import position_of  # noqa: F401 — the one position shape, re-exported for storage
from storage.choices import (
    QUARANTINE_LOT_STATUSES,
    STORABLE_VIAL_STATUSES,
    AlarmStatus,
    RollupPeriod,
    lot_needs_quarantine,
)
from storage.models import (
    Alarm,
    Box,
    Rack,
    ReadingRollup,
    StorageUnit,
    TemperatureReading,
    UnitOccupancy,
    VialMove,
)

# --- occupancy ------------------------------------------------------------------------------------------

# rows × cols. Cast: SQLite (the embedded default) refuses to multiply small-integer columns directly.
BOX_CAPACITY = Cast(F("rows"), IntegerField()) * Cast(F("cols"), IntegerField())


@dataclass(frozen=True)
class Occupancy:
    used: int = 0
    capacity: int = 0

    @property
    def free(self) -> int:
        return max(self.capacity - self.used, 0)

    @property
    def pct(self) -> float:
        return round(100.0 * self.used / self.capacity, 1) if self.capacity else 0.0

    @property
    def warning(self) -> bool:
        """Past the bank's capacity warning level (``STORAGE_CAPACITY_WARNING_PCT``)."""
        return bool(self.capacity) and self.pct >= settings.STORAGE_CAPACITY_WARNING_PCT

    @property
    def full(self) -> bool:
        return bool(self.capacity) and self.used >= self.capacity


def _occupancy(group: str, **filters) -> dict[int, Occupancy]:
    """Used and total positions of boxes grouped by ``group`` (``rack__unit``, ``rack`` or ``id``).

    One query over the boxes' counters (``Box.occupied``, kept by the database): never the vials.
    """
    rows = (
        Box.objects.filter(**filters).values(group)
        .annotate(used=Sum("occupied"), cap=Sum(BOX_CAPACITY)).values_list(group, "used", "cap")
        .order_by()
    )
    return {key: Occupancy(used or 0, cap or 0) for key, used, cap in rows}


def occupancy_by_unit(units=None) -> dict[int, Occupancy]:
    """Occupancy of every unit (or of ``units``): one query over the units' kept sums (``UnitOccupancy``, kept by
    the database from the boxes' counters), whatever the number of boxes and vials."""
    rows = UnitOccupancy.objects.all() if units is None else UnitOccupancy.objects.filter(
        unit_id__in=[u.pk for u in units])
    return {unit_id: Occupancy(used, capacity)
            for unit_id, used, capacity in rows.values_list("unit_id", "used", "capacity").order_by()}


def occupancy_by_rack(unit: StorageUnit) -> dict[int, Occupancy]:
    return _occupancy("rack", rack__unit=unit)


def unit_occupancy(unit: StorageUnit) -> Occupancy:
    return occupancy_by_unit([unit]).get(unit.pk, Occupancy())


def box_places(box_ids) -> dict[int, tuple[str, str, str, str]]:
    """``{box id: (unit name, rack name, box name, box barcode)}`` for the boxes given, one query: for lists of many
    vials that name their places (a donor's trace), read once per box rather than joined to every vial."""
    return {pk: (unit, rack, name, barcode) for pk, name, barcode, rack, unit in
            Box.objects.filter(pk__in=set(box_ids)).values_list("pk", "name", "barcode", "rack__name",
                                                                 "rack__unit__name").order_by()}


def capacity_warnings(limit: int | None = None) -> tuple[list[tuple[StorageUnit, Occupancy]], int]:
    """Units in service past the capacity warning level, fullest first (then by name), at most ``limit`` of them,
    and how many more there are. Only the units shown are read whole: a national bank has hundreds of full tanks."""
    occupancy = occupancy_by_unit()
    ids = [pk for pk, o in occupancy.items() if o.warning]
    # By name in the database's collation, then (a stable sort) fullest first.
    by_name = StorageUnit.objects.filter(pk__in=ids, active=True).order_by("name", "id").values_list("pk", flat=True)
    ranked = sorted(by_name, key=lambda pk: -occupancy[pk].pct)
    shown = ranked if limit is None else ranked[:limit]
    units = StorageUnit.objects.in_bulk(shown)
    return [(units[pk], occupancy[pk]) for pk in shown], len(ranked) - len(shown)


# --- boxes and vials ------------------------------------------------------------------------------------


MAP_FIELDS = ("id", "barcode", "status", "kind", "lot", "lot_number", "lot_status", "tier", "cell_line")


def box_vials(box: Box) -> dict[tuple[int, int], dict]:
    """The vials of ``box`` by (row, col) as dicts (``MAP_FIELDS``: what a map cell or a scan shows, plus
    ``lot_ancestor_recalled`` and ``do_not_use``: the lot is recalled, rejected or made from a recalled lot;
    ``kind`` tells a cord blood unit's bag from its segments, reference vials and maternal samples):
    one query on the box index, no models built (a full 10 x 10 box is 100 rows)."""
    rows = (
        Vial.objects.filter(box=box)
        .values_list("row", "col", "id", "barcode", "status", "kind", "lot_id", "lot__lot_number", "lot__status",
                     "lot__tier", "lot__cell_line__name", "lot__ancestor_recalled_at")
        .order_by()
    )
    out = {}
    for r in rows:
        vial = dict(zip(MAP_FIELDS, r[2:-1], strict=True))
        vial["lot_ancestor_recalled"] = r[-1] is not None
        vial["do_not_use"] = lot_unusable(vial["lot_status"], r[-1])
        out[(r[0], r[1])] = vial
    return out


def box_map(box: Box) -> dict:
    """``{"rows","cols","cells":[{"row","col","vial":{...}|null}]}`` (1-based, row by row). One query."""
    by_position = box_vials(box)
    label = box.position_label
    cells = [
        {"row": row, "col": col, "label": label(row, col), "vial": by_position.get((row, col))}
        for row in range(1, box.rows + 1)
        for col in range(1, box.cols + 1)
    ]
    return {"rows": box.rows, "cols": box.cols, "cells": cells, "used": len(by_position)}


def box_grid(box: Box) -> list[list[dict]]:
    """The map as rows of cells, for templates; a container that is not a plain vial carries its ``kind_mark``
    (BAG, SEG, REF-C…) and ``kind_label``."""
    data = box_map(box)
    for cell in data["cells"]:
        vial = cell["vial"]
        if vial and vial["kind"] in VIAL_KIND_MARKS:
            vial["kind_mark"] = VIAL_KIND_MARKS[vial["kind"]]
            vial["kind_label"] = VialKind(vial["kind"]).label
    return [data["cells"][r * box.cols:(r + 1) * box.cols] for r in range(box.rows)]


def box_by_barcode(code: str) -> Box | None:
    """The box a scanner read, with its rack and unit (one query on the unique barcode index)."""
    code = scannable(code)
    if not code:
        return None
    return first_match(Box.objects.select_related("rack__unit").filter(barcode=code))


def vial_by_barcode(code: str) -> Vial | None:
    """A vial by its barcode with where it is (box, rack, unit) and what it is (lot, line): one query."""
    return lots_queries.vial_by_barcode(code, related=("box__rack__unit", "lot__cell_line"))


def custody(vial: Vial):
    """The vial's chain of custody, oldest first, with places and people. One query."""
    return (
        VialMove.objects.filter(vial=vial)
        .select_related("from_box", "to_box", "from_rack__unit", "to_rack__unit", "moved_by")
        .order_by("moved_at", "id")
    )


# --- finding space ---------------------------------------------------------------------------------------


@dataclass
class SpaceProposal:
    """Boxes proposed for ``needed`` vials: ``boxes`` is ``[(box, free, take)]`` in filling order."""

    needed: int
    quarantine: bool
    boxes: list = field(default_factory=list)
    mirror: bool = False

    @property
    def take_total(self) -> int:
        return sum(take for _box, _free, take in self.boxes)

    @property
    def free_total(self) -> int:
        return sum(free for _box, free, _take in self.boxes)

    @property
    def enough(self) -> bool:
        if self.take_total < self.needed:
            return False
        if self.mirror and self.needed >= 2:
            return len({box.rack.unit_id for box, _f, take in self.boxes if take}) >= 2
        return True

    @property
    def box_ids(self) -> list[int]:
        return [box.pk for box, _free, _take in self.boxes]


def boxes_with_space(*, quarantine: bool, exclude_units=()) -> list[tuple[Box, int]]:
    """Boxes with free positions in units in service of the given kind: ``[(box, free)]``. One query."""
    boxes = (
        Box.objects.filter(rack__unit__active=True, rack__unit__quarantine=quarantine,
                           occupied__lt=BOX_CAPACITY)
        .exclude(rack__unit__in=list(exclude_units))
        .select_related("rack__unit")
        .order_by("rack__unit__name", "rack__position", "rack__name", "position", "name")
    )
    return [(b, b.free) for b in boxes]


def _plan_in(candidates: list[tuple[Box, int]], needed: int) -> list[tuple[Box, int, int]]:
    """Fewest boxes: the fullest single box that holds everything, else the emptiest boxes first."""
    if needed <= 0:
        return []
    fits = [(box, free) for box, free in candidates if free >= needed]
    if fits:
        box, free = min(fits, key=lambda item: item[1])
        return [(box, free, needed)]
    plan, left = [], needed
    for box, free in sorted(candidates, key=lambda item: -item[1]):
        take = min(free, left)
        plan.append((box, free, take))
        left -= take
        if not left:
            break
    return plan


def find_space(lot: Lot | None = None, *, count: int | None = None, quarantine: bool | None = None,
               exclude_units=()) -> SpaceProposal:
    """Propose boxes with enough free positions for a lot's unplaced vials (or ``count`` vials).

    Respects segregation (a lot never released → quarantine units; released → the others) and, for an
    MCB when ``MIRROR_STORAGE_MCB`` is on, splits the vials between the two units with most room.
    Prefers one unit and as few boxes as possible.
    """

    if quarantine is None:
        quarantine = lot_needs_quarantine(lot.status) if lot is not None else False
    if count is None:
        count = lot.vials.filter(box__isnull=True, status__in=STORABLE_VIAL_STATUSES).count() if lot else 0
    mirror = bool(lot is not None and settings.MIRROR_STORAGE_MCB and lot.tier == "MCB" and count >= 2)
    proposal = SpaceProposal(needed=count, quarantine=quarantine, mirror=mirror)
    if count <= 0:
        return proposal
    by_unit: dict[int, list[tuple[Box, int]]] = defaultdict(list)
    for box, free in boxes_with_space(quarantine=quarantine, exclude_units=exclude_units):
        by_unit[box.rack.unit_id].append((box, free))
    ranked = sorted(by_unit.values(), key=lambda items: -sum(free for _b, free in items))
    if mirror:
        if len(ranked) < 2:
            proposal.boxes = _plan_in(ranked[0], count) if ranked else []
            return proposal
        first = (count + 1) // 2
        proposal.boxes = _plan_in(ranked[0], first) + _plan_in(ranked[1], count - first)
        return proposal
    for items in ranked:
        if sum(free for _b, free in items) >= count:
            proposal.boxes = _plan_in(items, count)
            return proposal
    plan, left = [], count
    for items in ranked:
        part = _plan_in(items, min(left, sum(free for _b, free in items)))
        plan += part
        left -= sum(take for _b, _f, take in part)
        if not left:
            break
    proposal.boxes = plan
    return proposal


def lots_awaiting_storage(limit: int = 50):
    """Lots with vials in stock that have no position yet (just frozen), oldest freeze first.

    Driven from the unplaced vials (``lots_vial_unplaced_idx``: a few hundred among millions), never from every
    lot."""
    waiting_lots = (Vial.objects.filter(box__isnull=True, status__in=STORABLE_VIAL_STATUSES)
                    .values("lot_id").distinct())
    return (
        Lot.objects.filter(pk__in=waiting_lots)
        .select_related("cell_line")
        .annotate(unplaced=Count("vials", filter=Q(vials__box__isnull=True, vials__status__in=STORABLE_VIAL_STATUSES)))
        .order_by("frozen_on", "id")[:limit]
    )


def misplaced_lots(limit: int = 50) -> list[Lot]:
    """Released lots with vials still in a quarantine unit (and unreleased ones outside): to relocate.

    Two bounded reads, never a scan of every lot: the vials in quarantine units' boxes (few), and the lots not yet
    released (by status index) with a vial outside quarantine."""
    quarantine_boxes = Box.objects.filter(rack__unit__quarantine=True).values("pk")
    # The lots in quarantine units, read first: as a subquery the planner may walk every lot in lot-number order.
    inside = list(Vial.objects.filter(box__in=quarantine_boxes).order_by().values_list("lot_id", flat=True).distinct())
    released_inside = Lot.objects.filter(pk__in=inside).exclude(status__in=QUARANTINE_LOT_STATUSES)
    out_q = Vial.objects.filter(lot=OuterRef("pk"), box__isnull=False, box__rack__unit__quarantine=False)
    unreleased_outside = Lot.objects.filter(status__in=QUARANTINE_LOT_STATUSES).filter(Exists(out_q))
    found = {lot.pk: lot for qs in (released_inside, unreleased_outside)
             for lot in qs.select_related("cell_line").order_by("lot_number")[:limit]}
    return sorted(found.values(), key=lambda lot: lot.lot_number)[:limit]


# --- racks, units, the lot's storage ---------------------------------------------------------------------


def rack_boxes(rack: Rack) -> list[tuple[Box, Occupancy]]:
    return [(b, Occupancy(b.occupied, b.capacity)) for b in rack.boxes.order_by("position", "name")]


def unit_racks(unit: StorageUnit) -> list[tuple[Rack, Occupancy, int]]:
    """Racks of a unit with occupancy and box count. Three queries."""
    racks = list(unit.racks.annotate(box_count=Count("boxes")).order_by("position", "name"))
    occ = occupancy_by_rack(unit)
    return [(r, occ.get(r.pk, Occupancy()), r.box_count) for r in racks]


def lot_storage(lot: Lot) -> dict:
    """Where a lot's vials are: per box (with unit and rack) the count and positions ("A1 A2 B1"). Three queries: the
    positions as plain values (hundreds of vials, no model instances), their boxes, what waits for a place (the
    lot's vial summary, which the lot page has read already)."""
    # The positions on the lot's index alone; their order (unit, rack, box: the database's, its collation included,
    # then row and column) from the boxes read next, rather than a join of every vial with its box, rack and unit.
    rows = list(Vial.objects.filter(lot=lot, box__isnull=False).values_list("box_id", "row", "col"))
    box_of = {box.pk: box for box in Box.objects.filter(pk__in={box_id for box_id, _r, _c in rows})
              .select_related("rack__unit")
              .only("id", "name", "barcode", "rows", "cols", "rack__id", "rack__name", "rack__unit__id",
                    "rack__unit__name", "rack__unit__quarantine")
              .order_by("rack__unit__name", "rack__position", "position", "id")}
    rank = {pk: index for index, pk in enumerate(box_of)}
    rows.sort(key=lambda r: (rank[r[0]], r[1], r[2]))
    boxes: dict[int, dict] = {}
    for box_id, row, col in rows:
        entry = boxes.setdefault(box_id, {"box": box_of[box_id], "positions": []})
        entry["positions"].append(Box.position_label(row, col))
    for entry in boxes.values():  # as the page prints them: one string, escaped once rather than label by label
        entry["positions"] = " ".join(entry["positions"])
    # The lot page has counted its vials by status and place already (one answer per request).
    unplaced = lots_queries.lot_vial_summary(lot.pk).unstored(STORABLE_VIAL_STATUSES)
    units = {box.rack.unit_id: box.rack.unit for box in box_of.values()}
    wants_q = lot_needs_quarantine(lot.status)
    misplaced = [u for u in units.values() if u.quarantine != wants_q]
    return {"boxes": list(boxes.values()), "stored": len(rows), "unplaced": unplaced, "units": list(units.values()),
            "misplaced_units": misplaced}


# --- readings and alarms ---------------------------------------------------------------------------------


# The chart's ranges: raw readings over 24 h, hourly summaries up to 30 days, daily summaries over a year
# (ReadingRollup): at most 1,440, 720 and 366 rows whatever the age of the bank.
WINDOWS = {"24h": datetime.timedelta(hours=24), "7d": datetime.timedelta(days=7), "30d": datetime.timedelta(days=30),
           "1y": datetime.timedelta(days=365)}
WINDOW_LABELS = {"24h": _("24 hours"), "7d": _("7 days"), "30d": _("30 days"), "1y": _("1 year")}
WINDOW_PERIOD = {"7d": RollupPeriod.HOUR, "30d": RollupPeriod.HOUR, "1y": RollupPeriod.DAY}
PERIOD_LENGTH = {RollupPeriod.HOUR: datetime.timedelta(hours=1), RollupPeriod.DAY: datetime.timedelta(days=1)}
RAW_POINTS_LIMIT = 5000  # 24 h of readings every 20 seconds; a sensor posting faster is cut, not the page


@dataclass(frozen=True)
class ChartPoint:
    """A reading (``low == avg == high``) or an hour's or a day's summary (mean and true extremes)."""

    at: datetime.datetime
    avg: float
    low: float
    high: float
    count: int = 1


def chart_window(value: str | None) -> str:
    """The chart range asked for, or the default (24 h)."""
    return value if value in WINDOWS else "24h"


def readings_series(unit: StorageUnit, window: str = "24h", *, now=None) -> list[ChartPoint]:
    """The chart's points for ``window``: every raw reading over 24 h; beyond, the hourly (7 and 30 days) or
    daily (a year) summaries, each with its mean and its true lowest and highest reading. One query."""
    now = now or timezone.now()
    window = chart_window(window)
    since = now - WINDOWS[window]
    period = WINDOW_PERIOD.get(window)
    if period is None:
        rows = (TemperatureReading.objects.filter(unit=unit, recorded_at__gte=since, recorded_at__lte=now)
                .order_by("recorded_at").values_list("recorded_at", "temperature_c")[:RAW_POINTS_LIMIT])
        return [ChartPoint(at, float(t), float(t), float(t)) for at, t in rows]
    # A summary starting up to one period before the window holds readings inside it: it is drawn too.
    rows = (ReadingRollup.objects.filter(unit=unit, period=period, start__gt=since - PERIOD_LENGTH[period],
                                         start__lte=now)
            .order_by("start").values_list("start", "count", "low", "high", "total_centi"))
    return [ChartPoint(start, total / count / 100, float(low), float(high), count)
            for start, count, low, high, total in rows]


def readings_page(unit: StorageUnit, *, since=None, until=None):
    """The raw readings of ``unit`` newest first (``recorded_at``, ``id``: the order of the API's keyset pages),
    from ``since`` (inclusive) to ``until`` (exclusive). Served by the (unit, recorded_at) index."""
    qs = TemperatureReading.objects.filter(unit=unit)
    if since is not None:
        qs = qs.filter(recorded_at__gte=since)
    if until is not None:
        qs = qs.filter(recorded_at__lt=until)
    return qs.order_by("-recorded_at", "-id")


def latest_readings(units) -> dict[int, TemperatureReading]:
    """The newest reading of each unit: one query, a per-unit subquery served by the unit/time index.

    (Not DISTINCT ON: the embedded SQLite default has no such thing.)
    """
    ids = [u.pk for u in units]
    if not ids:
        return {}
    newest = TemperatureReading.objects.filter(unit=OuterRef("pk")).order_by("-recorded_at", "-id").values("pk")[:1]
    wanted = StorageUnit.objects.filter(pk__in=ids).annotate(newest=Subquery(newest)).values("newest")
    return {r.unit_id: r for r in TemperatureReading.objects.filter(pk__in=Subquery(wanted))}


def active_alarms():
    return (Alarm.objects.filter(status=AlarmStatus.ACTIVE).select_related("unit", "reading")
            .order_by("-raised_at", "-id"))


def alarms(active: bool | None = None, unit=None, kind: str | None = None):
    qs = Alarm.objects.select_related("unit", "reading", "acknowledged_by").order_by("-raised_at", "-id")
    if active is True:
        qs = qs.filter(status=AlarmStatus.ACTIVE)
    elif active is False:
        qs = qs.exclude(status=AlarmStatus.ACTIVE)
    if unit is not None:
        qs = qs.filter(unit=unit)
    if kind:
        qs = qs.filter(kind=kind)
    return qs


def alarm_vials_by_lot(alarm: Alarm) -> list[dict]:
    """The vials recorded in an excursion, grouped by lot for QA's assessment. One query."""
    rows = (
        alarm.alarmvial_set.select_related("vial__lot__cell_line", "box")
        .only("row", "col", "box__name", "box__id", "vial__barcode", "vial__status", "vial__lot__id",
              "vial__lot__lot_number", "vial__lot__status", "vial__lot__tier", "vial__lot__cell_line__name")
        .order_by("vial__lot__lot_number", "box_id", "row", "col")
    )
    lots: dict[int, dict] = {}
    for av in rows:
        lot = av.vial.lot
        entry = lots.setdefault(lot.pk, {"lot": lot, "count": 0, "boxes": defaultdict(list)})
        entry["count"] += 1
        entry["boxes"][av.box.name].append(av.box.position_label(av.row, av.col))
    for entry in lots.values():
        entry["boxes"] = dict(entry["boxes"])
    return list(lots.values())
