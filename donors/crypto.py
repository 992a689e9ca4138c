"""Encryption at rest of the donor's identity (PIPL art. 51, GDPR art. 32) and its crypto-shredding (art. 17).

Envelope encryption with the maintained ``cryptography`` library, nothing hand-rolled:

- Every donor has a **data key** of their own (256-bit AES-GCM). Their full name, national ID and phone are
  each sealed with it (a random 96-bit nonce per value; the donor and the field are bound in as associated
  data, so a ciphertext cannot be moved to another donor or field). The columns of ``DonorIdentity`` and of
  its history table hold only these ciphertexts.
- The data key is stored only **wrapped** (AES-GCM encrypted) by a **master key** that never enters the
  database: ``DONOR_IDENTITY_KEY`` (or ``DONOR_IDENTITY_KEY_FILE``; in the embedded demo a key file generated
  under ``VAR_DIR`` on first use). Each wrapped key carries the id of the master key that wrapped it; retired
  master keys (``DONOR_IDENTITY_RETIRED_KEYS``) still open the keys they wrapped until
  ``manage.py rotate_identity_key`` re-wraps them under the current one.
- Duplicate national IDs are found without decrypting anything: ``national_id_digest`` is an HMAC-SHA256 of
  the normalised ID under a key derived (HKDF) from the master key for that purpose only.
- Destroying a donor's wrapped data key makes every ciphertext of that donor — in the table and in every
  history row — unreadable for good: that is the erasure (``donors.services.erase_identity``).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import os
import secrets
from dataclasses import dataclass, field
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from django.conf import settings
from django.utils.translation import gettext_lazy as _

from bank.errors import DomainError

KEY_BYTES = 32
NONCE_BYTES = 12
TOKEN_PREFIX = "v1:"
_CONTEXT = b"stembank/donor-identity/"


class IdentityKeyUnavailable(DomainError):
    """The identity key is missing, malformed, or is not the key the identity was sealed with (HTTP 503).

    Only what needs a donor's identity fails: lists, other roles' pages and everything else keep working.
    """

    status = 503
    default_code = "identity_key_unavailable"


def _unavailable(detail) -> IdentityKeyUnavailable:
    return IdentityKeyUnavailable(detail, code="identity_key_unavailable")


# --- master keys ------------------------------------------------------------------------------------


def generate_key() -> str:
    """A new master key: 32 random bytes, URL-safe base64 (what DONOR_IDENTITY_KEY holds)."""
    return base64.urlsafe_b64encode(os.urandom(KEY_BYTES)).decode("ascii")


def parse_key(text: str) -> bytes:
    """The 32 bytes of a master key written as base64; ``ValueError`` for anything else."""
    try:
        raw = base64.b64decode(text.strip().encode("ascii"), altchars=b"-_", validate=True)
    except (UnicodeEncodeError, binascii.Error) as exc:
        raise ValueError("not base64") from exc
    if len(raw) != KEY_BYTES:
        raise ValueError(f"{len(raw)} bytes instead of {KEY_BYTES}")
    return raw


def _derive(master: bytes, purpose: bytes, length: int = KEY_BYTES) -> bytes:
    # Each use gets its own key: the wrapping key, the national-ID index key and the public key id never coincide.
    return HKDF(algorithm=hashes.SHA256(), length=length, salt=None, info=_CONTEXT + purpose).derive(master)


@dataclass(frozen=True)
class MasterKey:
    """One master key and the keys derived from it."""

    key_id: str
    wrapping: AESGCM = field(repr=False)
    index_key: bytes = field(repr=False)

    @classmethod
    def from_text(cls, text: str) -> MasterKey:
        master = parse_key(text)
        return cls(key_id=_derive(master, b"key-id/v1", 8).hex(), wrapping=AESGCM(_derive(master, b"wrap/v1")),
                   index_key=_derive(master, b"national-id-index/v1"))


@dataclass(frozen=True)
class KeyRing:
    """The current master key (wraps new data keys) and the retired ones (still unwrap old data keys)."""

    current: MasterKey
    retired: tuple[MasterKey, ...] = ()

    def by_id(self, key_id: str) -> MasterKey | None:
        for key in (self.current, *self.retired):
            if key.key_id == key_id:
                return key
        return None

    @property
    def all(self) -> tuple[MasterKey, ...]:
        return (self.current, *self.retired)


def _demo_key(path: Path) -> str:
    """The embedded demo's key file: read it, or create it once (mode 0600) when nobody has yet.

    Web, worker and test processes may start together: the file is written aside and linked into place,
    so a reader never sees half a key and two writers never produce two keys.
    """
    try:
        return path.read_text(encoding="ascii").strip()
    except FileNotFoundError:
        pass
    path.parent.mkdir(parents=True, exist_ok=True)
    aside = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}")
    descriptor = os.open(aside, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "w", encoding="ascii") as handle:
        handle.write(generate_key() + "\n")
    try:
        os.link(aside, path)
    except FileExistsError:
        pass  # another process made it first: use theirs
    finally:
        aside.unlink()
    return path.read_text(encoding="ascii").strip()


_rings: dict[tuple, KeyRing] = {}


def keyring() -> KeyRing:
    """The configured master keys (cached per configuration). Raises ``IdentityKeyUnavailable``."""
    configured = (settings.DONOR_IDENTITY_KEY or "", tuple(settings.DONOR_IDENTITY_RETIRED_KEYS or ()),
                  str(settings.DONOR_IDENTITY_DEMO_KEY_FILE or ""))
    ring = _rings.get(configured)
    if ring is not None:
        return ring
    current_text, retired_texts, demo_file = configured
    if not current_text.strip():
        if not demo_file:
            raise _unavailable(_("Donor identities cannot be read or stored: no identity key is configured "
                                 "(DONOR_IDENTITY_KEY). Ask an administrator."))
        current_text = _demo_key(Path(demo_file))
    try:
        current = MasterKey.from_text(current_text)
    except ValueError:
        raise _unavailable(_("Donor identities cannot be read or stored: the identity key (DONOR_IDENTITY_KEY) is "
                             "not a valid key. Ask an administrator."))
    retired = []
    for text in retired_texts:
        try:
            retired.append(MasterKey.from_text(text))
        except ValueError:
            raise _unavailable(_("Donor identities cannot be read or stored: a retired identity key "
                                 "(DONOR_IDENTITY_RETIRED_KEYS) is not a valid key. Ask an administrator."))
    ring = KeyRing(current=current, retired=tuple(k for k in retired if k.key_id != current.key_id))
    _rings.clear()
    _rings[configured] = ring
    return ring


def configuration_problems() -> list[tuple[str, str]]:
    """``[(setting, problem)]`` for the system check; empty when the keys are usable. Never writes a file."""
    problems = []
    current = (settings.DONOR_IDENTITY_KEY or "").strip()
    if not current and not settings.DONOR_IDENTITY_DEMO_KEY_FILE:
        problems.append(("DONOR_IDENTITY_KEY", "missing"))
    elif current:
        try:
            parse_key(current)
        except ValueError as exc:
            problems.append(("DONOR_IDENTITY_KEY", str(exc)))
    for text in settings.DONOR_IDENTITY_RETIRED_KEYS or ():
        try:
            parse_key(text)
        except ValueError as exc:
            problems.append(("DONOR_IDENTITY_RETIRED_KEYS", str(exc)))
    return problems


# --- data keys --------------------------------------------------------------------------------------


def new_data_key() -> bytes:
    return AESGCM.generate_key(bit_length=KEY_BYTES * 8)


def _key_aad(donor_id: int) -> bytes:
    return b"donor-key:%d" % donor_id


def wrap_data_key(data_key: bytes, *, donor_id: int) -> tuple[str, bytes]:
    """``(key id, wrapped key)`` of ``data_key`` under the current master key, bound to the donor."""
    current = keyring().current
    nonce = os.urandom(NONCE_BYTES)
    return current.key_id, nonce + current.wrapping.encrypt(nonce, data_key, _key_aad(donor_id))


def unwrap_data_key(key_id: str, wrapped: bytes, *, donor_id: int) -> bytes:
    master = keyring().by_id(key_id)
    if master is None:
        raise _unavailable(_("This identity was sealed with identity key %(key_id)s, which is not configured. "
                             "An administrator must set it as DONOR_IDENTITY_KEY or list it in "
                             "DONOR_IDENTITY_RETIRED_KEYS.") % {"key_id": key_id})
    wrapped = bytes(wrapped)
    try:
        return master.wrapping.decrypt(wrapped[:NONCE_BYTES], wrapped[NONCE_BYTES:], _key_aad(donor_id))
    except InvalidTag:
        raise _unavailable(_("The data key of this donor does not open with identity key %(key_id)s: it was "
                             "altered. Ask an administrator.") % {"key_id": key_id})


# --- sealed values ----------------------------------------------------------------------------------


def _value_aad(donor_id: int, field_name: str) -> bytes:
    return f"donor-identity:{donor_id}:{field_name}".encode()


def seal(data_key: bytes, value: str, *, donor_id: int, field_name: str) -> str:
    """``value`` encrypted under the donor's data key, as text: ``v1:`` + base64(nonce + ciphertext + tag)."""
    nonce = os.urandom(NONCE_BYTES)
    sealed = AESGCM(data_key).encrypt(nonce, value.encode("utf-8"), _value_aad(donor_id, field_name))
    return TOKEN_PREFIX + base64.urlsafe_b64encode(nonce + sealed).decode("ascii")


