"""Scheduled work of the transplant app (Celery beat, see CELERY_BEAT_SCHEDULE in bank/settings.py)."""

from __future__ import annotations

import datetime

from celery import shared_task

from bank.tasks import task_context


@shared_task(name="transplant.tasks.expire_reservations")
def expire_reservations(today: str | None = None) -> int:
    """Hourly: free every reservation whose date has passed (the unit is listed available again)."""
    from transplant import services

    with task_context("transplant.tasks.expire_reservations"):
        return services.expire_reservations(today=datetime.date.fromisoformat(today) if today else None)


@shared_task(name="transplant.tasks.remind_follow_ups")
def remind_follow_ups(today: str | None = None) -> int:
    """Daily: remind centres of outcome follow-ups (day 100, one year) coming due or overdue."""
    from transplant import services

    with task_context("transplant.tasks.remind_follow_ups"):
        return services.remind_follow_ups(today=datetime.date.fromisoformat(today) if today else None)
