"""Parsing of identifiers typed, scanned or passed in URLs: one definition for pages, API and services."""

from __future__ import annotations

import re

# PostgreSQL's bigint, the widest integer column (and id) of the bank.
BIGINT_MAX = 2**63 - 1
_ASCII_DIGITS = re.compile(r"[0-9]+")


def whole_number(text, *, max_value: int = BIGINT_MAX) -> int | None:
    """``"42"`` → 42; None for anything else.

    Only ASCII digits count: ``str.isdigit()`` is also true for ``"²"`` or ``"①"``, on which ``int()``
    raises, and a number past ``max_value`` could never be an id (the database would refuse it).
    """
    if isinstance(text, bool):
        return None
    if isinstance(text, int):
        value = text
    else:
        text = str(text if text is not None else "").strip()
        if not _ASCII_DIGITS.fullmatch(text) or len(text) > 19:
            return None
        value = int(text)
    return value if 0 <= value <= max_value else None
