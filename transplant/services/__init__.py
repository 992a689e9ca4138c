"""Every write of the transplant app: centres and clinicians, patients, confirmatory typing, reservations,
release for administration, shipment, receipt, the thaw and infusion report and the outcome follow-up.

Each function runs in one transaction with a keyword-only ``actor``, writes the history and refuses with a
``bank.errors`` code. A clinician acts only for their own centre's patients (403 ``not_your_centre``); the bag
is the only container that ever leaves (``lots.choices.VialKind.BAG``), segments never.
"""

from __future__ import annotations

import datetime
import hashlib
from collections.abc import Iterable, Mapping
from decimal import Decimal, InvalidOperation
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _

from bank import sequences
from bank.audit import acting, current_actor, save_changed
from bank.errors import Conflict, Forbidden
from bank.models import Notification, SignatureMeaning
from bank.notifications import notify, notify_role
from bank.roles import CLINICIAN, MEDICAL_DIRECTOR, QA, TECHNICIAN, has_role
from bank.signatures import record_signature, verify_password
from cordblood.choices import ListingStatus, Ownership
from cordblood.models import CordBloodUnit
from cordblood.services.listing import set_listing
from cordblood.services.typing import record_verification
from donors.services.hla import parse_allele
from lots.choices import VialKind, VialStatus
from lots.models import Vial
from lots.services import change_vial_status
from storage.services import remove_from_storage
from transplant import queries
from transplant.choices import (
    ABO,
    MILESTONE_DAYS,
    ORDER_TRANSITIONS,
    PATIENT_LOCI,
    ArrivalCondition,
    DocumentItem,
    FollowUpStatus,
    GVHDGrade,
    Milestone,
    OrderStatus,
    ReleaseKind,
    ReservationStatus,
    Rh,
    Survival,
    TypingRequestStatus,
)
from transplant.models import (
    CentreClinician,
    DryShipper,
    FollowUp,
    Order,
    Patient,
    Reservation,
    TemperatureLog,
    ThawReport,
    TransplantCentre,
    TypingRequest,
    hla_text,
)

# Days the bank has to complete a confirmatory typing (the turnaround clock).
CT_DUE_DAYS = settings.TRANSPLANT_CT_DUE_DAYS
# The longest a unit may be held for a patient without an order.
RESERVATION_MAX_DAYS = settings.TRANSPLANT_RESERVATION_MAX_DAYS
# A follow-up is reminded this many days before it is due, then every REMIND_EVERY_DAYS until recorded.
REMIND_BEFORE_DAYS = settings.TRANSPLANT_REMIND_BEFORE_DAYS
REMIND_EVERY_DAYS = settings.TRANSPLANT_REMIND_EVERY_DAYS
TEMPERATURE_LOG_MAX_BYTES = 5 * 1024 * 1024


# --- helpers -----------------------------------------------------------------------------------------------


def _order_link(order: Order) -> str:
    return reverse("transplant:order", args=[order.pk])


def _centre_clinicians(centre_id: int) -> list:
    return [link.user for link in CentreClinician.objects.select_related("user")
            .filter(centre_id=centre_id, active=True, user__is_active=True).order_by("user_id")]


def _require_centre(actor) -> TransplantCentre | None:
    """A clinician's centre (403 ``no_centre`` when their account is linked to none); None for bank staff."""
    if not queries.is_clinician(actor):
        return None
    centre = queries.centre_of(actor)
    if centre is None:
        raise Forbidden(_("Your account is not linked to a transplant centre; ask the bank to link it."),
                        code="no_centre")
    return centre


def _require_own_patient(actor, patient: Patient) -> None:
    centre = _require_centre(actor)
    if centre is not None and patient.centre_id != centre.pk:
        raise Forbidden(_("Patient %(code)s is not a patient of your centre.") % {"code": patient.code},
                        code="not_your_centre")


def _require_qualified(centre: TransplantCentre) -> None:
    if not centre.is_qualified():
        raise Conflict(_("%(centre)s is not a qualified transplant centre today (inactive or accreditation "
                         "expired); the bank cannot reserve or ship units to it.") % {"centre": centre.name},
                       code="centre_not_qualified")


def _require_searchable(unit: CordBloodUnit) -> CordBloodUnit:
    """Lock ``unit`` and check it is a public, released unit listed available (409 ``unit_not_available``)."""
    locked = CordBloodUnit.objects.select_for_update(of=("self",)).select_related("lot").get(pk=unit.pk)
    if (locked.ownership != Ownership.PUBLIC or locked.listing_status != ListingStatus.AVAILABLE
            or not queries.lot_distributable(locked.lot_id)):
        raise Conflict(_("Unit %(din)s is not available for search (%(status)s).") % {
            "din": locked.din, "status": locked.get_listing_status_display()}, code="unit_not_available",
            listing_status=locked.listing_status)
    return locked


def _move(order: Order, to: str) -> None:
    if to not in ORDER_TRANSITIONS.get(order.status, set()):
        raise Conflict(_("Order %(number)s is %(from)s; it cannot become %(to)s.") % {
            "number": order.number, "from": OrderStatus(order.status).label, "to": OrderStatus(to).label},
            code="invalid_transition", status=order.status)
    order.status = to


def _lock_order(order: Order) -> Order:
    return Order.objects.select_for_update(of=("self",)).select_related(
        "unit__lot", "unit__donation__infant", "patient__centre", "reservation", "bag").get(pk=order.pk)


def _decimal(value: Any, field: str, errors: dict, *, low: Decimal, high: Decimal) -> Decimal | None:
    try:
        number = Decimal(str(value).strip())
    except (InvalidOperation, ValueError, TypeError):
        errors.setdefault(field, []).append(_("Enter a number."))
        return None
    if not number.is_finite() or number < low or number > high:
        errors.setdefault(field, []).append(_("Enter a number between %(low)s and %(high)s.") % {
            "low": low, "high": high})
        return None
    return number


