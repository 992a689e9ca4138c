"""Verification (confirmatory) typing of a unit's sample (issue 12): kept apart from the registration typing,
never overwritten, compared at the lower resolution of the two; a discordance blocks the unit's release."""

from __future__ import annotations

import datetime

import pytest
from django.core.exceptions import ValidationError
from django.urls import reverse
from django.utils import timezone

from bank.errors import Conflict
from cordblood.models import VerificationTyping
from cordblood.services import typing
from donors.models import HLATyping
from tests import cordblood_factories as cb
from tests.qc.factories import enter_panel, store_vials

pytestmark = pytest.mark.django_db

TODAY = timezone.localdate()
# The registration typing of the infant (tests.factories.HLATypingFactory), as alleles per locus.
REGISTERED = {"A": ["A*24:02", "A*24:02"], "B": ["B*52:01", "B*52:01"], "C": ["C*12:02", "C*12:02"],
              "DRB1": ["DRB1*15:02", "DRB1*15:02"], "DQB1": ["DQB1*06:01", "DQB1*06:01"]}


@pytest.fixture(autouse=True)
def _receivers():
    typing.register()  # what CordbloodConfig.ready() does


def sample(unit, kind="segment"):
    return unit.lot.vials.filter(kind=kind).order_by("number").first()


def record(unit, alleles, *, kind="segment", actor):
    return typing.record_verification(unit, alleles, sample=sample(unit, kind), laboratory="HLA lab",
                                      typed_on=TODAY, actor=actor)


def test_a_matching_typing_of_a_segment_is_concordant(users):
    unit = cb.unit()
    result = record(unit, REGISTERED, actor=users["technician"])
    assert result.concordant and result.discordant_loci == []
    assert result.sample.kind == "segment" and result.unit == unit


def test_lower_resolution_agrees_and_a_different_allele_does_not(users):
    unit = cb.unit()
    low = record(unit, {"A": ["A*24", "A*24"], "DRB1": ["DRB1*15", "DRB1*15"]}, actor=users["technician"])
    assert low.concordant
    other = record(unit, {**REGISTERED, "A": ["A*24:03", "A*24:02"]}, kind="reference_cells",
                   actor=users["technician"])
    assert not other.concordant and other.discordant_loci == ["A"]


def test_alleles_compare_at_the_lower_resolution():
    assert typing.alleles_match("A*24", "A*24:02")
    assert typing.alleles_match("A*24:02", "HLA-A*24:02")
    assert not typing.alleles_match("A*24:02", "A*24:03")
    assert not typing.alleles_match("A*24", "A*02")


def test_loci_the_registration_lacks_are_not_compared(users):
    unit = cb.unit()
    result = record(unit, {**REGISTERED, "DPB1": ["DPB1*04:01", "DPB1*02:01"]}, actor=users["technician"])
    assert result.concordant


def test_the_bag_is_not_a_sample(users):
    unit = cb.unit()
    with pytest.raises(Conflict) as refused:
        record(unit, REGISTERED, kind="bag", actor=users["technician"])
    assert refused.value.code == "bag_not_a_sample"
    assert not VerificationTyping.objects.exists()


def test_a_plasma_vial_or_another_units_segment_is_refused(users):
    unit, other = cb.unit(), cb.unit()
    with pytest.raises(ValidationError) as invalid:
        record(unit, REGISTERED, kind="reference_plasma", actor=users["technician"])
    assert "sample" in invalid.value.message_dict
    with pytest.raises(ValidationError) as invalid:
        typing.record_verification(unit, REGISTERED, sample=sample(other), typed_on=TODAY, actor=users["technician"])
    assert "sample" in invalid.value.message_dict
    assert not VerificationTyping.objects.exists()


@pytest.mark.parametrize("alleles,field", [({}, "alleles"), ({"A": ["A*2402", "A*24:02"]}, "A"),
                                           ({"X": ["X*01", "X*01"]}, "alleles"), ({"B": ["B*07:02"] * 3}, "B")])
def test_malformed_alleles_are_refused(users, alleles, field):
    unit = cb.unit()
    with pytest.raises(ValidationError) as invalid:
        record(unit, alleles, actor=users["technician"])
    assert field in invalid.value.message_dict


def test_the_typed_sample_is_used_up_and_may_be_given_by_barcode(users):
    unit = cb.unit()
    segment = sample(unit)
    result = typing.record_verification(unit, {"A": "A*24:02"}, sample=segment.barcode, typed_on=TODAY,
                                        actor=users["technician"])
    segment.refresh_from_db()
    assert result.sample == segment and segment.status == "used" and result.alleles == {"A": ["A*24:02", "A*24:02"]}


def test_typings_are_never_overwritten(users):
    unit = cb.unit()
    registration = HLATyping.objects.get(donor=unit.donation.infant)
    first = record(unit, REGISTERED, actor=users["technician"])
    second = record(unit, {**REGISTERED, "B": ["B*07:02", "B*52:01"]}, kind="reference_cells",
                    actor=users["technician"])
    assert VerificationTyping.objects.filter(unit=unit).count() == 2
    first.refresh_from_db()
    assert first.concordant and not second.concordant
    registration_after = HLATyping.objects.get(donor=unit.donation.infant)
    assert registration_after.alleles() == registration.alleles()


def test_a_discordant_confirmatory_typing_blocks_release(users, password, api):
    """Must show (issue 12): QA's release of the unit's lot is refused with 409 hla_discordant."""
    unit = cb.unit(status="quarantine")
    lot = unit.lot
    store_vials(lot)
    enter_panel(lot, users["technician"], tested_on=TODAY - datetime.timedelta(days=1))
    record(unit, {**REGISTERED, "DRB1": ["DRB1*04:05", "DRB1*15:02"]}, actor=users["technician"])
    response = api(users["qa"]).post(f"/api/v1/lots/{lot.pk}/release/", {"password": password, "meaning": "release"},
                                     format="json")
    assert response.status_code == 409, response.json()
    assert response.json()["code"] == "hla_discordant"
    assert response.json()["loci"] == ["DRB1"]
    lot.refresh_from_db()
    assert lot.status == "quarantine"
    # A concordant typing of another sample (the discordance investigated) lets QA release the unit.
    record(unit, REGISTERED, kind="reference_cells", actor=users["technician"])
    response = api(users["qa"]).post(f"/api/v1/lots/{lot.pk}/release/", {"password": password, "meaning": "release"},
                                     format="json")
    assert response.status_code == 200, response.json()


def test_the_review_page_and_the_manifest_show_the_discordance(users, client):
    from qc.queries import lot_manifest, release_readiness

    unit = cb.unit(status="quarantine")
    record(unit, {**REGISTERED, "A": ["A*02:01", "A*24:02"]}, actor=users["technician"])
    readiness = release_readiness(unit.lot)
    assert [b.code for b in readiness.blockers()][-1] == "hla_discordant"
    manifest = lot_manifest(readiness, [])
    assert manifest["other_blockers"][0]["code"] == "hla_discordant"
    client.force_login(users["qa"])
    page = client.get(reverse("qc:review", args=[unit.lot.pk]))
    assert page.status_code == 200
    assert "disagrees with the registration typing" in page.content.decode()
