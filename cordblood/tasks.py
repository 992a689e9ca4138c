"""Scheduled work of the cordblood app (Celery beat, see CELERY_BEAT_SCHEDULE in bank/settings.py)."""

from __future__ import annotations

import datetime

from celery import shared_task

from bank.tasks import task_context


@shared_task(name="cordblood.tasks.end_temporary_unavailability")
def end_temporary_unavailability(today: str | None = None) -> int:
    """Daily: units temporarily unavailable past their end date are available again for search."""
    from cordblood.services.listing import end_temporary_unavailability as end

    day = datetime.date.fromisoformat(today) if today else None
    with task_context("cordblood.tasks.end_temporary_unavailability") as actor:
        return end(today=day, actor=actor)
