"""The cumulative coverage curve, drawn on the server as SVG (no JavaScript library, no CDN), as the storage app
draws its temperature chart.

x: the number of lines banked, in the greedy order of ``queries.coverage`` (the line adding most first); y: the
share of the population covered (%). The curve starts at (0, 0); each line is a point (drawn as a dot while there
are few), and the last point is labelled with the bank's coverage. A national bank's tens of thousands of lines are
thinned to at most ``MAX_POINTS`` points (the curve only rises, so the drawing does not change visibly).
"""

from __future__ import annotations

from collections.abc import Sequence

from django.utils.html import escape
from django.utils.safestring import SafeString, mark_safe
from django.utils.translation import gettext as _

from bank.svg import nice_step as _nice_step

WIDTH, HEIGHT = 920, 320
LEFT, RIGHT, TOP, BOTTOM = 70, 28, 18, 56
MAX_POINTS = 600
DOTS_UP_TO = 60
Y_LIMITS = (1, 2, 5, 10, 20, 25, 50, 80, 100)  # each divides into its _nice_step ticks


def _whole_step(span: int, ticks: int = 10) -> int:
    """A step of 1, 2 or 5 times a power of ten giving at most ``ticks`` ticks over ``span``."""
    magnitude = 1
    while True:
        for factor in (1, 2, 5):
            if span / (factor * magnitude) <= ticks:
                return factor * magnitude
        magnitude *= 10


def _pct(value: float) -> str:
    return f"{value:.2f}"


def _thinned(points: list[tuple[int, float]]) -> list[tuple[int, float]]:
    if len(points) <= MAX_POINTS:
        return points
    step = len(points) / MAX_POINTS
    kept = [points[int(i * step)] for i in range(MAX_POINTS)]
    if kept[-1] != points[-1]:
        kept.append(points[-1])
    return kept


def coverage_curve(curve: Sequence[dict], *, population: str, definition: str, width: int = WIDTH,
                   height: int = HEIGHT) -> SafeString:
    """``curve``: ``[{"lines", "coverage_pct"}, ...]`` as ``queries.coverage`` gives it."""
    points = [(int(p["lines"]), float(p["coverage_pct"])) for p in curve]
    lines = points[-1][0] if points else 0
    final = points[-1][1] if points else 0.0
    top_value = max((v for _n, v in points), default=0.0)
    # The smallest limit above the curve (a bank covering 3 % still sees its curve rise); 100 with nothing to draw.
    y_max = next((limit for limit in Y_LIMITS if top_value * 1.08 <= limit), 100) if points else 100
    x_max = max(lines, 1)
    plot_w, plot_h = width - LEFT - RIGHT, height - TOP - BOTTOM

    def x(n: float) -> float:
        return LEFT + plot_w * n / x_max

    def y(value: float) -> float:
        return TOP + plot_h * (1 - min(value, y_max) / y_max)

    title = _("Cumulative coverage of %(population)s (%(definition)s definition)") % {
        "population": population, "definition": definition}
    if points:
        desc = _("%(lines)s lines cover %(pct)s %% of the population.") % {"lines": lines, "pct": _pct(final)}
    else:
        desc = _("No banked line counts yet: the bank covers %(pct)s %% of the population.") % {"pct": _pct(0)}
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="chart" viewBox="0 0 {width} {height}" role="img" '
        f'aria-labelledby="curve-title curve-desc" data-points="{len(points)}" data-coverage="{_pct(final)}" '
        f'style="width:100%;height:auto;max-width:100%;display:block">',
        f'<title id="curve-title">{escape(title)}</title><desc id="curve-desc">{escape(desc)}</desc>',
        f'<rect x="{LEFT}" y="{TOP}" width="{plot_w}" height="{plot_h}" fill="#fff" stroke="#d8dee6"/>',
    ]
    # y axis: coverage (%)
    step = _nice_step(y_max)
    tick = 0.0
    while tick <= y_max + 1e-9:
        ty = y(tick)
        parts.append(f'<line x1="{LEFT}" x2="{LEFT + plot_w}" y1="{ty:.1f}" y2="{ty:.1f}" stroke="#eef2f6"/>')
        parts.append(f'<text x="{LEFT - 8}" y="{ty + 4:.1f}" text-anchor="end" font-size="12" fill="#5b6675">'
                     f'{tick:g}</text>')
        tick += step
    # x axis: lines banked (whole numbers only)
    x_step = _whole_step(x_max)
    for n in range(0, x_max + 1, x_step):
        tx = x(n)
        parts.append(f'<line x1="{tx:.1f}" x2="{tx:.1f}" y1="{TOP + plot_h}" y2="{TOP + plot_h + 5}" '
                     f'stroke="#5b6675"/>')
        parts.append(f'<text x="{tx:.1f}" y="{TOP + plot_h + 19}" text-anchor="middle" font-size="12" '
                     f'fill="#5b6675">{n}</text>')
    # Outside the f-strings: makemessages does not see a gettext call inside one.
    x_label = escape(_("Lines banked, the line adding most first"))
    y_label = escape(_("Population covered (%)"))
    parts.append(f'<text class="axis-label" x="{LEFT + plot_w / 2:.1f}" y="{height - 8}" text-anchor="middle" '
                 f'font-size="13" fill="#1c2430">{x_label}</text>')
    parts.append(f'<text class="axis-label" x="16" y="{TOP + plot_h / 2:.1f}" font-size="13" fill="#1c2430" '
                 f'transform="rotate(-90 16 {TOP + plot_h / 2:.1f})" text-anchor="middle">{y_label}</text>')
    if not points:
        parts.append(f'<text x="{LEFT + plot_w / 2:.1f}" y="{TOP + plot_h / 2:.1f}" text-anchor="middle" '
                     f'font-size="15" fill="#5b6675">{escape(desc)}</text>')
    else:
        drawn = [(0, 0.0), *_thinned(points)]
        line = " ".join(f"{x(n):.1f},{y(v):.1f}" for n, v in drawn)
        area = f"{x(0):.1f},{y(0):.1f} {line} {x(drawn[-1][0]):.1f},{y(0):.1f}"
        parts.append(f'<polygon class="area" points="{area}" fill="#0b5f8a" fill-opacity="0.10"/>')
        parts.append(f'<polyline class="curve" points="{line}" fill="none" stroke="#0b5f8a" stroke-width="2.2" '
                     f'stroke-linejoin="round"/>')
        if len(points) <= DOTS_UP_TO:
            for n, v in points:
                label = _("%(lines)s lines: %(pct)s %%") % {"lines": n, "pct": _pct(v)}
                parts.append(f'<circle class="point" cx="{x(n):.1f}" cy="{y(v):.1f}" r="3.5" fill="#0b5f8a">'
                             f'<title>{escape(label)}</title></circle>')
        end_x, end_y = x(lines), y(final)
        anchor = "end" if end_x > LEFT + plot_w * 0.6 else "start"
        dx = -8 if anchor == "end" else 8
        label_y = end_y - 10 if end_y - 10 > TOP + 14 else end_y + 20
        parts.append(f'<text class="final" x="{end_x + dx:.1f}" y="{label_y:.1f}" text-anchor="{anchor}" '
                     f'font-size="14" font-weight="700" fill="#0b5f8a">{_pct(final)} %</text>')
    parts.append("</svg>")
    return mark_safe("".join(parts))  # noqa: S308 — every interpolated text is escaped, the rest are numbers
