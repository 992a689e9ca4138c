"""Scheduled work of the quality app (Celery beat, see CELERY_BEAT_SCHEDULE in bank/settings.py)."""

from __future__ import annotations

import datetime

from celery import shared_task

from bank.tasks import task_context


@shared_task(name="quality.tasks.send_reminders")
def send_reminders(today: str | None = None) -> dict[str, int]:
    """Daily: remind trainees of expiring trainings and QA of calibrations falling due (each record once; safe to
    run twice or on several workers). ``today`` (ISO date) is for tests and back-fills only."""
    from quality import services

    day = datetime.date.fromisoformat(today) if today else None
    with task_context("quality.tasks.send_reminders"):
        return services.send_reminders(today=day)
