"""Vials leave storage only through remove_from_storage, which records the exit."""

import pytest

from storage.services import remove_from_storage
from tests.factories import BoxFactory, LotFactory

pytestmark = pytest.mark.django_db


def test_removal_frees_positions_and_records_custody(users):
    box = BoxFactory()
    lot = LotFactory(vial_count=2)
    vials = list(lot.vials.order_by("number"))
    for col, vial in enumerate(vials, start=1):
        vial.box, vial.row, vial.col = box, 1, col
        vial.save()
    remove_from_storage(vials, actor=users["technician"], reason="shipped REQ-1")
    for vial in vials:
        vial.refresh_from_db()
        assert vial.box is None and vial.row is None
        move = vial.moves.get()
        assert (move.kind, move.from_box, move.from_col) == ("removed", box, vial.number)
        assert move.moved_by == users["technician"]
        assert vial.history.first().history_user == users["technician"]
