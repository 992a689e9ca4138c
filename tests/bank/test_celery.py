"""A real round trip through Redis: the test's worker consumes the task and writes with an audit reason."""

import pytest

from bank.models import Notification
from bank.tasks import notify_user


@pytest.mark.celery_worker
def test_task_round_trip_through_redis(celery_worker, users):
    assert not celery_worker.conf.task_always_eager
    result = notify_user.delay(users["technician"].pk, "Tank LN2-01 reading overdue", actor_id=users["admin"].pk)
    note_id = result.get(timeout=30)
    note = Notification.objects.get(pk=note_id)
    assert note.recipient == users["technician"]
    record = note.history.first()
    assert record.history_user == users["admin"]
    assert record.history_change_reason == "task bank.tasks.notify_user"


@pytest.mark.celery_worker
def test_task_tolerates_a_vanished_user(celery_worker, users):
    assert notify_user.delay(987654321, "nobody").get(timeout=30) is None
