"""Two technicians place vials into the same free position at the same moment (PostgreSQL, real threads).

Each thread has its own database connection and transaction. The first to lock the box wins; the
other waits for the lock, then sees the position taken and gets ``position_occupied``. Nothing is lost:
the losing vial stays where it was, and exactly one move is recorded.
"""

import threading
import time

import pytest
from django.db import connection

from bank.errors import Conflict
from lots.models import Vial
from storage.models import Box, VialMove
from storage.services import move_vial, placement, store_lot
from tests.factories import BoxFactory, LotFactory, RackFactory, StorageUnitFactory, UserFactory

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def scene():
    unit = StorageUnitFactory(name="LN2-C")
    rack = RackFactory(unit=unit)
    source_a, source_b, target = (BoxFactory(rack=rack, name=n, rows=3, cols=3) for n in ("A", "B", "T"))
    tech_a = UserFactory(username="tech-a", role="technician")
    tech_b = UserFactory(username="tech-b", role="technician")
    lot_a = LotFactory(status="released", vial_count=1)
    lot_b = LotFactory(status="released", vial_count=1)
    store_lot(lot_a, [source_a], actor=tech_a)
    store_lot(lot_b, [source_b], actor=tech_b)
    return {"target": target, "a": (lot_a.vials.get(), tech_a, source_a), "b": (lot_b.vials.get(), tech_b, source_b)}


def race(scene, monkeypatch, hold: float = 0.4) -> dict:
    """Both threads start together; whoever gets through the checks first holds its transaction open a while."""
    # move_vial looks its helpers up in storage.services.placement: patch them there.
    real = placement._move_record

    def slow_move_record(*args, **kwargs):
        time.sleep(hold)  # after the position was found free, before the write: the window of a race
        return real(*args, **kwargs)

    monkeypatch.setattr(placement, "_move_record", slow_move_record)
    barrier = threading.Barrier(2)
    results: dict = {}

    def technician(name):
        vial, actor, _box = scene[name]
        try:
            barrier.wait(timeout=10)
            move_vial(vial, scene["target"], 2, 2, actor=actor, reason=f"race {name}")
            results[name] = "moved"
        except Conflict as exc:
            results[name] = exc.code
            results["detail"] = exc.detail
        except Exception as exc:  # pragma: no cover - reported by the assertion below
            results[name] = repr(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=technician, args=(n,)) for n in ("a", "b")]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    return results


def assert_one_winner(scene, results):
    assert sorted([results["a"], results["b"]]) == ["moved", "position_occupied"], results
    winner = "a" if results["a"] == "moved" else "b"
    loser = "b" if winner == "a" else "a"
    target = scene["target"]
    assert list(Vial.objects.filter(box=target).values_list("pk", "row", "col")) == [(scene[winner][0].pk, 2, 2)]
    lost_vial, _actor, home = scene[loser]
    lost_vial.refresh_from_db()
    assert (lost_vial.box, lost_vial.row, lost_vial.col) == (home, 1, 1)  # nothing lost
    assert VialMove.objects.filter(kind="moved").count() == 1
    assert VialMove.objects.get(kind="moved").vial_id == scene[winner][0].pk
    assert Vial.objects.filter(box__isnull=False).count() == 2


def test_same_free_position_one_wins_under_the_box_lock(scene, monkeypatch):
    results = race(scene, monkeypatch)
    assert_one_winner(scene, results)
    assert "holds vial" in results["detail"]  # the loser waited for the lock, then saw the winner's vial


def test_the_database_constraint_catches_what_a_missing_lock_would_let_through(scene, monkeypatch):
    # Take the box lock away: both threads then find the position free, and the named unique
    # constraint lots_vial_unique_position is what refuses the second write.
    monkeypatch.setattr(placement, "_lock_boxes", lambda ids: {b.pk: b for b in
                                                                Box.objects.select_related("rack__unit")
                                                                .filter(pk__in=list(ids))})
    results = race(scene, monkeypatch)
    assert_one_winner(scene, results)
    assert "at the same moment" in results["detail"]  # refused by the database, rolled back cleanly
