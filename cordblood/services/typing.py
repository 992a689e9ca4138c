"""Verification (confirmatory) HLA typing of a cord blood unit, kept apart from the infant donor's registration
typing (``donors.HLATyping``) and never overwritten: each typing of a unit's sample is a new
``VerificationTyping`` row, compared with the registration typing at every locus both have.

A discordant typing blocks the unit's release: qc asks the ``release_blockers`` hook (qc must not import
cordblood), which :func:`register` connects to :func:`release_blockers`.
"""

from __future__ import annotations

import datetime
from collections.abc import Mapping
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from bank.audit import acting
from bank.errors import Conflict
from cordblood.models import CordBloodUnit, VerificationTyping
from donors.models import HLATyping
from donors.services import parse_allele
from lots.choices import Tier, VialKind, VialStatus
from lots.models import Vial
from lots.queries import sample_kinds
from lots.services import change_vial_status
from storage.services import remove_from_storage

# What a verification typing may be done on: lots' test samples of a unit, a segment or a reference vial of
# cells (a culture lot's plain ``vial`` is not a cord blood sample, and the bag is the product).
TYPING_SAMPLE_KINDS = sample_kinds(Tier.UNIT)
TYPING_LOCI = ("A", "B", "C", "DRB1", "DQB1", "DPB1")


def _fields(allele: str) -> list[str]:
    """``"A*24:02"`` → ``["24", "02"]`` (the locus prefix and any ``HLA-`` dropped)."""
    text = str(allele or "").strip().upper()
    if text.startswith("HLA-"):
        text = text[4:]
    if "*" in text:
        text = text.split("*", 1)[1]
    return [part for part in text.split(":") if part]


def alleles_match(first: str, second: str) -> bool:
    """Whether two alleles agree at the lower resolution of the two: A*24 matches A*24:02, A*24:02 does not
    match A*24:03."""
    a, b = _fields(first), _fields(second)
    depth = min(len(a), len(b))
    if depth == 0:
        return False
    return a[:depth] == b[:depth]


def _pair_matches(left: list[str], right: list[str]) -> bool:
    """Two alleles of a locus against two others, in either order."""
    if len(left) != 2 or len(right) != 2:
        return False
    straight = alleles_match(left[0], right[0]) and alleles_match(left[1], right[1])
    crossed = alleles_match(left[0], right[1]) and alleles_match(left[1], right[0])
    return straight or crossed


def clean_alleles(alleles: Any) -> dict[str, list[str]]:
    """Alleles per locus in WHO nomenclature (``donors.services.parse_allele``): any of A, B, C, DRB1, DQB1 and
    DPB1, two per locus (one allele given means homozygous). A confirmatory typing may cover fewer loci than the
    registration (e.g. A, B, DRB1). Raises ValidationError naming the locus."""
    if not isinstance(alleles, Mapping) or not alleles:
        raise ValidationError({"alleles": [_("Give the alleles typed, per locus (A, B, C, DRB1, DQB1, DPB1).")]})
    errors: dict[str, list[str]] = {}
    cleaned: dict[str, list[str]] = {}
    for key, pair in alleles.items():
        locus = str(key).strip().upper().removeprefix("HLA-")
        if locus not in TYPING_LOCI:
            errors.setdefault("alleles", []).append(
                _("Unknown locus %(locus)s; type A, B, C, DRB1, DQB1 or DPB1.") % {"locus": key})
            continue
        values = [pair] if isinstance(pair, str) else list(pair) if isinstance(pair, list | tuple) else []
        values = [v for v in values if str(v or "").strip()]
        if len(values) == 1:
            values = values * 2
        if len(values) != 2:
            errors.setdefault(locus, []).append(
                _("Enter two alleles for HLA-%(locus)s (repeat the allele when homozygous).") % {"locus": locus})
            continue
        normalised = []
        for value in values:
            try:
                normalised.append(parse_allele(locus, value)[0])
            except ValueError as exc:
                errors.setdefault(locus, []).append(str(exc))
        if len(normalised) == 2:
            cleaned[locus] = normalised
    if errors:
        raise ValidationError(errors)
    return cleaned


def discordant_loci(verification: Mapping[str, list[str]], registration: Mapping[str, list[str]]) -> list[str]:
    """The loci both typings have at which they disagree (at the lower resolution of the two)."""
    loci = [locus for locus in TYPING_LOCI if locus in verification]
    loci += sorted(locus for locus in verification if locus not in TYPING_LOCI)
    return [locus for locus in loci if registration.get(locus)
            and not _pair_matches(list(verification[locus]), list(registration[locus]))]


