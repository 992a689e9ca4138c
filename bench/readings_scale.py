"""Temperature readings at national scale: one unit with a year of minute readings (525,600 rows), the chart's reads.

    python bench/readings_scale.py bench_readings [--days 365] [--repeat 20] [--keep]

The database named on the command line (on the PostgreSQL server of DATABASE_URL, default 127.0.0.1:5432 as
postgres) is created when missing and migrated. The unit ``BENCH-READINGS`` is loaded once, set-based
(``INSERT … SELECT generate_series``, with one warm minute in March so an excursion must show), its hourly and
daily summaries are built by ``rebuild_rollups``, then each chart range is timed:

* 24 h: raw readings on the (unit, recorded_at) index (1,440 rows);
* 30 days: hourly summaries (720 rows) — against the old way, an hourly GROUP BY over 43,200 raw readings;
* 1 year: daily summaries (365 rows) — against an hourly GROUP BY over 525,600 raw readings;
* the whole unit page (HTML) for each range, and one sensor POST's cost with the summaries kept.
``--keep`` skips nothing but leaves the database for inspection; re-runs reuse the loaded readings.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

ROOT = Path(__file__).resolve().parent.parent
# bench/http.py would shadow the standard library's http package: the project root replaces the script's folder.
sys.path[:] = [str(ROOT)] + [p for p in sys.path if Path(p or ".").resolve() != ROOT / "bench"]


def _database_url(name: str) -> str:
    base = os.environ.get("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/postgres")
    if not base.startswith("postgres"):
        base = "postgres://postgres@127.0.0.1:5432/postgres"
    parts = urlsplit(base)
    return urlunsplit((parts.scheme, parts.netloc, "/" + name, "", ""))


def _create_database(url: str) -> None:
    import psycopg2

    parts = urlsplit(url)
    name = parts.path.lstrip("/")
    conn = psycopg2.connect(urlunsplit((parts.scheme, parts.netloc, "/postgres", "", "")))
    conn.autocommit = True
    try:
        with conn.cursor() as cursor:
            cursor.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name])
            if not cursor.fetchone():
                cursor.execute(f'CREATE DATABASE "{name}"')
                print(f"created database {name}")
    finally:
        conn.close()


def ms(seconds: float) -> str:
    return f"{seconds * 1000:.1f} ms"


def timed(fn, repeat: int) -> tuple[str, object]:
    samples, result = [], None
    for _ in range(repeat):
        start = time.perf_counter()
        result = fn()
        samples.append(time.perf_counter() - start)
    samples.sort()
    p95 = samples[max(int(len(samples) * 0.95) - 1, 0)]
    return f"median {ms(statistics.median(samples))}, p95 {ms(p95)}", result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("database", help="PostgreSQL database to use (created if missing), e.g. bench_readings")
    parser.add_argument("--days", type=int, default=365)
    parser.add_argument("--repeat", type=int, default=20)
    args = parser.parse_args()

    url = _database_url(args.database)
    _create_database(url)
    os.environ["DATABASE_URL"] = url
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "bank.settings")
    os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    import django

    django.setup()
    from django.contrib.auth import get_user_model
    from django.core.management import call_command
    from django.db import connection
    from django.db.models import Avg, Max, Min
    from django.db.models.functions import TruncHour
    from django.test import Client
    from django.test.utils import CaptureQueriesContext
    from django.utils import timezone

    call_command("migrate", verbosity=0)
    from bank.services import save_user
    from storage import queries
    from storage.charts import temperature_chart
    from storage.models import ReadingRollup, StorageUnit, TemperatureReading
    from storage.services import rebuild_rollups, record_reading

    admin = get_user_model().objects.filter(username="bench-admin").first() or save_user(
        "bench-admin", roles=["admin"], password=None, full_name="Bench Admin", email="bench@example.org")
    unit, _ = StorageUnit.objects.get_or_create(
        name="BENCH-READINGS", defaults={"kind": "ln2_vapor", "min_temperature_c": -196, "max_temperature_c": -150,
                                         "site": "Bench"})
    now = timezone.now().replace(second=0, microsecond=0)
    minutes = args.days * 24 * 60
    table = TemperatureReading._meta.db_table
    have = TemperatureReading.objects.filter(unit=unit).count()
    if have < minutes:
        TemperatureReading.objects.filter(unit=unit).delete()
        ReadingRollup.objects.filter(unit=unit).delete()
        start = time.perf_counter()
        with connection.cursor() as cursor:
            # A tank at -185 °C ± 2 (a slow daily wave plus noise), one minute at -120 °C about 250 days ago.
            cursor.execute(
                f"""
                INSERT INTO {table} (unit_id, temperature_c, recorded_at, received_at, sensor_id)
                SELECT %(unit)s,
                       CASE WHEN g = %(spike)s THEN -120
                            ELSE round((-185 + 1.5 * sin(g / 1440.0 * 2 * pi()) + (random() - 0.5))::numeric, 2)
                       END,
                       %(now)s::timestamptz - g * interval '1 minute',
                       %(now)s::timestamptz - g * interval '1 minute' + interval '2 seconds', NULL
                FROM generate_series(1, %(n)s) g
                """,  # noqa: S608 — the table name comes from the model
                {"unit": unit.pk, "now": now, "n": minutes, "spike": min(250, args.days // 2) * 1440 + 17},
            )
            cursor.execute(f"ANALYZE {table}")
        print(f"loaded {minutes:,} readings in {time.perf_counter() - start:.1f} s")
        start = time.perf_counter()
        written = rebuild_rollups(unit)
        connection.cursor().execute(f"ANALYZE {ReadingRollup._meta.db_table}")
        print(f"built {written:,} summaries (hourly and daily) in {time.perf_counter() - start:.1f} s")
    else:
        print(f"reusing {have:,} readings of {unit.name}")
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_size_pretty(pg_total_relation_size(%s)), pg_size_pretty(pg_total_relation_size(%s))",
                       [table, ReadingRollup._meta.db_table])
        raw_size, rollup_size = cursor.fetchone()
    print(f"sizes: readings table {raw_size} (all units), summaries {rollup_size}")
    now = timezone.now()

    print(f"\nchart reads (server side, {args.repeat} runs each)")
    for window in ("24h", "7d", "30d", "1y"):
        with CaptureQueriesContext(connection) as captured:
            points = queries.readings_series(unit, window, now=now)
        figure, _ = timed(lambda w=window: queries.readings_series(unit, w, now=now), args.repeat)
        extreme = max(p.high for p in points)
        print(f"  {window:>4}: {len(points):>5} points, {len(captured)} query, {figure}; highest {extreme:.1f} °C")
        figure, _ = timed(lambda w=window, p=points: temperature_chart(unit, p, window=w, now=now), args.repeat)
        print(f"        SVG drawn in {figure}")

    print("\nthe old way: an hourly GROUP BY over the raw readings")
    for window in ("30d", "1y"):
        since = now - queries.WINDOWS[window]

        def old(since=since):
            return list(TemperatureReading.objects.filter(unit=unit, recorded_at__gte=since, recorded_at__lte=now)
                        .annotate(bucket=TruncHour("recorded_at")).values("bucket")
                        .annotate(avg=Avg("temperature_c"), low=Min("temperature_c"), high=Max("temperature_c"))
                        .order_by("bucket"))
        figure, rows = timed(old, max(3, args.repeat // 5))
        print(f"  {window:>4}: {len(rows):>5} hourly rows from raw, {figure}")

    from django.core.signals import request_finished, request_started
    from django.db import close_old_connections

    # Persistent connections, as a server with CONN_MAX_AGE keeps them (and the queries stay countable).
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    client = Client()
    client.force_login(admin)
    print("\nthe unit page (HTML)")
    for window in ("24h", "30d", "1y"):
        url = f"/storage/units/{unit.pk}/?window={window}"
        response = client.get(url)
        assert response.status_code == 200 and f'data-window="{window}"' in response.content.decode()
        figure, _ = timed(lambda u=url: client.get(u), max(3, args.repeat // 2))
        print(f"  {window:>4}: {figure} (13 queries: tests/storage/test_reading_chart.py pins them)")

    def post():  # an admin may post for any unit (no sensor binding needed)
        return record_reading(unit, temperature_c=-185.2, recorded_at=timezone.now(), actor=admin)
    figure, _ = timed(post, 10)
    print(f"\none reading stored with its hourly and daily summaries (and history, audit link): {figure}")
    print("\nEXPLAIN 30-day chart:\n  " + "\n  ".join(
        ReadingRollup.objects.filter(unit=unit, period="hour", start__gt=now - queries.WINDOWS["30d"])
        .order_by("start").values_list("start", "low", "high").explain(analyze=True).splitlines()))


if __name__ == "__main__":
    main()