def clean_patient_hla(alleles: Any) -> dict[str, list[str]]:
    """Validate a patient's HLA (WHO nomenclature, two alleles per locus given; loci may be left out) and
    normalise it; raises ValidationError({"hla": ...})."""
    if not isinstance(alleles, Mapping):
        raise ValidationError({"hla": [_("Give the alleles per locus, e.g. {\"A\": [\"A*02:01\", \"A*24:02\"]}.")]})
    problems, cleaned = [], {}
    unknown = sorted(str(k) for k in alleles if k not in PATIENT_LOCI)
    if unknown:
        problems.append(_("Unknown locus %(loci)s; give A, B, C, DRB1 and DQB1.") % {"loci": ", ".join(unknown)})
    for locus in PATIENT_LOCI:
        pair = alleles.get(locus)
        if pair in (None, "", []):
            continue
        if isinstance(pair, str):
            pair = [part for part in pair.replace(",", " ").split() if part]
        if not isinstance(pair, list | tuple) or len(pair) not in (1, 2):
            problems.append(_("Enter two alleles for HLA-%(locus)s (repeat the allele when homozygous).") % {
                "locus": locus})
            continue
        if len(pair) == 1:
            pair = [pair[0], pair[0]]
        try:
            cleaned[locus] = [parse_allele(locus, value)[0] for value in pair]
        except ValueError as exc:
            problems.append(str(exc))
    for locus in ("A", "B", "DRB1"):
        if locus not in cleaned and not problems:
            problems.append(_("HLA-A, -B and -DRB1 are needed to search: enter HLA-%(locus)s.") % {"locus": locus})
            break
    if problems:
        raise ValidationError({"hla": problems})
    return cleaned


# --- centres, clinicians, dry shippers ---------------------------------------------------------------------


def _date_or_error(value: Any, field: str, errors: dict, *, required: bool) -> datetime.date | None:
    if value in (None, ""):
        if required:
            errors[field] = [_("Enter a date.")]
        return None
    if isinstance(value, datetime.datetime) or not isinstance(value, datetime.date):
        errors[field] = [_("Enter a date.")]
        return None
    return value


def save_centre(*, actor, code: str, name: str, city: str = "", accreditation_until: datetime.date | None = None,
                active: bool = True, create: bool = False) -> TransplantCentre:
    """Create or update a transplant centre (by code). ``create=True`` (the new-centre page) refuses a code that
    exists already instead of changing that centre."""
    code = str(code or "").strip().upper()
    errors: dict[str, list] = {}
    if not code:
        errors["code"] = [_("Give the centre's code.")]
    elif len(code) > 20:
        errors["code"] = [_("The code has at most 20 characters.")]
    if not str(name or "").strip():
        errors["name"] = [_("Give the centre's name.")]
    accreditation_until = _date_or_error(accreditation_until, "accreditation_until", errors, required=False)
    if errors:
        raise ValidationError(errors)
    with transaction.atomic(), acting(actor, _("transplant centre saved")):
        centre = TransplantCentre.objects.select_for_update().filter(code=code).first()
        values = {"name": str(name).strip()[:200], "city": str(city or "").strip()[:100],
                  "accreditation_until": accreditation_until, "active": bool(active)}
        if centre is None:
            try:
                with transaction.atomic():
                    return TransplantCentre.objects.create(code=code, **values)
            except IntegrityError:
                centre = None  # created meanwhile by someone else
        if centre is None or create:
            raise ValidationError({"code": [_("A centre with the code %(code)s exists already.") % {"code": code}]})
        save_changed(centre, values)
        return centre


def link_clinician(user, centre: TransplantCentre, *, actor) -> CentreClinician:
    """Link a clinician's account to the one centre they work for (moving it from another). Only an account of
    role ``clinician`` is linked: the link is what scopes a clinician's records, and gives nothing to anyone else."""
    if user is None or not has_role(user, CLINICIAN) or user.is_superuser:
        raise ValidationError({"user": [_("Only an account of role clinician can be linked to a centre.")]})
    with transaction.atomic(), acting(actor, _("clinician linked to %(centre)s") % {"centre": centre.code}):
        link = CentreClinician.objects.select_for_update().filter(user=user).first()
        if link is None:
            try:
                with transaction.atomic():
                    link = CentreClinician.objects.create(user=user, centre=centre)
            except IntegrityError:
                link = CentreClinician.objects.select_for_update().get(user=user)
            else:
                return link
        save_changed(link, {"centre_id": centre.pk, "active": True})
        return link


def unlink_clinician(link: CentreClinician, *, actor) -> CentreClinician:
    """End a clinician's link to their centre (the row stays, inactive: who belonged where is history). The account
    then sees no centre's records (403 ``no_centre``) until it is linked again."""
    with transaction.atomic(), acting(actor, _("clinician unlinked from %(centre)s") % {"centre": link.centre.code}):
        locked = CentreClinician.objects.select_for_update().get(pk=link.pk)
        if not locked.active:
            raise Conflict(_("This clinician is not linked to the centre any more."), code="invalid_transition")
        save_changed(locked, {"active": False})
    return locked


def save_dry_shipper(*, actor, code: str, validated_until: datetime.date, description: str = "",
                     active: bool = True, create: bool = False) -> DryShipper:
    """Record a dry shipper and the end of its validation (by code); ``create=True`` refuses a code in use."""
    code = str(code or "").strip().upper()
    errors: dict[str, list] = {}
    if not code:
        errors["code"] = [_("Give the dry shipper's id.")]
    elif len(code) > 30:
        errors["code"] = [_("The id has at most 30 characters.")]
    validated_until = _date_or_error(validated_until, "validated_until", errors, required=True)
    if errors:
        raise ValidationError(errors)
    with transaction.atomic(), acting(actor, _("dry shipper validation recorded")):
        shipper = DryShipper.objects.select_for_update().filter(code=code).first()
        values = {"validated_until": validated_until, "description": str(description or "").strip()[:200],
                  "active": bool(active)}
        if shipper is None:
            try:
                with transaction.atomic():
                    return DryShipper.objects.create(code=code, **values)
            except IntegrityError:
                shipper = None
        if shipper is None or create:
            raise ValidationError({"code": [_("A dry shipper %(code)s exists already.") % {"code": code}]})
        save_changed(shipper, values)
        return shipper


