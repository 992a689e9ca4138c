"""System checks of the donors settings: a bank must not start without the key that seals donor identities."""

from __future__ import annotations

from django.conf import settings
from django.core.checks import Error

from donors import crypto

_HINT = ("Set DONOR_IDENTITY_KEY, or DONOR_IDENTITY_KEY_FILE naming a file that holds it, to a key made by "
         "`python manage.py rotate_identity_key --new-key` (32 random bytes, URL-safe base64). Keep it outside the "
         "database and its backups: whoever holds both can read every donor's identity.")


def check_identity_key(app_configs=None, **kwargs) -> list[Error]:
    errors = []
    for setting, problem in crypto.configuration_problems():
        if setting == "DONOR_IDENTITY_KEY" and problem == "missing":
            errors.append(Error(
                "DONOR_IDENTITY_KEY is not set: donor identities (name, national ID, phone) cannot be encrypted "
                "or read." + (" Production mode never generates a key." if not settings.DEBUG else ""),
                hint=_HINT, id="donors.E001"))
        elif setting == "DONOR_IDENTITY_KEY":
            errors.append(Error(f"DONOR_IDENTITY_KEY is not a valid identity key ({problem}).", hint=_HINT,
                                id="donors.E002"))
        else:
            errors.append(Error(f"An entry of DONOR_IDENTITY_RETIRED_KEYS is not a valid identity key ({problem}).",
                                hint="List former DONOR_IDENTITY_KEY values exactly as they were, comma-separated.",
                                id="donors.E003"))
    return errors
