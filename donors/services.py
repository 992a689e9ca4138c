"""Every write and state change of the donors app.

Each function runs in ``transaction.atomic`` inside ``acting(actor, reason)`` so the audit trail
names who did it and why. Bad input raises Django's ``ValidationError`` with field keys (API 400,
form errors); a state that forbids the action raises ``bank.errors.Conflict`` with an API.md code.
Nothing is half-saved: validation runs before the first write, and every write is in one transaction.

Privacy: the donor's identity lives only in ``DonorIdentity``; no message, notification or history
reason written here names anything but the pseudonymous donor code.
"""

from __future__ import annotations

import csv
import datetime
import io
import re
import secrets
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from bank.audit import acting, bulk_create_audited
from bank.errors import Conflict
from donors.choices import (
    HLA_LOCI,
    MATERNAL_TISSUES,
    ConsentScope,
    DonorType,
    HLAMethod,
    HLAResolution,
    ScreeningOutcome,
    Sex,
    Tissue,
)
from donors.models import (
    Collection,
    Consent,
    Donor,
    DonorIdentity,
    EthicsApproval,
    HLATyping,
    Screening,
    ScreeningMarker,
    ScreeningResult,
    ScreeningWindow,
)
from donors.queries import active_consent

# Unambiguous on a label and when read aloud: no 0/O, 1/I/L.
CODE_ALPHABET = "23456789ABCDEFGHJKMNPQRSTUVWXYZ"
CODE_LENGTH = 8
# A clock a few minutes ahead on the bench PC must not make "now" look like the future.
CLOCK_SKEW = datetime.timedelta(minutes=5)
IDENTITY_FIELDS = ("full_name", "national_id", "phone")
DONOR_FIELDS = ("sex", "birth_year", "population", "donor_type", "diagnosis")


def donor_code_prefix() -> str:
    return f"{settings.BARCODE_PREFIX}D-"


# --- small validators -------------------------------------------------------------------------


class _Errors:
    """Collects field errors so a form or an API call hears about every bad field at once."""

    def __init__(self) -> None:
        self.by_field: dict[str, list[str]] = {}

    def add(self, field_name: str, message: str) -> None:
        self.by_field.setdefault(field_name, []).append(str(message))

    def __bool__(self) -> bool:
        return bool(self.by_field)

    def raise_if_any(self) -> None:
        if self.by_field:
            raise ValidationError({k: [ValidationError(m) for m in v] for k, v in self.by_field.items()})


def _text(value: Any) -> str:
    return "" if value is None else str(value).strip()


def _require_reason(reason: str, errors: _Errors | None = None) -> str:
    reason = _text(reason)
    if not reason:
        if errors is not None:
            errors.add("reason", _("Give a reason: it is kept in the audit trail."))
        else:
            raise ValidationError({"reason": [_("Give a reason: it is kept in the audit trail.")]})
    return reason


def _as_date(value: Any, field_name: str, errors: _Errors, *, required: bool = True) -> datetime.date | None:
    if value in (None, ""):
        if required:
            errors.add(field_name, _("Enter a date (YYYY-MM-DD)."))
        return None
    if isinstance(value, datetime.datetime):
        return timezone.localtime(value).date() if timezone.is_aware(value) else value.date()
    if isinstance(value, datetime.date):
        return value
    try:
        return datetime.date.fromisoformat(str(value).strip())
    except ValueError:
        errors.add(field_name, _("Enter a valid date as YYYY-MM-DD."))
        return None


def _not_future_date(day: datetime.date | None, field_name: str, errors: _Errors, what: str) -> None:
    today = timezone.localdate()
    if day is not None and day > today:
        errors.add(field_name, _("%(what)s cannot be in the future (today is %(today)s).") % {
            "what": what, "today": today.isoformat()})


def _as_datetime(value: Any, field_name: str, errors: _Errors) -> datetime.datetime | None:
    if value in (None, ""):
        errors.add(field_name, _("Enter a date and time."))
        return None
    if isinstance(value, str):
        try:
            value = datetime.datetime.fromisoformat(value.strip())
        except ValueError:
            errors.add(field_name, _("Enter a valid date and time (ISO 8601, e.g. 2026-03-01T09:30+08:00)."))
            return None
    if not isinstance(value, datetime.datetime):
        errors.add(field_name, _("Enter a valid date and time."))
        return None
    if timezone.is_naive(value):
        value = timezone.make_aware(value)
    return value


# --- donors -------------------------------------------------------------------------------------