# --- patients ----------------------------------------------------------------------------------------------


def register_patient(*, actor, code: str, diagnosis: str, weight_kg: Any, abo: str = "", rh: str = "",
                     hla: Any, centre: TransplantCentre | None = None) -> Patient:
    """A clinician registers a pseudonymous patient of their centre (bank staff name the centre)."""
    own = _require_centre(actor)
    centre = own or centre
    errors: dict[str, list] = {}
    code = (code or "").strip().upper()
    if not code:
        errors["code"] = [_("Give the patient's code at your centre (never a name).")]
    if not (diagnosis or "").strip():
        errors["diagnosis"] = [_("Give the diagnosis.")]
    weight = _decimal(weight_kg, "weight_kg", errors, low=Decimal("0.5"), high=Decimal("250"))
    if abo and abo not in ABO.values:
        errors["abo"] = [_("Choose a blood group.")]
    if rh and rh not in Rh.values:
        errors["rh"] = [_("Choose Rh positive or negative.")]
    if centre is None:
        errors["centre"] = [_("Choose the patient's centre.")]
    try:
        cleaned = clean_patient_hla(hla)
    except ValidationError as exc:
        errors.update(exc.message_dict)
        cleaned = {}
    if errors:
        raise ValidationError(errors)
    duplicate = ValidationError({"code": [_("Your centre already has a patient %(code)s.") % {"code": code}]})
    if Patient.objects.filter(centre=centre, code=code).exists():
        raise duplicate
    try:
        with transaction.atomic(), acting(actor, _("patient registered")):
            return Patient.objects.create(centre=centre, code=code, diagnosis=diagnosis.strip()[:200],
                                          weight_kg=weight, abo=abo or "", rh=rh or "", hla=cleaned, created_by=actor)
    except IntegrityError:  # registered by a colleague at the same moment (the unique constraint decides)
        raise duplicate from None


def update_patient(patient: Patient, *, actor, diagnosis: str, weight_kg: Any, abo: str = "", rh: str = "",
                   hla: Any, reason: str = "") -> Patient:
    """The patient's own centre's clinician corrects the diagnosis, weight, blood group or HLA. No typing is ever
    overwritten: the earlier HLA stays in the patient's history, and a change of HLA needs a reason, recorded on
    that history row. 403 ``no_centre``, ``not_your_centre`` (bank staff included: the centre owns its patients)."""
    _require_own_patient(actor, patient)
    if not queries.is_clinician(actor):
        raise Forbidden(_("Only a clinician of the patient's centre edits the patient."), code="not_your_centre")
    errors: dict[str, list] = {}
    if not str(diagnosis or "").strip():
        errors["diagnosis"] = [_("Give the diagnosis.")]
    weight = _decimal(weight_kg, "weight_kg", errors, low=Decimal("0.5"), high=Decimal("250"))
    if abo and abo not in ABO.values:
        errors["abo"] = [_("Choose a blood group.")]
    if rh and rh not in Rh.values:
        errors["rh"] = [_("Choose Rh positive or negative.")]
    try:
        cleaned = clean_patient_hla(hla)
    except ValidationError as exc:
        errors.update(exc.message_dict)
        cleaned = {}
    reason = str(reason or "").strip()
    if errors:
        raise ValidationError(errors)
    with transaction.atomic():
        locked = Patient.objects.select_for_update().get(pk=patient.pk)
        hla_changed = cleaned != (locked.hla or {})
        if hla_changed and not reason:
            raise ValidationError({"reason": [_("Give the reason the HLA typing changes (e.g. a retyping at higher "
                                                "resolution); the earlier typing stays in the history.")]})
        why = (_("HLA retyped: %(reason)s") % {"reason": reason} if hla_changed
               else reason or _("patient details corrected"))
        with acting(actor, why[:100]):
            save_changed(locked, {"diagnosis": str(diagnosis).strip()[:200], "weight_kg": weight, "abo": abo or "",
                                  "rh": rh or "", "hla": cleaned})
    return locked


def patient_hla_history(patient: Patient) -> list[dict]:
    """Every HLA typing the patient has had, newest first, with who recorded it, when and why (from the history:
    a replaced typing is never lost)."""
    versions, previous = [], None
    for row in patient.history.select_related("history_user").order_by("history_date", "history_id"):
        if row.hla != previous:
            versions.append({"hla": row.hla or {}, "text": hla_text(row.hla), "at": row.history_date,
                             "by": row.history_user, "reason": row.history_change_reason or ""})
            previous = row.hla
    return versions[::-1]


# --- confirmatory typing -------------------------------------------------------------------------------------


def request_typing(unit: CordBloodUnit, patient: Patient, *, actor) -> TypingRequest:
    """A clinician asks the bank to type a segment of ``unit`` for ``patient``; due in ``CT_DUE_DAYS`` days.

    403 ``no_centre``, ``not_your_centre``; 409 ``unit_not_available`` (a family unit, or one not listed
    available or reserved for this patient).
    """
    _require_own_patient(actor, patient)
    with transaction.atomic(), acting(actor, _("confirmatory typing requested")):
        locked = CordBloodUnit.objects.select_for_update(of=("self",)).select_related("lot").get(pk=unit.pk)
        reserved_for_patient = Reservation.objects.filter(
            unit=locked, patient=patient, status__in=[ReservationStatus.ACTIVE, ReservationStatus.ORDERED]).exists()
        if not reserved_for_patient:
            _require_searchable(locked)
        open_request = TypingRequest.objects.filter(unit=locked, patient=patient,
                                                    status=TypingRequestStatus.REQUESTED).first()
        if open_request is not None:
            return open_request
        now = timezone.now()
        ct = TypingRequest.objects.create(unit=locked, patient=patient, requested_by=actor, requested_at=now,
                                          due_on=timezone.localdate(now) + datetime.timedelta(days=CT_DUE_DAYS))
        notify_role(TECHNICIAN, QA, subject=_("Confirmatory typing of unit %(din)s requested, due %(due)s") % {
            "din": locked.din, "due": ct.due_on.isoformat()}, link=reverse("transplant:typing", args=[ct.pk]))
    return ct


