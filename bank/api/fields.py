"""Input fields shared by every app's API: they refuse with 400 what the database or the services
could not take, instead of letting it through to a 500."""

from __future__ import annotations

import datetime

from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from rest_framework import serializers

# The calendar the bank works in. Far enough on both sides for any real record (birth years of donors, old
# ethics approvals, long stability plans), and far from the ends of Python's and PostgreSQL's calendars, so
# a service adding a few years to a date (a due date, a window around a collection) cannot overflow.
MIN_DATE = datetime.date(1900, 1, 1)
MAX_DATE = datetime.date(2999, 12, 31)


class DateField(serializers.DateField):
    """A ``YYYY-MM-DD`` date between 1900-01-01 and 2999-12-31."""

    default_error_messages = {
        "out_of_range": _("Enter a date between {min} and {max}."),
    }

    def to_internal_value(self, value):
        day = super().to_internal_value(value)
        if not MIN_DATE <= day <= MAX_DATE:
            self.fail("out_of_range", min=MIN_DATE.isoformat(), max=MAX_DATE.isoformat())
        return day


class DateTimeField(serializers.DateTimeField):
    """An ISO 8601 date and time between 1900-01-01 and 2999-12-31.

    DRF itself raises ``OverflowError`` on ``0001-01-01`` (it probes the time zone around the value).
    """

    default_error_messages = {
        "out_of_range": _("Enter a date and time between {min} and {max}."),
    }

    def to_internal_value(self, value):
        try:
            moment = super().to_internal_value(value)
        except OverflowError:
            moment = None
        if moment is None or not MIN_DATE <= _local_date(moment) <= MAX_DATE:
            self.fail("out_of_range", min=MIN_DATE.isoformat(), max=MAX_DATE.isoformat())
        return moment


def _local_date(moment: datetime.datetime) -> datetime.date:
    try:
        return timezone.localtime(moment).date() if timezone.is_aware(moment) else moment.date()
    except OverflowError:
        return datetime.date.min
