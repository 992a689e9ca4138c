"""Benchmark: the daily stability re-check task over 20,000 released lots (target: under 10 s, batched).

Run from the project root with DATABASE_URL set:  python bench/qc_rechecks.py [--lots 20000]
It builds its own data inside a transaction (20,000 released lots, each with a plan due 1-60 days ago and two stored
vials), runs qc.services.open_due_rechecks twice (the second run must open nothing), prints the
timings and query counts, then rolls everything back so it can be run again.
"""

from __future__ import annotations

import argparse
import datetime
import os
import sys
import time
from decimal import Decimal
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "bank.settings")

import django  # noqa: E402

django.setup()

from django.contrib.auth import get_user_model  # noqa: E402
from django.db import connection, transaction  # noqa: E402
from django.test.utils import CaptureQueriesContext  # noqa: E402
from django.utils import timezone  # noqa: E402

from donors.models import Collection, Consent, Donor  # noqa: E402
from lots.models import CellLine, Lot, Vial  # noqa: E402
from qc import services  # noqa: E402
from qc.models import Recheck, StabilityPlan  # noqa: E402
from storage.models import Box, Rack, StorageUnit  # noqa: E402


class Rollback(Exception):
    pass


def build(n: int, today: datetime.date) -> None:
    stamp = time.time_ns() % 10**8
    user = get_user_model().objects.create(username=f"bench-{stamp}")
    donor = Donor.objects.create(code=f"BD-{stamp}", sex="F", birth_year=1990, donor_type="healthy",
                                 registered_by=user)
    consent = Consent.objects.create(donor=donor, form_version="bench", signed_on=today, scopes=["research"],
                                     recorded_by=user)
    collection = Collection.objects.create(code=f"BC-{stamp}", donor=donor, consent=consent,
                                           tissue="skin", collected_at=timezone.now(), received_at=timezone.now(),
                                           transport_temperature_c=4, received_by=user)
    line = CellLine.objects.create(name=f"BENCH-{stamp}", collection=collection, donor=donor,
                                   cell_type="iPSC", grade="research", created_by=user)
    lots = Lot.objects.bulk_create([
        Lot(lot_number=f"BENCH-{stamp}-{i:06d}", barcode=f"BL{stamp}{i:06d}", cell_line=line, tier="MCB", passage=10,
            vial_count=2, cells_per_vial=1_000_000, volume_ml=Decimal("1"), cryoprotectant="CS10",
            frozen_on=today - datetime.timedelta(days=400), operator=user, status="released")
        for i in range(n)
    ], batch_size=5000)
    unit = StorageUnit.objects.create(name=f"BENCH-{stamp}", kind="ln2_vapor", min_temperature_c=-196,
                                      max_temperature_c=-150)
    rack = Rack.objects.create(unit=unit, name="R1")
    per_box = 100
    boxes = Box.objects.bulk_create([
        Box(rack=rack, name=f"B{b}", barcode=f"BB{stamp}{b:05d}", rows=10, cols=10, position=1)
        for b in range((2 * n + per_box - 1) // per_box)
    ])
    vials = []
    slot = 0
    for lot in lots:
        for number in (1, 2):
            box = boxes[slot // per_box]
            pos = slot % per_box
            vials.append(Vial(lot=lot, number=number, barcode=f"BV{stamp}{lot.pk}-{number}", box=box,
                              row=pos // 10 + 1, col=pos % 10 + 1))
            slot += 1
    Vial.objects.bulk_create(vials, batch_size=5000)
    StabilityPlan.objects.bulk_create([
        StabilityPlan(lot=lot, interval_days=365, min_viability_pct=Decimal("70"),
                      next_due_on=today - datetime.timedelta(days=1 + i % 60))  # a half past the overdue limit
        for i, lot in enumerate(lots)
    ], batch_size=5000)


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--lots", type=int, default=20_000)
    args = parser.parse_args()
    today = timezone.localdate()
    print(f"database: {connection.vendor} {connection.settings_dict['NAME']}")
    try:
        with transaction.atomic():
            started = time.perf_counter()
            build(args.lots, today)
            print(f"set-up: {args.lots} released lots, {2 * args.lots} stored vials, due plans "
                  f"({time.perf_counter() - started:.1f} s)")
            for run in (1, 2):
                with CaptureQueriesContext(connection) as queries:
                    started = time.perf_counter()
                    result = services.open_due_rechecks(today=today)
                    elapsed = time.perf_counter() - started
                print(f"run {run}: opened {result['opened']}, overdue {result['overdue']} in {elapsed:.2f} s, "
                      f"{len(queries.captured_queries)} queries")
            opened = Recheck.objects.filter(lot__lot_number__startswith="BENCH-").count()
            highest = Recheck.objects.filter(lot__lot_number__startswith="BENCH-", vial__number=2).count()
            print(f"re-checks open: {opened} (vial chosen = highest-numbered stored vial for {highest})")
            raise Rollback
    except Rollback:
        print("rolled back: the database is as it was")
    return 0


if __name__ == "__main__":
    sys.exit(main())
