"""Quality trends (issue 16): a control chart per cell line and QC test across its lots — each lot's counted result
(``qc.queries.counted_results``, the one rule of which results count), in freezing order, against the mean and the
±2σ and ±3σ limits of those lots, with the Western Electric run rules that flag a drift before a lot fails:

1. one point beyond 3σ;
2. two of three consecutive points beyond 2σ on the same side;
3. four of five consecutive points beyond 1σ on the same side;
4. eight consecutive points on the same side of the mean.

A chart needs at least ``MIN_POINTS`` lots; at most ``MAX_LOTS`` (the latest) are drawn. The chart is drawn on the
server as SVG (no JavaScript library, no CDN).
"""

from __future__ import annotations

import datetime
import math
import statistics
from dataclasses import dataclass, field

from django.utils import timezone
from django.utils.html import escape
from django.utils.safestring import SafeString, mark_safe
from django.utils.translation import gettext as _

from lots.choices import Tier
from lots.models import CellLine, Lot
from qc.choices import TestKind
from qc.queries import counted_results

MIN_POINTS = 5
MAX_LOTS = 60


def rule_label(rule: int) -> str:
    labels = {1: _("one point beyond 3σ"), 2: _("2 of 3 beyond 2σ on one side"),
              3: _("4 of 5 beyond 1σ on one side"), 4: _("8 in a row on one side of the mean")}
    return labels[rule]


def run_rules(values: list[float], mean: float, sd: float) -> dict[int, set[int]]:
    """``{index: {rule, ...}}`` of the points the Western Electric rules flag (the point completing the run)."""
    flags: dict[int, set[int]] = {}
    if sd <= 0:
        return flags
    z = [(v - mean) / sd for v in values]

    def flag(i: int, rule: int) -> None:
        flags.setdefault(i, set()).add(rule)

    for i, score in enumerate(z):
        if abs(score) > 3:
            flag(i, 1)
        for side in (1, -1):
            window = z[max(0, i - 2): i + 1]
            if len(window) == 3 and sum(1 for s in window if s * side > 2) >= 2 and z[i] * side > 2:
                flag(i, 2)
            window = z[max(0, i - 4): i + 1]
            if len(window) == 5 and sum(1 for s in window if s * side > 1) >= 4 and z[i] * side > 1:
                flag(i, 3)
            window = z[max(0, i - 7): i + 1]
            if len(window) == 8 and all(s * side > 0 for s in window):
                flag(i, 4)
    return flags


@dataclass
class Point:
    lot: Lot
    value: float
    rules: set[int] = field(default_factory=set)


@dataclass
class Chart:
    test_code: str
    test_name: str
    unit: str
    points: list[Point]
    mean: float
    sd: float

    @property
    def flagged(self) -> list[Point]:
        return [p for p in self.points if p.rules]

    @property
    def rules(self) -> list[str]:
        return [rule_label(r) for r in sorted({r for p in self.points for r in p.rules})]

    def limit(self, k: int) -> float:
        return self.mean + k * self.sd

    def svg(self, width: int = 640, height: int = 220) -> SafeString:
        return chart_svg(self, width=width, height=height)


def build_chart(test_code: str, test_name: str, unit: str, series: list[tuple[Lot, float]]) -> Chart | None:
    if len(series) < MIN_POINTS:
        return None
    values = [v for _lot, v in series]
    mean = statistics.fmean(values)
    sd = statistics.stdev(values) if len(values) > 1 else 0.0
    flags = run_rules(values, mean, sd)
    return Chart(test_code, test_name, unit, [Point(lot, v, flags.get(i, set())) for i, (lot, v) in enumerate(series)],
                 mean, sd)


def line_charts(line: CellLine) -> list[Chart]:
    """One chart per numeric test with at least ``MIN_POINTS`` lots of ``line`` (its latest ``MAX_LOTS`` lots,
    oldest first). Two queries: the lots, their counted results."""
    return charts_for_lines([line.pk])[line.pk]


def charts_for_lines(line_ids) -> dict[int, list[Chart]]:
    """``line_charts`` of several lines in two queries whatever their number: their lots (each line's latest
    ``MAX_LOTS``, kept in Python) and the lots' counted results."""
    by_line: dict[int, list[Lot]] = {pk: [] for pk in line_ids}
    for lot in Lot.objects.filter(cell_line_id__in=list(by_line)).order_by("cell_line_id", "-frozen_on", "-id"):
        if len(by_line[lot.cell_line_id]) < MAX_LOTS:
            by_line[lot.cell_line_id].append(lot)
    results = counted_results([lot.pk for lots in by_line.values() for lot in lots])
    return {pk: _charts(lots[::-1], results) for pk, lots in by_line.items()}


