"""Temperature readings, excursion and silent-sensor alarms, acknowledgement with an e-signature."""

import datetime

import pytest
from django.core import mail
from django.core.exceptions import ValidationError
from django.test import override_settings
from django.utils import timezone

from bank import outbox
from bank.errors import Conflict, Forbidden
from bank.jobs import run_job
from bank.models import Notification, OutboxMessage
from bank.signatures import signatures_for
from storage.models import Alarm, AlarmVial, StorageUnit, TemperatureReading
from storage.services import (
    acknowledge_alarm,
    raise_silent_sensor_alarms,
    record_reading,
    record_readings,
    send_alarm_notifications,
    store_lot,
)
from storage.tasks import record_alarm_vials
from tests.factories import StorageUnitFactory

pytestmark = pytest.mark.django_db

NOW = timezone.now


def ago(minutes):
    return timezone.now() - datetime.timedelta(minutes=minutes)


@pytest.fixture(autouse=True)
def _sensor_bound(request):
    """The tests' sensor posts for the layout's tanks (a sensor posts only for the units it is bound to)."""
    if "layout" in request.fixturenames and "users" in request.fixturenames:
        from storage.services import bind_sensors

        layout, users = request.getfixturevalue("layout"), request.getfixturevalue("users")
        for unit in (layout.unit, layout.q_unit):
            bind_sensors(unit, ["sensor"], actor=users["admin"])


def test_in_range_reading_updates_last_reading_only(layout, users):
    at = ago(1)
    reading, created = record_reading(layout.unit, temperature_c="-180.5", recorded_at=at, actor=users["sensor"])
    assert created and reading.sensor == users["sensor"]
    layout.unit.refresh_from_db()
    assert layout.unit.last_reading_at == at
    # a retried POST with the same time is not stored twice; an older reading does not move the clock back
    again, created = record_reading(layout.unit, temperature_c="-180.5", recorded_at=at, actor=users["sensor"])
    assert not created and again.pk == reading.pk
    record_reading(layout.unit, temperature_c="-181", recorded_at=ago(5), actor=users["sensor"])
    layout.unit.refresh_from_db()
    assert layout.unit.last_reading_at == at
    assert TemperatureReading.objects.count() == 2 and not Alarm.objects.exists()


@pytest.mark.parametrize("value,at,field", [
    ("warm", None, "temperature_c"), ("-300", None, "temperature_c"), ("NaN", None, "temperature_c"),
    ("-180", "future", "recorded_at"), ("-180", "naive", "recorded_at"),
])
def test_bad_readings_are_refused(layout, users, value, at, field):
    if at == "future":
        at = timezone.now() + datetime.timedelta(hours=1)
    elif at == "naive":
        at = datetime.datetime(2026, 1, 1, 12, 0)
    with pytest.raises(ValidationError) as exc:
        record_reading(layout.unit, temperature_c=value, recorded_at=at, actor=users["sensor"])
    assert field in exc.value.message_dict
    assert not TemperatureReading.objects.exists()


def test_out_of_range_reading_raises_an_excursion_recording_the_vials(layout, users, released_lot, quarantine_lot):
    store_lot(released_lot, [layout.box], actor=users["technician"])
    store_lot(quarantine_lot, [layout.q_box], actor=users["technician"])
    reading, _created = record_reading(layout.unit, temperature_c="-120", recorded_at=ago(3), actor=users["sensor"])
    alarm = Alarm.objects.get()
    assert (alarm.kind, alarm.status, alarm.unit, alarm.reading) == ("excursion", "active", layout.unit, reading)
    assert "-120" in alarm.message and alarm.peak_temperature_c == -120
    # The sensor's request only started the job that lists the vials (its task in the outbox): the worker runs it.
    recorded = AlarmVial.objects.filter(alarm=alarm)
    assert not recorded.exists() and alarm.vials_recorded_at is None
    job = alarm.snapshot_job
    assert (job.kind, job.status, job.user) == ("storage.excursion_snapshot", "queued", users["sensor"])
    assert OutboxMessage.objects.filter(payload__name="bank.tasks.run_job", payload__args=[job.pk]).exists()
    assert run_job(job.pk) == "done"
    job.refresh_from_db()
    assert (job.result["vials"], job.result["boxes"]) == (4, 1)
    assert run_job(job.pk) is None  # a redelivered task finds the job finished
    assert record_alarm_vials(alarm.pk) is None  # and the older task lists nothing twice
    assert set(recorded.values_list("vial__lot", flat=True)) == {released_lot.pk}
    assert recorded.count() == 4
    assert set(recorded.values_list("box", "row")) == {(layout.box.pk, 1), (layout.box.pk, 2)}
    # more out-of-range readings: no duplicate, the peak follows the worst
    record_reading(layout.unit, temperature_c="-100", recorded_at=ago(2), actor=users["sensor"])
    record_reading(layout.unit, temperature_c="-140", recorded_at=ago(1), actor=users["sensor"])
    alarm.refresh_from_db()
    assert Alarm.objects.count() == 1 and alarm.peak_temperature_c == -100
    # too cold is an excursion too
    record_reading(layout.q_unit, temperature_c="-200", recorded_at=ago(1), actor=users["sensor"])
    assert Alarm.objects.get(unit=layout.q_unit).kind == "excursion"


