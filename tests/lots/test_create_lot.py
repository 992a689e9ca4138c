"""Freezing a lot: lot number, barcodes, vials with history, the WCB rules, all or nothing."""

from __future__ import annotations

import datetime
import threading
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError
from django.db import connection
from django.test import override_settings
from django.utils import timezone

from bank.errors import Conflict
from bank.models import Sequence
from lots import services
from lots.models import Lot, Vial
from tests.factories import UserFactory, eligible_collection
from tests.lots.conftest import lot_kwargs

pytestmark = pytest.mark.django_db


def snapshot() -> dict:
    """Everything a lot creation writes: nothing of it may change when the creation is refused."""
    return {
        "lots": Lot.objects.count(),
        "vials": Vial.objects.count(),
        "lot_history": Lot.history.count(),
        "vial_history": Vial.history.count(),
        "sequences": list(Sequence.objects.order_by("key").values_list("key", "last_value")),
    }


def test_mcb_lot_with_its_vials_in_quarantine(line, tech):
    lot = services.create_lot(cell_line=line, actor=tech, reason="freeze", **lot_kwargs(vial_count=20))
    year = lot.frozen_on.year
    assert lot.lot_number == f"MCB-{year}-0001"
    assert lot.status == "quarantine" and lot.operator == tech
    assert lot.barcode.startswith("SBL")
    vials = list(lot.vials.order_by("number"))
    assert [v.number for v in vials] == list(range(1, 21))
    assert len({v.barcode for v in vials}) == 20 and all(v.barcode.startswith("SBV") for v in vials)
    assert all(v.status == "available" and v.box_id is None for v in vials)
    # one history row per vial, with the actor and reason; and the lot's creation
    history = Vial.history.filter(lot_id=lot.pk)
    assert history.count() == 20 and {h.history_user_id for h in history} == {tech.pk}
    assert {h.history_change_reason for h in history} == {"freeze"}
    assert lot.history.get().history_user == tech
    second = services.create_lot(cell_line=line, actor=tech, **lot_kwargs())
    assert second.lot_number == f"MCB-{year}-0002"
    assert not set(second.vials.values_list("barcode", flat=True)) & {v.barcode for v in vials}


@override_settings(LOT_NUMBER_PATTERN="{line}-{tier}{seq:03d}")
def test_lot_number_follows_the_configured_pattern(line, tech):
    first = services.create_lot(cell_line=line, actor=tech, **lot_kwargs())
    second = services.create_lot(cell_line=line, actor=tech, **lot_kwargs())
    assert (first.lot_number, second.lot_number) == (f"{line.name}-MCB001", f"{line.name}-MCB002")


def test_lot_number_pattern_check():
    from lots.naming import check_lot_number_pattern

    assert check_lot_number_pattern("{tier}-{year}-{seq:04d}") == []
    assert check_lot_number_pattern("{tier}-{year}")  # no {seq}: numbers would repeat
    assert check_lot_number_pattern("{tier}-{donor}-{seq}")  # unknown field
    assert check_lot_number_pattern("{tier")  # malformed


def test_wcb_from_a_released_mcb_of_the_same_line(line, released_mcb, tech):
    wcb = services.create_lot(cell_line=line, actor=tech, **lot_kwargs(tier="WCB", parent_lot=released_mcb,
                                                                       passage=15, vial_count=3))
    assert wcb.parent_lot == released_mcb and wcb.lot_number.startswith("WCB-")
    from lots.queries import lineage_numbers

    assert lineage_numbers(wcb) == [released_mcb.lot_number]
    assert lineage_numbers(released_mcb) == []


@pytest.mark.parametrize("status", ["quarantine", "rejected", "on_hold", "recalled"])
def test_wcb_needs_a_released_parent(line, make_lot, tech, users, status):
    mcb = make_lot(line)
    path = {"quarantine": [], "rejected": ["rejected"], "on_hold": ["released", "on_hold"],
            "recalled": ["released", "recalled"]}[status]
    for step in path:
        services.change_lot_status(mcb, step, actor=users["qa"])
    before = snapshot()
    with pytest.raises(Conflict) as refused:
        services.create_lot(cell_line=line, actor=tech, **lot_kwargs(tier="WCB", parent_lot=mcb, passage=14))
    assert refused.value.code == "parent_not_released"
    assert refused.value.extra["parent_status"] == status
    assert snapshot() == before


def test_wcb_whose_parent_is_another_line_is_refused(line, make_line, make_lot, tech, users):
    other = make_line(cell_type="iPSC")
    foreign = services.change_lot_status(make_lot(other), "released", actor=users["qa"])
    before = snapshot()
    with pytest.raises(ValidationError) as bad:
        services.create_lot(cell_line=line, actor=tech, **lot_kwargs(tier="WCB", parent_lot=foreign, passage=14))
    message = bad.value.message_dict["parent_lot"][0]
    assert foreign.lot_number in message and other.name in message and line.name in message
    assert snapshot() == before


def test_wcb_passage_lower_than_its_parent_is_refused(line, released_mcb, tech):
    before = snapshot()
    with pytest.raises(ValidationError) as bad:
        services.create_lot(cell_line=line, actor=tech, **lot_kwargs(tier="WCB", parent_lot=released_mcb,
                                                                       passage=released_mcb.passage - 1))
    assert "lower than the parent" in bad.value.message_dict["passage"][0]
    assert snapshot() == before
    same = services.create_lot(cell_line=line, actor=tech, **lot_kwargs(tier="WCB", parent_lot=released_mcb,
                                                                          passage=released_mcb.passage))
    assert same.passage == released_mcb.passage


