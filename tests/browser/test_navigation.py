"""Each role logs in through the real login form in Chromium and sees its own navigation."""

import pytest

from tests.browser.focus import assert_focus
from tests.factories import UserFactory

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

# role -> the navigation entries (data-nav keys) it must see, in order. One table for every app.
EXPECTED_NAV = {
    "coordinator": ["dashboard", "donors", "lots", "quality", "trace", "cordblood", "cordblood-sites", "haplobank",
                    "imports", "api"],
    "technician": ["dashboard", "donors", "lots", "storage", "labels", "qc-results", "quality", "requests", "trace",
                   "cordblood", "transplant", "imports", "api"],
    "qa": ["dashboard", "donors", "lots", "storage", "labels", "qc", "qc-results", "quality", "requests", "trace",
           "cordblood", "transplant", "haplobank", "api"],
    "researcher": ["dashboard", "catalog", "requests", "hla-match", "api"],
    "clinician": ["dashboard", "transplant", "transplant-patients"],
    "medical_director": ["dashboard", "transplant"],
    "admin": ["dashboard", "donors", "lots", "storage", "labels", "qc", "quality", "requests", "trace", "cordblood",
              "cordblood-sites", "transplant", "transplant-patients", "haplobank", "imports", "api", "users"],
}


@pytest.mark.parametrize("role", sorted(EXPECTED_NAV))
def test_role_sees_its_navigation(role, page, login):
    user = UserFactory(username=f"nav-{role}", role=role)
    login(user)
    keys = page.eval_on_selector_all("#main-nav a", "els => els.map(e => e.dataset.nav)")
    assert keys == EXPECTED_NAV[role], " ".join(keys)
    assert page.locator("#global-scan").is_visible()


def test_slash_focuses_scan_field_and_unknown_code_says_not_found(page, login):
    login(UserFactory(username="scanner", role="technician"))
    page.goto(page.base_url + "/notifications/")
    assert page.evaluate("document.activeElement.id") != "global-scan"
    page.keyboard.press("/")
    assert_focus(page, "#global-scan")
    page.evaluate("document.activeElement.blur()")
    page.keyboard.press("F2")
    assert_focus(page, "#global-scan")
    page.keyboard.type("SBV99999999")
    page.keyboard.press("Enter")
    page.wait_for_url("**/scan/?code=SBV99999999")
    assert "Nothing found" in page.locator("#scan-not-found").inner_text()
    # the page's own scan field has focus for the next scan
    assert_focus(page, "#scan-again")
    # a wedge scanner typing with no field focused lands in the scan field, not nowhere
    page.evaluate("document.activeElement.blur()")
    page.keyboard.type("SBB00000001")
    assert page.input_value("#scan-again") == "SBB00000001"


def test_language_switch_shows_simplified_chinese(page, login):
    login(UserFactory(username="bilingual", role="qa"))
    with page.expect_navigation():
        page.select_option("select[name=language]", "zh-hans")
    assert page.locator("html").get_attribute("lang") == "zh-hans"
    assert page.locator("#main-nav a[data-nav=dashboard]").inner_text() == "仪表板"