def _clean_donor(data: Mapping[str, Any], errors: _Errors, *, partial: bool = False,
                 current: Donor | None = None) -> dict[str, Any]:
    """Check the donor's own fields; returns the cleaned values given (all of them unless partial)."""
    cleaned: dict[str, Any] = {}
    this_year = timezone.localdate().year

    if "sex" in data or not partial:
        sex = _text(data.get("sex")).upper()
        if sex not in Sex.values:
            errors.add("sex", _("Choose the sex: F or M."))
        cleaned["sex"] = sex
    if "birth_year" in data or not partial:
        raw = data.get("birth_year")
        try:
            year = int(str(raw).strip())
        except (TypeError, ValueError):
            errors.add("birth_year", _("Enter the birth year as four digits, e.g. 1988."))
            year = None
        if year is not None:
            if year > this_year:
                errors.add("birth_year", _("The birth year cannot be in the future (it is %(year)s now).") % {
                    "year": this_year})
            elif year < 1900:
                errors.add("birth_year", _("Enter a birth year from 1900 on."))
        cleaned["birth_year"] = year
    if "donor_type" in data or not partial:
        kind = _text(data.get("donor_type")).lower()
        if kind not in DonorType.values:
            errors.add("donor_type", _("Choose the donor type: healthy or patient."))
        cleaned["donor_type"] = kind
    if "population" in data or not partial:
        population = _text(data.get("population"))
        if len(population) > 100:
            errors.add("population", _("Keep the population under 100 characters."))
        cleaned["population"] = population
    if "diagnosis" in data or not partial:
        diagnosis = _text(data.get("diagnosis"))
        if len(diagnosis) > 300:
            errors.add("diagnosis", _("Keep the diagnosis under 300 characters."))
        cleaned["diagnosis"] = diagnosis
    kind = cleaned.get("donor_type", current.donor_type if current else "")
    diagnosis = cleaned.get("diagnosis", current.diagnosis if current else "")
    if kind == DonorType.PATIENT and not diagnosis and "diagnosis" not in errors.by_field:
        errors.add("diagnosis", _("A patient donor needs a diagnosis."))
    return cleaned


NATIONAL_ID_RE = re.compile(r"^[A-Z0-9][A-Z0-9\-]{3,39}$")
PHONE_RE = re.compile(r"^\+?[0-9][0-9 ()\-]{3,38}$")


def normalise_national_id(value: Any) -> str:
    return re.sub(r"\s+", "", _text(value)).upper()


def _clean_identity(data: Mapping[str, Any] | None, errors: _Errors, *, partial: bool = False) -> dict[str, str]:
    data = data or {}
    cleaned: dict[str, str] = {}
    if "full_name" in data or not partial:
        name = _text(data.get("full_name"))
        if not name:
            errors.add("full_name", _("Enter the donor's full name."))
        elif len(name) > 200:
            errors.add("full_name", _("Keep the full name under 200 characters."))
        cleaned["full_name"] = name
    if "national_id" in data or not partial:
        national_id = normalise_national_id(data.get("national_id"))
        if not national_id:
            errors.add("national_id", _("Enter the national ID number."))
        elif not NATIONAL_ID_RE.match(national_id):
            errors.add("national_id", _("A national ID has 4 to 40 letters, digits or hyphens."))
        cleaned["national_id"] = national_id
    if "phone" in data or not partial:
        phone = _text(data.get("phone"))
        if phone and not PHONE_RE.match(phone):
            errors.add("phone", _("Enter a phone number of digits, spaces, +, - or brackets."))
        cleaned["phone"] = phone
    return cleaned


def _duplicate_national_id_message(code: str) -> str:
    return _("This national ID is already registered for donor %(code)s. Open that donor instead of "
             "registering the person twice.") % {"code": code}


def _check_national_id_unique(national_id: str, errors: _Errors, *, exclude_donor_id: int | None = None) -> None:
    if not national_id or "national_id" in errors.by_field:
        return
    clash = DonorIdentity.objects.filter(national_id=national_id).exclude(donor_id=exclude_donor_id)
    existing = clash.select_related("donor").first()
    if existing is not None:
        errors.add("national_id", _duplicate_national_id_message(existing.donor.code))


def new_donor_codes(count: int) -> list[str]:
    """``count`` fresh random donor codes, none in use. Random (not sequential): a code says nothing."""
    prefix = donor_code_prefix()
    codes: set[str] = set()
    while len(codes) < count:
        wanted = count - len(codes)
        batch = {prefix + "".join(secrets.choice(CODE_ALPHABET) for _i in range(CODE_LENGTH))
                 for _j in range(wanted)}
        taken = set(Donor.objects.filter(code__in=batch).values_list("code", flat=True))
        codes |= batch - taken
    return sorted(codes, key=lambda _c: secrets.randbelow(1 << 30))