def test_one_excursion_per_episode(layout, users):
    record_reading(layout.unit, temperature_c="-120", recorded_at=ago(10), actor=users["sensor"])
    alarm = Alarm.objects.get()
    acknowledge_alarm(alarm, actor=users["technician"], password="correct-horse-battery", reason="refilling LN2")
    record_reading(layout.unit, temperature_c="-130", recorded_at=ago(9), actor=users["sensor"])
    assert Alarm.objects.count() == 1  # still the acknowledged episode
    record_reading(layout.unit, temperature_c="-170", recorded_at=ago(8), actor=users["sensor"])
    record_reading(layout.unit, temperature_c="-125", recorded_at=ago(7), actor=users["sensor"])
    assert Alarm.objects.count() == 2 and Alarm.objects.filter(status="active").count() == 1


def test_batch_of_readings(layout, users):
    readings, created = record_readings(
        layout.unit, [(-180, ago(30)), (-179, ago(20)), (-120, ago(10)), (-181, ago(0))], actor=users["sensor"])
    assert len(created) == 4
    alarm = Alarm.objects.get()
    assert alarm.reading == readings[2]
    layout.unit.refresh_from_db()
    assert layout.unit.last_reading_at == readings[3].recorded_at


def set_heard(unit, minutes_ago):
    StorageUnit.objects.filter(pk=unit.pk).update(last_reading_at=ago(minutes_ago), created_at=ago(10_000))


@override_settings(SENSOR_SILENT_MINUTES=30)
def test_silent_sensor_alarm_once_per_silence(layout, users):
    set_heard(layout.unit, 45)          # silent (30 min default)
    set_heard(layout.q_unit, 10)        # fine
    set_heard(layout.mirror_unit, 20)
    StorageUnit.objects.filter(pk=layout.mirror_unit.pk).update(sensor_silent_minutes=15)  # silent by its own time
    off = StorageUnitFactory(name="OFF", active=False)
    set_heard(off, 500)
    never = StorageUnitFactory(name="NEVER")
    StorageUnit.objects.filter(pk=never.pk).update(created_at=ago(60))  # laid out an hour ago, never heard from
    raised = raise_silent_sensor_alarms()
    assert {a.unit.name for a in raised} == {"LN2-M", "LN2-N", "NEVER"}
    assert all(a.kind == "sensor_silent" and a.status == "active" for a in raised)
    assert raise_silent_sensor_alarms() == []  # no duplicate while active
    unit_alarm = Alarm.objects.get(unit=layout.unit)
    acknowledge_alarm(unit_alarm, actor=users["qa"], password="correct-horse-battery", reason="sensor cable")
    assert raise_silent_sensor_alarms() == []  # no new alarm for the same silence
    Alarm.objects.filter(pk=unit_alarm.pk).update(raised_at=ago(50))  # as if raised 50 minutes ago
    record_reading(layout.unit, temperature_c=-180, recorded_at=ago(40), actor=users["sensor"])
    raised = raise_silent_sensor_alarms()  # heard from again, then silent again: a new alarm
    assert [a.unit for a in raised] == [layout.unit]


def test_unique_active_alarm_is_a_database_rule(layout):
    from django.db import IntegrityError, transaction

    Alarm.objects.create(unit=layout.unit, kind="sensor_silent")
    with pytest.raises(IntegrityError), transaction.atomic():
        Alarm.objects.create(unit=layout.unit, kind="sensor_silent")
    Alarm.objects.create(unit=layout.unit, kind="excursion")
    Alarm.objects.create(unit=layout.unit, kind="sensor_silent", status="acknowledged")


