"""Labels (issue 17): one layout engine for every label the bank prints — vials, boxes, lots — on the stock a
printer profile describes.

A label is a Code 128 barcode with a few lines of text under it (anything with ``barcode``, ``lines`` — a list of
``(font, text)`` — and ``boxed``, a character printed in a box after the last line: the ISBT 128 DIN's check
character). Which lines a label carries is the business of the app that owns the thing labelled
(``lots/labels.py``: vials and lots; ``storage/labels.py``: boxes). This module places them:

- ``render_pdf``: a **sheet** (a grid of labels on A4/letter label stock, with the columns, rows, margins and gaps
  of the profile, or as many as fit) or a **roll** (one label-sized page per label, for a thermal roll printer);
- ``render_zpl``: one ``^XA … ^XZ`` label per item for a Zebra printer, in dots at the profile's resolution.

The size and layout come from a ``Stock``: from the ``PrinterProfile`` asked for, else the kind's default profile,
else the settings (``LABEL_WIDTH_IN`` × ``LABEL_HEIGHT_IN``, ``LABEL_SHEET_PAGE``, ``LABEL_PRINTER_DPI`` — the
fallback of installations that never made a profile).

Label text is deliberately not translated: a tube must read the same whoever printed it, and the ASCII fonts of
cryo label printers cannot print Chinese. Only a sheet's page header (on the margin, not on a label) follows the
user's language.
"""

from __future__ import annotations

import io
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Protocol

from django.conf import settings
from django.utils.translation import gettext as _
from reportlab.lib.colors import Color, black
from reportlab.lib.pagesizes import A4, letter
from reportlab.lib.units import inch
from reportlab.pdfbase.cidfonts import UnicodeCIDFont
from reportlab.pdfbase.pdfmetrics import registerFont, stringWidth
from reportlab.pdfgen import canvas

from bank.barcodes import code128_modules

FONT, FONT_BOLD = "Helvetica", "Helvetica-Bold"
# The sheet header follows the user's language: a CID font that Chinese PDF readers have covers Chinese
# (its separators are ASCII "|": some readers substitute the font and lack the middle dot).
HEADER_FONT = "STSong-Light"
registerFont(UnicodeCIDFont(HEADER_FONT))
QUIET_MODULES = 10  # Code 128 needs a quiet zone of ten modules on each side.

KINDS = ("vial", "box", "lot")
SHEET, ROLL, ZPL = "pdf_sheet", "pdf_roll", "zpl"
FORMATS = ("pdf", "zpl")
FORMAT_CHOICES = [("pdf", "pdf"), ("zpl", "zpl")]
DPIS = (203, 300, 600)
# Without a profile: vial labels from the settings; box and lot labels on a 2" x 1" label.
FALLBACK_SIZE_IN = {"box": (2.0, 1.0), "lot": (2.0, 1.0)}
MIN_SIZE_IN, MAX_SIZE_IN = Decimal("0.2"), Decimal("8")
# A sheet's header is printed in the top margin only when there is room for it.
HEADER_MIN_MARGIN = 0.3 * inch


class Printable(Protocol):
    barcode: str

    @property
    def lines(self) -> list[tuple[str, str]]: ...

    @property
    def boxed(self) -> str: ...


@dataclass(frozen=True)
class Label:
    """A label: its barcode, the lines under it ((font, text) each) and an optional boxed character."""

    barcode: str
    lines: tuple[tuple[str, str], ...]
    boxed: str = ""


