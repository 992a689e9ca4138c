"""In Chromium: the idle-timeout warning (keyboard brings the user back; silence signs out to the login page) and
the login page's lockout message."""

from __future__ import annotations

import os

import pytest

from tests.browser.focus import assert_focus
from tests.factories import PASSWORD, UserFactory

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

SHOTS = os.environ.get("STEMBANK_SCREENSHOTS", "")  # a directory: keep screenshots for a human to look at


def shot(page, name: str) -> None:
    if SHOTS:
        page.screenshot(path=os.path.join(SHOTS, f"{name}.png"), full_page=False)


def test_idle_warning_stay_signed_in_then_sign_out(page, login, settings):
    settings.SESSION_IDLE_TIMEOUT_MINUTES = 0.25  # 15 seconds, so the test sees the whole cycle
    settings.SESSION_IDLE_WARNING_SECONDS = 10  # at most half the timeout: 7 seconds before the end
    login(UserFactory(username="bench-tech", role="technician"))
    page.goto(page.base_url + "/notifications/")
    warning = page.locator("#idle-warning")
    assert warning.is_hidden()
    warning.wait_for(state="visible", timeout=15_000)
    assert "you will be signed out in" in warning.inner_text()
    assert 0 <= int(page.locator("[data-idle-countdown]").inner_text()) <= 8
    assert page.url.endswith("/notifications/")
    shot(page, "idle-warning")
    # Any key brings the user back: the banner goes and the server's clock starts again.
    page.keyboard.press("Shift")
    warning.wait_for(state="hidden", timeout=5_000)
    status = page.evaluate("fetch('/accounts/session/status/').then(r => r.json())")
    assert status["active"] and status["remaining_seconds"] >= 10
    # The button does the same, from the keyboard.
    warning.wait_for(state="visible", timeout=15_000)
    page.focus("#idle-stay")
    page.keyboard.press("Enter")
    warning.wait_for(state="hidden", timeout=5_000)
    # Then nobody touches the bench PC: signed out, on the login page, told why, brought back after login.
    page.wait_for_url("**/accounts/login/?next=%2Fnotifications%2F", timeout=30_000)
    assert "signed out after 1 minute without activity" in page.locator("#signed-out").inner_text()
    shot(page, "idle-signed-out")
    assert page.evaluate("fetch('/accounts/session/status/').then(r => r.json())")["active"] is False
    page.fill("#id_username", "bench-tech")
    page.fill("#id_password", PASSWORD)
    page.press("#id_password", "Enter")
    page.wait_for_url("**/notifications/")


def test_login_page_says_locked_without_telling_the_password(page, settings):
    settings.LOGIN_FAILURE_LIMIT = 3
    UserFactory(username="qa-bench", role="qa")
    page.goto(page.base_url + "/accounts/login/")
    assert_focus(page, "#id_username")
    for attempt in range(3):
        page.fill("#id_username", "qa-bench")
        page.fill("#id_password", f"wrong-{attempt}")
        page.press("#id_password", "Enter")
        page.wait_for_selector("#login-error")
    assert "Try again in 15 minutes, or ask an administrator to unlock it." in page.inner_text("#login-error")
    # The right password now gets the same answer: the lock never tells whether it was right.
    page.fill("#id_username", "qa-bench")
    page.fill("#id_password", PASSWORD)
    page.press("#id_password", "Enter")
    page.wait_for_selector("#login-error")
    message = page.inner_text("#login-error")
    assert "Too many failed attempts for this account from this computer" in message
    assert "correct" not in message
    assert "/accounts/login/" in page.url and page.locator("#main-nav").count() == 0
    shot(page, "login-locked")
