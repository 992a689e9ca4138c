"""Bank-wide Celery tasks and the helper every task uses to appear in the audit trail."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

from celery import shared_task
from django.contrib.auth import get_user_model

from bank.audit import acting


@contextlib.contextmanager
def task_context(task_name: str, actor_id: int | None = None) -> Iterator[object]:
    """Run a task's service calls as ``actor_id`` (or as the scheduler), with the task named as reason."""
    actor = get_user_model().objects.filter(pk=actor_id).first() if actor_id else None
    with acting(actor, reason=f"task {task_name}"):
        yield actor


@shared_task(name="bank.tasks.notify_user")
def notify_user(user_id: int, subject: str, body: str = "", actor_id: int | None = None) -> int | None:
    """Send one in-app notification (and e-mail). Used to prove the worker round trip; returns its id."""
    from bank.notifications import notify

    user = get_user_model().objects.filter(pk=user_id).first()
    if user is None:  # the account vanished between enqueue and run: nothing to do
        return None
    with task_context("bank.tasks.notify_user", actor_id):
        return notify([user], subject=subject, body=body)[0].pk
