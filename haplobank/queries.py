"""Reads of the haplobank app shared by its pages and its API: who may do what, the lines that count, a
population's tables, the bank's coverage, planning (simulation, next best haplotypes) and the recruitment list.

Definitions (API.md "Haplobank"):

* **Lines that count** (``bank_lines``): released lines and public cord blood units — a line with a lot
  distribution may send out (``distribution.queries.distributable_lots_q``: released, not on hold, not recalled,
  not flagged for a withdrawn consent, the donor consenting); a family unit (kept for one family) never counts.
* **Homozygous line**: its donor's registration typing has one allele at each of HLA-A, -B and -DRB1 at the
  population's resolution (``donors.HLAKey.haplotype`` at 2 fields, ``haplotype_group`` at 1 field: a line typed
  at 2 fields counts in a 1-field table by its allele groups; a line typed at 1 field cannot be placed in a
  2-field table and does not count there). A heterozygous donor's line never counts.
* **Haplotype coverage**: a set H of distinct haplotypes covers ``1 − (1 − Σ f_h)²`` (Hardy–Weinberg).
* **Genotype coverage**: the share of the population's typed cohort with no host-versus-graft mismatch at A, B and
  DRB1 with at least one line (a line homozygous for a~b~dr is accepted by every person carrying a, b and dr).
* Per-line contributions are greedy: the line that adds most comes first; a line whose haplotype is banked already
  (or not in the table) adds 0 and comes last, by name. Percentages are rounded to 2 decimals (half up); each
  ``gain_pct`` is the difference of the unrounded cumulative figures, rounded.
"""

from __future__ import annotations

import heapq
import threading
import time
from collections import defaultdict
from collections.abc import Iterable, Sequence
from contextvars import ContextVar
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal
from functools import reduce
from itertools import product
from operator import or_

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import connection
from django.db.models import Count, Exists, OuterRef, Prefetch, Q, QuerySet, Sum
from django.utils.translation import gettext as _

from bank.errors import Conflict
from bank.memo import memoized
from bank.roles import ADMIN, COORDINATOR, QA, RESEARCHER, STAFF_ROLES, has_role
from cordblood.choices import Ownership
from cordblood.models import CordBloodUnit
from distribution.queries import distributable_lots_q
from donors.choices import ConsentScope, ConsentState
from donors.models import Consent, Donor, HLATyping
from donors.queries import (
    PanelConfig,
    consent_scope_q,
    consent_scopes,
    consent_state,
    eligibility_of,
)
from haplobank.alleles import parse_allele
from haplobank.choices import CoverageDefinition, HLAResolution
from haplobank.models import CohortGenotype, HaplotypeFrequency, Population
from lots.models import CellLine, Lot

HAPLOTYPE_LOCI = ("A", "B", "DRB1")
NEXT_BEST = 20  # API.md: at least 10 when the table has them
RECRUITMENT_LIMIT, MAX_RECRUITMENT_LIMIT = 100, 500
_CENT = Decimal("0.01")

# --- who may do what --------------------------------------------------------------------------------------------

# QA, coordinators and admins keep the population tables and read coverage and planning: the model permission
# ``haplobank.change_population`` (bank.roles.ROLE_PERMISSIONS gives them the haplobank's models, so the tables'
# history is on the audit pages for them too). Researchers may only search for a match (and see only lines whose
# donors consented to data sharing); the recruitment list names donors (by code), so it is the coordinators' (and
# admins'): those two are roles, as cordblood's BANK_ROLES are. The API and pages ask these.
MANAGE_PERMISSION = "haplobank.change_population"
MATCH_ROLES = (QA, COORDINATOR, ADMIN, RESEARCHER)
RECRUITMENT_ROLES = (COORDINATOR, ADMIN)


def may_manage(user) -> bool:
    """Upload population tables, read coverage and planning."""
    return bool(user and user.is_authenticated and user.has_perm(MANAGE_PERMISSION))


