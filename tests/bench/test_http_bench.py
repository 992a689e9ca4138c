"""bench/http.py (issue 13) against a live server on the demo bank: its accounts log in, its targets are found,
every endpoint it times (API, every page of the navigation, the object pages) answers, one interleaved round
and a short load run go through without an error."""

from __future__ import annotations

import importlib.util
import io
import sys
from pathlib import Path
from urllib.parse import urlencode

import pytest
from django.core.management import call_command

BENCH = Path(__file__).resolve().parents[2] / "bench" / "http.py"


def load_bench():
    name = "stembank_bench_http"  # not "http": that is the standard library's package
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(name, BENCH)
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module  # dataclasses look their module up while the file runs
        spec.loader.exec_module(module)
    return sys.modules[name]


@pytest.mark.django_db(transaction=True)
def test_every_benchmarked_endpoint_answers(live_server):
    call_command("load_demo", stdout=io.StringIO())
    bench_http = load_bench()
    bench, targets, pages, endpoints, has_match = bench_http.prepare(live_server.url)
    try:
        # The navigation of the three bench accounts, from the registry.
        urls = {url for _label, url, _role in pages}
        assert {"/", "/lots/", "/storage/", "/distribution/catalog/", "/accounts/users/"} <= urls
        classes = {ep.cls for ep in endpoints}
        assert {"floor", "scan", "box map", "lot", "catalog", "trace", "request", "audit", "page"} <= classes
        assert endpoints[0].cls == "floor"
        assert targets.hla and any(urlencode({"hla": targets.hla}) in ep.path for ep in endpoints)
        assert targets.request_id is not None
        assert has_match == any(ep.cls == "hla match" for ep in endpoints)

        timed, failures = bench_http.check(bench, endpoints)
        assert failures == []
        samples, errors = bench_http.rounds(bench, timed, 1, warmup=0)
        assert errors == []
        rows = bench_http.table(timed, samples)
        assert [r.name for r in rows] == [ep.name for ep in endpoints]
        assert rows[0].ratio == 1.0

        load = bench_http.load_run(bench, targets, timed, users=4, duration=1.0, has_match=has_match,
                                   page_logins=2)
        assert load.count > 0
        assert load.errors == 0, load.error_samples
        section = bench_http.render({
            "profile": "test", "date": "today", "command": "python bench/http.py", "database": "test",
            "counts": bench_http.row_counts(), "machine": {"cores": "1"}, "server": "live_server",
            "rounds": 1, "rows": rows, "failures": [], "load": load})
        assert "| floor: GET screening-markers | floor |" in section
    finally:
        bench.close()
