"""Jobs (issue 17): whatever can take more than two seconds runs in the Celery worker, with progress.

An import of a million rows, a whole tank's evacuation, a sheet of a thousand labels or a big XLSX export would hold
a web request for minutes and die with it. Such work is a *job*: a ``bank.Job`` row that says who asked for what
(``kind``, ``params``, an optional uploaded ``input_file``), and a runner the worker calls.

- An app registers its kinds in ``AppConfig.ready()``: ``register_job("imports.vials", "imports.jobs.run_vials",
  label=_("Vial import"))``. The runner is named by its dotted path, so bank never imports the app.
- A service or view starts one with ``start_job(kind, user=..., params=..., title=...)``, inside its transaction.
  The job row and the Celery task are written together through the outbox (bank/outbox.py): a job is never lost
  while Redis is down, and never runs before the row that describes it is committed.
- The worker's task ``bank.tasks.run_job`` calls ``run_job(job_id)``: it claims the job (a row lock, so a
  redelivered task never runs it twice at once), calls ``runner(job, progress)`` as the job's user
  (``acting(user, reason="job ...")``, so everything it writes is audited under that user), then records the
  result or the failure. A ``JobFailed``, a ``ValidationError`` or a ``Conflict``/``Forbidden`` is the user's
  problem and its message is shown; anything else is logged and shown as an unexpected error.
- A runner returns a JSON-able dict, kept as ``job.result``; the job page shows three keys of it: ``summary`` (a list of
  ``[label, value]`` pairs), ``errors`` (``{"row", "column", "message"}`` each: what to fix) and ``link``
  (``{"url", "label"}``: the record the job made, e.g. the import's report).
- ``Progress`` is how a runner reports: ``set_total``, ``advance``, ``update`` and ``attach`` (the result file).
  Progress is written at most every ``JOB_PROGRESS_INTERVAL`` seconds, to the row and to the shared cache (Redis),
  so a runner that does all its work in one transaction (an all-or-nothing import) is still seen moving by the
  page that polls it (``live``).
- A job whose worker died (no progress for ``JOB_STALE_SECONDS``) is handed to the worker again by beat's sweep
  (``sweep_jobs``), up to ``JOB_MAX_ATTEMPTS`` times; runners are idempotent (imports skip what they already
  imported, an export or a label sheet is simply made again).

Pages: ``/jobs/`` (your recent jobs; admins see everyone's) and ``/jobs/<id>/`` (a progress bar polled with HTMX,
the result or the reason it failed, the download). API: ``GET /api/v1/jobs/``, ``/api/v1/jobs/{id}/`` and
``/api/v1/jobs/{id}/result/``; an endpoint that starts a job answers ``accepted_response(job, request)``.
"""

from __future__ import annotations

import datetime
import logging
import os
import tempfile
import time
from collections.abc import Iterable
from dataclasses import dataclass

from django.conf import settings
from django.core.cache import cache
from django.core.exceptions import ValidationError
from django.core.files import File
from django.core.files.base import ContentFile
from django.db import transaction
from django.urls import reverse
from django.utils import timezone
from django.utils.module_loading import import_string
from django.utils.translation import gettext as _

from bank.audit import acting
from bank.errors import Conflict, Forbidden
from bank.models import Job

log = logging.getLogger(__name__)

RUN_TASK = "bank.tasks.run_job"


@dataclass(frozen=True)
class JobKind:
    kind: str
    runner: str
    label: object


_kinds: dict[str, JobKind] = {}


def register_job(kind: str, runner: str, *, label) -> None:
    """Declare a kind of job and the dotted path of its runner ``runner(job, progress) -> dict | None``."""
    _kinds[kind] = JobKind(kind, runner, label)


def job_kinds() -> dict[str, JobKind]:
    return dict(_kinds)


def kind_label(kind: str) -> str:
    entry = _kinds.get(kind)
    return str(entry.label) if entry else kind


class JobFailed(Exception):
    """Raised by a runner: the job failed for a reason the user can act on (``message``), with an optional
    ``result`` kept on the job (e.g. the rows of a file that were refused)."""

    def __init__(self, message, result: dict | None = None):
        super().__init__(str(message))
        self.message = str(message)
        self.result = result or {}


# --- starting ----------------------------------------------------------------------------------------------


def start_job(kind: str, *, user, params: dict | None = None, title: str = "", input_file=None) -> Job:
    """Record a job for ``user`` and hand it to the worker once the caller's transaction commits."""
    from bank.outbox import enqueue_task

    if kind not in _kinds:
        raise ValueError(f"unknown job kind {kind!r}")
    with transaction.atomic():
        job = Job(kind=kind, user=user, params=params or {}, title=str(title)[:200])
        if input_file is not None:
            name = os.path.basename(getattr(input_file, "name", "") or "upload")[:100] or "upload"
            job.input_file.save(name, input_file, save=False)
        job.save()
        enqueue_task(RUN_TASK, [job.pk])
    return job


