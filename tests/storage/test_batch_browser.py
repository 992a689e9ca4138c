"""Evacuating a full tank from its page runs as a job through a real Celery worker: the page hands over to the job
page, which ends with the result; the vials are in the other tank. Screenshot: /tmp/shots/evacuation_job.png."""

from pathlib import Path

import pytest
from django.test import override_settings
from playwright.sync_api import expect

from lots.models import Vial
from storage.services import store_lot
from tests.factories import BoxFactory, LotFactory, RackFactory, StorageUnitFactory, UserFactory

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

SHOTS = Path("/tmp/shots")


@override_settings(STORAGE_EVACUATE_JOB_BOXES=3, JOB_PROGRESS_INTERVAL=0)
def test_evacuating_a_full_tank_runs_in_the_worker(page, login, celery_worker):
    unit = StorageUnitFactory(name="LN2-LEAK")
    rack = RackFactory(unit=unit, name="R1")
    boxes = [BoxFactory(rack=rack, name=f"B{i}", rows=5, cols=5, position=i) for i in range(1, 5)]
    lot = LotFactory(status="released", vial_count=60)
    technician = UserFactory(username="evac-tech", role="technician")
    store_lot(lot, boxes, actor=technician)
    spare = RackFactory(unit=StorageUnitFactory(name="LN2-SPARE"), name="S1").unit
    login(technician)
    page.goto(page.base_url + f"/storage/units/{unit.pk}/evacuate/")
    page.select_option("#id_target", str(spare.pk))
    page.fill("#id_reason", "LN2 leak at the lid seal")
    page.check("#id_confirm")
    page.click("button.btn.danger")
    page.wait_for_url("**/jobs/*/")
    expect(page.locator("#job-status")).to_have_text("Done", timeout=30_000)
    SHOTS.mkdir(exist_ok=True)
    page.screenshot(path=str(SHOTS / "evacuation_job.png"), full_page=True)
    assert Vial.objects.filter(box__rack__unit=spare).count() == 60
