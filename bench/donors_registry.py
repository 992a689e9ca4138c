"""Benchmark of the donor registry: CSV import, registration, and the donor list/detail at scale.

Run from the project root with the project's environment (DATABASE_URL etc.):
    python bench/donors_registry.py [--donors 5000]
Everything it creates is rolled back at the end, so it can run against a demo database.
"""

from __future__ import annotations

import argparse
import datetime
import os
import statistics
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "bank.settings")

import django  # noqa: E402

django.setup()

from django.db import connection, transaction  # noqa: E402
from django.test import Client  # noqa: E402
from django.test.utils import CaptureQueriesContext  # noqa: E402
from django.utils import timezone  # noqa: E402
from rest_framework.test import APIClient  # noqa: E402

from bank.services import save_user  # noqa: E402
from donors import services  # noqa: E402
from donors.models import Donor  # noqa: E402

MARKERS = ["hiv_ab", "hiv_nat", "hbsag", "anti_hbc", "hcv_ab", "hcv_nat", "syphilis"]


class Rollback(Exception):
    pass


def csv_for(count: int, offset: int) -> str:
    day = (timezone.localdate() - datetime.timedelta(days=3)).isoformat()
    header = ("sex,birth_year,donor_type,full_name,national_id,sample_drawn_on,consent_form_version,"
              "consent_signed_on,consent_scopes," + ",".join(MARKERS))
    rows = [f"{'FM'[i % 2]},{1950 + i % 60},healthy,Bench Donor {i},BENCH{offset + i:012d},{day},ICF-v3,{day},"
            f"research;data_sharing," + ",".join(["negative"] * len(MARKERS)) for i in range(count)]
    return "\n".join([header, *rows]) + "\n"


def timed(fn, repeat: int = 5) -> tuple[float, int]:
    """Median milliseconds of ``fn`` and the number of queries of its last run."""
    times, queries = [], 0
    for _ in range(repeat):
        with CaptureQueriesContext(connection) as ctx:
            start = time.perf_counter()
            fn()
            times.append((time.perf_counter() - start) * 1000)
        queries = len(ctx.captured_queries)
    return statistics.median(times), queries


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--donors", type=int, default=5000)
    args = parser.parse_args()
    try:
        with transaction.atomic():
            run(args.donors)
            raise Rollback
    except Rollback:
        print("(all benchmark data rolled back)")


def run(total: int) -> None:
    coordinator = save_user("bench-coordinator", roles=["coordinator"], password="bench-pass-123", validate=False)
    qa = save_user("bench-qa", roles=["qa"], password="bench-pass-123", validate=False)
    print(f"donor registry benchmark on {connection.vendor}, {total} donors")

    start = time.perf_counter()
    result = services.import_donors_csv(csv_for(1000, 0), actor=coordinator, filename="bench.csv")
    seconds = time.perf_counter() - start
    print(f"CSV import, 1000 donors with consent and 7 results each: {seconds:.2f} s "
          f"({len(result.donors)} donors, {result.results} results)")

    bad = csv_for(1000, 0)  # every national ID is now taken: the whole file is checked and refused
    start = time.perf_counter()
    try:
        services.import_donors_csv(bad, actor=coordinator)
    except services.ImportRejected as exc:
        print(f"CSV check of 1000 bad rows (all reported): {time.perf_counter() - start:.2f} s, "
              f"{len(exc.rows)} lines reported")

    remaining = total - 1000
    while remaining > 0:
        chunk = min(remaining, 2000)
        services.import_donors_csv(csv_for(chunk, total * 10 + remaining), actor=coordinator)
        remaining -= chunk
    print(f"registry now holds {Donor.objects.count()} donors")

    counter = iter(range(10**6))

    def register():
        n = next(counter)
        services.register_donor(actor=coordinator, sex="F", birth_year=1990, donor_type="healthy",
                                identity={"full_name": f"One {n}", "national_id": f"ONE{n:010d}"})

    ms, queries = timed(register, repeat=20)
    print(f"register_donor (one donor): median {ms:.1f} ms, {queries} queries")

    api = APIClient()
    api.force_authenticate(qa)
    for size in (50, 500):
        ms, queries = timed(lambda size=size: api.get("/api/v1/donors/", {"page_size": size}))
        print(f"GET /api/v1/donors/?page_size={size}: median {ms:.1f} ms, {queries} queries")
    some = Donor.objects.order_by("-id").first()
    ms, queries = timed(lambda: api.get("/api/v1/donors/", {"code": some.code}))
    print(f"GET /api/v1/donors/?code=…: median {ms:.1f} ms, {queries} queries")
    ms, queries = timed(lambda: api.get(f"/api/v1/donors/{some.pk}/"))
    print(f"GET /api/v1/donors/{{id}}/: median {ms:.1f} ms, {queries} queries")
    reader = APIClient()
    reader.force_authenticate(coordinator)
    ms, queries = timed(lambda: reader.get(f"/api/v1/donors/{some.pk}/"))
    print(f"GET /api/v1/donors/{{id}}/ as coordinator (identity shown): median {ms:.1f} ms, {queries} queries")

    client = Client()
    client.force_login(qa)
    ms, queries = timed(lambda: client.get("/donors/"))
    print(f"donor list page (50 per page): median {ms:.1f} ms, {queries} queries")
    ms, queries = timed(lambda: client.get("/donors/", {"q": some.code[-4:]}))
    print(f"donor list page, search by code: median {ms:.1f} ms, {queries} queries")
    ms, queries = timed(lambda: client.get(f"/donors/{some.pk}/", {"tab": "screening"}))
    print(f"donor page (screening tab): median {ms:.1f} ms, {queries} queries")


if __name__ == "__main__":
    main()
