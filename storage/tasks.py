"""Celery tasks of the storage app: the sensor watch (beat) and alarm notifications.

Tasks take ids, fetch again and call a service; a vanished record is not an error.
"""

from __future__ import annotations

import datetime

from celery import shared_task

from bank.tasks import task_context

# Alarms are notified in the transaction that raises them; one left unnotified all the same (raised by a
# path that does not notify, or before an upgrade) is swept up after this long.
NOTIFY_SWEEP_AFTER = datetime.timedelta(minutes=2)


@shared_task(name="storage.tasks.check_silent_sensors")
def check_silent_sensors() -> dict:
    """Beat, every minute: raise ``sensor_silent`` for units with no reading for their configured time,
    and notify any alarm left unnotified. Returns the ids of the alarms raised."""
    from storage.services import raise_silent_sensor_alarms, send_alarm_notifications

    with task_context("storage.tasks.check_silent_sensors"):
        raised = raise_silent_sensor_alarms()
        swept = send_alarm_notifications(older_than=NOTIFY_SWEEP_AFTER)
    return {"raised": [a.pk for a in raised], "notified_late": [a.pk for a in swept]}


@shared_task(name="storage.tasks.notify_alarms")
def notify_alarms(alarm_ids: list[int]) -> list[int]:
    """Tell technicians and QA about alarms not yet notified (in-app and e-mail). Each alarm is notified once.

    New alarms are notified as they are raised; this task serves messages queued before that, and scripts."""
    from storage.services import send_alarm_notifications

    with task_context("storage.tasks.notify_alarms"):
        return [a.pk for a in send_alarm_notifications(alarm_ids)]


@shared_task(name="storage.tasks.record_alarm_vials")
def record_alarm_vials(alarm_id: int) -> int | None:
    """List the vials that were in an excursion's unit when it was raised (once; a retry does nothing).

    New excursions are listed by a job (``storage.excursion_snapshot``, storage.jobs) whose progress the alarm page
    shows; this task stays for the messages queued before that, for alarms raised with no account to run a job as,
    and for scripts. Both call the same service, which claims the alarm, so they never list twice."""
    from storage.services.alarms import record_alarm_vials as record

    with task_context("storage.tasks.record_alarm_vials"):
        return record(alarm_id)


@shared_task(name="storage.tasks.purge_expired_readings")
def purge_expired_readings() -> dict:
    """Beat, daily: delete raw readings past ``READINGS_RAW_RETENTION_DAYS`` (never those an alarm needs), after
    rebuilding their hourly and daily summaries. Returns, per unit, how many went and how many stayed."""
    from storage.services import purge_expired_readings as purge

    with task_context("storage.tasks.purge_expired_readings"):
        purges = purge()
    return {str(p.unit_id): {"deleted": p.deleted, "kept": p.kept} for p in purges}
