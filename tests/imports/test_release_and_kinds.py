"""Legacy lot states (never silently released), cell lines and cord blood units with HLA, CSV and XLSX."""

from __future__ import annotations

import pytest

from bank.errors import Forbidden
from bank.models import Signature
from cordblood.models import CordBloodUnit
from donors.models import HLAKey, HLATyping
from imports.choices import RunStatus
from imports.models import ExternalRef
from imports.services import start_import
from lots.models import CellLine, Lot
from qc.models import LotDecision
from tests.factories import PASSWORD, CollectionFactory
from tests.imports.conftest import build_file, vial_rows


def released_rows(**extra):
    return vial_rows("ABCi001-A", "MCB-2018-001", "RBOX1", 3, status="released",
                     **{"release_reference": "CERT-2018-17", "released_on": "2018-09-01", "frozen_on": "2018-06-01",
                        **extra})


@pytest.mark.django_db
def test_released_lots_need_qa_signature(place, users):
    run, report = start_import("inventory", build_file("inventory", released_rows()), actor=users["technician"],
                               source="old-lims")
    assert report["status"] == RunStatus.REJECTED
    assert {(e["row"], e["column"]) for e in report["errors"]} == {(2, "lot_status")}
    assert not Lot.objects.filter(lot_number="MCB-2018-001").exists()


@pytest.mark.django_db
def test_released_lot_without_its_reference_is_refused(place, users):
    rows = released_rows(release_reference="")
    run, report = start_import("inventory", build_file("inventory", rows), actor=users["technician"],
                               source="old-lims", signer_username="qa", signer_password=PASSWORD)
    assert (2, "release_reference") in {(e["row"], e["column"]) for e in report["errors"]}


@pytest.mark.django_db
def test_wrong_qa_password_signs_nothing(place, users):
    with pytest.raises(Forbidden):
        start_import("inventory", build_file("inventory", released_rows()), actor=users["technician"],
                     source="old-lims", signer_username="qa", signer_password="wrong")
    with pytest.raises(Forbidden):  # a technician is not QA
        start_import("inventory", build_file("inventory", released_rows()), actor=users["technician"],
                     source="old-lims", signer_username="technician", signer_password=PASSWORD)
    assert not Lot.objects.filter(lot_number="MCB-2018-001").exists()


@pytest.mark.django_db
def test_signed_import_brings_released_lots_with_a_qa_decision(place, users):
    run, report = start_import("inventory", build_file("inventory", released_rows(), "xlsx"),
                               actor=users["technician"], source="old-lims", signer_username="qa",
                               signer_password=PASSWORD)
    assert report["status"] == RunStatus.IMPORTED, report["errors"]
    lot = Lot.objects.get(lot_number="MCB-2018-001")
    assert lot.status == "released" and lot.status_changed_at.date().isoformat() == "2018-09-01"
    decision = LotDecision.objects.get(lot=lot)
    assert decision.decision == "release" and decision.decided_by == users["qa"]
    assert "CERT-2018-17" in decision.reason
    signature = Signature.objects.get(object_id=run.pk, signer=users["qa"])
    assert run.sha256 in signature.statement


@pytest.mark.django_db
@pytest.mark.parametrize("fmt", ["csv", "xlsx"])
def test_cell_lines_keep_their_names(users, fmt):
    collection = CollectionFactory(tissue="skin")
    rows = [
        {"external_id": "L1", "name": "XYZi042-A", "collection": collection.code, "cell_type": "iPSC",
         "grade": "research", "reprogramming_method": "sendai", "established_on": "2019-03-01"},
        {"external_id": "L2", "name": "XYZi042-B", "collection": collection.code, "cell_type": "iPSC",
         "grade": "research", "reprogramming_method": "sendai", "parent_line": "XYZi042-A"},
        {"external_id": "L3", "name": "OLD-MSC-7", "collection": collection.code, "cell_type": "UC-MSC",
         "grade": "clinical"},  # row 4: a UC-MSC line from skin
        {"external_id": "L4", "name": "XYZi043-A", "collection": "COL-NOPE", "cell_type": "iPSC",
         "grade": "research"},  # row 5: no collection, no reprogramming method
    ]
    run, report = start_import("cell_lines", build_file("cell_lines", rows, fmt), actor=users["technician"],
                               source="old-lims")
    assert {(e["row"], e["column"]) for e in report["errors"]} == {
        (4, "collection"), (5, "collection"), (5, "reprogramming_method")}
    assert not CellLine.objects.filter(name__startswith="XYZ").exists()
    run, report = start_import("cell_lines", build_file("cell_lines", rows[:2], fmt), actor=users["technician"],
                               source="old-lims")
    assert report["status"] == RunStatus.IMPORTED and report["created"] == {"cell_lines": 2}
    sub = CellLine.objects.get(name="XYZi042-B")
    assert (sub.registry_number, sub.subclone, sub.parent_line.name, sub.donor_id) == (
        42, "B", "XYZi042-A", collection.donor_id)
    again, report = start_import("cell_lines", build_file("cell_lines", rows[:2], fmt), actor=users["technician"],
                                 source="old-lims")
    assert report["skipped"] == 2 and CellLine.objects.filter(name__startswith="XYZ").count() == 2


