"""Hourly and daily summaries of the temperature readings (``ReadingRollup``), kept exact.

``add_to_rollups`` runs in the transaction that stores new readings (``record_readings``), under the unit's
row lock: one ``INSERT … ON CONFLICT DO UPDATE`` folds them into their hour and day. Every field is an
order-free aggregate (count and sum add up, min/max and first/last compare), so a late reading from a sensor's
buffer lands in its own, older hour exactly like a punctual one; a retried POST stores nothing new and so adds
nothing. Readings and summaries commit or roll back together: the summaries never lag, never double count.

``rebuild_rollups`` recomputes the summaries of a period from the raw readings (the migration's backfill, the
benchmark, and the retention task before it deletes anything): idempotent, never before the unit's last purge
(the raw readings of a purged period are gone, only the summaries remain).
"""

from __future__ import annotations

import datetime
import zoneinfo
from collections import defaultdict
from collections.abc import Iterable

from django.conf import settings
from django.db import connection, transaction
from django.db.models import BigIntegerField, Count, F, Max, Min, Sum
from django.db.models.functions import Cast, Round, Trunc

from storage.choices import RollupPeriod
from storage.models import ReadingPurge, ReadingRollup, StorageUnit, TemperatureReading

HOUR = datetime.timedelta(hours=1)


def local_zone() -> zoneinfo.ZoneInfo:
    return zoneinfo.ZoneInfo(settings.TIME_ZONE)


def hour_start(at: datetime.datetime) -> datetime.datetime:
    """The UTC hour holding ``at`` (UTC hours: a local hour repeats when clocks go back)."""
    return at.astimezone(datetime.UTC).replace(minute=0, second=0, microsecond=0)


def day_start(at: datetime.datetime) -> datetime.datetime:
    """Local midnight (the bank's ``TIME_ZONE``) of the day holding ``at``: people read charts by local days."""
    zone = local_zone()
    return datetime.datetime.combine(at.astimezone(zone).date(), datetime.time(), tzinfo=zone)


def next_day(start: datetime.datetime) -> datetime.datetime:
    return datetime.datetime.combine(start.date() + datetime.timedelta(days=1), datetime.time(), tzinfo=start.tzinfo)


def _centi(temperature) -> int:
    return int(round(temperature * 100))


def _fold(readings: Iterable[TemperatureReading]) -> list[tuple]:
    """``[(period, start, count, low, high, total_centi, first_at, last_at)]`` of ``readings``."""
    buckets: dict[tuple, list] = {}
    for r in readings:
        for period, start in ((RollupPeriod.HOUR, hour_start(r.recorded_at)),
                              (RollupPeriod.DAY, day_start(r.recorded_at))):
            b = buckets.get((period, start))
            if b is None:
                buckets[(period, start)] = [1, r.temperature_c, r.temperature_c, _centi(r.temperature_c),
                                            r.recorded_at, r.recorded_at]
            else:
                b[0] += 1
                b[1], b[2] = min(b[1], r.temperature_c), max(b[2], r.temperature_c)
                b[3] += _centi(r.temperature_c)
                b[4], b[5] = min(b[4], r.recorded_at), max(b[5], r.recorded_at)
    return [(str(period), start, *values) for (period, start), values in sorted(buckets.items())]


