"""Vial labels: a Code 128 SVG per vial, a printable PDF label sheet per lot, and ZPL for Zebra printers.

Every label carries the vial barcode (Code 128 with its text), the line name, the lot number, the
tier, the passage and the freeze date. The label size comes from ``LABEL_WIDTH_IN`` x
``LABEL_HEIGHT_IN`` (a common cryo label is 1.28" x 0.5"). The PDF has two layouts: ``sheet`` puts
the labels in a grid on A4/letter label stock, ``roll`` makes one page per label for a thermal roll.

Label text is deliberately not translated: a tube must read the same whoever printed it, and the
ASCII fonts of cryo label printers cannot print Chinese. Only the sheet's page header (on the margin,
not on a label) follows the user's language.
"""

from __future__ import annotations

import io
import re
from collections.abc import Iterable
from dataclasses import dataclass

from django.conf import settings
from django.utils.html import escape
from django.utils.translation import gettext as _
from reportlab.lib.colors import Color, black
from reportlab.lib.pagesizes import A4, letter
from reportlab.lib.units import inch
from reportlab.pdfbase.cidfonts import UnicodeCIDFont
from reportlab.pdfbase.pdfmetrics import registerFont, stringWidth
from reportlab.pdfgen import canvas

from bank import coding
from bank.barcodes import code128_modules, code128_svg

LAYOUTS = ("sheet", "roll")
QUIET_MODULES = 10  # Code 128 needs a quiet zone of ten modules on each side.
FONT, FONT_BOLD = "Helvetica", "Helvetica-Bold"
# The sheet header follows the user's language: a CID font that Chinese PDF readers have covers Chinese
# (its separators are ASCII "|": some readers substitute the font and lack the middle dot).
HEADER_FONT = "STSong-Light"
registerFont(UnicodeCIDFont(HEADER_FONT))


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


def din_label_parts(lot) -> dict:
    """``din_text`` and ``din_check`` of a lot's labels (empty for a lot without a DIN)."""
    if not getattr(lot, "din", None):
        return {}
    din = coding.din_parts(lot.din)
    return {"din_text": f"{din.eye_readable} {din.flags}", "din_check": din.check}


def labels_for(lot, vials: Iterable) -> list[Label]:
    din = din_label_parts(lot)
    return [
        Label(barcode=v.barcode, line=lot.cell_line.name, lot_number=lot.lot_number, tier=lot.tier,
              passage=lot.passage, frozen_on=lot.frozen_on.isoformat(), number=v.number, **din)
        for v in vials
    ]


def label_size() -> tuple[float, float]:
    """(width, height) of one label in points."""
    return settings.LABEL_WIDTH_IN * inch, settings.LABEL_HEIGHT_IN * inch


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


# --- PDF ---------------------------------------------------------------------------------------------


def _runs(modules: str) -> list[tuple[int, int]]:
    """(start, length) of every bar in a '1'/'0' module string."""
    runs, start = [], None
    for i, bit in enumerate(modules + "0"):
        if bit == "1" and start is None:
            start = i
        elif bit == "0" and start is not None:
            runs.append((start, i - start))
            start = None
    return runs


def _fit(text: str, font: str, size: float, width: float) -> float:
    """The font size (at most ``size``) at which ``text`` fits in ``width``."""
    natural = stringWidth(text, font, size)
    return size if natural <= width else max(3.0, size * width / natural)


def draw_label(c: canvas.Canvas, label: Label, x: float, y: float, w: float, h: float) -> None:
    """One label with its lower-left corner at (x, y)."""
    pad = max(1.5, min(w, h) * 0.06)
    modules = code128_modules(label.barcode)
    module = min(1.0, (w - 2 * pad) / (len(modules) + 2 * QUIET_MODULES))
    bars_w = module * len(modules)
    bar_h = (h - 2 * pad) * 0.42
    left = x + (w - bars_w) / 2
    top = y + h - pad
    c.setFillColor(black)
    for start, length in _runs(modules):
        c.rect(left + start * module, top - bar_h, length * module, bar_h, stroke=0, fill=1)
    lines = label.lines
    room = top - bar_h - (y + pad)
    size = min(7.0, room / len(lines) / 1.12)
    baseline = top - bar_h - size * 1.05
    for index, (font, text) in enumerate(lines):
        boxed = label.din_check if label.din_text and index == len(lines) - 1 else ""
        room_w = w - 2 * pad - (size * 1.2 if boxed else 0)
        fitted = _fit(text, font, size, room_w)
        c.setFont(font, fitted)
        c.drawString(x + pad, baseline, text)
        if boxed:  # ISBT 128: the keyboard check character is printed in a box after the DIN
            left = x + pad + stringWidth(text, font, fitted) + fitted * 0.4
            c.setLineWidth(0.4)
            c.rect(left, baseline - fitted * 0.25, fitted * 0.95, fitted * 1.15, stroke=1, fill=0)
            c.drawString(left + fitted * 0.15, baseline, boxed)
        baseline -= size * 1.12