# --- running -----------------------------------------------------------------------------------------------


def _live_key(job_id: int) -> str:
    # Jobs of two test databases (or two banks on one Redis) must not share keys.
    return f"job-progress:{settings.DATABASES['default']['NAME']}:{job_id}"


class Progress:
    """What a runner reports. Writes go out at most every ``JOB_PROGRESS_INTERVAL`` seconds (and always on
    ``flush``): to the job's row, and to the shared cache, where the page sees it even while the runner's own
    transaction (an all-or-nothing import) has not committed the row yet (``live``)."""

    def __init__(self, job: Job):
        self.job = job
        self._written_at = 0.0

    @property
    def done(self) -> int:
        return self.job.done

    def set_total(self, total: int | None, message: str = "") -> None:
        self.job.total = total
        self.update(self.job.done, message=message, force=True)

    def advance(self, k: int = 1, message: str = "") -> None:
        self.update(self.job.done + k, message=message)

    def update(self, done: int, total: int | None = None, message: str = "", *, force: bool = False) -> None:
        self.job.done = done
        if total is not None:
            self.job.total = total
        if message:
            self.job.message = str(message)[:300]
        now = time.monotonic()
        if force or now - self._written_at >= settings.JOB_PROGRESS_INTERVAL:
            self.flush()

    def flush(self) -> None:
        values = {"done": self.job.done, "total": self.job.total, "message": self.job.message,
                  "heartbeat_at": timezone.now()}
        Job.objects.filter(pk=self.job.pk).update(**values)
        try:
            cache.set(_live_key(self.job.pk), {**values, "heartbeat_at": values["heartbeat_at"].isoformat()},
                      timeout=settings.JOB_STALE_SECONDS)
        except Exception:  # noqa: BLE001 — a cache that is down costs the live bar, never the job
            log.debug("job %s: live progress not cached", self.job.pk)
        self._written_at = time.monotonic()

    def attach(self, filename: str, content: bytes | str | Iterable[bytes | str], content_type: str) -> None:
        """Store the job's result file (``content`` whole, or an iterable of pieces written as they come)."""
        job = self.job
        if isinstance(content, (bytes, str)):
            data = content.encode("utf-8") if isinstance(content, str) else content
            job.result_file.save(filename, ContentFile(data), save=False)
        else:
            with tempfile.TemporaryFile() as handle:
                for piece in content:
                    handle.write(piece.encode("utf-8") if isinstance(piece, str) else piece)
                handle.seek(0)
                job.result_file.save(filename, File(handle, name=filename), save=False)
        job.result_name = filename[:200]
        job.result_type = content_type[:100]
        Job.objects.filter(pk=job.pk).update(result_file=job.result_file.name, result_name=job.result_name,
                                             result_type=job.result_type)


def _claim(job_id: int) -> Job | None:
    """Take the job for this worker: queued, or running with no sign of life for JOB_STALE_SECONDS."""
    now = timezone.now()
    with transaction.atomic():
        job = Job.objects.select_for_update().filter(pk=job_id).first()
        if job is None or job.finished:
            return None
        stale = now - datetime.timedelta(seconds=settings.JOB_STALE_SECONDS)
        if job.status == Job.Status.RUNNING and (job.heartbeat_at or now) > stale:
            return None  # another worker has it and is alive
        if job.attempts >= settings.JOB_MAX_ATTEMPTS:
            job.status, job.finished_at = Job.Status.FAILED, now
            job.error = _("The worker stopped %(n)d times while running this job; it was given up.") % {
                "n": job.attempts}
            job.save(update_fields=["status", "finished_at", "error"])
            return None
        job.status, job.started_at, job.heartbeat_at = Job.Status.RUNNING, now, now
        job.attempts += 1
        job.error = ""
        job.save(update_fields=["status", "started_at", "heartbeat_at", "attempts", "error"])
    return job


def _messages(exc: Exception) -> str:
    if isinstance(exc, ValidationError):
        if hasattr(exc, "error_dict"):
            return "; ".join(f"{field}: {' '.join(map(str, errors))}" if field != "__all__" else " ".join(
                map(str, errors)) for field, errors in exc.message_dict.items())
        return " ".join(map(str, exc.messages))
    detail = getattr(exc, "detail", None)
    return str(detail if detail is not None else exc)


