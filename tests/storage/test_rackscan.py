"""Rack scans (issue 17): each scanner format parsed from its fixture, a box checked against the database
(matching, misplaced, unplaced, unknown, missing, not read), storing from a scan, the API and the page."""

from pathlib import Path

import pytest
from django.core.exceptions import ValidationError
from django.core.files.uploadedfile import SimpleUploadedFile

from bank.errors import Conflict
from lots.models import Vial
from storage.models import VialMove
from storage.rackscan import EMPTY, NO_READ, TUBE, parse_rack_scan
from storage.services import apply_scan, compare_scan
from tests.factories import BoxFactory, LotFactory

pytestmark = pytest.mark.django_db

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "rackscan"
FORMATS = [("ziath_datapaq.csv", "ziath_datapaq"), ("ziath_datapaq_grid.csv", "ziath_datapaq_grid"),
           ("fluidx.csv", "fluidx")]


def fixture(name: str) -> bytes:
    return (FIXTURES / name).read_bytes()


def code(n: int) -> str:
    return f"SBV00900{n:02d}"


@pytest.fixture
def scanned_box(layout):
    """The box the fixtures are scans of (8 × 12, SBB0090001, in the main tank) and what the database says:
    vials 1-6 at A1-A6, 10-13 at B1-B4; vial 7 in another box; vial 8 not stored yet. The scan read 1 at A1,
    3 at A2 and 2 at A3 (swapped), nothing at A4 (4 missing), 5 at A5, A6 unreadable, 7 at A7 (another box's),
    an unknown tube at A8, 8 at A9 (not stored yet) and 10-13 at B1-B4."""
    box = BoxFactory(rack=layout.rack, name="TR-1", barcode="SBB0090001", rows=8, cols=12, position=3)
    lot = LotFactory(status="released", vials=False)
    numbers = (1, 2, 3, 4, 5, 6, 7, 8, 10, 11, 12, 13)
    vials = {n: Vial.objects.create(lot=lot, number=n, barcode=code(n)) for n in numbers}
    places = {1: (box, 1, 1), 2: (box, 1, 2), 3: (box, 1, 3), 4: (box, 1, 4), 5: (box, 1, 5), 6: (box, 1, 6),
              7: (layout.box, 1, 1), 10: (box, 2, 1), 11: (box, 2, 2), 12: (box, 2, 3), 13: (box, 2, 4)}
    for n, (where, row, col) in places.items():
        vials[n].box, vials[n].row, vials[n].col = where, row, col
    Vial.objects.bulk_update(list(vials.values()), ["box", "row", "col"])
    box.vials_by_number = vials
    return box


# --- parsing ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("name,kind", FORMATS)
def test_each_format_is_parsed_from_its_fixture(name, kind):
    scan = parse_rack_scan(fixture(name))
    assert scan.format == kind and scan.rack_barcode == "SBB0090001"
    assert len(scan.reads) == 96
    by = {r.label: r for r in scan.reads}
    assert (by["A1"].state, by["A1"].barcode) == (TUBE, code(1))
    assert (by["A2"].barcode, by["A3"].barcode) == (code(3), code(2))
    assert by["A4"].state == EMPTY and by["A6"].state == NO_READ and by["H12"].state == EMPTY
    assert by["A8"].barcode == "SBV0099999" and by["B4"].barcode == code(13)
    assert {r.barcode for r in scan.tubes} == {code(n) for n in (1, 2, 3, 5, 7, 8, 10, 11, 12, 13)} | {"SBV0099999"}


