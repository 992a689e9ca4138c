"""An excursion's affected-vial snapshot is a job (issue 13, issue 17): the sensor gets its 201 at once, the worker
lists the vials box by box with progress and a result, a re-run lists nothing twice, and the alarm page shows the
job's progress bar until the vials are listed."""

import datetime
import re

import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from bank import jobs
from bank.models import Job, OutboxMessage
from bank.services import issue_token
from storage.models import Alarm, AlarmVial
from storage.services import bind_sensors, record_reading, store_lot
from storage.tasks import record_alarm_vials
from tests.factories import LotFactory

pytestmark = pytest.mark.django_db

KIND = "storage.excursion_snapshot"


def ago(minutes):
    return timezone.now() - datetime.timedelta(minutes=minutes)


@pytest.fixture
def stored(layout, users, released_lot):
    """Seven vials in the main tank: four in M-B1, three in M-B2; four more in the quarantine tank."""
    second = LotFactory(status="released", vial_count=3)
    store_lot(released_lot, [layout.box], actor=users["technician"])
    store_lot(second, [layout.box2], actor=users["technician"])
    store_lot(LotFactory(vial_count=4), [layout.q_box], actor=users["technician"])
    bind_sensors(layout.unit, ["sensor"], actor=users["admin"])
    return released_lot, second


def excursion(layout, users) -> Alarm:
    record_reading(layout.unit, temperature_c="-120", recorded_at=ago(3), actor=users["sensor"])
    return Alarm.objects.select_related("snapshot_job").get(unit=layout.unit, kind="excursion")


def test_the_sensor_gets_its_201_at_once_and_the_snapshot_waits_for_the_worker_as_a_job(layout, users, stored):
    sensor = APIClient()
    sensor.credentials(HTTP_AUTHORIZATION="Token " + issue_token(users["sensor"])[1])
    response = sensor.post(f"/api/v1/storage/units/{layout.unit.pk}/readings/", {"temperature_c": -120},
                           format="json")
    assert response.status_code == 201, response.content
    alarm = Alarm.objects.get(pk=response.data["alarm"])
    # Nothing was listed in the sensor's request...
    assert alarm.vials_recorded_at is None and not AlarmVial.objects.exists()
    # ...a job was started for it, with its task in the outbox (written with the alarm: never lost while Redis is
    # down), run as the sensor whose reading raised it.
    job = alarm.snapshot_job
    assert (job.kind, job.status, job.user, job.params) == (KIND, "queued", users["sensor"], {"alarm": alarm.pk})
    assert "LN2-M" in job.title
    assert OutboxMessage.objects.filter(kind="task", payload__name="bank.tasks.run_job", payload__args=[job.pk]
                                        ).exists()
    assert not OutboxMessage.objects.filter(payload__name="storage.tasks.record_alarm_vials").exists()
    assert jobs.kind_label(KIND) == "Vials in a unit at an excursion"
    # The alarm's API names its job (for its owner and admins to poll).
    admin = APIClient()
    admin.force_authenticate(users["admin"])
    body = admin.get(f"/api/v1/storage/alarms/{alarm.pk}/").json()
    assert body["snapshot_job"] == job.pk and body["vials_recorded_at"] is None and body["affected_vials"] == 0


def test_the_job_lists_the_vials_box_by_box_with_its_progress_and_result(layout, users, stored, monkeypatch):
    first, second = stored
    monkeypatch.setattr("storage.services.alarms.SNAPSHOT_BOXES_PER_STEP", 1)
    steps = []
    update = jobs.Progress.update

    def spy(self, done, total=None, message="", *, force=False):
        steps.append((done, total))
        return update(self, done, total, message, force=force)

    monkeypatch.setattr(jobs.Progress, "update", spy)
    alarm = excursion(layout, users)
    job = alarm.snapshot_job

    assert jobs.run_job(job.pk) == Job.Status.DONE
    assert steps == [(0, 2), (1, 2), (2, 2)]  # one step per box of the unit
    job.refresh_from_db()
    assert (job.status, job.done, job.total, job.error) == ("done", 2, 2, "")
    assert "LN2-M" in job.message
    assert (job.result["alarm"], job.result["vials"], job.result["boxes"]) == (alarm.pk, 7, 2)
    assert job.result["summary"] == [["Vials in the unit", 7], ["Boxes", 2], ["Unit", "LN2-M"]]
    assert job.result["link"]["url"] == f"/storage/alarms/{alarm.pk}/"
    listed = AlarmVial.objects.filter(alarm=alarm)
    assert set(listed.values_list("vial__lot", flat=True)) == {first.pk, second.pk}  # not the quarantine tank's
    assert set(listed.values_list("box", flat=True)) == {layout.box.pk, layout.box2.pk}
    alarm.refresh_from_db()
    assert alarm.vials_recorded_at is not None
    # Audited as the job's user, the job named as the reason.
    history = AlarmVial.history.filter(alarm_id=alarm.pk)
    assert history.count() == 7
    assert {(h.history_user_id, h.history_change_reason) for h in history} == {
        (users["sensor"].pk, f"job {KIND} #{job.pk}")}


