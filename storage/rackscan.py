"""2D rack-scanner files: what a flatbed tube-rack scanner read, position by position.

A scanner reads the DataMatrix code under every tube of a rack (our cryobox: the rack barcode is the box
barcode, the tube barcode the vial barcode) and writes a CSV. Two families are understood, told apart by
their shape (``parse_rack_scan`` detects which):

- **Ziath DataPaq** (``ziath_datapaq``): a few ``key,value`` header lines (``Rack Barcode,…``, the scan's
  date and time, the scanner) then a table with a position column, a tube barcode column and usually a
  status column (``OK``, ``No Read``, ``No Tube``); or the grid layout (``ziath_datapaq_grid``): a header
  row of column numbers ``,1,2,…,12`` then one row per rack row ``A,tube,tube,…``.
- **Azenta / FluidX** (``fluidx``): one line per position ``Rack ID,Position,Tube ID`` (``A01`` or ``A1``),
  with or without a header line; ``NO READ`` and ``NO TUBE`` mark what could not be read or is empty. A
  two-column variant (``Position,Tube ID``) names no rack: the box is then chosen by the person uploading.

A position the file does not list counts as empty. Racks of any size up to 26 rows (A…Z) are accepted; whether
the positions fit the box is checked against the box (``storage.services.rackscan``). A file that cannot be
read raises ``ValidationError({"file": ["Line n: …"]})`` naming the line.
"""

from __future__ import annotations

import csv
import io
import re
from dataclasses import dataclass, field

from django.core.exceptions import ValidationError
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from bank.identifiers import MAX_LENGTH, normalise

FORMATS = {
    "ziath_datapaq": "Ziath DataPaq",
    "ziath_datapaq_grid": gettext_lazy("Ziath DataPaq, grid layout"),
    "fluidx": "Azenta / FluidX",
}
# A 384-position rack is about 20 KB; anything far larger is not a rack scan.
MAX_FILE_BYTES = 512 * 1024

TUBE, EMPTY, NO_READ = "tube", "empty", "no_read"

# What scanners write instead of a barcode. Compared after normalise() (capitals) with spaces, "_" and "-" removed.
_NO_READ_MARKS = {"NOREAD", "NOCODE", "NOTREAD", "UNREADABLE", "ERROR", "FAILED", "FAIL", "???", "DECODEERROR"}
_EMPTY_MARKS = {"", "NOTUBE", "EMPTY", "NONE", "NA", "N/A", "NOSAMPLE", "-"}
_OK_STATUSES = {"", "OK", "READ", "SUCCESS", "PASS", "GOOD", "DECODED", "TUBE"}

_POSITION = re.compile(r"^([A-Z])\s*[:\-]?\s*0*([1-9]\d?)$")
_RACK_KEY = re.compile(r"rack", re.I)
# A header line naming the rack's barcode ("Rack Barcode,…", "Rack ID: …"), not its type or size.
_RACK_BARCODE_KEY = re.compile(r"^\s*rack\s*(barcode|bar code|id|code|no\.?|number)?\s*:?\s*$", re.I)
_POSITION_HEADER = re.compile(r"position|well|location|coordinate|^pos$", re.I)
_TUBE_HEADER = re.compile(r"tube|barcode|sample|code", re.I)
_STATUS_HEADER = re.compile(r"status|result|state", re.I)


@dataclass(frozen=True)
class ScanRead:
    """One position as the scanner read it: a tube's barcode, an empty position or a tube it could not read."""

    line: int
    row: int
    col: int
    state: str
    barcode: str = ""

    @property
    def label(self) -> str:
        return f"{chr(64 + self.row)}{self.col}"


@dataclass
class RackScan:
    """A parsed rack-scanner file: its format, the rack (box) barcode it names if any, and the reads."""

    format: str
    rack_barcode: str = ""
    reads: list[ScanRead] = field(default_factory=list)

    @property
    def format_label(self) -> str:
        return str(FORMATS.get(self.format, self.format))

    @property
    def tubes(self) -> list[ScanRead]:
        return [r for r in self.reads if r.state == TUBE]

    def by_position(self) -> dict[tuple[int, int], ScanRead]:
        return {(r.row, r.col): r for r in self.reads}


def _bad(line: int | None, message: str) -> ValidationError:
    if line is None:
        return ValidationError({"file": [message]})
    return ValidationError({"file": [_("Line %(line)d: %(problem)s") % {"line": line, "problem": message}]})


def _squash(value: str) -> str:
    return re.sub(r"[\s_\-]", "", normalise(value))


def parse_position(value: str) -> tuple[int, int] | None:
    """``"A01"``, ``"A1"``, ``"a:1"`` → (1, 1); anything else → None."""
    match = _POSITION.match(normalise(value))
    if not match:
        return None
    return ord(match.group(1)) - 64, int(match.group(2))


