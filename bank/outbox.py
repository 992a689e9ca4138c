"""The transactional outbox: e-mails and Celery jobs that follow a state change.

A service never talks to the mail server or the broker itself. It calls ``enqueue_email`` or
``enqueue_task``, which write ``OutboxMessage`` rows in the caller's transaction: the message exists
exactly when the change it follows was committed. After the commit a short-lived thread asks the worker
to deliver it at once (``hand_off``: one publish with a short timeout, never retried, never raising), so
the request itself never waits on the broker; when the broker is down the message simply waits.

The worker delivers (``deliver``): it leases due messages with ``SELECT … FOR UPDATE SKIP LOCKED`` (two
workers, or a hand-off racing the sweep, never take the same one), sends each, marks it delivered, or
records the error and backs off exponentially, giving up after ``OUTBOX_MAX_ATTEMPTS`` (status ``dead``:
listed for admins, who can send it again). Beat's sweep
(``bank.tasks.sweep_outbox``) delivers whatever is due, so what was written while Redis was down goes
out once Redis is back.

Delivery is at least once: a worker that dies between sending and marking re-sends after the lease.
E-mail is one message per recipient (a refused address never holds up, or duplicates, the others);
tasks must be idempotent, as every task here is (they fetch again and claim their work).
"""

from __future__ import annotations

import datetime
import logging
import threading
import time
from collections.abc import Iterable, Sequence

from django.conf import settings
from django.core.mail import EmailMessage
from django.db import transaction
from django.db.models import F
from django.utils import timezone

from bank.models import OutboxMessage

log = logging.getLogger(__name__)

DELIVER_TASK = "bank.tasks.deliver_outbox"
# Publishing a delivered task from the worker: one quick retry re-opens a connection that went stale
# while Redis restarted; more would only hold the worker while the broker is down.
PUBLISH_RETRY_POLICY = {"max_retries": 1, "interval_start": 0, "interval_step": 0.5, "interval_max": 0.5}

_handoff_paused_until = 0.0
_HANDOFF_THREADS = 4
_handoff_slots = threading.BoundedSemaphore(_HANDOFF_THREADS)


# --- writing ---------------------------------------------------------------------------------------------


def enqueue_email(to: Iterable[str], subject: str, body: str, *, from_email: str | None = None
                  ) -> list[OutboxMessage]:
    """E-mail ``subject``/``body`` to each address in ``to`` (one message per recipient), after commit."""
    addresses = sorted({address.strip() for address in to if address and address.strip()})
    return _write([
        OutboxMessage(kind=OutboxMessage.Kind.EMAIL,
                      payload={"to": [address], "subject": str(subject), "body": str(body),
                               "from_email": from_email})
        for address in addresses
    ])


def enqueue_task(name: str, args: Sequence = (), kwargs: dict | None = None) -> OutboxMessage:
    """Run the Celery task ``name`` with JSON ``args``/``kwargs`` once the caller's transaction commits."""
    return _write([
        OutboxMessage(kind=OutboxMessage.Kind.TASK,
                      payload={"name": name, "args": list(args), "kwargs": dict(kwargs or {})})
    ])[0]


def _write(messages: list[OutboxMessage]) -> list[OutboxMessage]:
    if not messages:
        return []
    created = OutboxMessage.objects.bulk_create(messages)
    if settings.OUTBOX_HANDOFF:
        ids = [message.pk for message in created]
        transaction.on_commit(lambda: hand_off_in_background(ids))
    return created


def hand_off_in_background(ids: list[int]) -> bool:
    """After commit, hand ``ids`` to the broker from a short-lived thread: the request that wrote them
    answers without waiting for Redis at all (a Redis that hangs would otherwise cost it a socket timeout).
    At most ``_HANDOFF_THREADS`` at once; beyond that, and during a pause, the sweep delivers."""
    if time.monotonic() < _handoff_paused_until or not _handoff_slots.acquire(blocking=False):
        return False

    def run() -> None:
        try:
            hand_off(ids)
        finally:
            _handoff_slots.release()

    threading.Thread(target=run, name="outbox-hand-off", daemon=True).start()
    return True


def hand_off(ids: list[int]) -> bool:
    """Ask a worker to deliver ``ids`` now. Never raises; returns whether the broker took the request.

    One publish, not retried, bounded by the broker's connect and socket timeouts. When it fails the
    messages stay pending for the sweep, and hand-offs pause for ``OUTBOX_HANDOFF_PAUSE_SECONDS``: a
    Redis outage costs one attempt per process in that time, not one per request.
    """
    global _handoff_paused_until
    if time.monotonic() < _handoff_paused_until:
        return False
    from bank.celery import app

    try:
        app.send_task(DELIVER_TASK, args=[ids], ignore_result=True, retry=False)
    except Exception as exc:  # the broker is down or unreachable: the sweep delivers later
        _handoff_paused_until = time.monotonic() + settings.OUTBOX_HANDOFF_PAUSE_SECONDS
        log.warning("outbox: could not hand %d message(s) to the broker (%s); the worker's sweep will deliver "
                    "them once it is reachable", len(ids), exc)
        return False
    return True


# --- delivering ------------------------------------------------------------------------------------------


def backoff(attempts: int) -> datetime.timedelta:
    """The wait before the next attempt after ``attempts`` failed ones: doubling, capped."""
    seconds = settings.OUTBOX_RETRY_BASE_SECONDS * 2 ** max(attempts - 1, 0)
    return datetime.timedelta(seconds=min(seconds, settings.OUTBOX_RETRY_MAX_SECONDS))


