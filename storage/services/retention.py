"""Retention of raw temperature readings (``READINGS_RAW_RETENTION_DAYS``; docs/scaling.md).

Raw readings are records. Past their retention period they are deleted by a daily beat task, whole local days at
a time, after their hourly and daily summaries have been rebuilt from them (exact min, max, mean and count stay
for ever, so "did this tank ever leave its range" is still answered). Never deleted:

* a reading an alarm points at (``Alarm.reading``; the database's foreign key refuses it anyway);
* every reading around an alarm — from ``READINGS_ALARM_MARGIN_HOURS`` before the excursion's first reading (or a
  silent alarm's raising) until that long after its acknowledgement, and everything after an alarm still active:
  an excursion is assessed, and re-assessed by inspectors, on its raw curve.

Each run writes one audited ``ReadingPurge`` per unit it deleted from (how many, before when, how many kept).
The rows go by plain ``DELETE`` (no per-row signal): the purge record, not 500,000 "deleted" history rows a
unit-year, documents the destruction; the readings' creation history rows stay, being append-only.
"""

from __future__ import annotations

import datetime
import logging

from django.conf import settings
from django.db import transaction
from django.db.models import Exists, OuterRef, Q
from django.utils import timezone
from django.utils.translation import gettext as _

from bank.audit import acting
from storage.models import Alarm, ReadingPurge, StorageUnit, TemperatureReading

from .rollups import day_start, purged_before, rebuild_rollups

log = logging.getLogger(__name__)
BATCH = 5000


def retention_cutoff(now: datetime.datetime | None = None) -> datetime.datetime | None:
    """Raw readings recorded before this local midnight are past retention (None: kept for ever)."""
    days = settings.READINGS_RAW_RETENTION_DAYS
    if not days:
        return None
    return day_start((now or timezone.now()) - datetime.timedelta(days=days))


def protected_readings(unit: StorageUnit) -> Q:
    """The readings of ``unit`` its alarms need (see the module docstring), as a filter."""
    margin = datetime.timedelta(hours=settings.READINGS_ALARM_MARGIN_HOURS)
    keep = Q(Exists(Alarm.objects.filter(reading=OuterRef("pk"))))
    for start, reading_at, end in Alarm.objects.filter(unit=unit).values_list(
            "raised_at", "reading__recorded_at", "acknowledged_at"):
        start = min(start, reading_at) if reading_at else start
        window = Q(recorded_at__gte=start - margin)
        if end is not None:
            window &= Q(recorded_at__lte=end + margin)
        keep |= window
    return keep


def purge_unit_readings(unit: StorageUnit, *, now: datetime.datetime | None = None, actor=None) -> ReadingPurge | None:
    """Delete the raw readings of ``unit`` past retention, but those its alarms need. Returns the purge record,
    or None when nothing was past retention."""
    cutoff = retention_cutoff(now)
    if cutoff is None:
        return None
    with transaction.atomic(), acting(actor, _("readings past their retention period")):
        locked = StorageUnit.objects.select_for_update().get(pk=unit.pk)
        since = purged_before(locked)
        if since is not None and since >= cutoff:
            return None
        expired = TemperatureReading.objects.filter(unit=locked, recorded_at__lt=cutoff)
        if since is not None:
            expired = expired.filter(recorded_at__gte=since)
        if not expired.exists():
            return None
        # The summaries of the period are made from its raw readings before any of them goes: they are exact.
        rebuild_rollups(locked, since, cutoff)
        keep = protected_readings(locked)
        doomed = expired.exclude(keep)
        deleted, after = 0, None
        # Keyset batches along the (unit, recorded_at) index: each batch starts where the last one ended.
        while batch := list((doomed.filter(recorded_at__gt=after) if after else doomed)
                            .order_by("recorded_at").values_list("pk", "recorded_at")[:BATCH]):
            after = batch[-1][1]
            deleted += TemperatureReading.objects.filter(pk__in=[pk for pk, _at in batch])._raw_delete(doomed.db)
        kept = expired.count()
        purge = ReadingPurge.objects.create(unit=locked, before=cutoff, deleted=deleted, kept=kept,
                                            retention_days=settings.READINGS_RAW_RETENTION_DAYS)
    log.info("purged %s readings of unit %s before %s (%s kept for alarms)", deleted, unit.pk, cutoff, kept)
    return purge


def purge_expired_readings(*, now: datetime.datetime | None = None, actor=None) -> list[ReadingPurge]:
    """The beat task's work: every unit, one transaction each (a unit's lock is held only while its own go)."""
    if retention_cutoff(now) is None:
        return []
    purges = []
    for pk in StorageUnit.objects.order_by("pk").values_list("pk", flat=True):
        unit = StorageUnit.objects.filter(pk=pk).first()
        if unit is not None and (purge := purge_unit_readings(unit, now=now, actor=actor)) is not None:
            purges.append(purge)
    return purges
