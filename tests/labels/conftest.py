"""Label test set-up: printer profiles, lots with vials and a small storage layout."""

from __future__ import annotations

from decimal import Decimal

import pytest

from bank.models import PrinterProfile
from tests.factories import BoxFactory, LotFactory, RackFactory, StorageUnitFactory


@pytest.fixture
def make_profile(db):
    def make(**values):
        defaults = {"name": f"Profile {PrinterProfile.objects.count() + 1}", "kind": "vial", "output": "pdf_sheet",
                    "width_in": Decimal("1.28"), "height_in": Decimal("0.5")}
        defaults.update(values)
        profile = PrinterProfile(**defaults)
        profile.full_clean()
        profile.save()
        return profile

    return make


@pytest.fixture
def lot(db):
    return LotFactory(vial_count=12, lot_number="MCB-LBL-0001", barcode="SBL00000077")


@pytest.fixture
def place(db):
    """A unit ``place.unit`` with two racks; rack R1 holds boxes A and B, rack R2 holds box C."""

    class Place:
        pass

    p = Place()
    p.unit = StorageUnitFactory(name="LN2-LBL")
    p.rack = RackFactory(unit=p.unit, name="R1", position=1)
    p.rack2 = RackFactory(unit=p.unit, name="R2", position=2)
    p.box_a = BoxFactory(rack=p.rack, name="A", barcode="SBB00000101", rows=9, cols=9, position=1)
    p.box_b = BoxFactory(rack=p.rack, name="B", barcode="SBB00000102", rows=10, cols=10, position=2)
    p.box_c = BoxFactory(rack=p.rack2, name="C", barcode="SBB00000103", rows=9, cols=9, position=1)
    return p
