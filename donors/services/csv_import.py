"""CSV import of donors (identity, optional consent, screening results): the whole file or nothing."""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from typing import Any

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils.translation import gettext as _

from bank.audit import acting, bulk_create_audited
from bank.errors import Conflict
from donors import crypto
from donors.models import Consent, Donor, DonorIdentity, DonorKey, Screening, ScreeningMarker, ScreeningResult

from ._input import _as_date, _Errors, _not_future_date
from .consent import _clean_consent
from .registry import _clean_donor, _clean_identity, _duplicate_national_id_message, new_donor_codes, sealed_identity
from .screening import _result_pairs

# --- CSV import ---------------------------------------------------------------------------------

IMPORT_REQUIRED = ("sex", "birth_year", "donor_type", "full_name", "national_id")
IMPORT_OPTIONAL = ("population", "diagnosis", "phone", "sample_drawn_on", "maternal_sample", "laboratory",
                   "consent_form_version", "consent_signed_on", "consent_scopes")
IMPORT_MAX_ROWS = 5000
TRUE_WORDS, FALSE_WORDS = {"yes", "y", "true", "1"}, {"no", "n", "false", "0", ""}


class ImportRejected(ValidationError):
    """The CSV file has bad rows: nothing was imported. ``rows`` lists ``{"line", "errors"}``."""

    def __init__(self, rows: list[dict[str, Any]]):
        self.rows = rows
        super().__init__([_("Line %(line)s: %(errors)s") % {"line": r["line"], "errors": " ".join(r["errors"])}
                          for r in rows])


@dataclass
class ImportResult:
    donors: list[Donor]
    screenings: int
    results: int
    consents: int


def import_columns() -> list[str]:
    markers = list(ScreeningMarker.objects.order_by("order", "code").values_list("code", flat=True))
    return [*IMPORT_REQUIRED, *IMPORT_OPTIONAL, *markers]


def _flatten(errors: _Errors) -> list[str]:
    out = []
    for name, messages in errors.by_field.items():
        out.extend(f"{name}: {message}" for message in messages)
    return out


def _read_csv(content: str | bytes) -> tuple[list[str], list[tuple[int, dict[str, str]]]]:
    if isinstance(content, bytes):
        try:
            content = content.decode("utf-8-sig")
        except UnicodeDecodeError:
            raise ImportRejected([{"line": 1, "errors": [_("The file is not UTF-8 text. Save it as CSV UTF-8.")]}])
    content = content.lstrip("\ufeff")
    if "\x00" in content:
        # PostgreSQL cannot store NUL in text: a file holding one (often a UTF-16 file) is refused whole.
        line = content.count("\n", 0, content.index("\x00")) + 1
        raise ImportRejected([{"line": line, "errors": [
            _("The file contains a NUL character (line %(line)s). Save it as CSV UTF-8.") % {"line": line}]}])
    reader = csv.reader(io.StringIO(content, newline=""))
    try:
        header = next(reader)
    except StopIteration:
        raise ImportRejected([{"line": 1, "errors": [_("The file is empty; start with the header line.")]}])
    except csv.Error as exc:
        raise ImportRejected([{"line": 1, "errors": [str(exc)]}])
    header = [h.strip().lower() for h in header]
    rows = []
    try:
        for values in reader:
            if not any(v.strip() for v in values):
                continue
            rows.append((reader.line_num, values))
    except csv.Error as exc:
        raise ImportRejected([{"line": reader.line_num, "errors": [_("Unreadable CSV: %(e)s") % {"e": exc}]}])
    out = []
    for line, values in rows:
        if len(values) != len(header):
            out.append((line, {"__width__": str(len(values))}))
        else:
            out.append((line, {name: value.strip() for name, value in zip(header, values, strict=True)}))
    return header, out


