"""Temperature readings from the units' sensors (one reading or a sensor's buffer, never stored twice);
an out-of-range reading raises an excursion alarm (``alarms``)."""

from __future__ import annotations

import datetime
from collections.abc import Sequence
from decimal import Decimal, InvalidOperation

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from bank.audit import acting, bulk_create_audited
from storage.models import StorageUnit, TemperatureReading

from .alarms import _excursion
from .rollups import add_to_rollups
from .sensors import check_sensor_bound

# Sensors' clocks drift; a reading stamped further ahead than this is refused as bad input.
READING_CLOCK_SKEW = datetime.timedelta(minutes=5)
MIN_TEMPERATURE_C = Decimal("-273.15")
MAX_TEMPERATURE_C = Decimal("150")


# --- temperature readings and alarms ---------------------------------------------------------------------


def _parse_temperature(value) -> Decimal:
    try:
        temperature = Decimal(str(value))
    except (InvalidOperation, ValueError, TypeError):
        raise ValidationError({"temperature_c": [_("Give the temperature in °C as a number.")]})
    if not temperature.is_finite() or not MIN_TEMPERATURE_C <= temperature <= MAX_TEMPERATURE_C:
        raise ValidationError({"temperature_c": [_("A temperature must lie between -273.15 and 150 °C.")]})
    return temperature.quantize(Decimal("0.01"))


def record_reading(unit: StorageUnit, *, temperature_c, recorded_at=None, actor) -> tuple[TemperatureReading, bool]:
    """Store one sensor reading; returns ``(reading, created)`` (a retried POST is not stored twice).

    An out-of-range reading raises an ``excursion`` alarm at once (see ``record_readings``).
    """
    readings, created = record_readings(unit, [(temperature_c, recorded_at)], actor=actor)
    return readings[0], bool(created)


def record_readings(unit: StorageUnit, values: Sequence[tuple], *, actor) -> tuple[list[TemperatureReading], list]:
    """Store readings ``[(temperature_c, recorded_at), ...]`` of one unit (a sensor uploading its buffer).

    Updates the unit's ``last_reading_at`` and the hourly and daily summaries (``rollups``). The first
    out-of-range reading of an episode raises an
    excursion alarm at once, recording every vial then in the unit (AlarmVial) for QA's assessment;
    later out-of-range readings of the same episode only update its most extreme temperature, so no
    second alarm is raised while one is active or until the temperature has come back into range.
    Returns ``(readings, created)`` — every reading asked for, and the ones that were new. A sensor account
    posts only for the units it is bound to (403 ``sensor_not_bound``); an admin may always post.
    """
    check_sensor_bound(unit, actor)
    now = timezone.now()
    parsed: dict = {}
    for temperature, recorded_at in values:
        temperature = _parse_temperature(temperature)
        recorded_at = recorded_at or now
        if timezone.is_naive(recorded_at):
            raise ValidationError({"recorded_at": [_("Give the time with its time zone (ISO 8601).")]})
        if recorded_at > now + READING_CLOCK_SKEW:
            raise ValidationError({"recorded_at": [_("This time is in the future: check the sensor's clock.")]})
        parsed.setdefault(recorded_at, temperature)
    if not parsed:
        return [], []
    with transaction.atomic(), acting(actor, _("temperature reading")):
        locked = StorageUnit.objects.select_for_update().get(pk=unit.pk)
        existing = {r.recorded_at: r for r in TemperatureReading.objects.filter(unit=locked, recorded_at__in=parsed)}
        new = [
            TemperatureReading(unit=locked, temperature_c=t, recorded_at=at, received_at=now, sensor=actor)
            for at, t in sorted(parsed.items())
            if at not in existing
        ]
        created = bulk_create_audited(TemperatureReading, new)
        # The hourly and daily summaries the charts read, in this transaction: never behind, never counted twice.
        add_to_rollups(locked, created)
        latest = max(parsed)
        if locked.last_reading_at is None or latest > locked.last_reading_at:
            # Derived data (the newest reading's time, kept for the scheduler's index): no history row a
            # minute per tank. The readings themselves are the audited record.
            StorageUnit.objects.filter(pk=locked.pk).update(last_reading_at=latest)
            locked.last_reading_at = latest
        out_of_range = [r for r in created if not locked.in_range(r.temperature_c)]
        if out_of_range:
            _excursion(locked, out_of_range, actor=actor)
    by_time = {**existing, **{r.recorded_at: r for r in created}}
    return [by_time[at] for at in parsed], created
