"""Lots and vials with their positions: CSV and XLSX, the whole file or nothing, dry run, idempotent re-runs."""

from __future__ import annotations

import pytest

from imports.choices import RunStatus
from imports.models import ExternalRef, ImportRun
from imports.services import start_import
from lots.models import Lot, Vial
from storage.models import VialMove
from tests.imports.conftest import build_file, vial_rows


@pytest.mark.django_db
@pytest.mark.parametrize("fmt", ["csv", "xlsx"])
def test_lots_and_vials_imported_with_positions(place, users, fmt):
    rows = (vial_rows("ABCi001-A", "MCB-2020-001", "QBOX1", 4)
            + vial_rows("ABCi001-A", "WCB-2020-001", "QBOX1", 3, start=5, tier="WCB", parent="MCB-2020-001",
                        **{"passage": "12"}))
    run, report = start_import("inventory", build_file("inventory", rows, fmt), actor=users["technician"],
                               source="old-lims")
    assert report["status"] == RunStatus.IMPORTED, report["errors"]
    assert report["created"] == {"lots": 2, "vials": 7}
    mcb = Lot.objects.get(lot_number="MCB-2020-001")
    wcb = Lot.objects.get(lot_number="WCB-2020-001")
    assert (mcb.status, wcb.status, wcb.parent_lot_id, mcb.vial_count, wcb.vial_count) == (
        "quarantine", "quarantine", mcb.pk, 4, 3)
    vial = Vial.objects.get(barcode="LEG-WCB-2020-001-0005")
    assert (vial.box_id, vial.row, vial.col, vial.number) == (place["q_box"].pk, 1, 5, 1)
    assert VialMove.objects.filter(vial__lot__in=[mcb, wcb], kind="placed").count() == 7
    history = vial.history.first()
    assert history.history_user == users["technician"] and "migration import" in history.history_change_reason
    assert ExternalRef.objects.filter(source="old-lims", kind="vial").count() == 7
    place["q_box"].refresh_from_db()
    assert place["q_box"].occupied == 7  # the box's kept count follows (database trigger)


@pytest.mark.django_db
@pytest.mark.parametrize("fmt", ["csv", "xlsx"])
def test_bad_rows_reject_the_whole_file_naming_row_and_column(place, users, fmt):
    good = vial_rows("ABCi001-A", "MCB-2020-002", "QBOX1", 3)
    bad = [
        {**good[0], "vial_barcode": "LEG-X-1", "box": "NOBOX"},  # row 5: unknown box
        {**good[0], "vial_barcode": "LEG-X-2", "position": "K1"},  # row 6: outside the 9 x 9 grid
        {**good[0], "vial_barcode": good[1]["vial_barcode"], "position": "C1"},  # row 7: barcode repeated
        {**good[0], "vial_barcode": "LEG-X-3", "position": good[2]["position"]},  # row 8: position taken in file
        {**good[0], "lot_number": "MCB-2020-003", "vial_barcode": "LEG-X-4", "frozen_on": "14/05/2020",
         "position": "D1"},  # row 9: date
        {**good[0], "lot_number": "MCB-2020-004", "vial_barcode": "LEG-X-5", "box": "RBOX1",
         "position": "A1"},  # row 10: a quarantine lot in the released unit
    ]
    lots, vials = Lot.objects.count(), Vial.objects.count()
    run, report = start_import("inventory", build_file("inventory", good + bad, fmt), actor=users["technician"],
                               source="old-lims")
    assert report["status"] == RunStatus.REJECTED
    found = {(e["row"], e["column"]) for e in report["errors"]}
    assert {(5, "box"), (6, "position"), (7, "vial_barcode"), (8, "position"), (9, "frozen_on"),
            (10, "box")} <= found, report["errors"]
    assert report["bad_rows"] == 6
    messages = {(e["row"], e["column"]): e["message"] for e in report["errors"]}
    assert "NOBOX" in messages[(5, "box")] and "outside" in messages[(6, "position")]
    assert "quarantine" in messages[(10, "box")]
    assert (Lot.objects.count(), Vial.objects.count(), ExternalRef.objects.count()) == (lots, vials, 0)
    run.refresh_from_db()
    assert run.status == RunStatus.REJECTED and run.errors_file
    content = run.errors_file.open("rb").read().decode()
    assert content.startswith("row,column,message") and "NOBOX" in content


@pytest.mark.django_db
def test_dry_run_writes_nothing_and_says_what_would_be_created(place, users):
    rows = vial_rows("ABCi001-A", "MCB-2020-010", "QBOX1", 5)
    run, report = start_import("inventory", build_file("inventory", rows), actor=users["technician"],
                               source="old-lims", dry_run=True)
    assert report["status"] == RunStatus.VALIDATED and report["would_create"]
    assert report["created"] == {"lots": 1, "vials": 5}
    assert not Lot.objects.filter(lot_number="MCB-2020-010").exists()
    assert not Vial.objects.filter(barcode__startswith="LEG-MCB-2020-010").exists()
    assert ExternalRef.objects.count() == 0


@pytest.mark.django_db
def test_re_running_the_same_file_is_idempotent(place, users):
    rows = vial_rows("ABCi001-A", "MCB-2020-020", "QBOX1", 5)
    start_import("inventory", build_file("inventory", rows), actor=users["technician"], source="old-lims")
    vials = Vial.objects.count()
    run, report = start_import("inventory", build_file("inventory", rows), actor=users["technician"],
                               source="old-lims")
    assert report["status"] == RunStatus.IMPORTED
    assert (report["skipped"], report["created"]) == (5, {})
    assert Vial.objects.count() == vials
    assert ImportRun.objects.filter(status=RunStatus.IMPORTED).count() == 2


@pytest.mark.django_db
def test_positions_checked_against_the_bank(place, users):
    from tests.factories import LotFactory, VialFactory

    lot = LotFactory(cell_line=place["line"], vials=False)
    VialFactory(lot=lot, number=1, barcode="TAKEN-1", box=place["q_box"], row=1, col=1)
    rows = vial_rows("ABCi001-A", "MCB-2020-030", "QBOX1", 2)
    rows[1]["vial_barcode"] = "TAKEN-1"
    rows.append({**rows[0], "vial_barcode": "LEG-P-3", "position": "", "row": "3", "col": "12"})
    rows.append({**rows[0], "vial_barcode": "LEG-P-4", "position": "B2", "vial_status": "shipped"})
    rows.append({**rows[0], "vial_barcode": "LEG-P-5", "box": "Quarantine tank / QR1 / QB1", "position": "B3"})
    run, report = start_import("inventory", build_file("inventory", rows), actor=users["technician"],
                               source="old-lims")
    found = {(e["row"], e["column"]) for e in report["errors"]}
    assert found == {(2, "position"), (3, "vial_barcode"), (4, "col"), (5, "box")}, report["errors"]


@pytest.mark.django_db
def test_wrong_template_is_refused_with_a_clear_message(place, users):
    from django.core.exceptions import ValidationError

    upload = build_file("inventory", [], columns=["lot_number", "colour"])
    with pytest.raises(ValidationError) as caught:
        start_import("inventory", upload, actor=users["technician"], source="old-lims")
    text = " ".join(caught.value.message_dict["file"])
    assert "colour" in text and "cell_line" in text and "missing" in text


@pytest.mark.django_db
def test_another_kinds_file_is_named(place, users):
    from django.core.exceptions import ValidationError

    with pytest.raises(ValidationError) as caught:
        start_import("inventory", build_file("cell_lines", []), actor=users["technician"], source="old-lims")
    assert "Cell lines" in caught.value.message_dict["file"][0]
