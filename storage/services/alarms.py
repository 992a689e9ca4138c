"""Alarms: temperature excursions (with the vials then in the unit), silent sensors, acknowledgement
with an e-signature, and notifying technicians and QA once per alarm."""

from __future__ import annotations

import datetime
import logging
from collections.abc import Callable, Iterable
from decimal import Decimal

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import connection, transaction
from django.db.models import Exists, F, OuterRef
from django.db.models.functions import Coalesce
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _

from bank.audit import acting, bulk_create_audited, current_actor, current_reason
from bank.errors import Conflict
from bank.models import SignatureMeaning
from bank.outbox import enqueue_task
from bank.signatures import record_signature, verify_password
from lots.models import Vial
from storage.choices import AlarmKind, AlarmStatus
from storage.models import Alarm, AlarmVial, Box, Rack, StorageUnit, TemperatureReading, VialMove

log = logging.getLogger(__name__)


def _distance(unit: StorageUnit, temperature: Decimal) -> Decimal:
    if temperature > unit.max_temperature_c:
        return temperature - unit.max_temperature_c
    if temperature < unit.min_temperature_c:
        return unit.min_temperature_c - temperature
    return Decimal(0)


def _excursion(unit: StorageUnit, readings: list[TemperatureReading], *, actor) -> Alarm | None:
    """Raise (or extend) the excursion alarm of ``unit`` for out-of-range ``readings`` (unit locked)."""
    worst = max(readings, key=lambda r: _distance(unit, r.temperature_c))
    active = Alarm.objects.filter(unit=unit, kind=AlarmKind.EXCURSION, status=AlarmStatus.ACTIVE).first()
    if active is not None:
        if active.peak_temperature_c is None or _distance(unit, worst.temperature_c) > _distance(
                unit, active.peak_temperature_c):
            active.peak_temperature_c = worst.temperature_c
            active.save(update_fields=["peak_temperature_c"])
        return None
    first = readings[0]
    last = (
        Alarm.objects.filter(unit=unit, kind=AlarmKind.EXCURSION).select_related("reading")
        .order_by("-raised_at", "-id").first()
    )
    if last is not None:
        since = last.reading.recorded_at if last.reading_id else last.raised_at
        back_in_range = TemperatureReading.objects.filter(
            unit=unit, recorded_at__gt=since, recorded_at__lt=first.recorded_at,
            temperature_c__gte=unit.min_temperature_c, temperature_c__lte=unit.max_temperature_c,
        ).exists()
        if not back_in_range:
            return None  # the same episode (already acknowledged), or an old reading arriving late
    alarm = Alarm.objects.create(
        unit=unit, kind=AlarmKind.EXCURSION, reading=first, peak_temperature_c=worst.temperature_c,
        message=_("%(unit)s read %(t)s °C at %(at)s; the allowed range is %(min)s to %(max)s °C.") % {
            "unit": unit.name, "t": first.temperature_c,
            "at": timezone.localtime(first.recorded_at).strftime("%Y-%m-%d %H:%M"),
            "min": unit.min_temperature_c, "max": unit.max_temperature_c,
        },
    )
    # A full tank holds tens of thousands of vials: the worker lists them, the sensor gets its answer at once.
    _start_snapshot(alarm, actor)
    _notify_now([alarm.pk])
    return alarm


RECORD_VIALS_TASK = "storage.tasks.record_alarm_vials"
# Boxes listed per step of the snapshot: the job's progress moves every this many boxes (about 5,000 vials).
SNAPSHOT_BOXES_PER_STEP = 50


def _start_snapshot(alarm: Alarm, actor) -> None:
    """Hand the listing of the excursion's vials to the worker, in the transaction that raises the alarm.

    It is a job (``storage.excursion_snapshot``, storage.jobs): the job row and its task go through the outbox with
    the alarm, so nothing is lost while Redis is down, and the alarm page shows its progress bar. A caller with no
    account to run the job as (a script passing no actor) gets the plain task, which lists the same vials.
    """
    from storage.jobs import start_excursion_snapshot

    if actor is None or getattr(actor, "pk", None) is None:
        enqueue_task(RECORD_VIALS_TASK, [alarm.pk])
        return
    job = start_excursion_snapshot(alarm, user=actor)
    # Bookkeeping, like notified_at: no history row of its own (the alarm's creation is the audited event).
    Alarm.objects.filter(pk=alarm.pk).update(snapshot_job=job)
    alarm.snapshot_job = job