def registration_alleles(unit: CordBloodUnit) -> dict[str, list[str]]:
    """The infant donor's registration typing ({} when the infant was never typed)."""
    typing = HLATyping.objects.filter(donor_id=unit.donation.infant_id).first()
    if typing is None:
        return {}
    return {locus: pair for locus, pair in typing.alleles().items() if all(pair)}


def _sample(sample) -> Vial:
    if isinstance(sample, Vial):
        return Vial.objects.select_for_update().get(pk=sample.pk)
    found = Vial.objects.select_for_update().filter(barcode=str(sample or "").strip()).first()
    if found is None:
        raise ValidationError({"sample": [_("No vial has the barcode %(code)s. Scan the sample's label again.")
                                          % {"code": sample}]})
    return found


def record_verification(unit: CordBloodUnit, alleles: Mapping[str, Any], *, sample: Vial, laboratory: str = "",
                        typed_on: datetime.date, actor) -> VerificationTyping:
    """Record a verification typing of ``unit`` done on ``sample`` (a segment or reference vial of the unit's
    lot, never the bag: 409 ``bag_not_a_sample``) and whether it agrees with the infant's registration typing at
    every locus both have, at the lower resolution of the two. Never overwrites: each typing is a new row, and the
    registration typing is left as it is. ``sample`` is a Vial or its barcode; an available sample is used up
    (thawed out of storage), one already thawed for another test may be typed again."""
    cleaned = clean_alleles(alleles)
    with transaction.atomic(), acting(actor, _("Verification typing recorded")):
        locked = CordBloodUnit.objects.select_for_update().select_related("donation").get(pk=unit.pk)
        sample = _sample(sample)
        if locked.lot_id is None or sample.lot_id != locked.lot_id:
            raise ValidationError({"sample": [_("%(barcode)s is not one of unit %(din)s's containers.") % {
                "barcode": sample.barcode, "din": locked.din}]})
        if sample.kind == VialKind.BAG:
            raise Conflict(_("The bag is the product: type a segment or a reference vial of cells instead."),
                           code="bag_not_a_sample")
        if sample.kind not in TYPING_SAMPLE_KINDS:
            raise ValidationError({"sample": [_("Type a segment or a reference vial of cells, not a %(kind)s.") % {
                "kind": sample.get_kind_display()}]})
        if sample.status == VialStatus.AVAILABLE:
            reason = _("used for the verification typing of unit %(din)s") % {"din": locked.din}
            change_vial_status([sample], VialStatus.USED, actor=actor, reason=reason)
            remove_from_storage([sample], actor=actor, reason=reason)
        elif sample.status != VialStatus.USED:
            raise Conflict(_("%(vial)s is %(status)s and cannot be typed.") % {
                "vial": sample.barcode, "status": VialStatus(sample.status).label}, code="vial_unavailable")
        discordant = discordant_loci(cleaned, registration_alleles(locked))
        return VerificationTyping.objects.create(
            unit=locked, sample=sample, alleles=cleaned, laboratory=str(laboratory or "").strip()[:200],
            typed_on=typed_on, concordant=not discordant, discordant_loci=discordant, recorded_by=actor,
            recorded_at=timezone.now())


# --- release ----------------------------------------------------------------------------------------------


def latest_verifications(lot_ids) -> dict[int, VerificationTyping]:
    """The latest verification typing of the unit of each lot given, ``{lot id: typing}`` (one query)."""
    found: dict[int, VerificationTyping] = {}
    for typing in (VerificationTyping.objects.filter(unit__lot_id__in=list(lot_ids))
                   .select_related("unit", "sample").order_by("unit_id", "-typed_on", "-recorded_at", "-id")):
        found.setdefault(typing.unit.lot_id, typing)
    return found


def discordance_conflict(typing: VerificationTyping) -> Conflict:
    return Conflict(
        _("Unit %(din)s: the verification typing of %(date)s disagrees with the registration typing at %(loci)s. "
          "Investigate and type another sample before release.")
        % {"din": typing.unit.din, "date": typing.typed_on.isoformat(), "loci": ", ".join(typing.discordant_loci)},
        code="hla_discordant", loci=list(typing.discordant_loci), verification_typing=typing.pk)


def release_blockers(lots) -> dict[int, list[Conflict]]:
    """Receiver of the ``release_blockers`` hook: a unit whose latest verification typing is discordant may not
    be released (nor its hold lifted). No query when none of ``lots`` is a cord blood unit."""
    unit_lots = [lot.pk for lot in lots if lot.tier == Tier.UNIT]
    if not unit_lots:
        return {}
    return {lot_id: [discordance_conflict(typing)]
            for lot_id, typing in latest_verifications(unit_lots).items() if not typing.concordant}


def register() -> None:
    """Connect the receivers of this module (call from ``CordbloodConfig.ready()``; calling twice is harmless)."""
    from bank.registry import register_hook

    register_hook("release_blockers", release_blockers)
