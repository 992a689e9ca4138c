"""Reference data survives a flush (transactional tests, manage.py flush) without overwriting bank edits."""

import pytest
from django.core.management import call_command

from distribution.models import MaterialTransferAgreement
from donors.models import ScreeningMarker
from qc.models import QCTest, Specification


@pytest.mark.django_db(transaction=True)
def test_flush_reloads_reference_data():
    call_command("flush", "--noinput", verbosity=0)
    assert ScreeningMarker.objects.filter(required=True).count() == 9
    assert QCTest.objects.filter(code="viability").exists()
    assert Specification.objects.filter(cell_type="iPSC", tier="MCB", version=1).exists()
    # the whole catalog, as migrated: the cord blood tests and the unit's version 2 (issue 12), the potency
    # assay (issue 16); before, a flush left 16 of the 25 tests and a test that ran after one failed
    assert QCTest.objects.count() == 25
    assert Specification.objects.filter(cell_type="CB-HSC", tier="unit", version=2).exists()
    assert QCTest.objects.filter(code="potency_immunomodulation").exists()
    assert MaterialTransferAgreement.objects.filter(active=True).exists()


@pytest.mark.django_db
def test_reseed_leaves_existing_configuration_alone():
    from bank.seeds import reseed_empty_tables

    ScreeningMarker.objects.filter(code="cmv").update(required=False)
    reseed_empty_tables()
    assert ScreeningMarker.objects.get(code="cmv").required is False