@dataclass(frozen=True)
class Stock:
    """The label stock one print job uses, in points (1/72") except ``dpi``."""

    kind: str
    output: str
    width: float
    height: float
    page: str = "A4"
    columns: int | None = None
    rows: int | None = None
    margin_left: float = 0.5 * inch
    margin_top: float = 0.5 * inch
    gap_x: float = 0.1 * inch
    gap_y: float = 0.1 * inch
    dpi: int = 300
    name: str = ""
    profile_id: int | None = None

    @property
    def width_in(self) -> float:
        return round(self.width / inch, 3)

    @property
    def height_in(self) -> float:
        return round(self.height / inch, 3)

    @property
    def size_label(self) -> str:
        """The label size as people write it: 1.28″ × 0.5″."""
        return f"{self.width_in:g}″ × {self.height_in:g}″"

    @property
    def page_size(self) -> tuple[float, float]:
        return letter if self.page.lower() == "letter" else A4

    def grid(self) -> tuple[int, int]:
        """(columns, rows) of a sheet: the profile's, or as many as fit with the margins on both sides."""
        page_w, page_h = self.page_size
        cols = self.columns or int((page_w - 2 * self.margin_left + self.gap_x) // (self.width + self.gap_x))
        rows = self.rows or int((page_h - 2 * self.margin_top + self.gap_y) // (self.height + self.gap_y))
        return max(1, cols), max(1, rows)

    @property
    def per_page(self) -> int:
        cols, rows = self.grid()
        return cols * rows

    def dots(self) -> tuple[int, int]:
        """(width, height) of one label in printer dots (ZPL ``^PW`` and ``^LL``)."""
        return round(self.width / inch * self.dpi), round(self.height / inch * self.dpi)


# --- stock: profile, default, settings -----------------------------------------------------------------------


def _pt(value) -> float:
    return float(value) * inch


def stock_from_profile(profile) -> Stock:
    return Stock(
        kind=profile.kind, output=profile.output, width=_pt(profile.width_in), height=_pt(profile.height_in),
        page=profile.page_size, columns=profile.columns, rows=profile.rows,
        margin_left=_pt(profile.margin_left_in), margin_top=_pt(profile.margin_top_in),
        gap_x=_pt(profile.gap_x_in), gap_y=_pt(profile.gap_y_in), dpi=int(profile.dpi), name=profile.name,
        profile_id=profile.pk,
    )


def stock_from_settings(kind: str = "vial") -> Stock:
    """The stock without any profile: the settings' label size for vials, 2" x 1" for boxes and lots."""
    if kind == "vial":
        width_in, height_in = settings.LABEL_WIDTH_IN, settings.LABEL_HEIGHT_IN
    else:
        width_in, height_in = FALLBACK_SIZE_IN[kind]
    return Stock(kind=kind, output=SHEET, width=width_in * inch, height=height_in * inch,
                 page=settings.LABEL_SHEET_PAGE, dpi=settings.LABEL_PRINTER_DPI)


def default_profile(kind: str):
    """The kind's default profile (active), or None. One query."""
    from bank.models import PrinterProfile

    return PrinterProfile.objects.filter(kind=kind, is_default=True, active=True).first()


def stock_for(kind: str, profile=None) -> Stock:
    """The stock to print ``kind`` labels on: ``profile``, else the kind's default profile, else the settings."""
    profile = profile if profile is not None else default_profile(kind)
    return stock_from_profile(profile) if profile is not None else stock_from_settings(kind)


def profile_errors(profile) -> dict[str, list[str]]:
    """What is wrong with a printer profile's figures (``PrinterProfile.clean``): sizes within reason, and on a
    PDF sheet a grid that fits its page."""
    errors: dict[str, list[str]] = {}
    for field in ("width_in", "height_in"):
        value = getattr(profile, field)
        if value is not None and not MIN_SIZE_IN <= Decimal(value) <= MAX_SIZE_IN:
            errors[field] = [_("A label is between %(min)s and %(max)s inches.") % {"min": MIN_SIZE_IN,
                                                                                     "max": MAX_SIZE_IN}]
    for field in ("margin_left_in", "margin_top_in", "gap_x_in", "gap_y_in"):
        value = getattr(profile, field)
        if value is not None and Decimal(value) < 0:
            errors[field] = [_("Margins and gaps cannot be negative.")]
    if profile.dpi is not None and int(profile.dpi) not in DPIS:
        errors["dpi"] = [_("Zebra printers print at 203, 300 or 600 dpi.")]
    if errors or profile.output != SHEET or profile.width_in is None or profile.height_in is None:
        return errors
    stock = stock_from_profile(profile)
    page_w, page_h = stock.page_size
    cols, rows = stock.grid()
    used_w = stock.margin_left + cols * stock.width + (cols - 1) * stock.gap_x
    used_h = stock.margin_top + rows * stock.height + (rows - 1) * stock.gap_y
    slack = 0.01 * inch
    if used_w > page_w + slack:
        field = "columns" if profile.columns else "width_in"
        errors[field] = [_("%(cols)d columns of %(width)s\" labels do not fit across the page (%(used).2f\" of "
                           "%(page).2f\").") % {"cols": cols, "width": profile.width_in, "used": used_w / inch,
                                                 "page": page_w / inch}]
    if used_h > page_h + slack:
        field = "rows" if profile.rows else "height_in"
        errors[field] = [_("%(rows)d rows of %(height)s\" labels do not fit down the page (%(used).2f\" of "
                           "%(page).2f\").") % {"rows": rows, "height": profile.height_in, "used": used_h / inch,
                                                 "page": page_h / inch}]
    return errors


# --- PDF -----------------------------------------------------------------------------------------------------


def runs(modules: str) -> list[tuple[int, int]]:
    """(start, length) of every bar in a '1'/'0' module string."""
    found, start = [], None
    for i, bit in enumerate(modules + "0"):
        if bit == "1" and start is None:
            start = i
        elif bit == "0" and start is not None:
            found.append((start, i - start))
            start = None
    return found


def _fit(text: str, font: str, size: float, width: float) -> float:
    """The font size (at most ``size``) at which ``text`` fits in ``width``."""
    natural = stringWidth(text, font, size)
    return size if natural <= width else max(3.0, size * width / natural)


def _max_font(h: float) -> float:
    """The biggest text size of a label ``h`` points high: 7 pt on cryo labels, up to 12 pt on box labels."""
    return 7.0 if h <= 0.6 * inch else min(12.0, 7.0 * h / (0.6 * inch))


def draw_label(c: canvas.Canvas, label: Printable, x: float, y: float, w: float, h: float) -> None:
    """One label with its lower-left corner at (x, y): the bars on top, the lines under them."""
    pad = max(1.5, min(w, h) * 0.06)
    modules = code128_modules(label.barcode)
    module = min(1.0, (w - 2 * pad) / (len(modules) + 2 * QUIET_MODULES))
    bars_w = module * len(modules)
    bar_h = (h - 2 * pad) * 0.42
    left = x + (w - bars_w) / 2
    top = y + h - pad
    c.setFillColor(black)
    for start, length in runs(modules):
        c.rect(left + start * module, top - bar_h, length * module, bar_h, stroke=0, fill=1)
    lines = label.lines
    room = top - bar_h - (y + pad)
    size = min(_max_font(h), room / max(1, len(lines)) / 1.12)
    baseline = top - bar_h - size * 1.05
    for index, (font, text) in enumerate(lines):
        boxed = label.boxed if index == len(lines) - 1 else ""
        room_w = w - 2 * pad - (size * 1.2 if boxed else 0)
        fitted = _fit(text, font, size, room_w)
        c.setFont(font, fitted)
        c.drawString(x + pad, baseline, text)
        if boxed:  # ISBT 128: the keyboard check character is printed in a box after the DIN
            left = x + pad + stringWidth(text, font, fitted) + fitted * 0.4
            c.setLineWidth(0.4)
            c.setStrokeColor(black)
            c.rect(left, baseline - fitted * 0.25, fitted * 0.95, fitted * 1.15, stroke=1, fill=0)
            c.drawString(left + fitted * 0.15, baseline, boxed)
        baseline -= size * 1.12


def sheet_header(title: str, count: int) -> Callable[[int, int], str]:
    """The usual page header of a sheet: what it is, how many labels, which page."""
    def header(page: int, pages: int) -> str:
        return _("%(title)s | %(count)d labels | page %(page)d of %(pages)d") % {
            "title": title, "count": count, "page": page, "pages": pages}
    return header


def render_pdf(labels: Sequence[Printable], stock: Stock, *, roll: bool | None = None, title: str = "",
               header: Callable[[int, int], str] | None = None, tick: Callable[[int], None] | None = None) -> bytes:
    """The labels as a PDF: a roll (one label-sized page each) or a sheet (the stock's grid, page after page).

    ``roll`` None follows the stock's output; ``header(page, pages)`` gives a sheet page's header line;
    ``tick(n)`` is told every time another ``n`` labels are drawn (a job's progress)."""
    roll = stock.output != SHEET if roll is None else roll
    w, h = stock.width, stock.height
    buffer = io.BytesIO()
    step = 100
    if roll:
        c = canvas.Canvas(buffer, pagesize=(w, h), pageCompression=1)
        c.setTitle(title)
        for index, label in enumerate(labels, 1):
            draw_label(c, label, 0, 0, w, h)
            c.showPage()
            if tick and index % step == 0:
                tick(step)
        c.save()
        if tick and len(labels) % step:
            tick(len(labels) % step)
        return buffer.getvalue()

    page_w, page_h = stock.page_size
    cols, _rows = stock.grid()
    per_page = stock.per_page
    pages = max(1, -(-len(labels) // per_page))
    header = header or sheet_header(title, len(labels))
    c = canvas.Canvas(buffer, pagesize=(page_w, page_h), pageCompression=1)
    c.setTitle(title)
    guide = Color(0.75, 0.75, 0.75)
    for page in range(pages):
        chunk = labels[page * per_page:(page + 1) * per_page]
        if stock.margin_top >= HEADER_MIN_MARGIN:
            c.setFont(HEADER_FONT, 8)
            c.setFillColor(black)
            c.drawString(max(stock.margin_left, 0.25 * inch), page_h - stock.margin_top * 0.6,
                         header(page + 1, pages))
        for index, label in enumerate(chunk):
            row, col = divmod(index, cols)
            x = stock.margin_left + col * (w + stock.gap_x)
            y = page_h - stock.margin_top - (row + 1) * h - row * stock.gap_y
            c.setStrokeColor(guide)
            c.setLineWidth(0.25)
            c.rect(x, y, w, h, stroke=1, fill=0)
            draw_label(c, label, x, y, w, h)
        c.showPage()
        if tick:
            tick(len(chunk))
    c.save()
    return buffer.getvalue()


# --- ZPL -----------------------------------------------------------------------------------------------------


def zpl_text(text: str) -> str:
    """A ^FD field with ^FH escapes, so ^, ~ and _ in data cannot break the format."""
    escaped = "".join(f"_{ord(ch):02X}" if ch in "^~_" else ch for ch in text)
    return f"^FH_^FD{escaped}^FS"


def zpl_label(label: Printable, stock: Stock) -> str:
    """One ``^XA … ^XZ`` label sized to the stock in dots at its resolution."""
    width, height = stock.dots()
    pad = max(4, round(height * 0.06))
    bar_h = round((height - 2 * pad) * 0.42)
    lines = label.lines
    font = max(10, round((height - 2 * pad - bar_h) / max(3, len(lines)) / 1.12))
    modules = len(code128_modules(label.barcode)) + 2 * QUIET_MODULES
    module = max(1, min(3, (width - 2 * pad) // modules))
    left = max(pad, (width - module * (modules - 2 * QUIET_MODULES)) // 2)
    parts = ["^XA", "^CI28", f"^PW{width}", f"^LL{height}", "^LH0,0",
             f"^FO{left},{pad}^BY{module}^BCN,{bar_h},N,N,N,A{zpl_text(label.barcode)}"]
    y = pad + bar_h + round(font * 0.3)
    for index, (_font, text) in enumerate(lines):
        # ^A0 is proportional: about 0.55 of its height per character; narrow the font when a line would overflow
        room = width - 2 * pad - (font if label.boxed and index == len(lines) - 1 else 0)
        char_w = font if index else round(font * 1.05)
        if len(text) * char_w * 0.55 > room:
            char_w = max(8, int(room / (len(text) * 0.55)))
        parts.append(f"^FO{pad},{y}^A0N,{font},{char_w}{zpl_text(text)}")
        if label.boxed and index == len(lines) - 1:  # the DIN's check character, boxed
            left = pad + round(len(text) * char_w * 0.55) + round(font * 0.4)
            parts.append(f"^FO{left - 2},{y - 2}^GB{round(font * 0.8)},{font + 4},2^FS")
            parts.append(f"^FO{left + 2},{y}^A0N,{font},{font}{zpl_text(label.boxed)}")
        y += round(font * 1.12)
    parts += ["^PQ1", "^XZ"]
    return "\n".join(parts)


def iter_zpl(labels: Iterable[Printable], stock: Stock, *, tick: Callable[[int], None] | None = None
             ) -> Iterator[str]:
    """The labels' ZPL, one label (and its newline) at a time."""
    step, pending = 100, 0
    for label in labels:
        yield zpl_label(label, stock) + "\n"
        pending += 1
        if tick and pending == step:
            tick(pending)
            pending = 0
    if tick and pending:
        tick(pending)


def render_zpl(labels: Iterable[Printable], stock: Stock, *, tick: Callable[[int], None] | None = None) -> str:
    return "".join(iter_zpl(labels, stock, tick=tick))


def render(labels: Sequence[Printable], stock: Stock, fmt: str, *, title: str = "",
           header: Callable[[int, int], str] | None = None, tick: Callable[[int], None] | None = None
           ) -> tuple[bytes, str, str]:
    """The labels in ``fmt`` ("pdf": the stock's sheet, or a roll for roll and ZPL stock; "zpl"):
    (content, content type, file extension)."""
    if fmt == "zpl":
        return render_zpl(labels, stock, tick=tick).encode("utf-8"), "text/plain; charset=utf-8", "zpl"
    return render_pdf(labels, stock, title=title, header=header, tick=tick), "application/pdf", "pdf"


def format_for(stock: Stock, fmt: str | None) -> str:
    """The file format asked for, or the one the stock prints: ZPL for a Zebra profile, a PDF otherwise."""
    if fmt in FORMATS:
        return fmt
    return "zpl" if stock.output == ZPL else "pdf"