def register_donor(*, actor, sex: str, birth_year: Any, donor_type: str, identity: Mapping[str, Any] | None,
                   population: str = "", diagnosis: str = "", reason: str = "") -> Donor:
    """Register a donor under a generated pseudonymous code, with their identity kept apart."""
    errors = _Errors()
    data = {"sex": sex, "birth_year": birth_year, "donor_type": donor_type, "population": population,
            "diagnosis": diagnosis}
    cleaned = _clean_donor(data, errors)
    who = _clean_identity(identity, errors)
    with transaction.atomic(), acting(actor, reason or _("donor registered")):
        _check_national_id_unique(who.get("national_id", ""), errors)
        errors.raise_if_any()
        for attempt in range(5):
            code = new_donor_codes(1)[0]
            try:
                with transaction.atomic():
                    donor = Donor.objects.create(code=code, registered_by=actor, **cleaned)
                break
            except IntegrityError:
                # Another registration took the same random code in between: draw again.
                if attempt == 4:
                    raise
        try:
            with transaction.atomic():
                DonorIdentity.objects.create(donor=donor, **who)
        except IntegrityError:
            raise ValidationError({"national_id": [_("This national ID was registered a moment ago by someone "
                                                     "else. Search for the donor before registering again.")]})
    return donor


def update_donor(donor: Donor, *, actor, reason: str, identity: Mapping[str, Any] | None = None,
                 **changes: Any) -> Donor:
    """Correct a donor's recorded facts (and identity); the reason goes to the audit trail."""
    unknown = set(changes) - set(DONOR_FIELDS)
    if unknown:
        raise ValidationError({name: [_("This field cannot be changed.")] for name in sorted(unknown)})
    errors = _Errors()
    reason = _require_reason(reason, errors)
    with transaction.atomic(), acting(actor, reason):
        locked = Donor.objects.select_for_update().get(pk=donor.pk)
        cleaned = _clean_donor(changes, errors, partial=True, current=locked)
        who = _clean_identity(identity, errors, partial=True) if identity is not None else {}
        if "national_id" in who:
            _check_national_id_unique(who["national_id"], errors, exclude_donor_id=locked.pk)
        errors.raise_if_any()
        changed = [name for name, value in cleaned.items() if getattr(locked, name) != value]
        for name in changed:
            setattr(locked, name, cleaned[name])
        if changed:
            locked.save(update_fields=changed)
        if who:
            record = DonorIdentity.objects.select_for_update().filter(donor=locked).first()
            if record is None:
                full = _clean_identity({**who}, errors)
                errors.raise_if_any()
                DonorIdentity.objects.create(donor=locked, **full)
            else:
                moved = [name for name, value in who.items() if getattr(record, name) != value]
                for name in moved:
                    setattr(record, name, who[name])
                if moved:
                    record.save(update_fields=moved)
    return locked


# --- consent ----------------------------------------------------------------------------------


def _clean_scopes(scopes: Any, errors: _Errors) -> list[str]:
    if isinstance(scopes, str):
        scopes = [s for s in re.split(r"[;,|\s]+", scopes) if s]
    if not isinstance(scopes, list | tuple | set) or not scopes:
        errors.add("scopes", _("Choose at least one consent scope."))
        return []
    values = [_text(s).lower() for s in scopes]
    unknown = [v for v in values if v not in ConsentScope.values]
    if unknown:
        errors.add("scopes", _("Unknown scope %(scopes)s; use: %(choices)s.") % {
            "scopes": ", ".join(unknown), "choices": ", ".join(ConsentScope.values)})
        return []
    return [v for v in ConsentScope.values if v in values]


def _clean_consent(data: Mapping[str, Any], errors: _Errors) -> dict[str, Any]:
    form_version = _text(data.get("form_version"))
    if not form_version:
        errors.add("form_version", _("Enter the version of the consent form the donor signed."))
    elif len(form_version) > 40:
        errors.add("form_version", _("Keep the form version under 40 characters."))
    signed_on = _as_date(data.get("signed_on"), "signed_on", errors)
    _not_future_date(signed_on, "signed_on", errors, _("The signing date"))
    scopes = _clean_scopes(data.get("scopes"), errors)
    return {"form_version": form_version, "signed_on": signed_on, "scopes": scopes}


def _withdrawn_conflict(donor: Donor) -> Conflict:
    return Conflict(
        _("Donor %(code)s withdrew consent on %(date)s. Nothing can be recorded under a consent any more.") % {
            "code": donor.code, "date": timezone.localtime(donor.consent_withdrawn_at).date().isoformat()},
        code="consent_withdrawn",
    )


def record_consent(donor: Donor, *, actor, form_version: str, signed_on: Any, scopes: Iterable[str],
                   reason: str = "") -> Consent:
    """Record a signed consent (or a re-consent) with its scopes; refused once the donor withdrew."""
    errors = _Errors()
    cleaned = _clean_consent({"form_version": form_version, "signed_on": signed_on,
                              "scopes": list(scopes) if not isinstance(scopes, str) else scopes}, errors)
    errors.raise_if_any()
    with transaction.atomic(), acting(actor, reason or _("consent recorded")):
        locked = Donor.objects.select_for_update().get(pk=donor.pk)
        if locked.consent_withdrawn_at is not None:
            raise _withdrawn_conflict(locked)
        return Consent.objects.create(donor=locked, recorded_by=actor, **cleaned)


