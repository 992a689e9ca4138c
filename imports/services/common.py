"""Cell parsing shared by the kinds (the donors and cordblood input helpers, reused: one message per mistake)."""

from __future__ import annotations

import datetime
import re
from typing import Any

from django.utils import timezone
from django.utils.translation import gettext as _

from bank.identifiers import normalise
from cordblood.services._common import decimal_in, int_in
from donors.services._input import _as_date, _as_datetime, _Errors, _not_future_date, _text

__all__ = ["_Errors", "as_date", "as_datetime", "decimal_in", "int_in", "text", "code", "position", "not_future"]

POSITION = re.compile(r"^([A-Za-z])\s*0*(\d{1,2})$")


def text(value: Any, column: str, errors: _Errors, *, required: bool = False, max_length: int = 200) -> str:
    value = _text(value) if not isinstance(value, datetime.date | datetime.time) else str(value)
    if required and not value:
        errors.add(column, _("This column is required: fill it in."))
    elif len(value) > max_length:
        errors.add(column, _("Keep it to %(n)d characters at most.") % {"n": max_length})
    return value


def code(value: Any, column: str, errors: _Errors, *, required: bool = False, max_length: int = 40) -> str:
    """A barcode or code as the bank stores it (``bank.identifiers.normalise``: capitals, no stray spaces)."""
    value = normalise(value)
    if required and not value:
        errors.add(column, _("This column is required: fill it in."))
    elif len(value) > max_length:
        errors.add(column, _("Keep it to %(n)d characters at most.") % {"n": max_length})
    return value


def as_date(value: Any, column: str, errors: _Errors, *, required: bool = True) -> datetime.date | None:
    if isinstance(value, str) and "T" in value:  # a spreadsheet's date-time cell, read back from CSV text
        try:
            value = datetime.datetime.fromisoformat(value.strip())
        except ValueError:
            pass
    return _as_date(value, column, errors, required=required)


def as_datetime(value: Any, column: str, errors: _Errors, *, required: bool = True) -> datetime.datetime | None:
    if value in (None, "") and not required:
        return None
    if isinstance(value, datetime.date) and not isinstance(value, datetime.datetime):
        value = datetime.datetime.combine(value, datetime.time(12, 0))
    return _as_datetime(value, column, errors)


def not_future(day, column: str, errors: _Errors, what: str) -> None:
    if isinstance(day, datetime.datetime):
        if day > timezone.now() + datetime.timedelta(minutes=5):
            errors.add(column, _("%(what)s cannot be in the future.") % {"what": what})
        return
    _not_future_date(day, column, errors, what)


def position(row: dict, errors: _Errors) -> tuple[int, int] | None:
    """The (row, col) of ``position`` (A1 style: row letter, column number) or of the ``row`` and ``col``
    columns; None when the row gives none."""
    given = _text(row.get("position"))
    if given:
        match = POSITION.match(given)
        if match is None:
            errors.add("position", _("Write the position as on the box: a row letter and a column number, e.g. A1 "
                                     "or H12."))
            return None
        return ord(match.group(1).upper()) - 64, int(match.group(2))
    r, c = _text(row.get("row")), _text(row.get("col"))
    if not r and not c:
        return None
    rn = int_in(r, "row", errors, low=1, high=26, required=True)
    cn = int_in(c, "col", errors, low=1, high=26, required=True)
    if rn is None or cn is None:
        return None
    return rn, cn
