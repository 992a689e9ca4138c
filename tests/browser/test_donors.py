"""A coordinator registers a donor, records consent, a collection and a full negative panel, and sees "eligible"."""

import datetime

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from donors.models import Donor, ScreeningMarker
from tests.browser.focus import assert_focus
from tests.factories import UserFactory, ethics_in_force

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def seeded_panel():
    """The QC_SPECS.md panel is there even after other transactional tests flushed the database."""
    assert ScreeningMarker.objects.filter(required=True).count() == 9


def test_coordinator_registers_consents_collects_screens_and_sees_eligible(page, login, seeded_panel):
    ethics_in_force()  # issue 15: the collection cites the approval in force
    login(UserFactory(username="coord-browser", role="coordinator"))
    page.goto(page.base_url + "/donors/")
    page.click("#register-donor")

    page.check("#id_sex_0")
    page.fill("#id_birth_year", "1987")
    page.check("#id_donor_type_0")
    page.fill("#id_population", "Han Chinese")
    page.fill("#id_full_name", "Browser Donor")
    page.fill("#id_national_id", "110101198701010042")
    page.click("text=Register donor")

    page.wait_for_url("**/consents/new/")
    donor = Donor.objects.get()
    page.fill("#id_form_version", "ICF-2025-v3")
    page.fill("#id_signed_on", (timezone.localdate() - datetime.timedelta(days=1)).isoformat())
    page.check("input[name=scopes][value=research]")
    page.check("input[name=scopes][value=genetic_analysis]")
    page.click("#consent-form button[type=submit]")
    page.wait_for_url(f"**/donors/{donor.pk}/?tab=consent")
    assert page.inner_text("#donor-consent").strip() == "Active"
    assert "Research" in page.inner_text("#consent-table")

    page.click("#record-collection")
    expect(page.locator("#id_donor_code")).to_have_value(donor.code)
    page.select_option("#id_tissue", "skin")
    page.fill("#id_collected_at", (timezone.localtime() - datetime.timedelta(hours=2)).strftime("%Y-%m-%dT%H:%M"))
    page.fill("#id_transport_temperature_c", "4")
    page.click("#collection-form button[type=submit]")
    page.wait_for_url("**/donors/collections/*/")
    assert "Incomplete" in page.inner_text("#collection-eligibility")

    page.goto(page.base_url + f"/donors/{donor.pk}/")
    assert "Incomplete" in page.inner_text("#donor-eligibility")
    page.click("#record-screening")
    page.wait_for_url(f"**/donors/{donor.pk}/screenings/new/")
    expect(page.locator(".marker.required")).to_have_count(7)  # skin: the base panel
    # keyboard first: the cursor starts on the first marker; one click fills the panel, Enter saves
    assert_focus(page, '[data-marker="hiv_ab"]')
    page.click("#fill-negative")
    page.focus("select[data-marker=syphilis]")
    page.keyboard.press("Enter")
    page.wait_for_url(f"**/donors/{donor.pk}/?tab=screening")

    assert page.inner_text("#donor-eligibility").startswith("Eligible")
    assert page.locator("#donor-eligibility [data-eligibility=eligible]").is_visible()
    assert page.locator("tr[data-marker=hcv_nat]").count() == 1
    assert "Browser Donor" in page.inner_text("#donor-identity")
