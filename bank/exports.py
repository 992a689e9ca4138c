"""Row exports as streamed downloads (issue 13: "exports streamed"), the one way every CSV export is written; and
(issue 17) every list page's export as CSV or XLSX: ``register_export``, ``@exportable``, ``export_response``, the
one cell-neutralising rule (``neutralise``) and the job that writes a big XLSX in the worker (``run_export_job``).

At the national profile an export can hold a million cord blood units or a year of the audit trail, so no export
is built whole, neither in memory nor in one response body: the rows come from a generator, are written through
``csv.writer`` into a small buffer (Django's "streaming large CSV files" pattern) and go out through
``StreamingHttpResponse`` a buffer at a time.

The rows are read in keyset chunks (``keyset_chunks``: ``pk > last`` on the primary key index, ``chunk_size`` rows a
query) rather than through ``QuerySet.iterator()``. A streamed body is read after the view returns, outside any
transaction, where Django opens PostgreSQL's server-side cursor ``WITH HOLD``, and PostgreSQL materialises the
whole result of a held cursor when its transaction commits: a million-row export would be computed and stored on
the database server before its first row left, and one cursor would stay open for the whole download (which a
read replica may cancel and a transaction-pooling proxy cannot carry). A keyset chunk is one short query with its
``select_related`` and one query per ``prefetch_related`` lookup, so an export runs a constant number of queries
per chunk and never holds more than a chunk of rows.
"""

from __future__ import annotations

import csv
import datetime
import io
import re
import tempfile
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from decimal import Decimal
from functools import wraps
from importlib import import_module
from typing import Any

from django.conf import settings
from django.contrib import messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import QuerySet
from django.http import HttpResponse, HttpResponseBadRequest, QueryDict, StreamingHttpResponse
from django.shortcuts import redirect
from django.urls import reverse
from django.utils import timezone, translation
from django.utils.functional import Promise
from django.utils.module_loading import autodiscover_modules
from django.utils.text import slugify
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from bank.errors import DomainError

CHUNK_SIZE = 2000
# A response chunk: large enough that a million rows are not a million socket writes, small enough to be nothing.
BUFFER_SIZE = 64 * 1024
BOM = "\ufeff"


