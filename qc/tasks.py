"""Scheduled work of the qc app (Celery beat, see CELERY_BEAT_SCHEDULE in bank/settings.py)."""

from __future__ import annotations

import datetime

from celery import shared_task

from bank.tasks import task_context


@shared_task(name="qc.tasks.open_due_rechecks")
def open_due_rechecks(today: str | None = None) -> dict[str, int]:
    """Daily: open a re-check for each released lot that is due, mark overdue ones, remind technicians.

    Safe to run twice or on several workers at once (the service claims its work); ``today`` (ISO
    date) is for tests and back-fills only.
    """
    from qc import services

    day = datetime.date.fromisoformat(today) if today else None
    with task_context("qc.tasks.open_due_rechecks"):
        return services.open_due_rechecks(today=day)