def test_variants_two_columns_semicolons_headers_and_larger_racks():
    scan = parse_rack_scan("A1,SBV1\r\nA2,NO READ\r\nA3,NO TUBE\r\n")
    assert scan.format == "fluidx" and scan.rack_barcode == ""
    assert [(r.label, r.state) for r in scan.reads] == [("A1", TUBE), ("A2", NO_READ), ("A3", EMPTY)]
    scan = parse_rack_scan("Rack ID;Tube Position;Tube ID\nrk1;P24;sbv9\n")
    assert (scan.format, scan.rack_barcode, scan.reads[0].label, scan.reads[0].barcode) == ("fluidx", "RK1", "P24",
                                                                                          "SBV9")
    scan = parse_rack_scan("\ufeffRack Barcode: SBB1\nDate: 2026-12-06\nPosition\tBarcode\tStatus\nA01\tX1\tOK\n"
                           "A02\t\tNo Read\n".encode())
    assert (scan.format, scan.rack_barcode, [r.state for r in scan.reads]) == ("ziath_datapaq", "SBB1",
                                                                               [TUBE, NO_READ])


@pytest.mark.parametrize("content,line,words", [
    (fixture("bad_position.csv"), 5, "is not a rack position"),
    (b"A1,X1\nA2,X2\nA1,X3\n", 3, "position A1 is listed twice (first on line 1)"),
    (b"R,A1,X1\nR,A2,X1\n", 2, "tube X1 is listed twice"),
    (b"R1,A1,X1\nR2,A2,X2\n", 2, "rack R2, but the file is a scan of rack R1"),
    (b"hello,world\nthis is,not a scan\n", 2, "not a rack-scanner file we know"),
    (b"Rack,R1\n,1,2,3\n1,X3\n", 3, "row letter"),
])
def test_a_bad_file_is_refused_naming_the_line(content, line, words):
    with pytest.raises(ValidationError) as exc:
        parse_rack_scan(content)
    message = exc.value.message_dict["file"][0]
    assert message.startswith(f"Line {line}:") and words in message, message


def test_empty_binary_and_huge_files_are_refused():
    for content in (b"", b"\n\n", b"PK\x03\x04\x00\x00xlsx", b"A1,X\n" * 200_000):
        with pytest.raises(ValidationError) as exc:
            parse_rack_scan(content)
        assert "file" in exc.value.message_dict


# --- comparing ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("name,kind", FORMATS)
def test_a_scan_reports_misplaced_missing_unknown_and_unplaced_tubes(scanned_box, name, kind,
                                                                     django_assert_num_queries):
    scan = parse_rack_scan(fixture(name))
    # the box (by the rack barcode), the vials the database places in it, the vials the scanner read
    with django_assert_num_queries(3):
        result = compare_scan(scan)
    assert result.box == scanned_box and not result.consistent
    assert result.counts == {"match": 6, "misplaced": 3, "unplaced": 1, "unknown": 1, "missing": 1, "no_read": 1,
                             "empty": 83}
    cells = {c["label"]: c for c in result.cells}
    assert cells["A1"]["outcome"] == "match" and cells["B4"]["outcome"] == "match"
    assert cells["A2"]["outcome"] == "misplaced" and cells["A2"]["stored_at"]["label"] == "A3"
    assert cells["A2"]["expected"]["barcode"] == code(2)
    assert cells["A7"]["outcome"] == "misplaced" and cells["A7"]["stored_at"]["box_name"] == "M-B1"
    assert cells["A8"]["outcome"] == "unknown" and cells["A8"]["vial"] is None
    assert cells["A9"]["outcome"] == "unplaced" and cells["A9"]["vial"]["barcode"] == code(8)
    assert cells["A4"]["outcome"] == "missing" and cells["A4"]["expected"]["barcode"] == code(4)
    assert cells["A6"]["outcome"] == "no_read"  # vial 6 may be the unread tube: not reported missing
    assert [(m["barcode"], m["label"], m["found"]) for m in result.missing] == [(code(4), "A4", None)]


def test_a_vial_displaced_by_another_tube_is_missing(scanned_box):
    scan = parse_rack_scan("SBB0090001,A1,SBV0090001\nSBB0090001,A5,SBV0090008\n")
    result = compare_scan(scan)
    missing = {m["barcode"]: m for m in result.missing}
    assert missing[code(5)]["found"] == code(8) and missing[code(5)]["label"] == "A5"
    assert set(missing) == {code(n) for n in (2, 3, 4, 5, 6, 10, 11, 12, 13)}


