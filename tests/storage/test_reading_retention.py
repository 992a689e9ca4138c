"""Retention of raw readings: past READINGS_RAW_RETENTION_DAYS they go (whole local days, once, recorded by an
audited purge), their exact summaries stay, and no reading an alarm needs is ever deleted."""

import datetime
from decimal import Decimal

import pytest
from django.test import override_settings
from django.utils import timezone

from storage.models import Alarm, ReadingPurge, ReadingRollup, TemperatureReading
from storage.services import purge_expired_readings, rebuild_rollups, record_readings
from storage.services.rollups import day_start
from storage.tasks import purge_expired_readings as purge_task

pytestmark = pytest.mark.django_db

NOW = timezone.now()


def days_ago(days: float, minutes: int = 0) -> datetime.datetime:
    return NOW - datetime.timedelta(days=days, minutes=minutes)


def _readings(unit, user, *, start_days_ago: float, days: int, every_hours: int = 1):
    """Readings in range (-185 °C) every ``every_hours`` hours over ``days`` days from ``start_days_ago``."""
    values = [(-185, days_ago(start_days_ago) + datetime.timedelta(hours=h))
              for h in range(0, days * 24, every_hours)]
    record_readings(unit, values, actor=user)


def _summary_totals(unit) -> dict:
    return {p: (sum(r.count for r in rows), min(r.low for r in rows), max(r.high for r in rows))
            for p in ("hour", "day")
            if (rows := list(ReadingRollup.objects.filter(unit=unit, period=p)))}


@override_settings(READINGS_RAW_RETENTION_DAYS=30, READINGS_ALARM_MARGIN_HOURS=6)
def test_old_readings_go_their_summaries_and_an_excursion_stay(layout, users):
    unit, admin = layout.unit, users["admin"]
    _readings(unit, admin, start_days_ago=60, days=40)  # 60 to 20 days ago
    # An excursion 50 days ago, acknowledged an hour later; readings around it must stay.
    warm_at = days_ago(50, minutes=17)
    record_readings(unit, [(-120, warm_at), (-140.5, warm_at + datetime.timedelta(minutes=20))], actor=admin)
    alarm = Alarm.objects.get(unit=unit, kind="excursion")
    Alarm.objects.filter(pk=alarm.pk).update(status="acknowledged", raised_at=warm_at,
                                            acknowledged_at=warm_at + datetime.timedelta(hours=1))
    record_readings(unit, [(-185, warm_at + datetime.timedelta(minutes=40))], actor=admin)  # back in range
    before = _summary_totals(unit)
    total = TemperatureReading.objects.filter(unit=unit).count()

    purges = purge_expired_readings(now=NOW)

    cutoff = day_start(NOW - datetime.timedelta(days=30))
    assert [p.unit_id for p in purges] == [unit.pk]
    purge = purges[0]
    assert purge.before == cutoff and purge.retention_days == 30 and purge.history.count() == 1
    left = TemperatureReading.objects.filter(unit=unit)
    old = left.filter(recorded_at__lt=cutoff)
    assert purge.deleted + left.count() == total and purge.kept == old.count() > 0
    # What stays before the cutoff: the alarm's reading and every reading from 6 h before the excursion
    # to 6 h after its acknowledgement; nothing else.
    assert left.filter(pk=alarm.reading_id).exists()
    margin = datetime.timedelta(hours=6)
    assert not old.exclude(recorded_at__gte=warm_at - margin,
                           recorded_at__lte=warm_at + datetime.timedelta(hours=1) + margin).exists()
    assert old.filter(temperature_c=Decimal("-140.5")).exists()
    assert old.count() == 3 + 13  # the excursion's three readings, and the 13 hourly readings around it
    # The summaries still count every reading, deleted or not: min, max and count are the same.
    assert _summary_totals(unit) == before
    assert before["hour"][2] == Decimal("-120")
    # Run again: nothing more to do, and a rebuild can no longer reach the purged days.
    assert purge_expired_readings(now=NOW) == []
    rebuild_rollups(unit)
    assert _summary_totals(unit) == before


@override_settings(READINGS_RAW_RETENTION_DAYS=30)
def test_an_active_alarm_keeps_everything_after_it(layout, users):
    unit, admin = layout.unit, users["admin"]
    _readings(unit, admin, start_days_ago=45, days=20)
    Alarm.objects.create(unit=unit, kind="sensor_silent", raised_at=days_ago(40))  # never acknowledged
    purge = purge_expired_readings(now=NOW)[0]
    first_kept = TemperatureReading.objects.filter(unit=unit).order_by("recorded_at").first()
    assert first_kept.recorded_at >= days_ago(40) - datetime.timedelta(hours=24)
    assert purge.deleted == 5 * 24 - 24  # 45 to 41 days ago, less the 24 h margin
    assert not TemperatureReading.objects.filter(unit=unit, recorded_at__lt=first_kept.recorded_at).exists()


@override_settings(READINGS_RAW_RETENTION_DAYS=0)
def test_zero_keeps_readings_for_ever(layout, users):
    _readings(layout.unit, users["admin"], start_days_ago=4000, days=2)
    assert purge_task() == {}
    assert TemperatureReading.objects.filter(unit=layout.unit).count() == 48
    assert not ReadingPurge.objects.exists()


@override_settings(READINGS_RAW_RETENTION_DAYS=30)
def test_the_beat_task_purges_each_unit_and_the_next_day_only_that_day(layout, users):
    _readings(layout.unit, users["admin"], start_days_ago=33, days=6)
    _readings(layout.q_unit, users["admin"], start_days_ago=32, days=1, every_hours=2)
    result = purge_task()
    assert result[str(layout.unit.pk)]["kept"] == 0 and result[str(layout.q_unit.pk)]["deleted"] > 0
    assert not TemperatureReading.objects.filter(recorded_at__lt=day_start(NOW - datetime.timedelta(days=30))).exists()
    assert purge_expired_readings(now=NOW + datetime.timedelta(days=1))[0].unit_id == layout.unit.pk
    assert ReadingPurge.objects.filter(unit=layout.unit).count() == 2
