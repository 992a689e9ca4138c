"""Benchmark of distribution: catalog, allocation (sequential and racing), pick list and trace at bank scale.

Run from the repository root with your DATABASE_URL (PostgreSQL):  python bench/distribution_allocation.py
It adds its own lines, lots and vials (names prefixed BENCH-<run>), never touching existing records.
Options: --lines 300 --vials 20000 --threads 16
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import threading
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "bank.settings")
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
os.environ["EMAIL_BACKEND"] = "django.core.mail.backends.locmem.EmailBackend"  # no mail from a benchmark

import django  # noqa: E402

django.setup()

from django.contrib.auth import get_user_model  # noqa: E402
from django.db import connection, reset_queries  # noqa: E402
from django.test.utils import CaptureQueriesContext  # noqa: E402
from django.utils import timezone  # noqa: E402

from bank.errors import Conflict  # noqa: E402
from distribution import queries, services  # noqa: E402
from lots.models import CellLine, Lot, Vial  # noqa: E402
from storage.models import Box, Rack, StorageUnit  # noqa: E402
from tests.factories import DonorFactory, eligible_collection  # noqa: E402


def timed(func, *args, repeat=1, **kwargs):
    samples = []
    result = None
    for _ in range(repeat):
        start = time.perf_counter()
        result = func(*args, **kwargs)
        samples.append((time.perf_counter() - start) * 1000)
    return result, samples


def user(username, role):
    from bank.services import save_user

    return save_user(username, roles=[role], password=None, validate=False, reason="bench")


def make_line(tag, n, technician):
    donor = DonorFactory(code=f"{tag}-D{n:04d}")
    collection = eligible_collection(donor=donor, code=f"{tag}-C{n:04d}", received_by=technician)
    return CellLine.objects.create(name=f"{tag}-{n:04d}", collection=collection, donor=collection.donor,
                                   cell_type="iPSC", grade="clinical", reprogramming_method="sendai",
                                   created_by=technician)


def make_lot(tag, line, tier, vials, parent, technician, box_pool, days_ago):
    lot = Lot.objects.create(
        lot_number=f"{tag}-{line.pk}-{tier}-{days_ago}", barcode=f"{tag}L{uuid.uuid4().hex[:12]}", cell_line=line,
        tier=tier, parent_lot=parent, passage=10, vial_count=max(vials, 1), cells_per_vial=1_000_000,
        volume_ml=1, cryoprotectant="CryoStor CS10", frozen_on=timezone.localdate() - timezone.timedelta(
            days=days_ago), operator=technician, status="released")
    rows = []
    for i in range(1, vials + 1):
        box, row, col = box_pool.next()
        rows.append(Vial(lot=lot, number=i, barcode=f"{lot.barcode}-{i:05d}", box=box, row=row, col=col))
    Vial.objects.bulk_create(rows, batch_size=2000)
    return lot


class BoxPool:
    """Free positions in fresh 10×10 boxes, made as needed."""

    def __init__(self, tag):
        self.unit = StorageUnit.objects.create(name=f"{tag}-LN2", kind="ln2_vapor", min_temperature_c=-196,
                                               max_temperature_c=-150)
        self.rack = Rack.objects.create(unit=self.unit, name="R1")
        self.box, self.slot, self.count = None, 100, 0

    def next(self):
        if self.slot >= 100:
            self.count += 1
            self.box = Box.objects.create(rack=self.rack, name=f"B{self.count}", barcode=f"{self.unit.name}-B"
                                          f"{self.count}", rows=10, cols=10, position=self.count)
            self.slot = 0
        row, col = divmod(self.slot, 10)
        self.slot += 1
        return self.box, row + 1, col + 1


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--lines", type=int, default=300)
    parser.add_argument("--vials", type=int, default=20000, help="vials of the big line")
    parser.add_argument("--threads", type=int, default=16)
    args = parser.parse_args()
    if connection.vendor != "postgresql":
        sys.exit("Run the benchmark on PostgreSQL (set DATABASE_URL).")
    tag = f"BN{uuid.uuid4().hex[:6]}"
    technician, qa = user(f"{tag}-tech", "technician"), user(f"{tag}-qa", "qa")
    researchers = [user(f"{tag}-r{i}", "researcher") for i in range(args.threads)]
    pool = BoxPool(tag)

    print(f"setting up {args.lines} lines and a line with {args.vials} vials ({tag}) ...")
    t0 = time.perf_counter()
    for n in range(args.lines):
        line = make_line(tag, n, technician)
        mcb = make_lot(tag, line, "MCB", 5, None, technician, pool, 90)
        make_lot(tag, line, "WCB", 20, mcb, technician, pool, 30)
    big = make_line(tag, 9999, technician)
    big_mcb = make_lot(tag, big, "MCB", 200, None, technician, pool, 400)
    per_wcb = (args.vials - 200) // 4
    for k in range(4):
        make_lot(tag, big, "WCB", per_wcb, big_mcb, technician, pool, 300 - k * 50)
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")  # what autovacuum does after a bulk load
    print(f"  set-up {time.perf_counter() - t0:.1f} s; bank now has {Vial.objects.count()} vials")

    # Catalog: one page shaped and the count of every released line with stock, as the API does.
    def catalog_page():
        lines = queries.catalog_lines()
        return queries.catalog_entries(list(lines[:50])), lines.count()

    reset_queries()
    with CaptureQueriesContext(connection) as ctx:
        (_entries, total), samples = timed(catalog_page, repeat=5)
    print(f"catalog: {total} lines, page of 50: median {statistics.median(samples):.0f} ms, "
          f"{len(ctx) // 5} queries per page")

    # Sequential approvals of 5 vials from the big line.
    requests = [services.submit_request(actor=researchers[i % len(researchers)], cell_line=big, vials=5,
                                        intended_use="research", project_title="bench", mta_accepted=True,
                                        institution_type="public")
                for i in range(100)]
    counts, samples = [], []
    for request in requests:
        reset_queries()
        with CaptureQueriesContext(connection) as ctx:
            _res, sample = timed(services.approve_request, request, actor=qa)
        counts.append(len(ctx))
        samples += sample
    print(f"approve 5 vials (x100, sequential): median {statistics.median(samples):.0f} ms, "
          f"p95 {sorted(samples)[94]:.0f} ms, {counts[0]} queries each (min {min(counts)}, max {max(counts)})")
    large = services.submit_request(actor=researchers[0], cell_line=big, vials=500, intended_use="research",
                                    project_title="bench large", mta_accepted=True, institution_type="public")
    reset_queries()
    with CaptureQueriesContext(connection) as ctx:
        _res, sample = timed(services.approve_request, large, actor=qa)
    print(f"approve 500 vials: {sample[0]:.0f} ms, {len(ctx)} queries")

    # Racing approvals: every thread approves its own requests at the same moment.
    per_thread = 10
    racing = [[services.submit_request(actor=researchers[t], cell_line=big, vials=2, intended_use="research",
                                       project_title="race", mta_accepted=True, institution_type="public")
               for _ in range(per_thread)]
              for t in range(args.threads)]
    barrier = threading.Barrier(args.threads)
    outcomes: list[str] = []
    lock = threading.Lock()

    def worker(mine):
        barrier.wait()
        for request in mine:
            try:
                services.approve_request(request, actor=qa)
                result = "ok"
            except Conflict as exc:
                result = exc.code
            with lock:
                outcomes.append(result)
        connection.close()

    threads = [threading.Thread(target=worker, args=(mine,)) for mine in racing]
    start = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - start
    from distribution.models import Allocation

    live = Allocation.objects.filter(request__cell_line=big, released_at__isnull=True)
    duplicates = live.count() - live.values("vial").distinct().count()
    print(f"race: {args.threads} threads x {per_thread} approvals of 2 vials: {len(outcomes) / elapsed:.0f} "
          f"approvals/s, {outcomes.count('ok')} ok, vials allocated twice: {duplicates}")

    # Pick list of the 500-vial request, and traces.
    reset_queries()
    with CaptureQueriesContext(connection) as ctx:
        _res, sample = timed(queries.pick_list, large, repeat=3)
    print(f"pick list of 500 vials: median {statistics.median(sample):.0f} ms, {len(ctx) // 3} query")
    technician_user = get_user_model().objects.get(pk=technician.pk)
    shipped = 0
    for request in requests[:40]:
        services.ship_request(request, actor=technician_user, courier="SF", tracking_number=f"T{request.pk}",
                              shipped_on=timezone.localdate())
        shipped += 1
    vial = Allocation.objects.filter(request=requests[0]).first().vial
    reset_queries()
    with CaptureQueriesContext(connection) as ctx:
        _res, sample = timed(queries.trace_vial, vial.barcode, repeat=5)
    print(f"trace vial: median {statistics.median(sample):.0f} ms, {len(ctx) // 5} queries")
    reset_queries()
    with CaptureQueriesContext(connection) as ctx:
        trace, sample = timed(queries.trace_donor, big.donor, repeat=3)
    print(f"trace donor ({sum(len(x['vials']) for x in trace['lots'])} vials, {len(trace['shipments'])} shipments):"
          f" median {statistics.median(sample):.0f} ms, {len(ctx) // 3} queries")
    reset_queries()
    with CaptureQueriesContext(connection) as ctx:
        _res, sample = timed(queries.trace_lot, big_mcb, repeat=3)
    print(f"trace lot forward (MCB + 4 WCBs): median {statistics.median(sample):.0f} ms, {len(ctx) // 3} queries")


if __name__ == "__main__":
    main()
