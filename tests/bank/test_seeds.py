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
    assert MaterialTransferAgreement.objects.filter(active=True).exists()


@pytest.mark.django_db
def test_reseed_leaves_existing_configuration_alone():
    from bank.seeds import reseed_empty_tables

    ScreeningMarker.objects.filter(code="cmv").update(required=False)
    reseed_empty_tables()
    assert ScreeningMarker.objects.get(code="cmv").required is False