def may_match(user) -> bool:
    return has_role(user, *MATCH_ROLES)


def may_see_recruitment(user) -> bool:
    return has_role(user, *RECRUITMENT_ROLES)


def sees_every_line(user) -> bool:
    """Bank staff see every line that counts; anyone else (a researcher) only lines whose donor consented to data
    sharing (``donors.queries.consent_scope_q``, the catalog's rule for HLA)."""
    return has_role(user, *STAFF_ROLES)


# --- the lines that count ---------------------------------------------------------------------------------------


def bank_lines(user=None) -> QuerySet[CellLine]:
    """Released lines and public cord blood units (see the module); for ``user`` outside the bank, only those whose
    donor consented to data sharing. A filter, never evaluated here.

    Distribution's rule (``distributable_lots_q``) in its two parts, as it offers them: the lot's own
    (``donor=False``: released, not flagged) in the subquery, and the donor's own consent on the line's donor,
    joined once by the outer query (coverage checks every homozygous line — tens of thousands in a national cord
    blood bank — and a second join of the line and its donor inside the subquery would double the cost of each)."""
    lots = (Lot.objects.filter(distributable_lots_q(donor=False), cell_line_id=OuterRef("pk"))
            .exclude(cord_blood_unit__ownership=Ownership.FAMILY))
    qs = CellLine.objects.filter(Exists(lots), donor__consent_withdrawn_at__isnull=True)
    if user is not None and not sees_every_line(user):
        qs = qs.filter(consent_scope_q(ConsentScope.DATA_SHARING, donor="donor"))
    return qs


def haplotype_field(resolution: str, prefix: str = "donor__hla_key__") -> str:
    """The ``donors.HLAKey`` column naming a homozygous donor's haplotype at ``resolution``."""
    return f"{prefix}{'haplotype_group' if resolution == HLAResolution.ONE_FIELD else 'haplotype'}"


@dataclass(frozen=True)
class LineHaplotype:
    cell_line: int
    name: str
    cell_type: str
    haplotype: str


def homozygous_lines(population: Population) -> tuple[LineHaplotype, ...]:
    """The lines that count whose donor is homozygous at A, B and DRB1 at the population's resolution, by name
    (one query: the partial index of homozygous donors, then their lines), kept while the bank's records say the
    same (``kept``)."""
    resolution = population.resolution

    def read() -> tuple[LineHaplotype, ...]:
        column = haplotype_field(resolution)
        rows = (bank_lines().filter(**{f"{column}__gt": ""}).order_by("name", "pk")
                .values_list("pk", "name", "cell_type", column))
        return tuple(LineHaplotype(pk, name, cell_type, haplotype) for pk, name, cell_type, haplotype in rows)

    return kept(("lines", resolution), read)


# --- kept figures -----------------------------------------------------------------------------------------------

# A national cord blood bank has tens of thousands of homozygous units: reading them (and ordering them for the
# coverage curve) takes most of a second, on every view of the coverage or planning page. What they are follows
# from five kinds of records — lots (status, consent flag), lines, donors (consent withdrawn), typings (the HLA
# keys) and cord blood units (family or public) — and every change to one of them writes a history row (Part 11:
# nothing changes unrecorded; a bulk load writes the history the app would). So the newest history row of each
# (``inputs_stamp``: five index reads in one query) tells whether a kept answer still stands. A transaction that
# took its history id before another's but commits after it leaves the newest id unchanged, so nothing is kept
# longer than ``HAPLOBANK_KEEP_SECONDS`` (a change then shows within that time at worst; at once otherwise).
# Kept in the process (each web process reads once per change): only figures, never anything translated.
KEPT_ENTRIES = 16
_kept: dict[tuple, tuple[float, object]] = {}
_kept_lock = threading.Lock()
_stamp_in_use: ContextVar[tuple | None] = ContextVar("haplobank_stamp_in_use", default=None)


def _stamp_sources() -> list[str]:
    return [model.history.model._meta.db_table for model in (Lot, CellLine, Donor, HLATyping, CordBloodUnit)]