@dataclass
class Withdrawal:
    """What a consent withdrawal did: the consents closed and every lot derived from the donor."""

    donor: Donor
    consent: Consent
    withdrawn_consents: list[Consent]
    affected_lots: list  # lots.models.Lot, flagged by lots.services.flag_lots_for_withdrawn_consent
    # distribution.models.Recall: everyone who received vials of ``affected_lots``, notified.
    distribution_recall: Any = None
    notified: list = field(default_factory=list)


def withdraw_consent(consent: Consent, *, actor, reason: str) -> Withdrawal:
    """The donor withdraws consent: close every consent, flag every derived lot, never delete anything.

    From then ``Donor.consent_withdrawn_at`` is set and release and distribution of anything derived
    are refused (qc/distribution read it). Returns every affected lot.
    """
    reason = _require_reason(reason)
    from distribution.services import consent_withdrawal_recall
    from lots.services import flag_lots_for_withdrawn_consent

    with transaction.atomic(), acting(actor, reason):
        donor = Donor.objects.select_for_update().get(pk=consent.donor_id)
        consents = list(Consent.objects.select_for_update().filter(donor=donor).order_by("pk"))
        target = next(c for c in consents if c.pk == consent.pk)
        if target.withdrawn_at is not None:
            raise Conflict(
                _("This consent was already withdrawn on %(date)s.") % {
                    "date": timezone.localtime(target.withdrawn_at).date().isoformat()},
                code="already_withdrawn",
            )
        now = timezone.now()
        closed = []
        for item in consents:
            if item.withdrawn_at is None:
                item.withdrawn_at, item.withdrawn_by, item.withdrawal_reason = now, actor, reason
                item.save(update_fields=["withdrawn_at", "withdrawn_by", "withdrawal_reason"])
                closed.append(item)
        if donor.consent_withdrawn_at is None:
            donor.consent_withdrawn_at = now
            donor.save(update_fields=["consent_withdrawn_at"])
        lots = flag_lots_for_withdrawn_consent(donor, actor=actor, reason=reason)
        # Everyone who received anything derived is listed and told, unshipped vials are blocked and open
        # requests refused — in this transaction, so a withdrawal and its recall list commit together.
        distribution_recall = consent_withdrawal_recall(donor, actor=actor, reason=reason)
        notified = _notify_withdrawal(donor, lots)
    consent.refresh_from_db()
    return Withdrawal(donor=donor, consent=target, withdrawn_consents=closed, affected_lots=lots,
                      distribution_recall=distribution_recall, notified=notified)


def _notify_withdrawal(donor: Donor, lots: list) -> list:
    from django.urls import reverse

    from bank.notifications import notify_role
    from bank.roles import QA

    numbers = ", ".join(lot.lot_number for lot in lots[:20]) + (" …" if len(lots) > 20 else "")
    body = (_("Donor %(code)s withdrew consent. Flagged lots: %(lots)s. Nothing derived may be released or "
              "distributed.") % {"code": donor.code, "lots": numbers}
            if lots else _("Donor %(code)s withdrew consent. No lot has been derived from this donor.") % {
                "code": donor.code})
    return notify_role(QA, subject=_("Consent withdrawn: donor %(code)s (%(n)s lots flagged)") % {
        "code": donor.code, "n": len(lots)}, body=body, link=reverse("donors:detail", args=[donor.pk]),
        level="warning")


# --- ethics approvals -------------------------------------------------------------------------


def _clean_ethics(data: Mapping[str, Any], errors: _Errors, *, partial: bool = False,
                  current: EthicsApproval | None = None) -> dict[str, Any]:
    cleaned: dict[str, Any] = {}
    for name, limit, label in (("committee", 200, _("committee")), ("approval_number", 60, _("approval number"))):
        if name in data or not partial:
            value = _text(data.get(name))
            if not value:
                errors.add(name, _("Enter the %(field)s.") % {"field": label})
            elif len(value) > limit:
                errors.add(name, _("Keep it under %(n)s characters.") % {"n": limit})
            cleaned[name] = value
    if "scope" in data or not partial:
        cleaned["scope"] = _text(data.get("scope"))
    for name in ("valid_from", "valid_to"):
        if name in data or not partial:
            cleaned[name] = _as_date(data.get(name), name, errors)
    start = cleaned.get("valid_from", current.valid_from if current else None)
    end = cleaned.get("valid_to", current.valid_to if current else None)
    if start and end and end < start:
        errors.add("valid_to", _("The approval must end on or after the day it starts."))
    number = cleaned.get("approval_number")
    if number and "approval_number" not in errors.by_field:
        clash = EthicsApproval.objects.filter(approval_number__iexact=number)
        if current is not None:
            clash = clash.exclude(pk=current.pk)
        if clash.exists():
            errors.add("approval_number", _("An approval with this number is already recorded."))
    return cleaned


