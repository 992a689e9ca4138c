"""Storage test helpers: a small layout (a quarantine tank and a main tank) and placed vials."""

import pytest

from tests.factories import BoxFactory, LotFactory, RackFactory, StorageUnitFactory


@pytest.fixture
def layout(db):
    """``layout.q_box`` (quarantine tank LN2-Q), ``layout.box``/``layout.box2`` (main tank LN2-M), ``layout.mirror_box``
    (second main tank LN2-N), each 3 x 3."""

    class Layout:
        pass

    lay = Layout()
    lay.q_unit = StorageUnitFactory(name="LN2-Q", quarantine=True)
    lay.unit = StorageUnitFactory(name="LN2-M")
    lay.mirror_unit = StorageUnitFactory(name="LN2-N")
    lay.q_rack = RackFactory(unit=lay.q_unit, name="QR1")
    lay.rack = RackFactory(unit=lay.unit, name="R1", position=1)
    lay.rack2 = RackFactory(unit=lay.unit, name="R2", position=2)
    lay.mirror_rack = RackFactory(unit=lay.mirror_unit, name="NR1")
    lay.q_box = BoxFactory(rack=lay.q_rack, name="Q-B1", rows=3, cols=3)
    lay.q_box2 = BoxFactory(rack=lay.q_rack, name="Q-B2", rows=3, cols=3, position=2)
    lay.box = BoxFactory(rack=lay.rack, name="M-B1", rows=3, cols=3)
    lay.box2 = BoxFactory(rack=lay.rack, name="M-B2", rows=3, cols=3, position=2)
    lay.mirror_box = BoxFactory(rack=lay.mirror_rack, name="N-B1", rows=3, cols=3)
    return lay


@pytest.fixture
def released_lot(db):
    return LotFactory(status="released", vial_count=4)


@pytest.fixture
def quarantine_lot(db):
    return LotFactory(vial_count=4)
