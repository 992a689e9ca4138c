"""Vial and lot labels: a Code 128 SVG per vial, printable PDF labels (sheet or roll) and ZPL for Zebra printers.

Every vial label carries the vial barcode (Code 128 with its text), the line name, the lot number, the tier, the
passage and the freeze date (and, for a clinical-grade lot, the ISBT 128 DIN with its check character boxed). A
lot label (issue 17) carries the lot barcode, the lot number, the line, tier and passage, the freeze date and the
number of vials. This module says what a label reads; ``bank.labels`` lays them out on the stock of a printer
profile (the kind's default, or the settings ``LABEL_WIDTH_IN`` x ``LABEL_HEIGHT_IN`` when there is none). The PDF
has two layouts: ``sheet`` puts the labels in a grid on A4/letter label stock, ``roll`` makes one page per label
for a thermal roll.

Label text is deliberately not translated: a tube must read the same whoever printed it, and the ASCII fonts of
cryo label printers cannot print Chinese. Only the sheet's page header (on the margin, not on a label) follows the
user's language.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from django.utils.html import escape
from django.utils.translation import gettext as _

from bank import coding
from bank import labels as engine
from bank.barcodes import code128_svg
from bank.labels import FONT, FONT_BOLD, QUIET_MODULES, Stock  # noqa: F401 — re-exported for older callers

LAYOUTS = ("sheet", "roll")
# The layout engine's pieces, under the names this module always had.
_runs = engine.runs
_zpl_text = engine.zpl_text
draw_label = engine.draw_label


@dataclass(frozen=True)
class Label:
    barcode: str
    line: str
    lot_number: str
    tier: str
    passage: int
    frozen_on: str
    number: int
    # ISBT 128 (issue 15): "W0000 26 000042 00" printed with the check character boxed after it.
    din_text: str = ""
    din_check: str = ""

    @property
    def lines(self) -> list[tuple[str, str]]:
        """The text under the bars: (font, text) per line; the DIN line last (its boxed check character is drawn
        after the text)."""
        lines = [
            (FONT_BOLD, f"{self.barcode}  {self.line}"),
            (FONT, f"{self.lot_number} · {self.tier} · P{self.passage}"),
            (FONT, f"Frozen {self.frozen_on} · #{self.number}"),
        ]
        if self.din_text:
            lines.append((FONT_BOLD, f"DIN {self.din_text}"))
        return lines

    @property
    def boxed(self) -> str:
        return self.din_check if self.din_text else ""


@dataclass(frozen=True)
class LotLabel:
    """The label of a lot itself (its binder, its canister, its paperwork): the lot barcode, what the lot is and
    how many vials it froze."""

    barcode: str
    lot_number: str
    line: str
    tier: str
    passage: int
    frozen_on: str
    vial_count: int
    din_text: str = ""
    din_check: str = ""

    @property
    def lines(self) -> list[tuple[str, str]]:
        lines = [
            (FONT_BOLD, f"LOT {self.lot_number}"),
            (FONT, f"{self.line} · {self.tier} · P{self.passage}"),
            (FONT, f"Frozen {self.frozen_on} · {self.vial_count} vials"),
        ]
        if self.din_text:
            lines.append((FONT_BOLD, f"DIN {self.din_text}"))
        return lines

    @property
    def boxed(self) -> str:
        return self.din_check if self.din_text else ""


def din_label_parts(lot) -> dict:
    """``din_text`` and ``din_check`` of a lot's labels (empty for a lot without a DIN)."""
    if not getattr(lot, "din", None):
        return {}
    din = coding.din_parts(lot.din)
    return {"din_text": f"{din.eye_readable} {din.flags}", "din_check": din.check}


def vial_label(vial, lot=None) -> Label:
    """A vial's label; ``lot`` (with its cell line) defaults to ``vial.lot``."""
    lot = lot if lot is not None else vial.lot
    return Label(barcode=vial.barcode, line=lot.cell_line.name, lot_number=lot.lot_number, tier=lot.tier,
                 passage=lot.passage, frozen_on=lot.frozen_on.isoformat(), number=vial.number,
                 **din_label_parts(lot))


def labels_for(lot, vials: Iterable) -> list[Label]:
    din = din_label_parts(lot)
    return [
        Label(barcode=v.barcode, line=lot.cell_line.name, lot_number=lot.lot_number, tier=lot.tier,
              passage=lot.passage, frozen_on=lot.frozen_on.isoformat(), number=v.number, **din)
        for v in vials
    ]