def test_acknowledge_needs_reason_and_signature(layout, users):
    record_reading(layout.unit, temperature_c="-120", recorded_at=ago(1), actor=users["sensor"])
    alarm = Alarm.objects.get()
    with pytest.raises(ValidationError):
        acknowledge_alarm(alarm, actor=users["qa"], password="correct-horse-battery", reason=" ")
    with pytest.raises(Forbidden) as exc:
        acknowledge_alarm(alarm, actor=users["qa"], password="wrong", reason="checked")
    assert exc.value.code == "signature_invalid"
    alarm.refresh_from_db()
    assert alarm.status == "active" and not signatures_for(alarm).exists()
    acknowledge_alarm(alarm, actor=users["qa"], password="correct-horse-battery", reason="lid left open 3 min")
    alarm.refresh_from_db()
    assert (alarm.status, alarm.acknowledged_by, alarm.acknowledgement_reason) == (
        "acknowledged", users["qa"], "lid left open 3 min")
    sig = signatures_for(alarm).get()
    assert sig.signer == users["qa"] and sig.meaning == "acknowledgement" and sig.statement == "lid left open 3 min"
    assert alarm.history.first().history_change_reason == "lid left open 3 min"
    with pytest.raises(Conflict) as exc:
        acknowledge_alarm(alarm, actor=users["technician"], password="correct-horse-battery", reason="again")
    assert exc.value.code == "alarm_not_active"


def test_notifications_go_to_technicians_and_qa_once(layout, users):
    # The alarm is notified in the transaction that raises it (the e-mails wait in the outbox)...
    record_reading(layout.unit, temperature_c="-120", recorded_at=ago(1), actor=users["sensor"])
    alarm = Alarm.objects.get()
    alarm.refresh_from_db()
    assert alarm.notified_at is not None
    notes = Notification.objects.filter(level="alarm")
    assert set(notes.values_list("recipient__username", flat=True)) == {"technician", "qa"}
    assert "LN2-M" in notes.first().subject and notes.first().link == f"/storage/alarms/{alarm.pk}/"
    emails = OutboxMessage.objects.filter(kind="email", status="pending")
    assert sorted(m.payload["to"][0] for m in emails) == ["qa@bank.example", "technician@bank.example"]
    # ... and never again: a retried task or the sweep finds nothing left to tell.
    assert send_alarm_notifications([alarm.pk]) == []
    assert send_alarm_notifications(older_than=datetime.timedelta()) == []
    assert notes.count() == 2 and emails.count() == 2


def test_sweep_notifies_alarms_whose_message_was_lost(layout, users):
    Alarm.objects.create(unit=layout.unit, kind="sensor_silent", raised_at=ago(10), message="x")
    swept = send_alarm_notifications(older_than=datetime.timedelta(minutes=2))
    assert len(swept) == 1
    assert mail.outbox == []  # written to the outbox; the worker sends it
    assert outbox.deliver() == {"delivered": 2, "retry": 0, "dead": 0}
    assert sorted(tuple(m.to) for m in mail.outbox) == [("qa@bank.example",), ("technician@bank.example",)]


def test_alarm_email_links_to_the_alarm_on_the_site(layout, users, settings):
    settings.SITE_URL = "https://lims.bank.example"
    record_reading(layout.unit, temperature_c="-120", recorded_at=ago(1), actor=users["sensor"])
    alarm = Alarm.objects.get()
    outbox.deliver()
    assert len(mail.outbox) == 2
    assert all(f"https://lims.bank.example/storage/alarms/{alarm.pk}/" in m.body for m in mail.outbox)
    # the in-app notification keeps the site path
    assert Notification.objects.filter(level="alarm").first().link == f"/storage/alarms/{alarm.pk}/"


def test_the_worker_puts_a_vial_moved_since_the_reading_back_where_it_was(layout, users, released_lot):
    """The listing runs after the alarm: a vial moved out of the unit meanwhile is listed where it was then."""
    from storage.services import move_vial

    store_lot(released_lot, [layout.box], actor=users["technician"])
    reading, _created = record_reading(layout.unit, temperature_c="-120", recorded_at=ago(3), actor=users["sensor"])
    alarm = Alarm.objects.get()
    moved = released_lot.vials.order_by("pk").first()
    was = (moved.box_id, moved.row, moved.col)
    move_vial(moved, box=layout.mirror_box, row=1, col=1, actor=users["technician"], reason="make room")
    assert record_alarm_vials(alarm.pk) == 4
    listed = AlarmVial.objects.get(alarm=alarm, vial=moved)
    assert (listed.box_id, listed.row, listed.col) == was
    page_alarm = Alarm.objects.get(pk=alarm.pk)
    assert page_alarm.vials_recorded_at is not None
