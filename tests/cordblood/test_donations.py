import datetime

import pytest
from django.core.exceptions import ValidationError
from django.utils import timezone

from cordblood import services
from cordblood.models import CordBloodUnit
from donors.models import DonorIdentity, ScreeningMarker
from donors.queries import eligibility_for
from tests.cordblood import helpers as h

pytestmark = pytest.mark.django_db


def test_twins_from_one_mother_and_a_later_pregnancy():
    mum = h.mother()
    born = timezone.now() - datetime.timedelta(hours=6)
    first = h.donate(mum, born_at=born, birth_order=1)
    second = h.donate(mum, born_at=born + datetime.timedelta(minutes=12), birth_order=2, sex="M")
    assert first.infant != second.infant and first.infant != mum
    # A newborn has no identity of its own; the mother keeps hers (none given here).
    assert not DonorIdentity.objects.filter(donor__in=[first.infant, second.infant]).exists()
    # The mother signed each baby's consent; each baby has its cord blood collection and its unit.
    for donation in (first, second):
        assert donation.collection.donor == donation.infant and donation.collection.tissue == "cord_blood"
        assert donation.infant.consents.get().form_version == "CB-ICF-v1"
        assert donation.unit.acceptance == "pending" and len(donation.unit.din) == 13
    assert first.unit.din != second.unit.din
    # A twin cannot take a birth order already taken for this birth.
    with pytest.raises(ValidationError) as exc:
        h.donate(mum, born_at=born, birth_order=2)
    assert "birth_order" in exc.value.message_dict
    # A second child two years later is simply another donation of the same mother.
    later = h.donate(mum, born_at=born - datetime.timedelta(days=730), birth_order=1)
    assert set(mum.infant_donations.all()) == {first, second, later}
    assert list(services.pregnancy_donations(first)) == [first, second]


def test_the_maternal_sample_counts_for_each_twin_through_donors_eligibility():
    mum = h.mother()
    born = timezone.now() - datetime.timedelta(hours=6)
    first = h.donate(mum, born_at=born, birth_order=1)
    second = h.donate(mum, born_at=born, birth_order=2)
    assert eligibility_for(first.infant, first.collection).status == "incomplete"
    markers = [m.code for m in ScreeningMarker.objects.filter(required=True) if m.required_for("cord_blood")]
    screenings = services.record_maternal_screening(
        second, actor=h.coordinator(), sample_drawn_on=timezone.localdate(),
        results={m: "negative" for m in markers}, laboratory="Maternal lab")
    assert len(screenings) == 2 and all(s.maternal_sample for s in screenings)
    assert eligibility_for(second.infant, second.collection).status == "eligible"


def test_an_infant_donor_cannot_be_a_mother():
    donation = h.donate()
    with pytest.raises(ValidationError) as exc:
        h.donate(donation.infant)
    assert "mother" in exc.value.message_dict


def test_family_unit_created_at_registration():
    donation = h.donate(ownership="family")
    assert CordBloodUnit.objects.get(donation=donation).ownership == "family"


def test_registration_reads_the_mother_again_under_its_lock():
    # A withdrawal made after the page loaded the mother (a stale object) still stops the registration: the
    # service re-reads the mother's row under a lock, so two registrations and a withdrawal are serialised.
    from bank.errors import Conflict
    from donors.models import Donor

    mum = h.mother()
    Donor.objects.filter(pk=mum.pk).update(consent_withdrawn_at=timezone.now())
    assert mum.consent_withdrawn_at is None
    with pytest.raises(Conflict) as exc:
        h.donate(mum)
    assert exc.value.code == "consent_withdrawn"
    assert not mum.infant_donations.exists()


def test_the_late_discard_reason_does_not_repeat_the_freeze_window():
    from cordblood.choices import DiscardReason

    # The window is CORDBLOOD_FREEZE_WINDOW_HOURS; a label naming 48 h would be wrong in a bank that sets 24.
    assert "48" not in str(DiscardReason.LATE.label)
