"""The jobs framework (issue 17, bank/jobs.py): start, claim, run, progress, result, failure, sweep, pages, API."""

from __future__ import annotations

import datetime
import time

import pytest
from django.core.cache import cache
from django.core.files.base import ContentFile
from django.test import override_settings
from django.urls import reverse
from django.utils import timezone

from bank import jobs
from bank.models import Job, Notification, OutboxMessage
from tests.factories import UserFactory

RUNNERS = "tests.bank.job_runners"


@pytest.fixture(autouse=True)
def _kinds():
    for name in ("count", "refuse", "invalid", "crash"):
        jobs.register_job(f"test.{name}", f"{RUNNERS}.{name}", label=f"Test {name}")
    yield
    for name in ("count", "refuse", "invalid", "crash"):
        jobs._kinds.pop(f"test.{name}", None)


@pytest.fixture
def media(tmp_path, settings):
    settings.STORAGES = {**settings.STORAGES,
                         "default": {"BACKEND": "django.core.files.storage.FileSystemStorage",
                                     "OPTIONS": {"location": str(tmp_path)}}}
    return tmp_path


def test_a_job_is_written_with_its_task_in_the_outbox_and_runs_to_its_result(users, media):
    job = jobs.start_job("test.count", user=users["technician"], params={"n": 4}, title="Count to four",
                         input_file=ContentFile(b"a,b\n", name="in.csv"))
    task = OutboxMessage.objects.get(kind=OutboxMessage.Kind.TASK)
    assert task.payload == {"name": "bank.tasks.run_job", "args": [job.pk], "kwargs": {}}
    assert job.status == Job.Status.QUEUED and job.input_file.read() == b"a,b\n"

    assert jobs.run_job(job.pk) == Job.Status.DONE
    job.refresh_from_db()
    assert (job.status, job.done, job.total, job.percent, job.attempts) == ("done", 4, 4, 100, 1)
    assert job.result == {"summary": [["counted", 4]]}
    assert job.result_name == "count.csv" and job.result_file.read() == b"0\n1\n2\n3\n"
    assert job.finished_at is not None and job.started_at <= job.finished_at
    # The runner ran as the job's user.
    assert Notification.objects.get(subject="counted 4").recipient == users["technician"]
    # A redelivered task finds it finished and does nothing.
    assert jobs.run_job(job.pk) is None


@pytest.mark.parametrize("kind, error, result", [
    ("test.refuse", "row 2 is bad", {"errors": [{"row": 2, "column": "lot", "message": "unknown lot"}]}),
    ("test.invalid", "box: No such box.", {}),
])
def test_a_refusal_fails_the_job_with_its_reason_and_result(users, kind, error, result):
    job = jobs.start_job(kind, user=users["technician"])
    assert jobs.run_job(job.pk) == Job.Status.FAILED
    job.refresh_from_db()
    assert (job.status, job.error, job.result) == ("failed", error, result)


def test_an_unexpected_error_fails_the_job_without_showing_the_trace(users, caplog):
    job = jobs.start_job("test.crash", user=users["technician"])
    assert jobs.run_job(job.pk) == Job.Status.FAILED
    job.refresh_from_db()
    assert "boom" not in job.error and "unexpected error" in job.error
    assert "boom" in caplog.text


def test_an_unknown_kind_fails_with_a_message(users):
    job = Job.objects.create(kind="gone.kind", user=users["technician"])
    assert jobs.run_job(job.pk) == Job.Status.FAILED
    job.refresh_from_db()
    assert "gone.kind" in job.error


def test_a_running_job_is_left_alone_until_its_worker_falls_silent_then_retried_then_given_up(users, settings):
    now = timezone.now()
    job = Job.objects.create(kind="test.count", user=users["technician"], params={"n": 1},
                             status=Job.Status.RUNNING, heartbeat_at=now, attempts=1)
    assert jobs.run_job(job.pk) is None  # alive elsewhere
    assert jobs.sweep() == 0

    Job.objects.filter(pk=job.pk).update(heartbeat_at=now - datetime.timedelta(seconds=settings.JOB_STALE_SECONDS + 5))
    assert jobs.sweep() == 1  # handed to the worker again
    assert jobs.run_job(job.pk) == Job.Status.DONE
    job.refresh_from_db()
    assert job.attempts == 2

    dead = Job.objects.create(kind="test.count", user=users["technician"], status=Job.Status.RUNNING,
                              heartbeat_at=now - datetime.timedelta(hours=1), attempts=settings.JOB_MAX_ATTEMPTS)
    assert jobs.run_job(dead.pk) is None
    dead.refresh_from_db()
    assert dead.status == "failed" and "given up" in dead.error


def test_sweep_hands_over_a_queued_job_whose_task_was_lost(users, settings):
    job = Job.objects.create(kind="test.count", user=users["technician"])
    assert jobs.sweep() == 0
    Job.objects.filter(pk=job.pk).update(created_at=timezone.now() - datetime.timedelta(
        seconds=settings.JOB_STALE_SECONDS + 1))
    assert jobs.sweep() == 1
    assert OutboxMessage.objects.filter(payload__args=[job.pk]).count() == 1


