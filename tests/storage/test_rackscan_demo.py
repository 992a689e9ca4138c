"""The demo's rack-scan sample (storage/samples/rackscan_demo_fluidx.csv, named in the README) is a scan of the demo
box LN2-01-TR1 with two tubes swapped, one missing, one unreadable, one of another box and one unknown."""

import io
from pathlib import Path

import pytest
from django.core.management import call_command

from storage.rackscan import parse_rack_scan
from storage.services import compare_scan

pytestmark = pytest.mark.django_db

SAMPLE = Path(__file__).resolve().parents[2] / "storage" / "samples" / "rackscan_demo_fluidx.csv"


def test_the_demo_sample_is_a_scan_of_the_demo_rack():
    call_command("load_demo", stdout=io.StringIO())
    result = compare_scan(parse_rack_scan(SAMPLE.read_bytes()))
    assert result.box.name == "LN2-01-TR1"
    assert {k: v for k, v in result.counts.items() if k != "empty"} == {
        "match": 8, "misplaced": 3, "unplaced": 0, "unknown": 1, "missing": 1, "no_read": 1}
    cells = {c["label"]: c for c in result.cells}
    assert cells["B1"]["stored_at"]["box_name"] == "LN2-01-R1-B2"
