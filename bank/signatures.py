"""Electronic signatures (21 CFR Part 11): sign a record after re-checking the signer's password.

``sign()`` is the one door: it re-authenticates (a wrong password is counted like a failed login
and raises ``Forbidden(code="signature_invalid")``), snapshots the printed name, stores the meaning
and a SHA-256 of the record's content, and links the signature to the record. ``matches()`` tells
whether the record still has the content that was signed.

A record may also say what its signer *reviewed* beyond its own fields (21 CFR 11.70: the signature is
bound to what it covers): ``record.signature_manifest()`` returns that manifest — for a lot release, every
counted QC result, the specification, deviations, donor eligibility and consent — and the signature stores
it with its SHA-256 (``Signature.manifest``, ``manifest_hash``). ``check()`` recomputes both: a record
edited after signing, or a manifest that changed (a corrected result that now counts, a deviation opened
later, consent withdrawn), shows the signature as no longer matching, with what changed. The app that owns
the record builds its manifest (bank never imports it); a model may add a classmethod
``signature_manifests(records) -> {pk: manifest}`` so a list computes them in bulk.
"""

from __future__ import annotations

import datetime
import decimal
import hashlib
import json
import uuid
from dataclasses import dataclass
from typing import Any

from django.contrib.contenttypes.models import ContentType
from django.db import models, transaction
from django.utils.translation import gettext as _

from bank.audit import acting
from bank.auth import AccountLocked, check_password
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


# --- manifests: what the signer reviewed ---------------------------------------------------------------


def signable_manifest(record: models.Model) -> dict[str, Any] | None:
    """``record.signature_manifest()`` as JSON values, or None when the record has no manifest."""
    build = getattr(record, "signature_manifest", None)
    if build is None:
        return None
    manifest = build()
    return None if manifest is None else _jsonable(manifest)