def complete_typing(ct: TypingRequest, *, alleles: Mapping[str, Any], actor, sample: Vial | None = None,
                    laboratory: str = "", typed_on: datetime.date | None = None) -> TypingRequest:
    """The bank records the typing of a segment (or reference vial) of the unit: the verification typing
    (``cordblood.services.typing.record_verification`` decides concordance) completes the request.

    409 ``invalid_transition`` (not open); what ``record_verification`` refuses (a bag as sample ...).
    """
    typed_on = typed_on or timezone.localdate()
    with transaction.atomic(), acting(actor, _("confirmatory typing completed")):
        locked = TypingRequest.objects.select_for_update(of=("self",)).select_related("unit", "patient").get(
            pk=ct.pk)
        if locked.status != TypingRequestStatus.REQUESTED:
            raise Conflict(_("This typing request is %(status)s.") % {
                "status": TypingRequestStatus(locked.status).label}, code="invalid_transition", status=locked.status)
        if sample is None:
            sample = queries.default_typing_sample(locked.unit)
            if sample is None:
                raise Conflict(_("Unit %(din)s has no segment or reference vial of cells left to type.") % {
                    "din": locked.unit.din}, code="no_typing_sample")
        typing = record_verification(locked.unit, alleles, sample=sample, laboratory=laboratory, typed_on=typed_on,
                                     actor=actor)
        locked.status, locked.typing = TypingRequestStatus.COMPLETED, typing
        locked.completed_by, locked.completed_at = actor, timezone.now()
        locked.save(update_fields=["status", "typing", "completed_by", "completed_at"])
        verdict = _("concordant") if typing.concordant else _("DISCORDANT at %(loci)s") % {
            "loci": ", ".join(typing.discordant_loci)}
        notify([locked.requested_by], subject=_("Confirmatory typing of unit %(din)s: %(verdict)s") % {
            "din": locked.unit.din, "verdict": verdict}, link=reverse("transplant:typing", args=[locked.pk]),
            level=Notification.Level.INFO if typing.concordant else Notification.Level.WARNING)
    return locked


def cancel_typing(ct: TypingRequest, *, actor, reason: str) -> TypingRequest:
    """The requesting centre's clinician withdraws a confirmatory typing request that the bank has not completed.
    400 no reason; 403 ``no_centre``, ``not_your_centre``; 409 ``invalid_transition`` (completed or cancelled)."""
    _require_own_patient(actor, ct.patient)
    reason = str(reason or "").strip()
    if not reason:
        raise ValidationError({"reason": [_("Give the reason.")]})
    with transaction.atomic(), acting(actor, (_("confirmatory typing cancelled: %(reason)s") % {
            "reason": reason})[:100]):
        locked = TypingRequest.objects.select_for_update(of=("self",)).select_related("unit", "patient").get(
            pk=ct.pk)
        if locked.status != TypingRequestStatus.REQUESTED:
            raise Conflict(_("This typing request is %(status)s; it can no longer be cancelled.") % {
                "status": TypingRequestStatus(locked.status).label}, code="invalid_transition", status=locked.status)
        locked.status, locked.cancelled_by, locked.cancelled_at = TypingRequestStatus.CANCELLED, actor, timezone.now()
        locked.cancel_reason = reason[:300]
        locked.save(update_fields=["status", "cancelled_by", "cancelled_at", "cancel_reason"])
        notify_role(TECHNICIAN, QA, subject=_("Confirmatory typing of unit %(din)s cancelled by the centre") % {
            "din": locked.unit.din}, body=reason, link=reverse("transplant:typing", args=[locked.pk]))
    return locked


# --- reservations --------------------------------------------------------------------------------------------


def reserve_unit(unit: CordBloodUnit, patient: Patient, *, until: datetime.date, actor) -> Reservation:
    """A clinician reserves ``unit`` for ``patient`` until a date: the unit's bag is reserved and its listing
    becomes reserved. 400 ``until`` past or too far; 403 ``no_centre``, ``not_your_centre``; 409
    ``centre_not_qualified``, ``unit_not_available``, ``no_bag``."""
    _require_own_patient(actor, patient)
    today = timezone.localdate()
    if until is None or until < today:
        raise ValidationError({"until": [_("Reserve until today or a later date.")]})
    if until > today + datetime.timedelta(days=RESERVATION_MAX_DAYS):
        raise ValidationError({"until": [_("A unit can be reserved for at most %(days)s days; order it for an "
                                           "infusion date to hold it longer.") % {"days": RESERVATION_MAX_DAYS}]})
    _require_qualified(patient.centre)
    with transaction.atomic(), acting(actor, _("unit reserved for patient %(code)s") % {"code": patient.code}):
        locked = _require_searchable(unit)
        bag = (Vial.objects.select_for_update(skip_locked=True, of=("self",))
               .filter(lot_id=locked.lot_id, kind=VialKind.BAG, status=VialStatus.AVAILABLE).order_by("pk").first())
        if bag is None:
            raise Conflict(_("Unit %(din)s has no bag available to reserve.") % {"din": locked.din}, code="no_bag")
        reason = _("reserved for %(centre)s until %(until)s") % {"centre": patient.centre.code,
                                                                  "until": until.isoformat()}
        change_vial_status([bag], VialStatus.RESERVED, actor=actor, reason=reason[:100])
        try:
            with transaction.atomic():
                reservation = Reservation.objects.create(unit=locked, patient=patient, bag=bag, until=until,
                                                         reserved_by=actor)
        except IntegrityError:
            raise Conflict(_("Unit %(din)s is already reserved.") % {"din": locked.din}, code="unit_not_available")
        set_listing(locked, ListingStatus.RESERVED, reason=reason, actor=actor)
    return reservation


