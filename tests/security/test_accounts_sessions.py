"""Browser sessions end after SESSION_IDLE_TIMEOUT_MINUTES without activity and SESSION_ABSOLUTE_HOURS after
login, on pages and on the API's session authentication; API tokens are not affected. The optional second
factor (TOTP) keeps the roles that need it on its page until they give a code."""

from __future__ import annotations

import pytest
from django.test import Client
from django_otp.oath import totp
from django_otp.plugins.otp_totp.models import TOTPDevice
from rest_framework.test import APIClient

from bank import access, second_factor
from bank.models import AccountChange, AuthEvent
from bank.services import issue_token
from bank.signatures import sign

pytestmark = pytest.mark.django_db


def age_session(client: Client, *, idle: float = 0, since_login: float = 0) -> None:
    """Pretend the last request was ``idle`` seconds ago and the login ``since_login`` seconds ago."""
    session = client.session
    session[access.SEEN] = session[access.SEEN] - idle
    session[access.STARTED] = session[access.STARTED] - since_login
    session.save()


def login(client: Client, username: str, password: str):
    return client.post("/accounts/login/", {"username": username, "password": password})


def test_idle_session_ends_and_the_login_page_says_why(users, password, client):
    assert login(client, "technician", password).status_code == 302
    assert client.get("/").status_code == 200
    age_session(client, idle=14 * 60)  # 14 minutes: still there, and this request counts as activity
    assert client.get("/").status_code == 200
    age_session(client, idle=16 * 60)
    response = client.get("/storage/")
    assert response.status_code == 302 and response["Location"].startswith("/accounts/login/?next=/storage/")
    page = client.get(response["Location"]).content.decode()
    assert "You were signed out after 15 minutes without activity." in page
    assert client.get("/").status_code == 302  # the session is gone, not only this request


def test_absolute_limit_ends_even_an_active_session(users, password, client, settings):
    login(client, "qa", password)
    age_session(client, since_login=settings.SESSION_ABSOLUTE_HOURS * 3600 - 60)
    assert client.get("/").status_code == 200
    age_session(client, since_login=120)
    response = client.get("/", follow=True)
    assert "reached its 8-hour limit" in response.content.decode()


def test_api_session_obeys_the_limits_and_tokens_do_not(users, password, client):
    login(client, "technician", password)
    assert client.get("/api/v1/me/").status_code == 200
    token = APIClient()
    token.credentials(HTTP_AUTHORIZATION=f"Token {issue_token(users['technician'])[1]}")
    age_session(client, idle=16 * 60)
    assert client.get("/api/v1/me/").status_code in (401, 403)
    assert token.get("/api/v1/me/").status_code == 200


def test_keepalive_extends_and_status_does_not(users, password, client):
    login(client, "technician", password)
    age_session(client, idle=10 * 60)
    status = client.get("/accounts/session/status/").json()
    assert status["active"] and 4 * 60 < status["remaining_seconds"] <= 5 * 60  # looking did not extend it
    assert client.get("/accounts/session/status/").json()["remaining_seconds"] <= 5 * 60
    alive = client.post("/accounts/session/keepalive/").json()
    assert alive["active"] and alive["remaining_seconds"] > 14 * 60
    assert client.get("/accounts/session/keepalive/").status_code == 405
    # The page's timer ran out: the page posts here, which signs out and sends it to the login page.
    response = client.post("/accounts/session/timeout/", {"next": "/storage/"})
    assert response.status_code == 302 and response["Location"] == "/accounts/login/?next=%2Fstorage%2F"
    assert client.get("/accounts/session/status/").json() == {"active": False, "remaining_seconds": 0}
    assert client.post("/accounts/session/timeout/", {"next": "https://evil.example/"})["Location"] == (
        "/accounts/login/?next=%2F")


def test_pages_carry_the_idle_warning(users, password, client):
    login(client, "technician", password)
    html = client.get("/").content.decode()
    assert 'id="idle-warning"' in html and 'data-warning-seconds="60"' in html and "bank/idle.js" in html
    remaining = int(html.split('data-remaining-seconds="', 1)[1].split('"', 1)[0])
    assert 14 * 60 < remaining <= 15 * 60
    assert 'id="idle-warning"' not in Client().get("/accounts/login/").content.decode()


# --- second factor -------------------------------------------------------------------------------------------


def code(device: TOTPDevice, drift: int = 0) -> str:
    return f"{totp(device.bin_key, step=device.step, t0=device.t0, digits=device.digits, drift=drift):06d}"


def unthrottle(device: TOTPDevice) -> None:
    """django-otp delays the next try after a wrong code (seconds, doubling): the test does not wait."""
    device.throttling_failure_count, device.throttling_failure_timestamp = 0, None
    device.save()


