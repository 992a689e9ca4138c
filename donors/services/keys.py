"""Rotation of the master key that wraps the donors' data keys (``manage.py rotate_identity_key``).

Only the wrapping changes: each donor's data key — and so every ciphertext in the identity table and its
history — stays as it is, and nothing is decrypted but the national ID, to re-index it under the new key.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.db import transaction
from django.utils.translation import gettext as _
from simple_history.utils import bulk_update_with_history

from bank.audit import acting, current_actor
from donors import crypto
from donors.models import DonorIdentity, DonorKey


@dataclass
class Rotation:
    key_id: str
    rewrapped: int
    reindexed: int


def rotate_identity_keys(*, actor=None, reason: str = "", batch_size: int = 500) -> Rotation:
    """Re-wrap every data key not wrapped by the current master key (DONOR_IDENTITY_KEY) and re-index its
    identity's national ID under it. The former key must be listed in DONOR_IDENTITY_RETIRED_KEYS until this
    has run; it can then be dropped. Batches commit one by one, so an interrupted rotation simply resumes."""
    ring = crypto.keyring()
    current = ring.current.key_id
    rewrapped = reindexed = 0
    last = 0
    reason = _("identity key rotated to %(key_id)s") % {"key_id": current} + (f" ({reason})" if reason else "")
    while True:
        with transaction.atomic(), acting(actor, reason):
            keys = list(DonorKey.objects.select_for_update().filter(wrapped_key__isnull=False, pk__gt=last)
                        .exclude(key_id=current).order_by("pk")[:batch_size])
            if not keys:
                break
            last = keys[-1].pk
            identities = {i.donor_id: i for i in DonorIdentity.objects.select_for_update()
                          .filter(donor_id__in=[k.donor_id for k in keys], erased_at__isnull=True)}
            reindex = []
            for key in keys:
                data_key = key.open()
                key.key_id, key.wrapped_key = crypto.wrap_data_key(data_key, donor_id=key.donor_id)
                identity = identities.get(key.donor_id)
                if identity is not None:
                    identity.national_id_index = crypto.national_id_digest(identity.reveal(data_key).national_id)
                    reindex.append(identity)
            bulk_update_with_history(keys, DonorKey, ["key_id", "wrapped_key"], default_user=current_actor(),
                                     default_change_reason=reason[:100])
            # A derived index, left out of the history on purpose: no history row is written for it.
            DonorIdentity.objects.bulk_update(reindex, ["national_id_index"])
            rewrapped += len(keys)
            reindexed += len(reindex)
    return Rotation(key_id=current, rewrapped=rewrapped, reindexed=reindexed)
