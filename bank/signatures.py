"""Electronic signatures (21 CFR Part 11): sign a record after re-checking the signer's password.

``sign()`` is the one door: it re-authenticates (a wrong password is counted like a failed login
and raises ``Forbidden(code="signature_invalid")``), snapshots the printed name, stores the meaning
and a SHA-256 of the record's content, and links the signature to the record. ``matches()`` tells
whether the record still has the content that was signed.
"""

from __future__ import annotations

import datetime
import decimal
import hashlib
import json
import uuid
from typing import Any

from django.contrib.contenttypes.models import ContentType
from django.db import models, transaction
from django.utils.translation import gettext as _

from bank.audit import acting
from bank.auth import is_locked, record_event
from bank.errors import Forbidden
from bank.models import AuthEvent, Signature, SignatureMeaning

# Fields that change for reasons other than the record's content (bookkeeping, status set by the
# signed decision itself). A model may add its own with SIGNATURE_EXCLUDE_FIELDS.
_ALWAYS_EXCLUDED = {"updated_at", "modified_at"}


def _jsonable(value: Any) -> Any:
    if isinstance(value, datetime.datetime | datetime.date | datetime.time):
        return value.isoformat()
    if isinstance(value, decimal.Decimal):
        return str(value.normalize())
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    return value


def signable_content(instance: models.Model) -> dict[str, Any]:
    """The content a signature covers: ``instance.signature_content()`` or its concrete fields."""
    if hasattr(instance, "signature_content"):
        return _jsonable(instance.signature_content())
    excluded = _ALWAYS_EXCLUDED | set(getattr(instance, "SIGNATURE_EXCLUDE_FIELDS", ()))
    return {
        field.attname: _jsonable(getattr(instance, field.attname))
        for field in instance._meta.concrete_fields
        if field.name not in excluded and field.attname not in excluded
    }


def content_hash(instance: models.Model) -> str:
    payload = {
        "model": instance._meta.label_lower,
        "pk": instance.pk,
        "content": signable_content(instance),
    }
    encoded = json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(encoded.encode("utf-8")).hexdigest()


def verify_password(user, password: str, *, source: str = "signature") -> None:
    """Re-check the signer's password; a failure counts towards lockout like a failed login."""
    if not user or not user.is_active:
        raise Forbidden(_("This account cannot sign."), code="signature_invalid")
    if is_locked(user.get_username()):
        record_event(user.get_username(), AuthEvent.Kind.SIGNATURE_FAILED, "locked")
        raise Forbidden(
            _("The account is locked after repeated failed attempts. Try again later or ask an admin."),
            code="signature_invalid",
        )
    if not password or not user.check_password(password):
        record_event(user.get_username(), AuthEvent.Kind.SIGNATURE_FAILED, source)
        raise Forbidden(
            _("The password is not correct; the record was not signed. Enter your own password again."),
            code="signature_invalid",
        )
    record_event(user.get_username(), AuthEvent.Kind.SIGNATURE_OK, source)


def sign(record: models.Model, *, signer, password: str, meaning: str, statement: str = "") -> Signature:
    """Verify the password, then sign ``record`` as ``signer``.

    A service whose decision and signature must commit together calls ``verify_password`` first,
    outside its transaction (so a failed attempt is recorded even though nothing else is), then
    ``record_signature`` inside it, after its changes.
    """
    verify_password(signer, password)
    return record_signature(record, signer=signer, meaning=meaning, statement=statement)


def record_signature(record, *, signer, meaning: str, statement: str = "") -> Signature:
    """Store the signature of an already re-authenticated ``signer`` over ``record``'s content."""
    meaning = (meaning or "").strip()
    if not meaning:
        raise Forbidden(_("A signature needs a meaning."), code="signature_invalid")
    with transaction.atomic(), acting(signer, reason=f"e-signature: {meaning}"[:100]):
        return Signature.objects.create(
            signer=signer,
            printed_name=(signer.get_full_name() or signer.get_username())[:300],
            meaning=meaning[:200],
            statement=statement or "",
            content_type=ContentType.objects.get_for_model(record, for_concrete_model=True),
            object_id=record.pk,
            content_hash=content_hash(record),
        )


def signatures_for(record: models.Model):
    ct = ContentType.objects.get_for_model(record, for_concrete_model=True)
    return Signature.objects.filter(content_type=ct, object_id=record.pk).select_related("signer")


def record_key(record: models.Model) -> tuple[str, Any]:
    """How ``signatures_by_record`` files a record's signatures: its concrete model and primary key."""
    return record._meta.concrete_model._meta.label_lower, record.pk


def signatures_by_record(records) -> dict[tuple[str, Any], list[Signature]]:
    """The signatures of every record of a page, newest first as ``signatures_for`` gives them.

    ``{record_key(record): [signature, ...]}`` with an entry (perhaps empty) for each record: one query for
    the records of one model (content types come from Django's cache), none for an empty page.
    """
    by_model: dict[type, list[models.Model]] = {}
    for record in records:
        by_model.setdefault(record._meta.concrete_model, []).append(record)
    found: dict[tuple[str, Any], list[Signature]] = {}
    for model, rows in by_model.items():
        for record in rows:
            found[record_key(record)] = []
        ct = ContentType.objects.get_for_model(model, for_concrete_model=True)
        label = model._meta.label_lower
        for signature in (Signature.objects.filter(content_type=ct, object_id__in={r.pk for r in rows})
                          .select_related("signer")):
            found[(label, signature.object_id)].append(signature)
    return found


def matches(signature: Signature, record: models.Model | None = None) -> bool:
    """True while the signed record still has the content it had when it was signed."""
    record = record if record is not None else signature.record
    return record is not None and content_hash(record) == signature.content_hash


def manifestation(signature: Signature, record: models.Model | None = None) -> dict[str, Any]:
    """What a page or API shows of a signature (21 CFR 11.50): name, date/time, meaning, validity."""
    return {
        "id": signature.pk,
        "signer": signature.signer.get_username(),
        "printed_name": signature.printed_name,
        "signed_at": signature.signed_at,
        "meaning": signature.meaning,
        "meaning_display": signature.meaning_display,
        "statement": signature.statement,
        "matches": matches(signature, record),
    }


MEANINGS = SignatureMeaning
