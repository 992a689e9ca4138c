"""Race-free allocation on PostgreSQL: approvals in real threads, each with its own connection."""

import threading
import time

import pytest
from django.db import connection

from bank.errors import Conflict
from distribution import services
from distribution.models import Allocation, DistributionRequest
from lots.models import Vial
from tests.distribution.factories import add_lot, make_line, reseed_reference_data, submit

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
def _seeds(transactional_db):
    reseed_reference_data()


def _race(requests, actor, monkeypatch):
    """Approve every request at the same moment in its own thread; returns {request pk: "ok" | code}."""
    locked = services._lock_free_vials

    def slow_lock(*args, **kwargs):
        # Hold the row locks a little, so the transactions really overlap.
        vials = locked(*args, **kwargs)
        time.sleep(0.05)
        return vials

    monkeypatch.setattr(services, "_lock_free_vials", slow_lock)
    barrier = threading.Barrier(len(requests))
    outcome: dict[int, str] = {}

    def approve(request):
        try:
            barrier.wait()
            services.approve_request(request, actor=actor)
            outcome[request.pk] = "ok"
        except Conflict as exc:
            outcome[request.pk] = exc.code
        except Exception as exc:  # a crash must fail the test, not hang it
            outcome[request.pk] = f"error: {exc!r}"
        finally:
            connection.close()

    threads = [threading.Thread(target=approve, args=(r,)) for r in requests]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    return outcome


def test_eight_approvals_race_for_four_vials(users, monkeypatch):
    line = make_line()
    add_lot(line, vials=4)
    requests = [submit(users["researcher"], line, vials=1) for _ in range(8)]
    outcome = _race(requests, users["qa"], monkeypatch)
    assert sorted(outcome.values()) == ["insufficient_stock"] * 4 + ["ok"] * 4, outcome
    allocated = list(Allocation.objects.values_list("vial_id", flat=True))
    assert len(allocated) == 4 and len(set(allocated)) == 4  # no vial twice
    assert Vial.objects.filter(status="reserved").count() == 4
    approved = DistributionRequest.objects.filter(status="approved")
    assert approved.count() == 4
    assert all(r.allocations.count() == 1 for r in approved)
    assert DistributionRequest.objects.filter(status="submitted").count() == 4


def test_the_mcb_reserve_holds_under_a_race(users, monkeypatch, settings):
    settings.MIN_MCB_STOCK = 2
    line = make_line()
    add_lot(line, tier="MCB", vials=6)
    requests = [submit(users["researcher"], line, vials=1) for _ in range(8)]
    outcome = _race(requests, users["qa"], monkeypatch)
    assert sorted(outcome.values()) == ["insufficient_stock"] * 4 + ["ok"] * 4, outcome
    assert Vial.objects.filter(status="available").count() == 2
    assert Allocation.objects.values("vial").distinct().count() == 4