def run_job(job_id: int) -> str | None:
    """Run one job to its end (the Celery task's body; tests call it directly). Returns the final status."""
    job = _claim(job_id)
    if job is None:
        return None
    entry = _kinds.get(job.kind)
    progress = Progress(job)
    status, error, result = Job.Status.DONE, "", {}
    try:
        if entry is None:
            raise JobFailed(_("This kind of job (%(kind)s) is not known to this version of StemBank.") % {
                "kind": job.kind})
        runner = import_string(entry.runner)
        with acting(job.user, reason=f"job {job.kind} #{job.pk}"):
            result = runner(job, progress) or {}
    except JobFailed as exc:
        status, error, result = Job.Status.FAILED, exc.message, exc.result
    except (ValidationError, Conflict, Forbidden) as exc:
        status, error = Job.Status.FAILED, _messages(exc)
    except Exception:  # noqa: BLE001 — the job must end, whatever the runner did; the trace goes to the log
        log.exception("job %s (%s) failed", job.pk, job.kind)
        status = Job.Status.FAILED
        error = _("The job stopped on an unexpected error. Nothing it was doing in one step was half-saved; "
                  "the administrators can find the details in the worker's log.")
    if status == Job.Status.DONE and job.total is None:
        job.total = job.done or 1
        job.done = job.total
    Job.objects.filter(pk=job.pk).update(
        status=status, error=error, result=result, done=job.done, total=job.total, message=job.message,
        finished_at=timezone.now(), heartbeat_at=timezone.now())
    return status


def sweep() -> int:
    """Beat: hand again to the worker the jobs still queued after JOB_STALE_SECONDS (their task was lost) and the
    running ones whose worker stopped sending progress. Returns how many were handed over."""
    from bank.outbox import enqueue_task

    stale = timezone.now() - datetime.timedelta(seconds=settings.JOB_STALE_SECONDS)
    ids = list(
        Job.objects.filter(status__in=[Job.Status.QUEUED, Job.Status.RUNNING])
        .exclude(status=Job.Status.QUEUED, created_at__gt=stale)
        .exclude(status=Job.Status.RUNNING, heartbeat_at__gt=stale)
        .values_list("pk", flat=True)[:100]
    )
    with transaction.atomic():
        for pk in ids:
            enqueue_task(RUN_TASK, [pk])
    return len(ids)


# --- reading -----------------------------------------------------------------------------------------------


def live(job: Job) -> Job:
    """``job`` with its newest progress: the cached one while it runs (its row may be behind an open transaction)."""
    return live_many([job])[0]


def live_many(jobs: list[Job]) -> list[Job]:
    """``live`` for a page of jobs: one cache round trip for the running ones."""
    running = {_live_key(job.pk): job for job in jobs if job.status == Job.Status.RUNNING}
    if not running:
        return jobs
    try:
        cached = cache.get_many(list(running))
    except Exception:  # noqa: BLE001 — a cache that is down: the rows' progress is shown
        cached = {}
    for key, values in cached.items():
        job = running[key]
        if values and values.get("done", 0) >= job.done:
            job.done, job.total, job.message = values["done"], values["total"], values["message"] or job.message
    return jobs


def sees_all_jobs(user) -> bool:
    """Admins see everyone's jobs; everyone else their own."""
    from bank.roles import ADMIN, user_roles

    return user.is_superuser or ADMIN in user_roles(user)


def may_see_job(user, job: Job) -> bool:
    """Whether ``user`` may see ``job``: ``visible_jobs``' rule for one job already read."""
    return job.user_id == user.pk or sees_all_jobs(user)


def visible_jobs(user):
    """The jobs ``user`` may see (their own; an admin everyone's: ``may_see_job``)."""
    queryset = Job.objects.select_related("user")
    return queryset if sees_all_jobs(user) else queryset.filter(user=user)


def listed_jobs(user, params) -> tuple:
    """The jobs page's rows, newest first, and whether they are only ``user``'s own (``?all=1``: an admin sees
    everyone's). The page and its export share it."""
    queryset = visible_jobs(user).order_by("-id")
    mine = params.get("all") != "1" or not sees_all_jobs(user)
    return (queryset.filter(user=user) if mine else queryset), mine


def accepted_response(job: Job, request):
    """The API's answer for work handed to the worker: 202 ``{"job": {...}}`` with the job's URL as Location."""
    from rest_framework import status
    from rest_framework.response import Response

    from bank.api.serializers import JobSerializer

    data = JobSerializer(job, context={"request": request}).data
    return Response({"job": data}, status=status.HTTP_202_ACCEPTED,
                    headers={"Location": request.build_absolute_uri(reverse("api-job", args=[job.pk]))})


def result_response(job: Job):
    """The job's result file as a download."""
    from django.http import FileResponse

    return FileResponse(job.result_file.open("rb"), as_attachment=True, filename=job.result_name or "result",
                        content_type=job.result_type or "application/octet-stream")


def dashboard_context(request) -> dict | None:
    """The dashboard's "your jobs" panel: the user's jobs of the last day (one query), or nothing when there are
    none."""
    since = timezone.now() - datetime.timedelta(days=1)
    recent = live_many(list(Job.objects.filter(user=request.user, created_at__gte=since).order_by("-id")[:5]))
    return {"jobs": recent} if recent else None
