"""Writes of the haplobank app: a population, and the upload of its haplotype table or typed cohort.

An upload is all or nothing. Every line is read and checked first (``mhcgnomes`` via ``haplobank.alleles``); any
bad line refuses the whole table with every bad line listed (400 ``invalid_lines``,
``{"lines": [{"line", "error"}]}``), and a haplotype table whose frequencies add up to more than 1 (beyond
``FREQUENCY_TOLERANCE``) is refused as a whole (400 ``frequencies_exceed_one``). Nothing is stored then. A good
table is stored under the next version number and replaces the one in force in the same transaction.

The file: UTF-8 text, one record per line, comma-separated (quotes allowed). Blank lines and lines starting with
``#`` are skipped; a first line with no ``*`` and no digit (a header such as ``haplotype,frequency``) is skipped. Line
numbers count every line of the file, so an error points at the line an editor shows.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from bank.audit import acting, bulk_create_audited, save_changed
from bank.errors import DomainError
from haplobank.alleles import full_name, parse_allele
from haplobank.choices import HLAResolution
from haplobank.models import CohortGenotype, HaplotypeFrequency, Population

HAPLOTYPE_LOCI = ("A", "B", "DRB1")
GENOTYPE_POSITIONS = ("A", "A", "B", "B", "DRB1", "DRB1")
# Frequencies are stored with ten decimals; their sum may exceed 1 by rounding in the source, up to this much.
FREQUENCY_PLACES = Decimal("0.0000000001")
FREQUENCY_TOLERANCE = Decimal("0.0001")
MAX_TABLE_LINES = 200_000
MAX_LISTED_ERRORS = 1_000


class TableRefused(DomainError):
    """An uploaded table that cannot be stored (HTTP 400): bad lines (``invalid_lines``, with ``lines``) or
    frequencies that add up to more than 1 (``frequencies_exceed_one``, with ``total``). Nothing was stored."""

    status = 400
    default_code = "invalid_lines"


@dataclass(frozen=True)
class LineError:
    line: int
    error: str

    def as_dict(self) -> dict[str, Any]:
        return {"line": self.line, "error": self.error}


# --- populations ------------------------------------------------------------------------------------------------


def _text(value: Any) -> str:
    return "" if value is None else str(value).strip()


def create_population(*, actor, name: str, source: str, resolution: str) -> Population:
    """Register a population whose tables will be uploaded (400 with field errors: a name taken, no source, a
    resolution other than 1-field or 2-field)."""
    name, source, resolution = _text(name), _text(source), _text(resolution)
    errors: dict[str, list[str]] = {}
    if not name:
        errors["name"] = [_("Name the population, e.g. Han Chinese (southern).")]
    elif len(name) > 120:
        errors["name"] = [_("Keep the name under 120 characters.")]
    elif Population.objects.filter(name__iexact=name).exists():
        errors["name"] = [_("A population named “%(name)s” exists already: upload new tables to it, or choose "
                            "another name.") % {"name": name}]
    if not source:
        errors["source"] = [_("Say where the frequencies come from (study, registry and year), or that they are "
                              "synthetic.")]
    elif len(source) > 300:
        errors["source"] = [_("Keep the source under 300 characters.")]
    if resolution not in HLAResolution.values:
        errors["resolution"] = [_("Choose the resolution of the tables: 1-field or 2-field.")]
    if errors:
        raise ValidationError(errors)
    try:
        with transaction.atomic(), acting(actor, _("population registered")):
            return Population.objects.create(name=name, source=source, resolution=resolution, created_by=actor)
    except IntegrityError:  # registered meanwhile under the same name (the unique index decides)
        raise ValidationError({"name": [_("A population named “%(name)s” exists already: upload new tables to it, "
                                          "or choose another name.") % {"name": name}]})


# --- reading an uploaded table ----------------------------------------------------------------------------------


def _records(text: str) -> list[tuple[int, list[str]]]:
    """``(line number, cells)`` of each record of the file; blank lines, ``#`` comments and a header skipped."""
    if not isinstance(text, str):
        raise ValidationError({"table": [_("Send the table as UTF-8 text (Content-Type: text/csv).")]})
    text = text.removeprefix("\ufeff")
    records: list[tuple[int, list[str]]] = []
    first = True
    for number, raw in enumerate(text.splitlines(), start=1):
        stripped = raw.strip()
        if not stripped or stripped.startswith("#"):
            continue
        if first and "*" not in stripped and not any(ch.isdigit() for ch in stripped):
            first = False
            continue  # a header line (no allele, no number): haplotype,frequency
        first = False
        cells = next(csv.reader([stripped], skipinitialspace=True), [])
        records.append((number, [cell.strip() for cell in cells]))
        if len(records) > MAX_TABLE_LINES:
            raise ValidationError({"table": [_("The table has more than %(max)s lines: split the population or "
                                               "leave out the rarest haplotypes.") % {"max": f"{MAX_TABLE_LINES:,}"}]})
    if not records:
        raise ValidationError({"table": [_("The table has no lines. Send one haplotype or genotype per line, e.g. "
                                           "A*24:02~B*52:01~DRB1*15:02,0.085.")]})
    return records


