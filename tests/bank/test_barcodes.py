"""Barcodes: unique under concurrency, Code 128 SVG with the human-readable text."""

import threading

import pytest
from django.db import connection

from bank.barcodes import code128_svg, issue


@pytest.mark.django_db
def test_issue_is_sequential_and_prefixed():
    first = issue("vial", 3)
    second = issue("vial")
    assert len(set(first + second)) == 4
    assert all(code.startswith("SBV") and len(code) == 11 for code in first + second)
    assert issue("box")[0].startswith("SBB")
    with pytest.raises(ValueError):
        issue("spaceship")


@pytest.mark.django_db(transaction=True)
def test_concurrent_issue_never_repeats():
    issue("lot")  # the sequence row exists before the race
    results, errors = [], []

    def worker():
        try:
            results.extend(issue("lot", 50))
        except Exception as exc:  # surfaced below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=worker) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert len(results) == 300 and len(set(results)) == 300


def test_code128_svg_has_bars_and_text():
    svg = code128_svg("SBV00000042")
    assert svg.lstrip().startswith("<?xml") and "<svg" in svg
    assert svg.count("<rect") > 20
    assert "SBV00000042" in svg


@pytest.mark.django_db
def test_barcode_page_needs_login(client, users):
    assert client.get("/barcodes/SBV00000042.svg").status_code == 302
    client.force_login(users["technician"])
    response = client.get("/barcodes/SBV00000042.svg")
    assert response.status_code == 200 and response["Content-Type"] == "image/svg+xml"