def create_ethics_approval(*, actor, committee: str, approval_number: str, valid_from: Any, valid_to: Any,
                           scope: str = "") -> EthicsApproval:
    """Record an ethics committee approval that collections may cite."""
    errors = _Errors()
    data = {"committee": committee, "approval_number": approval_number, "scope": scope,
            "valid_from": valid_from, "valid_to": valid_to}
    with transaction.atomic(), acting(actor, _("ethics approval recorded")):
        cleaned = _clean_ethics(data, errors)
        errors.raise_if_any()
        return EthicsApproval.objects.create(**cleaned)


def update_ethics_approval(approval: EthicsApproval, *, actor, reason: str, **changes: Any) -> EthicsApproval:
    """Correct or extend an approval. It may not stop covering a collection that already cites it."""
    errors = _Errors()
    reason = _require_reason(reason, errors)
    with transaction.atomic(), acting(actor, reason):
        locked = EthicsApproval.objects.select_for_update().get(pk=approval.pk)
        cleaned = _clean_ethics(changes, errors, partial=True, current=locked)
        start = cleaned.get("valid_from") or locked.valid_from
        end = cleaned.get("valid_to") or locked.valid_to
        if not errors:
            outside = [c.code for c in locked.collections.order_by("collected_at")
                       if not start <= timezone.localtime(c.collected_at).date() <= end]
            if outside:
                errors.add("valid_to", _("Collections %(codes)s cite this approval and would fall outside it.") % {
                    "codes": ", ".join(outside[:10])})
        errors.raise_if_any()
        changed = [name for name, value in cleaned.items() if getattr(locked, name) != value]
        for name in changed:
            setattr(locked, name, cleaned[name])
        if changed:
            locked.save(update_fields=changed)
    return locked


# --- screening ----------------------------------------------------------------------------------


def _result_pairs(results: Any, known: set[str], errors: _Errors) -> list[tuple[str, str]]:
    """[(marker, result)] from [{"marker","result"}] or {marker: result}; blank results are skipped."""
    if isinstance(results, Mapping):
        items = list(results.items())
    elif isinstance(results, list | tuple):
        items = []
        for entry in results:
            if isinstance(entry, Mapping):
                items.append((entry.get("marker"), entry.get("result")))
            elif isinstance(entry, list | tuple) and len(entry) == 2:
                items.append((entry[0], entry[1]))
            else:
                errors.add("results", _("Each result needs a marker and a result."))
                return []
    else:
        errors.add("results", _("Give the results as a list of {marker, result}."))
        return []
    pairs, seen = [], set()
    for raw_marker, raw_result in items:
        marker, outcome = _text(raw_marker).lower(), _text(raw_result).lower()
        if not outcome:
            continue
        if marker not in known:
            errors.add("results", _("Unknown marker “%(marker)s”. Use one of: %(codes)s.") % {
                "marker": _text(raw_marker) or "—", "codes": ", ".join(sorted(known))})
            continue
        if outcome not in ScreeningOutcome.values:
            errors.add("results", _("%(marker)s: “%(result)s” is not a result; use negative, positive or "
                                    "indeterminate.") % {"marker": marker, "result": _text(raw_result)})
            continue
        if marker in seen:
            errors.add("results", _("%(marker)s is given twice; give each marker once per sample.") % {
                "marker": marker})
            continue
        seen.add(marker)
        pairs.append((marker, outcome))
    if not pairs and "results" not in errors.by_field:
        errors.add("results", _("Enter at least one marker result."))
    return pairs


def default_maternal_sample(donor: Donor) -> bool:
    """A cord blood, cord or placenta donor is screened through the birth mother's sample."""
    latest = donor.collections.order_by("-collected_at", "-id").first()
    return latest is not None and latest.tissue in MATERNAL_TISSUES


def record_screening(donor: Donor, *, actor, sample_drawn_on: Any, results: Any, maternal_sample: bool | None = None,
                     laboratory: str = "") -> Screening:
    """Record one screening sample and its marker results. Earlier results are never touched."""
    errors = _Errors()
    drawn = _as_date(sample_drawn_on, "sample_drawn_on", errors)
    _not_future_date(drawn, "sample_drawn_on", errors, _("The sample date"))
    laboratory = _text(laboratory)
    if len(laboratory) > 200:
        errors.add("laboratory", _("Keep the laboratory under 200 characters."))
    known = set(ScreeningMarker.objects.values_list("code", flat=True))
    pairs = _result_pairs(results, known, errors)
    errors.raise_if_any()
    with transaction.atomic(), acting(actor, _("screening recorded")):
        locked = Donor.objects.select_for_update().get(pk=donor.pk)
        if maternal_sample is None:
            maternal_sample = default_maternal_sample(locked)
        screening = Screening.objects.create(donor=locked, sample_drawn_on=drawn, maternal_sample=bool(maternal_sample),
                                             laboratory=laboratory, recorded_by=actor)
        bulk_create_audited(ScreeningResult, [
            ScreeningResult(screening=screening, marker=marker, result=outcome, recorded_by=actor)
            for marker, outcome in pairs
        ])
        positives = [marker for marker, outcome in pairs if outcome == ScreeningOutcome.POSITIVE]
        if positives:
            _notify_screening(locked, _("Positive screening result for donor %(code)s: %(markers)s") % {
                "code": locked.code, "markers": ", ".join(positives)})
    return screening


