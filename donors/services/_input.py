"""Small validators shared by the donors services: field errors collected per call, text, reasons,
dates and date-times."""

from __future__ import annotations

import datetime
from typing import Any

from django.core.exceptions import ValidationError
from django.utils import timezone
from django.utils.translation import gettext as _

# --- small validators -------------------------------------------------------------------------


class _Errors:
    """Collects field errors so a form or an API call hears about every bad field at once."""

    def __init__(self) -> None:
        self.by_field: dict[str, list[str]] = {}

    def add(self, field_name: str, message: str) -> None:
        self.by_field.setdefault(field_name, []).append(str(message))

    def __bool__(self) -> bool:
        return bool(self.by_field)

    def raise_if_any(self) -> None:
        if self.by_field:
            raise ValidationError({k: [ValidationError(m) for m in v] for k, v in self.by_field.items()})


def _text(value: Any) -> str:
    return "" if value is None else str(value).strip()


def _require_reason(reason: str, errors: _Errors | None = None) -> str:
    reason = _text(reason)
    if not reason:
        if errors is not None:
            errors.add("reason", _("Give a reason: it is kept in the audit trail."))
        else:
            raise ValidationError({"reason": [_("Give a reason: it is kept in the audit trail.")]})
    return reason


def _as_date(value: Any, field_name: str, errors: _Errors, *, required: bool = True) -> datetime.date | None:
    if value in (None, ""):
        if required:
            errors.add(field_name, _("Enter a date (YYYY-MM-DD)."))
        return None
    if isinstance(value, datetime.datetime):
        return timezone.localtime(value).date() if timezone.is_aware(value) else value.date()
    if isinstance(value, datetime.date):
        return value
    try:
        return datetime.date.fromisoformat(str(value).strip())
    except ValueError:
        errors.add(field_name, _("Enter a valid date as YYYY-MM-DD."))
        return None


def _not_future_date(day: datetime.date | None, field_name: str, errors: _Errors, what: str) -> None:
    today = timezone.localdate()
    if day is not None and day > today:
        errors.add(field_name, _("%(what)s cannot be in the future (today is %(today)s).") % {
            "what": what, "today": today.isoformat()})


def _as_datetime(value: Any, field_name: str, errors: _Errors) -> datetime.datetime | None:
    if value in (None, ""):
        errors.add(field_name, _("Enter a date and time."))
        return None
    if isinstance(value, str):
        try:
            value = datetime.datetime.fromisoformat(value.strip())
        except ValueError:
            errors.add(field_name, _("Enter a valid date and time (ISO 8601, e.g. 2026-03-01T09:30+08:00)."))
            return None
    if not isinstance(value, datetime.datetime):
        errors.add(field_name, _("Enter a valid date and time."))
        return None
    if timezone.is_naive(value):
        value = timezone.make_aware(value)
    return value