def test_wcb_needs_a_parent_and_only_wcbs_have_one(line, released_mcb, tech):
    with pytest.raises(ValidationError) as bad:
        services.create_lot(cell_line=line, actor=tech, **lot_kwargs(tier="WCB", passage=14))
    assert "parent_lot" in bad.value.message_dict
    with pytest.raises(ValidationError) as bad:
        services.create_lot(cell_line=line, actor=tech, **lot_kwargs(tier="MCB", parent_lot=released_mcb))
    assert "parent_lot" in bad.value.message_dict
    wcb = services.create_lot(cell_line=line, actor=tech, **lot_kwargs(tier="WCB", parent_lot=released_mcb))
    services.change_lot_status(wcb, "released", actor=tech)
    with pytest.raises(ValidationError) as bad:  # a WCB is made from an MCB, not from another WCB
        services.create_lot(cell_line=line, actor=tech, **lot_kwargs(tier="WCB", parent_lot=wcb))
    assert "MCB" in bad.value.message_dict["parent_lot"][0]


@pytest.mark.parametrize("field,value", [
    ("vial_count", 0), ("vial_count", -3), ("vial_count", 5001), ("vial_count", "ten"),
    ("cells_per_vial", 0), ("cells_per_vial", -1_000_000), ("volume_ml", Decimal("0")), ("volume_ml", "-1"),
    ("volume_ml", "lots"), ("passage", -1), ("tier", "XCB"), ("cryoprotectant", " "),
    ("freezing_program", "liquid_nitrogen_dunk"), ("frozen_on", timezone.localdate() + datetime.timedelta(days=1)),
])
def test_bad_input_is_refused_with_a_field_error_and_nothing_created(line, tech, field, value):
    before = snapshot()
    with pytest.raises(ValidationError) as bad:
        services.create_lot(cell_line=line, actor=tech, **lot_kwargs(**{field: value}))
    assert field in bad.value.message_dict
    assert snapshot() == before


def test_unit_is_never_expanded(make_line, tech):
    cord = make_line(cell_type="CB-HSC")
    unit = services.create_lot(cell_line=cord, actor=tech, **lot_kwargs(tier="unit", passage=0, vial_count=1,
                                                                         volume_ml=Decimal("25")))
    assert unit.lot_number.startswith("unit-")
    with pytest.raises(ValidationError) as bad:
        services.create_lot(cell_line=cord, actor=tech, **lot_kwargs(tier="unit", passage=2))
    assert "passage" in bad.value.message_dict


def test_population_doublings_are_copied_from_the_culture(line, tech):
    culture = services.start_culture(line, started_on=timezone.localdate() - datetime.timedelta(days=20), actor=tech)
    for days, harvested in ((15, 4_000_000), (10, 8_000_000), (1, 2_000_000)):
        services.record_passage(culture, number=None, passaged_on=timezone.localdate() - datetime.timedelta(days=days),
                                seeded_cells=1_000_000, harvested_cells=harvested, actor=tech)
    frozen = timezone.localdate() - datetime.timedelta(days=5)  # before the last passage
    lot = services.create_lot(cell_line=line, actor=tech, **lot_kwargs(culture=culture, passage=2, frozen_on=frozen))
    assert lot.population_doublings == Decimal("5.00")  # log2(4) + log2(8); the later passage is not counted
    with pytest.raises(ValidationError) as bad:  # the culture reached P2 before this freeze
        services.create_lot(cell_line=line, actor=tech, **lot_kwargs(culture=culture, passage=1, frozen_on=frozen))
    assert "P2" in bad.value.message_dict["passage"][0]


def test_culture_of_another_line_is_refused(line, make_line, tech):
    other = make_line(cell_type="iPSC")
    culture = services.start_culture(other, actor=tech)
    with pytest.raises(ValidationError) as bad:
        services.create_lot(cell_line=line, actor=tech, **lot_kwargs(culture=culture))
    assert "culture" in bad.value.message_dict


def test_donor_who_withdrew_consent_gets_no_new_lot(line, tech):
    line.donor.consent_withdrawn_at = timezone.now()
    line.donor.save(update_fields=["consent_withdrawn_at"])
    before = snapshot()
    with pytest.raises(Conflict) as refused:
        services.create_lot(cell_line=line, actor=tech, **lot_kwargs())
    assert refused.value.code == "consent_withdrawn"
    assert snapshot() == before


def test_a_failure_while_creating_vials_leaves_nothing_behind(line, tech, monkeypatch):
    """The lot row, its barcodes and its number roll back with the vials: nothing half-created."""
    services.create_lot(cell_line=line, actor=tech, **lot_kwargs())  # the sequences exist
    before = snapshot()

    def broken(model, objs, batch_size=1000):
        raise RuntimeError("disk full")

    monkeypatch.setattr(services, "bulk_create_audited", broken)
    with pytest.raises(RuntimeError):
        services.create_lot(cell_line=line, actor=tech, **lot_kwargs(vial_count=50))
    assert snapshot() == before


@pytest.mark.django_db(transaction=True)
def test_concurrent_freezes_get_distinct_numbers_and_barcodes():
    tech = UserFactory(role="technician")
    line = services.create_cell_line(collection=eligible_collection(), cell_type="iPSC", grade="research",
                                     reprogramming_method="sendai", actor=tech)
    barrier = threading.Barrier(3)
    made, errors = [], []

    def freeze():
        try:
            barrier.wait(timeout=10)
            made.append(services.create_lot(cell_line=line, actor=tech, **lot_kwargs(vial_count=30)).pk)
        except Exception as exc:  # asserted below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=freeze) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert errors == []
    lots = Lot.objects.filter(pk__in=made)
    assert len({lot.lot_number for lot in lots}) == 3
    assert Vial.objects.filter(lot__in=lots).values("barcode").distinct().count() == 90
