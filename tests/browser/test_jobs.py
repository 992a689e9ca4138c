"""A job's progress bar in Chromium, driven by a running Celery worker (issue 17): the page polls with HTMX while the
worker counts, the bar moves, survives a reload, and ends with the download. Screenshots go to /tmp/shots/jobs/."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest
from django.test import override_settings
from playwright.sync_api import expect

from bank import jobs
from tests.factories import UserFactory

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

SHOTS = Path(os.environ.get("JOB_SHOTS", "/tmp/shots/jobs"))


@pytest.fixture
def counting_kind():
    jobs.register_job("test.count", "tests.bank.job_runners.count", label="Counting")
    yield
    jobs._kinds.pop("test.count", None)


@override_settings(JOB_PROGRESS_INTERVAL=0)
def test_the_progress_bar_follows_the_worker_and_survives_a_reload(page, login, celery_worker, counting_kind,
                                                                  tmp_path, settings):
    settings.STORAGES = {**settings.STORAGES, "default": {"BACKEND": "django.core.files.storage.FileSystemStorage",
                                                          "OPTIONS": {"location": str(tmp_path)}}}
    user = UserFactory(username="tech", role="technician")
    login(user)
    job = jobs.start_job("test.count", user=user, params={"n": 20, "sleep": 0.3}, title="Counting to twenty")
    page.goto(page.base_url + f"/jobs/{job.pk}/")
    bar = page.locator("#job-progress [role=progressbar]")
    # The worker reports, the page polls: the bar is seen part-way, neither empty nor full.
    page.wait_for_function(
        "() => { const b = document.querySelector('#job-progress [role=progressbar]');"
        " const v = b && Number(b.getAttribute('aria-valuenow')); return v > 0 && v < 100; }", timeout=20_000)
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / "job_running.png"), full_page=True)
    part_way = int(bar.get_attribute("aria-valuenow"))

    page.reload()  # the job does not belong to the page: it keeps going and the page finds it again
    expect(page.locator("#job-status")).to_have_text("Done", timeout=30_000)
    assert int(page.locator("#job-progress [role=progressbar]").get_attribute("aria-valuenow")) == 100 > part_way
    expect(page.locator("#job-count")).to_have_text("20 of 20")
    expect(page.locator("#job-download")).to_be_focused()
    page.screenshot(path=str(SHOTS / "job_done.png"), full_page=True)
    with page.expect_download() as download:
        page.keyboard.press("Enter")
    assert Path(download.value.path()).read_text() == "".join(f"{i}\n" for i in range(20))

    page.click("#jobs-link")
    expect(page.locator("#jobs")).to_contain_text("Counting to twenty")
    expect(page.locator("#jobs")).to_contain_text(re.compile(r"100%"))
    page.screenshot(path=str(SHOTS / "jobs_list.png"), full_page=True)
