"""The readings chart of a unit, drawn on the server as SVG (no JavaScript library, no CDN).

The allowed range is a green band; readings are a line over 24 h; beyond, the hourly (7 and 30 days) or daily
(a year) summaries are a band from the lowest to the highest reading with the mean as a line, so a single warm
minute still shows. Readings (or summaries) outside the range are red dots, and a silent sensor shows as a gap.
"""

from __future__ import annotations

import datetime
import math
from collections.abc import Sequence

from django.utils import timezone
from django.utils.html import escape
from django.utils.safestring import SafeString, mark_safe
from django.utils.translation import gettext as _

from bank.svg import nice_step as _nice_step
from storage.choices import RollupPeriod
from storage.queries import PERIOD_LENGTH, WINDOW_LABELS, WINDOW_PERIOD, WINDOWS, ChartPoint

WIDTH, HEIGHT = 920, 280
LEFT, RIGHT, TOP, BOTTOM = 64, 16, 14, 34


def _fmt(value: float) -> str:
    return f"{value:.1f}"


def temperature_chart(unit, points: Sequence[ChartPoint], *, window: str, now: datetime.datetime | None = None,
                      width: int = WIDTH, height: int = HEIGHT) -> SafeString:
    now = now or timezone.now()
    window = window if window in WINDOWS else "24h"
    span = WINDOWS[window]
    period = WINDOW_PERIOD.get(window)
    start = now - span
    low_limit, high_limit = float(unit.min_temperature_c), float(unit.max_temperature_c)
    values_low = [p.low for p in points] + [low_limit]
    values_high = [p.high for p in points] + [high_limit]
    y_min, y_max = min(values_low), max(values_high)
    pad = max((y_max - y_min) * 0.08, 2.0)
    y_min, y_max = y_min - pad, y_max + pad
    plot_w, plot_h = width - LEFT - RIGHT, height - TOP - BOTTOM
    total = span.total_seconds()

    def x(at: datetime.datetime) -> float:
        return LEFT + plot_w * max(0.0, min(1.0, (at - start).total_seconds() / total))

    def y(value: float) -> float:
        return TOP + plot_h * (1 - (value - y_min) / (y_max - y_min))

    title = _("Temperature of %(unit)s, last %(window)s") % {"unit": unit.name, "window": WINDOW_LABELS[window]}
    if points:
        facts = {"n": len(points), "low": _fmt(min(p.low for p in points)), "high": _fmt(max(p.high for p in points)),
                 "min": unit.min_temperature_c, "max": unit.max_temperature_c,
                 "readings": sum(p.count for p in points)}
        if period == RollupPeriod.HOUR:
            desc = _("%(n)d hours (%(readings)d readings) from %(low)s to %(high)s °C; allowed range %(min)s to "
                     "%(max)s °C.") % facts
        elif period == RollupPeriod.DAY:
            desc = _("%(n)d days (%(readings)d readings) from %(low)s to %(high)s °C; allowed range %(min)s to "
                     "%(max)s °C.") % facts
        else:
            desc = _("%(n)d points from %(low)s to %(high)s °C; allowed range %(min)s to %(max)s °C.") % facts
    else:
        desc = _("No readings in this period.")
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="chart" viewBox="0 0 {width} {height}" role="img" '
        f'aria-labelledby="chart-title chart-desc" data-points="{len(points)}" data-window="{window}">',
        f'<title id="chart-title">{escape(title)}</title><desc id="chart-desc">{escape(desc)}</desc>',
        f'<rect x="{LEFT}" y="{TOP}" width="{plot_w}" height="{plot_h}" fill="#fff" stroke="#d8dee6"/>',
        # allowed range
        f'<rect class="allowed" x="{LEFT}" y="{y(high_limit):.1f}" width="{plot_w}" '
        f'height="{max(y(low_limit) - y(high_limit), 0):.1f}" fill="#dff3e6"/>',
    ]
    step = _nice_step(y_max - y_min)
    tick = math.ceil(y_min / step) * step
    while tick <= y_max:
        ty = y(tick)
        parts.append(f'<line x1="{LEFT}" x2="{LEFT + plot_w}" y1="{ty:.1f}" y2="{ty:.1f}" stroke="#eef2f6"/>')
        parts.append(f'<text x="{LEFT - 6}" y="{ty + 4:.1f}" text-anchor="end" font-size="11" fill="#5b6675">'
                     f'{tick:g}</text>')
        tick += step
    for limit in (low_limit, high_limit):
        parts.append(f'<line class="limit" x1="{LEFT}" x2="{LEFT + plot_w}" y1="{y(limit):.1f}" y2="{y(limit):.1f}" '
                     f'stroke="#1d7a3e" stroke-dasharray="6 4"/>')
        parts.append(f'<text x="{LEFT + plot_w - 4}" y="{y(limit) - 4:.1f}" text-anchor="end" font-size="11" '
                     f'fill="#1d7a3e">{limit:g} °C</text>')
    ticks = {"7d": 7, "1y": 12}.get(window, 6)  # every 4 h, every day, every 5 days, every month
    label_format = {"24h": "%H:%M", "1y": "%Y-%m"}.get(window, "%m-%d")
    for i in range(ticks + 1):
        at = start + span * i / ticks
        label = timezone.localtime(at).strftime(label_format)
        tx = x(at)
        parts.append(f'<line x1="{tx:.1f}" x2="{tx:.1f}" y1="{TOP + plot_h}" y2="{TOP + plot_h + 4}" '
                     f'stroke="#5b6675"/>')
        anchor = "end" if i == ticks else "middle"  # the last label ends at the plot's edge, not past the figure
        parts.append(f'<text x="{tx:.1f}" y="{TOP + plot_h + 18}" text-anchor="{anchor}" font-size="11" '
                     f'fill="#5b6675">{escape(label)}</text>')
    parts.append(f'<text x="14" y="{TOP + plot_h / 2:.1f}" font-size="11" fill="#5b6675" '
                 f'transform="rotate(-90 14 {TOP + plot_h / 2:.1f})" text-anchor="middle">°C</text>')
    if not points:
        parts.append(f'<text x="{LEFT + plot_w / 2}" y="{TOP + plot_h / 2}" text-anchor="middle" font-size="15" '
                     f'fill="#5b6675">{escape(desc)}</text>')
    else:
        # A gap longer than the unit's silent time (or a bucket) breaks the line: the sensor said nothing.
        gap = datetime.timedelta(minutes=unit.silent_minutes) if period is None else 2 * PERIOD_LENGTH[period]
        segments: list[list[ChartPoint]] = [[points[0]]]
        for prev, point in zip(points, points[1:], strict=False):
            if point.at - prev.at > gap:
                segments.append([])
            segments[-1].append(point)
        for segment in segments:
            if period is not None and len(segment) > 1:
                upper = " ".join(f"{x(p.at):.1f},{y(p.high):.1f}" for p in segment)
                lower = " ".join(f"{x(p.at):.1f},{y(p.low):.1f}" for p in reversed(segment))
                parts.append(f'<polygon class="band" points="{upper} {lower}" fill="#0b5f8a" fill-opacity="0.18"/>')
            if len(segment) == 1:
                p = segment[0]
                parts.append(f'<circle cx="{x(p.at):.1f}" cy="{y(p.avg):.1f}" r="2" fill="#0b5f8a"/>')
            else:
                line = " ".join(f"{x(p.at):.1f},{y(p.avg):.1f}" for p in segment)
                parts.append(f'<polyline class="readings" points="{line}" fill="none" stroke="#0b5f8a" '
                             f'stroke-width="1.8" stroke-linejoin="round"/>')
        outside = [p for p in points if p.high > high_limit or p.low < low_limit]
        for p in outside[:400]:
            value = p.high if p.high > high_limit else p.low
            at = timezone.localtime(p.at).strftime("%Y-%m-%d %H:%M")
            parts.append(f'<circle class="excursion" cx="{x(p.at):.1f}" cy="{y(value):.1f}" r="3.5" fill="#b3261e">'
                         f'<title>{escape(at)}: {value:.1f} °C</title></circle>')
    parts.append("</svg>")
    return mark_safe("".join(parts))  # noqa: S308 — every interpolated text is escaped, the rest are numbers