def correct_result(original: ScreeningResult, *, actor, result: str, reason: str) -> ScreeningResult:
    """Correct a result by adding a new one that names it and gives the reason; the original stays."""
    errors = _Errors()
    reason = _require_reason(reason, errors)
    outcome = _text(result).lower()
    if outcome not in ScreeningOutcome.values:
        errors.add("result", _("Choose negative, positive or indeterminate."))
    errors.raise_if_any()
    with transaction.atomic(), acting(actor, reason):
        locked = ScreeningResult.objects.select_for_update().select_related("screening__donor").get(pk=original.pk)
        newer = ScreeningResult.objects.filter(corrects=locked).first()
        if newer is not None:
            raise Conflict(
                _("This result was already corrected (result #%(id)s); correct the newest result instead.") % {
                    "id": newer.pk},
                code="already_corrected", corrected_by=newer.pk,
            )
        if locked.result == outcome:
            raise ValidationError({"result": [_("The correction must change the result; it is already %(r)s.") % {
                "r": ScreeningOutcome(outcome).label}]})
        correction = ScreeningResult.objects.create(
            screening=locked.screening, marker=locked.marker, result=outcome, corrects=locked,
            correction_reason=reason, recorded_by=actor,
        )
        donor = locked.screening.donor
        if ScreeningOutcome.POSITIVE in (locked.result, outcome):
            subject = _("Screening result corrected for donor %(code)s: %(marker)s %(old)s → %(new)s") % {
                "code": donor.code, "marker": locked.marker, "old": locked.result, "new": outcome}
            _notify_screening(donor, subject)
    return correction


def _notify_screening(donor: Donor, subject: str) -> None:
    from django.urls import reverse

    from bank.notifications import notify_role
    from bank.roles import COORDINATOR, QA

    notify_role(QA, COORDINATOR, subject=subject, link=reverse("donors:detail", args=[donor.pk]) + "?tab=screening",
                level="warning")


def configure_marker(marker: ScreeningMarker, *, actor, required: bool, tissues: Iterable[str], reason: str,
                     name: str | None = None) -> ScreeningMarker:
    """Change whether a marker is part of the required panel and for which tissues ([] = all)."""
    errors = _Errors()
    reason = _require_reason(reason, errors)
    tissues = sorted({_text(t) for t in tissues if _text(t)})
    unknown = [t for t in tissues if t not in Tissue.values]
    if unknown:
        errors.add("tissues", _("Unknown tissue %(t)s.") % {"t": ", ".join(unknown)})
    if name is not None and not _text(name):
        errors.add("name", _("Enter the marker's name."))
    errors.raise_if_any()
    with transaction.atomic(), acting(actor, reason):
        locked = ScreeningMarker.objects.select_for_update().get(pk=marker.pk)
        locked.required, locked.tissues = bool(required), tissues
        fields = ["required", "tissues"]
        if name is not None:
            locked.name = _text(name)
            fields.append("name")
        locked.save(update_fields=fields)
    return locked


MARKER_CODE_RE = re.compile(r"^[a-z][a-z0-9_]{1,29}$")


def add_marker(*, actor, code: str, name: str, required: bool = True, tissues: Iterable[str] = (),
               reason: str = "") -> ScreeningMarker:
    """Add a marker to what the bank records (and, when ``required``, to the panel)."""
    errors = _Errors()
    code = _text(code).lower()
    if not MARKER_CODE_RE.match(code):
        errors.add("code", _("A marker code is 2–30 lower-case letters, digits or underscores, e.g. zika_nat."))
    elif ScreeningMarker.objects.filter(code=code).exists():
        errors.add("code", _("This marker is already on the panel."))
    if not _text(name):
        errors.add("name", _("Enter the marker's name."))
    tissues = sorted({_text(t) for t in tissues if _text(t)})
    if any(t not in Tissue.values for t in tissues):
        errors.add("tissues", _("Unknown tissue."))
    errors.raise_if_any()
    with transaction.atomic(), acting(actor, reason or _("screening marker added")):
        last = ScreeningMarker.objects.order_by("-order").values_list("order", flat=True).first() or 0
        return ScreeningMarker.objects.create(code=code, name=_text(name), required=bool(required), tissues=tissues,
                                              order=last + 10)