def _free(reservation: Reservation, *, to: str, actor, reason: str) -> None:
    """End a live reservation: its bag and the unit's listing go back to available (not listed when the unit's
    lot is no longer released)."""
    reservation.status, reservation.ended_at = to, timezone.now()
    reservation.save(update_fields=["status", "ended_at"])
    if reservation.bag_id:
        bag = Vial.objects.get(pk=reservation.bag_id)
        if bag.status == VialStatus.RESERVED:
            change_vial_status([bag], VialStatus.AVAILABLE, actor=actor, reason=reason[:100])
    unit = CordBloodUnit.objects.select_related("lot").get(pk=reservation.unit_id)
    if unit.listing_status == ListingStatus.RESERVED:
        # A recalled lot, or one flagged for a withdrawn consent, is never listed again.
        listable = queries.lot_distributable(unit.lot_id)
        set_listing(unit, ListingStatus.AVAILABLE if listable else ListingStatus.NOT_LISTED, reason=reason,
                    actor=actor)


def cancel_reservation(reservation: Reservation, *, actor, reason: str = "") -> Reservation:
    """The centre (or the bank) gives a reserved unit back. 409 ``invalid_transition`` unless active."""
    _require_own_patient(actor, reservation.patient)
    reason = (reason or "").strip() or _("reservation cancelled")
    with transaction.atomic(), acting(actor, reason[:100]):
        locked = Reservation.objects.select_for_update().get(pk=reservation.pk)
        if locked.status != ReservationStatus.ACTIVE:
            raise Conflict(_("This reservation is %(status)s.") % {"status": ReservationStatus(locked.status).label},
                           code="invalid_transition", status=locked.status)
        _free(locked, to=ReservationStatus.CANCELLED, actor=actor, reason=reason)
    return locked


def expire_reservations(*, today: datetime.date | None = None, actor=None, batch_size: int = 500) -> int:
    """Free every active reservation whose date has passed (beat, ``transplant.tasks.expire_reservations``): the
    unit is listed available again and the centre is told. Safe to run twice or on several workers at once
    (each reservation is claimed with ``SKIP LOCKED`` and re-checked)."""
    today = today or timezone.localdate()
    actor = actor if actor is not None else current_actor()
    freed = 0
    while True:
        with transaction.atomic(), acting(actor, _("reservation expired")):
            batch = list(Reservation.objects.select_for_update(skip_locked=True, of=("self",))
                         .select_related("unit", "patient").filter(status=ReservationStatus.ACTIVE, until__lt=today)
                         .order_by("until", "pk")[:batch_size])
            for reservation in batch:
                reason = _("reservation for %(code)s expired on %(until)s") % {
                    "code": reservation.patient.code, "until": reservation.until.isoformat()}
                _free(reservation, to=ReservationStatus.EXPIRED, actor=actor, reason=reason)
                notify(_centre_clinicians(reservation.patient.centre_id),
                       subject=_("Reservation of unit %(din)s for %(code)s expired") % {
                           "din": reservation.unit.din, "code": reservation.patient.code},
                       body=_("The unit is available to every centre again."),
                       link=reverse("transplant:patient", args=[reservation.patient_id]),
                       level=Notification.Level.WARNING)
            freed += len(batch)
        if len(batch) < batch_size:
            return freed


# --- order and release for administration --------------------------------------------------------------------


def place_order(reservation: Reservation, *, infusion_date: datetime.date, actor) -> Order:
    """The centre orders its reserved unit for an infusion date; the reservation holds until shipment and the
    medical director is asked to release it. 400 past date; 403; 409 ``invalid_transition``,
    ``centre_not_qualified``."""
    _require_own_patient(actor, reservation.patient)
    if infusion_date is None or infusion_date < timezone.localdate():
        raise ValidationError({"infusion_date": [_("The infusion date cannot be in the past.")]})
    _require_qualified(reservation.patient.centre)
    with transaction.atomic(), acting(actor, _("unit ordered for infusion")):
        locked = Reservation.objects.select_for_update(of=("self",)).select_related("unit", "patient").get(
            pk=reservation.pk)
        if locked.status != ReservationStatus.ACTIVE:
            raise Conflict(_("This reservation is %(status)s; reserve the unit again.") % {
                "status": ReservationStatus(locked.status).label}, code="invalid_transition", status=locked.status)
        locked.status = ReservationStatus.ORDERED
        locked.save(update_fields=["status"])
        today = timezone.localdate()
        number = f"TX-{today.year}-{sequences.take_one(f'transplant-order:{today.year}'):05d}"
        order = Order.objects.create(number=number, reservation=locked, unit=locked.unit, patient=locked.patient,
                                     infusion_date=infusion_date, ordered_by=actor, bag_id=locked.bag_id)
        notify_role(MEDICAL_DIRECTOR, subject=_("Release unit %(din)s for administration (%(number)s, infusion "
                                                "%(date)s)") % {"din": locked.unit.din, "number": number,
                                                                "date": infusion_date.isoformat()},
                    link=_order_link(order))
    return order


