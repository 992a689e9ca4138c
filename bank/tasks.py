"""Bank-wide Celery tasks and the helper every task uses to appear in the audit trail."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator

from celery import shared_task
from celery.signals import worker_ready
from django.contrib.auth import get_user_model

from bank.audit import acting

log = logging.getLogger(__name__)


@contextlib.contextmanager
def task_context(task_name: str, actor_id: int | None = None) -> Iterator[object]:
    """Run a task's service calls as ``actor_id`` (or as the scheduler), with the task named as reason."""
    actor = get_user_model().objects.filter(pk=actor_id).first() if actor_id else None
    with acting(actor, reason=f"task {task_name}"):
        yield actor


@shared_task(name="bank.tasks.notify_user")
def notify_user(user_id: int, subject: str, body: str = "", actor_id: int | None = None) -> int | None:
    """Send one in-app notification (and e-mail). Used to prove the worker round trip; returns its id."""
    from bank.notifications import notify

    user = get_user_model().objects.filter(pk=user_id).first()
    if user is None:  # the account vanished between enqueue and run: nothing to do
        return None
    with task_context("bank.tasks.notify_user", actor_id):
        return notify([user], subject=subject, body=body)[0].pk


# --- Operations (issue 11): the outbox and the heartbeats -------------------------------------------------


@shared_task(name="bank.tasks.deliver_outbox")
def deliver_outbox(ids: list[int] | None = None) -> dict[str, int]:
    """Deliver outbox messages: the ones a request just wrote (``ids``), or every due one."""
    from bank import outbox

    return outbox.deliver(ids)


@shared_task(name="bank.tasks.sweep_outbox")
def sweep_outbox() -> dict[str, int]:
    """Beat, every 30 s: deliver every due outbox message (retries, and what was written while the broker
    was down and no hand-off reached a worker)."""
    from bank import outbox

    return outbox.deliver()


@shared_task(name="bank.tasks.prune_outbox")
def prune_outbox() -> int:
    """Beat, daily: forget delivered outbox messages older than ``OUTBOX_KEEP_DAYS``."""
    from bank import outbox

    return outbox.prune()


@shared_task(name="bank.tasks.worker_heartbeat")
def worker_heartbeat() -> None:
    """Beat, every 30 s: the worker is alive and beat's messages reach it."""
    from bank.health import WORKER, record_heartbeat

    record_heartbeat(WORKER)


@worker_ready.connect(weak=False, dispatch_uid="bank.tasks.worker_ready_heartbeat")
def _worker_ready_heartbeat(sender=None, **kwargs) -> None:
    """A worker that has just started is alive: the banner clears at once after a restart."""
    from bank.health import WORKER, record_heartbeat

    try:
        record_heartbeat(WORKER)
    except Exception as exc:  # the database is not up yet: the periodic heartbeat catches up
        log.warning("worker: could not record the heartbeat at start-up (%s)", exc)


# --- Part 11 integrity (issue 11): the tamper-evident audit chain ------------------------------------------


@shared_task(name="bank.tasks.seal_audit_chain")
def seal_audit_chain() -> int:
    """Beat, every minute: chain the links written since the last run (one sealer at a time; PostgreSQL)."""
    from bank import audit_chain

    return audit_chain.seal()


@shared_task(name="bank.tasks.audit_checkpoint")
def audit_checkpoint() -> dict:
    """Beat, daily: verify the chain since the last good checkpoint, store a keyed checkpoint of its head, and
    tell admins and QA when something is broken."""
    from bank import audit_chain

    return audit_chain.daily_checkpoint()


# --- Authentication and access (issue 11) ------------------------------------------------------------------


@shared_task(name="bank.tasks.purge_expired_tokens")
def purge_expired_tokens() -> int:
    """Beat, daily: delete expired API tokens (they are refused anyway; this keeps the table small)."""
    from bank.services import purge_expired_tokens as purge

    return purge()


# --- Jobs (issue 17) ----------------------------------------------------------------------------------------


@shared_task(name="bank.tasks.run_job")
def run_job(job_id: int) -> str | None:
    """Run one job (bank/jobs.py): claimed under a row lock, so a redelivered task never runs it twice at once."""
    from bank import jobs

    return jobs.run_job(job_id)


@shared_task(name="bank.tasks.sweep_jobs")
def sweep_jobs() -> int:
    """Beat, every minute: hand again to the worker the jobs whose task was lost or whose worker stopped."""
    from bank import jobs

    return jobs.sweep()