def csv_chunks(header: Sequence, rows: Iterable[Sequence], *, bom: bool = False) -> Iterator[str]:
    """The CSV text of ``header`` then ``rows``, in pieces of about BUFFER_SIZE characters. The byte-order mark
    (``bom``) and the header go out at once, so the download starts before the first query answers."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(header)
    yield (BOM if bom else "") + buffer.getvalue()
    buffer.seek(0)
    buffer.truncate()
    for row in rows:
        writer.writerow(row)
        if buffer.tell() >= BUFFER_SIZE:
            yield buffer.getvalue()
            buffer.seek(0)
            buffer.truncate()
    if buffer.tell():
        yield buffer.getvalue()


def stream_csv(filename: str, header: Sequence, rows: Iterable[Sequence], *,
               bom: bool = False) -> StreamingHttpResponse:
    """A CSV download (UTF-8, ``attachment; filename=...``) streamed from the ``rows`` generator."""
    response = StreamingHttpResponse(csv_chunks(header, rows, bom=bom), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response


def keyset_chunks(queryset: QuerySet, *, chunk_size: int = CHUNK_SIZE) -> Iterator[list]:
    """The rows of ``queryset`` in pk order, a list of up to ``chunk_size`` at a time, each list one query (plus one
    per prefetch lookup) after the last pk seen. The queryset must not be sliced; its ordering is replaced by pk."""
    queryset = queryset.order_by("pk")
    last = None
    while True:
        batch = list((queryset if last is None else queryset.filter(pk__gt=last))[:chunk_size])
        if not batch:
            return
        yield batch
        last = batch[-1].pk


# --- neutralising cells (CSV injection) -------------------------------------------------------------------

# OWASP's "CSV injection" set: a cell starting with one of these may be run as a formula by a spreadsheet.
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def neutralise(value) -> str:
    """A CSV cell a spreadsheet shows as text: one starting like a formula gets a leading apostrophe. The bank's one
    rule for it (audit exports, registry exports, every list page's export)."""
    text = "" if value is None else str(value)
    return "'" + text if text.startswith(FORMULA_START) else text


# --- list page exports (issue 17) -------------------------------------------------------------------------
#
# Every list page answers ``?export=csv`` and ``?export=xlsx`` with the rows of its current filters (all of them,
# not the page shown). A page declares its export once, next to its view, in ``<app>/exports.py``:
#
#     LOT_COLUMNS = [Column(_("Lot number"), "lot_number"), Column(_("Status"), "get_status_display"), ...]
#
#     @register_export("lots", url="lots:lot_list", perms=VIEW_LOTS, title=_("Lots"))
#     def lots(user, params):
#         return lot_queryset(params), LOT_COLUMNS      # the same query function the page filters with
#
# and the view is wrapped with ``@exportable("lots")`` (under its ``perms_required``). The builder is the one source
# of "which rows, which columns, for whom": the page's download and the worker's XLSX job both call it, with the
# user and the query string, so a job re-applies the filters, the permissions and the identity masking of the
# user who asked.


@dataclass(frozen=True)
class Column:
    """One column of an export: its header (translatable) and how to read a row's cell (a dotted attribute path,
    calling what it reaches if callable, e.g. ``"cell_line.name"`` or ``"get_status_display"``; or a function)."""

    header: object
    accessor: str | Callable[[Any], Any]

    def value(self, row):
        if callable(self.accessor):
            return self.accessor(row)
        value = row
        for part in self.accessor.split("."):
            if value is None:
                return None
            value = value.get(part) if isinstance(value, dict) else getattr(value, part, None)
            if callable(value) and not isinstance(value, Promise):
                value = value()
        return value


@dataclass(frozen=True)
class Prepared:
    """A queryset whose chunks are turned into rows by ``prepare(batch) -> rows`` (e.g. a kept count or an
    eligibility read for the chunk at once: a constant number of queries per chunk)."""

    queryset: QuerySet
    prepare: Callable[[list], Iterable]


Source = QuerySet | Prepared | Iterable


@dataclass(frozen=True)
class ExportSpec:
    """A registered list export: its name, the list page (URL name), who may run it, and its builder."""

    name: str
    builder: Callable[[Any, QueryDict], tuple[Source, Sequence[Column]]]
    url: str
    perms: tuple[str, ...] = ()
    allowed: Callable[[Any], bool] | None = None
    title: object = ""
    filename: str = ""

    def may_export(self, user) -> bool:
        if not (user and user.is_authenticated and user.is_active):
            return False
        if not all(user.has_perm(p) for p in self.perms):
            return False
        return self.allowed is None or bool(self.allowed(user))


_exports: dict[str, ExportSpec] = {}


def register_export(name: str, builder=None, *, url: str, perms: Sequence[str] = (), allowed=None, title="",
                    filename: str = ""):
    """Declare the export of a list page (usable as a decorator of the builder ``builder(user, params)``)."""

    def register(func):
        _exports[name] = ExportSpec(name, func, url, tuple(perms), allowed, title or name, filename or name)
        return func

    return register(builder) if builder is not None else register


def _discover() -> None:
    autodiscover_modules("exports")
    import_module("bank.list_exports")  # bank's own lists (bank.exports is the machinery)
    import_module("bank.audit_export")  # a record's audit trail, next to the audit area's CSV and PDF


def registered_exports() -> dict[str, ExportSpec]:
    """Every registered export (each app's ``exports`` module imported first)."""
    _discover()
    return dict(_exports)


def export_spec(name: str) -> ExportSpec:
    if name not in _exports:
        _discover()
    return _exports[name]


def build(name: str, user, params) -> tuple[Source, list[Column]]:
    """The rows and columns of export ``name`` for ``user`` with the page's query ``params`` (a QueryDict or a dict
    of lists). Raises PermissionDenied when the user may not see the page."""
    spec = export_spec(name)
    if not spec.may_export(user):
        raise PermissionDenied(_("Your role may not export this list."))
    source, columns = spec.builder(user, _querydict(params))
    return source, list(columns)


def _querydict(params) -> QueryDict:
    if isinstance(params, QueryDict):
        return params
    query = QueryDict(mutable=True)
    for key, values in (params or {}).items():
        query.setlist(key, [str(v) for v in (values if isinstance(values, (list, tuple)) else [values])])
    query._mutable = False
    return query


# --- cells ---------------------------------------------------------------------------------------------------


def _plain(value):
    """A cell's value as the spreadsheet should get it: numbers and dates stay typed, the rest is text."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return str(_("yes") if value else _("no"))
    if isinstance(value, (int, float, Decimal)):
        return value
    if isinstance(value, datetime.datetime):
        return timezone.localtime(value).replace(tzinfo=None) if timezone.is_aware(value) else value
    if isinstance(value, datetime.date):
        return value
    if isinstance(value, (list, tuple, set, frozenset)):
        return ", ".join(str(_plain(v)) for v in value)
    return str(value)


def csv_cell(value) -> str:
    value = _plain(value)
    if isinstance(value, (int, float, Decimal)):
        return str(value)  # a number is never run as a formula (and "-3" must stay a number)
    if isinstance(value, datetime.datetime):
        return value.strftime("%Y-%m-%d %H:%M:%S")
    if isinstance(value, datetime.date):
        return value.isoformat()
    return neutralise(value)


def export_rows(source: Source, columns: Sequence[Column], *, chunk_size: int | None = None) -> Iterator[list]:
    """The cells of every row, read a chunk at a time (``keyset_chunks`` for a queryset)."""
    for batch in source_chunks(source, chunk_size=chunk_size):
        for row in batch:
            yield [column.value(row) for column in columns]


def source_chunks(source: Source, *, chunk_size: int | None = None) -> Iterator[list]:
    """The rows of ``source`` a chunk (``CHUNK_SIZE`` rows) at a time: keyset chunks of a queryset, each chunk of a
    ``Prepared`` queryset turned into rows at once, or an iterable cut into lists."""
    chunk_size = chunk_size or CHUNK_SIZE
    if isinstance(source, Prepared):
        for batch in keyset_chunks(source.queryset, chunk_size=chunk_size):
            yield list(source.prepare(batch))
    elif isinstance(source, QuerySet):
        yield from keyset_chunks(source, chunk_size=chunk_size)
    else:
        batch = []
        for row in source:
            batch.append(row)
            if len(batch) >= chunk_size:
                yield batch
                batch = []
        if batch:
            yield batch


def bounded_count(source: Source, limit: int) -> int:
    """How many rows, counting at most ``limit + 1`` (``SELECT count(*) FROM (... LIMIT n)``: never a full scan)."""
    queryset = source.queryset if isinstance(source, Prepared) else source
    if isinstance(queryset, QuerySet):
        return queryset.order_by()[: limit + 1].count()
    if hasattr(source, "__len__"):
        return min(len(source), limit + 1)
    return 0


# --- CSV and XLSX ------------------------------------------------------------------------------------------

XLSX_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def _headers(columns: Sequence[Column]) -> list[str]:
    return [str(column.header) for column in columns]


def _translated(rows: Iterable, language: str | None) -> Iterator:
    # A streamed body is written after the view returned: the rows keep the language the page was asked in.
    with translation.override(language):
        yield from rows


def csv_response(source: Source, columns: Sequence[Column], filename: str) -> StreamingHttpResponse:
    """The streamed CSV (UTF-8 with a byte-order mark so that spreadsheets read Chinese text), every cell
    neutralised."""
    rows = ([csv_cell(v) for v in row] for row in export_rows(source, columns))
    return stream_csv(filename, [neutralise(h) for h in _headers(columns)],
                      _translated(rows, translation.get_language()), bom=True)


def write_xlsx(target, source: Source, columns: Sequence[Column], *, title: str = "", progress=None) -> int:
    """Write the rows as an XLSX workbook to ``target`` (a path or a binary file) in openpyxl's write-only mode
    (rows go to a temporary file as they come: memory stays flat). Every string is written as text, never as a
    formula; one that a spreadsheet would run (= + - @, a tab or a CR first) also gets Excel's "quote prefix" so
    it stays text when edited. ``progress(k)`` is called after each chunk. Returns the number of rows."""
    from openpyxl import Workbook
    from openpyxl.cell import WriteOnlyCell
    from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE
    from openpyxl.styles import Font

    workbook = Workbook(write_only=True)
    sheet = workbook.create_sheet(title=re.sub(r"[\[\]:*?/\\]", " ", str(title or "export"))[:31] or "export")
    sheet.freeze_panes = "A2"
    for index, column in enumerate(columns):
        sheet.column_dimensions[_column_letter(index)].width = max(10, min(40, len(str(column.header)) + 4))

    def cell(value, bold=False):
        value = _plain(value)
        if isinstance(value, str):
            value = ILLEGAL_CHARACTERS_RE.sub("", value) or None  # an empty cell, not an empty string
        out = WriteOnlyCell(sheet, value=value)
        if isinstance(value, str):
            out.data_type = "s"  # text, whatever it starts with: openpyxl would make "=..." a formula
            if value.startswith(FORMULA_START):
                out.quotePrefix = True
        elif isinstance(value, datetime.datetime):
            out.number_format = "yyyy-mm-dd hh:mm:ss"
        elif isinstance(value, datetime.date):
            out.number_format = "yyyy-mm-dd"
        if bold:
            out.font = Font(bold=True)
        return out

    sheet.append([cell(h, bold=True) for h in _headers(columns)])
    count = 0
    for batch in source_chunks(source):
        for row in batch:
            sheet.append([cell(column.value(row)) for column in columns])
        count += len(batch)
        if progress is not None:
            progress(len(batch))
    workbook.save(target)
    return count


def _column_letter(index: int) -> str:
    from openpyxl.utils import get_column_letter

    return get_column_letter(index + 1)


def xlsx_bytes(source: Source, columns: Sequence[Column], *, title: str = "") -> bytes:
    buffer = io.BytesIO()
    write_xlsx(buffer, source, columns, title=title)
    return buffer.getvalue()


def export_filename(base: str, extension: str) -> str:
    return f"{slugify(base) or 'export'}-{timezone.localdate().isoformat()}.{extension}"


def wants_export(request) -> str:
    """``csv`` or ``xlsx`` when the page is asked for its export, else ``""``."""
    return (request.GET.get("export") or "").strip().lower() if request.method in ("GET", "HEAD") else ""


def export_response(request, source: Source, columns: Sequence[Column], filename: str, *,
                    export: str | None = None, title: str = "", params: dict | None = None) -> HttpResponse:
    """The answer to ``?export=csv`` (a streamed CSV) or ``?export=xlsx`` (an XLSX; above
    ``EXPORT_XLSX_SYNC_MAX_ROWS`` rows, and when the export is registered as ``export``, a job in the worker and a
    redirect to its page). ``filename`` is the base name, without date or extension."""
    fmt = wants_export(request)
    if fmt == "csv":
        return csv_response(source, columns, export_filename(filename, "csv"))
    if fmt != "xlsx":
        return HttpResponseBadRequest(_("Choose the export format: csv or xlsx."))
    limit = settings.EXPORT_XLSX_SYNC_MAX_ROWS
    if export is not None and bounded_count(source, limit) > limit:
        job = start_export_job(export, user=request.user, params=params if params is not None else _query(request),
                               title=title or filename)
        messages.info(request, _("A large export: it is prepared in the background. The file will be here."))
        return redirect(reverse("job", args=[job.pk]))
    response = HttpResponse(xlsx_bytes(source, columns, title=title or filename), content_type=XLSX_TYPE)
    response["Content-Disposition"] = f'attachment; filename="{export_filename(filename, "xlsx")}"'
    return response


def _query(request) -> dict[str, list[str]]:
    return {key: request.GET.getlist(key) for key in request.GET if key not in ("export", "page")}


def exportable(name: str):
    """Wrap a list page's view: ``?export=csv|xlsx`` answers the export registered as ``name`` (the page's own
    permissions are checked by the view's ``perms_required`` outside this; the builder checks them again)."""

    def decorator(view):
        @wraps(view)
        def wrapper(request, *args, **kwargs):
            if wants_export(request):
                params = _query(request)
                params.update({key: [str(value)] for key, value in kwargs.items()})
                try:
                    source, columns = build(name, request.user, params)
                except (ValidationError, DomainError) as exc:
                    return HttpResponseBadRequest(" ".join(getattr(exc, "messages", [str(exc)])))
                spec = export_spec(name)
                return export_response(request, source, columns, spec.filename, export=name,
                                       title=str(spec.title), params=params)
            return view(request, *args, **kwargs)

        wrapper.export_name = name
        return wrapper

    return decorator


# --- big XLSX exports as jobs ------------------------------------------------------------------------------

JOB_KIND = "bank.export"


def start_export_job(name: str, *, user, params: dict, title: str = ""):
    from bank.jobs import start_job

    return start_job(JOB_KIND, user=user, params={"export": name, "query": params, "format": "xlsx"},
                     title=_("Export: %(what)s (XLSX)") % {"what": title or name})


def run_export_job(job, progress) -> dict:
    """The worker's side of a big XLSX export: the same builder as the page, for the job's user (filters,
    permissions and masking re-applied), written a chunk at a time with progress, stored as the job's file."""
    from bank.jobs import JobFailed

    name = job.params.get("export", "")
    try:
        spec = export_spec(name)
    except KeyError:
        raise JobFailed(_("This list (%(name)s) cannot be exported by this version of StemBank.") % {
            "name": name}) from None
    try:
        source, columns = build(name, job.user, job.params.get("query") or {})
    except PermissionDenied:
        raise JobFailed(_("Your role may not export this list.")) from None
    queryset = source.queryset if isinstance(source, Prepared) else source
    progress.set_total(queryset.count() if isinstance(queryset, QuerySet) else None,
                       message=_("Writing the rows"))
    filename = export_filename(spec.filename, "xlsx")
    with tempfile.TemporaryFile() as handle:
        rows = write_xlsx(handle, source, columns, title=str(spec.title), progress=progress.advance)
        progress.update(rows, total=rows, message=ngettext("%(n)s row written", "%(n)s rows written", rows) % {
            "n": rows}, force=True)
        handle.seek(0)
        progress.attach(filename, iter(lambda: handle.read(BUFFER_SIZE), b""), XLSX_TYPE)
    return {"rows": rows, "export": name, "file": filename}


def person(user) -> str:
    """A user as a list shows them: full name, else user name ("" for nobody)."""
    if user is None:
        return ""
    return user.get_full_name() or user.get_username()