def inputs_stamp() -> tuple:
    """The newest history id of each kind of record the lines that count and their haplotypes follow from (one
    query, once per safe request)."""
    def read() -> tuple:
        # Table names from the models, no input.
        columns = ", ".join(f'(SELECT max(history_id) FROM "{table}")' for table in _stamp_sources())  # noqa: S608
        with connection.cursor() as cursor:
            cursor.execute(f"SELECT {columns}")
            return tuple(cursor.fetchone())

    return memoized(("haplobank.inputs_stamp",), read)


def kept(key: tuple, compute):
    """``compute()``, kept under ``key`` while ``inputs_stamp`` is unchanged and for at most
    ``HAPLOBANK_KEEP_SECONDS`` (see above). What is kept is shared: callers never change it. A ``kept`` read inside
    ``compute`` (coverage reads the homozygous lines) goes by the same stamp."""
    stamp = _stamp_in_use.get() or inputs_stamp()
    full = (*key, stamp)
    now = time.monotonic()
    found = _kept.get(full)
    if found is not None and now - found[0] < settings.HAPLOBANK_KEEP_SECONDS:
        return found[1]
    token = _stamp_in_use.set(stamp)
    try:
        value = compute()
    finally:
        _stamp_in_use.reset(token)
    with _kept_lock:
        _kept[full] = (now, value)
        while len(_kept) > KEPT_ENTRIES:  # the oldest first (insertion order)
            _kept.pop(next(iter(_kept)))
    return value


def forget_kept() -> None:
    """Drop every kept figure (tests; an operator after editing the database by hand)."""
    with _kept_lock:
        _kept.clear()


# --- population tables ------------------------------------------------------------------------------------------


def populations() -> QuerySet[Population]:
    return Population.objects.select_related("created_by").order_by("name", "id")


def haplotype_table(population: Population) -> dict[str, Decimal]:
    """``{"A*24:02~B*52:01~DRB1*15:02": frequency}`` of the table in force (one query; {} before any upload)."""
    if not population.haplotype_version:
        return {}
    rows = (HaplotypeFrequency.objects.filter(population=population, version=population.haplotype_version)
            .values_list("a", "b", "drb1", "frequency"))
    return {f"{a}~{b}~{drb1}": frequency for a, b, drb1, frequency in rows}


def cohort(population: Population) -> list[tuple[tuple[str, str], tuple[str, str], tuple[str, str]]]:
    """The typed cohort in force: per person the (A, B, DRB1) pairs (one query; [] before any upload)."""
    if not population.genotype_version:
        return []
    rows = (CohortGenotype.objects.filter(population=population, version=population.genotype_version)
            .order_by("line").values_list("a_1", "a_2", "b_1", "b_2", "drb1_1", "drb1_2"))
    return [((a1, a2), (b1, b2), (d1, d2)) for a1, a2, b1, b2, d1, d2 in rows]


@dataclass(frozen=True)
class TableSummary:
    haplotypes: int
    frequency_total: Decimal
    cohort_size: int


def table_summaries(population_list: Iterable[Population]) -> dict[int, TableSummary]:
    """``{population id: TableSummary}`` of the tables in force (two queries whatever the number of populations)."""
    found = {p.pk: p for p in population_list}
    if not found:
        return {}

    def in_force(attribute: str) -> Q:  # only the rows of each population's version in force (never the old ones)
        return reduce(or_, (Q(population_id=pk, version=getattr(p, attribute)) for pk, p in found.items()))

    totals = {row["population"]: row for row in HaplotypeFrequency.objects.filter(in_force("haplotype_version"))
              .values("population").annotate(n=Count("pk"), total=Sum("frequency"))}
    sizes = {row["population"]: row["n"] for row in CohortGenotype.objects.filter(in_force("genotype_version"))
             .values("population").annotate(n=Count("pk"))}
    return {pk: TableSummary(haplotypes=totals.get(pk, {}).get("n", 0),
                             frequency_total=totals.get(pk, {}).get("total") or Decimal(0),
                             cohort_size=sizes.get(pk, 0)) for pk in found}