def test_the_box_comes_from_the_file_or_the_chooser(scanned_box, layout):
    scan = parse_rack_scan("A1,SBV0090001\n")
    with pytest.raises(ValidationError) as exc:
        compare_scan(scan)
    assert "box" in exc.value.message_dict
    assert compare_scan(scan, scanned_box).counts["match"] == 1
    with pytest.raises(ValidationError) as exc:
        compare_scan(parse_rack_scan(fixture("fluidx.csv")), layout.box)
    assert "not of box M-B1" in exc.value.message_dict["box"][0]
    with pytest.raises(ValidationError) as exc:
        compare_scan(parse_rack_scan("SBB404,A1,X\n"))
    assert "SBB404" in exc.value.message_dict["file"][0]
    with pytest.raises(ValidationError) as exc:  # a 96 rack scanned against a 3 × 3 box
        compare_scan(parse_rack_scan("A1,X\nA4,Y\n"), layout.box)
    assert exc.value.message_dict["file"][0].startswith("Line 2: position A4 is outside box M-B1")


# --- storing from a scan ---------------------------------------------------------------------------------------


def _without_unknown() -> str:
    return fixture("fluidx.csv").decode().replace("SBV0099999", "NO TUBE")


def test_store_from_a_scan_moves_and_places_in_one_step(scanned_box, users, layout):
    result = apply_scan(parse_rack_scan(_without_unknown()), actor=users["technician"], reason="rack re-scanned")
    assert sorted(v.barcode for v in result.moved) == [code(2), code(3), code(7)]
    assert [v.barcode for v in result.placed] == [code(8)]
    where = {v.barcode: (v.box_id, v.row, v.col) for v in Vial.objects.filter(barcode__startswith="SBV00900")}
    assert where[code(3)] == (scanned_box.pk, 1, 2) and where[code(2)] == (scanned_box.pk, 1, 3)
    assert where[code(7)] == (scanned_box.pk, 1, 7) and where[code(8)] == (scanned_box.pk, 1, 9)
    assert where[code(4)] == (scanned_box.pk, 1, 4)  # missing: left where the database had it
    moves = VialMove.objects.filter(reason="rack re-scanned")
    assert sorted(moves.values_list("kind", flat=True)) == ["moved", "moved", "moved", "placed"]
    seven = moves.get(vial__barcode=code(7))
    assert (seven.from_box_id, seven.to_box_id, seven.to_row, seven.to_col) == (layout.box.pk, scanned_box.pk, 1, 7)
    after = compare_scan(parse_rack_scan(_without_unknown()))
    assert after.counts["misplaced"] == after.counts["unplaced"] == 0 and after.counts["missing"] == 1
    with pytest.raises(Conflict) as exc:
        apply_scan(parse_rack_scan(_without_unknown()), actor=users["technician"], reason="again")
    assert exc.value.code == "nothing_to_store"


@pytest.mark.parametrize("content,code_", [
    (fixture("fluidx.csv").decode(), "unknown_vials"),
    ("SBB0090001,A4,SBV0090005\n", "position_occupied"),
])
def test_store_from_a_scan_is_all_or_nothing(scanned_box, users, content, code_):
    before = list(Vial.objects.order_by("pk").values_list("box_id", "row", "col"))
    with pytest.raises(Conflict) as exc:
        apply_scan(parse_rack_scan(content), actor=users["technician"], reason="x")
    assert exc.value.code == code_
    assert list(Vial.objects.order_by("pk").values_list("box_id", "row", "col")) == before
    assert not VialMove.objects.exists()


def test_store_from_a_scan_keeps_quarantine_apart_and_needs_a_reason(scanned_box, users):
    unreleased = LotFactory(vial_count=1).vials.get()
    with pytest.raises(Conflict) as exc:
        apply_scan(parse_rack_scan(f"SBB0090001,H12,{unreleased.barcode}\n"), actor=users["technician"], reason="x")
    assert exc.value.code == "quarantine_segregation"
    with pytest.raises(ValidationError) as exc:
        apply_scan(parse_rack_scan(_without_unknown()), actor=users["technician"], reason=" ")
    assert "reason" in exc.value.message_dict
    Vial.objects.filter(barcode=code(8)).update(status="destroyed")
    with pytest.raises(Conflict) as exc:
        apply_scan(parse_rack_scan(_without_unknown()), actor=users["technician"], reason="x")
    assert exc.value.code == "vial_unavailable"