def claim(ids: Iterable[int] | None = None, *, limit: int = 50) -> list[OutboxMessage]:
    """Lease up to ``limit`` due pending messages (of ``ids``, if given) to the caller.

    In one short transaction the rows are locked (SKIP LOCKED: rows another worker holds are passed
    over), pushed ``OUTBOX_LEASE_SECONDS`` into the future and their attempt counted. Nobody else
    takes them until the lease ends; a worker that dies mid-send is thus retried after the lease.
    """
    now = timezone.now()
    with transaction.atomic():
        due = OutboxMessage.objects.filter(status=OutboxMessage.Status.PENDING, available_at__lte=now)
        if ids is not None:
            due = due.filter(pk__in=list(ids))
        messages = list(due.select_for_update(skip_locked=True).order_by("available_at", "id")[:limit])
        if not messages:
            return []
        lease_until = now + datetime.timedelta(seconds=settings.OUTBOX_LEASE_SECONDS)
        OutboxMessage.objects.filter(pk__in=[m.pk for m in messages]).update(
            available_at=lease_until, attempts=F("attempts") + 1)
    for message in messages:
        message.available_at = lease_until
        message.attempts += 1
    return messages


def deliver(ids: Iterable[int] | None = None, *, limit: int | None = None) -> dict[str, int]:
    """Deliver due messages (only ``ids``, when given; at most ``limit``). Returns the counts by outcome."""
    counts = {"delivered": 0, "retry": 0, "dead": 0}
    ids = None if ids is None else list(ids)
    remaining = limit if limit is not None else settings.OUTBOX_SWEEP_LIMIT
    while remaining > 0:
        messages = claim(ids, limit=min(settings.OUTBOX_BATCH_SIZE, remaining))
        for message in messages:
            counts[_deliver_one(message)] += 1
        remaining -= len(messages)
        if not messages or ids is not None:
            break
    return counts


def _deliver_one(message: OutboxMessage) -> str:
    try:
        if message.kind == OutboxMessage.Kind.EMAIL:
            _send_email(message.payload)
        elif message.kind == OutboxMessage.Kind.TASK:
            _send_task(message.payload)
        else:
            raise ValueError(f"unknown outbox message kind {message.kind!r}")
    except Exception as exc:  # any failure is recorded on the message and retried later
        return _failed(message, exc)
    OutboxMessage.objects.filter(pk=message.pk, status=OutboxMessage.Status.PENDING).update(
        status=OutboxMessage.Status.DELIVERED, delivered_at=timezone.now())
    return "delivered"


def _send_email(payload: dict) -> None:
    EmailMessage(
        subject=payload["subject"], body=payload["body"], from_email=payload.get("from_email") or None,
        to=list(payload["to"]),
    ).send(fail_silently=False)


def _send_task(payload: dict) -> None:
    from bank.celery import app

    app.send_task(payload["name"], args=payload.get("args") or [], kwargs=payload.get("kwargs") or {},
                  ignore_result=True, retry=True, retry_policy=PUBLISH_RETRY_POLICY)


def _failed(message: OutboxMessage, exc: Exception) -> str:
    error = f"{type(exc).__name__}: {exc}"[:2000]
    pending = OutboxMessage.objects.filter(pk=message.pk, status=OutboxMessage.Status.PENDING)
    if message.attempts >= settings.OUTBOX_MAX_ATTEMPTS:
        pending.update(status=OutboxMessage.Status.DEAD, last_error=error)
        log.error("outbox: gave up on %s #%d after %d attempts: %s", message.kind, message.pk, message.attempts,
                  error)
        return "dead"
    wait = backoff(message.attempts)
    pending.update(available_at=timezone.now() + wait, last_error=error)
    log.warning("outbox: %s #%d failed (attempt %d), next try in %ds: %s", message.kind, message.pk,
                message.attempts, wait.total_seconds(), error)
    return "retry"


# --- for admins ------------------------------------------------------------------------------------------


def send_again(ids: Iterable[int]) -> int:
    """Put messages that were given up on back in the queue, due now, with a fresh count of attempts."""
    with transaction.atomic():
        count = OutboxMessage.objects.filter(pk__in=list(ids), status=OutboxMessage.Status.DEAD).update(
            status=OutboxMessage.Status.PENDING, attempts=0, available_at=timezone.now())
    return count


def prune(*, older_than_days: int | None = None) -> int:
    """Delete delivered messages older than ``OUTBOX_KEEP_DAYS`` (operational rows, not records)."""
    days = older_than_days if older_than_days is not None else settings.OUTBOX_KEEP_DAYS
    cutoff = timezone.now() - datetime.timedelta(days=days)
    deleted, _by_model = OutboxMessage.objects.filter(
        status=OutboxMessage.Status.DELIVERED, delivered_at__lt=cutoff).delete()
    return deleted


def stale_pending(now: datetime.datetime | None = None):
    """Pending messages written more than ``OUTBOX_STALE_MINUTES`` ago: delivery is stuck."""
    now = now or timezone.now()
    cutoff = now - datetime.timedelta(minutes=settings.OUTBOX_STALE_MINUTES)
    return OutboxMessage.objects.filter(status=OutboxMessage.Status.PENDING, created_at__lt=cutoff)