# --- figures ----------------------------------------------------------------------------------------------------


def pct(fraction: Decimal | float | int) -> float:
    """A fraction as a percentage rounded to 2 decimals (half up): ``0.2775`` → ``27.75``."""
    return float((Decimal(str(fraction)) * 100).quantize(_CENT, rounding=ROUND_HALF_UP))


def haplotype_coverage(total_frequency: Decimal) -> Decimal:
    """``1 − (1 − Σf)²``: the share of the population carrying at least one of the haplotypes (Hardy–Weinberg)."""
    total = min(max(Decimal(total_frequency), Decimal(0)), Decimal(1))
    return 1 - (1 - total) ** 2


def explanations(population: Population, definition: str, *, cohort_size: int | None = None) -> dict[str, str]:
    """The words a page prints under every figure: the definition, the resolution and which lines count."""
    if definition == CoverageDefinition.GENOTYPE:
        text = _("Genotype definition: the share of the typed cohort of %(population)s (%(n)s people) with no "
                 "host-versus-graft mismatch at HLA-A, -B and -DRB1 with at least one banked line.") % {
            "population": population.name, "n": cohort_size if cohort_size is not None else "?"}
    else:
        text = _("Haplotype definition: a recipient is covered by a line homozygous for haplotype h at HLA-A, -B "
                 "and -DRB1 when one of their two haplotypes is h; a set H of distinct haplotypes covers "
                 "1 − (1 − Σ f_h)² of %(population)s (Hardy–Weinberg), with the frequencies f_h of its haplotype "
                 "table (%(source)s).") % {"population": population.name, "source": population.source}
    if population.resolution == HLAResolution.ONE_FIELD:
        resolution = _("Resolution: 1-field (allele group, e.g. A*24). A*24 matches any A*24:xx; a line typed at 2 "
                       "fields counts by its allele groups.")
    else:
        resolution = _("Resolution: 2-field (protein, e.g. A*24:02). Alleles are compared at two fields; a line "
                       "typed at 1 field only cannot be placed and does not count.")
    lines = _("Lines counted: released lines and public cord blood units (not on hold, recalled or withdrawn) whose "
              "donor is homozygous at HLA-A, -B and -DRB1 at this resolution. Percentages are rounded to 2 "
              "decimals.")
    return {"definition_text": text, "resolution_text": resolution, "lines_text": lines}


@dataclass(frozen=True)
class LineGain:
    cell_line: int
    name: str
    cell_type: str
    haplotype: str
    gain_pct: float


@dataclass
class Coverage:
    """The bank's coverage of a population by one definition, with each line's contribution and the curve."""

    population: Population
    definition: str
    lines: int
    coverage_pct: float
    per_line: Sequence[LineGain]
    curve: Sequence[dict]
    texts: dict[str, str] = field(default_factory=dict)


def _no_table(population: Population, definition: str) -> Conflict:
    if definition == CoverageDefinition.GENOTYPE:
        return Conflict(_("%(population)s has no typed cohort yet: upload one (POST "
                          "/hla/populations/%(id)s/genotypes/) or use the haplotype definition.") % {
            "population": population.name, "id": population.pk}, code="no_cohort")
    return Conflict(_("%(population)s has no haplotype table yet: upload one (POST "
                      "/hla/populations/%(id)s/haplotypes/) first.") % {"population": population.name,
                                                                        "id": population.pk},
                    code="no_haplotype_table")


def _curve(order: list[tuple[LineHaplotype, Decimal]]) -> tuple[list[LineGain], list[dict]]:
    """Each line's gain (the difference of the unrounded cumulative figures) and the cumulative curve."""
    per_line, curve, previous = [], [], Decimal(0)
    for count, (line, cumulative) in enumerate(order, start=1):
        per_line.append(LineGain(line.cell_line, line.name, line.cell_type, line.haplotype, pct(cumulative - previous)))
        curve.append({"lines": count, "coverage_pct": pct(cumulative)})
        previous = cumulative
    return per_line, curve