def add_to_rollups(unit: StorageUnit, readings: list[TemperatureReading]) -> int:
    """Fold newly stored ``readings`` of ``unit`` into their hourly and daily summaries (one statement).

    Call inside the transaction that inserted them, with only the readings actually inserted: the rule
    "one reading per unit and instant" (a unique constraint) makes every reading count once.
    """
    rows = _fold(readings)
    if not rows:
        return 0
    ops = connection.ops
    least, greatest = ("LEAST", "GREATEST") if connection.vendor == "postgresql" else ("MIN", "MAX")
    table = connection.ops.quote_name(ReadingRollup._meta.db_table)
    params: list = []
    for period, start, count, low, high, total, first_at, last_at in rows:
        params += [unit.pk, period, ops.adapt_datetimefield_value(start), count,
                   ops.adapt_decimalfield_value(low, 6, 2), ops.adapt_decimalfield_value(high, 6, 2), total,
                   ops.adapt_datetimefield_value(first_at), ops.adapt_datetimefield_value(last_at)]
    values = ", ".join(["(%s, %s, %s, %s, %s, %s, %s, %s, %s)"] * len(rows))
    # The table name comes from the model, the functions are fixed, the values are parameters.
    sql = (
        f'INSERT INTO {table} AS r ("unit_id", "period", "start", "count", "low", "high", "total_centi", '  # noqa: S608
        f'"first_at", "last_at") VALUES {values} '
        f'ON CONFLICT ("unit_id", "period", "start") DO UPDATE SET '
        f'"count" = r."count" + EXCLUDED."count", '
        f'"low" = {least}(r."low", EXCLUDED."low"), "high" = {greatest}(r."high", EXCLUDED."high"), '
        f'"total_centi" = r."total_centi" + EXCLUDED."total_centi", '
        f'"first_at" = {least}(r."first_at", EXCLUDED."first_at"), '
        f'"last_at" = {greatest}(r."last_at", EXCLUDED."last_at")'
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
    return len(rows)


def purged_before(unit: StorageUnit) -> datetime.datetime | None:
    """Raw readings of ``unit`` recorded before this were purged (all but an alarm's): summaries only."""
    return ReadingPurge.objects.filter(unit=unit).order_by("-before").values_list("before", flat=True).first()


def _aggregate(unit: StorageUnit, period: str, since: datetime.datetime, until: datetime.datetime) -> list:
    zone = datetime.UTC if period == RollupPeriod.HOUR else local_zone()
    return list(
        TemperatureReading.objects.filter(unit=unit, recorded_at__gte=since, recorded_at__lt=until)
        .annotate(bucket=Trunc("recorded_at", period, tzinfo=zone)).values("bucket")
        .annotate(n=Count("id"), low=Min("temperature_c"), high=Max("temperature_c"),
                  total=Sum(Cast(Round(F("temperature_c") * 100), BigIntegerField())),
                  first=Min("recorded_at"), last=Max("recorded_at"))
        .order_by("bucket")
    )


def rebuild_rollups(unit: StorageUnit, since: datetime.datetime | None = None,
                    until: datetime.datetime | None = None) -> int:
    """Recompute the summaries of ``unit`` from its raw readings, for the whole days from ``since`` (default:
    the oldest reading) to ``until`` (default: the newest), never before the unit's last purge. Idempotent:
    the summaries of those days are replaced, never added to. Returns how many summaries were written.

    Set-based (an aggregate per period, a bulk upsert): a year of minute readings takes about a second.
    """
    with transaction.atomic():
        # The reading service holds this lock while it adds to the summaries: a rebuild never interleaves.
        StorageUnit.objects.select_for_update().filter(pk=unit.pk).first()
        span = TemperatureReading.objects.filter(unit=unit).aggregate(first=Min("recorded_at"), last=Max("recorded_at"))
        if span["first"] is None:
            return 0
        since = max(since or span["first"], span["first"])
        until = min(until, span["last"] + HOUR) if until else span["last"] + HOUR
        horizon = purged_before(unit)
        if horizon is not None and since < horizon:
            since = horizon  # a local midnight: whole days (and whole hours) from there on
        if since >= until:
            return 0
        written = 0
        ranges = {RollupPeriod.HOUR: (hour_start(since), hour_start(until - datetime.timedelta(microseconds=1)) + HOUR),
                  RollupPeriod.DAY: (day_start(since), next_day(day_start(until - datetime.timedelta(microseconds=1))))}
        if horizon is not None:
            ranges = {p: (max(lo, horizon), hi) for p, (lo, hi) in ranges.items()}
        for period, (lo, hi) in ranges.items():
            rows = _aggregate(unit, period, lo, hi)
            ReadingRollup.objects.filter(unit=unit, period=period, start__gte=lo, start__lt=hi).delete()
            ReadingRollup.objects.bulk_create([
                ReadingRollup(unit=unit, period=period, start=r["bucket"], count=r["n"], low=r["low"], high=r["high"],
                              total_centi=r["total"], first_at=r["first"], last_at=r["last"])
                for r in rows
            ], batch_size=2000)
            written += len(rows)
    return written


def rollup_counts(unit: StorageUnit) -> dict[str, int]:
    """How many readings the summaries of each period count (a check: each equals the raw count until a purge)."""
    out: dict[str, int] = defaultdict(int)
    for period, n in ReadingRollup.objects.filter(unit=unit).values("period").annotate(n=Sum("count")).values_list(
            "period", "n").order_by():
        out[period] = n
    return dict(out)