def _refuse_lines(errors: list[LineError]) -> None:
    if not errors:
        return
    shown = errors[:MAX_LISTED_ERRORS]
    more = len(errors) - len(shown)
    detail = ngettext("%(n)s line of the table cannot be read; nothing was stored. Correct it and upload the table "
                      "again.",
                      "%(n)s lines of the table cannot be read; nothing was stored. Correct them and upload the table "
                      "again.", len(errors)) % {"n": len(errors)}
    if more:
        detail += " " + _("Only the first %(shown)s are listed.") % {"shown": len(shown)}
    raise TableRefused(detail, code="invalid_lines", lines=[e.as_dict() for e in shown])


def _alleles(cells: list[str], loci: tuple[str, ...], resolution: str, problems: list[str]) -> list[str]:
    found = []
    for position, (cell, locus) in enumerate(zip(cells, loci, strict=True), start=1):
        try:
            found.append(parse_allele(cell, locus=locus, resolution=resolution))
        except ValueError as exc:
            problems.append(_("position %(n)s: %(problem)s") % {"n": position, "problem": exc})
    return found


def _frequency(cell: str, problems: list[str]) -> Decimal | None:
    try:
        value = Decimal(cell)
    except (InvalidOperation, ValueError):
        problems.append(_("the frequency “%(value)s” is not a number; write it as a decimal, e.g. 0.085.") % {
            "value": cell})
        return None
    if not value.is_finite() or value <= 0 or value > 1:
        problems.append(_("the frequency %(value)s is outside (0, 1]: give the haplotype's share of all haplotypes, "
                          "e.g. 0.085 for 8.5 %%.") % {"value": cell})
        return None
    stored = value.quantize(FREQUENCY_PLACES)
    if stored <= 0:
        problems.append(_("the frequency %(value)s is below 0.0000000001, the smallest the bank stores: leave the "
                          "haplotype out.") % {"value": cell})
        return None
    return stored


@dataclass(frozen=True)
class HaplotypeRow:
    line: int
    alleles: tuple[str, str, str]
    frequency: Decimal


def read_haplotype_table(text: str, resolution: str) -> list[HaplotypeRow]:
    """The rows of a haplotype table (``A*24:02~B*52:01~DRB1*15:02,0.085`` per line) at ``resolution``, or
    ``TableRefused`` naming every bad line, or the frequencies' excess over 1.

    A haplotype named twice is a bad line. Distinct haplotypes written finer than the table that become one at its
    resolution (two 2-field haplotypes of the same allele groups in a 1-field table, two 3-field ones of the same
    protein in a 2-field table) are one haplotype: their frequencies add up, and the row keeps the first line's
    number. A haplotype written at the table's resolution besides finer ones it contains is named twice."""
    errors: list[LineError] = []
    rows: dict[tuple[str, ...], HaplotypeRow] = {}
    seen: dict[tuple[str, ...], int] = {}  # as written (every field given) -> line
    exact: dict[tuple[str, ...], int] = {}  # rows given at exactly the table's resolution -> line
    for number, cells in _records(text):
        problems: list[str] = []
        if len(cells) != 2:
            errors.append(LineError(number, _("write the haplotype and its frequency, separated by a comma: "
                                              "A*24:02~B*52:01~DRB1*15:02,0.085.")))
            continue
        parts = [part.strip() for part in cells[0].split("~")]
        if len(parts) != len(HAPLOTYPE_LOCI):
            problems.append(_("a haplotype has three alleles, A~B~DRB1, joined by “~” (found %(n)s).") % {
                "n": len(parts)})
            alleles: list[str] = []
        else:
            alleles = _alleles(parts, HAPLOTYPE_LOCI, resolution, problems)
        frequency = _frequency(cells[1], problems)
        if problems:
            errors.append(LineError(number, "; ".join(problems)))
            continue
        written = tuple(full_name(part, locus=locus) for part, locus in zip(parts, HAPLOTYPE_LOCI, strict=True))
        key = tuple(alleles)
        earlier_line = seen.get(written) or (exact.get(key) if key in rows else None)
        if earlier_line is None and written == key and key in rows:
            earlier_line = rows[key].line
        if earlier_line is not None:
            errors.append(LineError(number, _("the haplotype %(haplotype)s is on line %(line)s already; give each "
                                              "haplotype once.") % {"haplotype": "~".join(key),
                                                                    "line": earlier_line}))
            continue
        seen[written] = number
        if written == key:
            exact[key] = number
        if key in rows:
            earlier = rows[key]
            rows[key] = HaplotypeRow(earlier.line, earlier.alleles, earlier.frequency + frequency)
        else:
            rows[key] = HaplotypeRow(number, (alleles[0], alleles[1], alleles[2]), frequency)
    _refuse_lines(errors)
    total = sum((row.frequency for row in rows.values()), Decimal(0))
    if total > 1 + FREQUENCY_TOLERANCE:
        raise TableRefused(
            _("The frequencies add up to %(total)s, more than 1: a haplotype table gives each haplotype's share of "
              "all haplotypes, so together they make at most 1. Check for a column in per cent or lines counted "
              "twice; nothing was stored.") % {"total": f"{total.normalize():f}"},
            code="frequencies_exceed_one", total=f"{total.normalize():f}")
    return list(rows.values())


