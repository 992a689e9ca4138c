"""Cryostorage at bank scale: 1,000,000 vials in storage on PostgreSQL, then the figures of issue 5.

    DATABASE_URL=postgres://... python bench/storage_scale.py [--vials 1000000] [--reset]

Loads (once; re-runs reuse it) 24 tanks × 10 racks × 42 boxes of 10×10 and 10,000 lots of 100 vials,
with INSERT … SELECT generate_series (never the ORM row by row), plus 176 sensor-only units (200 units
in all). Then measures, server side:
  * the box map (API GET /storage/boxes/{id}/map/ and the HTML box page): queries and time;
  * barcode lookup (the vial a scanner read, the box a scanner read);
  * the alarm task over 200 units (10 silent, then steady state, then all 200 silent);
  * the reads behind the dashboard and unit pages (occupancy of every unit, find_space).
Bench rows are named BENCH-* / BN*; ``--reset`` deletes them (their vials first).
"""

from __future__ import annotations

import argparse
import datetime
import os
import random
import statistics
import sys
import time
from decimal import Decimal
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "bank.settings")
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")

import django  # noqa: E402

django.setup()

from django.conf import settings  # noqa: E402
from django.contrib.auth import get_user_model  # noqa: E402
from django.db import connection, reset_queries, transaction  # noqa: E402
from django.test.utils import CaptureQueriesContext  # noqa: E402
from django.utils import timezone  # noqa: E402

UNITS_WITH_BOXES, RACKS, BOXES_PER_RACK, GRID = 24, 10, 42, 10
ALL_UNITS = 200
PREFIX = "BENCH-"


def ms(seconds: float) -> str:
    return f"{seconds * 1000:.1f} ms"


def summary(samples: list[float]) -> str:
    samples = sorted(samples)
    p95 = samples[max(int(len(samples) * 0.95) - 1, 0)]
    return f"median {ms(statistics.median(samples))}, p95 {ms(p95)}, max {ms(samples[-1])} (n={len(samples)})"


def bench_user():
    from bank.services import save_user

    user = get_user_model().objects.filter(username="bench-admin").first()
    return user or save_user("bench-admin", roles=["admin"], password=None, full_name="Bench Admin",
                             reason="benchmark")


def cell_line(user):
    from donors.models import Collection, Consent, Donor
    from lots.models import CellLine

    line = CellLine.objects.filter(name="BENCH-LINE").first()
    if line:
        return line
    donor = Donor.objects.create(code="BENCH-D1", sex="F", birth_year=1990, population="Han Chinese",
                                 donor_type="healthy")
    consent = Consent.objects.create(donor=donor, form_version="bench", signed_on=timezone.localdate(),
                                     scopes=["research"], recorded_by=user)
    now = timezone.now()
    collection = Collection.objects.create(code="BENCH-C1", donor=donor, consent=consent, tissue="skin",
                                           collected_at=now, received_at=now, transport_temperature_c=Decimal("4"),
                                           received_by=user)
    return CellLine.objects.create(name="BENCH-LINE", collection=collection, donor=donor, cell_type="iPSC",
                                   grade="research", created_by=user)


