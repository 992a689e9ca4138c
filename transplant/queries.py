"""Reads of the transplant app shared by its pages and its API: who sees what, the unit search ranked by HLA
match and cell dose, and what a release for administration would be missing.

HLA match (NetCord-FACT / the usual cord blood rule): mismatches are counted at HLA-A and -B at antigen level
(the first field) and at DRB1 at allele level (two fields; a one-field typing counts at the lower resolution of
the two, as ``cordblood.services.typing.alleles_match`` decides), 0–6 in all. A locus the patient was not typed
at counts no mismatch. The search ranks in SQL (one expression per unit allele) so a page costs two queries
whatever the inventory's size: the count and the page.
"""

from __future__ import annotations

import datetime
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal

from django.conf import settings
from django.db.models import Case, F, FloatField, IntegerField, Q, QuerySet, Value, When
from django.db.models.functions import Cast, Greatest
from django.utils import timezone

from bank.roles import CLINICIAN, has_role
from cordblood.choices import ListingStatus, Ownership
from cordblood.models import CordBloodUnit, VerificationTyping
from cordblood.services.typing import TYPING_SAMPLE_KINDS, alleles_match, latest_verifications
from distribution.queries import distributable_lots_q
from lots.choices import VialStatus
from lots.models import Lot, Vial
from transplant.choices import (
    MATCH_LOCI,
    FollowUpStatus,
    ReleaseException,
    TypingRequestStatus,
)
from transplant.models import (
    AdverseEvent,
    CentreClinician,
    FollowUp,
    LookBackNotice,
    Order,
    Patient,
    Reservation,
    TransplantCentre,
    TypingRequest,
)

# Loci compared at antigen level (first field); the others in MATCH_LOCI at allele level.
ANTIGEN_LEVEL = ("A", "B")
# The lowest TNC dose (cells per kg) a standard release accepts; below it the release is exceptional.
MIN_TNC_PER_KG = settings.TRANSPLANT_MIN_TNC_PER_KG
# More mismatches (of 6) than this make the release exceptional.
MAX_MISMATCHES = settings.TRANSPLANT_MAX_MISMATCHES
TNC_SCALE = 1e7  # TNC per kg shown as × 10^7/kg
CD34_SCALE = 1e5  # CD34+ per kg shown as × 10^5/kg


# --- who sees what ---------------------------------------------------------------------------------------


def is_clinician(user) -> bool:
    """A transplant centre's clinician (outside the bank): sees only their centre's records."""
    return has_role(user, CLINICIAN) and not user.is_superuser


def centre_of(user) -> TransplantCentre | None:
    """The centre a clinician works for (None for bank staff, or a clinician not linked to a centre)."""
    cached = getattr(user, "_transplant_centre", False)
    if cached is not False:
        return cached
    link = (CentreClinician.objects.select_related("centre").filter(user_id=user.pk, active=True).first()
            if user.is_authenticated else None)
    user._transplant_centre = link.centre if link else None
    return user._transplant_centre


def may_cancel_order(user) -> bool:
    """Who cancels an order before shipment: the centre (``add_order``) or the medical director (``change_order``);
    the bank's technicians and QA never (a recall cancels through the look-back)."""
    return user.has_perm("transplant.add_order") or user.has_perm("transplant.change_order")


def _scoped(qs: QuerySet, user, path: str) -> QuerySet:
    if not is_clinician(user):
        return qs
    centre = centre_of(user)
    if centre is None:
        return qs.none()
    return qs.filter(**{path: centre.pk})


def patients_visible_to(user) -> QuerySet:
    return _scoped(Patient.objects.select_related("centre"), user, "centre_id")


def typing_requests_visible_to(user) -> QuerySet:
    return _scoped(TypingRequest.objects.select_related("unit", "patient__centre", "typing", "requested_by"),
                   user, "patient__centre_id")


def reservations_visible_to(user) -> QuerySet:
    return _scoped(Reservation.objects.select_related("unit__lot", "patient__centre", "reserved_by", "bag"),
                   user, "patient__centre_id")


def orders_visible_to(user) -> QuerySet:
    return _scoped(Order.objects.select_related("unit__lot", "patient__centre", "reservation", "bag", "dry_shipper",
                                                "released_by", "acknowledged_by", "ordered_by", "shipped_by",
                                                "received_by"),
                   user, "patient__centre_id")


def orders_with_outcome(user) -> QuerySet:
    """``orders_visible_to`` with the thaw report, follow-ups, adverse events and look-back read alongside (the
    API's order shape), in a constant number of queries."""
    from django.db.models import Prefetch

    return orders_visible_to(user).select_related("thaw_report").prefetch_related(
        "follow_ups",
        Prefetch("adverse_events", queryset=AdverseEvent.objects.select_related("reported_by", "order__unit")),
        Prefetch("look_back_notices", queryset=LookBackNotice.objects.select_related("recall", "centre")),
    )


