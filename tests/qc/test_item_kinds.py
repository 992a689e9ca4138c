"""Item kinds in QC (issue 12): a cord blood unit is re-checked on its segments and reference vials of cells, never
its bag; a test never thaws a bag."""

import datetime
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError
from django.utils import timezone

from bank.errors import Conflict
from lots.models import Vial
from qc import services
from qc.models import Recheck, StabilityPlan
from tests import cordblood_factories as cb
from tests.qc.factories import enter_panel, store_vials

pytestmark = pytest.mark.django_db

TODAY = datetime.date(2027, 3, 1)


def released_unit(users, password, **kwargs):
    unit = cb.unit(status="quarantine", **kwargs)
    lot = unit.lot
    store_vials(lot)
    enter_panel(lot, users["technician"])
    services.release_lot(lot, actor=users["qa"], password=password, meaning="release")
    lot.refresh_from_db()
    return lot


def due(lot):
    StabilityPlan.objects.filter(lot=lot).update(next_due_on=TODAY)
    services.open_due_rechecks(today=TODAY)
    return Recheck.objects.filter(lot=lot, status="due").select_related("vial").first()


def test_a_units_stability_plan_never_names_its_bag(users, password):
    """Must show (issue 12): a unit with segments and reference vials gets a plan; every re-check it opens
    names a test sample, never the bag — down to the last sample, which is kept."""
    lot = released_unit(users, password)
    assert lot.status == "released"
    assert StabilityPlan.objects.filter(lot=lot, active=True).exists()
    bag = lot.vials.get(kind="bag")
    named = []
    day = TODAY
    for _round in range(4):
        StabilityPlan.objects.filter(lot=lot).update(next_due_on=day)
        services.open_due_rechecks(today=day)
        recheck = Recheck.objects.filter(lot=lot, status="due").select_related("vial").first()
        if recheck is None:
            break
        assert recheck.vial.kind in ("segment", "reference_cells")
        named.append(recheck.vial.kind)
        services.record_recheck_result(recheck, actor=users["technician"], viability_pct=Decimal("90"),
                                       tested_on=timezone.localdate())
        day += datetime.timedelta(days=1)
    assert len(named) == 2  # two of the three test samples; the last one stays
    assert not Recheck.objects.filter(lot=lot, vial=bag).exists()
    bag.refresh_from_db()
    assert bag.status == "available"
    assert lot.vials.filter(kind__in=["segment", "reference_cells"], status="available").count() == 1


def test_a_unit_without_test_samples_gets_no_plan(users, password):
    lot = released_unit(users, password, containers=["bag", "reference_plasma", "maternal_sample"])
    assert not StabilityPlan.objects.filter(lot=lot).exists()


def test_a_recheck_refuses_the_bag_when_scanned(users, password):
    lot = released_unit(users, password)
    recheck = due(lot)
    bag = lot.vials.get(kind="bag")
    with pytest.raises(Conflict) as refused:
        services.record_recheck_result(recheck, actor=users["technician"], viability_pct=Decimal("90"),
                                       tested_on=timezone.localdate(), vial=bag.barcode)
    assert refused.value.code == "bag_not_a_sample"
    plasma = lot.vials.get(kind="reference_plasma")
    with pytest.raises(ValidationError) as invalid:
        services.record_recheck_result(recheck, actor=users["technician"], viability_pct=Decimal("90"),
                                       tested_on=timezone.localdate(), vial=plasma.barcode)
    assert "vial" in invalid.value.message_dict
    assert Vial.objects.get(pk=bag.pk).status == "available"


def test_a_qc_test_never_thaws_the_bag(users):
    unit = cb.unit(status="quarantine")
    bag = unit.lot.vials.get(kind="bag")
    with pytest.raises((Conflict, ValidationError)) as refused:
        services.record_qc_result(unit.lot, actor=users["technician"], test="viability", value=Decimal("90"),
                                  tested_on=timezone.localdate(), vial=bag.barcode)
    assert getattr(refused.value, "code", None) == "bag_not_a_sample"
    bag.refresh_from_db()
    assert bag.status == "available"
    segment = unit.lot.vials.filter(kind="segment").first()
    services.record_qc_result(unit.lot, actor=users["technician"], test="viability", value=Decimal("90"),
                              tested_on=timezone.localdate(), vial=segment.barcode)
    segment.refresh_from_db()
    assert segment.status == "used"