def configure_window(tissue: str, *, actor, days_before: Any, days_after: Any, reason: str) -> ScreeningWindow:
    """Set how many days before/after a collection of ``tissue`` ('' = default) a sample may be drawn."""
    errors = _Errors()
    reason = _require_reason(reason, errors)
    tissue = _text(tissue)
    if tissue and tissue not in Tissue.values:
        errors.add("tissue", _("Unknown tissue."))
    values = {}
    for name, raw in (("days_before", days_before), ("days_after", days_after)):
        try:
            values[name] = int(raw)
        except (TypeError, ValueError):
            errors.add(name, _("Enter a whole number of days."))
            continue
        if not 0 <= values[name] <= 365:
            errors.add(name, _("Enter 0 to 365 days."))
    errors.raise_if_any()
    with transaction.atomic(), acting(actor, reason):
        window, _created = ScreeningWindow.objects.select_for_update().get_or_create(tissue=tissue, defaults=values)
        if not _created:
            window.days_before, window.days_after = values["days_before"], values["days_after"]
            window.save(update_fields=["days_before", "days_after"])
    return window


# --- HLA ----------------------------------------------------------------------------------------

# WHO nomenclature for HLA factors (Marsh et al.): locus*allele-group[:specific protein], here at 1 or
# 2 fields. A first field has 2 digits (3 for a few B*/C* groups is not in use for these loci), a
# second field 2 to 4 digits. Expression suffixes and 3rd/4th fields are outside what the bank stores.
ALLELE_RE = re.compile(r"^(?:HLA-)?(?P<locus>A|B|C|DRB1|DQB1)\*(?P<group>\d{2})(?::(?P<protein>\d{2,4}))?$")


def parse_allele(locus: str, value: Any) -> tuple[str, int]:
    """``("A*24:02", 2)`` for a valid allele of ``locus``; raises ValueError with a message otherwise."""
    text = _text(value).upper()
    if not text:
        raise ValueError(_("Enter two alleles for HLA-%(locus)s (repeat the allele when homozygous).") % {
            "locus": locus})
    match = ALLELE_RE.match(text)
    if match is None:
        raise ValueError(_("“%(value)s” is not WHO nomenclature. Write %(locus)s*24 (1-field) or %(locus)s*24:02 "
                           "(2-field).") % {"value": _text(value), "locus": locus})
    if match["locus"] != locus:
        raise ValueError(_("“%(value)s” is an HLA-%(other)s allele, not HLA-%(locus)s.") % {
            "value": _text(value), "other": match["locus"], "locus": locus})
    normal = f"{locus}*{match['group']}" + (f":{match['protein']}" if match["protein"] else "")
    return normal, 2 if match["protein"] else 1


def clean_hla(alleles: Any, errors: _Errors) -> tuple[dict[str, list[str]], int]:
    """Validated alleles per locus and the lowest number of fields among them."""
    if not isinstance(alleles, Mapping):
        errors.add("alleles", _("Give two alleles for each of A, B, C, DRB1 and DQB1."))
        return {}, 0
    cleaned: dict[str, list[str]] = {}
    lowest = 2
    unknown = sorted(str(k) for k in alleles if k not in HLA_LOCI)
    if unknown:
        errors.add("alleles", _("Unknown locus %(loci)s; give A, B, C, DRB1 and DQB1.") % {"loci": ", ".join(unknown)})
    for locus in HLA_LOCI:
        pair = alleles.get(locus)
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
    """Record (or replace) the donor's HLA typing; homozygous loci follow from the alleles."""
    errors = _Errors()
    cleaned, lowest = clean_hla(alleles, errors)
    method = _text(method).lower()
    if method and method not in HLAMethod.values:
        errors.add("method", _("Choose a typing method: %(choices)s.") % {"choices": ", ".join(HLAMethod.values)})
    computed = HLAResolution.TWO_FIELD if lowest == 2 else HLAResolution.ONE_FIELD
    resolution = _text(resolution) or computed
    if resolution not in HLAResolution.values:
        errors.add("resolution", _("Choose 1-field or 2-field."))
    elif cleaned and len(cleaned) == len(HLA_LOCI) and resolution != computed:
        errors.add("resolution", _("The alleles are %(computed)s; the resolution must say so.") % {
            "computed": computed})
    day = _as_date(typed_on, "typed_on", errors, required=False)
    _not_future_date(day, "typed_on", errors, _("The typing date"))
    laboratory = _text(laboratory)
    if len(laboratory) > 200:
        errors.add("laboratory", _("Keep the laboratory under 200 characters."))
    errors.raise_if_any()
    values = {f"{locus.lower()}_{i + 1}": cleaned[locus][i] for locus in HLA_LOCI for i in range(2)}
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


# --- collections --------------------------------------------------------------------------------


