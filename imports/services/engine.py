"""The import engine shared by every kind: validate the whole file, then (unless a dry run) import it in one
transaction, batch by batch.

Pass 1 streams the file and validates every row (batched look-ups: a batch costs a fixed number of queries),
keeping only what rows must be checked against each other (barcodes, positions, lot numbers seen). Any bad row and
nothing is written: the report names every bad row, its column and what to fix. Pass 2 reads the file again inside
one transaction, validates each batch again against the database as it now is (the boxes it fills are locked
first) and writes it in bulk with its history. A row whose external ID the source already brought in is skipped,
so running the same file twice imports it once.
"""

from __future__ import annotations

import csv
import io
import logging
import tempfile
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from bank.audit import acting
from imports.choices import RunStatus
from imports.models import ExternalRef, ImportRun
from imports.services.reader import Column, FileRejected, RowReader, binary, is_xlsx

log = logging.getLogger(__name__)

# Bad rows kept in the run's report (the page and the API show them, paginated); every one is in the CSV of errors.
REPORT_ERRORS_KEPT = 2000


class Rejected(Exception):
    """Pass 2 found a bad row (the database changed since pass 1): the transaction is rolled back."""


@dataclass
class Context:
    """What a kind's validation and writing need to know about the run."""

    run: ImportRun
    actor: Any
    source: str
    reason: str
    writing: bool = False
    signer: Any = None
    previous: Any = None  # the state pass 1 built (pass 2 reads totals from it, e.g. a lot's vial count)


class Report:
    """Bad rows and counts of one pass. Every error goes to a temporary CSV as it comes (bounded memory); the
    first ``REPORT_ERRORS_KEPT`` stay in memory for the report."""

    def __init__(self) -> None:
        self.errors: list[dict[str, Any]] = []
        self.error_count = 0
        self.bad_rows: set[int] = set()
        self.rows = 0
        self.skipped = 0
        self.created: Counter = Counter()
        self.notes: list[str] = []
        self._file = tempfile.TemporaryFile(mode="w+", encoding="utf-8", newline="")
        self._csv = csv.writer(self._file)
        self._csv.writerow(["row", "column", "message"])

    def add(self, row: int, column: str, message: str) -> None:
        self.error_count += 1
        self.bad_rows.add(row)
        self._csv.writerow([row, column, _neutralise(str(message))])
        if len(self.errors) < REPORT_ERRORS_KEPT:
            self.errors.append({"row": row, "column": column, "message": str(message)})

    def add_field_errors(self, row: int, by_field: dict[str, list[str]], columns: dict[str, str] | None = None):
        for name, messages in by_field.items():
            for message in messages:
                self.add(row, (columns or {}).get(name, name), message)

    def __bool__(self) -> bool:
        return self.error_count > 0

    def errors_csv(self) -> Iterable[str]:
        self._file.flush()
        self._file.seek(0)
        yield from iter(lambda: self._file.read(1 << 16), "")

    def close(self) -> None:
        self._file.close()

    def as_dict(self) -> dict[str, Any]:
        errors = sorted(self.errors, key=lambda e: (e["row"], e["column"]))
        return {"rows": self.rows, "created": dict(self.created), "skipped": self.skipped,
                "bad_rows": len(self.bad_rows), "error_count": self.error_count, "errors": errors,
                "errors_truncated": self.error_count > len(self.errors), "notes": self.notes}


def _neutralise(text: str) -> str:
    """A cell a spreadsheet would run as a formula starts with a quote instead (CSV injection)."""
    return "'" + text if text[:1] in ("=", "+", "-", "@") else text


@dataclass
class Spec:
    """One kind of import: its template's columns, and how to validate and write a batch of rows."""

    key: str
    label: Any
    columns: list[Column]
    permission: str
    new_state: Callable[[Context], Any]
    validate: Callable[[list[tuple[int, dict]], Any, Report, Context], list]
    write: Callable[[list, Any, Context], None]
    finish: Callable[[Any, Report, Context], None] = lambda state, report, ctx: None
    lock: Callable[[Any, Context], None] = lambda previous, ctx: None
    created_labels: dict[str, Any] = field(default_factory=dict)


def batch_size() -> int:
    return int(getattr(settings, "IMPORTS_BATCH_SIZE", 2000))


def existing_refs(source: str, kind: str, external_ids: Iterable[str]) -> dict[str, int]:
    """``{external ID: object id}`` of the IDs ``source`` already brought in (one query)."""
    ids = list({e for e in external_ids if e})
    if not ids:
        return {}
    return dict(ExternalRef.objects.filter(source=source, kind=kind, external_id__in=ids)
                .values_list("external_id", "object_id"))


def add_refs(ctx: Context, kind: str, pairs: Iterable[tuple[str, int]]) -> None:
    ExternalRef.objects.bulk_create(
        [ExternalRef(source=ctx.source, kind=kind, external_id=ext, object_id=pk, run=ctx.run) for ext, pk in pairs],
        batch_size=5000)


