"""Labels: a Code 128 SVG per vial, a PDF label sheet (or roll) per lot, and ZPL for Zebra printers."""

from __future__ import annotations

import base64
import re
import zlib

import pytest
from django.test import override_settings

from bank.barcodes import code128_modules
from lots import labels

pytestmark = pytest.mark.django_db


def pdf_text(data: bytes) -> str:
    """The content streams of a PDF, inflated: enough to find the text a label prints."""
    assert data.startswith(b"%PDF-"), data[:20]
    chunks = []
    for raw in re.findall(rb"stream\r?\n(.*?)\r?\n?endstream", data, re.S):
        raw = raw.strip()
        if raw.endswith(b"~>"):  # ReportLab's /ASCII85Decode /FlateDecode
            raw = base64.a85decode(raw[:-2])
        try:
            chunks.append(zlib.decompress(raw))
        except zlib.error:
            chunks.append(raw)
    return b"\n".join(chunks).decode("latin-1")


def pdf_pages(data: bytes) -> list[tuple[float, float]]:
    return [(float(w), float(h)) for w, h in re.findall(rb"/MediaBox \[ 0 0 ([\d.]+) ([\d.]+) \]", data)]


@pytest.fixture
def lot(line, make_lot):
    return make_lot(line, vial_count=100)


def test_label_sheet_has_one_label_per_vial_with_its_text(lot):
    vials = list(lot.vials.order_by("number"))
    data = labels.label_pdf(lot, vials)
    text = pdf_text(data)
    for vial in vials:
        assert text.count(f"({vial.barcode}  {lot.cell_line.name}) Tj") == 1, vial.barcode
    assert text.count(f"{lot.lot_number} \\267 MCB \\267 P12") == 100  # lot, tier and passage on every label
    assert text.count(f"Frozen {lot.frozen_on.isoformat()}") == 100
    # 1.28" x 0.5" labels: 5 columns x 17 rows fit on A4 inside half-inch margins -> 85 per page
    assert pdf_pages(data) == [(595.2756, 841.8898)] * 2


def test_roll_layout_makes_one_label_sized_page_per_vial(lot):
    data = labels.label_pdf(lot, lot.vials.order_by("number")[:7], layout="roll")
    assert pdf_pages(data) == [(92.16, 36.0)] * 7


@override_settings(LABEL_WIDTH_IN=2.0, LABEL_HEIGHT_IN=1.0, LABEL_SHEET_PAGE="letter")
def test_label_size_and_sheet_page_come_from_settings(lot):
    assert pdf_pages(labels.label_pdf(lot, lot.vials.all()[:3], layout="roll")) == [(144.0, 72.0)] * 3
    assert pdf_pages(labels.label_pdf(lot, lot.vials.all()[:3])) == [(612.0, 792.0)]


def test_barcode_bars_are_the_code128_modules(lot):
    vial = lot.vials.first()
    modules = code128_modules(vial.barcode)
    bars = labels._runs(modules)
    assert sum(length for _, length in bars) == modules.count("1")
    text = pdf_text(labels.label_pdf(lot, [vial], layout="roll"))
    assert text.count(" re") >= len(bars)  # one filled rectangle per bar


def test_zpl_has_one_label_per_vial_sized_for_the_printer(lot):
    vials = list(lot.vials.order_by("number")[:4])
    zpl = labels.label_zpl(lot, vials)
    assert zpl.count("^XA") == 4 and zpl.count("^XZ") == 4
    assert "^PW384" in zpl and "^LL150" in zpl  # 1.28" x 0.5" at 300 dpi
    for vial in vials:
        assert f"^BCN,55,N,N,N,A^FH_^FD{vial.barcode}^FS" in zpl
    assert f"^FH_^FD{lot.lot_number} · MCB · P12^FS" in zpl
    with override_settings(LABEL_PRINTER_DPI=203):
        assert "^PW260" in labels.label_zpl(lot, vials[:1])


def test_zpl_escapes_control_characters():
    assert labels._zpl_text("A^B~C_D") == "^FH_^FDA_5EB_7EC_5FD^FS"


def test_vial_svg_label(lot):
    vial = lot.vials.first()
    svg = labels.vial_label_svg(vial)
    assert "<svg" in svg and vial.barcode in svg