def _next_collection_code(year: int) -> str:
    """COL-<year>-<nnnn> from one locked counter per year: two technicians never get the same code."""
    from bank.models import BarcodeSequence

    kind = f"collection-{year}"
    try:
        with transaction.atomic():
            BarcodeSequence.objects.get_or_create(kind=kind)
    except IntegrityError:
        pass  # created by a concurrent receipt; lock it below
    while True:
        sequence = BarcodeSequence.objects.select_for_update().get(pk=kind)
        sequence.last_value += 1
        BarcodeSequence.objects.filter(pk=kind).update(last_value=sequence.last_value)
        code = f"COL-{year}-{sequence.last_value:04d}"
        if not Collection.objects.filter(code=code).exists():
            return code


def transport_limit_hours() -> int:
    return int(settings.COLLECTION_TRANSPORT_LIMIT_HOURS)


def record_collection(*, actor, donor: Donor, tissue: str, collected_at: Any, received_at: Any,
                      transport_temperature_c: Any = None, ethics_approval: EthicsApproval | None = None,
                      notes: str = "", received_by=None) -> Collection:
    """Receive tissue collected from a donor under an active consent (409 no_active_consent).

    A cited ethics approval must be valid on the collection date; a transport time over
    ``COLLECTION_TRANSPORT_LIMIT_HOURS`` is flagged on the record (and QA is told).
    """
    errors = _Errors()
    tissue = _text(tissue)
    if tissue not in Tissue.values:
        errors.add("tissue", _("Choose the tissue: %(choices)s.") % {"choices": ", ".join(Tissue.values)})
    collected = _as_datetime(collected_at, "collected_at", errors)
    received = _as_datetime(received_at, "received_at", errors)
    now = timezone.now()
    if collected and collected > now + CLOCK_SKEW:
        errors.add("collected_at", _("The collection time cannot be in the future."))
    if received and received > now + CLOCK_SKEW:
        errors.add("received_at", _("The receipt time cannot be in the future."))
    if collected and received and received < collected:
        errors.add("received_at", _("The tissue cannot be received before it was collected."))
    temperature = None
    if transport_temperature_c not in (None, ""):
        try:
            temperature = Decimal(str(transport_temperature_c)).quantize(Decimal("0.1"))
        except (InvalidOperation, ValueError):
            errors.add("transport_temperature_c", _("Enter the temperature in °C, e.g. 4 or -80."))
        else:
            if not Decimal("-200") <= temperature <= Decimal("60"):
                errors.add("transport_temperature_c", _("Enter a transport temperature from -200 to 60 °C."))
    if collected and ethics_approval is not None:
        day = timezone.localtime(collected).date()
        if not ethics_approval.is_valid_on(day):
            errors.add("ethics_approval", _(
                "Ethics approval %(number)s is valid from %(start)s to %(end)s, not on the collection date "
                "%(day)s. Cite an approval valid on that day.") % {
                "number": ethics_approval.approval_number, "start": ethics_approval.valid_from.isoformat(),
                "end": ethics_approval.valid_to.isoformat(), "day": day.isoformat()})
    notes = _text(notes)
    errors.raise_if_any()
    with transaction.atomic(), acting(actor, _("collection received")):
        locked = Donor.objects.select_for_update().get(pk=donor.pk)
        consent = active_consent(locked)
        if consent is None:
            if locked.consent_withdrawn_at is not None:
                detail = _("Donor %(code)s withdrew consent: no collection can be received.")
            else:
                detail = _("Donor %(code)s has no active consent. Record the signed consent before the collection.")
            raise Conflict(detail % {"code": locked.code}, code="no_active_consent")
        if timezone.localtime(collected).date() < consent.signed_on:
            raise ValidationError({"collected_at": [_(
                "The tissue was collected before the consent was signed (%(date)s). Check the date, or record "
                "the consent that covered this collection.") % {"date": consent.signed_on.isoformat()}]})
        hours = (received - collected).total_seconds() / 3600
        flagged = hours > transport_limit_hours()
        collection = Collection.objects.create(
            code=_next_collection_code(timezone.localtime(collected).year), donor=locked, consent=consent,
            ethics_approval=ethics_approval, tissue=tissue, collected_at=collected, received_at=received,
            transport_temperature_c=temperature, received_by=received_by or actor, transport_delay_flagged=flagged,
            notes=notes,
        )
        if flagged:
            from django.urls import reverse

            from bank.notifications import notify_role
            from bank.roles import QA

            subject = _("Collection %(code)s arrived %(hours)s h after collection (limit %(limit)s h)") % {
                "code": collection.code, "hours": f"{hours:.1f}", "limit": transport_limit_hours()}
            notify_role(QA, subject=subject, link=reverse("donors:collection", args=[collection.pk]), level="warning")
    return collection


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
        taken = dict(DonorIdentity.objects.filter(national_id__in=list(seen_ids))
                     .values_list("national_id", "donor__code"))
        for national_id, code in taken.items():
            line = seen_ids[national_id]
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
            bulk_create_audited(DonorIdentity, [
                DonorIdentity(donor=donor, **item["identity"]) for donor, item in zip(donors, parsed, strict=True)
            ])
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
