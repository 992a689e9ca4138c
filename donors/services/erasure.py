"""Erasure of a donor's identity on their request (GDPR art. 17, PIPL art. 47) by crypto-shredding.

The donor's data key is destroyed: every ciphertext of their identity — in ``DonorIdentity`` and in each of its
history rows — can never be opened again, by anyone, while no history row is updated or deleted (history stays
append-only and its hash chain intact). The live row keeps only a tombstone (when, who, why); its ciphertexts
and the keyed national-ID hash are cleared, so the bank cannot re-identify the person even from the national ID
(and may register them again as a new donor if they come back). The pseudonymous donor, their consents,
screenings, HLA, collections, lots, vials and the whole audit trail stay: the material stays traceable to the
donor code. Nothing blocks an erasure — a consent withdrawal is a separate decision — but it cannot be undone,
so it takes a reason and the coordinator's password again (an electronic signature, 21 CFR 11.200).
"""

from __future__ import annotations

import re

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from bank.audit import acting
from bank.errors import Conflict
from bank.signatures import verify_password
from donors import crypto
from donors.models import Donor, DonorIdentity, DonorKey, IdentityErased

from ._input import _Errors, _require_reason

ERASED_COLUMNS = ("full_name_encrypted", "national_id_encrypted", "phone_encrypted", "national_id_index",
                  "erased_at", "erased_by", "erasure_reason")


def _squeezed(text: str) -> str:
    return re.sub(r"\s+", "", text).casefold()


def _reason_names_the_donor(identity: DonorIdentity, reason: str) -> bool:
    """Whether the reason repeats the name, national ID or phone (it stays in the audit trail in clear).

    Best effort: when the identity cannot be opened (no key), nothing can be compared and nothing is refused.
    """
    try:
        clear = identity.reveal()
    except crypto.IdentityKeyUnavailable:
        return False
    said = _squeezed(reason)
    digits = re.sub(r"\D", "", reason)
    # The subscriber number, whatever country code or punctuation the reason writes it with.
    phone = re.sub(r"\D", "", clear.phone)[-8:]
    return bool(
        (clear.full_name and _squeezed(clear.full_name) in said)
        or (clear.national_id and _squeezed(clear.national_id) in said)
        or (len(phone) >= 6 and phone in digits)
    )


def erase_identity(donor: Donor, *, actor, reason: str, password: str) -> DonorIdentity:
    """Erase ``donor``'s identity for good: destroy their data key, keep a tombstone, return the identity row.

    400 no reason, or a reason that names the person; 403 ``signature_invalid`` (wrong password, counted like a
    failed login); 409 ``no_identity`` (none on file) or ``identity_erased`` (erased already).
    """
    errors = _Errors()
    reason = _require_reason(reason, errors)
    errors.raise_if_any()
    identity = DonorIdentity.objects.select_related("donor").filter(donor=donor).first()
    if identity is None:
        raise Conflict(_("Donor %(code)s has no identity on file: there is nothing to erase.") % {
            "code": donor.code}, code="no_identity")
    if identity.is_erased:
        raise IdentityErased(identity, code="identity_erased")
    if _reason_names_the_donor(identity, reason):
        errors.add("reason", _("Do not write the donor's name, national ID or phone in the reason: it stays in the "
                               "audit trail after the identity is erased."))
        errors.raise_if_any()
    verify_password(actor, password, source="identity_erasure")  # outside the transaction: a failure stays recorded
    with transaction.atomic(), acting(actor, reason):
        locked = DonorIdentity.objects.select_for_update().select_related("donor").get(pk=identity.pk)
        if locked.is_erased:
            raise IdentityErased(locked, code="identity_erased")
        now = timezone.now()
        key = DonorKey.objects.select_for_update().filter(donor_id=locked.donor_id).first()
        if key is not None and key.wrapped_key is not None:
            # The one deliberate destruction of the bank: its history row records when, never the key.
            key.wrapped_key = None
            key.destroyed_at = now
            key.save(update_fields=["wrapped_key", "destroyed_at"])
        locked.full_name_encrypted = locked.national_id_encrypted = locked.phone_encrypted = ""
        locked.national_id_index = None
        locked.erased_at, locked.erased_by, locked.erasure_reason = now, actor, reason
        locked.save(update_fields=list(ERASED_COLUMNS))
    return locked
