"""Barcodes: unique identifiers for vials, boxes and lots, and their Code 128 rendering.

Identifiers come from one sequence per kind (``bank.sequences``), so two technicians freezing lots at the same
moment can never print the same label. The format is ``<BARCODE_PREFIX><letter><8 digits>``,
e.g. ``SBV00000042``; Code 128 carries letters and digits and scanners read it through frost.
"""

from __future__ import annotations

import io

import barcode
from barcode.writer import SVGWriter
from django.conf import settings

from bank import sequences

KINDS = {"vial": "V", "box": "B", "lot": "L", "sample": "S"}


def format_code(kind: str, number: int) -> str:
    return f"{settings.BARCODE_PREFIX}{KINDS[kind]}{number:08d}"


def issue(kind: str, count: int = 1) -> list[str]:
    """Reserve ``count`` new identifiers of ``kind``; never the same twice, even under concurrency."""
    if kind not in KINDS:
        raise ValueError(f"unknown barcode kind {kind!r}")
    return [format_code(kind, n) for n in sequences.take(f"barcode:{kind}", count)]


def code128_svg(text: str, *, module_height: float = 8.0, module_width: float = 0.25,
                font_size: int = 8, text_distance: float = 4.0, quiet_zone: float = 2.0) -> str:
    """Code 128 of ``text`` as a standalone SVG document with the human-readable text under it."""
    writer = SVGWriter()
    code = barcode.get("code128", text, writer=writer)
    buffer = io.BytesIO()
    code.write(
        buffer,
        options={
            "module_height": module_height,
            "module_width": module_width,
            "font_size": font_size,
            "text_distance": text_distance,
            "quiet_zone": quiet_zone,
            "write_text": True,
        },
    )
    return buffer.getvalue().decode("utf-8")


def code128_modules(text: str) -> str:
    """The bar pattern ('1' bar, '0' space) of ``text``: used to draw barcodes in PDF labels."""
    return barcode.get("code128", text).build()[0]
