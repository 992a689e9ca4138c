"""Cell lines: hPSCreg names for iPSC/ESC (never reused, even under concurrency), subclones, bank names."""

from __future__ import annotations

import threading

import pytest
from django.core.exceptions import ValidationError
from django.db import connection
from django.test import override_settings

from bank.errors import Conflict
from bank.models import Sequence
from lots import naming, services
from lots.models import CellLine
from tests.factories import CellLineFactory, CollectionFactory, UserFactory

pytestmark = pytest.mark.django_db


def test_ipsc_and_esc_lines_get_consecutive_hpscreg_names(make_line, tech):
    first = make_line(cell_type="iPSC", grade="clinical")
    second = make_line(cell_type="iPSC")
    esc = make_line(cell_type="ESC")
    assert (first.name, second.name, esc.name) == ("SCBi001-A", "SCBi002-A", "SCBe001-A")
    assert (first.registry_number, first.subclone) == (1, "A")
    assert first.donor == first.collection.donor  # denormalised from the collection
    assert first.created_by == tech and first.history.first().history_user == tech
    for line in (first, second, esc):
        naming.validate_hpscreg_name(line.name)


@override_settings(INSTITUTE_CODE="CIRA")
def test_institute_code_comes_from_settings(make_line):
    assert make_line(cell_type="iPSC").name == "CIRAi001-A"


def test_subclones_take_the_next_letter_of_their_parent(make_line, tech):
    parent = make_line(cell_type="iPSC")
    b = services.create_cell_line(parent_line=parent, cell_type="iPSC", grade="research",
                                  reprogramming_method="sendai", actor=tech)
    c = services.create_cell_line(parent_line=b, cell_type="iPSC", grade="research", reprogramming_method="sendai",
                                  actor=tech)
    assert (b.name, c.name) == ("SCBi001-B", "SCBi001-C")
    assert b.parent_line == parent and b.collection == parent.collection
    assert make_line(cell_type="iPSC").name == "SCBi002-A"  # subclones do not consume numbers


def test_subclone_must_match_its_parent(make_line, tech):
    parent = make_line(cell_type="iPSC")
    with pytest.raises(ValidationError) as bad:
        services.create_cell_line(parent_line=parent, cell_type="ESC", grade="research", actor=tech)
    assert "cell_type" in bad.value.message_dict
    msc = make_line(cell_type="UC-MSC")
    with pytest.raises(ValidationError) as bad:
        services.create_cell_line(parent_line=msc, cell_type="UC-MSC", grade="research", actor=tech)
    assert "parent_line" in bad.value.message_dict


def test_other_cell_types_get_bank_names(make_line):
    assert make_line(cell_type="UC-MSC").name == "SCB-UCMSC-001"
    assert make_line(cell_type="UC-MSC").name == "SCB-UCMSC-002"
    cord = make_line(cell_type="CB-HSC")
    assert cord.name == "SCB-CBHSC-001" and cord.registry_number is None and cord.subclone == ""


def test_names_skip_numbers_already_taken_by_a_registered_line(make_line, collection):
    CellLineFactory(name="SCBi001-A", registry_number=1, collection=collection, donor=collection.donor)
    assert make_line(collection).name == "SCBi002-A"


def test_names_are_never_reused(make_line):
    first = make_line(cell_type="iPSC")
    assert Sequence.objects.get(key="name:SCBi").last_value == 1
    second = make_line(cell_type="iPSC")
    assert first.name != second.name


@pytest.mark.parametrize("cell_type,grade,method,field", [
    ("iPSCX", "research", "", "cell_type"),
    ("", "research", "", "cell_type"),
    ("iPSC", "premium", "sendai", "grade"),
    ("iPSC", "research", "", "reprogramming_method"),
    ("UC-MSC", "research", "sendai", "reprogramming_method"),
    ("iPSC", "research", "magic", "reprogramming_method"),
])
def test_bad_input_is_refused_with_a_clear_field_error(cell_type, grade, method, field, collection, tech):
    with pytest.raises(ValidationError) as bad:
        services.create_cell_line(collection=collection, cell_type=cell_type, grade=grade,
                                  reprogramming_method=method, actor=tech)
    assert field in bad.value.message_dict
    assert CellLine.objects.count() == 0 and not Sequence.objects.filter(key__startswith="name:").exists()


def test_unknown_cell_type_lists_the_valid_ones(collection, tech):
    with pytest.raises(ValidationError) as bad:
        services.create_cell_line(collection=collection, cell_type="fibroblast", grade="research", actor=tech)
    message = bad.value.message_dict["cell_type"][0]
    assert "fibroblast" in message and "iPSC" in message and "UC-MSC" in message


def test_cell_type_must_fit_the_tissue(tech):
    skin = CollectionFactory(tissue="skin")
    with pytest.raises(ValidationError) as bad:
        services.create_cell_line(collection=skin, cell_type="CB-HSC", grade="clinical", actor=tech)
    assert "cord_blood" in bad.value.message_dict["collection"][0]


def test_no_line_from_a_donor_who_withdrew_consent(collection, tech):
    from django.utils import timezone

    collection.donor.consent_withdrawn_at = timezone.now()
    collection.donor.save(update_fields=["consent_withdrawn_at"])
    with pytest.raises(Conflict) as refused:
        services.create_cell_line(collection=collection, cell_type="iPSC", grade="research",
                                  reprogramming_method="sendai", actor=tech)
    assert refused.value.code == "consent_withdrawn"
    assert not CellLine.objects.exists()


@pytest.mark.parametrize("name,valid", [
    ("SCBi001-A", True), ("UKBe012-B", True), ("ABCDEFi999-AA", True),
    ("SCBx001-A", False), ("scbi001-a", False), ("SCBi01-A", False), ("SCBi0001-A", False), ("SCBi001", False),
    ("S1i001-A", False), ("SCB-UCMSC-001", False),
])
def test_hpscreg_pattern(name, valid):
    if valid:
        naming.validate_hpscreg_name(name)
    else:
        with pytest.raises(ValidationError):
            naming.validate_hpscreg_name(name)


def test_subclone_letters_run_from_a_to_zz():
    letters = list(naming.subclone_letters())
    assert letters[:3] == ["A", "B", "C"] and letters[25:28] == ["Z", "AA", "AB"] and letters[-1] == "ZZ"
    assert naming.next_subclone({"A", "B", "D"}) == "C"


@override_settings(INSTITUTE_CODE="scb-1")
def test_bad_institute_code_is_refused(collection, tech):
    with pytest.raises(ValidationError):
        services.create_cell_line(collection=collection, cell_type="iPSC", grade="research",
                                  reprogramming_method="sendai", actor=tech)
    from lots.checks import check_naming_settings

    assert [e.id for e in check_naming_settings()] == ["lots.E001"]


@pytest.mark.django_db(transaction=True)
def test_concurrent_registrations_never_share_a_name():
    """Four technicians register iPSC lines at the same moment: four different names, no error."""
    users = [UserFactory(role="technician") for _ in range(4)]
    collections = [CollectionFactory() for _ in range(4)]
    barrier = threading.Barrier(4)
    names, errors = [], []

    def register(user, collection):
        try:
            barrier.wait(timeout=10)
            line = services.create_cell_line(collection=collection, cell_type="iPSC", grade="research",
                                             reprogramming_method="sendai", actor=user)
            names.append(line.name)
        except Exception as exc:  # collected and asserted below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=register, args=pair) for pair in zip(users, collections, strict=True)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert errors == []
    assert sorted(names) == ["SCBi001-A", "SCBi002-A", "SCBi003-A", "SCBi004-A"]
