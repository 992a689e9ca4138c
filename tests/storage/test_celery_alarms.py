"""Alarms through a real Celery worker on Redis (not eager): the beat task raises sensor_silent, an
out-of-range reading posted by a sensor raises an excursion at once, and the worker notifies people and runs the
job that lists the vials then in the unit."""

import datetime
import time

import pytest
from django.conf import settings
from django.utils import timezone
from rest_framework.test import APIClient

from bank.models import Job, Notification
from bank.services import issue_token
from storage.models import Alarm, AlarmVial, StorageUnit
from storage.services import bind_sensors, store_lot
from storage.tasks import check_silent_sensors, record_alarm_vials
from tests.factories import BoxFactory, LotFactory, RackFactory, StorageUnitFactory


def wait_for(predicate, timeout=30.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.2)
    return False


@pytest.mark.celery_worker
def test_silent_sensor_and_excursion_through_the_worker(celery_worker, users):
    assert not celery_worker.conf.task_always_eager
    entry = settings.CELERY_BEAT_SCHEDULE["storage-check-silent-sensors"]
    assert entry["task"] == "storage.tasks.check_silent_sensors" and entry["task"] in celery_worker.tasks

    silent = StorageUnitFactory(name="LN2-SILENT", sensor_silent_minutes=20)
    heard = StorageUnitFactory(name="LN2-HEARD")
    StorageUnit.objects.filter(pk=silent.pk).update(last_reading_at=timezone.now() - datetime.timedelta(minutes=45))
    StorageUnit.objects.filter(pk=heard.pk).update(last_reading_at=timezone.now() - datetime.timedelta(minutes=2))

    # The beat task, run by the worker.
    result = check_silent_sensors.delay().get(timeout=30)
    alarm = Alarm.objects.get(kind="sensor_silent")
    assert result["raised"] == [alarm.pk] and alarm.unit == silent and alarm.status == "active"
    assert alarm.history.first().history_change_reason == "task storage.tasks.check_silent_sensors"
    assert check_silent_sensors.delay().get(timeout=30)["raised"] == []  # no duplicate while active
    # ...and the worker told technicians and QA (in-app; e-mail goes out with it).
    assert wait_for(lambda: Notification.objects.filter(subject__contains="LN2-SILENT").count() == 2)
    assert set(Notification.objects.filter(subject__contains="LN2-SILENT")
               .values_list("recipient__username", flat=True)) == {"technician", "qa"}

    # A sensor posts an out-of-range reading: the excursion exists when the response comes back.
    lot = LotFactory(status="released", vial_count=5)
    store_lot(lot, [BoxFactory(rack=RackFactory(unit=heard, name="HR1"), name="H-B1", rows=3, cols=3)],
              actor=users["technician"])
    bind_sensors(heard, ["sensor"], actor=users["admin"])
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION="Token " + issue_token(users["sensor"])[1])
    response = client.post(f"/api/v1/storage/units/{heard.pk}/readings/", {"temperature_c": -131.5}, format="json")
    assert response.status_code == 201
    excursion = Alarm.objects.get(kind="excursion")
    assert response.data["alarm"] == excursion.pk and excursion.unit == heard
    assert excursion.reading.temperature_c == -131.5
    # (the lot's factory made more technicians, who are told too: count the standard two)
    assert wait_for(lambda: Notification.objects.filter(subject__startswith="Temperature excursion: LN2-HEARD",
                                                        recipient__username__in=["technician", "qa"]).count() == 2)
    excursion.refresh_from_db()
    assert excursion.notified_at is not None
    # ...and the worker lists the vials that were in the unit, as a job (the sensor's request did not wait for it).
    assert excursion.snapshot_job.kind == "storage.excursion_snapshot" and "bank.tasks.run_job" in celery_worker.tasks
    assert wait_for(lambda: Job.objects.filter(pk=excursion.snapshot_job_id, status="done").exists())
    job = Job.objects.get(pk=excursion.snapshot_job_id)
    assert (job.result["vials"], job.result["boxes"], job.error) == (5, 1, "")
    assert Alarm.objects.filter(pk=excursion.pk, vials_recorded_at__isnull=False).exists()
    assert set(AlarmVial.objects.filter(alarm=excursion).values_list("vial__lot", flat=True)) == {lot.pk}
    # The older task stays registered for messages queued before the job; it finds nothing left to list.
    assert "storage.tasks.record_alarm_vials" in celery_worker.tasks
    assert record_alarm_vials.delay(excursion.pk).get(timeout=30) is None
    assert AlarmVial.objects.filter(alarm=excursion).count() == 5