def follow_ups_visible_to(user) -> QuerySet:
    return _scoped(FollowUp.objects.select_related("order__patient__centre", "order__unit"), user,
                   "order__patient__centre_id")


def adverse_events_visible_to(user) -> QuerySet:
    return _scoped(AdverseEvent.objects.select_related("order__unit", "order__patient__centre", "reported_by",
                                                       "recall"),
                   user, "order__patient__centre_id")


def look_backs_visible_to(user) -> QuerySet:
    return _scoped(LookBackNotice.objects.select_related("recall", "order__unit", "order__patient", "centre"),
                   user, "centre_id")


def recalls_of_unit(unit: CordBloodUnit):
    """The recalls that concern ``unit``: of its lot, or of its (infant) donor after a consent withdrawal."""
    from distribution.models import Recall

    q = Q(lot_id=unit.lot_id) if unit.lot_id else Q(pk__in=[])
    if unit.donation_id:
        q |= Q(donor_id=unit.donation.infant_id)
    return Recall.objects.filter(q).order_by("-initiated_at", "-id")


# --- HLA match -------------------------------------------------------------------------------------------


def _group(allele: str) -> str:
    """``"A*24:02"`` → ``"A*24"`` (antigen level)."""
    return str(allele or "").split(":", 1)[0]


def alleles_agree(locus: str, unit_allele: str, patient_allele: str) -> bool:
    """One unit allele against one patient allele at the level this locus is matched at."""
    if not unit_allele or not patient_allele:
        return False
    if locus in ANTIGEN_LEVEL:
        return alleles_match(_group(unit_allele), _group(patient_allele))
    return alleles_match(unit_allele, patient_allele)


def locus_mismatches(locus: str, unit_pair, patient_pair) -> int:
    """0, 1 or 2 mismatches at one locus (the better of the two pairings); 0 when the patient is untyped there."""
    if not patient_pair or len(patient_pair) != 2 or not all(patient_pair):
        return 0
    u = list(unit_pair or []) + [None, None]
    p = list(patient_pair)
    straight = alleles_agree(locus, u[0], p[0]) + alleles_agree(locus, u[1], p[1])
    crossed = alleles_agree(locus, u[0], p[1]) + alleles_agree(locus, u[1], p[0])
    return 2 - max(straight, crossed)


def hla_mismatches(unit_hla: Mapping[str, list], patient_hla: Mapping[str, list]) -> int:
    """Mismatches of a unit's typing against a patient's at A, B (antigen) and DRB1 (allele): 0–6."""
    return sum(locus_mismatches(locus, unit_hla.get(locus), patient_hla.get(locus)) for locus in MATCH_LOCI)


def _agrees_q(locus: str, field: str, patient_allele: str) -> Q:
    """SQL twin of ``alleles_agree`` for a unit allele column (values are stored normalised: ``A*24:02``)."""
    if locus in ANTIGEN_LEVEL:
        group = _group(patient_allele)
        return Q(**{field: group}) | Q(**{f"{field}__startswith": f"{group}:"})
    if ":" in patient_allele:  # two fields: the same allele, or a one-field unit typing of its group
        return Q(**{field: patient_allele}) | Q(**{field: _group(patient_allele)})
    return Q(**{field: patient_allele}) | Q(**{f"{field}__startswith": f"{patient_allele}:"})


def _hit(locus: str, field: str, patient_allele: str):
    return Case(When(_agrees_q(locus, field, patient_allele), then=Value(1)), default=Value(0),
                output_field=IntegerField())


def mismatch_expression(patient_hla: Mapping[str, list], prefix: str = "donation__infant__hla__"):
    """An SQL expression counting a unit's mismatches with ``patient_hla`` (as ``hla_mismatches`` does)."""
    total = Value(0, output_field=IntegerField())
    for locus in MATCH_LOCI:
        pair = patient_hla.get(locus) or []
        if len(pair) != 2 or not all(pair):
            continue
        first, second = f"{prefix}{locus.lower()}_1", f"{prefix}{locus.lower()}_2"
        straight = _hit(locus, first, pair[0]) + _hit(locus, second, pair[1])
        crossed = _hit(locus, first, pair[1]) + _hit(locus, second, pair[0])
        total = total + (Value(2) - Greatest(straight, crossed))
    return total


# --- the unit search -------------------------------------------------------------------------------------


@dataclass
class SearchFilters:
    """A search's filters: blood group, the oldest unit (years since freezing), the lowest TNC dose
    (× 10^7/kg), the most HLA mismatches."""

    abo: str = ""
    max_age_years: int | None = None
    min_tnc_per_kg: Decimal | None = None
    max_mismatches: int | None = None


def lot_distributable(lot_id: int | None) -> bool:
    """May a bag of this lot leave the bank? distribution's one rule (``distributable_lots_q``: released, not
    flagged for a withdrawn consent, donor consenting), asked for one lot."""
    return lot_id is not None and Lot.objects.filter(distributable_lots_q(), pk=lot_id).exists()