# --- API and page -------------------------------------------------------------------------------------------------


def _upload(name="scan.csv", content=None):
    return SimpleUploadedFile(name, content if content is not None else fixture("ziath_datapaq.csv"), "text/csv")


def test_api_compares_and_stores(scanned_box, users, api):
    client = api(users["technician"])
    response = client.post("/api/v1/storage/rack-scans/", {"file": _upload()}, format="multipart")
    assert response.status_code == 200, response.json()
    body = response.json()
    assert body["format"] == "ziath_datapaq" and body["box"]["id"] == scanned_box.pk and not body["consistent"]
    assert body["counts"]["misplaced"] == 3 and body["missing"][0]["barcode"] == code(4)
    assert len(body["cells"]) == 96 and body["cells"][7]["outcome"] == "unknown"
    response = client.post("/api/v1/storage/rack-scans/", {"file": _upload(content=fixture("bad_position.csv"))},
                           format="multipart")
    assert response.status_code == 400 and response.json()["file"][0].startswith("Line 5:")
    response = client.post("/api/v1/storage/rack-scans/store/", {"file": _upload(), "reason": "x"},
                           format="multipart")
    assert response.status_code == 409 and response.json()["code"] == "unknown_vials"
    assert response.json()["barcodes"] == ["SBV0099999"]
    response = client.post("/api/v1/storage/rack-scans/store/",
                           {"file": _upload(content=_without_unknown().encode()), "reason": "re-scan"},
                           format="multipart")
    assert response.status_code == 200, response.json()
    assert sorted(response.json()["moved"]) == [code(2), code(3), code(7)]
    assert response.json()["counts"]["misplaced"] == 0
    response = api(users["researcher"]).post("/api/v1/storage/rack-scans/", {"file": _upload()}, format="multipart")
    assert response.status_code == 403


def test_api_two_column_file_names_the_box(scanned_box, users, api):
    client = api(users["technician"])
    response = client.post("/api/v1/storage/rack-scans/", {"file": _upload(content=b"A1,SBV0090001\n")},
                           format="multipart")
    assert response.status_code == 400 and "box" in response.json()
    response = client.post("/api/v1/storage/rack-scans/",
                           {"file": _upload(content=b"A1,SBV0090001\n"), "box": scanned_box.pk}, format="multipart")
    assert response.status_code == 200 and response.json()["counts"]["match"] == 1


def test_page_checks_then_stores(scanned_box, users, client):
    client.force_login(users["technician"])
    assert client.get("/storage/rack-scan/").status_code == 200
    response = client.post("/storage/rack-scan/", {"file": _upload(content=fixture("fluidx.csv"))})
    assert response.status_code == 200
    html = response.content.decode()
    assert 'id="scan-grid"' in html and 'data-outcome="misplaced"' in html and 'data-count="missing">1<' in html
    assert 'id="store-from-scan"' in html
    response = client.post("/storage/rack-scan/", {"file": _upload(content=fixture("bad_position.csv"))})
    assert "Line 5:" in response.content.decode()
    response = client.post("/storage/rack-scan/store/", {"scan": _without_unknown(), "box": "", "reason": ""})
    assert response.status_code == 200 and "This field is required" in response.content.decode()
    response = client.post("/storage/rack-scan/store/", {"scan": fixture("fluidx.csv").decode(), "box": "",
                                                         "reason": "re-scan"})
    assert response.status_code == 200 and "SBV0099999" in response.content.decode()
    assert not VialMove.objects.exists()
    response = client.post("/storage/rack-scan/store/", {"scan": _without_unknown(), "box": "", "reason": "re-scan"})
    assert response.status_code == 302 and response.url.startswith(f"/storage/boxes/{scanned_box.pk}/")
    assert VialMove.objects.filter(reason="re-scan").count() == 4