def record_alarm_vials(alarm_id: int, *, progress: Callable[[int, int], None] | None = None) -> int | None:
    """AlarmVial rows (and their history rows) for every vial that was in the alarm's unit when the
    excursion was raised, and where it was. Returns how many, or None when another run
    recorded them already (claimed by a conditional UPDATE: a re-run never lists twice).

    Runs in the worker, seconds after the reading (the snapshot job, or the task ``storage.tasks.record_alarm_vials``);
    a vial moved meanwhile is put back where it was then, from its chain of custody (its first move since the alarm
    says where it came from). The boxes are listed ``SNAPSHOT_BOXES_PER_STEP`` at a time, with
    ``progress(boxes_done, boxes_total)`` after each step, all in one transaction: the list appears whole or not at
    all (the API's count stays 0 until ``vials_recorded_at``), and a run cut short leaves nothing for the next one to
    trip over. On PostgreSQL one INSERT … SELECT per step writes the rows and their history rows (the rows
    ``bulk_create_audited`` would write).
    """
    report = progress or (lambda done, total: None)
    with transaction.atomic():
        claimed = Alarm.objects.filter(pk=alarm_id, kind=AlarmKind.EXCURSION, vials_recorded_at__isnull=True
                                       ).update(vials_recorded_at=timezone.now())
        if not claimed:
            return None
        alarm = Alarm.objects.get(pk=alarm_id)
        as_of = alarm.raised_at  # what the unit held when the bank learned of it (as the request used to list)
        if connection.vendor != "postgresql":
            return _record_alarm_vials_portable(alarm, as_of, report)
        params = {"as_of": as_of, "unit": alarm.unit_id}
        with connection.cursor() as cursor:
            boxes_then = f"{_vials_then_sql(chunk=False)} SELECT DISTINCT box_id FROM then_ ORDER BY box_id"  # noqa: S608
            cursor.execute(boxes_then, params)
            boxes = [row[0] for row in cursor.fetchall()]
            report(0, len(boxes))
            actor = current_actor()
            params.update({"alarm": alarm.pk, "now": timezone.now(), "reason": current_reason()[:100] or None,
                           "user": getattr(actor, "pk", None)})
            recorded = 0
            for start in range(0, len(boxes), SNAPSHOT_BOXES_PER_STEP):
                step = boxes[start:start + SNAPSHOT_BOXES_PER_STEP]
                cursor.execute(
                    f"""
                    {_vials_then_sql(chunk=True)}, recorded AS (
                        INSERT INTO {AlarmVial._meta.db_table} (alarm_id, vial_id, box_id, "row", col)
                        SELECT %(alarm)s, vial_id, box_id, "row", col FROM then_ ORDER BY vial_id
                        RETURNING id, alarm_id, vial_id, box_id, "row", col
                    )
                    INSERT INTO {AlarmVial.history.model._meta.db_table}
                        (id, alarm_id, vial_id, box_id, "row", col, history_date, history_change_reason, history_type,
                         history_user_id)
                    SELECT id, alarm_id, vial_id, box_id, "row", col, %(now)s, %(reason)s, '+', %(user)s
                    FROM recorded
                    """,  # noqa: S608 — table names come from the models, values are parameters
                    {**params, "boxes": step},
                )
                recorded += cursor.rowcount
                report(start + len(step), len(boxes))
            return recorded


def _vials_then_sql(*, chunk: bool) -> str:
    """The CTEs ``later`` (each vial's first move since ``%(as_of)s``) and ``then_`` (every vial in unit ``%(unit)s``
    at ``%(as_of)s``: ``vial_id, box_id, row, col``), only those of the boxes ``%(boxes)s`` when ``chunk``."""
    in_boxes = "AND v.box_id = ANY(%(boxes)s)" if chunk else ""
    were_in_boxes = "AND l.from_box_id = ANY(%(boxes)s)" if chunk else ""
    return f"""
        WITH later AS (
            SELECT DISTINCT ON (m.vial_id) m.vial_id, m.from_box_id, m.from_row, m.from_col, m.from_rack_id
            FROM {VialMove._meta.db_table} m WHERE m.moved_at > %(as_of)s
            ORDER BY m.vial_id, m.moved_at, m.id
        ), then_ AS (
            SELECT v.id AS vial_id, v.box_id, v."row", v.col
            FROM {Vial._meta.db_table} v
            JOIN {Box._meta.db_table} b ON b.id = v.box_id
            JOIN {Rack._meta.db_table} r ON r.id = b.rack_id
            WHERE r.unit_id = %(unit)s {in_boxes} AND NOT EXISTS (SELECT 1 FROM later l WHERE l.vial_id = v.id)
            UNION ALL
            SELECT l.vial_id, l.from_box_id, l.from_row, l.from_col
            FROM later l JOIN {Rack._meta.db_table} r ON r.id = l.from_rack_id
            WHERE l.from_box_id IS NOT NULL {were_in_boxes} AND COALESCE((
                -- the rack's unit then: a rack moved to another unit since (move_rack) keeps its id
                SELECT h.unit_id FROM {Rack.history.model._meta.db_table} h
                WHERE h.id = l.from_rack_id AND h.history_date <= %(as_of)s
                ORDER BY h.history_date DESC, h.history_id DESC LIMIT 1
            ), r.unit_id) = %(unit)s
        )"""  # noqa: S608 — table names come from the models, values are parameters


