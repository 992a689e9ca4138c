"""Hourly and daily summaries of the temperature readings: exact after every write (late readings from a sensor's
buffer, a retried POST), identical to a rebuild from the raw readings, and rebuilt idempotently."""

import datetime
import random
from decimal import Decimal

import pytest
from django.db.models import Count, Max, Min, Sum

from storage.models import ReadingRollup, TemperatureReading
from storage.services import rebuild_rollups, record_reading, record_readings
from storage.services.rollups import day_start, hour_start

pytestmark = pytest.mark.django_db

# Fixed instants well in the past (never refused as "in the future"); 15:30 UTC is 23:30 in Shanghai, so the
# readings below straddle a local midnight and two local days.
T0 = datetime.datetime(2026, 3, 1, 15, 30, tzinfo=datetime.UTC)


def at(minutes: float) -> datetime.datetime:
    return T0 + datetime.timedelta(minutes=minutes)


def summaries(unit) -> dict:
    """``{(period, start): (count, low, high, total_centi, first_at, last_at)}`` as stored."""
    return {
        (r.period, r.start): (r.count, r.low, r.high, r.total_centi, r.first_at, r.last_at)
        for r in ReadingRollup.objects.filter(unit=unit)
    }


def expected(unit) -> dict:
    """The same, computed here in Python from the raw readings (the definition the summaries must meet)."""
    out: dict = {}
    for r in TemperatureReading.objects.filter(unit=unit):
        for key in (("hour", hour_start(r.recorded_at)), ("day", day_start(r.recorded_at))):
            n, low, high, total, first, last = out.get(key, (0, r.temperature_c, r.temperature_c, 0, r.recorded_at,
                                                            r.recorded_at))
            out[key] = (n + 1, min(low, r.temperature_c), max(high, r.temperature_c),
                        total + int(r.temperature_c * 100), min(first, r.recorded_at), max(last, r.recorded_at))
    return out


def test_summaries_follow_the_readings_exactly(layout, users):
    unit = layout.unit
    record_readings(unit, [(-185.25, at(0)), (-186, at(10)), (-184.5, at(20))], actor=users["admin"])
    hour = ReadingRollup.objects.get(unit=unit, period="hour", start=hour_start(at(0)))
    assert (hour.count, hour.low, hour.high, hour.total_centi) == (3, Decimal("-186"), Decimal("-184.5"), -55575)
    assert hour.mean == pytest.approx(-185.25) and (hour.first_at, hour.last_at) == (at(0), at(20))
    # Past the hour (16:00 UTC) and past local midnight (00:00 Shanghai = 16:00 UTC): new buckets.
    record_readings(unit, [(-150.01, at(35)), (-190, at(50))], actor=users["admin"])
    assert summaries(unit) == expected(unit)
    assert ReadingRollup.objects.filter(unit=unit, period="hour").count() == 2
    days = ReadingRollup.objects.filter(unit=unit, period="day").order_by("start")
    assert [d.count for d in days] == [3, 2]
    # 2026-03-02 00:00 in Shanghai is 2026-03-01 16:00 UTC
    assert days[1].start == datetime.datetime(2026, 3, 1, 16, 0, tzinfo=datetime.UTC)


def test_late_readings_and_a_retried_duplicate_count_once(layout, users):
    unit = layout.unit
    record_readings(unit, [(-180, at(120)), (-181, at(121))], actor=users["admin"])
    # A sensor uploads its buffer hours late, out of order, with two readings already stored among them.
    late = [(-179.5, at(5)), (-180, at(120)), (-170, at(3)), (-181, at(121)), (-188.88, at(64))]
    readings, created = record_readings(unit, late, actor=users["admin"])
    assert len(readings) == 5 and len(created) == 3
    # A retried POST of a stored reading: answered, not stored, not counted.
    reading, was_new = record_reading(unit, temperature_c=-170, recorded_at=at(3), actor=users["admin"])
    assert not was_new
    assert TemperatureReading.objects.filter(unit=unit).count() == 5
    assert summaries(unit) == expected(unit)
    hour = ReadingRollup.objects.get(unit=unit, period="hour", start=hour_start(at(3)))
    assert (hour.count, hour.low, hour.high, hour.first_at, hour.last_at) == (
        2, Decimal("-179.5"), Decimal("-170"), at(3), at(5))
    assert sum(r.count for r in ReadingRollup.objects.filter(unit=unit, period="day")) == 5


def test_a_random_stream_matches_the_definition_and_a_rebuild(layout, users):
    unit, rng = layout.unit, random.Random(13)
    minutes = list(range(0, 3 * 24 * 60, 7))
    rng.shuffle(minutes)
    for chunk in range(0, len(minutes), 50):
        batch = [(round(rng.uniform(-195, -140), 2), at(m)) for m in minutes[chunk:chunk + 50]]
        record_readings(unit, batch + batch[:3], actor=users["admin"])  # each upload repeats a few readings
    stored = summaries(unit)
    assert stored == expected(unit)
    raw = TemperatureReading.objects.filter(unit=unit).aggregate(n=Count("id"), low=Min("temperature_c"),
                                                                 high=Max("temperature_c"))
    for period in ("hour", "day"):
        agg = ReadingRollup.objects.filter(unit=unit, period=period).aggregate(
            n=Sum("count"), low=Min("low"), high=Max("high"))
        assert agg == raw
    # A rebuild from the raw readings gives the same rows; a second rebuild too (idempotent).
    assert rebuild_rollups(unit) == len(stored)
    assert summaries(unit) == stored
    rebuild_rollups(unit)
    rebuild_rollups(unit, at(600), at(2000))
    assert summaries(unit) == stored
    # A rebuild repairs a summary damaged behind the service's back.
    ReadingRollup.objects.filter(unit=unit, period="hour").order_by("start").first().delete()
    ReadingRollup.objects.filter(unit=unit, period="day").update(count=1)
    rebuild_rollups(unit)
    assert summaries(unit) == stored


def test_units_do_not_mix(layout, users):
    record_readings(layout.unit, [(-180, at(0))], actor=users["admin"])
    record_readings(layout.q_unit, [(-150.5, at(0))], actor=users["admin"])
    assert ReadingRollup.objects.get(unit=layout.unit, period="hour").high == Decimal("-180")
    assert ReadingRollup.objects.get(unit=layout.q_unit, period="hour").high == Decimal("-150.5")
    assert rebuild_rollups(layout.mirror_unit) == 0


def test_a_failed_transaction_leaves_no_summary(layout, users, monkeypatch):
    """Readings and summaries commit together: an error after the upsert rolls both back."""
    from storage.services import readings

    def boom(*args, **kwargs):
        raise RuntimeError("alarm service down")

    monkeypatch.setattr(readings, "_excursion", boom)
    with pytest.raises(RuntimeError):
        record_readings(layout.unit, [(-100, at(0))], actor=users["admin"])
    assert not TemperatureReading.objects.exists() and not ReadingRollup.objects.exists()