def manifest_hash(manifest: dict[str, Any] | None) -> str:
    """SHA-256 of a manifest's canonical JSON ("" for none)."""
    if manifest is None:
        return ""
    encoded = json.dumps(_jsonable(manifest), sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(encoded.encode("utf-8")).hexdigest()


def current_manifests(records) -> dict[tuple[str, Any], dict[str, Any] | None]:
    """The manifest each record would be signed with now, ``{record_key: manifest}``, for a whole page.

    A model with a ``signature_manifests(records)`` classmethod builds them in one go (a constant number of
    queries); a record without a manifest costs nothing.
    """
    by_model: dict[type, list[models.Model]] = {}
    for record in records:
        if hasattr(record, "signature_manifest"):
            by_model.setdefault(record._meta.concrete_model, []).append(record)
    found: dict[tuple[str, Any], dict[str, Any] | None] = {}
    for model, rows in by_model.items():
        bulk = getattr(model, "signature_manifests", None)
        if bulk is not None:
            built = bulk(rows)
            for record in rows:
                manifest = built.get(record.pk)
                found[record_key(record)] = None if manifest is None else _jsonable(manifest)
        else:
            for record in rows:
                found[record_key(record)] = signable_manifest(record)
    return found


def _flatten(value: Any, prefix: str = "") -> dict[str, Any]:
    if isinstance(value, dict) and value:
        flat: dict[str, Any] = {}
        for key, item in value.items():
            flat.update(_flatten(item, f"{prefix}.{key}" if prefix else str(key)))
        return flat
    return {prefix or "manifest": value}


def manifest_differences(signed: dict[str, Any] | None, now: dict[str, Any] | None,
                         limit: int = 50) -> list[dict[str, Any]]:
    """What differs between the signed manifest and today's: ``[{"path", "signed", "now"}]`` (dotted paths
    such as ``results.viability.value``), in path order, at most ``limit``."""
    before, after = _flatten(signed or {}), _flatten(now or {})
    changed = []
    for path in sorted(set(before) | set(after)):
        if before.get(path, None) != after.get(path, None) or (path in before) != (path in after):
            changed.append({"path": path, "signed": before.get(path), "now": after.get(path)})
            if len(changed) >= limit:
                break
    return changed


_NOT_GIVEN: Any = object()


@dataclass(frozen=True)
class SignatureCheck:
    """Whether a signature still matches: the record's own content, and what the signer reviewed."""

    content_matches: bool
    manifest_matches: bool | None  # None: the signature covers no manifest
    differences: list[dict[str, Any]]

    @property
    def matches(self) -> bool:
        return self.content_matches and self.manifest_matches is not False


def verify_password(user, password: str, *, source: str = "signature") -> None:
    """Re-check the signer's password (21 CFR 11.200). A wrong one counts towards the lockout of the signer at
    this client address like a failed login; while that pair is locked the password is not looked at."""
    if not user or not user.is_active:
        raise Forbidden(_("This account cannot sign."), code="signature_invalid")
    try:
        ok = check_password(user, password, failed_kind=AuthEvent.Kind.SIGNATURE_FAILED,
                            ok_kind=AuthEvent.Kind.SIGNATURE_OK, source=source)
    except AccountLocked as locked:
        raise Forbidden(locked.lock.message, code="signature_invalid")
    if not ok:
        raise Forbidden(
            _("The password is not correct; the record was not signed. Enter your own password again."),
            code="signature_invalid",
        )


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
        # Built inside the signer's transaction, after the decision's own changes: what they reviewed, as it is.
        manifest = signable_manifest(record)
        return Signature.objects.create(
            signer=signer,
            printed_name=(signer.get_full_name() or signer.get_username())[:300],
            meaning=meaning[:200],
            statement=statement or "",
            content_type=ContentType.objects.get_for_model(record, for_concrete_model=True),
            object_id=record.pk,
            content_hash=content_hash(record),
            manifest=manifest or {},
            manifest_hash=manifest_hash(manifest),
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


def check(signature: Signature, record: models.Model | None = None, *,
          current_manifest: Any = _NOT_GIVEN) -> SignatureCheck:
    """Recompute what ``signature`` covers: the record's content and, when it was signed with one, the manifest
    of what the signer reviewed (``current_manifest`` when the caller built it in bulk, else built here)."""
    record = record if record is not None else signature.record
    if record is None:
        return SignatureCheck(False, False if signature.manifest_hash else None, [])
    content_ok = content_hash(record) == signature.content_hash
    if not signature.manifest_hash:
        return SignatureCheck(content_ok, None, [])
    now = signable_manifest(record) if current_manifest is _NOT_GIVEN else current_manifest
    if manifest_hash(now) == signature.manifest_hash:
        return SignatureCheck(content_ok, True, [])
    return SignatureCheck(content_ok, False, manifest_differences(signature.manifest, now))


def matches(signature: Signature, record: models.Model | None = None) -> bool:
    """True while the signed record still has the content it had when it was signed, and what its signer
    reviewed (its manifest, when it has one) is still what it was."""
    return check(signature, record).matches


def manifestation(signature: Signature, record: models.Model | None = None, *,
                  current_manifest: Any = _NOT_GIVEN) -> dict[str, Any]:
    """What a page or API shows of a signature (21 CFR 11.50): name, date/time, meaning, validity — and what
    the signer reviewed (``manifest``) with what changed in it since (``differences``)."""
    state = check(signature, record, current_manifest=current_manifest)
    return {
        "id": signature.pk,
        "signer": signature.signer.get_username(),
        "printed_name": signature.printed_name,
        "signed_at": signature.signed_at,
        "meaning": signature.meaning,
        "meaning_display": signature.meaning_display,
        "statement": signature.statement,
        "matches": state.matches,
        "content_matches": state.content_matches,
        "manifest_matches": state.manifest_matches,
        "manifest": signature.manifest if signature.manifest_hash else None,
        "manifest_hash": signature.manifest_hash or None,
        "differences": state.differences,
    }


MEANINGS = SignatureMeaning