def _charts(lots: list[Lot], results) -> list[Chart]:
    series: dict[str, list] = {}
    meta: dict[str, tuple[str, str, int]] = {}
    for lot in lots:
        for _test_id, rows in results.get(lot.pk, {}).items():
            counted = rows[0]
            if counted.test.kind != TestKind.NUMERIC or counted.value is None:
                continue
            series.setdefault(counted.test.code, []).append((lot, float(counted.value)))
            meta[counted.test.code] = (counted.test.name, counted.test.unit, counted.test.order)
    charts = []
    for code in sorted(series, key=lambda c: (meta[c][2], c)):
        chart = build_chart(code, meta[code][0], meta[code][1], series[code])
        if chart is not None:
            charts.append(chart)
    return charts


def drifting_lines(days: int = 365, limit: int = 20) -> list[tuple[CellLine, list[Chart]]]:
    """Of the ``limit`` lines with the most recently frozen banks (MCB, WCB: a cord blood unit is one donation, its
    line has no trend) in the last ``days`` days, those whose charts a run rule flags (the QA dashboard). Four
    queries whatever the bank's size: the recent banks by the lots' order index (a partial index leaves the
    million cord blood units out), the lines, their lots, the lots' counted results."""
    since = timezone.localdate() - datetime.timedelta(days=days)
    recent = (Lot.objects.filter(frozen_on__gte=since).exclude(tier=Tier.UNIT).order_by("-frozen_on", "-id")
              .values_list("cell_line_id", flat=True)[:limit * 10])
    line_ids = list(dict.fromkeys(recent))[:limit]
    charts = charts_for_lines(line_ids)
    found = []
    for line in CellLine.objects.filter(pk__in=line_ids).order_by("name"):
        flagged = [chart for chart in charts[line.pk] if chart.flagged]
        if flagged:
            found.append((line, flagged))
    return found


def _fmt(value: float) -> str:
    if value == 0 or abs(value) >= 100:
        return f"{value:.0f}"
    digits = max(0, 2 - int(math.floor(math.log10(abs(value)))))
    return f"{value:.{digits}f}"


def chart_svg(chart: Chart, *, width: int = 640, height: int = 220) -> SafeString:
    left, right, top, bottom = 64, 96, 14, 30
    lo = min(min(p.value for p in chart.points), chart.limit(-3))
    hi = max(max(p.value for p in chart.points), chart.limit(3))
    span = (hi - lo) or 1.0
    lo, hi = lo - span * 0.05, hi + span * 0.05
    n = len(chart.points)

    def x(i: int) -> float:
        return left + (width - left - right) * (i / max(n - 1, 1))

    def y(v: float) -> float:
        return top + (height - top - bottom) * (1 - (v - lo) / (hi - lo))

    aria = escape(_("Control chart of %(test)s across lots") % {"test": chart.test_name})
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" width="100%" role="img" '
             f'class="control-chart" data-test="{escape(chart.test_code)}" aria-label="{aria}">']
    for k, colour, dash in ((3, "#c0392b", "6 3"), (2, "#d68910", "3 3"), (0, "#1e8449", ""), (-2, "#d68910", "3 3"),
                            (-3, "#c0392b", "6 3")):
        yy = y(chart.limit(k))
        label = _("mean") if k == 0 else f"{'+' if k > 0 else '−'}{abs(k)}σ"
        parts.append(f'<line x1="{left}" x2="{width - right}" y1="{yy:.1f}" y2="{yy:.1f}" stroke="{colour}" '
                     f'stroke-width="1" stroke-dasharray="{dash}"/>')
        parts.append(f'<text x="{width - right + 4}" y="{yy + 4:.1f}" font-size="11" fill="{colour}">'
                     f'{escape(label)} {_fmt(chart.limit(k))}</text>')
    path = " ".join(f"{x(i):.1f},{y(p.value):.1f}" for i, p in enumerate(chart.points))
    parts.append(f'<polyline points="{path}" fill="none" stroke="#1f4e79" stroke-width="1.5"/>')
    for i, p in enumerate(chart.points):
        colour = "#c0392b" if p.rules else "#1f4e79"
        radius = 5 if p.rules else 3
        title = f"{p.lot.lot_number}: {_fmt(p.value)} {chart.unit}"
        if p.rules:
            title += " — " + "; ".join(rule_label(r) for r in sorted(p.rules))
        flagged = ' data-flagged="true"' if p.rules else ""
        parts.append(f'<circle cx="{x(i):.1f}" cy="{y(p.value):.1f}" r="{radius}" fill="{colour}"{flagged}>'
                     f'<title>{escape(title)}</title></circle>')
    first = escape(chart.points[0].lot.lot_number)
    parts.append(f'<text x="{left}" y="{height - 8}" font-size="11" fill="#555">{first}</text>')
    parts.append(f'<text x="{width - right}" y="{height - 8}" font-size="11" fill="#555" text-anchor="end">'
                 f'{escape(chart.points[-1].lot.lot_number)}</text>')
    parts.append(f'<text x="8" y="{top + 10}" font-size="11" fill="#555">{escape(chart.unit)}</text>')
    parts.append("</svg>")
    return mark_safe("".join(parts))  # noqa: S308 - every text in it is escaped above