def test_a_re_run_lists_nothing_twice(layout, users, stored):
    alarm = excursion(layout, users)
    job = alarm.snapshot_job
    assert jobs.run_job(job.pk) == Job.Status.DONE
    assert AlarmVial.objects.filter(alarm=alarm).count() == 7
    # A redelivered task finds the job finished.
    assert jobs.run_job(job.pk) is None
    # Beat's sweep hands out again a job whose worker seemed to stop after listing: it lists nothing more.
    Job.objects.filter(pk=job.pk).update(status="running", heartbeat_at=ago(60), finished_at=None)
    assert jobs.run_job(job.pk) == Job.Status.DONE
    job.refresh_from_db()
    assert (job.result["vials"], job.result["boxes"]) == (7, 2)
    # The older task, still registered for messages queued before the job, lists nothing either.
    assert record_alarm_vials(alarm.pk) is None
    assert AlarmVial.objects.filter(alarm=alarm).count() == 7
    assert AlarmVial.history.filter(alarm_id=alarm.pk).count() == 7


def test_a_snapshot_cut_short_leaves_nothing_and_its_re_run_lists_every_vial(layout, users, stored, monkeypatch):
    from storage.services.alarms import record_alarm_vials as record

    monkeypatch.setattr("storage.services.alarms.SNAPSHOT_BOXES_PER_STEP", 1)
    alarm = excursion(layout, users)

    def worker_dies(done, total):
        if done == 1:
            raise SystemExit("worker killed")

    with pytest.raises(SystemExit):
        record(alarm.pk, progress=worker_dies)
    alarm.refresh_from_db()
    assert alarm.vials_recorded_at is None and not AlarmVial.objects.exists()  # all or nothing
    # The job was running when its worker died; beat's sweep hands it out again once its progress is stale.
    job = alarm.snapshot_job
    Job.objects.filter(pk=job.pk).update(status="running", attempts=1, heartbeat_at=ago(60))
    assert jobs.run_job(job.pk) == Job.Status.DONE
    assert AlarmVial.objects.filter(alarm=alarm).count() == 7


def test_a_failed_snapshot_says_so_on_the_alarm_page(client, layout, users, stored, monkeypatch):
    def broken(alarm_id, *, progress=None):
        raise RuntimeError("disk full")

    monkeypatch.setattr("storage.services.alarms.record_alarm_vials", broken)
    alarm = excursion(layout, users)
    assert jobs.run_job(alarm.snapshot_job.pk) == Job.Status.FAILED
    client.force_login(users["qa"])
    html = client.get(f"/storage/alarms/{alarm.pk}/").content.decode()
    section = _section(html)
    assert 'id="job-error"' in section and "could not list the vials" in section
    assert "hx-trigger" not in section  # nothing left to wait for: the page stops polling


def _section(html: str) -> str:
    match = re.search(r'<section class="card" id="affected-vials".*?</section>', html, re.S)
    assert match, "no affected-vials section"
    return match.group(0)