def _record_alarm_vials_portable(alarm: Alarm, as_of, report: Callable[[int, int], None]) -> int:
    """``record_alarm_vials`` on the embedded SQLite: the same rows through the ORM, box by box."""
    by_box: dict[int, list[tuple[int, int, int, int]]] = {}
    for row in _vials_in_unit_at(alarm.unit_id, as_of):
        by_box.setdefault(row[1], []).append(row)
    boxes = sorted(by_box)
    report(0, len(boxes))
    for start in range(0, len(boxes), SNAPSHOT_BOXES_PER_STEP):
        step = boxes[start:start + SNAPSHOT_BOXES_PER_STEP]
        bulk_create_audited(AlarmVial, [AlarmVial(alarm=alarm, vial_id=pk, box_id=box, row=row, col=col)
                                        for box in step for pk, box, row, col in by_box[box]], batch_size=2000)
        report(start + len(step), len(boxes))
    return sum(len(rows) for rows in by_box.values())


def _vials_in_unit_at(unit_id: int, as_of) -> list[tuple[int, int, int, int]]:
    """``[(vial, box, row, col)]`` in the unit at ``as_of`` (the embedded SQLite's path; same rule as above)."""
    first_move_after: dict[int, VialMove] = {}
    for move in VialMove.objects.filter(moved_at__gt=as_of).select_related("from_rack").order_by(
            "vial_id", "moved_at", "id"):
        first_move_after.setdefault(move.vial_id, move)
    rows = [(pk, box, row, col) for pk, box, row, col in Vial.objects.filter(box__rack__unit_id=unit_id)
            .values_list("pk", "box_id", "row", "col") if pk not in first_move_after]
    racks = {m.from_rack_id for m in first_move_after.values() if m.from_rack_id}
    unit_then = {}
    for rack_id, rack_unit in (Rack.history.filter(id__in=racks, history_date__lte=as_of)
                               .order_by("id", "history_date", "history_id").values_list("id", "unit_id")):
        unit_then[rack_id] = rack_unit  # the last one before the alarm wins
    rows += [(m.vial_id, m.from_box_id, m.from_row, m.from_col) for m in first_move_after.values()
             if m.from_box_id and m.from_rack and unit_then.get(m.from_rack_id, m.from_rack.unit_id) == unit_id]
    return sorted(rows)


def silent_units():
    """Units in service whose sensor has been silent longer than allowed and that have no alarm for it yet.

    Silent means no reading (or, for a unit never heard from, no reading since it was laid out) for the
    unit's ``sensor_silent_minutes`` or the bank's ``SENSOR_SILENT_MINUTES``. One alarm per silence:
    none while one is active, and none again until a new reading has arrived.
    """
    now = timezone.now()
    default = settings.SENSOR_SILENT_MINUTES
    # Deadlines are computed here, not in SQL: SQLite (the embedded default) has no interval arithmetic,
    # and a bank has at most a few hundred units in service.
    candidates = [
        pk
        for pk, last, created, minutes in StorageUnit.objects.filter(active=True).values_list(
            "pk", "last_reading_at", "created_at", "sensor_silent_minutes"
        )
        if (last or created) + datetime.timedelta(minutes=minutes or default) < now
    ]
    silent_alarms = Alarm.objects.filter(unit=OuterRef("pk"), kind=AlarmKind.SENSOR_SILENT)
    return (
        StorageUnit.objects.filter(pk__in=candidates)
        .annotate(heard=Coalesce(F("last_reading_at"), F("created_at")))
        .exclude(Exists(silent_alarms.filter(status=AlarmStatus.ACTIVE)))
        .exclude(Exists(silent_alarms.filter(raised_at__gte=OuterRef("heard"))))
    )


