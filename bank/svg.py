"""Helpers of the charts the apps draw on the server as SVG (no JavaScript library, no CDN)."""

from __future__ import annotations

import math


def nice_step(span: float, ticks: int = 5) -> float:
    """A tick step of 1, 2, 2.5 or 5 times a power of ten giving about ``ticks`` ticks over ``span``."""
    raw = span / max(ticks, 1)
    magnitude = 10 ** math.floor(math.log10(raw)) if raw > 0 else 1
    for factor in (1, 2, 2.5, 5, 10):
        if raw <= factor * magnitude:
            return factor * magnitude
    return 10 * magnitude