def run_pass(spec: Spec, fileobj, ctx: Context, report: Report, progress=None, offset: int = 0,
             total: int | None = None, spool=None) -> Any:
    """Read the whole file through ``spec``: validate each batch, and write it when ``ctx.writing``."""
    reader = RowReader(fileobj, spec.columns, spool=spool)
    state = spec.new_state(ctx)
    try:
        for batch in reader.batches(batch_size()):
            good = []
            for number, row in batch:
                if "__width__" in row:
                    report.add(number, "", _("This row has %(n)s values; the header has %(m)s. Check for a stray "
                                             "separator.") % {"n": row["__width__"], "m": len(reader.header)})
                elif "__nul__" in row:
                    report.add(number, row["__nul__"], _("The cell contains a NUL character. Save the file as "
                                                         "CSV UTF-8."))
                else:
                    good.append((number, row))
            report.rows += len(batch)
            items = spec.validate(good, state, report, ctx)
            if ctx.writing:
                if report:
                    raise Rejected
                spec.write(items, state, ctx)
            if progress is not None:
                progress.update(offset + report.rows, total, message=(
                    _("Importing: %(n)s rows") if ctx.writing else _("Validating: %(n)s rows")) % {
                    "n": f"{report.rows:,}"})
        spec.finish(state, report, ctx)
        if ctx.writing and report:
            raise Rejected
    finally:
        reader.close()
    return state


def execute(spec: Spec, run: ImportRun, fileobj, *, actor, signer=None, progress=None) -> dict[str, Any]:
    """Validate the file, then import it unless ``run.dry_run``. Updates ``run`` (status, counts, report, the CSV
    of errors) and returns the report. A wrong template or a bad row leaves the bank as it was."""
    reason = (_("migration import #%(run)s (%(file)s)") % {"run": run.pk, "file": run.filename})[:100]
    ctx = Context(run=run, actor=actor, source=run.source, reason=reason, signer=signer)
    report = Report()
    second_source = fileobj
    _set_status(run, RunStatus.RUNNING)
    try:
        try:
            hint = RowReader(fileobj, spec.columns)
            rows_hint = hint.rows_hint
            hint.close()
            total = (rows_hint * (1 if run.dry_run else 2)) if rows_hint else None
            if progress is not None:
                progress.set_total(total, message=_("Validating"))
            # An XLSX workbook is parsed once: pass 1 copies its rows to a CSV that pass 2 reads (ten times faster).
            if is_xlsx(binary(fileobj)) and not run.dry_run:
                spool = tempfile.TemporaryFile()
                text = io.TextIOWrapper(spool, encoding="utf-8", newline="")
                state = run_pass(spec, fileobj, ctx, report, progress, total=total, spool=csv.writer(text))
                text.flush()
                text.detach()
                second_source = spool
            else:
                state = run_pass(spec, fileobj, ctx, report, progress, total=total)
        except FileRejected as exc:
            for error in exc.errors:
                report.add(error["row"], error["column"], error["message"])
            return _finish(run, RunStatus.REJECTED, report)
        if report:
            return _finish(run, RunStatus.REJECTED, report)
        if run.dry_run:
            return _finish(run, RunStatus.VALIDATED, report, would=True)
        if not report.created:  # every row is in already (a re-run): nothing to write
            return _finish(run, RunStatus.IMPORTED, report)
    finally:
        report.close()
    rows_validated = report.rows
    second = Report()
    ctx.writing, ctx.previous = True, state
    try:
        try:
            with transaction.atomic(), acting(actor, reason):
                spec.lock(state, ctx)
                if progress is not None:
                    progress.update(rows_validated, rows_validated * 2, message=_("Importing"), force=True)
                run_pass(spec, second_source, ctx, second, progress, offset=rows_validated, total=rows_validated * 2)
        except Rejected:
            return _finish(run, RunStatus.REJECTED, second)
        except IntegrityError:
            log.warning("import run %s refused by the database", run.pk, exc_info=True)
            second.add(0, "", _("Someone changed the bank while the file was imported (a barcode, a position or a "
                                "lot number was taken meanwhile); nothing was imported. Import the file again."))
            return _finish(run, RunStatus.REJECTED, second)
        return _finish(run, RunStatus.IMPORTED, second)
    finally:
        second.close()
        if second_source is not fileobj:
            second_source.close()


def _set_status(run: ImportRun, status: str) -> None:
    run.status = status
    run.save(update_fields=["status"])


def _finish(run: ImportRun, status: str, report: Report, would: bool = False) -> dict[str, Any]:
    """Record the outcome on the run (and the CSV of every bad row, while the report's file is open)."""
    from django.core.files import File

    data = report.as_dict()
    data.update(kind=run.kind, dry_run=run.dry_run, run=run.pk, status=status, would_create=would)
    run.status = status
    run.rows, run.skipped, run.error_count = report.rows, report.skipped, report.error_count
    run.created = dict(report.created)
    run.report = data
    run.finished_at = timezone.now()
    fields = ["status", "rows", "skipped", "error_count", "created", "report", "finished_at"]
    if report.error_count:
        with tempfile.TemporaryFile() as handle:
            for piece in report.errors_csv():
                handle.write(piece.encode("utf-8"))
            handle.seek(0)
            run.errors_file.save(f"import-{run.pk}-errors.csv", File(handle), save=False)
        fields.append("errors_file")
    run.save(update_fields=fields)
    return data
