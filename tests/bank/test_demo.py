"""The demo bank loads from an empty database (as `make run` does) and shows a living bank."""

import io

import pytest
from django.core.management import call_command

from donors.models import Donor
from lots.models import Lot, Vial

pytestmark = pytest.mark.django_db


def test_demo_bank_loads_once():
    out = io.StringIO()
    call_command("load_demo", stdout=out)
    assert "Demo bank loaded." in out.getvalue()
    assert Donor.objects.count() >= 6
    assert Lot.objects.count() >= 5
    assert Vial.objects.filter(box__isnull=False).exists()
    again = io.StringIO()
    call_command("load_demo", stdout=again)
    assert "already loaded" in again.getvalue()
