"""Lot and vial status machines: only the services move them, exactly as API.md says."""

import pytest

from bank.errors import Conflict
from lots.services import change_lot_status, change_vial_status, flag_lots_for_withdrawn_consent
from tests.factories import CellLineFactory, LotFactory

pytestmark = pytest.mark.django_db

ALLOWED = [
    ("quarantine", "released"), ("quarantine", "rejected"), ("released", "on_hold"), ("on_hold", "released"),
    ("released", "depleted"), ("released", "recalled"), ("on_hold", "recalled"),  # a hold is when a recall comes
]
ALL = ["quarantine", "released", "rejected", "on_hold", "depleted", "recalled"]


@pytest.mark.parametrize("start", ALL)
@pytest.mark.parametrize("to", ALL)
def test_lot_machine(start, to, users):
    lot = LotFactory(status=start, vials=False)
    if (start, to) in ALLOWED:
        change_lot_status(lot, to, actor=users["qa"], reason="test")
        lot.refresh_from_db()
        assert lot.status == to
        assert lot.history.first().history_user == users["qa"]
        assert lot.history.first().history_change_reason == "test"
    else:
        with pytest.raises(Conflict) as refused:
            change_lot_status(lot, to, actor=users["qa"])
        assert refused.value.code == "invalid_transition"
        lot.refresh_from_db()
        assert lot.status == start


def test_vial_machine_is_all_or_nothing(users):
    lot = LotFactory(vial_count=3)
    first, second, third = lot.vials.order_by("number")
    change_vial_status([first], "reserved", actor=users["qa"], reason="REQ-1")
    change_vial_status([first], "shipped", actor=users["technician"], reason="REQ-1 shipped")
    with pytest.raises(Conflict):
        change_vial_status([second, first], "reserved", actor=users["qa"])
    second.refresh_from_db()
    assert second.status == "available"  # nothing half-done
    first.refresh_from_db()
    assert first.status == "shipped" and first.history.first().history_user == users["technician"]


def test_withdrawal_flags_every_derived_lot(users):
    line = CellLineFactory()
    subclone = CellLineFactory(collection=line.collection, donor=line.donor, parent_line=line, subclone="B")
    lots = [LotFactory(cell_line=line, vials=False), LotFactory(cell_line=subclone, vials=False)]
    other = LotFactory(vials=False)
    flagged = flag_lots_for_withdrawn_consent(line.donor, actor=users["coordinator"], reason="withdrawn")
    assert {lot.pk for lot in flagged} == {lot.pk for lot in lots}
    other.refresh_from_db()
    assert other.consent_withdrawn_flagged_at is None
    assert all(lot.is_blocked_by_consent for lot in flagged)