@dataclass(frozen=True)
class GenotypeRow:
    line: int
    alleles: tuple[str, str, str, str, str, str]  # A, A, B, B, DRB1, DRB1 (each pair in code-point order)


def read_genotype_table(text: str, resolution: str) -> list[GenotypeRow]:
    """The persons of a typed cohort (``A*24:02,A*02:01,B*52:01,B*07:02,DRB1*15:02,DRB1*04:05`` per line) at
    ``resolution``, or ``TableRefused`` naming every bad line. Two persons may share a genotype."""
    errors: list[LineError] = []
    rows: list[GenotypeRow] = []
    for number, cells in _records(text):
        if len(cells) != len(GENOTYPE_POSITIONS):
            errors.append(LineError(number, _("write six alleles separated by commas, two per locus in the order A, "
                                              "A, B, B, DRB1, DRB1 (found %(n)s).") % {"n": len(cells)}))
            continue
        problems: list[str] = []
        alleles = _alleles(cells, GENOTYPE_POSITIONS, resolution, problems)
        if problems:
            errors.append(LineError(number, "; ".join(problems)))
            continue
        pairs = [tuple(sorted(alleles[i:i + 2])) for i in range(0, 6, 2)]
        rows.append(GenotypeRow(number, (*pairs[0], *pairs[1], *pairs[2])))
    _refuse_lines(errors)
    return rows


# --- storing an upload ------------------------------------------------------------------------------------------


def _locked(population: Population) -> Population:
    return Population.objects.select_for_update().get(pk=population.pk)


def replace_haplotypes(population: Population, text: str, *, actor) -> Population:
    """Replace the population's haplotype table with the uploaded one (all or nothing; see the module)."""
    rows = read_haplotype_table(text, population.resolution)
    with transaction.atomic(), acting(actor, _("haplotype table replaced (%(n)s haplotypes)") % {"n": len(rows)}):
        locked = _locked(population)
        version = locked.haplotype_version + 1
        bulk_create_audited(HaplotypeFrequency, [
            HaplotypeFrequency(population=locked, version=version, a=row.alleles[0], b=row.alleles[1],
                               drb1=row.alleles[2], frequency=row.frequency, line=row.line) for row in rows])
        save_changed(locked, {"haplotype_version": version, "haplotypes_uploaded_at": timezone.now()})
        return locked


def replace_genotypes(population: Population, text: str, *, actor) -> Population:
    """Replace the population's typed cohort with the uploaded one (all or nothing; see the module)."""
    rows = read_genotype_table(text, population.resolution)
    with transaction.atomic(), acting(actor, _("cohort replaced (%(n)s persons)") % {"n": len(rows)}):
        locked = _locked(population)
        version = locked.genotype_version + 1
        bulk_create_audited(CohortGenotype, [
            CohortGenotype(population=locked, version=version, a_1=row.alleles[0], a_2=row.alleles[1],
                           b_1=row.alleles[2], b_2=row.alleles[3], drb1_1=row.alleles[4], drb1_2=row.alleles[5],
                           line=row.line) for row in rows])
        save_changed(locked, {"genotype_version": version, "genotypes_uploaded_at": timezone.now()})
        return locked