def load(total_vials: int) -> None:
    from storage.models import Rack, StorageUnit

    user = bench_user()
    line = cell_line(user)
    lots = -(-total_vials // (GRID * GRID))
    t0 = time.perf_counter()
    with transaction.atomic():
        units = [
            StorageUnit(name=f"{PREFIX}U{i:03d}", kind="ln2_vapor", min_temperature_c=Decimal("-196"),
                        max_temperature_c=Decimal("-150"), site="Bench", room=f"room {i % 7}")
            for i in range(1, ALL_UNITS + 1)
        ]
        StorageUnit.objects.bulk_create(units)
        units = list(StorageUnit.objects.filter(name__startswith=PREFIX).order_by("name"))
        Rack.objects.bulk_create([Rack(unit=u, name=f"R{r}", position=r, capacity=BOXES_PER_RACK)
                                  for u in units[:UNITS_WITH_BOXES] for r in range(1, RACKS + 1)])
        with connection.cursor() as cur:
            cur.execute(
                """
                INSERT INTO storage_box (rack_id, name, barcode, rows, cols, position, created_at)
                SELECT r.id, 'BNB-' || r.id || '-' || b, 'BNB' || lpad((row_number() OVER (ORDER BY r.id, b))::text,
                       8, '0'), %s, %s, b, now()
                FROM storage_rack r JOIN storage_storageunit u ON u.id = r.unit_id
                CROSS JOIN generate_series(1, %s) b
                WHERE u.name LIKE 'BENCH-%%'
                """,
                [GRID, GRID, BOXES_PER_RACK],
            )
            cur.execute(
                """
                INSERT INTO lots_lot (lot_number, barcode, tier, passage, vial_count, cells_per_vial, volume_ml,
                    cryoprotectant, cryoprotectant_lot, freezing_program, freezing_profile, frozen_on, status,
                    status_changed_at, notes, created_at, cell_line_id, operator_id)
                SELECT 'BENCH-' || lpad(g::text, 6, '0'), 'BNL' || lpad(g::text, 8, '0'),
                       CASE WHEN g %% 10 = 0 THEN 'MCB' ELSE 'unit' END, 10, %s, 1000000, 1.0, 'CS10', '', 'container',
                       '', current_date - (g %% 3000), 'released', now(), '', now(), %s, %s
                FROM generate_series(1, %s) g
                """,
                [GRID * GRID, line.pk, user.pk, lots],
            )
            # Vial k goes to lot k / 100 and box k / 100 (each lot fills one 10 x 10 box), row by row.
            cur.execute(
                """
                INSERT INTO lots_vial (lot_id, number, barcode, status, status_changed_at, box_id, "row", col)
                SELECT l.id, g %% 100 + 1, 'BNV' || lpad(g::text, 8, '0'),
                       CASE WHEN g %% 50 = 0 THEN 'reserved' ELSE 'available' END, now(),
                       b.id, (g %% 100) / 10 + 1, g %% 10 + 1
                FROM generate_series(0, %s - 1) g
                JOIN (SELECT id, row_number() OVER (ORDER BY id) - 1 AS k FROM lots_lot
                      WHERE lot_number LIKE 'BENCH-%%') l ON l.k = g / 100
                JOIN (SELECT id, row_number() OVER (ORDER BY id) - 1 AS k FROM storage_box
                      WHERE barcode LIKE 'BNB%%') b ON b.k = g / 100
                """,
                [total_vials],
            )
    with connection.cursor() as cur:
        for table in ("lots_vial", "lots_lot", "storage_box", "storage_rack", "storage_storageunit"):
            cur.execute(f"VACUUM ANALYZE {table}")
    print(f"loaded {total_vials:,} vials, {lots:,} lots in {time.perf_counter() - t0:.1f} s")


def reset() -> None:
    with transaction.atomic(), connection.cursor() as cur:
        cur.execute("DELETE FROM lots_vial WHERE barcode LIKE 'BNV%%'")
        cur.execute("DELETE FROM lots_lot WHERE lot_number LIKE 'BENCH-%%'")
        cur.execute("DELETE FROM storage_box WHERE barcode LIKE 'BNB%%'")
        cur.execute("DELETE FROM storage_rack WHERE unit_id IN (SELECT id FROM storage_storageunit "
                    "WHERE name LIKE 'BENCH-%%')")
        cur.execute("DELETE FROM storage_alarmvial WHERE alarm_id IN (SELECT a.id FROM storage_alarm a JOIN "
                    "storage_storageunit u ON u.id = a.unit_id WHERE u.name LIKE 'BENCH-%%')")
        cur.execute("DELETE FROM storage_temperaturereading WHERE unit_id IN (SELECT id FROM storage_storageunit "
                    "WHERE name LIKE 'BENCH-%%')")
        cur.execute("DELETE FROM storage_alarm WHERE unit_id IN (SELECT id FROM storage_storageunit "
                    "WHERE name LIKE 'BENCH-%%')")
        cur.execute("DELETE FROM storage_storageunit WHERE name LIKE 'BENCH-%%'")
    print("bench rows deleted (history rows of bench alarms stay: history is append-only)")


def measure_box_map(user, rng) -> None:
    from rest_framework.test import APIClient

    from lots.models import Vial
    from storage.models import Box

    box_ids = list(Box.objects.filter(barcode__startswith="BNB").values_list("pk", flat=True))
    api = APIClient()
    api.force_authenticate(user)
    api.get(f"/api/v1/storage/boxes/{box_ids[0]}/map/")  # warm the user's permission cache
    samples, queries = [], set()
    for box_id in rng.sample(box_ids, 200):
        with CaptureQueriesContext(connection) as ctx:
            start = time.perf_counter()
            response = api.get(f"/api/v1/storage/boxes/{box_id}/map/")
            samples.append(time.perf_counter() - start)
        assert response.status_code == 200 and len(response.data["cells"]) == GRID * GRID
        queries.add(len(ctx))
    print(f"box map API (10x10, full): {summary(samples)}; queries per request: {sorted(queries)}")
    from storage.queries import box_map

    samples = []
    for box_id in rng.sample(box_ids, 200):
        start = time.perf_counter()
        box_map(Box.objects.select_related("rack__unit").get(pk=box_id))
        samples.append(time.perf_counter() - start)
    print(f"  ... its two queries and the grid, without HTTP: {summary(samples)}")
    html = APIClient()
    html.force_login(user)
    html.get(f"/storage/boxes/{box_ids[0]}/")
    samples, queries = [], set()
    codes = list(Vial.objects.filter(box_id__in=box_ids[:5]).values_list("barcode", flat=True)[:5])
    for box_id in rng.sample(box_ids, 100):
        with CaptureQueriesContext(connection) as ctx:
            start = time.perf_counter()
            response = html.get(f"/storage/boxes/{box_id}/", {"vial": rng.choice(codes)})
            samples.append(time.perf_counter() - start)
        assert response.status_code == 200
        queries.add(len(ctx))
    print(f"box page HTML with a scanned vial: {summary(samples)}; queries per page: {sorted(queries)}")


def measure_lookup(rng, total_vials: int) -> None:
    from storage.queries import box_by_barcode, vial_by_barcode

    vial_codes = [f"BNV{rng.randrange(total_vials):08d}" for _ in range(500)]
    samples = []
    for code in vial_codes:
        start = time.perf_counter()
        vial = vial_by_barcode(code)
        samples.append(time.perf_counter() - start)
        assert vial is not None and vial.box_id
    print(f"vial barcode lookup (with box, rack, unit, lot, line): {summary(samples)}")
    from lots.models import Vial

    sql, params = (Vial.objects.select_related("box__rack__unit", "lot__cell_line").filter(barcode=vial_codes[0])
                   .order_by()[:1].query.sql_with_params())
    samples = []
    with connection.cursor() as cur:
        for code in vial_codes:
            start = time.perf_counter()
            cur.execute(sql, [code])
            cur.fetchall()
            samples.append(time.perf_counter() - start)
    print(f"  ... the same query in the database alone: {summary(samples)}")
    samples = []
    for n in rng.sample(range(1, UNITS_WITH_BOXES * RACKS * BOXES_PER_RACK), 500):
        start = time.perf_counter()
        box = box_by_barcode(f"BNB{n:08d}")
        samples.append(time.perf_counter() - start)
        assert box is not None
    print(f"box barcode lookup: {summary(samples)}")
    with connection.cursor() as cur:
        cur.execute("EXPLAIN SELECT * FROM lots_vial WHERE barcode = %s", [vial_codes[0]])
        print("  plan:", cur.fetchone()[0].strip())


def measure_alarm_task(user) -> None:
    from celery import current_app

    from storage.choices import AlarmStatus
    from storage.models import Alarm, AlarmVial, StorageUnit
    from storage.tasks import check_silent_sensors

    units = StorageUnit.objects.filter(name__startswith=PREFIX)
    now = timezone.now()

    def scenario(silent: int, label: str) -> None:
        # A fresh start: no earlier alarm of the bench units (one alarm per silence would hold new ones back).
        AlarmVial.objects.filter(alarm__unit__in=units).delete()
        Alarm.objects.filter(unit__in=units).delete()
        ids = list(units.order_by("name").values_list("pk", flat=True))
        StorageUnit.objects.filter(pk__in=ids[silent:]).update(last_reading_at=now - datetime.timedelta(minutes=1))
        StorageUnit.objects.filter(pk__in=ids[:silent]).update(last_reading_at=now - datetime.timedelta(hours=2))
        reset_queries()
        start = time.perf_counter()
        with CaptureQueriesContext(connection) as ctx:
            result = check_silent_sensors()
        first = time.perf_counter() - start
        start = time.perf_counter()
        again = check_silent_sensors()
        steady = time.perf_counter() - start
        in_service = StorageUnit.objects.filter(active=True).count()
        print(f"alarm task over {in_service} units, {label}: {ms(first)} ({len(result['raised'])} alarms raised "
              f"and notified, {len(ctx)} queries); next run {ms(steady)} ({len(again['raised'])} raised)")

    # An excursion on a full tank: the reading's request records every vial in the unit (its
    # notifications are queued for the worker, as in production).
    from storage.services import record_reading

    tank = units.order_by("name").first()
    AlarmVial.objects.filter(alarm__unit__in=units).delete()
    Alarm.objects.filter(unit__in=units).delete()
    start = time.perf_counter()
    reading, _created = record_reading(tank, temperature_c=Decimal("-120"), recorded_at=timezone.now(), actor=user)
    elapsed = time.perf_counter() - start
    alarm = Alarm.objects.filter(reading=reading).first()
    print(f"out-of-range reading on a tank of {tank.racks.count()} racks: {ms(elapsed)} "
          f"(excursion recording {alarm.alarmvial_set.count() if alarm else 0:,} vials)")

    # Notifications run inline (as the worker would): the figure covers raising and telling people.
    current_app.conf.task_always_eager = True
    scenario(10, "10 silent")
    scenario(0, "none silent")
    scenario(ALL_UNITS, "all 200 silent")
    Alarm.objects.filter(unit__in=units, status=AlarmStatus.ACTIVE).update(status=AlarmStatus.ACKNOWLEDGED)


def measure_reads(rng) -> None:
    from lots.models import Lot, Vial
    from storage.models import StorageUnit
    from storage.queries import find_space, occupancy_by_unit, unit_occupancy, unit_racks

    samples = []
    for _ in range(20):
        start = time.perf_counter()
        occupancy = occupancy_by_unit()
        samples.append(time.perf_counter() - start)
    print(f"occupancy of every unit (dashboard, storage page): {summary(samples)}; "
          f"{sum(o.used for o in occupancy.values()):,} vials")
    with connection.cursor() as cur:
        start = time.perf_counter()
        cur.execute("SELECT count(*) FROM lots_vial WHERE box_id IS NOT NULL")
        print(f"  ... counting the vials instead would take {ms(time.perf_counter() - start)} "
              f"({cur.fetchone()[0]:,}); the box counters agree: "
              f"{sum(o.used for o in occupancy.values()) == Vial.objects.filter(box__isnull=False).count()}")
    unit = StorageUnit.objects.filter(name__startswith=PREFIX).order_by("name").first()
    start = time.perf_counter()
    occ = unit_occupancy(unit)
    print(f"one unit's occupancy (unit page, {occ.used:,} vials): {ms(time.perf_counter() - start)}")
    start = time.perf_counter()
    racks = unit_racks(unit)
    print(f"unit page racks with occupancy ({sum(o.used for _r, o, _n in racks):,} vials): "
          f"{ms(time.perf_counter() - start)}")
    lot = Lot.objects.filter(lot_number__startswith=PREFIX).first()
    start = time.perf_counter()
    proposal = find_space(lot, count=250)
    print(f"find_space for 250 vials among {StorageUnit.objects.filter(racks__isnull=False).distinct().count()} "
          f"units: {ms(time.perf_counter() - start)} (enough: {proposal.enough}, {len(proposal.boxes)} boxes)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--vials", type=int, default=1_000_000)
    parser.add_argument("--reset", action="store_true", help="delete the bench rows and stop")
    args = parser.parse_args()
    if connection.vendor != "postgresql":
        sys.exit("Run on PostgreSQL: set DATABASE_URL=postgres://...")
    if args.reset:
        reset()
        return
    capacity = UNITS_WITH_BOXES * RACKS * BOXES_PER_RACK * GRID * GRID
    if args.vials > capacity:
        sys.exit(f"at most {capacity:,} vials fit the bench layout")
    from lots.models import Vial

    stored = Vial.objects.filter(barcode__startswith="BNV").count()
    if stored and stored != args.vials:
        reset()
        stored = 0
    if not stored:
        load(args.vials)
    from storage.models import StorageUnit

    StorageUnit.objects.filter(name__startswith=PREFIX).update(active=True)
    total = Vial.objects.filter(box__isnull=False).count()
    print(f"PostgreSQL, {total:,} vials in storage; DEBUG={settings.DEBUG}")
    user = bench_user()
    rng = random.Random(42)  # noqa: S311
    measure_box_map(user, rng)
    measure_lookup(rng, args.vials)
    measure_reads(rng)
    measure_alarm_task(user)


if __name__ == "__main__":
    main()