def cord_rows(site: str) -> list[dict]:
    base = {"mother_birth_year": "1990", "infant_sex": "F", "born_at": "2019-05-14T08:30",
            "gestational_age_weeks": "39",
            "birth_weight_g": "3300", "delivery_type": "vaginal", "site": site, "collected_volume_ml": "95",
            "consent_form_version": "CB-2018", "consent_scopes": "clinical research", "acceptance": "accepted",
            "hla_a_1": "A*02:01", "hla_a_2": "A*24:02", "hla_b_1": "B*40:01", "hla_b_2": "B*46:01",
            "hla_c_1": "C*01:02", "hla_c_2": "C*07:02", "hla_drb1_1": "DRB1*09:01", "hla_drb1_2": "DRB1*15:01",
            "hla_dqb1_1": "DQB1*03:03", "hla_dqb1_2": "DQB1*06:02", "hla_method": "sbt"}
    return [
        {**base, "external_id": "CBU-1", "din": "W123419000001", "mother_id": "M-1"},
        {**base, "external_id": "CBU-2", "din": "W123419000002", "mother_id": "M-1", "birth_order": "2",
         "infant_sex": "M"},  # her twin
        {**base, "external_id": "CBU-3", "din": "W123419000003", "mother_id": "M-2", "hla_a_1": "",
         "hla_dpb1_1": "DPB1*04:01", "hla_dpb1_2": "DPB1*04:01"},
    ]


@pytest.mark.django_db
@pytest.mark.parametrize("fmt", ["csv", "xlsx"])
def test_cord_blood_units_with_hla(users, fmt):
    from cordblood.services import create_site

    site = create_site(actor=users["coordinator"], code="GZ-01", name="Guangzhou Maternity")
    rows = cord_rows(site.code)
    run, report = start_import("cord_blood", build_file("cord_blood", rows, fmt), actor=users["coordinator"],
                               source="old-cb")
    assert {(e["row"], e["column"]) for e in report["errors"]} == {(4, "hla_a_1")}, report["errors"]
    assert not CordBloodUnit.objects.exists()
    rows[2]["hla_a_1"] = "A*11:01"
    run, report = start_import("cord_blood", build_file("cord_blood", rows, fmt), actor=users["coordinator"],
                               source="old-cb")
    assert report["status"] == RunStatus.IMPORTED, report["errors"]
    assert report["created"] == {"cord_blood_units": 3, "hla_typings": 3, "mothers": 2}
    units = {u.din: u for u in CordBloodUnit.objects.select_related("donation__mother", "donation__infant")}
    assert units["W123419000001"].donation.mother_id == units["W123419000002"].donation.mother_id
    assert units["W123419000001"].acceptance == "accepted"
    typing = HLATyping.objects.get(donor=units["W123419000003"].donation.infant)
    assert (typing.a_1, typing.dpb1_1, typing.resolution) == ("A*11:01", "DPB1*04:01", "2-field")
    assert HLAKey.objects.filter(donor__in=[u.donation.infant_id for u in units.values()]).count() == 3
    assert ExternalRef.objects.filter(source="old-cb", kind="mother").count() == 2
    again, report = start_import("cord_blood", build_file("cord_blood", rows, fmt), actor=users["coordinator"],
                                 source="old-cb")
    assert report["skipped"] == 3 and CordBloodUnit.objects.count() == 3


@pytest.mark.django_db
def test_who_may_import_what(place, users):
    rows = vial_rows("ABCi001-A", "MCB-2020-090", "QBOX1", 1)
    with pytest.raises(Forbidden):
        start_import("inventory", build_file("inventory", rows), actor=users["coordinator"], source="x")
    with pytest.raises(Forbidden):
        start_import("cord_blood", build_file("cord_blood", []), actor=users["technician"], source="x")
    with pytest.raises(Forbidden):
        start_import("inventory", build_file("inventory", rows), actor=users["qa"], source="x")


@pytest.mark.django_db
def test_xlsx_date_cells_survive_both_passes(place, users):
    """A spreadsheet's real date and date-time cells (not text) read the same in pass 1 and in pass 2 (which reads
    the rows pass 1 copied to CSV)."""
    import datetime

    from cordblood.services import create_site

    rows = vial_rows("ABCi001-A", "MCB-2015-001", "QBOX1", 2, frozen_on=datetime.date(2015, 3, 2))
    run, report = start_import("inventory", build_file("inventory", rows, "xlsx"), actor=users["technician"],
                               source="old-lims")
    assert report["status"] == RunStatus.IMPORTED, report["errors"]
    assert Lot.objects.get(lot_number="MCB-2015-001").frozen_on == datetime.date(2015, 3, 2)
    site = create_site(actor=users["coordinator"], code="GZ-02", name="Guangzhou Maternity")
    cord = cord_rows(site.code)[:1]
    cord[0].update(born_at=datetime.datetime(2019, 5, 14, 8, 30), hla_typed_on=datetime.datetime(2019, 6, 1),
                   consent_signed_on=datetime.date(2019, 5, 14))
    run, report = start_import("cord_blood", build_file("cord_blood", cord, "xlsx"), actor=users["coordinator"],
                               source="old-cb")
    assert report["status"] == RunStatus.IMPORTED, report["errors"]
    unit = CordBloodUnit.objects.select_related("donation").get(din="W123419000001")
    from django.utils import timezone

    assert timezone.localtime(unit.donation.born_at).hour == 8 and HLATyping.objects.get(
        donor=unit.donation.infant_id).typed_on == datetime.date(2019, 6, 1)
