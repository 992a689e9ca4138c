"""The patient match search: released lines and public cord blood units (``queries.bank_lines``) ranked for a
patient's typing at HLA-A, -B, -C, -DRB1 and -DQB1.

Counting (per locus the patient was typed at; a locus left out counts nothing):

* **HvG** (host versus graft: what the patient's immune system rejects) — the donor's alleles the patient does not
  carry; **GvH** (graft versus host) — the patient's alleles the donor does not carry. Counted apart.
* Alleles agree at the lower resolution of the two (cordblood's ``alleles_match``: ``A*24`` agrees with
  ``A*24:02``; ``A*24:02`` does not agree with ``A*24:03``). An untyped donor allele agrees with nothing.
* Distinct alleles are counted, so a homozygous locus counts once per direction (the usual convention): a donor
  ``A*02:01/A*02:01`` against a patient ``A*02:01/A*24:02`` is 0 HvG and 1 GvH; a donor ``A*01:01/A*01:01``
  against ``A*02:01/A*24:02`` is 1 HvG and 2 GvH. A locus counts 0–2 each way; five loci 0–10.
* Order: fewest HvG first (zero first), then fewest GvH, then by donor (registration order) and the
  line's name — a donor's lines stay together.

How it stays fast over a million typed units. ``donors.HLAKey`` holds one row of lookup keys per typed donor, with a
b-tree index per locus. A donor has no HvG mismatch at a locus only if its unordered genotype there is one of a few
values known from the patient's typing — ``p1/p1``, ``p1/p2``, ``p2/p2`` and their 1-field forms
(``zero_hvg_keys``): exact lookups. The search runs in tiers. Tier *k* is every donor with no HvG mismatch at all
but at most *k* of the patient's loci (``tier_sql``: the OR, over each choice of loci kept, of the AND of their
lookups — PostgreSQL's BitmapOr/BitmapAnd of index scans), so it holds every donor with at most *k* HvG mismatches.
Each tier is read in two phases:

1. on the lookup keys alone (``_ranked_donors``, one statement): exact HvG and GvH computed in SQL on that set from
   the keys themselves, sorted, and the first ``2 × limit + 20`` donors taken;
2. their lines that count (``bank_lines``, one query): released, not a family unit, consent standing; with the
   DIN of a cord blood unit.

The order is a total order on donors (HvG, GvH, donor), so lines of donors not read yet can only come after: once
``limit`` lines are found the page is exact; fewer, and the next page of donors is read (keyset), until the tier
runs out. When the ``limit``-th line has at most *k* HvG mismatches the ranking is exact and the search stops;
otherwise the next tier relaxes one more locus. The last tier keeps one locus, so a line with an HvG mismatch at
every one of the patient's loci is never listed.

Queries: two per tier read (a common typing needs tier 0 only). At the national profile (a million typed units) a
common typing takes a few milliseconds of database time (tier 0: a BitmapAnd of three or five index scans, a few
hundred candidate rows on a few dozen heap pages — ``fill_hla_keys`` writes the keys in genotype order).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from itertools import combinations, combinations_with_replacement

from django.core.exceptions import ValidationError
from django.db import connection
from django.db.models import OuterRef, Subquery
from django.utils.translation import gettext as _

from cordblood.models import CordBloodUnit
from cordblood.services.typing import alleles_match
from donors.hla_index import SEPARATOR, genotype_key, group_of, key_fields
from donors.models import HLAKey
from haplobank.alleles import parse_allele
from haplobank.queries import bank_lines

MATCH_LOCI = ("A", "B", "C", "DRB1", "DQB1")
# The loci from the least to the most polymorphic (in most populations): a patient's compatible genotypes at DQB1
# or A are shared by many donors, at B by few. Only the index reads of a search depend on it (``tier_sql``).
BROAD_FIRST = ("DQB1", "A", "C", "DRB1", "B")
REQUIRED_LOCI = ("A", "B", "DRB1")
DEFAULT_LIMIT, MAX_LIMIT = 50, 200

Patient = dict[str, tuple[str, str]]


# --- input ------------------------------------------------------------------------------------------------------


def clean_patient(data) -> Patient:
    """``{"A": ("A*24:02", "A*02:01"), ...}`` from the request body: A, B and DRB1 required, C and DQB1 optional;
    one allele given means homozygous. Names are read by ``haplobank.alleles`` (``HLA-A*24:02``, ``A*2402`` …) and
    kept at the fields given, up to two. ``ValidationError`` naming each bad locus."""
    if not isinstance(data, Mapping):
        raise ValidationError({"non_field_errors": [_("Send the patient's typing as {\"A\": [a1, a2], \"B\": [...], "
                                                      "\"DRB1\": [...], \"C\": [...], \"DQB1\": [...]}.")]})
    errors: dict[str, list[str]] = {}
    unknown = sorted(str(key) for key in data if key not in MATCH_LOCI and key != "limit")
    if unknown:
        errors["non_field_errors"] = [_("Unknown locus %(loci)s: type A, B, C, DRB1 and DQB1.") % {
            "loci": ", ".join(unknown)}]
    patient: Patient = {}
    for locus in MATCH_LOCI:
        value = data.get(locus)
        values = [value] if isinstance(value, str) else list(value) if isinstance(value, list | tuple) else []
        values = [v for v in values if str(v if v is not None else "").strip()]
        if not values:
            if locus in REQUIRED_LOCI:
                errors[locus] = [_("Give the patient's two HLA-%(locus)s alleles (one when homozygous).") % {
                    "locus": locus}]
            continue
        if len(values) > 2:
            errors[locus] = [_("Give at most two HLA-%(locus)s alleles.") % {"locus": locus}]
            continue
        try:
            alleles = [parse_allele(v, locus=locus) for v in values]
        except ValueError as exc:
            errors[locus] = [str(exc)]
            continue
        patient[locus] = (alleles[0], alleles[-1])
    if errors:
        raise ValidationError(errors)
    return patient


def clean_limit(value) -> int:
    """``?limit=`` (1 to ``MAX_LIMIT``, default ``DEFAULT_LIMIT``)."""
    if value in (None, ""):
        return DEFAULT_LIMIT
    try:
        limit = int(str(value).strip())
    except ValueError:
        limit = 0
    if not 1 <= limit <= MAX_LIMIT:
        raise ValidationError({"limit": [_("Ask for 1 to %(max)s results.") % {"max": MAX_LIMIT}]})
    return limit


# --- the counts, in Python (the reference) and in SQL ----------------------------------------------------------


def _distinct(pair) -> list[str]:
    return list(dict.fromkeys(str(a or "") for a in pair))


def locus_mismatches(donor_pair, patient_pair) -> tuple[int, int]:
    """``(HvG, GvH)`` at one locus (see the module): distinct donor alleles no patient allele agrees with, and the
    other way round. An untyped donor allele (blank) agrees with nothing."""
    donor, patient = _distinct(donor_pair), _distinct(patient_pair)
    hvg = sum(1 for d in donor if not any(d and alleles_match(d, p) for p in patient))
    gvh = sum(1 for p in patient if not any(d and alleles_match(d, p) for d in donor))
    return hvg, gvh


def mismatches(donor_hla: Mapping[str, list[str]], patient: Patient) -> tuple[int, int]:
    """``(HvG, GvH)`` over the loci the patient was typed at."""
    hvg = gvh = 0
    for locus, pair in patient.items():
        h, g = locus_mismatches(donor_hla.get(locus) or ["", ""], pair)
        hvg, gvh = hvg + h, gvh + g
    return hvg, gvh


# The counts in SQL, over one row of ``donors.HLAKey`` (the alleles of a locus are the two halves of its key). The
# statement is written out here rather than built by the ORM: it is the search's hot path, and compiling a few
# hundred CASE branches through the ORM cost as much as running them.


def _allele_sql(column: str, position: int, vendor: str) -> str:
    if vendor == "postgresql":
        return f"split_part({column}, '/', {int(position)})"
    if position == 1:
        return f"substr({column}, 1, instr({column}, '/') - 1)"
    return f"substr({column}, instr({column}, '/') + 1)"


def _agrees_sql(allele: str, patient_allele: str, params: list) -> str:
    """SQL twin of ``alleles_match(allele, patient_allele)`` (stored alleles are normalised, so the lower resolution
    of the two is a plain comparison): the same allele, a donor typed at one field in the patient allele's group,
    or — for a patient allele of one field — any allele of that group."""
    if ":" in patient_allele:
        params += [patient_allele, group_of(patient_allele)]
        return f"({allele} = %s OR {allele} = %s)"
    params += [patient_allele, f"{patient_allele}:%"]
    return f"({allele} = %s OR {allele} LIKE %s)"


def counts_sql(patient: Patient, vendor: str) -> tuple[str, str, list]:
    """``(hvg_sql, gvh_sql, params)``: ``mismatches`` as two SQL expressions over an ``HLAKey`` row (params in the
    order the two expressions use them: HvG first)."""
    hvg_parts, gvh_parts, hvg_params, gvh_params = ["0"], ["0"], [], []
    for locus, pair in patient.items():
        column = key_fields(locus)[0]
        first, second = _allele_sql(column, 1, vendor), _allele_sql(column, 2, vendor)
        alleles = _distinct(pair)
        carried_first = " OR ".join(_agrees_sql(first, p, hvg_params) for p in alleles)
        carried_second = " OR ".join(_agrees_sql(second, p, hvg_params) for p in alleles)
        hvg_parts.append(f"CASE WHEN {carried_first} THEN 0 ELSE 1 END")
        hvg_parts.append(f"CASE WHEN {second} = {first} OR {carried_second} THEN 0 ELSE 1 END")
        for p in alleles:
            found = f"{_agrees_sql(first, p, gvh_params)} OR {_agrees_sql(second, p, gvh_params)}"
            gvh_parts.append(f"CASE WHEN {found} THEN 0 ELSE 1 END")
    return " + ".join(hvg_parts), " + ".join(gvh_parts), hvg_params + gvh_params


# --- the index lookups ------------------------------------------------------------------------------------------


def zero_hvg_keys(locus: str, pair: tuple[str, str]) -> tuple[str, list[str]]:
    """``(column, keys)``: donors whose genotype at ``locus`` may have no HvG mismatch with ``pair`` have one of
    these few keys (exact lookups on the locus's index). Patient typed at 2 fields: the 2-field keys over
    {p1, p2, group(p1), group(p2)} (a donor typed at 1 field agrees with a patient allele of its group); typed at 1
    field at either allele: the group keys over {group(p1), group(p2)}, a superset that the exact count narrows."""
    key_column, group_column = key_fields(locus)
    first, second = pair
    if ":" in first and ":" in second:
        alleles, column = sorted({first, second, group_of(first), group_of(second)}), key_column
    else:
        alleles, column = sorted({group_of(first), group_of(second)}), group_column
    return column, sorted({genotype_key(x, y) for x, y in combinations_with_replacement(alleles, 2)})


def tier_sql(patient: Patient, relaxed: int) -> tuple[str, list]:
    """``(condition, params)``: donors with no HvG mismatch at all but at most ``relaxed`` of the patient's loci —
    every donor with at most ``relaxed`` HvG mismatches is one of them.

    "No HvG mismatch at ``kept`` of the ``n`` loci" is the exact condition (a sum of the loci's lookups, checked on
    the rows found); the index finds them through a superset. Every choice of ``kept`` loci is an OR of up to ten
    ANDs, and the database would read each locus's index once per AND. Instead the loci are split into ``kept - 1``
    groups: ``kept`` loci always hold two of one group (pigeonhole), so the OR over the pairs inside the groups
    finds every donor of the tier with each locus's index read at most twice — five loci, three kept: four pairs,
    eight index reads instead of thirty."""
    loci = [locus for locus in MATCH_LOCI if locus in patient]
    lookups = {locus: zero_hvg_keys(locus, patient[locus]) for locus in loci}
    kept = max(len(loci) - relaxed, 1)

    def lookup(locus: str, params: list) -> str:
        column, keys = lookups[locus]
        params += keys
        return f"{column} IN ({', '.join(['%s'] * len(keys))})"

    params: list = []
    if kept in (1, 2, len(loci)):  # one lookup, every pair, or all of them: already the exact condition
        terms = ["(" + " AND ".join(lookup(locus, params) for locus in chosen) + ")"
                 for chosen in combinations(loci, kept)]
        return " OR ".join(terms), params
    # The least polymorphic loci (large sets of compatible donors) in the smallest groups, so their indexes are
    # read least often: contiguous groups over that order, the first ones smaller.
    ordered = sorted(loci, key=BROAD_FIRST.index)
    count = kept - 1
    sizes = [len(ordered) // count + (1 if i >= count - len(ordered) % count else 0) for i in range(count)]
    groups, start = [], 0
    for size in sizes:
        groups.append(ordered[start:start + size])
        start += size
    pairs = [pair for group in groups for pair in combinations(group, 2)]
    index = " OR ".join("(" + " AND ".join(lookup(locus, params) for locus in pair) + ")" for pair in pairs)
    exact = " + ".join(f"(CASE WHEN {lookup(locus, params)} THEN 1 ELSE 0 END)" for locus in loci)
    return f"({index}) AND ({exact}) >= {int(kept)}", params


# --- the search -------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Match:
    cell_line: int
    name: str
    cell_type: str
    mismatches_hvg: int
    mismatches_gvh: int
    din: str | None
    hla: dict[str, list[str]]


def _ranked_donors(patient: Patient, relaxed: int, after: tuple | None, count: int) -> list[dict]:
    """Phase 1, on the lookup keys alone: the next ``count`` donors of tier ``relaxed`` in the search's order
    (HvG, GvH, donor), after ``after`` (that order's key of the last donor read). One statement."""
    hvg, gvh, count_params = counts_sql(patient, connection.vendor)
    condition, tier_params = tier_sql(patient, relaxed)
    columns = ", ".join(key_fields(locus)[0] for locus in MATCH_LOCI)
    page, page_params = "", []
    if after is not None:
        page = "WHERE hvg > %s OR (hvg = %s AND gvh > %s) OR (hvg = %s AND gvh = %s AND donor_id > %s)"
        h, g, donor = after
        page_params = [h, h, g, h, g, donor]
    sql = (f"SELECT donor_id, hvg, gvh, {columns} FROM ("  # noqa: S608 - values travel only as %s parameters
           f"SELECT donor_id, {columns}, {hvg} AS hvg, {gvh} AS gvh "
           f"FROM {HLAKey._meta.db_table} WHERE {condition}) ranked {page} "
           f"ORDER BY hvg, gvh, donor_id LIMIT %s")
    with connection.cursor() as cursor:
        cursor.execute(sql, [*count_params, *tier_params, *page_params, count])
        names = [column[0] for column in cursor.description]
        return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]


def match_lines(patient: Patient, *, user=None, limit: int = DEFAULT_LIMIT) -> list[Match]:
    """The ``limit`` best lines for ``patient`` among the lines that count (for ``user`` outside the bank: only
    those whose donor consented to data sharing), zero HvG first (see the module)."""
    loci = [locus for locus in MATCH_LOCI if locus in patient]
    if not loci:
        return []
    batch = 2 * limit + 20  # donors read per page of phase 1: most have a line that counts
    found: list[tuple] = []
    for relaxed in range(len(loci)):
        found, after = [], None
        while True:
            donors = _ranked_donors(patient, relaxed, after, batch)
            by_donor = {row["donor_id"]: row for row in donors}
            # Phase 2: the lines that count of these donors, with a unit's DIN (one query).
            din = CordBloodUnit.objects.filter(lot__cell_line_id=OuterRef("pk")).values("din")[:1]
            for pk, name, cell_type, donor_id, unit_din in (
                    bank_lines(user).filter(donor_id__in=list(by_donor)).annotate(unit_din=Subquery(din))
                    .values_list("pk", "name", "cell_type", "donor_id", "unit_din")):
                row = by_donor[donor_id]
                found.append((row["hvg"], row["gvh"], donor_id, name, pk, cell_type, unit_din, row))
            if len(found) >= limit or len(donors) < batch:
                break
            last = donors[-1]
            after = (last["hvg"], last["gvh"], last["donor_id"])
        found.sort(key=lambda item: item[:5])
        found = found[:limit]
        if len(found) == limit and found[-1][0] <= relaxed:
            break  # every donor not yet read has more than ``relaxed`` HvG mismatches, or ranks after these
    return [Match(cell_line=pk, name=name, cell_type=cell_type, mismatches_hvg=hvg, mismatches_gvh=gvh, din=din,
                  hla={locus: row[key_fields(locus)[0]].split(SEPARATOR, 1) for locus in MATCH_LOCI})
            for hvg, gvh, _donor, name, pk, cell_type, din, row in found]
