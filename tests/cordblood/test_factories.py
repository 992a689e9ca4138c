import pytest

from tests import cordblood_factories as cb

pytestmark = pytest.mark.django_db


def test_twins_of_one_mother_are_two_infant_donors_with_one_unit_each():
    mum = cb.mother()
    first = cb.unit(cb.donation(mum, birth_order=1))
    second = cb.unit(cb.donation(mum, birth_order=2, born_at=first.donation.born_at))
    assert first.donation.infant != second.donation.infant
    assert set(mum.infant_donations.values_list("birth_order", flat=True)) == {1, 2}
    assert first.lot.vials.filter(kind="bag").count() == 1 and first.lot.vials.filter(kind="segment").count() == 2