def import_donors_csv(content: str | bytes, *, actor, filename: str = "") -> ImportResult:
    """Import donors (identity, optional consent, screening results) from CSV: all rows or none.

    The whole file is checked first and every bad row is reported by its line number (the header is
    line 1); if any row is bad nothing is imported (``ImportRejected``).
    """
    header, rows = _read_csv(content)
    markers = {m.code: m for m in ScreeningMarker.objects.all()}
    known = set(IMPORT_REQUIRED) | set(IMPORT_OPTIONAL) | set(markers)
    head_errors = []
    unknown = [h for h in header if h not in known]
    if unknown:
        head_errors.append(_("Unknown column %(cols)s. Columns are: %(all)s.") % {
            "cols": ", ".join(f"“{h}”" for h in unknown), "all": ", ".join(import_columns())})
    missing = [h for h in IMPORT_REQUIRED if h not in header]
    if missing:
        head_errors.append(_("Missing column %(cols)s.") % {"cols": ", ".join(missing)})
    duplicates = sorted({h for h in header if header.count(h) > 1})
    if duplicates:
        head_errors.append(_("Column %(cols)s appears twice.") % {"cols": ", ".join(duplicates)})
    if head_errors:
        raise ImportRejected([{"line": 1, "errors": head_errors}])
    if not rows:
        raise ImportRejected([{"line": 1, "errors": [_("The file has a header but no donor rows.")]}])
    if len(rows) > IMPORT_MAX_ROWS:
        raise ImportRejected([{"line": 1, "errors": [_("Import at most %(n)s donors per file.") % {
            "n": IMPORT_MAX_ROWS}]}])

    marker_columns = [h for h in header if h in markers]
    parsed: list[dict[str, Any]] = []
    bad: dict[int, list[str]] = {}
    seen_ids: dict[str, int] = {}
    for line, row in rows:
        if "__width__" in row:
            bad[line] = [_("This line has %(n)s values; the header has %(m)s.") % {
                "n": row["__width__"], "m": len(header)}]
            continue
        errors = _Errors()
        donor = _clean_donor(row, errors)
        who = _clean_identity(row, errors)
        national_id = who.get("national_id")
        if national_id and "national_id" not in errors.by_field:
            if national_id in seen_ids:
                errors.add("national_id", _("The same national ID is on line %(line)s.") % {
                    "line": seen_ids[national_id]})
            else:
                seen_ids[national_id] = line
        consent = None
        if any(row.get(k) for k in ("consent_form_version", "consent_signed_on", "consent_scopes")):
            consent_errors = _Errors()
            consent = _clean_consent({"form_version": row.get("consent_form_version"),
                                      "signed_on": row.get("consent_signed_on"),
                                      "scopes": row.get("consent_scopes") or ""}, consent_errors)
            for name, messages in consent_errors.by_field.items():
                for message in messages:
                    errors.add(f"consent_{name}" if name != "scopes" else "consent_scopes", message)
        results = [(code, row.get(code, "")) for code in marker_columns if row.get(code, "")]
        pairs = _result_pairs(results, set(markers), errors) if results else []
        drawn = None
        if results or row.get("sample_drawn_on"):
            drawn = _as_date(row.get("sample_drawn_on"), "sample_drawn_on", errors)
            _not_future_date(drawn, "sample_drawn_on", errors, _("The sample date"))
            if not results:
                errors.add("sample_drawn_on", _("A sample date without any marker result."))
        maternal_word = (row.get("maternal_sample") or "").lower()
        if maternal_word not in TRUE_WORDS | FALSE_WORDS:
            errors.add("maternal_sample", _("Write yes or no."))
        if len(row.get("laboratory") or "") > 200:
            errors.add("laboratory", _("Keep the laboratory under 200 characters."))
        if errors:
            bad[line] = _flatten(errors)
            continue
        parsed.append({"line": line, "donor": donor, "identity": who, "consent": consent, "results": pairs,
                       "drawn": drawn, "maternal": maternal_word in TRUE_WORDS,
                       "laboratory": row.get("laboratory") or ""})

    if seen_ids:
        # One indexed query on the keyed hashes (under every configured master key): nothing is decrypted.
        by_digest = {digest: national_id for national_id in seen_ids
                     for digest in crypto.national_id_digests(national_id)}
        taken = (DonorIdentity.objects.filter(national_id_index__in=list(by_digest))
                 .values_list("national_id_index", "donor__code"))
        for digest, code in taken:
            line = seen_ids[by_digest[digest]]
            bad.setdefault(line, []).append(f"national_id: {_duplicate_national_id_message(code)}")
    if bad:
        raise ImportRejected([{"line": line, "errors": bad[line]} for line in sorted(bad)])

    reason = _("CSV import %(file)s") % {"file": filename} if filename else _("CSV import")
    try:
        with transaction.atomic(), acting(actor, reason):
            codes = new_donor_codes(len(parsed))
            donors = bulk_create_audited(Donor, [
                Donor(code=code, registered_by=actor, **item["donor"]) for code, item in zip(codes, parsed, strict=True)
            ])
            sealed = [sealed_identity(donor.pk, item["identity"]) for donor, item in zip(donors, parsed, strict=True)]
            bulk_create_audited(DonorKey, [key for key, _identity in sealed])
            bulk_create_audited(DonorIdentity, [identity for _key, identity in sealed])
            consents = bulk_create_audited(Consent, [
                Consent(donor=donor, recorded_by=actor, **item["consent"])
                for donor, item in zip(donors, parsed, strict=True) if item["consent"]
            ])
            with_results = [(donor, item) for donor, item in zip(donors, parsed, strict=True) if item["results"]]
            screenings = bulk_create_audited(Screening, [
                Screening(donor=donor, sample_drawn_on=item["drawn"], maternal_sample=item["maternal"],
                          laboratory=item["laboratory"], recorded_by=actor) for donor, item in with_results
            ])
            results = bulk_create_audited(ScreeningResult, [
                ScreeningResult(screening=screening, marker=marker, result=outcome, recorded_by=actor)
                for screening, (_donor, item) in zip(screenings, with_results, strict=True)
                for marker, outcome in item["results"]
            ])
    except IntegrityError:
        raise Conflict(_("Another registration changed the registry while importing; nothing was imported. "
                         "Import the file again."), code="import_conflict")
    return ImportResult(donors=donors, screenings=len(screenings), results=len(results), consents=len(consents))
