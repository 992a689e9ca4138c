"""Reading an import file, CSV (UTF-8) or XLSX, as a stream of rows: the whole file is never held in memory.

Rows are numbered as a spreadsheet shows them (the header is row 1), so a message "row 1,204, column box" points
at the very cell to fix. A wrong template (a required column missing, an unknown or repeated column) is refused
before any row is read.
"""

from __future__ import annotations

import csv
import datetime
import hashlib
import io
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, BinaryIO

from django.utils.translation import gettext as _

XLSX_MAGIC = b"PK\x03\x04"


@dataclass(frozen=True)
class Column:
    name: str
    required: bool
    help: str  # a lazy translation: what to write in the column
    example: str = ""


class FileRejected(Exception):
    """The file cannot be read as this kind's template; ``errors`` are ``{"row", "column", "message"}``."""

    def __init__(self, errors: list[dict[str, Any]]):
        super().__init__("; ".join(e["message"] for e in errors))
        self.errors = errors


def binary(fileobj) -> BinaryIO:
    """The underlying binary stream of an upload, a stored ``FieldFile`` or an open file, at its start."""
    if hasattr(fileobj, "open") and getattr(fileobj, "closed", False):
        fileobj.open("rb")
    stream = getattr(fileobj, "file", fileobj)
    # A Django File wrapping a File: go down to the real stream.
    while hasattr(stream, "file") and not hasattr(stream, "readinto"):
        stream = stream.file
    stream.seek(0)
    return stream


def sha256_of(fileobj) -> str:
    stream = binary(fileobj)
    digest = hashlib.sha256()
    for block in iter(lambda: stream.read(1 << 20), b""):
        digest.update(block)
    stream.seek(0)
    return digest.hexdigest()


def is_xlsx(stream: BinaryIO) -> bool:
    start = stream.read(4)
    stream.seek(0)
    return start == XLSX_MAGIC


def normalise_header(name: Any) -> str:
    return str(name or "").strip().lower().replace(" ", "_").replace("-", "_")