def label_pdf(lot, vials: Iterable, *, layout: str = "sheet") -> bytes:
    """The lot's labels as a PDF (``sheet``: a grid on A4/letter; ``roll``: one label per page)."""
    labels = labels_for(lot, vials)
    w, h = label_size()
    buffer = io.BytesIO()
    title = f"Labels {lot.lot_number}"
    if layout == "roll":
        c = canvas.Canvas(buffer, pagesize=(w, h), pageCompression=1)
        c.setTitle(title)
        for label in labels:
            draw_label(c, label, 0, 0, w, h)
            c.showPage()
        c.save()
        return buffer.getvalue()

    page_w, page_h = letter if settings.LABEL_SHEET_PAGE.lower() == "letter" else A4
    margin, gap = 0.5 * inch, 0.1 * inch
    cols = max(1, int((page_w - 2 * margin + gap) // (w + gap)))
    rows = max(1, int((page_h - 2 * margin + gap) // (h + gap)))
    per_page = cols * rows
    pages = max(1, -(-len(labels) // per_page))
    c = canvas.Canvas(buffer, pagesize=(page_w, page_h), pageCompression=1)
    c.setTitle(title)
    guide = Color(0.75, 0.75, 0.75)
    for page in range(pages):
        chunk = labels[page * per_page:(page + 1) * per_page]
        c.setFont(HEADER_FONT, 8)
        c.setFillColor(black)
        c.drawString(margin, page_h - margin * 0.6, _(
            "%(lot)s | %(line)s | %(tier)s | P%(passage)d | %(count)d vials | page %(page)d of %(pages)d") % {
                "lot": lot.lot_number, "line": lot.cell_line.name, "tier": lot.tier, "passage": lot.passage,
                "count": len(labels), "page": page + 1, "pages": pages})
        for index, label in enumerate(chunk):
            row, col = divmod(index, cols)
            x = margin + col * (w + gap)
            y = page_h - margin - (row + 1) * h - row * gap
            c.setStrokeColor(guide)
            c.setLineWidth(0.25)
            c.rect(x, y, w, h, stroke=1, fill=0)
            draw_label(c, label, x, y, w, h)
        c.showPage()
    c.save()
    return buffer.getvalue()


# --- ZPL ---------------------------------------------------------------------------------------------


def _zpl_text(text: str) -> str:
    """A ^FD field with ^FH escapes, so ^, ~ and _ in data cannot break the format."""
    escaped = "".join(f"_{ord(ch):02X}" if ch in "^~_" else ch for ch in text)
    return f"^FH_^FD{escaped}^FS"


def label_zpl(lot, vials: Iterable) -> str:
    """One ZPL label per vial, sized for ``LABEL_WIDTH_IN`` x ``LABEL_HEIGHT_IN`` at ``LABEL_PRINTER_DPI``."""
    dpi = settings.LABEL_PRINTER_DPI
    width, height = round(settings.LABEL_WIDTH_IN * dpi), round(settings.LABEL_HEIGHT_IN * dpi)
    pad = max(4, round(height * 0.06))
    bar_h = round((height - 2 * pad) * 0.42)
    font = max(10, round((height - 2 * pad - bar_h) / 3 / 1.12))
    out = []
    for label in labels_for(lot, vials):
        modules = len(code128_modules(label.barcode)) + 2 * QUIET_MODULES
        module = max(1, min(3, (width - 2 * pad) // modules))
        left = max(pad, (width - module * (modules - 2 * QUIET_MODULES)) // 2)
        parts = ["^XA", "^CI28", f"^PW{width}", f"^LL{height}", "^LH0,0",
                 f"^FO{left},{pad}^BY{module}^BCN,{bar_h},N,N,N,A{_zpl_text(label.barcode)}"]
        y = pad + bar_h + round(font * 0.3)
        for index, (_font, text) in enumerate(label.lines):
            parts.append(f"^FO{pad},{y}^A0N,{font},{font if index else round(font * 1.05)}{_zpl_text(text)}")
            if label.din_text and index == len(label.lines) - 1:  # the DIN's check character, boxed
                left = pad + round(len(text) * font * 0.55) + round(font * 0.4)
                parts.append(f"^FO{left - 2},{y - 2}^GB{round(font * 0.8)},{font + 4},2^FS")
                parts.append(f"^FO{left + 2},{y}^A0N,{font},{font}{_zpl_text(label.din_check)}")
            y += round(font * 1.12)
        parts += ["^PQ1", "^XZ"]
        out.append("\n".join(parts))
    return "\n".join(out) + "\n"
