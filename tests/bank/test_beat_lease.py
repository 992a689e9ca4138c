"""Beat on two hosts (issue 13): two schedulers over one database, and only the lease holder sends due tasks.
The other keeps its heartbeat, and takes over when the holder shuts down or its lease runs out."""

import datetime

import pytest
from django.utils import timezone

from bank.beat import HeartbeatScheduler, acquire_lease, release_lease
from bank.celery import app
from bank.models import Heartbeat

pytestmark = pytest.mark.django_db


class ProbeScheduler(HeartbeatScheduler):
    """Records what it would send instead of publishing it (no broker connection)."""

    producer = None

    def __init__(self, *args, **kwargs):
        self.sent: list[str] = []
        super().__init__(*args, **kwargs)

    def apply_entry(self, entry, producer=None):
        self.sent.append(entry.name)


def make(tmp_path, name):
    scheduler = ProbeScheduler(app=app, schedule_filename=str(tmp_path / f"schedule-{name}"))
    scheduler.update_from_dict({"probe": {"task": "bank.tasks.worker_heartbeat", "schedule": 3600.0}})
    return scheduler


def make_due(*schedulers):
    for scheduler in schedulers:
        entry = scheduler.schedule["probe"]
        entry.last_run_at = timezone.now() - datetime.timedelta(days=1)
        scheduler._heap = None  # re-read the schedule on the next tick


def run(scheduler, ticks=3):
    for _ in range(ticks):
        scheduler.tick()


def expire_lease():
    Heartbeat.objects.filter(name="beat").update(lease_until=timezone.now() - datetime.timedelta(seconds=1))


def test_only_the_lease_holder_sends(tmp_path):
    a, b = make(tmp_path, "a"), make(tmp_path, "b")
    try:
        for _round in range(3):
            make_due(a, b)
            run(a)
            run(b)
        assert a.sent == ["probe"] * 3 and b.sent == []
        assert a.is_leader() and not b.is_leader()
        row = Heartbeat.objects.get(name="beat")
        assert row.leader == a.holder and row.lease_until > timezone.now()
        # The one standing by keeps beat's heartbeat all the same.
        Heartbeat.objects.filter(name="beat").update(seen_at=timezone.now() - datetime.timedelta(minutes=10))
        b._last_heartbeat -= 31
        b.tick()
        assert Heartbeat.objects.get(name="beat").seen_at > timezone.now() - datetime.timedelta(seconds=5)
    finally:
        a.close()
        b.close()


def test_the_other_takes_over_after_a_clean_shutdown(tmp_path):
    a, b = make(tmp_path, "a"), make(tmp_path, "b")
    try:
        make_due(a, b)
        run(a)
        run(b)
        assert (a.sent, b.sent) == (["probe"], [])
        a.close()  # gives the lease up at once
        assert Heartbeat.objects.get(name="beat").leader == ""
        b._next_lease_attempt = 0  # its next renewal is due
        make_due(b)
        run(b)
        assert b.sent == ["probe"] and b.is_leader()
    finally:
        b.close()


def test_an_expired_lease_moves_and_the_old_holder_steps_down(tmp_path):
    a, b = make(tmp_path, "a"), make(tmp_path, "b")
    try:
        run(a)
        run(b)
        assert a.is_leader() and not b.is_leader()
        expire_lease()  # a stopped renewing (a host lost, a long pause)
        b._next_lease_attempt = 0
        make_due(a, b)
        run(b)
        assert b.sent == ["probe"] and b.is_leader()
        # a comes back: its renewal fails (b holds an unexpired lease) and it sends nothing more.
        a._next_lease_attempt = 0
        run(a)
        assert not a.is_leader() and a.sent == []
    finally:
        a.close()
        b.close()


def test_a_holder_that_cannot_reach_the_database_stops_sending_before_its_lease_ends(tmp_path, monkeypatch):
    a = make(tmp_path, "a")
    try:
        run(a)
        assert a.is_leader()

        def down(*args, **kwargs):
            raise RuntimeError("database down")

        monkeypatch.setattr("bank.beat.acquire_lease", down)
        a._next_lease_attempt = 0
        a.tick()
        assert a.is_leader()  # still inside the part of its lease it trusts
        a._leader_until -= a.lease_seconds  # ... time passes without a renewal
        make_due(a)
        a._next_lease_attempt = 0
        run(a)
        assert not a.is_leader() and a.sent == []
    finally:
        monkeypatch.undo()
        a.close()


def test_the_lease_is_one_conditional_update():
    assert acquire_lease("host-a", 60)  # makes beat's row
    assert acquire_lease("host-a", 60)  # renews
    assert not acquire_lease("host-b", 60)
    expire_lease()
    assert acquire_lease("host-b", 60)
    release_lease("host-a")  # not the holder: nothing changes
    assert Heartbeat.objects.get(name="beat").leader == "host-b"
    release_lease("host-b")
    assert acquire_lease("host-a", 60)


def test_every_scheduled_task_is_registered_and_safe_to_run_twice():
    """Each entry of CELERY_BEAT_SCHEDULE claims its work (SKIP LOCKED, a conditional UPDATE, an advisory lock or
    ON CONFLICT) or only deletes or stamps: a second run, or a run after a change of leader, is harmless. The
    list is kept here so that a new entry is looked at before it is scheduled on two hosts."""
    from django.conf import settings

    idempotent = {
        "qc.tasks.open_due_rechecks",  # SKIP LOCKED + ON CONFLICT DO NOTHING on qc_recheck_unique_due
        "storage.tasks.check_silent_sensors",  # SKIP LOCKED + partial unique active alarm; notified_at claim
        "storage.tasks.purge_expired_readings",  # per unit: row lock, then only what is past its last purge
        "bank.tasks.worker_heartbeat",  # stamps a row
        "bank.tasks.sweep_outbox",  # leases rows FOR UPDATE SKIP LOCKED
        "bank.tasks.sweep_jobs",  # re-sends only; bank.jobs.run_job claims each job under a row lock
        "bank.tasks.prune_outbox",  # deletes delivered rows past a cutoff
        "bank.tasks.seal_audit_chain",  # pg_try_advisory_lock: one sealer at a time
        "bank.tasks.audit_checkpoint",  # seals under the lock; a second checkpoint of the same head is harmless
        "bank.tasks.purge_expired_tokens",  # deletes expired tokens
        "transplant.tasks.expire_reservations",  # SKIP LOCKED on active reservations past their date
        "transplant.tasks.remind_follow_ups",  # conditional UPDATE of reminded_at claims each reminder
        "cordblood.tasks.end_temporary_unavailability",  # row lock and re-check of status and date
        "quality.tasks.send_reminders",  # conditional UPDATE of reminded_on claims each training and instrument
    }
    scheduled = {entry["task"] for entry in settings.CELERY_BEAT_SCHEDULE.values()}
    assert scheduled - idempotent == set(), "a new scheduled task: check it claims its work, then list it here"
