"""The label layout engine (bank/labels.py) on printer profiles: page size, grid, roll pages and ZPL dots; box,
lot and vial label content; the settings as the fallback."""

from __future__ import annotations

import re
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError
from django.test import override_settings

from bank import labels as engine
from labels import services
from lots import labels as lot_labels
from tests.lots.test_labels import pdf_pages, pdf_text

pytestmark = pytest.mark.django_db


def _pages(data: bytes) -> list[str]:
    import base64
    import zlib

    pages = []
    for raw in re.findall(rb"stream\r?\n(.*?)\r?\n?endstream", data, re.S):
        raw = raw.strip()
        if raw.endswith(b"~>"):
            raw = base64.a85decode(raw[:-2])
        try:
            text = zlib.decompress(raw).decode("latin-1")
        except zlib.error:
            continue
        if " re S" in text:
            pages.append(text)
    return pages


def guides(page: str) -> list[tuple[float, float, float, float]]:
    """(x, y, w, h) of every label outline drawn on a sheet page."""
    return [tuple(map(float, m)) for m in re.findall(r"n ([\d.]+) ([\d.]+) ([\d.]+) ([\d.]+) re S", page)]


def test_a_profile_sets_the_sheet_page_and_its_grid(make_profile, lot):
    profile = make_profile(kind="lot", width_in=Decimal("2.625"), height_in=Decimal("1"), page_size="letter",
                           columns=3, rows=10, margin_left_in=Decimal("0.1875"), margin_top_in=Decimal("0.5"),
                           gap_x_in=Decimal("0.125"), gap_y_in=Decimal("0"))
    stock = engine.stock_for("lot", profile)
    assert stock.grid() == (3, 10) and stock.per_page == 30
    labels = [lot_labels.lot_label(lot)] * 31
    data = engine.render_pdf(labels, stock, title="lots")
    assert pdf_pages(data) == [(612.0, 792.0)] * 2  # US letter; 30 on the first page, 1 on the second
    first, second = _pages(data)
    outlines = guides(first)
    assert len(outlines) == 30 and len(guides(second)) == 1
    # first label at the left and top margins; columns 2.625" + 0.125" apart; rows touch (no gap)
    assert outlines[0] == (13.5, 792 - 36 - 72, 189.0, 72.0)
    assert outlines[1][0] == pytest.approx(13.5 + 189 + 9)
    assert outlines[3][1] == pytest.approx(792 - 36 - 144)


def test_an_automatic_grid_fits_as_many_as_the_page_takes(make_profile, lot):
    profile = make_profile(width_in=Decimal("1.28"), height_in=Decimal("0.5"), page_size="A4")
    stock = engine.stock_for("vial", profile)
    assert stock.grid() == (5, 17)  # the classic cryo sheet: 85 a page
    data = lot_labels.label_pdf(lot, lot.vials.all(), profile=profile)
    assert pdf_pages(data) == [(595.2756, 841.8898)]
    assert len(guides(_pages(data)[0])) == 12


def test_the_kinds_default_profile_applies_and_the_settings_are_the_fallback(make_profile, lot):
    vials = list(lot.vials.order_by("number")[:2])
    with override_settings(LABEL_WIDTH_IN=2.0, LABEL_HEIGHT_IN=1.0, LABEL_PRINTER_DPI=203):
        assert pdf_pages(lot_labels.label_pdf(lot, vials, layout="roll")) == [(144.0, 72.0)] * 2
        assert "^PW406" in lot_labels.label_zpl(lot, vials)
        make_profile(name="Small roll", output="pdf_roll", width_in=Decimal("1"), height_in=Decimal("0.5"), dpi=600,
                     is_default=True)
        assert pdf_pages(lot_labels.label_pdf(lot, vials, layout="roll")) == [(72.0, 36.0)] * 2
        zpl = lot_labels.label_zpl(lot, vials)
        assert "^PW600" in zpl and "^LL300" in zpl  # 1" x 0.5" at 600 dpi


@pytest.mark.parametrize("dpi, pw, ll", [(203, 406, 203), (300, 600, 300), (600, 1200, 600)])
def test_zpl_dots_follow_the_profile_resolution(make_profile, place, dpi, pw, ll):
    profile = make_profile(kind="box", output="zpl", width_in=Decimal("2"), height_in=Decimal("1"), dpi=dpi)
    printout = services.render("box", [place.box_a.pk], engine.stock_for("box", profile), "zpl", title="box")
    zpl = printout.content.decode()
    assert f"^PW{pw}" in zpl and f"^LL{ll}" in zpl and zpl.count("^XA") == 1