def searchable_units() -> QuerySet:
    """Units a transplant centre may find: public, listed available, their lot distributable (released, consent
    standing: distribution's rule). Family units never."""
    return CordBloodUnit.objects.filter(distributable_lots_q("lot__"), ownership=Ownership.PUBLIC,
                                        listing_status=ListingStatus.AVAILABLE)


def typing_samples(unit: CordBloodUnit) -> QuerySet:
    """The unit's containers a confirmatory typing may use (cordblood's ``TYPING_SAMPLE_KINDS``: segments and
    reference vials of cells, never the bag), available ones first in the order the bank takes them."""
    kinds = list(TYPING_SAMPLE_KINDS)
    order = Case(*[When(kind=kind, then=Value(i)) for i, kind in enumerate(kinds)], output_field=IntegerField())
    return (Vial.objects.filter(lot_id=unit.lot_id, kind__in=kinds).annotate(kind_rank=order)
            .order_by("kind_rank", "number", "pk"))


def default_typing_sample(unit: CordBloodUnit) -> Vial | None:
    """The sample a typing uses when none is scanned: the first available one (a segment before a reference vial)."""
    if unit.lot_id is None:
        return None
    return typing_samples(unit).filter(status=VialStatus.AVAILABLE).first()


def search_units(patient: Patient, filters: SearchFilters | None = None) -> QuerySet:
    """Searchable units ranked for ``patient``: fewest HLA mismatches, then TNC/kg, then CD34/kg.

    Each row carries ``mismatches``, ``tnc_per_kg`` (× 10^7) and ``cd34_per_kg`` (× 10^5); the unit's HLA is
    read with it (``donation__infant__hla``), so a page is one query.
    """
    filters = filters or SearchFilters()
    weight = float(patient.weight_kg)
    qs = searchable_units().select_related("lot", "donation__infant__hla").annotate(
        mismatches=mismatch_expression(patient.hla or {}),
        tnc_per_kg=Cast(F("tnc_post"), FloatField()) / Value(weight * TNC_SCALE),
        cd34_per_kg=Cast(F("cd34_post"), FloatField()) / Value(weight * CD34_SCALE),
    )
    if filters.abo:
        qs = qs.filter(abo=filters.abo)
    if filters.max_age_years is not None:
        oldest = timezone.now() - datetime.timedelta(days=round(365.25 * filters.max_age_years))
        qs = qs.filter(frozen_at__gte=oldest)
    if filters.min_tnc_per_kg is not None:
        qs = qs.filter(tnc_post__gte=float(filters.min_tnc_per_kg) * TNC_SCALE * weight)
    if filters.max_mismatches is not None:
        qs = qs.filter(mismatches__lte=filters.max_mismatches)
    return qs.order_by("mismatches", F("tnc_post").desc(nulls_last=True), F("cd34_post").desc(nulls_last=True),
                       "pk")


def unit_hla(unit: CordBloodUnit) -> dict[str, list[str]]:
    """The unit's (infant's) registration typing, as read by the search's ``select_related``."""
    typing = getattr(unit.donation.infant, "hla", None) if unit.donation_id else None
    if typing is None:
        return {}
    return {locus: pair for locus, pair in typing.alleles().items() if all(pair)}


def unit_age_years(unit: CordBloodUnit) -> float | None:
    if unit.frozen_at is None:
        return None
    return round((timezone.now() - unit.frozen_at).days / 365.25, 1)


# --- release for administration --------------------------------------------------------------------------


def latest_typing(unit: CordBloodUnit) -> VerificationTyping | None:
    """The unit's latest verification typing: cordblood's own rule (the one that decides release), never a copy."""
    return latest_verifications([unit.lot_id]).get(unit.lot_id) if unit.lot_id else None


def release_exceptions(order: Order) -> list[str]:
    """What makes releasing ``order``'s unit exceptional (``ReleaseException`` values), in a fixed order:
    no completed confirmatory typing, a discordant one, a TNC dose below the minimum, too many mismatches."""
    found = []
    unit, patient = order.unit, order.patient
    latest = latest_typing(unit)  # the latest verification typing decides, as it does for QA's release
    completed = TypingRequest.objects.filter(unit=unit, patient=patient, status=TypingRequestStatus.COMPLETED).exists()
    if latest is None or not completed:
        found.append(ReleaseException.CT_MISSING)
    if latest is not None and not latest.concordant:
        found.append(ReleaseException.CT_DISCORDANT)
    if unit.tnc_post is None or unit.tnc_post / float(patient.weight_kg) < MIN_TNC_PER_KG:
        found.append(ReleaseException.LOW_DOSE)
    typing = getattr(unit.donation.infant, "hla", None)
    unit_alleles = typing.alleles() if typing else {}
    if hla_mismatches(unit_alleles, patient.hla or {}) > MAX_MISMATCHES:
        found.append(ReleaseException.HLA_MISMATCH)
    return [str(code) for code in found]


def open_follow_ups(user) -> QuerySet:
    return follow_ups_visible_to(user).filter(status=FollowUpStatus.DUE)
