"""Family storage: the contract of a family unit (owner, fees, renewals), the owner's release request, and
the donation of a family unit to the public inventory."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from bank.audit import acting, save_changed
from bank.errors import Conflict
from cordblood.choices import Acceptance, ContractStatus, ListingStatus, Ownership
from cordblood.models import ContractPayment, CordBloodUnit, FamilyContract

from ._common import _as_date, _Errors, _text, decimal_in


def _refuse_not_family(unit: CordBloodUnit) -> None:
    if unit.ownership != Ownership.FAMILY:
        raise Conflict(_("Unit %(din)s is a public unit: it has no family contract.") % {"din": unit.din},
                       code="not_family_unit")


def _refuse_closed(contract: FamilyContract) -> None:
    if contract.status != ContractStatus.ACTIVE:
        raise Conflict(_("Contract %(number)s is %(status)s.") % {
            "number": contract.number, "status": contract.get_status_display()}, code="contract_not_active")


def create_contract(unit: CordBloodUnit, *, actor, number: str, signed_on: Any, paid_until: Any,
                    initial_fee: Any = 0, annual_fee: Any = 0, currency: str = "CNY") -> FamilyContract:
    """The storage contract of a family unit; its owner is the baby's mother."""
    errors = _Errors()
    number = _text(number).upper()
    if not number or len(number) > 40:
        errors.add("number", _("Enter the contract number."))
    elif FamilyContract.objects.filter(number=number).exists():
        errors.add("number", _("Contract %(number)s exists already.") % {"number": number})
    signed = _as_date(signed_on, "signed_on", errors)
    paid = _as_date(paid_until, "paid_until", errors)
    if signed and paid and paid < signed:
        errors.add("paid_until", _("Storage cannot be paid until a day before the contract was signed."))
    first = decimal_in(initial_fee, "initial_fee", errors, high="10000000")
    yearly = decimal_in(annual_fee, "annual_fee", errors, high="10000000")
    currency = (_text(currency) or "CNY").upper()[:3]
    errors.raise_if_any()
    with transaction.atomic(), acting(actor, _("family contract signed")):
        locked = CordBloodUnit.objects.select_for_update(of=("self",)).select_related("donation").get(pk=unit.pk)
        _refuse_not_family(locked)
        if locked.acceptance in (Acceptance.DISCARDED, Acceptance.RESEARCH):
            raise Conflict(_("Unit %(din)s was %(outcome)s: there is nothing to store under a contract.") % {
                "din": locked.din, "outcome": locked.get_acceptance_display().lower()}, code="invalid_transition")
        if FamilyContract.objects.filter(unit=locked).exists():
            raise Conflict(_("Unit %(din)s has a contract already.") % {"din": locked.din}, code="contract_exists")
        try:
            with transaction.atomic():  # a savepoint: two requests racing for one number get a field error
                return FamilyContract.objects.create(
                    unit=locked, owner_id=locked.donation.mother_id, number=number, signed_on=signed,
                    paid_until=paid, initial_fee=first or 0, annual_fee=yearly or 0, currency=currency,
                    recorded_by=actor)
        except IntegrityError:
            raise ValidationError({"number": [_("Contract %(number)s exists already.") % {"number": number}]}) from None


def record_payment(contract: FamilyContract, *, actor, paid_on: Any, amount: Any, covers_until: Any,
                   note: str = "") -> ContractPayment:
    """A fee paid (a renewal): storage is then paid until ``covers_until`` if that is later."""
    errors = _Errors()
    paid = _as_date(paid_on, "paid_on", errors)
    money = decimal_in(amount, "amount", errors, high="10000000", required=True)
    until = _as_date(covers_until, "covers_until", errors)
    errors.raise_if_any()
    with transaction.atomic(), acting(actor, _("contract payment")):
        locked = FamilyContract.objects.select_for_update().get(pk=contract.pk)
        _refuse_closed(locked)
        payment = ContractPayment.objects.create(contract=locked, paid_on=paid, amount=money, covers_until=until,
                                                 note=_text(note)[:200], recorded_by=actor)
        if until > locked.paid_until:
            save_changed(locked, {"paid_until": until})
    return payment


def request_release(contract: FamilyContract, *, actor, note: str) -> FamilyContract:
    """The owner asks for her unit (for a family member's transplant): the one way a family unit is released."""
    note = _text(note)
    if not note:
        raise ValidationError({"note": [_("Say what the owner asked for (who the unit is for, which centre).")]})
    with transaction.atomic(), acting(actor, _("release requested by the owner")):
        locked = FamilyContract.objects.select_for_update().get(pk=contract.pk)
        _refuse_closed(locked)
        save_changed(locked, {"release_requested_at": timezone.now(), "release_request_note": note[:300]})
    return locked


def owner_requested_release(unit: CordBloodUnit) -> bool:
    """Whether a family unit may leave the bank: only when its owner asked (public units: always True)."""
    if unit.ownership != Ownership.FAMILY:
        return True
    contract = FamilyContract.objects.filter(unit=unit).first()
    return bool(contract and contract.status == ContractStatus.ACTIVE and contract.release_requested_at)


def donate_to_public(contract: FamilyContract, *, actor, reason: str) -> FamilyContract:
    """The owner gives her family unit to the public inventory: the contract ends as donated and the unit
    becomes public (not listed until QA lists it). Both changes are in the audit trail with ``reason``."""
    reason = _text(reason)
    if not reason:
        raise ValidationError({"reason": [_("Give a reason: it is kept in the audit trail.")]})
    with transaction.atomic(), acting(actor, reason):
        locked = FamilyContract.objects.select_for_update().get(pk=contract.pk)
        _refuse_closed(locked)
        unit = CordBloodUnit.objects.select_for_update().get(pk=locked.unit_id)
        save_changed(locked, {"status": ContractStatus.DONATED})
        save_changed(unit, {"ownership": Ownership.PUBLIC, "listing_status": ListingStatus.NOT_LISTED})
    return locked