def test_second_factor_is_off_by_default(users, password, client):
    login(client, "qa", password)
    assert client.get("/").status_code == 200


def test_required_role_enrolls_then_verifies_before_any_page(users, password, client, settings):
    settings.REQUIRE_SECOND_FACTOR_ROLES = ["qa", "admin"]
    login(client, "qa", password)
    response = client.get("/qc/")
    assert response.status_code == 302 and response["Location"].startswith("/accounts/second-factor/?next=")
    assert client.get("/api/v1/me/").status_code in (401, 403)  # nor the API through the session
    response = client.get(response["Location"])
    assert response["Location"].startswith("/accounts/second-factor/setup/")
    page = client.get(response["Location"]).content.decode()
    device = TOTPDevice.objects.get(user=users["qa"], confirmed=False)
    assert second_factor.secret_text(device) in page and '<svg' in page and 'id="totp-qr"' in page
    assert client.post("/accounts/second-factor/setup/?next=/qc/", {"code": "000000"}).status_code == 200
    device.refresh_from_db()
    unthrottle(device)
    response = client.post("/accounts/second-factor/setup/", {"code": code(device), "next": "/qc/"})
    assert response.status_code == 302 and response["Location"] == "/qc/"
    assert client.get("/qc/").status_code == 200
    change = AccountChange.objects.get(user=users["qa"], kind=AccountChange.Kind.SECOND_FACTOR)
    assert change.after == {"enrolled": True}

    # Next login: the code is asked again; a wrong code counts like a failed login.
    client.logout()
    login(client, "qa", password)
    assert client.get("/").status_code == 302
    response = client.post("/accounts/second-factor/", {"code": "123456", "next": "/"})
    assert response.status_code == 200 and "This code is not right" in response.content.decode()
    assert AuthEvent.objects.filter(username="qa", kind="login_failed", source="second_factor").count() == 1
    device.refresh_from_db()
    unthrottle(device)
    response = client.post("/accounts/second-factor/", {"code": code(device, drift=1), "next": "/"})
    assert response.status_code == 302 and client.get("/").status_code == 200
    # Signatures still ask for the password, not the code.
    assert sign(AccountChange.objects.first(), signer=users["qa"], password=password, meaning="review").pk
    # A technician is not asked.
    other = Client()
    login(other, "technician", password)
    assert other.get("/").status_code == 200


def test_token_endpoint_asks_for_the_code(users, password, settings):
    settings.REQUIRE_SECOND_FACTOR_ROLES = ["qa"]
    client = APIClient()
    response = client.post("/api/v1/auth/token/", {"username": "qa", "password": password}, format="json")
    assert response.status_code == 401 and "second factor" in response.json()["detail"]
    device = TOTPDevice.objects.create(user=users["qa"], name="phone", confirmed=True)
    response = client.post("/api/v1/auth/token/", {"username": "qa", "password": password}, format="json")
    assert response.status_code == 401 and "otp" in response.json()["detail"]
    response = client.post("/api/v1/auth/token/", {"username": "qa", "password": password, "otp": code(device)},
                           format="json")
    assert response.status_code == 200 and response.json()["token"]


def test_admin_resets_a_lost_second_factor(users, client):
    TOTPDevice.objects.create(user=users["qa"], name="phone", confirmed=True)
    client.force_login(users["admin"])
    response = client.post("/accounts/users/qa/", {"action": "reset_second_factor", "reset-reason": "lost phone"})
    assert response.status_code == 302 and not TOTPDevice.objects.filter(user=users["qa"]).exists()
    change = AccountChange.objects.get(user=users["qa"], kind=AccountChange.Kind.SECOND_FACTOR)
    assert change.before == {"enrolled": True} and change.after == {"enrolled": False}
    assert change.actor == users["admin"] and change.reason == "lost phone"


def test_wrong_codes_count_even_after_the_right_password(users, password, settings, client):
    """A right password does not reset the count while the code is wrong: codes cannot be guessed for ever."""
    settings.REQUIRE_SECOND_FACTOR_ROLES = ["qa"]
    TOTPDevice.objects.create(user=users["qa"], name="phone", confirmed=True)
    api = APIClient()
    for _ in range(settings.LOGIN_FAILURE_LIMIT):
        response = api.post("/api/v1/auth/token/", {"username": "qa", "password": password, "otp": "99999x"},
                            format="json")
        assert response.status_code in (401, 403)
    response = api.post("/api/v1/auth/token/", {"username": "qa", "password": password, "otp": "99999x"},
                        format="json")
    assert response.status_code == 403 and response.json()["code"] == "account_locked"
    assert not AuthEvent.objects.filter(username="qa", kind="login_ok").exists()
    # The pages too: the locked pair cannot even give its password.
    response = login(client, "qa", password)
    assert response.status_code == 200 and "Try again in" in response.content.decode()