def release_order(order: Order, *, actor, password: str, justification: str = "") -> Order:
    """The medical director releases the unit for administration with an e-signature (21 CFR 11).

    When a criterion is not met (``queries.release_exceptions``: confirmatory typing missing or discordant, dose
    below the minimum, too many mismatches) the release is exceptional: it needs a documented justification
    now and the centre's acknowledgement before shipment. 403 ``signature_invalid``; 409
    ``justification_required``, ``lot_blocked``, ``invalid_transition``.
    """
    justification = (justification or "").strip()
    verify_password(actor, password)  # outside the transaction: a failed attempt stays recorded
    with transaction.atomic(), acting(actor, _("released for administration")):
        locked = _lock_order(order)
        _move(locked, OrderStatus.RELEASED)
        lot = locked.unit.lot
        if lot is None or not queries.lot_distributable(lot.pk):
            raise Conflict(_("Unit %(din)s is not a released unit (its lot is %(status)s); it cannot be released "
                             "for administration.") % {"din": locked.unit.din,
                                                       "status": lot.get_status_display() if lot else "-"},
                           code="lot_blocked", lots=[lot.lot_number] if lot else [])
        exceptions = queries.release_exceptions(locked)
        if exceptions and not justification:
            raise Conflict(_("This is an exceptional release (%(what)s): document the justification.") % {
                "what": ", ".join(exceptions)}, code="justification_required", exceptions=exceptions)
        locked.release_kind = ReleaseKind.EXCEPTIONAL if exceptions else ReleaseKind.STANDARD
        locked.release_exceptions, locked.justification = exceptions, justification
        locked.released_by, locked.released_at = actor, timezone.now()
        locked.save(update_fields=["status", "release_kind", "release_exceptions", "justification", "released_by",
                                   "released_at"])
        statement = (_("I release unit %(din)s for administration to patient %(code)s as an exceptional release "
                       "(%(what)s): %(why)s") % {"din": locked.unit.din, "code": locked.patient.code,
                                                 "what": ", ".join(exceptions), "why": justification}
                     if exceptions else
                     _("I release unit %(din)s for administration to patient %(code)s.") % {
                         "din": locked.unit.din, "code": locked.patient.code})
        record_signature(locked, signer=actor, meaning=SignatureMeaning.APPROVAL, statement=statement)
        clinicians = _centre_clinicians(locked.patient.centre_id)
        if exceptions:
            notify(clinicians, subject=_("%(number)s: exceptional release — your acknowledgement is needed") % {
                "number": locked.number}, body=justification, link=_order_link(locked),
                level=Notification.Level.WARNING)
        else:
            notify(clinicians, subject=_("%(number)s released for administration") % {"number": locked.number},
                   link=_order_link(locked))
            notify_role(TECHNICIAN, subject=_("Ship %(number)s: unit %(din)s for infusion on %(date)s") % {
                "number": locked.number, "din": locked.unit.din, "date": locked.infusion_date.isoformat()},
                link=_order_link(locked))
    return locked


def acknowledge_release(order: Order, *, actor, password: str) -> Order:
    """The centre's clinician acknowledges an exceptional release with an e-signature. 403
    ``signature_invalid``, ``not_your_centre``; 409 ``invalid_transition`` (not an exceptional release awaiting
    acknowledgement)."""
    _require_own_patient(actor, order.patient)
    verify_password(actor, password)
    with transaction.atomic(), acting(actor, _("exceptional release acknowledged")):
        locked = _lock_order(order)
        if locked.status != OrderStatus.RELEASED or not locked.is_exceptional or locked.acknowledged_at:
            raise Conflict(_("%(number)s has no exceptional release awaiting your acknowledgement.") % {
                "number": locked.number}, code="invalid_transition", status=locked.status)
        locked.acknowledged_by, locked.acknowledged_at = actor, timezone.now()
        locked.save(update_fields=["acknowledged_by", "acknowledged_at"])
        record_signature(locked, signer=actor, meaning=SignatureMeaning.ACKNOWLEDGEMENT, statement=_(
            "I acknowledge the exceptional release of unit %(din)s for patient %(code)s (%(what)s).") % {
            "din": locked.unit.din, "code": locked.patient.code, "what": ", ".join(locked.release_exceptions)})
        notify_role(TECHNICIAN, subject=_("Ship %(number)s: unit %(din)s for infusion on %(date)s") % {
            "number": locked.number, "din": locked.unit.din, "date": locked.infusion_date.isoformat()},
            link=_order_link(locked))
    return locked


def cancel_order(order: Order, *, actor, reason: str) -> Order:
    """The centre or the director cancels an order before shipment: the unit is freed."""
    _require_own_patient(actor, order.patient)
    reason = (reason or "").strip()
    if not reason:
        raise ValidationError({"reason": [_("Give the reason.")]})
    with transaction.atomic(), acting(actor, reason[:100]):
        locked = _lock_order(order)
        _move(locked, OrderStatus.CANCELLED)
        locked.save(update_fields=["status"])
        reservation = Reservation.objects.select_for_update().get(pk=locked.reservation_id)
        _free(reservation, to=ReservationStatus.CANCELLED, actor=actor, reason=reason)
    return locked


# --- shipment and receipt --------------------------------------------------------------------------------------


