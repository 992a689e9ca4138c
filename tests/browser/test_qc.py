"""In Chromium: a technician enters a full passing panel; a QA officer releases with a password and sees the
signature. (The lot page belongs to the lots app and is not in this branch: the qc panel it will show is
checked in tests/qc/test_pages.py::test_lot_panel_on_the_lot_page_shows_results_status_and_the_release_signature.)
"""

import pytest
from django.urls import reverse
from playwright.sync_api import expect

from lots.models import Lot
from tests.factories import PASSWORD, UserFactory
from tests.qc.factories import PASSING, panel_codes, qc_lot

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_technician_enters_a_full_panel_and_qa_releases_with_a_password(page, login):
    technician = UserFactory(username="bench-tech", role="technician", first_name="Wei", last_name="Li")
    qa = UserFactory(username="qa-officer", role="qa", first_name="Fang", last_name="Wang")
    lot = qc_lot(line_reprogramming_method="episomal")
    codes = panel_codes(lot)
    assert len(codes) == 7

    login(technician)
    page.click("#main-nav a[data-nav=qc-results]")
    scan = page.locator("#lot-scan")
    expect(scan).to_be_focused()  # the page's own scan field is ready for the scanner
    page.keyboard.type(lot.barcode)
    page.keyboard.press("Enter")
    page.wait_for_url(f"**/qc/lots/{lot.pk}/results/")
    for code in codes:
        row = page.locator(f"#test-{code}")
        data = PASSING[code]
        if "value" in data:
            row.locator(f"#id_{code}-value").fill(str(data["value"]))
            row.locator(f"#id_{code}-value").press("Enter")  # Enter submits the row
        else:
            row.locator(f"#id_{code}-outcome").select_option(data["outcome"])
            row.locator("button[type=submit]").click()
        expect(page.locator(f"#test-{code} .badge.passed")).to_be_visible()
    expect(page.locator(".messages .success")).to_contain_text("passed")
    page.click("header form[action$='/logout/'] button")

    login(qa)
    page.click("#main-nav a[data-nav=qc]")
    page.locator(f"tr[data-lot='{lot.lot_number}'] a").click()
    page.wait_for_url(f"**/qc/lots/{lot.pk}/review/")
    expect(page.locator("#blockers")).to_have_count(0)
    expect(page.locator("#review-tests tr[data-state=passed]")).to_have_count(7)
    expect(page.locator("#eligibility")).to_have_text("Eligible")
    page.fill("#id_release-password", "not-my-password")
    page.click("#release-form button[type=submit]")
    expect(page.locator("#release-form .errornote")).to_contain_text("The password is not correct")
    page.fill("#id_release-password", PASSWORD)
    page.click("#release-form button[type=submit]")
    expect(page.locator(".messages .success")).to_contain_text(f"Lot {lot.lot_number} released.")
    signature = page.locator("#decision .signature")
    expect(signature).to_contain_text("Fang Wang")
    expect(signature).to_contain_text("Release: the lot meets its specification")
    expect(page.locator("#coa-link")).to_be_visible()
    assert Lot.objects.get(pk=lot.pk).status == "released"

    # ... and the lot page shows the release signature in its QC panel.
    page.goto(page.base_url + reverse("lots:lot_detail", args=[lot.pk]))
    panel = page.locator("#panel-qc .signature")
    expect(panel).to_contain_text("Fang Wang")
    expect(panel).to_contain_text("Release: the lot meets its specification")
    page.screenshot(path="/tmp/qc-lot-page-signature.png", full_page=True)
