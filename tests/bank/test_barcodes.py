"""Barcodes: unique identifiers from bank.sequences (its concurrency test covers them), Code 128 SVG."""

import pytest

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
