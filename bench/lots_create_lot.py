"""Benchmark: freeze a 1,000-vial lot with its history on PostgreSQL (target: under 2 s), and render
its lot page (query count must not depend on the number of vials).

Run from the project root with DATABASE_URL pointing at a migrated PostgreSQL database:

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/stembank_lots python bench/lots_create_lot.py [--runs 5]

It creates its own user, donor, collection and cell line (new names every run, so it is re-runnable)
and commits like the real request does. Figures: wall time of ``lots.services.create_lot`` per run
(min / median / max), rows written, and the lot page's time and query count.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "bank.settings")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--vials", type=int, default=1000)
    args = parser.parse_args()

    import django

    django.setup()
    import datetime
    from decimal import Decimal

    from django.conf import settings
    from django.core.management import call_command
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext
    from django.utils import timezone

    from bank.services import save_user
    from donors.models import Collection, Consent, Donor
    from lots import services
    from lots.models import Vial

    if connection.vendor != "postgresql":
        print("This benchmark runs on PostgreSQL: set DATABASE_URL=postgres://...", file=sys.stderr)
        return 2
    settings.ALLOWED_HOSTS = [*settings.ALLOWED_HOSTS, "testserver"]
    call_command("migrate", verbosity=0)
    stamp = timezone.now().strftime("%Y%m%d%H%M%S%f")
    tech = save_user(f"bench-tech-{stamp}", roles=["technician"], password=f"bench-{stamp}-pass",
                     full_name="Bench Technician", email="bench@bank.example", validate=False, reason="benchmark")
    donor = Donor.objects.create(code=f"SBD-B{stamp[-10:]}", sex="F", birth_year=1990, donor_type="healthy")
    consent = Consent.objects.create(donor=donor, form_version="bench", signed_on=timezone.localdate(),
                                     scopes=["research"], recorded_by=tech)
    now = timezone.now()
    collection = Collection.objects.create(code=f"COL-B{stamp[-12:]}", donor=donor, consent=consent, tissue="skin",
                                           collected_at=now - datetime.timedelta(hours=5), received_at=now,
                                           received_by=tech)
    line = services.create_cell_line(collection=collection, cell_type="other",
                                     grade="research", actor=tech, reason="benchmark")

    timings, lots = [], []
    for _ in range(args.runs):
        started = time.perf_counter()
        lot = services.create_lot(
            cell_line=line, tier="MCB", passage=10, vial_count=args.vials, cells_per_vial=1_000_000,
            volume_ml=Decimal("1.0"), cryoprotectant="CryoStor CS10", frozen_on=timezone.localdate(), actor=tech,
            reason="benchmark",
        )
        timings.append(time.perf_counter() - started)
        lots.append(lot)
    last = lots[-1]
    vials = Vial.objects.filter(lot=last).count()
    history = Vial.history.filter(lot_id=last.pk).count()

    client = Client()
    client.force_login(tech)
    client.get(f"/lots/{last.pk}/")  # warm the template cache
    with CaptureQueriesContext(connection) as queries:
        started = time.perf_counter()
        response = client.get(f"/lots/{last.pk}/")
        page_time = time.perf_counter() - started
    assert response.status_code == 200, response.status_code

    print(f"create_lot with {args.vials} vials, {args.runs} runs on PostgreSQL "
          f"({connection.settings_dict['NAME']}):")
    print(f"  min {min(timings):.3f} s · median {statistics.median(timings):.3f} s · max {max(timings):.3f} s "
          f"(target < 2 s: {'met' if max(timings) < 2 else 'MISSED'})")
    print(f"  rows per lot: 1 lot + {vials} vials, history: 1 lot row + {history} vial rows")
    print(f"lot page with {vials} vials: {page_time:.3f} s, {len(queries.captured_queries)} queries, "
          f"{len(response.content) // 1024} KiB of HTML")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
