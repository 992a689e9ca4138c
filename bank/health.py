"""Is the bank able to raise alarms? Heartbeats of the Celery worker and beat, and readiness.

Temperature alarms for silent sensors are raised by a beat-scheduled task run by the worker, and every
e-mail leaves through the worker (``bank.outbox``). When either process stops nothing fails loudly, so
each leaves a ``Heartbeat``: beat on every tick of its scheduler (``bank.beat``), the worker when it starts
and from a task beat sends every 30 seconds (``bank.tasks.worker_heartbeat``) — that one also proves the
broker carries beat's messages to the worker. ``readiness()`` answers the readiness endpoints, and
``problems()`` the banner that admins and QA see on every page.
"""

from __future__ import annotations

import datetime
import logging
import os
import socket
from dataclasses import dataclass, field

from django.conf import settings
from django.db import DatabaseError, connection
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from bank.models import Heartbeat

log = logging.getLogger(__name__)

WORKER = "worker"
BEAT = "beat"
PROCESSES = (WORKER, BEAT)


def process_label() -> str:
    return f"{socket.gethostname()} pid {os.getpid()}"[:200]


def record_heartbeat(name: str, detail: str = "") -> None:
    """``name`` (worker or beat) is alive now."""
    now = timezone.now()
    detail = (detail or process_label())[:200]
    if not Heartbeat.objects.filter(name=name).update(seen_at=now, detail=detail):
        Heartbeat.objects.update_or_create(name=name, defaults={"seen_at": now, "detail": detail})


def max_age() -> datetime.timedelta:
    return datetime.timedelta(seconds=settings.HEARTBEAT_MAX_AGE_SECONDS)


@dataclass
class Check:
    ok: bool
    detail: dict = field(default_factory=dict)


@dataclass
class Readiness:
    checks: dict[str, Check]

    @property
    def ready(self) -> bool:
        return all(check.ok for check in self.checks.values())

    def as_dict(self, *, details: bool) -> dict:
        """The answer of the readiness endpoints: the status and each check's verdict, with the times and
        counts behind them only for admins (``details``)."""
        body: dict = {"status": "ok" if self.ready else "unavailable"}
        body["checks"] = {
            name: ({"ok": check.ok, **check.detail} if details else {"ok": check.ok})
            for name, check in self.checks.items()
        }
        return body


def readiness(now: datetime.datetime | None = None) -> Readiness:
    """The database answers, worker and beat were seen within ``HEARTBEAT_MAX_AGE_SECONDS``, and no outbox
    message has waited longer than ``OUTBOX_STALE_MINUTES``. Never raises."""
    from bank import outbox
    from bank.models import OutboxMessage

    now = now or timezone.now()
    checks: dict[str, Check] = {}
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
        seen = dict(Heartbeat.objects.filter(name__in=PROCESSES).values_list("name", "seen_at"))
        stale = outbox.stale_pending(now)
        stale_count = stale.count()
        oldest = stale.order_by("created_at").values_list("created_at", flat=True).first()
        pending = OutboxMessage.objects.filter(status=OutboxMessage.Status.PENDING).count()
        dead = OutboxMessage.objects.filter(status=OutboxMessage.Status.DEAD).count()  # for admins to send again
    except DatabaseError as exc:
        log.warning("readiness: the database does not answer (%s)", exc)
        checks["database"] = Check(False, {"error": type(exc).__name__})
        for name in (*PROCESSES, "outbox"):
            checks[name] = Check(False, {"error": "database unavailable"})
        return Readiness(checks)
    checks["database"] = Check(True)
    for name in PROCESSES:
        at = seen.get(name)
        age = (now - at).total_seconds() if at else None
        checks[name] = Check(at is not None and age <= settings.HEARTBEAT_MAX_AGE_SECONDS,
                             {"seen_at": at.isoformat() if at else None,
                              "age_seconds": round(age) if age is not None else None})
    checks["outbox"] = Check(stale_count == 0, {
        "pending": pending, "stale": stale_count, "oldest_stale_at": oldest.isoformat() if oldest else None,
        "dead": dead,
    })
    return Readiness(checks)


def _when(at: datetime.datetime, now: datetime.datetime) -> str:
    local, today = timezone.localtime(at), timezone.localtime(now).date()
    return local.strftime("%H:%M") if local.date() == today else local.strftime("%Y-%m-%d %H:%M")


def problems(now: datetime.datetime | None = None) -> list[str]:
    """What stops alarms from being raised or sent, in words for the banner (empty when all is well)."""
    now = now or timezone.now()
    state = readiness(now)
    messages = []
    if not state.checks["database"].ok:
        return [_("The database does not answer: temperature alarms cannot be recorded.")]
    seen = {name: datetime.datetime.fromisoformat(state.checks[name].detail["seen_at"])
            for name in PROCESSES if state.checks[name].detail.get("seen_at")}
    if not state.checks[WORKER].ok:
        messages.append(
            _("The worker has not run since %(time)s: temperature alarms are not being raised or e-mailed. "
              "Check the worker.") % {"time": _when(seen[WORKER], now)}
            if WORKER in seen else
            _("The worker has never reported: temperature alarms are not being raised or e-mailed. "
              "Check the worker.")
        )
    if not state.checks[BEAT].ok:
        messages.append(
            _("The scheduler has not run since %(time)s: silent-sensor alarms are not being raised. "
              "Check the scheduler (Celery beat).") % {"time": _when(seen[BEAT], now)}
            if BEAT in seen else
            _("The scheduler has never reported: silent-sensor alarms are not being raised. "
              "Check the scheduler (Celery beat).")
        )
    outbox = state.checks["outbox"]
    if not outbox.ok:
        oldest = datetime.datetime.fromisoformat(outbox.detail["oldest_stale_at"])
        messages.append(
            ngettext("%(n)d e-mail or job has waited since %(time)s to be sent. Check the worker and the mail "
                     "server.",
                     "%(n)d e-mails or jobs have waited since %(time)s to be sent. Check the worker and the mail "
                     "server.", outbox.detail["stale"])
            % {"n": outbox.detail["stale"], "time": _when(oldest, now)}
        )
    return messages