def _haplotype_order(lines: list[LineHaplotype], table: dict[str, Decimal]) -> list[tuple[LineHaplotype, Decimal]]:
    """Greedy order under the haplotype definition: ``(line, cumulative coverage)``. The line adding the most
    frequent haplotype not yet banked comes first; one per haplotype adds, the others add 0."""
    ranked = sorted(lines, key=lambda ln: (-table.get(ln.haplotype, 0), ln.name, ln.cell_line))
    adding, zero, banked = [], [], set()
    for line in ranked:
        if table.get(line.haplotype, 0) > 0 and line.haplotype not in banked:
            banked.add(line.haplotype)
            adding.append(line)
        else:
            zero.append(line)
    zero.sort(key=lambda ln: (ln.name, ln.cell_line))
    order, total = [], Decimal(0)
    for line in adding:
        total += table[line.haplotype]
        order.append((line, haplotype_coverage(total)))
    final = haplotype_coverage(total)
    order += [(line, final) for line in zero]
    return order


class _CohortIndex:
    """The cohort as bitsets: for each A~B~DRB1 haplotype that would cover someone, the people it covers (a
    person with A {a1, a2}, B {b1, b2}, DRB1 {d1, d2} accepts a line homozygous for any of the ≤ 8 combinations
    ``a~b~d``: no host-versus-graft mismatch at the three loci)."""

    def __init__(self, persons) -> None:
        self.size = len(persons)
        covers: dict[str, int] = defaultdict(int)
        for index, (a_pair, b_pair, d_pair) in enumerate(persons):
            bit = 1 << index
            for a, b, d in product(set(a_pair), set(b_pair), set(d_pair)):
                covers[f"{a}~{b}~{d}"] |= bit
        self.covers = dict(covers)

    def people(self, haplotype: str) -> int:
        return self.covers.get(haplotype, 0)

    def union(self, haplotypes: Iterable[str]) -> int:
        found = 0
        for haplotype in haplotypes:
            found |= self.people(haplotype)
        return found

    def share(self, bits: int) -> Decimal:
        return Decimal(bits.bit_count()) / Decimal(self.size) if self.size else Decimal(0)


def _genotype_order(lines: list[LineHaplotype], index: _CohortIndex) -> list[tuple[LineHaplotype, Decimal]]:
    """Greedy set cover (lazy evaluation): the line covering most people not yet covered comes next."""
    first_line: dict[str, LineHaplotype] = {}
    for line in sorted(lines, key=lambda ln: (ln.name, ln.cell_line)):
        first_line.setdefault(line.haplotype, line)
    heap = [(-index.people(h).bit_count(), line.name, line.cell_line, h) for h, line in first_line.items()]
    heapq.heapify(heap)
    covered, adding = 0, []
    while heap:
        _stale, name, pk, haplotype = heapq.heappop(heap)
        gain = (index.people(haplotype) & ~covered).bit_count()
        if gain == 0:
            continue
        entry = (-gain, name, pk, haplotype)
        if heap and entry > heap[0]:  # its gain fell below the next one's (an upper bound): look again later
            heapq.heappush(heap, entry)
            continue
        covered |= index.people(haplotype)
        adding.append((first_line[haplotype], index.share(covered)))
    chosen = {line.cell_line for line, _share in adding}
    final = index.share(covered)
    zero = sorted((ln for ln in lines if ln.cell_line not in chosen), key=lambda ln: (ln.name, ln.cell_line))
    return adding + [(line, final) for line in zero]


