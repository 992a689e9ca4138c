"""An admin creates a user in Chromium with a generated password; the new user's first login leads to the
password change page, nothing else opens until the password is changed (issue 17, user management)."""

from pathlib import Path

import pytest
from django.contrib.auth import get_user_model
from playwright.sync_api import expect

from bank import services
from bank.models import AccountChange
from tests.browser.focus import assert_focus
from tests.factories import UserFactory

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

SHOTS = Path("/tmp/shots")
NEW_PASSWORD = "quiet-orchid-41-harbour"


def shot(page, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)


def test_admin_creates_a_user_who_must_change_the_password_at_first_login(page, login, browser):
    admin = UserFactory(username="root", role="admin")
    UserFactory(username="old-tech", role="technician", is_active=False)
    login(admin)
    page.goto(page.base_url + "/accounts/users/")
    assert_focus(page, "#user-search")  # the search field takes the first keystrokes
    page.select_option("#user-active", "no")
    page.press("#user-search", "Enter")
    expect(page.locator("#users tbody tr")).to_have_count(1)
    expect(page.locator("#users tbody")).to_contain_text("old-tech")
    shot(page, "users_list_filtered")
    page.click("#add-user")
    page.wait_for_url("**/accounts/new-user/")
    assert_focus(page, "#id_username")
    page.fill("#id_username", "nadia")
    page.fill("#id_full_name", "Nadia Okafor")
    page.fill("#id_email", "nadia@bank.example")
    page.check("input[name=roles][value=technician]")
    assert page.is_checked("input[name=password_mode][value=generated]")
    expect(page.locator("#id_password1")).to_be_hidden()  # asked for only when the admin types one
    page.check("input[name=password_mode][value=typed]")
    expect(page.locator("#id_password1")).to_be_visible()
    page.check("input[name=password_mode][value=generated]")
    assert page.is_checked("#id_must_change_password")
    page.fill("#id_reason", "new bench technician")
    shot(page, "user_create_form")
    page.press("#id_reason", "Enter")  # Enter submits
    expect(page.locator("h1")).to_contain_text("Account nadia created")
    password = page.inner_text("#new-password").strip()
    shot(page, "user_created_password_once")
    nadia = get_user_model().objects.get(username="nadia")
    assert nadia.check_password(password) and services.must_change_password(nadia)
    page.click("text=Open the account")
    expect(page.locator("#must-change-badge")).to_be_visible()
    shot(page, "user_detail_must_change")

    # Nadia's first login, in another browser context.
    context = browser.new_context(viewport={"width": 1366, "height": 900}, locale="en-US")
    other = context.new_page()
    other.goto(page.base_url + "/accounts/login/")
    other.fill("#id_username", "nadia")
    other.fill("#id_password", password)
    other.press("#id_password", "Enter")
    other.wait_for_url("**/accounts/password/")
    expect(other.locator("#must-change-password")).to_be_visible()
    assert_focus(other, "#id_old_password")
    other.goto(page.base_url + "/lots/")  # nothing else opens
    other.wait_for_url("**/accounts/password/")
    shot(other, "forced_password_change")
    other.fill("#id_old_password", password)
    other.fill("#id_new_password1", NEW_PASSWORD)
    other.fill("#id_new_password2", NEW_PASSWORD)
    other.press("#id_new_password2", "Enter")
    other.wait_for_url("**/accounts/password/done/")
    other.goto(page.base_url + "/")
    expect(other.locator("#main-nav")).to_be_visible()
    assert other.url == page.base_url + "/"
    shot(other, "after_password_change_dashboard")
    context.close()
    nadia.refresh_from_db()
    assert nadia.check_password(NEW_PASSWORD)
    assert not services.must_change_password(get_user_model().objects.get(pk=nadia.pk))
    assert AccountChange.objects.filter(user=nadia, kind=AccountChange.Kind.PASSWORD, actor=nadia).exists()
