"""HLA typing: WHO allele nomenclature, validation per locus and recording a donor's typing."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from bank.audit import acting
from donors.choices import ALL_HLA_LOCI, HLA_LOCI, OPTIONAL_HLA_LOCI, HLAMethod, HLAResolution
from donors.models import Donor, HLATyping

from ._input import _as_date, _Errors, _not_future_date, _text

# --- HLA ----------------------------------------------------------------------------------------

# WHO nomenclature for HLA factors (Marsh et al.): locus*allele-group[:specific protein], here at 1 or
# 2 fields. A first field has 2 digits (3 for a few B*/C* groups is not in use for these loci), a
# second field 2 to 4 digits. Expression suffixes and 3rd/4th fields are outside what the bank stores.
# DPB1 allele groups run past 99 (DPB1*104:01): for DPB1 only, the first field has 2 or 3 digits.
ALLELE_RE = re.compile(r"^(?:HLA-)?(?P<locus>A|B|C|DRB1|DQB1|DPB1)\*(?P<group>\d{2,3})(?::(?P<protein>\d{2,4}))?$")


def parse_allele(locus: str, value: Any) -> tuple[str, int]:
    """``("A*24:02", 2)`` for a valid allele of ``locus``; raises ValueError with a message otherwise."""
    text = _text(value).upper()
    if not text:
        raise ValueError(_("Enter two alleles for HLA-%(locus)s (repeat the allele when homozygous).") % {
            "locus": locus})
    match = ALLELE_RE.match(text)
    if match is not None and len(match["group"]) == 3 and match["locus"] != "DPB1":
        match = None
    if match is None:
        raise ValueError(_("“%(value)s” is not WHO nomenclature. Write %(locus)s*24 (1-field) or %(locus)s*24:02 "
                           "(2-field).") % {"value": _text(value), "locus": locus})
    if match["locus"] != locus:
        raise ValueError(_("“%(value)s” is an HLA-%(other)s allele, not HLA-%(locus)s.") % {
            "value": _text(value), "other": match["locus"], "locus": locus})
    normal = f"{locus}*{match['group']}" + (f":{match['protein']}" if match["protein"] else "")
    return normal, 2 if match["protein"] else 1


def _blank(pair: Any) -> bool:
    values = pair if isinstance(pair, list | tuple) else [pair]
    return not any(_text(value) for value in values)


def clean_hla(alleles: Any, errors: _Errors) -> tuple[dict[str, list[str]], int]:
    """Validated alleles per locus and the lowest number of fields among them. An optional locus (DPB1) is
    validated when given and left out of the result when absent or blank."""
    if not isinstance(alleles, Mapping):
        errors.add("alleles", _("Give two alleles for each of A, B, C, DRB1 and DQB1."))
        return {}, 0
    cleaned: dict[str, list[str]] = {}
    lowest = 2
    unknown = sorted(str(k) for k in alleles if k not in ALL_HLA_LOCI)
    if unknown:
        errors.add("alleles", _("Unknown locus %(loci)s; give A, B, C, DRB1 and DQB1 (and DPB1 when typed).")
                   % {"loci": ", ".join(unknown)})
    for locus in ALL_HLA_LOCI:
        pair = alleles.get(locus)
        if locus in OPTIONAL_HLA_LOCI and _blank(pair):
            continue
        if isinstance(pair, str):
            pair = [pair]
        if not isinstance(pair, list | tuple) or len(pair) != 2:
            errors.add(locus, _("Enter two alleles for HLA-%(locus)s (repeat the allele when homozygous).") % {
                "locus": locus})
            continue
        normalised = []
        for position, value in enumerate(pair, start=1):
            try:
                allele, fields = parse_allele(locus, value)
            except ValueError as exc:
                errors.add(locus, _("Allele %(n)s: %(problem)s") % {"n": position, "problem": exc})
                continue
            normalised.append(allele)
            lowest = min(lowest, fields)
        if len(normalised) == 2:
            cleaned[locus] = normalised
    return cleaned, lowest


def set_hla(donor: Donor, *, actor, alleles: Mapping[str, Any], method: str = "", resolution: str | None = None,
            typed_on: Any = None, laboratory: str = "", reason: str = "") -> HLATyping:
    """Record (or replace) the donor's registration HLA typing; homozygous loci follow from the alleles. The
    replaced version stays in the typing's history (never lost); DPB1 is optional. The donor's HLA lookup keys
    (``donors.HLAKey``, read by the haplobank's match search and coverage) follow in the same transaction: the
    save's receiver in ``donors.hla_index``."""
    errors = _Errors()
    cleaned, lowest = clean_hla(alleles, errors)
    method = _text(method).lower()
    if method and method not in HLAMethod.values:
        errors.add("method", _("Choose a typing method: %(choices)s.") % {"choices": ", ".join(HLAMethod.values)})
    computed = HLAResolution.TWO_FIELD if lowest == 2 else HLAResolution.ONE_FIELD
    resolution = _text(resolution) or computed
    if resolution not in HLAResolution.values:
        errors.add("resolution", _("Choose 1-field or 2-field."))
    elif cleaned and all(locus in cleaned for locus in HLA_LOCI) and resolution != computed:
        errors.add("resolution", _("The alleles are %(computed)s; the resolution must say so.") % {
            "computed": computed})
    day = _as_date(typed_on, "typed_on", errors, required=False)
    _not_future_date(day, "typed_on", errors, _("The typing date"))
    laboratory = _text(laboratory)
    if len(laboratory) > 200:
        errors.add("laboratory", _("Keep the laboratory under 200 characters."))
    errors.raise_if_any()
    values = {f"{locus.lower()}_{i + 1}": cleaned[locus][i] for locus in HLA_LOCI for i in range(2)}
    for locus in OPTIONAL_HLA_LOCI:
        # Left out of the input (a client that predates the locus): the stored alleles stay; given blank: cleared.
        if locus in alleles or locus in cleaned:
            pair = cleaned.get(locus, ["", ""])
            values.update({f"{locus.lower()}_1": pair[0], f"{locus.lower()}_2": pair[1]})
    values.update(method=method, resolution=resolution, typed_on=day, laboratory=laboratory)
    with transaction.atomic(), acting(actor, reason or _("HLA typing recorded")):
        locked = Donor.objects.select_for_update().get(pk=donor.pk)
        typing = HLATyping.objects.filter(donor=locked).first()
        if typing is None:
            return HLATyping.objects.create(donor=locked, recorded_by=actor, **values)
        changed = [name for name, value in values.items() if getattr(typing, name) != value]
        for name in changed:
            setattr(typing, name, values[name])
        typing.recorded_by, typing.recorded_at = actor, timezone.now()
        typing.save(update_fields=[*changed, "recorded_by", "recorded_at"])
        return typing
