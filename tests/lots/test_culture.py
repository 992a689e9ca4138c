"""Culture records: passages with counts, viability, medium and reagent lots; population doublings."""

from __future__ import annotations

import datetime
import math
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError
from django.utils import timezone

from bank.errors import Conflict
from lots import services
from lots.models import Culture, Lot, Passage, Vial
from tests.factories import BoxFactory
from tests.lots.conftest import lot_kwargs

pytestmark = pytest.mark.django_db

TODAY = timezone.localdate()


def days_ago(n: int) -> datetime.date:
    return TODAY - datetime.timedelta(days=n)


@pytest.fixture
def culture(line, tech):
    return services.start_culture(line, started_on=days_ago(30), actor=tech, reason="start")


def test_passages_number_up_and_population_doublings_add_up(culture, tech, users):
    first = services.record_passage(
        culture, passaged_on=days_ago(25), split_ratio="1:6", seeded_cells=1_000_000, harvested_cells=6_000_000,
        viability_pct=Decimal("95.5"), medium="mTeSR Plus", medium_lot="MT-1",
        reagents=[{"name": "Vitronectin", "lot": "VN-2231"}], actor=tech)
    second = services.record_passage(culture, passaged_on=days_ago(20), seeded_cells=500_000,
                                     harvested_cells=2_000_000, actor=users["admin"])
    third = services.record_passage(culture, passaged_on=days_ago(15), actor=tech)  # no counts: no PD
    assert (first.number, second.number, third.number) == (1, 2, 3)
    assert first.operator == tech and second.operator == users["admin"]
    assert first.reagents == [{"name": "Vitronectin", "lot": "VN-2231"}]
    assert first.population_doublings == pytest.approx(math.log2(6))
    assert third.population_doublings is None
    culture.refresh_from_db()
    assert services.culture_population_doublings(culture) == Decimal(str(round(math.log2(6) + 2, 2)))
    assert first.history.first().history_user == tech


def test_explicit_passage_numbers_must_go_up(culture, tech):
    services.record_passage(culture, number=8, passaged_on=days_ago(20), actor=tech)
    assert services.record_passage(culture, passaged_on=days_ago(19), actor=tech).number == 9
    with pytest.raises(ValidationError) as bad:
        services.record_passage(culture, number=9, passaged_on=days_ago(18), actor=tech)
    assert "P9" in bad.value.message_dict["number"][0]
    with pytest.raises(ValidationError) as bad:
        services.record_passage(culture, passaged_on=days_ago(25), actor=tech)
    assert "passaged_on" in bad.value.message_dict


@pytest.mark.parametrize("field,value", [
    ("seeded_cells", -5), ("seeded_cells", 0), ("harvested_cells", -1), ("harvested_cells", "many"),
    ("viability_pct", Decimal("100.5")), ("viability_pct", -1), ("viability_pct", "abc"),
    ("split_ratio", "one to six"), ("reagents", [{"lot": "X-1"}]), ("passaged_on", days_ago(-3)),
    ("passaged_on", days_ago(40)),
])
def test_bad_passage_input_is_refused_and_nothing_saved(culture, tech, field, value):
    kwargs = {"passaged_on": days_ago(5), "seeded_cells": 1_000_000, "harvested_cells": 3_000_000}
    kwargs[field] = value
    with pytest.raises(ValidationError) as bad:
        services.record_passage(culture, actor=tech, **kwargs)
    assert field in bad.value.message_dict
    assert not Passage.objects.exists()


def test_culture_from_a_thawed_vial_continues_its_lot(line, tech, users):
    lot = services.create_lot(cell_line=line, actor=tech, **lot_kwargs(passage=12, vial_count=3))
    lot.population_doublings = Decimal("20.50")
    lot.save(update_fields=["population_doublings"])
    vial = lot.vials.get(number=1)
    box = BoxFactory()
    Vial.objects.filter(pk=vial.pk).update(box=box, row=1, col=1)
    culture = services.start_culture(line, source_vial=vial, started_on=days_ago(10), actor=tech, reason="WCB")
    vial.refresh_from_db()
    assert vial.status == "used" and vial.box is None  # out of storage, custody recorded
    assert vial.moves.get().kind == "removed"
    passage = services.record_passage(culture, passaged_on=days_ago(5), seeded_cells=1_000_000,
                                      harvested_cells=4_000_000, actor=tech)
    assert passage.number == 13
    assert services.culture_population_doublings(culture) == Decimal("22.50")
    with pytest.raises(Conflict) as refused:
        services.start_culture(line, source_vial=vial, actor=tech)
    assert refused.value.code == "vial_unavailable"


@pytest.mark.parametrize("flag", ["recalled", "rejected", "parent recalled"])
def test_nothing_is_grown_from_a_vial_of_a_recalled_or_rejected_lot(line, tech, flag):
    lot = services.create_lot(cell_line=line, actor=tech, **lot_kwargs(passage=12, vial_count=2))
    if flag == "parent recalled":
        Lot.objects.filter(pk=lot.pk).update(ancestor_recalled_at=timezone.now())
    else:
        Lot.objects.filter(pk=lot.pk).update(status=flag)
    vial = lot.vials.get(number=1)
    with pytest.raises(Conflict) as refused:
        services.start_culture(line, source_vial=vial, actor=tech)
    assert refused.value.code == "vial_unavailable" and "must not be used" in refused.value.detail
    vial.refresh_from_db()
    assert vial.status == "available" and not Culture.objects.exists()


def test_vial_of_another_line_cannot_start_a_culture(line, make_line, make_lot, tech):
    other = make_line(cell_type="iPSC")
    vial = make_lot(other).vials.first()
    with pytest.raises(ValidationError) as bad:
        services.start_culture(line, source_vial=vial, actor=tech)
    assert "source_vial" in bad.value.message_dict
    vial.refresh_from_db()
    assert vial.status == "available"


def test_future_start_is_refused(line, tech):
    with pytest.raises(ValidationError):
        services.start_culture(line, started_on=days_ago(-1), actor=tech)


@pytest.mark.parametrize("field,value", [
    ("seeded_cells", 2**63), ("harvested_cells", 2**63), ("number", 32768), ("number", True),
])
def test_counts_and_numbers_beyond_their_columns_are_refused(culture, tech, field, value):
    """A count past bigint or a passage past smallint was a DataError (500) from the page and the API."""
    kwargs = {"passaged_on": days_ago(5), field: value}
    with pytest.raises(ValidationError) as bad:
        services.record_passage(culture, actor=tech, **kwargs)
    assert field in bad.value.message_dict
    assert not Passage.objects.exists()


def test_the_next_passage_number_cannot_overflow(culture, tech):
    services.record_passage(culture, number=32767, passaged_on=days_ago(5), actor=tech)
    with pytest.raises(ValidationError) as bad:
        services.record_passage(culture, passaged_on=days_ago(4), actor=tech)
    assert "too high" in bad.value.message_dict["number"][0]
    assert Passage.objects.count() == 1
