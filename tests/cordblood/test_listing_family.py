import datetime

import pytest
from django.utils import timezone

from bank.errors import Conflict
from cordblood import queries, services
from cordblood.models import CordBloodUnit, FamilyContract
from cordblood.tasks import end_temporary_unavailability
from lots.services import change_lot_status
from tests import cordblood_factories as cb
from tests.cordblood import helpers as h
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db


def test_a_released_public_unit_is_listed_by_qa_and_a_quarantined_one_is_not():
    unit = h.frozen_unit()
    with pytest.raises(Conflict) as exc:
        services.set_listing(unit, "available", actor=h.qa())
    assert exc.value.code == "unit_not_released"
    change_lot_status(unit.lot, "released", actor=h.qa(), reason="test release")
    unit = services.set_listing(unit, "available", actor=h.qa())
    assert unit.listing_status == "available"
    assert unit in queries.filter_units(CordBloodUnit.objects.all(), {"listing_status": "available"})


def test_temporarily_unavailable_needs_reason_and_end_and_comes_back_after_it():
    unit = cb.unit()
    with pytest.raises(Conflict) as exc:
        services.set_listing(unit, "temporarily_unavailable", actor=h.qa())
    assert exc.value.code == "listing_reason_required"
    until = timezone.localdate() + datetime.timedelta(days=3)
    unit = services.set_listing(unit, "temporarily_unavailable", reason="re-testing", until=until, actor=h.qa())
    assert (unit.listing_status, unit.listing_reason, unit.listing_until) == ("temporarily_unavailable",
                                                                              "re-testing", until)
    assert end_temporary_unavailability(today=until.isoformat()) == 0
    assert end_temporary_unavailability(today=(until + datetime.timedelta(days=1)).isoformat()) == 1
    unit.refresh_from_db()
    assert unit.listing_status == "available" and unit.listing_until is None and unit.listing_reason == ""


def test_reserved_and_distributed_as_the_transplant_app_sets_them():
    from cordblood.services.listing import set_listing

    unit = cb.unit()
    assert set_listing(unit, "reserved", reason="patient P-1", actor=h.qa()).listing_status == "reserved"
    assert set_listing(unit, "distributed", actor=h.qa()).listing_status == "distributed"


def test_family_unit_is_invisible_to_public_search():
    public = cb.unit()
    family = cb.unit(ownership="family")
    clinician = UserFactory(username="cb-clinician", role="clinician")
    assert list(queries.units_visible_to(clinician)) == [public]
    assert set(queries.units_visible_to(h.qa())) >= {public, family}
    assert family not in queries.public_search_units()
    with pytest.raises(Conflict) as exc:
        services.set_listing(family, "available", actor=h.qa())
    assert exc.value.code == "family_unit_not_listed"


def test_family_contract_payments_release_request_and_donation_to_public():
    unit = h.frozen_unit(ownership="family")
    today = timezone.localdate()
    contract = services.create_contract(unit, actor=h.coordinator(), number="fs-2026-001", signed_on=today,
                                        paid_until=today + datetime.timedelta(days=365), initial_fee="5000",
                                        annual_fee="600")
    assert contract.owner == unit.donation.mother and contract.number == "FS-2026-001"
    with pytest.raises(Conflict) as exc:
        services.create_contract(unit, actor=h.coordinator(), number="FS-2026-002", signed_on=today,
                                 paid_until=today)
    assert exc.value.code == "contract_exists"
    services.record_payment(contract, actor=h.coordinator(), paid_on=today, amount="600",
                            covers_until=today + datetime.timedelta(days=730))
    contract.refresh_from_db()
    assert contract.paid_until == today + datetime.timedelta(days=730)
    assert not services.owner_requested_release(unit)
    services.request_release(contract, actor=h.coordinator(), note="for her son's transplant at Centre X")
    assert services.owner_requested_release(unit)
    contract = services.donate_to_public(contract, actor=h.coordinator(), reason="owner's donation form 2026-12-01")
    unit.refresh_from_db()
    assert contract.status == "donated" and unit.ownership == "public" and unit.listing_status == "not_listed"
    last = unit.history.first()
    assert last.ownership == "public" and last.history_change_reason == "owner's donation form 2026-12-01"
    with pytest.raises(Conflict) as exc:
        services.request_release(contract, actor=h.coordinator(), note="again")
    assert exc.value.code == "contract_not_active"


def test_a_public_unit_has_no_contract():
    unit = cb.unit()
    with pytest.raises(Conflict) as exc:
        services.create_contract(unit, actor=h.coordinator(), number="FS-1", signed_on=timezone.localdate(),
                                 paid_until=timezone.localdate())
    assert exc.value.code == "not_family_unit"


def test_distributed_and_destroyed_are_final():
    unit = cb.unit(listing_status="distributed")
    for status in ("available", "reserved", "not_listed"):
        with pytest.raises(Conflict) as exc:
            services.set_listing(unit, status, actor=h.qa())
        assert exc.value.code == "invalid_transition"
    destroyed = cb.unit(listing_status="destroyed")
    with pytest.raises(Conflict) as exc:
        services.set_listing(destroyed, "available", actor=h.qa())
    assert exc.value.code == "invalid_transition"
    assert CordBloodUnit.objects.get(pk=destroyed.pk).listing_status == "destroyed"


def test_qa_sets_by_hand_only_what_is_not_the_transplant_apps():
    unit = cb.unit()
    for status in ("reserved", "distributed"):
        with pytest.raises(Conflict) as exc:
            services.set_listing_by_qa(unit, status, actor=h.qa())
        assert exc.value.code == "invalid_transition"
    reserved = cb.unit(listing_status="reserved")
    with pytest.raises(Conflict) as exc:
        services.set_listing_by_qa(reserved, "available", actor=h.qa())
    assert exc.value.code == "invalid_transition"
    assert services.set_listing_by_qa(unit, "destroyed", reason="bag crack", actor=h.qa()).listing_status == "destroyed"


def test_a_discarded_family_unit_gets_no_contract():
    unit = h.frozen_unit(ownership="family")
    CordBloodUnit.objects.filter(pk=unit.pk).update(acceptance="discarded", acceptance_reason="clotted")
    today = timezone.localdate()
    with pytest.raises(Conflict) as exc:
        services.create_contract(unit, actor=h.coordinator(), number="FS-2026-009", signed_on=today,
                                 paid_until=today)
    assert exc.value.code == "invalid_transition"
    assert not FamilyContract.objects.filter(unit=unit).exists()


def test_a_recalled_units_listing_ends_and_a_flagged_lot_cannot_be_listed():
    from distribution.models import Recall
    from distribution.services import recall_lot
    from lots.models import Lot

    unit = cb.unit(listing_status="available")
    qa = h.qa()
    qa.set_password("correct-horse-battery")
    qa.save()
    recall = recall_lot(unit.lot, actor=qa, password="correct-horse-battery", reason="positive sterility on thaw")
    unit.refresh_from_db()
    assert unit.listing_status == "not_listed" and f"recall {recall.pk}" in unit.listing_reason
    assert Recall.objects.filter(lot=unit.lot).exists()
    flagged = cb.unit(listing_status="not_listed")
    Lot.objects.filter(pk=flagged.lot_id).update(consent_withdrawn_flagged_at=timezone.now())
    with pytest.raises(Conflict) as exc:
        services.set_listing(flagged, "available", actor=qa)
    assert exc.value.code == "unit_not_released"