def unseal(data_key: bytes, token: str, *, donor_id: int, field_name: str) -> str:
    if not token.startswith(TOKEN_PREFIX):
        raise _unavailable(_("A stored identity value is not in a format this version reads."))
    try:
        raw = base64.urlsafe_b64decode(token[len(TOKEN_PREFIX):].encode("ascii"))
        plain = AESGCM(data_key).decrypt(raw[:NONCE_BYTES], raw[NONCE_BYTES:], _value_aad(donor_id, field_name))
    except (binascii.Error, ValueError, InvalidTag):
        raise _unavailable(_("A stored identity value does not open with this donor's data key: it was altered."))
    return plain.decode("utf-8")


# --- the national-ID index --------------------------------------------------------------------------


def national_id_digest(national_id: str, master: MasterKey | None = None) -> str:
    """Keyed hash of a normalised national ID under the current (or the given) master key: unique-indexed."""
    key = (master or keyring().current).index_key
    return hmac.new(key, national_id.encode("utf-8"), hashlib.sha256).hexdigest()


def national_id_digests(national_id: str) -> list[str]:
    """The digests of ``national_id`` under every configured master key (current first): until a rotation has
    re-indexed every identity, an ID registered under a retired key is still found."""
    return [national_id_digest(national_id, master) for master in keyring().all]