def test_a_roll_profile_makes_one_label_sized_page_per_label(make_profile, place):
    profile = make_profile(kind="box", output="pdf_roll", width_in=Decimal("2"), height_in=Decimal("1"))
    ids = [place.box_a.pk, place.box_b.pk, place.box_c.pk]
    printout = services.render("box", ids, engine.stock_for("box", profile), "pdf", title="boxes")
    assert pdf_pages(printout.content) == [(144.0, 72.0)] * 3


def test_box_labels_carry_the_box_barcode_name_path_and_grid(place):
    ids = services.box_ids(unit=place.unit)
    assert ids == [place.box_a.pk, place.box_b.pk, place.box_c.pk]  # storage order: rack R1 (A, B), then R2
    zpl = services.render("box", ids, engine.stock_for("box"), "zpl", title="unit").content.decode()
    assert zpl.count("^XA") == 3
    for box in (place.box_a, place.box_b, place.box_c):
        assert f"^BCN,{zpl.split('^BCN,')[1].split(',')[0]},N,N,N,A^FH_^FD{box.barcode}^FS" in zpl
        assert f"^FH_^FDBOX {box.name}^FS" in zpl
    assert "^FH_^FDLN2-LBL / R1^FS" in zpl and "^FH_^FDLN2-LBL / R2^FS" in zpl
    assert "^FH_^FDSBB00000102 · 10 x 10^FS" in zpl
    text = pdf_text(services.render("box", ids, engine.stock_for("box"), "pdf", title="unit").content)
    assert "(BOX A) Tj" in text and "(LN2-LBL / R1) Tj" in text and "(SBB00000101 \\267 9 x 9) Tj" in text


def test_lot_label_carries_the_lot_barcode_and_what_the_lot_is(lot):
    label = lot_labels.lot_label(lot)
    assert label.barcode == "SBL00000077"
    assert [text for _font, text in label.lines] == [
        "LOT MCB-LBL-0001", f"{lot.cell_line.name} · MCB · P10", f"Frozen {lot.frozen_on.isoformat()} · 12 vials"]
    zpl = engine.render_zpl([label], engine.stock_for("lot"))
    assert "^FH_^FDSBL00000077^FS" in zpl and "^FH_^FDLOT MCB-LBL-0001^FS" in zpl
    # no profile: 2" x 1" at the settings' 300 dpi
    assert "^PW600" in zpl and "^LL300" in zpl


def test_vial_labels_of_a_selection_across_lots_keep_the_order_given(lot):
    from tests.factories import LotFactory

    other = LotFactory(vial_count=2, lot_number="WCB-LBL-0002")
    picked = [other.vials.get(number=2), lot.vials.get(number=5), other.vials.get(number=1)]
    labels = services.make_labels("vial", [v.pk for v in picked])
    assert [label.barcode for label in labels] == [v.barcode for v in picked]
    assert labels[1].lot_number == "MCB-LBL-0001" and labels[0].lot_number == "WCB-LBL-0002"


def test_labels_are_made_with_one_query_per_thousand(lot, place, django_assert_num_queries):
    ids = list(lot.vials.values_list("pk", flat=True))
    box_ids = services.box_ids(unit=place.unit)
    with django_assert_num_queries(1):  # the vials with their lot and line
        services.make_labels("vial", ids)
    with django_assert_num_queries(1):  # the boxes with their rack and unit
        services.make_labels("box", box_ids)
    with django_assert_num_queries(1):  # the lots with their line
        services.make_labels("lot", [lot.pk])


def test_a_sheet_grid_that_does_not_fit_its_page_is_refused(make_profile):
    with pytest.raises(ValidationError) as caught:
        make_profile(name="Too wide", kind="box", width_in=Decimal("3"), height_in=Decimal("1"), columns=3)
    assert "columns" in caught.value.message_dict and "do not fit across" in caught.value.message_dict["columns"][0]
    with pytest.raises(ValidationError) as caught:
        make_profile(name="Too tall", kind="box", width_in=Decimal("2"), height_in=Decimal("1.5"), rows=8)
    assert "rows" in caught.value.message_dict
    with pytest.raises(ValidationError) as caught:
        make_profile(name="Tiny", width_in=Decimal("0.1"), height_in=Decimal("0.5"))
    assert "width_in" in caught.value.message_dict
    # a roll or a Zebra label is not bound by a page
    make_profile(name="Big roll", kind="box", output="pdf_roll", width_in=Decimal("4"), height_in=Decimal("6"),
                 columns=3)
