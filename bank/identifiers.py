"""Identifiers people scan or type: vial, box and lot barcodes; donor, collection, deviation and request
codes; lot numbers and line names.

The bank's own codes are capitals and digits (``SBV00000042``, ``SBD-7K3Q9XMA``, ``COL-2026-0001``). They are
stored in an ``IdentifierField``, which normalises what is written *and* what is looked up (surrounding
space and control characters a scanner adds removed, capitals), so every lookup is an exact match on the
unique index — at four million vials a case-insensitive match would read them all.

Names that keep lower case (hPSCreg line names such as ``SCBi001-A``, and lot numbers built from them) are
stored as registered; a unique index on their upper-case form keeps two names from differing by case only,
and ``upper_equals`` finds them through that index whatever the case typed.

Each app owns the one lookup function of its kinds (``lots.queries.vial_by_barcode``, ``lot_by_code``,
``line_by_name``; ``storage.queries.box_by_barcode``; ``donors.queries.donor_by_code``,
``collection_by_code``; ``qc.queries.deviation_by_number``; ``distribution.queries.request_by_number``).
"""

from __future__ import annotations

import re

from django.db import models
from django.db.models.functions import Upper
from django.db.models.lookups import Exact

# Longer than any identifier the bank issues or imports: a longer scan is not one of ours.
MAX_LENGTH = 100
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def normalise(code) -> str:
    """A scanned or typed identifier as stored: no control characters or surrounding space, capitals."""
    return _CONTROL.sub("", str(code or "")).strip().upper()


def scannable(code) -> str:
    """``normalise(code)``, or "" when it cannot be an identifier (empty or too long): look nothing up."""
    code = normalise(code)
    return code if len(code) <= MAX_LENGTH else ""


def upper_equals(field: str, code) -> Exact:
    """``UPPER(field) = CODE``: a case-insensitive match that uses the field's upper-case unique index."""
    return Exact(Upper(field), normalise(code))


def first_match(queryset):
    """The one row a unique identifier names, or None — without ``first()``'s ORDER BY pk, which can lead the
    planner to walk the primary key instead of the identifier's index."""
    found = list(queryset.order_by()[:1])
    return found[0] if found else None


class IdentifierField(models.CharField):
    """A code the bank issues in capitals: normalised on write and in lookups (see the module docstring)."""

    def get_prep_value(self, value):
        value = super().get_prep_value(value)
        return normalise(value) if isinstance(value, str) else value

    def deconstruct(self):
        # Stored exactly like a CharField: migrations see one (no table rebuild on SQLite, nothing to alter).
        name, _path, args, kwargs = super().deconstruct()
        return name, "django.db.models.CharField", args, kwargs

    def pre_save(self, model_instance, add):
        value = getattr(model_instance, self.attname)
        if isinstance(value, str):
            value = normalise(value)
            setattr(model_instance, self.attname, value)
        return value