def raise_silent_sensor_alarms(*, actor=None) -> list[Alarm]:
    """Raise a ``sensor_silent`` alarm for every unit whose sensor is silent (the beat task calls this).

    Candidate units are locked with SKIP LOCKED (a unit taking a reading right now is not silent) and
    checked again under the lock; the partial unique constraint forbids a second active alarm anyway.
    """
    with transaction.atomic(), acting(actor, current_reason() or _("sensor watch")):
        units = list(silent_units().select_for_update(skip_locked=True, of=("self",)).order_by("pk"))
        if not units:
            return []
        now = timezone.now()
        alarms = [
            Alarm(
                unit=unit, kind=AlarmKind.SENSOR_SILENT, raised_at=now,
                message=(
                    _("No reading from %(unit)s since %(at)s (allowed: %(n)d minutes). Check the sensor and the "
                      "tank.") % {"unit": unit.name, "at": timezone.localtime(unit.last_reading_at)
                                  .strftime("%Y-%m-%d %H:%M"), "n": unit.silent_minutes}
                    if unit.last_reading_at else
                    _("No reading has ever arrived from %(unit)s (allowed: %(n)d minutes). Connect its sensor.")
                    % {"unit": unit.name, "n": unit.silent_minutes}
                ),
            )
            for unit in units
        ]
        created = bulk_create_audited(Alarm, alarms)
        _notify_now([a.pk for a in created])
    return created


def acknowledge_alarm(alarm: Alarm, *, actor, password: str, reason: str,
                      meaning: str = SignatureMeaning.ACKNOWLEDGEMENT) -> Alarm:
    """Acknowledge an active alarm with a reason and an electronic signature.

    403 ``signature_invalid`` (wrong password, checked before anything is written and counted like a
    failed login), 409 ``alarm_not_active`` when someone acknowledged it already.
    """
    reason = (reason or "").strip()
    if not reason:
        raise ValidationError({"reason": [_("Say what was found and done: the reason is part of the record.")]})
    verify_password(actor, password)
    with transaction.atomic(), acting(actor, reason):
        locked = Alarm.objects.select_for_update().get(pk=alarm.pk)
        if locked.status != AlarmStatus.ACTIVE:
            raise Conflict(_("This alarm was already acknowledged."), code="alarm_not_active")
        locked.status = AlarmStatus.ACKNOWLEDGED
        locked.acknowledged_at = timezone.now()
        locked.acknowledged_by = actor
        locked.acknowledgement_reason = reason
        locked.save(update_fields=["status", "acknowledged_at", "acknowledged_by", "acknowledgement_reason"])
        record_signature(locked, signer=actor, meaning=meaning, statement=reason)
    return locked


# --- alarm notifications ---------------------------------------------------------------------------------


def _notify_now(alarm_ids: list[int]) -> None:
    """Tell people about new alarms in the transaction that raises them.

    The in-app notifications are written with the alarm, and the e-mails as outbox messages the worker
    sends after the commit (``bank.outbox``): nothing here waits on the broker or the mail server, so a
    sensor's POST answers at once even while Redis is down, and no alarm is told twice or never.
    """
    if alarm_ids:
        send_alarm_notifications(alarm_ids)


def send_alarm_notifications(alarm_ids: Iterable[int] | None = None, *, older_than: datetime.timedelta | None = None
                             ) -> list[Alarm]:
    """Tell technicians and QA about alarms not yet notified (in-app and e-mail); each alarm once.

    The alarms are claimed with SKIP LOCKED and marked ``notified_at`` in the same transaction, so a
    retried task or the scheduler's sweep never notifies twice. Without ids: every active alarm left
    unnotified for longer than ``older_than`` (a lost message).
    """
    from bank.models import Notification
    from bank.notifications import notify_role

    qs = Alarm.objects.filter(notified_at__isnull=True)
    if alarm_ids is not None:
        qs = qs.filter(pk__in=list(alarm_ids))
    else:
        qs = qs.filter(status=AlarmStatus.ACTIVE, raised_at__lt=timezone.now() - (older_than or datetime.timedelta()))
    with transaction.atomic():
        alarms = list(qs.select_for_update(skip_locked=True, of=("self",)).select_related("unit").order_by("pk"))
        if not alarms:
            return []
        Alarm.objects.filter(pk__in=[a.pk for a in alarms]).update(notified_at=timezone.now())
        for kind in AlarmKind.values:
            of_kind = [a for a in alarms if a.kind == kind]
            if not of_kind:
                continue
            units = ", ".join(a.unit.name for a in of_kind)
            subject = (_("Temperature excursion: %(units)s") if kind == AlarmKind.EXCURSION
                       else _("Sensor silent: %(units)s")) % {"units": units}
            body = "\n".join(a.message for a in of_kind)
            body += "\n\n" + _("Check the unit, then acknowledge the alarm with a reason and your signature.")
            link = reverse("storage:alarm", args=[of_kind[0].pk]) if len(of_kind) == 1 else reverse("storage:alarms")
            notify_role("technician", "qa", subject=subject[:200], body=body, link=link,
                        level=Notification.Level.ALARM)
    return alarms
