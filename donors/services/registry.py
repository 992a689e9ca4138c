"""Donor registration and corrections: pseudonymous donor codes, the donor's own fields and the
identity kept apart in ``DonorIdentity``, encrypted under the donor's own data key (``donors.crypto``); the
national ID is normalised and unique through its keyed hash, so no check ever decrypts another donor."""

from __future__ import annotations

import re
import secrets
from collections.abc import Mapping
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from bank.audit import acting, save_changed
from donors import crypto
from donors.choices import DonorType, Sex
from donors.models import Donor, DonorIdentity, DonorKey, IdentityErased

from ._input import _Errors, _require_reason, _text

# Unambiguous on a label and when read aloud: no 0/O, 1/I/L.
CODE_ALPHABET = "23456789ABCDEFGHJKMNPQRSTUVWXYZ"
CODE_LENGTH = 8
IDENTITY_FIELDS = ("full_name", "national_id", "phone")
DONOR_FIELDS = ("sex", "birth_year", "population", "donor_type", "diagnosis")


def donor_code_prefix() -> str:
    return f"{settings.BARCODE_PREFIX}D-"


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
    """One indexed lookup of the national ID's keyed hash (under every configured master key): nothing is
    decrypted. An erased identity has no hash left, so the same person may be registered again."""
    if not national_id or "national_id" in errors.by_field:
        return
    clash = (DonorIdentity.objects.filter(national_id_index__in=crypto.national_id_digests(national_id))
             .exclude(donor_id=exclude_donor_id))
    existing = clash.select_related("donor").first()
    if existing is not None:
        errors.add("national_id", _duplicate_national_id_message(existing.donor.code))


def sealed_identity(donor_id: int, who: Mapping[str, str]) -> tuple[DonorKey, DonorIdentity]:
    """A new data key for the donor and their identity sealed under it, both unsaved (``who`` is cleaned:
    ``full_name``, ``national_id`` normalised, ``phone``). The clear data key never leaves this function."""
    data_key = crypto.new_data_key()
    key_id, wrapped = crypto.wrap_data_key(data_key, donor_id=donor_id)
    identity = DonorIdentity(donor_id=donor_id, national_id_index=crypto.national_id_digest(who["national_id"]),
                             **_sealed_columns(data_key, donor_id, who))
    return DonorKey(donor_id=donor_id, key_id=key_id, wrapped_key=wrapped), identity


def _sealed_columns(data_key: bytes, donor_id: int, values: Mapping[str, str]) -> dict[str, str]:
    return {DonorIdentity.ENCRYPTED_FIELDS[name]: crypto.seal(data_key, value or "", donor_id=donor_id,
                                                              field_name=name)
            for name, value in values.items()}


def store_identity(donor: Donor, who: Mapping[str, str]) -> DonorIdentity:
    """Save a new identity (and its data key) for ``donor``; the caller holds the transaction and ``acting``."""
    key, identity = sealed_identity(donor.pk, who)
    key.save()
    identity.save()
    return identity


def _correct_identity(record: DonorIdentity, who: Mapping[str, str]) -> list[str]:
    """Re-seal only the values that changed (one history row naming those columns, or none)."""
    if record.is_erased:
        raise IdentityErased(record, code="identity_erased")
    data_key = DonorKey.open_for(record.donor_id)
    current = record.reveal(data_key)
    changed = {name: value for name, value in who.items() if getattr(current, name) != value}
    if not changed:
        return []
    columns = _sealed_columns(data_key, record.donor_id, changed)
    if "national_id" in changed:
        columns["national_id_index"] = crypto.national_id_digest(changed["national_id"])
    return save_changed(record, columns)


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
                store_identity(donor, who)
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
        save_changed(locked, cleaned)
        if who:
            record = DonorIdentity.objects.select_for_update().filter(donor=locked).first()
            if record is None:
                full = _clean_identity({**who}, errors)
                errors.raise_if_any()
                store_identity(locked, full)
            else:
                _correct_identity(record, who)
    return locked