def decode_file(data: bytes) -> str:
    """The text of an uploaded scan (UTF-8, with or without BOM, else Windows-1252); 400 for a binary or huge file."""
    if len(data) > MAX_FILE_BYTES:
        raise _bad(None, _("The file is larger than a rack scan can be (%(kb)d KB at most).")
                   % {"kb": MAX_FILE_BYTES // 1024})
    if b"\x00" in data[:4096]:
        raise _bad(None, _("This is not a text (CSV) file. Export the scan as CSV from the scanner software."))
    for encoding in ("utf-8-sig", "cp1252"):
        try:
            return data.decode(encoding)
        except UnicodeDecodeError:
            continue
    return data.decode("latin-1")


def _rows(text: str) -> list[tuple[int, list[str]]]:
    """Non-empty rows with their 1-based line numbers, cells stripped; the delimiter is sniffed (, ; or tab)."""
    lines = text.splitlines()
    sample = [ln for ln in lines if ln.strip()][:20]
    delimiter = max((",", ";", "\t"), key=lambda d: sum(ln.count(d) for ln in sample))
    rows = []
    for number, cells in enumerate(csv.reader(io.StringIO("\n".join(lines)), delimiter=delimiter), start=1):
        cells = [c.strip() for c in cells]
        while cells and not cells[-1]:
            cells.pop()
        if any(cells):
            rows.append((number, cells))
    return rows


def _classify(value: str, status: str = "") -> tuple[str, str]:
    """(state, barcode) of a cell, with the status column's word when the file has one."""
    mark = _squash(value)
    status_mark = _squash(status)
    if status_mark in _NO_READ_MARKS or mark in _NO_READ_MARKS:
        return NO_READ, ""
    if status_mark in _EMPTY_MARKS - {""} or mark in _EMPTY_MARKS:
        return EMPTY, ""
    return TUBE, normalise(value)


class _Collector:
    """Gathers reads, refusing a position or a tube listed twice and a barcode that cannot be one of ours."""

    def __init__(self) -> None:
        self.reads: list[ScanRead] = []
        self._positions: dict[tuple[int, int], int] = {}
        self._tubes: dict[str, ScanRead] = {}

    def add(self, line: int, position: tuple[int, int], state: str, barcode: str) -> None:
        row, col = position
        label = f"{chr(64 + row)}{col}"
        if position in self._positions:
            raise _bad(line, _("position %(pos)s is listed twice (first on line %(first)d).")
                       % {"pos": label, "first": self._positions[position]})
        if state == TUBE:
            if len(barcode) > MAX_LENGTH or not barcode.isprintable():
                raise _bad(line, _("“%(code)s” at %(pos)s cannot be a tube barcode.") % {"code": barcode[:40],
                                                                                      "pos": label})
            if barcode in self._tubes:
                first = self._tubes[barcode]
                raise _bad(line, _("tube %(code)s is listed twice (first at %(pos)s on line %(first)d).")
                           % {"code": barcode, "pos": first.label, "first": first.line})
        self._positions[position] = line
        read = ScanRead(line=line, row=row, col=col, state=state, barcode=barcode)
        if state == TUBE:
            self._tubes[barcode] = read
        self.reads.append(read)


def _position_or_error(line: int, value: str) -> tuple[int, int]:
    position = parse_position(value)
    if position is None:
        raise _bad(line, _("“%(value)s” is not a rack position (A1 … H12).") % {"value": value[:20]})
    return position


def _header_columns(cells: list[str]) -> dict[str, int] | None:
    """The columns of a table header (position, tube, optional rack and status), or None if not a header."""
    columns: dict[str, int] = {}
    for index, cell in enumerate(cells):
        if not cell or parse_position(cell):
            continue
        if _POSITION_HEADER.search(cell) and "position" not in columns:
            columns["position"] = index
        elif _RACK_KEY.search(cell) and "rack" not in columns:
            columns["rack"] = index
        elif _STATUS_HEADER.search(cell) and "status" not in columns:
            columns["status"] = index
        elif _TUBE_HEADER.search(cell) and "tube" not in columns:
            columns["tube"] = index
    return columns if {"position", "tube"} <= set(columns) else None


def _grid_header(cells: list[str]) -> int | None:
    """Columns of a grid header ``,1,2,…,n`` (or ``Row,1,2,…``), else None."""
    numbers = cells[1:]
    if len(numbers) < 2 or not all(n.isdigit() for n in numbers):
        return None
    if [int(n) for n in numbers] != list(range(1, len(numbers) + 1)):
        return None
    return len(numbers)


def _preamble_rack(preamble: list[tuple[int, list[str]]]) -> str:
    for _line, cells in preamble:
        if len(cells) >= 2 and _RACK_BARCODE_KEY.match(cells[0]) and cells[1]:
            return normalise(cells[1])
        if len(cells) == 1 and ":" in cells[0]:
            key, _sep, value = cells[0].partition(":")
            if _RACK_BARCODE_KEY.match(key) and value.strip():
                return normalise(value)
    return ""


def _parse_grid(rows, start: int, cols: int, preamble) -> RackScan:
    found = _Collector()
    for line, cells in rows[start + 1:]:
        letter = normalise(cells[0])
        if not re.fullmatch(r"[A-Z]", letter):
            if found.reads:
                break  # a footer after the grid
            raise _bad(line, _("a grid row starts with its row letter (A, B, …), not “%(value)s”.")
                       % {"value": cells[0][:20]})
        if len(cells) - 1 > cols:
            raise _bad(line, _("row %(row)s has %(n)d columns but the grid header numbers %(cols)d.")
                       % {"row": letter, "n": len(cells) - 1, "cols": cols})
        row = ord(letter) - 64
        for col in range(1, cols + 1):
            value = cells[col] if col < len(cells) else ""
            state, barcode = _classify(value)
            found.add(line, (row, col), state, barcode)
    return RackScan(format="ziath_datapaq_grid", rack_barcode=_preamble_rack(preamble), reads=found.reads)


def _parse_table(rows, start: int, columns: dict[str, int], preamble) -> RackScan:
    found = _Collector()
    rack = _preamble_rack(preamble)
    rack_line = None
    for line, cells in rows[start + 1:]:
        def cell(name: str, cells=cells) -> str:
            index = columns.get(name)
            return cells[index] if index is not None and index < len(cells) else ""

        if not cell("position") and found.reads:
            break  # a footer
        position = _position_or_error(line, cell("position"))
        state, barcode = _classify(cell("tube"), cell("status"))
        found.add(line, position, state, barcode)
        rack, rack_line = _same_rack(line, normalise(cell("rack")), rack, rack_line)
    if not found.reads:
        raise _bad(rows[start][0], _("the table has a header but no positions."))
    kind = "ziath_datapaq" if preamble or "status" in columns else "fluidx"
    return RackScan(format=kind, rack_barcode=rack, reads=found.reads)


def _same_rack(line: int, value: str, rack: str, rack_line: int | None) -> tuple[str, int | None]:
    if not value or _squash(value) in _NO_READ_MARKS:
        return rack, rack_line
    if rack and value != rack:
        raise _bad(line, _("rack %(rack)s, but the file is a scan of rack %(first)s. Upload one rack per file.")
                   % {"rack": value, "first": rack})
    return value, rack_line or line


def _parse_headerless(rows) -> RackScan:
    found = _Collector()
    rack, rack_line = "", None
    first_line, first = rows[0]
    if len(first) >= 3 and parse_position(first[1]):
        layout = "rack_first"  # checked first: a rack barcode such as "R1" looks like a position
    elif parse_position(first[0]) and len(first) >= 2:
        layout = "position_first"
    else:
        raise _bad(first_line, _("this is not a rack-scanner file we know. Expected a Ziath DataPaq export or "
                                 "“Rack ID, Position, Tube ID” lines (Azenta / FluidX)."))
    for line, cells in rows:
        if layout == "position_first":
            if len(cells) < 2:
                raise _bad(line, _("expected “Position, Tube ID”."))
            position = _position_or_error(line, cells[0])
            state, barcode = _classify(cells[1])
        else:
            if len(cells) < 3:
                raise _bad(line, _("expected “Rack ID, Position, Tube ID”."))
            rack, rack_line = _same_rack(line, normalise(cells[0]), rack, rack_line)
            position = _position_or_error(line, cells[1])
            state, barcode = _classify(cells[2])
        found.add(line, position, state, barcode)
    return RackScan(format="fluidx", rack_barcode=rack, reads=found.reads)


def parse_rack_scan(data: bytes | str) -> RackScan:
    """Read a rack-scanner file in any of the known formats (detected from its shape). 400 on a bad file."""
    text = decode_file(data) if isinstance(data, bytes) else data
    rows = _rows(text)
    if not rows:
        raise _bad(None, _("The file is empty."))
    for index, (_line, cells) in enumerate(rows):
        cols = _grid_header(cells)
        if cols is not None:
            return _parse_grid(rows, index, cols, rows[:index])
        columns = _header_columns(cells)
        if columns is not None:
            return _parse_table(rows, index, columns, rows[:index])
        if parse_position(cells[0]) or (len(cells) >= 3 and parse_position(cells[1])):
            if index == 0:
                return _parse_headerless(rows)
            break
        if index >= 40:
            break  # no scanner writes this many header lines
    line = rows[min(index, len(rows) - 1)][0]
    raise _bad(line, _("this is not a rack-scanner file we know. Expected a Ziath DataPaq export (header lines, "
                       "then a position and a tube barcode column, or a grid) or “Rack ID, Position, Tube ID” "
                       "lines (Azenta / FluidX)."))
