"""HLA allele names read with ``mhcgnomes`` (a maintained nomenclature parser that works offline), normalised to
what the bank stores and compares: ``A*24:02`` (2-field) or ``A*24`` (1-field, the allele group).

``mhcgnomes`` reads what people write (``HLA-A*24:02``, ``A*2402``, ``a*24:02:01:01``, ``A*02:01:01G``) and says
which gene an allele belongs to; the result is then held to the bank's own shape of a stored allele
(``donors.services.parse_allele``: two-digit groups except DPB1, a 2–4 digit second field), so a table's alleles
compare with the donors' typings string for string.

Resolution rules (a table has one resolution, its population's):

* finer than the table (a 3rd or 4th field, or a 2-field allele in a 1-field table) → cut to the table's fields
  (``A*24:02:01:01`` → ``A*24:02``; ``A*24:02`` in a 1-field table → ``A*24``);
* coarser than the table (``A*24`` in a 2-field table) → refused: which protein was meant is unknown;
* a G or P group name counts as its first fields (``A*02:01:01G`` → ``A*02:01``); an expression suffix (N null,
  L, S, C, A, Q) is refused: such an allele is not the antigen a 2-field name stands for.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

from django.utils.translation import gettext as _

from donors.choices import HLAResolution

FIELDS = {HLAResolution.ONE_FIELD: 1, HLAResolution.TWO_FIELD: 2}
GROUP_ANNOTATIONS = frozenset({"G", "P"})


@dataclass(frozen=True)
class _Parsed:
    gene: str = ""
    fields: tuple[str, ...] = ()
    annotations: tuple[str, ...] = ()
    kind: str = ""  # "allele", or what mhcgnomes found instead ("serotype", "pair", ...); "" when it could not parse
    species: str = ""


@functools.lru_cache(maxsize=1)
def _mhcgnomes():
    # Imported on first use: the package loads its nomenclature tables (about a second), which a page or a
    # command that never reads an HLA table should not pay.
    import mhcgnomes

    return mhcgnomes


@functools.lru_cache(maxsize=20_000)
def _parse(text: str) -> _Parsed:
    """What ``mhcgnomes`` makes of ``text`` (cached: a table repeats the same few hundred alleles)."""
    mhcgnomes = _mhcgnomes()
    try:
        result = mhcgnomes.parse(text)
    except Exception:  # ParseError, or anything else the parser trips on: the name does not parse
        return _Parsed()
    if not isinstance(result, mhcgnomes.Allele):
        return _Parsed(kind=type(result).__name__.lower())
    species = getattr(getattr(result, "species", None), "name", "") or ""
    return _Parsed(gene=result.gene.name, fields=tuple(result.allele_fields),
                   annotations=tuple(result.annotations or ()), kind="allele", species=species)


def parse_allele(value, *, locus: str, resolution: str | None = None) -> str:
    """``value`` as a stored allele of ``locus`` at ``resolution`` (``"1-field"``/``"2-field"``; None keeps the
    fields given, up to two). Raises ``ValueError`` with a message saying what to write instead."""
    from donors.services import parse_allele as bank_allele

    text = str(value if value is not None else "").strip()
    if not text:
        raise ValueError(_("An HLA-%(locus)s allele is missing. Write it like %(locus)s*24:02.") % {"locus": locus})
    parsed = _parse(text)
    if parsed.kind == "serotype":
        raise ValueError(_("“%(value)s” is a serological antigen, not an allele name. Write the allele, e.g. "
                           "%(locus)s*24 or %(locus)s*24:02.") % {"value": text, "locus": locus})
    if parsed.kind != "allele":
        raise ValueError(_("“%(value)s” is not an HLA allele name. Write it like %(locus)s*24:02 (WHO "
                           "nomenclature).") % {"value": text, "locus": locus})
    if parsed.species != "Homo sapiens":
        raise ValueError(_("“%(value)s” is not a human (HLA) allele. Write an HLA-%(locus)s allele, e.g. "
                           "%(locus)s*24:02.") % {"value": text, "locus": locus})
    if parsed.gene != locus:
        raise ValueError(_("“%(value)s” is an HLA-%(gene)s allele; this position takes HLA-%(locus)s. Check the "
                           "order of the loci.") % {"value": text, "gene": parsed.gene, "locus": locus})
    expression = [a for a in parsed.annotations if a not in GROUP_ANNOTATIONS]
    if expression:
        raise ValueError(_("“%(value)s” carries the expression suffix %(suffix)s (a null or non-surface allele); "
                           "leave it out of the table or give the expressed allele.") % {
            "value": text, "suffix": ", ".join(expression)})
    wanted = FIELDS.get(resolution, min(len(parsed.fields), 2))
    if len(parsed.fields) < wanted:
        raise ValueError(_("“%(value)s” has %(given)s field(s); this table is %(resolution)s. Give at least "
                           "%(wanted)s fields, e.g. %(locus)s*24:02.") % {
            "value": text, "given": len(parsed.fields), "resolution": resolution, "wanted": wanted, "locus": locus})
    name = f"{locus}*{':'.join(parsed.fields[:wanted])}"
    try:
        return bank_allele(locus, name)[0]  # the bank's shape of a stored allele (two-digit groups, ...)
    except ValueError as exc:
        raise ValueError(_("“%(value)s”: %(problem)s") % {"value": text, "problem": exc}) from None


def full_name(value, *, locus: str) -> str:
    """A name that ``parse_allele`` accepts, with every field and suffix it was given (``"A*2402"`` →
    ``"A*24:02"``, ``"HLA-A*02:01:01G"`` → ``"A*02:01:01G"``): tells two spellings of one allele from two alleles."""
    parsed = _parse(str(value if value is not None else "").strip())
    return f"{locus}*{':'.join(parsed.fields)}{''.join(parsed.annotations)}"


def at_resolution(allele: str, resolution: str) -> str | None:
    """A stored allele (``A*24:02``) at ``resolution``: its group for 1-field; itself for 2-field when typed at two
    fields; None when it is coarser than ``resolution`` (a 1-field typing cannot say which 2-field allele it is)."""
    allele = str(allele or "")
    if not allele:
        return None
    if resolution == HLAResolution.ONE_FIELD:
        return allele.split(":", 1)[0]
    return allele if ":" in allele else None