def ship_order(order: Order, *, actor, bag_barcode: str, dry_shipper: str, documents: Iterable[str],
               logger_name: str, logger_content: bytes, logger_content_type: str = "",
               courier: str = "") -> Order:
    """The technician ships the released unit's bag in a validated dry shipper, with the temperature logger's
    file and the whole document pack: the bag becomes shipped and leaves its box, the unit's listing becomes
    distributed. Segments and reference vials stay (only the bag is on the order).

    400 fields; 409 ``release_not_signed``, ``acknowledgement_required``, ``wrong_vial`` (a scanned container
    that is not this unit's bag), ``shipper_not_validated``, ``lot_blocked``, ``invalid_transition``.
    """
    errors: dict[str, list] = {}
    documents = sorted({str(d) for d in documents or []})
    missing = [DocumentItem(d).label for d in DocumentItem.values if d not in documents]
    if missing:
        errors["documents"] = [_("The document pack is incomplete: %(missing)s.") % {
            "missing": "; ".join(str(m) for m in missing)}]
    unknown = [d for d in documents if d not in DocumentItem.values]
    if unknown:
        errors.setdefault("documents", []).append(_("Unknown document %(docs)s.") % {"docs": ", ".join(unknown)})
    if not logger_content:
        errors["temperature_log"] = [_("Attach the temperature logger's file.")]
    elif len(logger_content) > TEMPERATURE_LOG_MAX_BYTES:
        errors["temperature_log"] = [_("The logger file is larger than 5 MB.")]
    if not (bag_barcode or "").strip():
        errors["bag_barcode"] = [_("Scan the bag's barcode.")]
    if not (dry_shipper or "").strip():
        errors["dry_shipper"] = [_("Scan or type the dry shipper's id.")]
    if errors:
        raise ValidationError(errors)
    with transaction.atomic(), acting(actor, _("shipped %(number)s") % {"number": order.number}):
        locked = _lock_order(order)
        if locked.status == OrderStatus.ORDERED:
            raise Conflict(_("%(number)s has not been released for administration by the medical director.") % {
                "number": locked.number}, code="release_not_signed")
        if locked.is_exceptional and locked.acknowledged_at is None:
            raise Conflict(_("%(number)s is an exceptional release: the centre must acknowledge it before "
                             "shipment.") % {"number": locked.number}, code="acknowledgement_required")
        _move(locked, OrderStatus.SHIPPED)
        bag = locked.bag
        scanned = (bag_barcode or "").strip()
        if bag is None or bag.kind != VialKind.BAG or scanned.upper() != bag.barcode.upper():
            raise Conflict(_("Wrong container: %(barcode)s is not the bag of unit %(din)s. Only the bag is shipped; "
                             "put it back and scan the bag.") % {"barcode": scanned, "din": locked.unit.din},
                           code="wrong_vial", barcode=scanned)
        shipper = DryShipper.objects.filter(code=dry_shipper.strip()).first()
        if shipper is None or not shipper.active or shipper.validated_until < timezone.localdate():
            raise Conflict(_("Dry shipper %(code)s is not validated (unknown, retired or validation expired); use a "
                             "validated shipper.") % {"code": dry_shipper.strip()}, code="shipper_not_validated")
        lot = locked.unit.lot
        if not queries.lot_distributable(lot.pk):
            raise Conflict(_("Lot %(lots)s may no longer be distributed; do not ship.") % {"lots": lot.lot_number},
                           code="lot_blocked", lots=[lot.lot_number])
        reason = _("shipped %(number)s") % {"number": locked.number}
        change_vial_status([bag], VialStatus.SHIPPED, actor=actor, reason=reason)
        remove_from_storage([bag], actor=actor, reason=reason)
        TemperatureLog.objects.create(order=locked, filename=(logger_name or "logger")[:200],
                                      content_type=(logger_content_type or "")[:100], content=logger_content,
                                      size=len(logger_content), sha256=hashlib.sha256(logger_content).hexdigest(),
                                      uploaded_by=actor)
        locked.dry_shipper, locked.documents, locked.courier = shipper, documents, (courier or "").strip()[:120]
        locked.shipped_by, locked.shipped_at = actor, timezone.now()
        locked.save(update_fields=["status", "dry_shipper", "documents", "courier", "shipped_by", "shipped_at"])
        set_listing(locked.unit, ListingStatus.DISTRIBUTED, reason=reason, actor=actor)
        notify(_centre_clinicians(locked.patient.centre_id),
               subject=_("%(number)s has shipped: unit %(din)s") % {"number": locked.number, "din": locked.unit.din},
               body=_("Dry shipper %(shipper)s. Confirm receipt when it arrives.") % {"shipper": shipper.code},
               link=_order_link(locked))
    return locked


def receive_order(order: Order, *, actor, condition: str = ArrivalCondition.GOOD, notes: str = "") -> Order:
    """The centre confirms the unit arrived, and in what condition (a problem alerts QA)."""
    _require_own_patient(actor, order.patient)
    if condition not in ArrivalCondition.values:
        raise ValidationError({"condition": [_("Choose the condition on arrival.")]})
    with transaction.atomic(), acting(actor, _("received %(number)s") % {"number": order.number}):
        locked = _lock_order(order)
        _move(locked, OrderStatus.RECEIVED)
        locked.received_by, locked.received_at = actor, timezone.now()
        locked.arrival_condition, locked.receipt_notes = condition, (notes or "").strip()
        locked.save(update_fields=["status", "received_by", "received_at", "arrival_condition", "receipt_notes"])
        if condition != ArrivalCondition.GOOD:
            notify_role(QA, MEDICAL_DIRECTOR, subject=_("%(number)s arrived with a problem: %(condition)s") % {
                "number": locked.number, "condition": ArrivalCondition(condition).label}, body=locked.receipt_notes,
                link=_order_link(locked), level=Notification.Level.ALARM)
    return locked


# --- thaw, infusion and outcome ----------------------------------------------------------------------------------