def _cell(value: Any) -> Any:
    """A spreadsheet cell as the validators take it: text stripped, whole numbers without ".0", dates kept."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, datetime.date | datetime.time):
        return value
    return str(value).strip()


def _text_cell(value: Any) -> str:
    """A spreadsheet cell as CSV text that reads back as the same value (dates in ISO 8601)."""
    value = _cell(value)
    if isinstance(value, datetime.datetime):
        return value.date().isoformat() if value.time() == datetime.time(0) else value.isoformat()
    if isinstance(value, datetime.date | datetime.time):
        return value.isoformat()
    return value


class RowReader:
    """Iterate ``(row number, {column: value})`` over a CSV or XLSX file, after checking its header against
    ``columns``. ``rows_hint`` is the sheet's row count when the file says it (XLSX), else None."""

    def __init__(self, fileobj, columns: list[Column], spool=None):
        self.stream = binary(fileobj)
        self.columns = columns
        self.spool = spool  # a csv writer: an XLSX file's rows copied as CSV, so a second pass reads them fast
        self.xlsx = is_xlsx(self.stream)
        self.rows_hint: int | None = None
        self._workbook = None
        self._rows = self._open()
        self.header = self._header()

    # --- opening -------------------------------------------------------------------------------------------

    def _open(self) -> Iterator[tuple[int, list[Any]]]:
        if self.xlsx:
            return self._xlsx_rows()
        return self._csv_rows()

    def _xlsx_rows(self) -> Iterator[tuple[int, list[Any]]]:
        from openpyxl import load_workbook

        try:
            self._workbook = load_workbook(self.stream, read_only=True, data_only=True)
        except Exception:  # noqa: BLE001 - openpyxl raises many kinds for a damaged file
            raise FileRejected([{"row": 1, "column": "", "message": _(
                "The file looks like an XLSX workbook but cannot be opened. Save it again from the spreadsheet, "
                "or as CSV UTF-8.")}])
        sheet = self._workbook.worksheets[0]
        if sheet.max_row:
            self.rows_hint = max(int(sheet.max_row) - 1, 0)
        rows = ((number, list(values)) for number, values in enumerate(sheet.iter_rows(values_only=True), start=1))
        if self.spool is None:
            return rows
        return self._spooled(rows)

    def _spooled(self, rows: Iterator[tuple[int, list[Any]]]) -> Iterator[tuple[int, list[Any]]]:
        for number, values in rows:
            self.spool.writerow([_text_cell(v) for v in values])
            yield number, values

    def _count_lines(self) -> int:
        """Lines in the file (a quick count of newlines, for the progress bar's total)."""
        count, last = 0, b""
        for block in iter(lambda: self.stream.read(1 << 20), b""):
            count += block.count(b"\n")
            last = block[-1:]
        self.stream.seek(0)
        return count + (1 if last not in (b"", b"\n") else 0)

    def _csv_rows(self) -> Iterator[tuple[int, list[Any]]]:
        self.rows_hint = max(self._count_lines() - 1, 0)
        text = io.TextIOWrapper(self.stream, encoding="utf-8-sig", newline="")
        reader = csv.reader(text)
        number = 0
        try:
            while True:
                try:
                    values = next(reader)
                except StopIteration:
                    return
                except UnicodeDecodeError:
                    raise FileRejected([{"row": number + 1, "column": "", "message": _(
                        "The file is not UTF-8 text (row %(row)s). Save it as CSV UTF-8 or as an XLSX workbook.")
                        % {"row": number + 1}}])
                except csv.Error as exc:
                    raise FileRejected([{"row": number + 1, "column": "", "message": _(
                        "The CSV cannot be read at row %(row)s (%(problem)s). Save it again as CSV UTF-8.")
                        % {"row": number + 1, "problem": exc}}])
                number += 1
                yield number, values
        finally:
            # The wrapper would close the upload when collected; the second pass reads it again.
            try:
                text.detach()
            except ValueError:
                pass

    def close(self) -> None:
        if self._workbook is not None:
            self._workbook.close()

    # --- the header ----------------------------------------------------------------------------------------

    def _header(self) -> list[str]:
        first = next(self._rows, None)
        if first is None:
            raise FileRejected([{"row": 1, "column": "", "message": _(
                "The file is empty: start with the template's header row.")}])
        raw = list(first[1])
        while raw and (raw[-1] is None or str(raw[-1]).strip() == ""):
            raw.pop()  # trailing empty cells of a spreadsheet's first row
        header = [normalise_header(name) for name in raw]
        known = {c.name for c in self.columns}
        errors = []
        seen: set[str] = set()
        unknown, repeated = [], []
        for name in header:
            if name in seen:
                repeated.append(name)
            elif name and name not in known:
                unknown.append(name)
            seen.add(name)
        if "" in header:
            errors.append({"row": 1, "column": "", "message": _(
                "A column has no name in the header row. Name it as the template does, or delete it.")})
        if repeated:
            errors.append({"row": 1, "column": repeated[0], "message": _(
                "These columns appear twice: %(columns)s. Keep one of each.") % {"columns": ", ".join(repeated)}})
        if unknown:
            errors.append({"row": 1, "column": unknown[0], "message": _(
                "Unknown columns: %(unknown)s. This is not this kind's template; its columns are: %(columns)s.") % {
                "unknown": ", ".join(unknown[:20]) + (" …" if len(unknown) > 20 else ""),
                "columns": ", ".join(c.name for c in self.columns)}})
        missing = [c.name for c in self.columns if c.required and c.name not in seen]
        if missing:
            errors.append({"row": 1, "column": missing[0], "message": _(
                "Required columns missing: %(columns)s. Download the template and keep its header row.") % {
                "columns": ", ".join(missing)}})
        if errors:
            raise FileRejected(errors)
        return header

    # --- the rows ------------------------------------------------------------------------------------------

    def __iter__(self) -> Iterator[tuple[int, dict[str, Any]]]:
        header, width = self.header, len(self.header)
        for number, values in self._rows:
            cells = [_cell(v) for v in values]
            while len(cells) > width and cells[-1] == "":
                cells.pop()
            if not any(c != "" for c in cells):
                continue  # an empty row (a spreadsheet's formatting, a trailing line)
            row: dict[str, Any] = dict(zip(header, cells, strict=False))
            if len(cells) > width:
                row["__width__"] = len(cells)
            for name, value in row.items():
                if isinstance(value, str) and "\x00" in value:
                    row["__nul__"] = name  # PostgreSQL cannot store NUL in text (often a UTF-16 file)
                    break
            yield number, row

    def batches(self, size: int) -> Iterator[list[tuple[int, dict[str, Any]]]]:
        batch: list[tuple[int, dict[str, Any]]] = []
        for item in self:
            batch.append(item)
            if len(batch) >= size:
                yield batch
                batch = []
        if batch:
            yield batch