def coverage(population: Population, definition: str = CoverageDefinition.HAPLOTYPE) -> Coverage:
    """The bank's coverage of ``population``: lines that count and are homozygous, each line's gain in greedy
    order, the cumulative curve. 409 ``no_haplotype_table`` / ``no_cohort`` when the table the definition needs is
    missing. Queries: the history stamp (1), then, unless kept (``kept``) for this population's table in force and
    the same stamp, the table or cohort (1) and the homozygous lines (1)."""
    if definition == CoverageDefinition.GENOTYPE:
        version, missing = population.genotype_version, not population.genotype_version
    else:
        version, missing = population.haplotype_version, not population.haplotype_version
    if missing:
        raise _no_table(population, definition)
    figures = kept(("coverage", population.pk, population.resolution, str(definition), version),
                   lambda: _coverage_figures(population, definition))
    if figures is None:  # the table in force holds no rows (never kept by an upload; a hand-edited database)
        raise _no_table(population, definition)
    lines, total, per_line, curve, size = figures
    return Coverage(population=population, definition=str(definition), lines=lines, coverage_pct=pct(total),
                    per_line=per_line, curve=curve, texts=explanations(population, definition, cohort_size=size))


def _coverage_figures(population: Population, definition: str) -> tuple | None:
    """``(lines, total, per_line, curve, cohort size)`` — the language-free part of ``coverage`` — or None without
    a table."""
    if definition == CoverageDefinition.GENOTYPE:
        persons = cohort(population)
        if not persons:
            return None
        order = _genotype_order(list(homozygous_lines(population)), _CohortIndex(persons))
        size = len(persons)
    else:
        table = haplotype_table(population)
        if not table:
            return None
        order = _haplotype_order(list(homozygous_lines(population)), table)
        size = None
    total = order[-1][1] if order else Decimal(0)
    per_line, curve = _curve(order)
    return len(order), total, tuple(per_line), tuple(curve), size


# --- planning ---------------------------------------------------------------------------------------------------


def clean_haplotype(value, resolution: str) -> str:
    """``"A*24:02~B*52:01~DRB1*15:02"`` at ``resolution``; ``ValueError`` with a message otherwise."""
    parts = [part.strip() for part in str(value if value is not None else "").split("~")]
    if len(parts) != len(HAPLOTYPE_LOCI) or not all(parts):
        raise ValueError(_("“%(value)s” is not an A~B~DRB1 haplotype: write it like A*24:02~B*52:01~DRB1*15:02.")
                         % {"value": value})
    return "~".join(parse_allele(part, locus=locus, resolution=resolution)
                    for part, locus in zip(parts, HAPLOTYPE_LOCI, strict=True))


def clean_haplotypes(values, resolution: str, field_name: str = "haplotypes") -> list[str]:
    """A list of haplotypes at ``resolution`` (order kept, repeats dropped); a ``ValidationError`` on
    ``field_name`` listing every bad one."""
    if values is None:
        return []
    if not isinstance(values, list | tuple):
        raise ValidationError({field_name: [_("Give a list of A~B~DRB1 haplotypes.")]})
    found, problems = [], []
    for value in values:
        try:
            haplotype = clean_haplotype(value, resolution)
        except ValueError as exc:
            problems.append(str(exc))
            continue
        if haplotype not in found:
            found.append(haplotype)
    if problems:
        raise ValidationError({field_name: problems})
    return found


@dataclass(frozen=True)
class Candidate:
    haplotype: str
    gain_pct: float
    frequency: Decimal | None = None


@dataclass
class Simulation:
    """A planned set of haplotypes (with or without the bank's own) and what to bank next."""

    population: Population
    definition: str
    haplotypes: list[str]
    bank_haplotypes: list[str]
    coverage_pct: float
    next_best: list[Candidate]
    texts: dict[str, str] = field(default_factory=dict)