def test_the_alarm_page_shows_the_progress_bar_then_the_vials(client, layout, users, stored, password):
    first, _second = stored
    alarm = excursion(layout, users)
    job = alarm.snapshot_job
    url = f"/storage/alarms/{alarm.pk}/"

    # A technician does not own the sensor's job, yet sees its bar: the section polls the alarm page itself.
    client.force_login(users["technician"])
    assert client.get(f"/jobs/{job.pk}/").status_code == 404
    section = _section(client.get(url).content.decode())
    assert 'id="job-progress"' in section and 'role="progressbar"' in section
    assert f'hx-get="{url}"' in section and 'hx-select="#affected-vials"' in section
    assert 'hx-trigger="every 1s"' in section
    assert "<div hx-disable>" in section  # the job's own poll (/jobs/<id>/) is switched off
    assert 'id="vials-pending"' in section and "Open the job" not in section
    # An admin sees every job, so the page links to it.
    client.force_login(users["admin"])
    assert f'href="/jobs/{job.pk}/"' in _section(client.get(url).content.decode())

    # The poll of a running job shows its live progress.
    Job.objects.filter(pk=job.pk).update(status="running", done=1, total=2, heartbeat_at=timezone.now())
    client.force_login(users["qa"])
    polled = client.get(url, HTTP_HX_REQUEST="true").content.decode()
    assert 'aria-valuenow="50"' in _section(polled)

    # The worker lists the vials; the next poll brings them in and stops polling.
    Job.objects.filter(pk=job.pk).update(status="queued", done=0, total=None)
    assert jobs.run_job(job.pk) == Job.Status.DONE
    section = _section(client.get(url, HTTP_HX_REQUEST="true").content.decode())
    assert "job-progress" not in section and "hx-trigger" not in section
    assert "7 vials were in the unit" in section and first.lot_number in section

    # A poll renders the whole page for its section only: it leaves the page's messages for the next page.
    response = client.post(url, {"reason": "lid closed", "meaning": "acknowledgement", "password": password})
    assert response.status_code == 302
    client.get(url, HTTP_HX_REQUEST="true")
    assert "Alarm acknowledged and signed." in client.get(url).content.decode()


def test_an_excursion_raised_with_no_account_falls_back_to_the_task(layout, users, stored):
    record_reading(layout.unit, temperature_c="-120", recorded_at=ago(3), actor=None)
    alarm = Alarm.objects.get(unit=layout.unit)
    assert alarm.snapshot_job is None and not Job.objects.exists()
    assert OutboxMessage.objects.filter(payload__name="storage.tasks.record_alarm_vials",
                                        payload__args=[alarm.pk]).exists()
    assert record_alarm_vials(alarm.pk) == 7


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_in_the_browser_the_bar_gives_way_to_the_vials_by_itself(page, login, layout, users, stored):
    """Chromium: the alarm page's section polls the alarm page (never /jobs/<id>/, which a technician may not
    see), shows the bar, then the vials once the job is done. Screenshots: /tmp/shots/alarm/."""
    from pathlib import Path

    from playwright.sync_api import expect

    shots = Path("/tmp/shots/alarm")
    shots.mkdir(parents=True, exist_ok=True)
    alarm = excursion(layout, users)
    job = alarm.snapshot_job
    asked = []
    page.on("request", lambda request: asked.append(request.url))
    login(users["technician"])
    page.goto(page.base_url + f"/storage/alarms/{alarm.pk}/")
    expect(page.locator("#affected-vials #job-status")).to_have_text("Waiting for the worker")
    page.screenshot(path=str(shots / "1_queued.png"), full_page=True)

    Job.objects.filter(pk=job.pk).update(status="running", done=1, total=2, heartbeat_at=timezone.now(),
                                         message="Listing the vials of LN2-M box by box")
    expect(page.locator("#affected-vials [role=progressbar]")).to_have_attribute("aria-valuenow", "50")
    page.screenshot(path=str(shots / "2_running.png"), full_page=True)

    Job.objects.filter(pk=job.pk).update(status="queued", done=0, total=None)
    assert jobs.run_job(job.pk) == Job.Status.DONE
    expect(page.locator("#affected-vials h2")).to_have_text("7 vials were in the unit")
    expect(page.locator("#job-progress")).to_have_count(0)
    page.screenshot(path=str(shots / "3_done.png"), full_page=True)
    assert any(url.endswith(f"/storage/alarms/{alarm.pk}/") for url in asked[1:])
    assert not [url for url in asked if "/jobs/" in url]
