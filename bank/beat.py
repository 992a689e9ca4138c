"""Celery beat's scheduler with a heartbeat and a leader lease (``CELERY_BEAT_SCHEDULER``).

A task can only prove that the worker runs; that beat runs is proven here, in beat's own process: every
tick of the scheduler (at least every ``HEARTBEAT_INTERVAL_SECONDS``) records the ``beat`` heartbeat.
Beat keeps ticking, and so keeps its heartbeat, while the broker is down; the worker's heartbeat then
goes stale instead, which is the truth: nothing scheduled is being run.

Beat may run on two hosts (issue 13), so that losing one loses no alarm. Only the holder of the lease sends
due tasks: beat's ``Heartbeat`` row names the ``leader`` and its ``lease_until``. Each scheduler takes or renews
the lease every third of ``BEAT_LEASE_SECONDS`` with one conditional UPDATE (the holder is this scheduler, or
nobody, or the lease has run out), on the database's clock, so the hosts' clocks do not matter. The holder
trusts its lease for two thirds of its length after the attempt began, and so steps down before another can
take it over, even when it cannot reach the database to learn so. The other scheduler keeps its heartbeat
and sends nothing; it takes over within ``BEAT_LEASE_SECONDS`` (plus a third) after the holder stops. On a
clean shutdown the holder gives the lease up at once.

On taking over, a scheduler's schedule is the one it kept in its own file: an entry whose time passed while it
stood by is sent once (celery's catch-up after a restart), so a daily task due during the change-over is late,
never lost. Every scheduled task is idempotent (it claims its work), so that one extra run is harmless.
"""

from __future__ import annotations

import datetime
import logging
import os
import socket
import time
import uuid

from celery.beat import PersistentScheduler
from django.conf import settings

log = logging.getLogger(__name__)


def holder_label() -> str:
    """Who holds the lease: host, process and a per-scheduler token (two schedulers in one process differ)."""
    return f"{socket.gethostname()} pid {os.getpid()} {uuid.uuid4().hex[:8]}"[-200:]


def acquire_lease(holder: str, seconds: int) -> bool:
    """Take or renew beat's lease for ``seconds`` if ``holder`` has it, nobody has it, or it ran out. One
    conditional UPDATE (a row-level race between two schedulers has one winner); the row is made if missing."""
    from django.db import IntegrityError, transaction
    from django.db.models import Q
    from django.db.models.functions import Now

    from bank.health import BEAT
    from bank.models import Heartbeat

    until = Now() + datetime.timedelta(seconds=seconds)
    free = Q(leader=holder) | Q(leader="") | Q(lease_until__isnull=True) | Q(lease_until__lt=Now())
    if Heartbeat.objects.filter(free, name=BEAT).update(leader=holder, lease_until=until):
        return True
    if Heartbeat.objects.filter(name=BEAT).exists():
        return False  # someone else holds an unexpired lease
    try:
        with transaction.atomic():
            Heartbeat.objects.create(name=BEAT, leader=holder, detail=holder[:200])
    except IntegrityError:  # the other scheduler made the row first: try again next time
        return False
    return bool(Heartbeat.objects.filter(name=BEAT, leader=holder).update(lease_until=until))


def release_lease(holder: str) -> None:
    from bank.health import BEAT
    from bank.models import Heartbeat

    Heartbeat.objects.filter(name=BEAT, leader=holder).update(leader="", lease_until=None)


class HeartbeatScheduler(PersistentScheduler):
    _last_heartbeat = 0.0

    def __init__(self, *args, **kwargs):
        self.holder = holder_label()
        self._leader_until = 0.0  # monotonic time until which this scheduler may send
        self._next_lease_attempt = 0.0
        self._was_leader = False
        super().__init__(*args, **kwargs)

    @property
    def lease_seconds(self) -> int:
        return settings.BEAT_LEASE_SECONDS

    def is_leader(self) -> bool:
        return time.monotonic() < self._leader_until

    def tick(self, *args, **kwargs):
        interval = settings.HEARTBEAT_INTERVAL_SECONDS
        if time.monotonic() - self._last_heartbeat >= interval and self._beat():
            self._last_heartbeat = time.monotonic()
        if time.monotonic() >= self._next_lease_attempt:
            self._renew()
        wait = min(interval, max(self._next_lease_attempt - time.monotonic(), 1.0))
        if not self.is_leader():
            return wait  # standing by: nothing is sent, the schedule waits for the lease
        return min(super().tick(*args, **kwargs), wait)

    def _renew(self) -> None:
        from django.db import close_old_connections, connection

        started = time.monotonic()
        self._next_lease_attempt = started + self.lease_seconds / 3
        try:
            if not connection.in_atomic_block:
                close_old_connections()
            held = acquire_lease(self.holder, self.lease_seconds)
        except Exception as exc:  # the database is down: keep the lease only as long as it surely lasts
            log.warning("beat: could not renew the leader lease (%s)", exc)
            self._next_lease_attempt = started + min(5.0, self.lease_seconds / 3)
        else:
            # Held: trusted for two thirds of the lease from before the UPDATE. Not held: another beat has it.
            self._leader_until = started + self.lease_seconds * 2 / 3 if held else 0.0
        if self.is_leader() != self._was_leader:
            self._was_leader = self.is_leader()
            if self._was_leader:
                log.info("beat: %s now sends the scheduled tasks (leader lease taken)", self.holder)
            else:
                log.warning("beat: %s stands by: another beat holds the leader lease", self.holder)

    def close(self):
        if self._was_leader:
            try:
                release_lease(self.holder)
            except Exception as exc:  # shutting down with the database gone: the lease runs out by itself
                log.warning("beat: could not give up the leader lease (%s)", exc)
            self._leader_until = 0.0
        super().close()

    def _beat(self) -> bool:
        from django.db import close_old_connections, connection

        from bank.health import BEAT, record_heartbeat

        try:
            if not connection.in_atomic_block:
                close_old_connections()  # beat lives for months: never reuse a connection the database dropped
            record_heartbeat(BEAT)
        except Exception as exc:  # the database is down: say so, keep scheduling
            log.warning("beat: could not record the heartbeat (%s)", exc)
            return False
        return True