def simulate(population: Population, haplotypes: Iterable[str], *, include_bank: bool = False,
             definition: str = CoverageDefinition.HAPLOTYPE) -> Simulation:
    """Coverage of a planned set of haplotypes (already at the population's resolution: ``clean_haplotypes``), with
    the bank's homozygous lines too when ``include_bank``, and the ``NEXT_BEST`` haplotypes not in the set that
    would add most, highest gain first. 409 ``no_haplotype_table`` / ``no_cohort`` as ``coverage``."""
    planned = list(dict.fromkeys(haplotypes))
    banked = sorted({line.haplotype for line in homozygous_lines(population)}) if include_bank else []
    chosen = set(planned) | set(banked)
    if definition == CoverageDefinition.GENOTYPE:
        persons = cohort(population)
        if not persons:
            raise _no_table(population, definition)
        index = _CohortIndex(persons)
        covered = index.union(chosen)
        total = index.share(covered)
        table = haplotype_table(population)
        pool = table or index.covers
        gains = [(index.share(index.people(h) & ~covered), h) for h in pool if h not in chosen]
        # Equal gains: the more frequent haplotype (when the table knows it) first, then by name.
        best = sorted(gains, key=lambda item: (-item[0], -table.get(item[1], 0), item[1]))[:NEXT_BEST]
        candidates = [Candidate(h, pct(gain), table.get(h)) for gain, h in best]
        size = len(persons)
    else:
        table = haplotype_table(population)
        if not table:
            raise _no_table(population, definition)
        covered_frequency = sum((table.get(h, Decimal(0)) for h in chosen), Decimal(0))
        total = haplotype_coverage(covered_frequency)
        best = sorted(((f, h) for h, f in table.items() if h not in chosen), key=lambda item: (-item[0], item[1]))
        candidates = [Candidate(h, pct(haplotype_coverage(covered_frequency + f) - total), f)
                      for f, h in best[:NEXT_BEST]]
        size = None
    return Simulation(population=population, definition=str(definition), haplotypes=planned, bank_haplotypes=banked,
                      coverage_pct=pct(total), next_best=candidates,
                      texts=explanations(population, definition, cohort_size=size))


# --- recruitment ------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Recruit:
    """A registered donor homozygous for a haplotype: what a coordinator needs to plan the contact, never who
    the donor is (the code only; the identity stays on the donor's page, for those allowed)."""

    donor: int
    code: str
    donor_type: str
    population: str
    may_recontact: bool
    banked: bool


def recruitment_list(population: Population, haplotype: str, *, limit: int = RECRUITMENT_LIMIT) -> list[Recruit]:
    """Registered donors homozygous for ``haplotype`` (at the population's resolution) who are typed, consented
    (``donors.queries.consent_state`` active) and eligible (``donors.queries.eligibility_of``), by code, at most
    ``limit``. ``may_recontact``: their consent names ``recontact``; ``banked``: a line of theirs counts already.

    Candidates come from the partial index of homozygous donors and are judged in batches, each in a fixed number
    of queries (donors, consents, current results, newest collections, their banked lines), plus the panel (2)."""
    column = haplotype_field(population.resolution, prefix="hla_key__")
    candidates = (Donor.objects.filter(**{column: haplotype}, consent_withdrawn_at__isnull=True).order_by("code"))
    panel = PanelConfig.load()
    found: list[Recruit] = []
    batch, offset = 500, 0
    while len(found) < limit:
        donors = list(candidates[offset:offset + batch].prefetch_related(
            Prefetch("consents", queryset=Consent.objects.order_by("pk"))))
        if not donors:
            break
        offset += batch
        banked = set(bank_lines().filter(donor_id__in=[d.pk for d in donors]).values_list("donor_id", flat=True))
        eligibility = eligibility_of(donors, panel)
        for donor in donors:
            if consent_state(donor) != ConsentState.ACTIVE or not eligibility[donor.pk].is_eligible:
                continue
            found.append(Recruit(donor=donor.pk, code=donor.code, donor_type=donor.donor_type,
                                 population=donor.population,
                                 may_recontact=ConsentScope.RECONTACT in consent_scopes(donor),
                                 banked=donor.pk in banked))
            if len(found) >= limit:
                break
        if len(donors) < batch:
            break
    return found