def vial_labels(vials: Iterable) -> list[Label]:
    """The labels of vials of any lots (each vial with ``lot`` and ``lot.cell_line`` loaded), in their order."""
    dins: dict[int, dict] = {}
    out = []
    for vial in vials:
        lot = vial.lot
        if lot.pk not in dins:
            dins[lot.pk] = din_label_parts(lot)
        out.append(Label(barcode=vial.barcode, line=lot.cell_line.name, lot_number=lot.lot_number, tier=lot.tier,
                         passage=lot.passage, frozen_on=lot.frozen_on.isoformat(), number=vial.number,
                         **dins[lot.pk]))
    return out


def lot_label(lot) -> LotLabel:
    """The label of the lot itself (``lot.cell_line`` loaded)."""
    return LotLabel(barcode=lot.barcode, lot_number=lot.lot_number, line=lot.cell_line.name, tier=lot.tier,
                    passage=lot.passage, frozen_on=lot.frozen_on.isoformat(), vial_count=lot.vial_count,
                    **din_label_parts(lot))


def label_size(profile=None) -> tuple[float, float]:
    """(width, height) of one vial label in points (the profile's, the default profile's, or the settings')."""
    stock = engine.stock_for("vial", profile)
    return stock.width, stock.height


def vial_label_svg(vial, lot=None) -> str:
    """The vial's Code 128; under it, for a lot with a DIN, the DIN with its check character boxed."""
    svg = code128_svg(vial.barcode)
    din = din_label_parts(lot) if lot is not None else {}
    if not din:
        return svg
    size = re.search(r'width="([0-9.]+)mm" height="([0-9.]+)mm"', svg)
    width, height = float(size.group(1)), float(size.group(2))
    font = 2.6  # mm; a monospace character is about 0.6 of it wide
    text = f"DIN {din['din_text']}"
    text_w = len(text) * font * 0.6
    box_x = 2.0 + text_w + 0.8
    new_w, new_h = max(width, box_x + font + 2.0), height + font + 2.0
    y = height + font * 0.6
    extra = (
        f'<text id="din-text" x="2.000mm" y="{y:.3f}mm" style="font-family:monospace;font-size:{font}mm;'
        f'font-weight:bold;fill:black">{escape(text)}</text>'
        f'<rect id="din-check-box" x="{box_x:.3f}mm" y="{height - font * 0.35:.3f}mm" width="{font * 0.95:.3f}mm" '
        f'height="{font * 1.25:.3f}mm" style="fill:none;stroke:black;stroke-width:0.25mm"/>'
        f'<text id="din-check" x="{box_x + font * 0.17:.3f}mm" y="{y:.3f}mm" style="font-family:monospace;'
        f'font-size:{font}mm;font-weight:bold;fill:black">{escape(din["din_check"])}</text>'
    )
    svg = svg.replace(size.group(0), f'width="{new_w:.3f}mm" height="{new_h:.3f}mm"', 1)
    return svg.replace("</svg>", extra + "</svg>", 1)


# --- a lot's vial labels: PDF and ZPL --------------------------------------------------------------------------


def lot_sheet_header(lot, count: int) -> Callable[[int, int], str]:
    """The page header of a lot's vial label sheet."""
    def header(page: int, pages: int) -> str:
        return _("%(lot)s | %(line)s | %(tier)s | P%(passage)d | %(count)d vials | page %(page)d of %(pages)d") % {
            "lot": lot.lot_number, "line": lot.cell_line.name, "tier": lot.tier, "passage": lot.passage,
            "count": count, "page": page, "pages": pages}
    return header


def label_pdf(lot, vials: Iterable, *, layout: str = "sheet", profile=None, stock: Stock | None = None) -> bytes:
    """The lot's vial labels as a PDF (``sheet``: the stock's grid on A4/letter; ``roll``: one label per page)."""
    labels = labels_for(lot, vials)
    stock = stock or engine.stock_for("vial", profile)
    return engine.render_pdf(labels, stock, roll=layout == "roll", title=f"Labels {lot.lot_number}",
                             header=lot_sheet_header(lot, len(labels)))


def label_zpl(lot, vials: Iterable, *, profile=None, stock: Stock | None = None) -> str:
    """One ZPL label per vial, sized for the vial stock (the profile's, else ``LABEL_WIDTH_IN`` x
    ``LABEL_HEIGHT_IN`` at ``LABEL_PRINTER_DPI``)."""
    stock = stock or engine.stock_for("vial", profile)
    return engine.render_zpl(labels_for(lot, vials), stock)