def test_progress_is_throttled_and_seen_live_from_the_cache(users, settings):
    settings.JOB_PROGRESS_INTERVAL = 3600
    job = Job.objects.create(kind="test.count", user=users["technician"], status=Job.Status.RUNNING)
    progress = jobs.Progress(job)
    progress.set_total(10, "starting")  # forced write
    progress.advance(3)  # throttled: not written
    assert Job.objects.get(pk=job.pk).done == 0
    progress.flush()
    row = Job.objects.get(pk=job.pk)
    assert (row.done, row.total, row.message) == (3, 10, "starting")
    # The row can lag behind an open transaction; the cached progress is newer and wins while it runs.
    Job.objects.filter(pk=job.pk).update(done=1)
    assert jobs.live(Job.objects.get(pk=job.pk)).done == 3
    cache.delete(jobs._live_key(job.pk))
    assert jobs.live(Job.objects.get(pk=job.pk)).done == 1


def test_pages_and_api_show_a_job_to_its_user_and_admins_only(client, api, users, media):
    mine = jobs.start_job("test.count", user=users["technician"], params={"n": 2}, title="Two")
    jobs.run_job(mine.pk)
    other = UserFactory(role="technician")

    client.force_login(users["technician"])
    page = client.get(reverse("job", args=[mine.pk]))
    assert page.status_code == 200 and b"job-download" in page.content and b"hx-trigger" not in page.content
    assert client.get(reverse("job-result", args=[mine.pk])).getvalue() == b"0\n1\n"
    assert b"Two" in client.get(reverse("jobs")).content
    partial = client.get(reverse("job", args=[mine.pk]), HTTP_HX_REQUEST="true")
    assert b"<html" not in partial.content and b'id="job-progress"' in partial.content

    client.force_login(other)
    assert client.get(reverse("job", args=[mine.pk])).status_code == 404
    assert client.get(reverse("job-result", args=[mine.pk])).status_code == 404
    assert api(other).get(reverse("api-job", args=[mine.pk])).status_code == 404
    assert api(other).get(reverse("api-jobs")).json()["count"] == 0

    body = api(users["technician"]).get(reverse("api-job", args=[mine.pk])).json()
    assert body["status"] == "done" and body["percent"] == 100 and body["result_url"].endswith(
        f"/api/v1/jobs/{mine.pk}/result/")
    assert api(users["technician"]).get(reverse("api-job-result", args=[mine.pk])).getvalue() == b"0\n1\n"
    assert api(users["admin"]).get(reverse("api-jobs")).json()["count"] == 1
    client.force_login(users["admin"])
    assert b"Two" in client.get(reverse("jobs") + "?all=1").content


def test_a_queued_job_page_polls_and_a_running_one_shows_its_percentage(client, users):
    job = Job.objects.create(kind="test.count", user=users["technician"], title="Polling")
    client.force_login(users["technician"])
    body = client.get(reverse("job", args=[job.pk])).content.decode()
    assert 'hx-trigger="every 1s"' in body and "indeterminate" in body
    Job.objects.filter(pk=job.pk).update(status=Job.Status.RUNNING, done=25, total=100)
    body = client.get(reverse("job", args=[job.pk]), HTTP_HX_REQUEST="true").content.decode()
    assert 'aria-valuenow="25"' in body and "25 of 100" in body


def test_accepted_response_is_202_with_the_job_and_its_location(users, rf):
    from rest_framework.request import Request

    job = Job.objects.create(kind="test.count", user=users["technician"])
    response = jobs.accepted_response(job, Request(rf.get("/")))
    assert response.status_code == 202 and response.data["job"]["id"] == job.pk
    assert response["Location"].endswith(f"/api/v1/jobs/{job.pk}/")


@pytest.mark.django_db(transaction=True)
@override_settings(JOB_PROGRESS_INTERVAL=0)
def test_a_job_runs_in_the_real_worker_through_the_outbox(celery_worker, users, media):
    job = jobs.start_job("test.count", user=users["technician"], params={"n": 3, "sleep": 0.05})
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        job.refresh_from_db()
        if job.finished:
            break
        time.sleep(0.1)
    assert job.status == "done" and job.done == 3


def test_the_dashboard_lists_the_users_jobs_of_the_last_day_only_when_there_are_some(client, users):
    client.force_login(users["technician"])
    assert b'id="jobs-panel"' not in client.get(reverse("dashboard")).content
    Job.objects.create(kind="test.count", user=users["technician"], title="Yesterday's",
                       created_at=timezone.now() - datetime.timedelta(days=2))
    assert b'id="jobs-panel"' not in client.get(reverse("dashboard")).content
    Job.objects.create(kind="test.count", user=users["technician"], title="Today's export")
    body = client.get(reverse("dashboard")).content.decode()
    assert 'id="jobs-panel"' in body and "Today&#x27;s export" in body and "Yesterday" not in body
