"""The daily re-check task through a real Celery worker on Redis (not eager mode)."""

import pytest

from qc.models import QCTest, Recheck
from qc.tasks import open_due_rechecks
from tests.qc.test_stability import TODAY, released_lot

# Transactional (the worker reads committed data). A flush after a transactional test empties the tables;
# bank.seeds puts the QC catalog and specifications back on the post_migrate that follows a flush.
pytestmark = pytest.mark.celery_worker


def test_a_due_lot_gets_exactly_one_recheck_after_two_runs(celery_worker, users, password):
    assert not celery_worker.conf.task_always_eager
    lot = released_lot(users, password, due_in_days=-1)
    first = open_due_rechecks.delay(TODAY.isoformat()).get(timeout=60)
    second = open_due_rechecks.delay(TODAY.isoformat()).get(timeout=60)
    assert (first["opened"], second["opened"]) == (1, 0)
    recheck = Recheck.objects.get(lot=lot)
    assert recheck.vial == lot.vials.order_by("-number").first()
    record = recheck.history.get()
    assert record.history_change_reason == "task qc.tasks.open_due_rechecks" and record.history_user is None


def test_two_runs_at_the_same_time_open_each_recheck_once(celery_worker, users, password):
    assert QCTest.objects.exists()  # the catalog survived the previous test's flush
    lots = [released_lot(users, password, due_in_days=0) for _ in range(3)]
    runs = [open_due_rechecks.delay(TODAY.isoformat()) for _ in range(2)]  # two worker threads
    opened = sum(run.get(timeout=60)["opened"] for run in runs)
    assert opened == 3
    assert sorted(Recheck.objects.values_list("lot_id", flat=True)) == sorted(lot.pk for lot in lots)
