import datetime

import pytest
from django.core.exceptions import ValidationError
from django.test import override_settings
from django.utils import timezone

from bank.errors import Conflict
from cordblood import queries, services
from lots.choices import DISTRIBUTABLE_KINDS
from tests.cordblood import helpers as h

pytestmark = pytest.mark.django_db


def test_accept_process_and_freeze_make_a_quarantined_unit_lot_with_its_containers():
    unit = h.frozen_unit()
    lot = unit.lot
    assert lot.tier == "unit" and lot.status == "quarantine" and lot.passage == 0
    assert lot.cell_line.cell_type == "CB-HSC" and lot.cell_line.collection == unit.donation.collection
    kinds = list(lot.vials.order_by("number").values_list("kind", flat=True))
    assert kinds == ["bag", "segment", "segment", "reference_cells", "reference_cells", "reference_plasma",
                     "reference_dna", "maternal_sample", "maternal_sample"]
    assert len(set(lot.vials.values_list("barcode", flat=True))) == len(kinds)
    assert [k for k in kinds if k in DISTRIBUTABLE_KINDS] == ["bag"]
    assert unit.recovery_pct == pytest.approx(86.7)
    assert unit.frozen_at is not None


def test_acceptance_thresholds_clots_and_bag_are_checked():
    donation = h.donate()
    with pytest.raises(Conflict) as exc:
        services.accept_unit(donation.unit, actor=h.technician(), collected_volume_ml="40", tnc=500_000_000,
                             clots=True, bag_intact=False)
    assert exc.value.code == "acceptance_criteria_not_met"
    assert exc.value.extra["failed"] == ["volume", "tnc", "clots", "bag"]
    with override_settings(CORDBLOOD_MIN_VOLUME_ML=30, CORDBLOOD_MIN_TNC=400_000_000):
        unit = services.accept_unit(donation.unit, actor=h.technician(), collected_volume_ml="40", tnc=500_000_000)
    assert unit.acceptance == "accepted"
    with pytest.raises(Conflict) as exc:
        services.accept_unit(unit, actor=h.technician(), collected_volume_ml="90", tnc=2_000_000_000)
    assert exc.value.code == "unit_already_decided"


def test_family_units_are_stored_whatever_their_size():
    donation = h.donate(ownership="family")
    unit = services.accept_unit(donation.unit, actor=h.technician(), collected_volume_ml="35", tnc=300_000_000)
    assert unit.acceptance == "accepted"


def test_discards_are_counted_by_reason_and_research_needs_consent():
    first, second = h.donate(), h.donate(scopes=("clinical",))
    services.discard_unit(first.unit, actor=h.technician(), reason="clotted", note="big clot")
    with pytest.raises(Conflict) as exc:
        services.divert_to_research(second.unit, actor=h.technician())
    assert exc.value.code == "no_research_consent"
    services.discard_unit(second.unit, actor=h.technician(), reason="low_volume")
    counts = {row["reason"]: row["count"] for row in queries.discards_by_reason()}
    assert counts["clotted"] == 1 and counts["low_volume"] == 1 and counts["bag_damaged"] == 0
    third = h.donate(scopes=("research",))
    assert services.divert_to_research(third.unit, actor=h.technician()).acceptance == "research"
    with pytest.raises(ValidationError):
        services.discard_unit(h.donate().unit, actor=h.technician(), reason="because")


def test_freeze_refused_past_48_hours_and_before_processing():
    born = timezone.now() - datetime.timedelta(hours=60)
    donation = h.donate(born_at=born)
    unit = services.accept_unit(donation.unit, actor=h.technician(), collected_volume_ml="95", tnc=1_500_000_000)
    with pytest.raises(Conflict) as exc:
        services.freeze_unit(unit, actor=h.technician())
    assert exc.value.code == "processing_not_recorded"
    h.process(unit)
    with pytest.raises(Conflict) as exc:
        services.freeze_unit(unit, actor=h.technician())
    assert exc.value.code == "freeze_window_exceeded" and exc.value.extra["limit"] == 48
    # within the window (frozen 30 h after the collection) it freezes
    unit = services.freeze_unit(unit, actor=h.technician(), frozen_at=born + datetime.timedelta(hours=30))
    assert unit.lot is not None
    with pytest.raises(Conflict) as exc:
        services.freeze_unit(unit, actor=h.technician())
    assert exc.value.code == "unit_already_frozen"


def test_processing_needs_acceptance_and_sane_numbers():
    donation = h.donate()
    with pytest.raises(Conflict) as exc:
        h.process(donation.unit)
    assert exc.value.code == "unit_not_accepted"
    unit = services.accept_unit(donation.unit, actor=h.technician(), collected_volume_ml="95", tnc=1_500_000_000)
    with pytest.raises(ValidationError) as exc:
        h.process(unit, tnc_pre=1_000_000_000, tnc_post=1_200_000_000)
    assert "tnc_post" in exc.value.message_dict


def test_create_lot_containers_must_match_the_vial_count():
    from lots.services import create_lot
    unit = h.frozen_unit()
    with pytest.raises(ValidationError) as exc:
        create_lot(cell_line=unit.lot.cell_line, tier="unit", passage=0, vial_count=3, cells_per_vial=10,
                   volume_ml="25", cryoprotectant="DMSO", frozen_on=timezone.localdate(),
                   containers=["bag", "segment"], actor=h.technician())
    assert "containers" in exc.value.message_dict
