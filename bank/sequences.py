"""Numbers the bank hands out: barcodes, names of lines and lots, collection, deviation and request numbers.

One strategy for all of them. Each family of numbers (``barcode:vial``, ``deviation:2026``, ``name:SCBi``,
``lot:MCB-SCBi001-A-2026-#`` ...) is one ``bank.Sequence`` row. Taking numbers creates the row race-free
(INSERT ... ON CONFLICT DO NOTHING), locks it (SELECT ... FOR UPDATE) and moves it on, inside the caller's
transaction: two people taking numbers at the same moment queue on the row, a number is never handed out
twice, and numbers taken by a transaction that rolls back are handed out again (nothing used them).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils.translation import gettext as _

from bank.models import Sequence

KEY_MAX_LENGTH = 100


def _key(key: str) -> str:
    if len(key) <= KEY_MAX_LENGTH:
        return key
    digest = hashlib.sha1(key.encode(), usedforsecurity=False).hexdigest()
    return key[:KEY_MAX_LENGTH - 41] + "~" + digest


def take(key: str, count: int = 1, *, taken: Callable[[int], bool] | None = None,
         limit: int | None = None) -> list[int]:
    """The next ``count`` numbers of the family ``key`` (1, 2, 3 ... the first time).

    ``taken(n)`` skips numbers already used by something that did not come from the sequence (a legacy line
    name, a hand-made lot number); it is asked of single numbers only. Past ``limit`` the family is used
    up (ValidationError ``numbers_exhausted``).
    """
    if count < 1:
        return []
    if taken is not None and count != 1:
        raise ValueError("taken= checks one number at a time")
    key = _key(key)
    # No history row per number: a sequence's state is derivable from the numbers it issued.
    with transaction.atomic():
        Sequence.objects.bulk_create([Sequence(key=key)], ignore_conflicts=True)
        last = Sequence.objects.select_for_update().values_list("last_value", flat=True).get(key=key)
        first = last + 1
        if taken is not None:
            while taken(first):
                first += 1
        end = first + count - 1
        if limit is not None and end > limit:
            raise ValidationError(
                _("The numbers of %(key)s are used up (the last one is %(limit)d).") % {"key": key, "limit": limit},
                code="numbers_exhausted",
            )
        Sequence.objects.filter(key=key).update(last_value=end)
    return list(range(first, end + 1))


def take_one(key: str, *, taken: Callable[[int], bool] | None = None, limit: int | None = None) -> int:
    return take(key, 1, taken=taken, limit=limit)[0]
