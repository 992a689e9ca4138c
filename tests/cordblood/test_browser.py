"""The cord blood bench in Chromium: register a baby of a mother, accept, process and freeze the unit, list a
released unit; screenshots under /tmp/shots_cb/ for a person to look at."""

import datetime
import pathlib

import pytest
from django.utils import timezone

from cordblood import services
from cordblood.models import CordBloodUnit
from tests import cordblood_factories as cb
from tests.cordblood import helpers as h

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

SHOTS = pathlib.Path("/tmp/shots_cb")


def shot(page, name: str) -> None:
    SHOTS.mkdir(exist_ok=True)
    page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)


def test_bench_walk(page, login):
    coordinator, technician, qa = h.coordinator(), h.technician(), h.qa()
    site, _collector = h.site_and_collector()
    mother = h.mother()
    h.donate(mother, born_at=timezone.now() - datetime.timedelta(days=400), ownership="family")
    cb.unit()
    cb.unit(ownership="family")
    released = cb.unit(listing_status="not_listed")

    login(coordinator)
    page.goto(page.base_url + f"/cordblood/mothers/{mother.pk}/")
    shot(page, "01-mother")
    page.click("#add-donation")
    born = timezone.localtime(timezone.now() - datetime.timedelta(hours=3)).strftime("%Y-%m-%dT%H:%M")
    page.select_option("#id_sex", "M")
    page.fill("#id_born_at", born)
    page.fill("#id_gestational_age_weeks", "39")
    page.fill("#id_birth_weight_g", "3400")
    page.select_option("#id_site", str(site.pk))
    page.fill("#id_collected_volume_ml", "92")
    page.fill("#id_consent_form_version", "CB-ICF-v3")
    page.check("input[name=consent_scopes][value=clinical]")
    shot(page, "02-donation-form")
    page.click("#submit-donation")
    page.wait_for_url("**/cordblood/units/*/")
    unit = CordBloodUnit.objects.order_by("-pk").first()
    assert unit.donation.mother == mother
    shot(page, "03-unit-pending")

    page.context.clear_cookies()
    login(technician)
    page.goto(page.base_url + f"/cordblood/units/{unit.pk}/")
    page.fill("#accept-form #id_tnc", "1500000000")
    page.click("#accept-form button[type=submit]")
    page.wait_for_url(f"**/cordblood/units/{unit.pk}/")
    collected = timezone.localtime(unit.donation.collection.collected_at)
    page.fill("#processing-form #id_started_at", (collected + datetime.timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M"))
    page.fill("#processing-form #id_ended_at", (collected + datetime.timedelta(hours=2)).strftime("%Y-%m-%dT%H:%M"))
    page.fill("#processing-form #id_volume_pre_ml", "92")
    page.fill("#processing-form #id_volume_post_ml", "25")
    page.fill("#processing-form #id_tnc_pre", "1500000000")
    page.fill("#processing-form #id_tnc_post", "1250000000")
    page.fill("#processing-form #id_reagent_lots", "HES 6 %: H2231")
    page.click("#processing-form button[type=submit]")
    page.wait_for_url(f"**/cordblood/units/{unit.pk}/")
    shot(page, "04-unit-processed")
    page.click("#freeze-form button[type=submit]")
    page.wait_for_url(f"**/cordblood/units/{unit.pk}/")
    assert page.locator("#containers tbody tr").count() == 9
    shot(page, "05-unit-frozen")
    unit.refresh_from_db()
    assert unit.lot.status == "quarantine"

    page.context.clear_cookies()
    login(qa)
    page.goto(page.base_url + "/cordblood/?ready_to_list=on")
    shot(page, "06-ready-to-list")
    page.goto(page.base_url + f"/cordblood/units/{released.pk}/")
    page.select_option("#listing-form #id_status", "available")
    page.click("#listing-form button[type=submit]")
    page.wait_for_url(f"**/cordblood/units/{released.pk}/")
    assert page.locator("#unit-listing").inner_text().strip() == "Available"
    services.discard_unit(h.donate().unit, actor=technician, reason="clotted")
    page.goto(page.base_url + "/cordblood/discards/")
    shot(page, "07-discards")
    page.goto(page.base_url + "/cordblood/")
    shot(page, "08-unit-list")
    family = CordBloodUnit.objects.filter(ownership="family", lot__isnull=False).first()
    page.context.clear_cookies()
    login(coordinator)
    page.goto(page.base_url + f"/cordblood/units/{family.pk}/")
    shot(page, "09-family-unit")
    page.goto(page.base_url + "/cordblood/sites/")
    shot(page, "10-sites")