def record_thaw_report(order: Order, *, actor, thawed_at: datetime.datetime, viable_cd34_pct: Any,
                       viable_cd45_pct: Any, cfu_growth: bool, identity_confirmed: bool, infused_on: datetime.date,
                       adverse_events: str = "") -> ThawReport:
    """The centre reports the thaw and infusion; the follow-ups at day 100 and one year become due. Post-thaw
    results below NetCord-FACT's criteria or an adverse event alert QA and the medical director (a look-back of
    the unit's donation starts from there)."""
    _require_own_patient(actor, order.patient)
    errors: dict[str, list] = {}
    cd34 = _decimal(viable_cd34_pct, "viable_cd34_pct", errors, low=Decimal(0), high=Decimal(100))
    cd45 = _decimal(viable_cd45_pct, "viable_cd45_pct", errors, low=Decimal(0), high=Decimal(100))
    now = timezone.now()
    if thawed_at is None or thawed_at > now:
        errors["thawed_at"] = [_("Enter when the unit was thawed (not in the future).")]
    if infused_on is None or infused_on > timezone.localdate():
        errors["infused_on"] = [_("Enter the infusion date (not in the future).")]
    if errors:
        raise ValidationError(errors)
    adverse_events = (adverse_events or "").strip()
    with transaction.atomic(), acting(actor, _("thaw and infusion reported")):
        locked = _lock_order(order)
        _move(locked, OrderStatus.INFUSED)
        locked.save(update_fields=["status"])
        report = ThawReport.objects.create(order=locked, thawed_at=thawed_at, viable_cd34_pct=cd34,
                                           viable_cd45_pct=cd45, cfu_growth=bool(cfu_growth),
                                           identity_confirmed=bool(identity_confirmed), infused_on=infused_on,
                                           adverse_events=adverse_events, recorded_by=actor)
        for milestone in (Milestone.DAY_100, Milestone.YEAR_1):
            FollowUp.objects.create(order=locked, milestone=milestone,
                                    due_on=infused_on + datetime.timedelta(days=MILESTONE_DAYS[milestone]))
        problems = []
        if not report.meets_post_thaw_criteria:
            problems.append(_("post-thaw results below the criteria (viable CD34 > 70 %, viable CD45 > 40 %, CFU "
                              "growth, identity confirmed)"))
        if adverse_events:
            problems.append(_("adverse event: %(events)s") % {"events": adverse_events})
        if problems:
            subject = _("%(number)s (unit %(din)s): %(problems)s — consider a look-back") % {
                "number": locked.number, "din": locked.unit.din, "problems": "; ".join(problems)}
            notify_role(QA, MEDICAL_DIRECTOR, subject=subject[:200],
                body="; ".join(problems), link=_order_link(locked), level=Notification.Level.ALARM)
    return report


def record_follow_up(follow_up: FollowUp, *, actor, survival: str, engrafted: bool | None = None,
                     engraftment_day: int | None = None, gvhd_grade: str = "", chronic_gvhd: bool | None = None,
                     notes: str = "") -> FollowUp:
    """The centre records the outcome at a milestone (engraftment, GVHD, survival). 409 ``invalid_transition``
    when recorded already (a correction is a note to the bank, never an overwrite)."""
    _require_own_patient(actor, follow_up.order.patient)
    errors: dict[str, list] = {}
    if survival not in Survival.values:
        errors["survival"] = [_("Choose the patient's survival status.")]
    if gvhd_grade and gvhd_grade not in GVHDGrade.values:
        errors["gvhd_grade"] = [_("Choose a GVHD grade.")]
    if engraftment_day is not None and not (0 < int(engraftment_day) <= 400):
        errors["engraftment_day"] = [_("Enter the day after infusion (1–400).")]
    if engrafted and engraftment_day is None:
        errors["engraftment_day"] = [_("Enter the day of neutrophil engraftment.")]
    if errors:
        raise ValidationError(errors)
    with transaction.atomic(), acting(actor, _("follow-up recorded")):
        locked = FollowUp.objects.select_for_update().get(pk=follow_up.pk)
        if locked.status != FollowUpStatus.DUE:
            raise Conflict(_("This follow-up was recorded already."), code="invalid_transition", status=locked.status)
        locked.status, locked.survival = FollowUpStatus.RECORDED, survival
        locked.engrafted, locked.engraftment_day = engrafted, engraftment_day
        locked.gvhd_grade, locked.chronic_gvhd, locked.notes = gvhd_grade or "", chronic_gvhd, (notes or "").strip()
        locked.recorded_by, locked.recorded_at = actor, timezone.now()
        locked.save(update_fields=["status", "survival", "engrafted", "engraftment_day", "gvhd_grade",
                                   "chronic_gvhd", "notes", "recorded_by", "recorded_at"])
    return locked


def remind_follow_ups(*, today: datetime.date | None = None, actor=None) -> int:
    """Remind each centre of its follow-ups due within ``REMIND_BEFORE_DAYS`` (or overdue), at most every
    ``REMIND_EVERY_DAYS``. Each follow-up is claimed with a conditional UPDATE, so two workers never remind twice."""
    today = today or timezone.localdate()
    now = timezone.now()
    cutoff = now - datetime.timedelta(days=REMIND_EVERY_DAYS)
    due = (FollowUp.objects.filter(status=FollowUpStatus.DUE, due_on__lte=today + datetime.timedelta(
        days=REMIND_BEFORE_DAYS)).filter(Q(reminded_at__isnull=True) | Q(reminded_at__lt=cutoff))
        .select_related("order__patient", "order__unit").order_by("due_on", "pk"))
    sent = 0
    with acting(actor if actor is not None else current_actor(), _("follow-up reminder")):
        for follow_up in due[:1000]:
            with transaction.atomic():
                claimed = FollowUp.objects.filter(pk=follow_up.pk, status=FollowUpStatus.DUE).filter(
                    Q(reminded_at__isnull=True) | Q(reminded_at__lt=cutoff)).update(reminded_at=now)
                if not claimed:
                    continue
                order = follow_up.order
                overdue = follow_up.due_on < today
                notify(_centre_clinicians(order.patient.centre_id),
                       subject=(_("Overdue: %(milestone)s follow-up of %(code)s (%(number)s), due %(due)s") if overdue
                                else _("%(milestone)s follow-up of %(code)s (%(number)s) due %(due)s")) % {
                           "milestone": follow_up.get_milestone_display(), "code": order.patient.code,
                           "number": order.number, "due": follow_up.due_on.isoformat()},
                       body=_("Record engraftment, GVHD and survival."),
                       link=reverse("transplant:follow-up", args=[follow_up.pk]),
                       level=Notification.Level.WARNING if overdue else Notification.Level.INFO)
                sent += 1
    return sent
