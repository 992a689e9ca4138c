"""Input helpers of the cordblood services (the donors helpers, reused) and the numbers they need."""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
from typing import Any

from django.utils.translation import gettext as _

from donors.services._input import _as_date, _as_datetime, _Errors, _text

__all__ = ["_as_date", "_as_datetime", "_Errors", "_text", "decimal_in", "int_in"]


def decimal_in(value: Any, field: str, errors: _Errors, *, low: str = "0", high: str = "100000",
               required: bool = False, places: str = "0.01") -> Decimal | None:
    if value in (None, ""):
        if required:
            errors.add(field, _("Enter a number."))
        return None
    try:
        number = Decimal(str(value).strip())
    except (InvalidOperation, ValueError):
        errors.add(field, _("Enter a number."))
        return None
    if not number.is_finite() or number < Decimal(low) or number > Decimal(high):
        errors.add(field, _("Enter a number from %(low)s to %(high)s.") % {"low": low, "high": high})
        return None
    return number.quantize(Decimal(places))


def int_in(value: Any, field: str, errors: _Errors, *, low: int = 0, high: int = 10**15,
           required: bool = False) -> int | None:
    if value in (None, ""):
        if required:
            errors.add(field, _("Enter a whole number."))
        return None
    if isinstance(value, bool):
        errors.add(field, _("Enter a whole number."))
        return None
    try:
        number = int(str(value).strip())
    except ValueError:
        errors.add(field, _("Enter a whole number."))
        return None
    if not low <= number <= high:
        errors.add(field, _("Enter a whole number from %(low)s to %(high)s.") % {"low": low, "high": high})
        return None
    return number
