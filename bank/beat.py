"""Celery beat's scheduler with a heartbeat (``CELERY_BEAT_SCHEDULER``).

A task can only prove that the worker runs; that beat runs is proven here, in beat's own process: every
tick of the scheduler (at least every ``HEARTBEAT_INTERVAL_SECONDS``) records the ``beat`` heartbeat.
Beat keeps ticking, and so keeps its heartbeat, while the broker is down; the worker's heartbeat then
goes stale instead, which is the truth: nothing scheduled is being run.
"""

from __future__ import annotations

import logging
import time

from celery.beat import PersistentScheduler
from django.conf import settings

log = logging.getLogger(__name__)


class HeartbeatScheduler(PersistentScheduler):
    _last_heartbeat = 0.0

    def tick(self, *args, **kwargs):
        interval = settings.HEARTBEAT_INTERVAL_SECONDS
        if time.monotonic() - self._last_heartbeat >= interval and self._beat():
            self._last_heartbeat = time.monotonic()
        return min(super().tick(*args, **kwargs), interval)

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
