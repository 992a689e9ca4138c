# Issue 11, privacy: step 2 of 3. Every identity already on file gets its own data key (wrapped by the master
# key, DONOR_IDENTITY_KEY) and its name, national ID and phone sealed under it, plus the keyed national-ID
# index. One history row per identity (and per data key) records the change, carrying only ciphertext.
# Step 3 then drops the plaintext columns. Needs the identity key when there is anything to encrypt.

import re

from django.db import migrations
from django.utils import timezone

BATCH = 500
REASON = "identity encrypted at rest (issue 11)"


def encrypt_existing(apps, schema_editor):
    db = schema_editor.connection.alias
    DonorIdentity = apps.get_model("donors", "DonorIdentity")
    DonorKey = apps.get_model("donors", "DonorKey")
    HistoricalDonorIdentity = apps.get_model("donors", "HistoricalDonorIdentity")
    HistoricalDonorKey = apps.get_model("donors", "HistoricalDonorKey")
    pending = DonorIdentity.objects.using(db).filter(full_name_encrypted="", erased_at__isnull=True).order_by("pk")
    if not pending.exists():
        return
    from donors import crypto

    try:
        crypto.keyring()
    except crypto.IdentityKeyUnavailable as exc:
        raise RuntimeError(f"{exc} Set DONOR_IDENTITY_KEY (or DONOR_IDENTITY_KEY_FILE) before migrating: the "
                           "donor identities on file are encrypted with it.") from exc
    now = timezone.now()
    last = 0
    while True:
        batch = list(pending.filter(pk__gt=last)[:BATCH])
        if not batch:
            break
        last = batch[-1].pk
        keys, identity_rows, key_rows = [], [], []
        for identity in batch:
            data_key = crypto.new_data_key()
            key_id, wrapped = crypto.wrap_data_key(data_key, donor_id=identity.donor_id)
            keys.append(DonorKey(donor_id=identity.donor_id, key_id=key_id, wrapped_key=wrapped, created_at=now))
            national_id = re.sub(r"\s+", "", identity.national_id or "").upper()
            for name, value in (("full_name", identity.full_name), ("national_id", national_id),
                                ("phone", identity.phone or "")):
                setattr(identity, f"{name}_encrypted",
                        crypto.seal(data_key, value, donor_id=identity.donor_id, field_name=name))
            identity.national_id_index = crypto.national_id_digest(national_id)
            identity_rows.append(HistoricalDonorIdentity(
                id=identity.pk, donor_id=identity.donor_id, full_name="", national_id="", phone="",
                full_name_encrypted=identity.full_name_encrypted,
                national_id_encrypted=identity.national_id_encrypted, phone_encrypted=identity.phone_encrypted,
                erased_at=None, erased_by_id=None, erasure_reason="",
                history_date=now, history_type="~", history_change_reason=REASON, history_user_id=None))
        DonorKey.objects.using(db).bulk_create(keys)
        DonorIdentity.objects.using(db).bulk_update(
            batch, ["full_name_encrypted", "national_id_encrypted", "phone_encrypted", "national_id_index"])
        for key in keys:
            key_rows.append(HistoricalDonorKey(
                id=key.pk, donor_id=key.donor_id, key_id=key.key_id, created_at=key.created_at, destroyed_at=None,
                history_date=now, history_type="+", history_change_reason=REASON, history_user_id=None))
        HistoricalDonorIdentity.objects.using(db).bulk_create(identity_rows)
        HistoricalDonorKey.objects.using(db).bulk_create(key_rows)


def decrypt_back(apps, schema_editor):
    """Reverse (for a database being taken back to 0003): the clear values return to the plaintext columns."""
    db = schema_editor.connection.alias
    DonorIdentity = apps.get_model("donors", "DonorIdentity")
    DonorKey = apps.get_model("donors", "DonorKey")
    identities = list(DonorIdentity.objects.using(db).exclude(full_name_encrypted="").order_by("pk"))
    if not identities:
        return
    from donors import crypto

    keys = {k.donor_id: k for k in DonorKey.objects.using(db).filter(donor_id__in=[i.donor_id for i in identities])}
    for identity in identities:
        key = keys[identity.donor_id]
        data_key = crypto.unwrap_data_key(key.key_id, key.wrapped_key, donor_id=identity.donor_id)
        for name in ("full_name", "national_id", "phone"):
            setattr(identity, name, crypto.unseal(data_key, getattr(identity, f"{name}_encrypted"),
                                                  donor_id=identity.donor_id, field_name=name))
            setattr(identity, f"{name}_encrypted", "")
        identity.national_id_index = None
    DonorIdentity.objects.using(db).bulk_update(identities, [
        "full_name", "national_id", "phone", "full_name_encrypted", "national_id_encrypted", "phone_encrypted",
        "national_id_index"])
    DonorKey.objects.using(db).filter(donor_id__in=keys).delete()


class Migration(migrations.Migration):

    dependencies = [
        ("donors", "0003_identity_encryption_columns"),
    ]

    operations = [
        migrations.RunPython(encrypt_existing, decrypt_back),
    ]
