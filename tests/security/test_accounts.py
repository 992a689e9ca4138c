"""Authentication and access (issue 11): lockout per username and client address with backoff, throttling,
password changes that count and revoke, expiring hashed API tokens, sensors bound to units, permissions only
through roles, every account change audited. On PostgreSQL and Redis like the rest of the suite."""

from __future__ import annotations

import datetime

import pytest
from django.contrib.auth.models import Permission
from django.test import Client
from django.utils import timezone
from knox.models import AuthToken
from rest_framework.test import APIClient

from bank import auth
from bank.models import AccountChange, AuthEvent
from bank.roles import sync_role_permissions, user_roles
from bank.services import issue_token, save_user
from bank.signatures import sign
from storage.models import SensorBinding, TemperatureReading
from storage.services import bind_sensors, record_reading
from tests.factories import StorageUnitFactory, UserFactory

pytestmark = pytest.mark.django_db

LOGIN = "/accounts/login/"
TOKEN = "/api/v1/auth/token/"
HERE, ELSEWHERE = "127.0.0.1", "127.0.0.2"


class Clock:
    """Moves the lockout's clock (``bank.auth.now``): events are stamped and judged by it."""

    def __init__(self, monkeypatch):
        self.offset = datetime.timedelta()
        monkeypatch.setattr(auth, "now", lambda: timezone.now() + self.offset)

    def travel(self, **delta) -> None:
        self.offset += datetime.timedelta(**delta)


@pytest.fixture
def clock(monkeypatch):
    return Clock(monkeypatch)


def page_login(client: Client, username: str, password: str):
    return client.post(LOGIN, {"username": username, "password": password})


def logged_in(client: Client) -> bool:
    return "_auth_user_id" in client.session


def token_client(user) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {issue_token(user)[1]}")
    return client


def events(kind: str, ip: str | None = HERE, username: str = "qa") -> int:
    return AuthEvent.objects.filter(username=username, kind=kind, client_ip=ip).count()


# --- lockout ---------------------------------------------------------------------------------------------------


def test_twenty_failures_lock_one_address_only_and_the_lock_ends_without_being_extended(users, password, clock):
    bench = Client(REMOTE_ADDR=HERE)
    for attempt in range(20):
        if attempt == 10:
            clock.travel(minutes=5)  # still trying five minutes later: must not push the end of the lock
        response = page_login(bench, "qa", f"guess-{attempt}")
        assert response.status_code == 200 and not logged_in(bench)
    # LOGIN_FAILURE_LIMIT (5) failures counted; every later attempt was refused unseen and does not count.
    assert events(AuthEvent.Kind.LOGIN_FAILED) == 5
    assert events(AuthEvent.Kind.LOCKED_OUT) == 15
    lock = auth.lock_for("qa", HERE)
    assert lock is not None and lock.lockouts == 1
    first_failure = AuthEvent.objects.filter(username="qa", kind=AuthEvent.Kind.LOGIN_FAILED).order_by("at")[4].at
    assert lock.until == first_failure + datetime.timedelta(minutes=15)

    # The same officer at another bench: the token endpoint and the login page both let her in.
    other = APIClient(REMOTE_ADDR=ELSEWHERE)
    assert other.post(TOKEN, {"username": "qa", "password": password}, format="json").status_code == 200
    assert page_login(Client(REMOTE_ADDR=ELSEWHERE), "qa", password).status_code == 302

    # The locked bench is refused even with the right password, and told when to come back.
    response = page_login(bench, "qa", password)
    assert not logged_in(bench)
    assert "Try again in 10 minutes, or ask an administrator to unlock it." in response.content.decode()
    assert "password" not in response.context["form"].non_field_errors()[0].lower()  # says nothing about it

    clock.travel(minutes=9)  # 14 minutes after the lock began: still locked, and these tries change nothing
    assert page_login(bench, "qa", password).status_code == 200 and not logged_in(bench)
    assert auth.lock_for("qa", HERE).until == lock.until
    clock.travel(minutes=2)  # past the 15 minutes
    assert auth.lock_for("qa", HERE) is None
    assert page_login(bench, "qa", password).status_code == 302 and logged_in(bench)


def test_each_further_lockout_doubles_up_to_the_cap_and_a_success_starts_afresh(users, password, clock, settings):
    settings.LOGIN_LOCKOUT_MAX_MINUTES = 60

    def lock_out() -> auth.Lock:
        for _ in range(settings.LOGIN_FAILURE_LIMIT):
            page_login(Client(REMOTE_ADDR=HERE), "qa", "wrong")
        lock = auth.lock_for("qa", HERE)
        assert lock is not None
        return lock

    durations = []
    for _ in range(4):
        lock = lock_out()
        durations.append(round((lock.until - auth.now()).total_seconds() / 60))
        clock.travel(minutes=durations[-1] + 1)
    assert durations == [15, 30, 60, 60]
    # A failure below the limit after a lock does not lock again.
    page_login(Client(REMOTE_ADDR=HERE), "qa", "wrong")
    assert auth.lock_for("qa", HERE) is None
    # The right password from there resets the backoff: the next lockout is back to the base period.
    assert page_login(Client(REMOTE_ADDR=HERE), "qa", password).status_code == 302
    assert round((lock_out().until - auth.now()).total_seconds() / 60) == 15


def test_failed_signatures_and_password_checks_count_for_their_address(users, password, client):
    qa = users["qa"]
    record = AccountChange.objects.create(user=qa, kind=AccountChange.Kind.CREATED)  # any record to sign
    client.force_login(qa)
    for _ in range(2):  # the password change page, from this bench
        response = client.post("/accounts/password/", {"old_password": "wrong", "new_password1": "a-new-passphrase-7",
                                                        "new_password2": "a-new-passphrase-7"})
        assert "old password was entered incorrectly" in response.content.decode()
    with auth.bind_client_ip(HERE):  # a signature made at the same bench
        for _ in range(2):
            with pytest.raises(Exception, match="password is not correct"):
                sign(record, signer=qa, password="wrong", meaning="review")
    page_login(Client(REMOTE_ADDR=HERE), "qa", "wrong")
    assert events(AuthEvent.Kind.PASSWORD_FAILED) == 2 and events(AuthEvent.Kind.SIGNATURE_FAILED) == 2
    assert auth.is_locked("qa", HERE)
    # Locked: the password change refuses even the right old password, without looking at it.
    response = client.post("/accounts/password/", {"old_password": password, "new_password1": "a-new-passphrase-7",
                                                    "new_password2": "a-new-passphrase-7"})
    assert response.status_code == 200 and "Try again in 15 minutes" in response.content.decode()
    qa.refresh_from_db()
    assert qa.check_password(password)
    assert events(AuthEvent.Kind.LOCKED_OUT) == 1
    # ... and signing there is refused too; another address signs.
    with auth.bind_client_ip(HERE), pytest.raises(Exception, match="Try again in"):
        sign(record, signer=qa, password=password, meaning="review")
    with auth.bind_client_ip(ELSEWHERE):
        assert sign(record, signer=qa, password=password, meaning="review").signer == qa


def test_client_address_comes_from_the_trusted_proxy_only(settings, rf):
    forged = rf.get("/", REMOTE_ADDR="10.0.0.5", HTTP_X_FORWARDED_FOR="6.6.6.6, 203.0.113.9")
    assert auth.client_ip(forged) == "10.0.0.5"  # default: no proxy trusted, the header is ignored
    settings.TRUSTED_PROXY_COUNT = 1
    assert auth.client_ip(forged) == "203.0.113.9"  # what our proxy saw, not what the client claimed
    settings.TRUSTED_PROXY_COUNT = 2
    assert auth.client_ip(forged) == "6.6.6.6"
    assert auth.client_ip(rf.get("/", REMOTE_ADDR="10.0.0.5", HTTP_X_FORWARDED_FOR="not-an-ip")) == "10.0.0.5"


# --- the token endpoint ------------------------------------------------------------------------------------------


def test_token_endpoint_locked_is_403_and_throttled_is_429(users, password, settings):
    client = APIClient()
    for _ in range(settings.LOGIN_FAILURE_LIMIT - 1):
        response = client.post(TOKEN, {"username": "qa", "password": "wrong"}, format="json")
        assert response.status_code == 401 and response.json()["code"] == "authentication_failed"
    response = client.post(TOKEN, {"username": "qa", "password": "wrong"}, format="json")  # this one locks
    assert response.status_code == 403 and response.json()["code"] == "account_locked"
    response = client.post(TOKEN, {"username": "qa", "password": password}, format="json")
    body = response.json()
    assert response.status_code == 403 and body["code"] == "account_locked" and body["retry_after_minutes"] == 15
    assert "ask an administrator" in body["detail"]
    # Throttled per client address: the 11th call of the minute (API_THROTTLE_RATES["token"] = 10/min) is 429.
    assert settings.API_THROTTLE_RATES["token"] == "10/min"
    for _ in range(10 - 6):
        assert client.post(TOKEN, {"username": "technician", "password": password}, format="json").status_code == 200
    response = client.post(TOKEN, {"username": "technician", "password": password}, format="json")
    assert response.status_code == 429 and response.json()["code"] == "throttled" and response["Retry-After"]
    # Another address still gets its token.
    other = APIClient(REMOTE_ADDR=ELSEWHERE)
    assert other.post(TOKEN, {"username": "technician", "password": password}, format="json").status_code == 200


def test_login_page_is_throttled_per_address_whatever_the_username(users, password, settings):
    settings.API_THROTTLE_RATES = {**settings.API_THROTTLE_RATES, "login": "3/min"}
    spray = Client(REMOTE_ADDR=HERE)
    for name in ("qa", "technician", "coordinator"):  # one try each: no account reaches its lockout
        assert page_login(spray, name, "wrong").status_code == 200
    response = page_login(spray, "researcher", password)  # even the right password is not looked at
    assert response.status_code == 429 and response["Retry-After"] and not logged_in(spray)
    assert "Too many sign-in attempts from this computer" in response.content.decode()
    assert not AuthEvent.objects.filter(username="researcher").exists()
    assert spray.get(LOGIN).status_code == 200  # showing the form is not counted
    other = Client(REMOTE_ADDR=ELSEWHERE)
    assert page_login(other, "researcher", password).status_code == 302


def test_token_endpoint_never_answers_500(users):
    client = APIClient()
    for body in ({}, {"username": "qa"}, {"username": "x" * 5000, "password": "p"}, {"username": ["qa"], "password": 1},
                 {"username": "q\x00a", "password": "p"}):
        from tests import throttles

        throttles.reset()
        assert client.post(TOKEN, body, format="json").status_code in (400, 401), body


def test_signature_endpoints_are_throttled_per_user(users, settings):
    from qc.api.views import ReleaseView

    settings.API_THROTTLE_RATES = {**settings.API_THROTTLE_RATES, "signature": "2/min"}
    assert ReleaseView.throttle_scope == "signature"
    client = APIClient()
    client.force_authenticate(users["qa"])
    codes = [client.post("/api/v1/lots/987654/release/", {"password": "x", "meaning": "release"},
                         format="json").status_code for _ in range(3)]
    assert codes == [404, 404, 429]
    other = APIClient()  # another officer has her own allowance
    other.force_authenticate(UserFactory(username="qa2", role="qa"))
    assert other.post("/api/v1/lots/987654/release/", {"password": "x"}, format="json").status_code == 404


# --- API tokens ---------------------------------------------------------------------------------------------------


def test_token_is_hashed_expires_and_lists_only_your_own(users, password, settings):
    response = APIClient().post(TOKEN, {"username": "technician", "password": password}, format="json")
    body = response.json()
    assert set(body) == {"token", "expires_at"}
    expires = datetime.datetime.fromisoformat(body["expires_at"])
    ttl = expires - timezone.now()
    assert datetime.timedelta(hours=settings.API_TOKEN_TTL_HOURS - 1) < ttl <= datetime.timedelta(
        hours=settings.API_TOKEN_TTL_HOURS)
    stored = AuthToken.objects.get(user=users["technician"])
    assert stored.digest != body["token"] and body["token"] not in stored.digest  # only a hash is kept
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {body['token']}")
    assert client.get("/api/v1/me/").json()["username"] == "technician"
    token_client(users["qa"])  # someone else's token is not listed
    listed = client.get("/api/v1/auth/tokens/").json()
    assert listed["count"] == 1 and listed["results"][0]["current"] is True
    assert body["token"] not in str(listed) and listed["results"][0]["id"] == body["token"][:15]
    # A sensor's token lives longer (SENSOR_TOKEN_TTL_HOURS).
    sensor_token = issue_token(users["sensor"])[0]
    assert sensor_token.expiry - timezone.now() > datetime.timedelta(hours=settings.API_TOKEN_TTL_HOURS)
    # Expired: 401, and the token is gone.
    AuthToken.objects.filter(pk=stored.pk).update(expiry=timezone.now() - datetime.timedelta(seconds=1))
    response = client.get("/api/v1/me/")
    assert response.status_code == 401 and response.json()["code"] == "authentication_failed"
    assert not AuthToken.objects.filter(pk=stored.pk).exists()


def test_password_change_revokes_tokens_and_counts_as_an_account_change(users, password, client):
    api = token_client(users["qa"])
    assert api.get("/api/v1/me/").status_code == 200
    client.force_login(users["qa"])
    response = client.post("/accounts/password/", {"old_password": password, "new_password1": "a-new-passphrase-7",
                                                    "new_password2": "a-new-passphrase-7"})
    assert response.status_code == 302
    assert api.get("/api/v1/me/").status_code == 401
    assert client.get("/").status_code == 200  # the session that changed it goes on
    kinds = list(AccountChange.objects.filter(user=users["qa"]).values_list("kind", flat=True))
    assert AccountChange.Kind.PASSWORD in kinds and AccountChange.Kind.TOKENS_REVOKED in kinds


def test_role_change_revokes_tokens_and_is_audited(users):
    api = token_client(users["technician"])
    unchanged = token_client(users["coordinator"])
    save_user("technician", roles=["technician", "qa"], actor=users["admin"], reason="covers QA in August")
    assert api.get("/api/v1/me/").status_code == 401
    assert unchanged.get("/api/v1/me/").status_code == 200
    change = AccountChange.objects.get(user=users["technician"], kind=AccountChange.Kind.ROLES)
    assert change.before == {"roles": ["technician"]} and change.after == {"roles": ["qa", "technician"]}
    assert change.actor == users["admin"] and change.reason == "covers QA in August"
    assert abs((timezone.now() - change.at).total_seconds()) < 60
    revoked = AccountChange.objects.get(user=users["technician"], kind=AccountChange.Kind.TOKENS_REVOKED)
    assert revoked.after == {"revoked": 1} and revoked.actor == users["admin"]
    # Nothing changed: nothing recorded, the tokens stay.
    again = token_client(users["technician"])
    save_user("technician", roles=["qa", "technician"], actor=users["admin"], reason="no change")
    assert again.get("/api/v1/me/").status_code == 200
    assert AccountChange.objects.filter(user=users["technician"], kind=AccountChange.Kind.ROLES).count() == 1


def test_deactivation_is_audited_and_a_sensor_stays_a_sensor(users):
    save_user("researcher", roles=["researcher"], active=False, actor=users["admin"], reason="left the project")
    change = AccountChange.objects.get(user=users["researcher"], kind=AccountChange.Kind.ACTIVATION)
    assert change.before == {"active": True} and change.after == {"active": False}
    with pytest.raises(Exception, match="sensor role only"):
        save_user("sensor", roles=["sensor", "technician"], actor=users["admin"], reason="x")
    created = save_user("mei", roles=["qa"], password="a-long-passphrase-42", actor=users["admin"], reason="new QA")
    assert AccountChange.objects.get(user=created, kind=AccountChange.Kind.CREATED).after == {
        "roles": ["qa"], "active": True}


def test_tokens_are_listed_and_revoked_by_their_owner(users):
    client = token_client(users["qa"])
    other_instance, _other = issue_token(users["qa"])
    someone_else = issue_token(users["technician"])[0]
    assert client.get("/api/v1/auth/tokens/").json()["count"] == 2
    assert client.delete(f"/api/v1/auth/tokens/{someone_else.token_key}/").status_code == 404
    assert client.delete(f"/api/v1/auth/tokens/{other_instance.token_key}/").status_code == 204
    assert client.get("/api/v1/auth/tokens/").json()["count"] == 1
    assert client.delete("/api/v1/auth/tokens/").json() == {"revoked": 1}
    assert client.get("/api/v1/auth/tokens/").status_code == 401  # its own token went with them
    assert AuthToken.objects.filter(user=users["technician"]).count() == 1


def test_tokens_page_creates_shows_once_and_revokes(users, client):
    client.force_login(users["qa"])
    html = client.post("/accounts/tokens/", {"action": "create"}).content.decode()
    token = AuthToken.objects.get(user=users["qa"])
    shown = html.split('id="new-token">', 1)[1].split("<", 1)[0]
    assert shown[:15] == token.token_key and len(shown) == 64
    assert shown not in client.get("/accounts/tokens/").content.decode()  # never again
    client.post("/accounts/tokens/", {"action": "revoke", "token": token.token_key})
    assert not AuthToken.objects.filter(user=users["qa"]).exists()


def test_expired_tokens_are_purged(users):
    from bank.services import purge_expired_tokens

    old = issue_token(users["qa"])[0]
    fresh = issue_token(users["qa"])[0]
    AuthToken.objects.filter(pk=old.pk).update(expiry=timezone.now() - datetime.timedelta(days=1))
    assert purge_expired_tokens() == 1
    assert list(AuthToken.objects.values_list("pk", flat=True)) == [fresh.pk]


# --- sensors -----------------------------------------------------------------------------------------------------


def test_a_sensor_posts_only_for_its_units_and_an_admin_anywhere(users):
    tank, freezer = StorageUnitFactory(name="LN2-A"), StorageUnitFactory(name="LN2-B")
    admin = APIClient()
    admin.force_authenticate(users["admin"])
    response = admin.put(f"/api/v1/storage/units/{tank.pk}/sensors/", {"sensors": ["sensor"], "reason": "installed"},
                         format="json")
    assert response.status_code == 200 and response.json() == {"sensors": ["sensor"]}
    sensor = token_client(users["sensor"])
    assert sensor.post(f"/api/v1/storage/units/{tank.pk}/readings/", {"temperature_c": -180},
                       format="json").status_code == 201
    refused = sensor.post(f"/api/v1/storage/units/{freezer.pk}/readings/", {"temperature_c": -180}, format="json")
    assert refused.status_code == 403 and refused.json()["code"] == "sensor_not_bound"
    assert "LN2-B" in refused.json()["detail"]
    assert not TemperatureReading.objects.filter(unit=freezer).exists()
    assert admin.post(f"/api/v1/storage/units/{freezer.pk}/readings/", {"temperature_c": -181},
                      format="json").status_code == 201
    # The same rule for every door: the service refuses a task or page calling it for the sensor too.
    with pytest.raises(Exception, match="not bound"):
        record_reading(freezer, temperature_c=-180, actor=users["sensor"])
    # GET lists the bindings (staff who see storage); only admins change them.
    assert admin.get(f"/api/v1/storage/units/{tank.pk}/sensors/").json() == {"sensors": ["sensor"]}
    technician = APIClient()
    technician.force_authenticate(users["technician"])
    assert technician.get(f"/api/v1/storage/units/{tank.pk}/sensors/").status_code == 200
    assert technician.put(f"/api/v1/storage/units/{tank.pk}/sensors/", {"sensors": []},
                          format="json").status_code == 403


def test_binding_replaces_with_history_and_account_changes(users):
    second = UserFactory(username="sensor-2", role="sensor")
    tank = StorageUnitFactory(name="LN2-H")
    bind_sensors(tank, ["sensor"], actor=users["admin"], reason="installed")
    admin = APIClient()
    admin.force_authenticate(users["admin"])
    response = admin.put(f"/api/v1/storage/units/{tank.pk}/sensors/", {"sensors": ["sensor-2"], "reason": "swapped"},
                         format="json")
    assert response.json() == {"sensors": ["sensor-2"]}
    assert list(SensorBinding.objects.values_list("sensor__username", flat=True)) == ["sensor-2"]
    history = SensorBinding.history.order_by("history_id")
    assert [(h.history_type, h.sensor_id) for h in history] == [("+", users["sensor"].pk), ("-", users["sensor"].pk),
                                                                 ("+", second.pk)]
    assert history.last().history_user == users["admin"]
    gone = AccountChange.objects.filter(user=users["sensor"], kind=AccountChange.Kind.SENSORS).order_by("at", "id")
    assert [(c.before, c.after) for c in gone] == [({"units": []}, {"units": ["LN2-H"]}),
                                                   ({"units": ["LN2-H"]}, {"units": []})]
    assert gone.last().reason == "swapped" and gone.last().actor == users["admin"]
    assert AccountChange.objects.get(user=second, kind=AccountChange.Kind.SENSORS).after == {"units": ["LN2-H"]}
    for bad in (["nobody"], ["technician"], [""], "sensor", [["x"]]):
        response = admin.put(f"/api/v1/storage/units/{tank.pk}/sensors/", {"sensors": bad}, format="json")
        assert response.status_code == 400 and "sensors" in response.json(), bad
    assert list(SensorBinding.objects.values_list("sensor__username", flat=True)) == ["sensor-2"]


def test_sensor_accounts_cannot_open_pages(users, password, client):
    response = page_login(client, "sensor", password)
    assert response.status_code == 200 and not logged_in(client)
    assert "Sensor accounts cannot open pages" in response.content.decode()
    # A session made some other way opens no page (not even those its role could read) and no API call.
    client.force_login(users["sensor"])
    for path in ("/", "/storage/", "/notifications/", "/accounts/tokens/"):
        assert client.get(path).status_code == 403, path
    assert client.get("/api/v1/me/").status_code in (401, 403)
    # Its token works: that is how a sensor talks to the bank.
    assert token_client(users["sensor"]).get("/api/v1/me/").json()["roles"] == ["sensor"]


# --- only roles grant permissions -----------------------------------------------------------------------------------


def test_role_sync_removes_stray_user_permissions_and_audits_it(users):
    stray = Permission.objects.get(codename="release_lot")
    users["technician"].user_permissions.add(stray)
    users["researcher"].user_permissions.add(Permission.objects.get(codename="view_donoridentity"))
    sync_role_permissions()
    assert not users["technician"].user_permissions.exists()
    assert not users["researcher"].user_permissions.exists()
    change = AccountChange.objects.get(user=users["technician"], kind=AccountChange.Kind.PERMISSIONS)
    assert change.before == {"permissions": ["qc.release_lot"]} and change.after == {"permissions": []}
    assert "Only roles grant permissions" in change.reason
    sync_role_permissions()  # nothing left to clean: nothing recorded
    assert AccountChange.objects.filter(kind=AccountChange.Kind.PERMISSIONS).count() == 2


def test_admin_user_form_needs_a_reason_and_audits_roles_and_activation(users, client):
    from django.contrib.auth.models import Group

    client.force_login(users["admin"])
    tech = users["technician"]
    url = f"/admin/auth/user/{tech.pk}/change/"
    form = client.get(url).content.decode()
    assert 'name="reason"' in form and "user_permissions" not in form and "is_superuser" not in form
    data = {"username": "technician", "first_name": "Li", "last_name": "Wei", "email": "t@bank.example",
            "is_active": "", "groups": [Group.objects.get(name="qa").pk], "date_joined_0": "2026-01-01",
            "date_joined_1": "00:00:00"}
    assert client.post(url, data).status_code == 200  # no reason: the form says so, nothing saved
    tech.refresh_from_db()
    assert tech.is_active and user_roles(tech) == {"technician"}
    api = token_client(tech)
    response = client.post(url, {**data, "reason": "moved to QA, on leave until May"})
    assert response.status_code == 302, response.content.decode()[:2000]
    tech.refresh_from_db()
    del tech._stembank_roles
    assert user_roles(tech) == {"qa"} and not tech.is_active
    roles = AccountChange.objects.get(user=tech, kind=AccountChange.Kind.ROLES)
    assert roles.after == {"roles": ["qa"]} and roles.actor == users["admin"]
    assert roles.reason == "moved to QA, on leave until May"
    assert AccountChange.objects.get(user=tech, kind=AccountChange.Kind.ACTIVATION).after == {"active": False}
    assert api.get("/api/v1/me/").status_code == 401
    assert tech.history.first().history_change_reason == "moved to QA, on leave until May"


def test_admin_password_set_is_audited_and_admin_never_shows_tokens(users, client):
    client.force_login(users["admin"])
    issue_token(users["qa"])
    response = client.post(f"/admin/auth/user/{users['qa'].pk}/password/", {
        "password1": "a-long-passphrase-42", "password2": "a-long-passphrase-42", "usable_password": "true",
        "reason": "forgotten, identity checked in person"})
    assert response.status_code == 302
    change = AccountChange.objects.get(user=users["qa"], kind=AccountChange.Kind.PASSWORD)
    assert change.actor == users["admin"] and change.reason == "forgotten, identity checked in person"
    assert not AuthToken.objects.filter(user=users["qa"]).exists()
    index = client.get("/admin/").content.decode()
    assert "/admin/knox/" not in index and "/admin/otp_totp/" not in index and "/admin/authtoken/" not in index
    assert "Auth token" not in index and "TOTP device" not in index
    for path in ("/admin/knox/authtoken/", "/admin/authtoken/tokenproxy/", "/admin/otp_totp/totpdevice/",
                 "/admin/auth/group/"):
        assert client.get(path).status_code == 404, path


# --- unlock ----------------------------------------------------------------------------------------------------------


def lock_qa(settings) -> None:
    for _ in range(settings.LOGIN_FAILURE_LIMIT):
        page_login(Client(REMOTE_ADDR=HERE), "qa", "wrong")
    assert auth.is_locked("qa", HERE)


def test_admin_unlocks_through_the_api_with_a_reason(users, password, settings):
    lock_qa(settings)
    admin = APIClient()
    admin.force_authenticate(users["admin"])
    url = "/api/v1/accounts/qa/unlock/"
    assert admin.post(url, {}, format="json").status_code == 400
    assert admin.post(url, {"reason": "x", "client_ip": "not-an-ip"}, format="json").status_code == 400
    assert admin.post("/api/v1/accounts/nobody/unlock/", {"reason": "x"}, format="json").status_code == 404
    qa = APIClient()
    qa.force_authenticate(users["qa"])
    assert qa.post(url, {"reason": "me"}, format="json").status_code == 403
    response = admin.post(url, {"reason": "called from the cleanroom, identity checked", "client_ip": HERE},
                          format="json")
    assert response.status_code == 200 and response.json()["client_ip"] == HERE
    assert not auth.is_locked("qa", HERE)
    event = AuthEvent.objects.get(kind=AuthEvent.Kind.UNLOCKED)
    assert event.actor == users["admin"] and event.client_ip == HERE and "identity checked" in event.reason
    change = AccountChange.objects.get(user=users["qa"], kind=AccountChange.Kind.UNLOCK)
    assert change.before == {"locked_addresses": [HERE]} and change.actor == users["admin"]
    assert page_login(Client(REMOTE_ADDR=HERE), "qa", password).status_code == 302


def test_admin_unlocks_from_the_users_page(users, password, settings, client):
    lock_qa(settings)
    client.force_login(users["admin"])
    listing = client.get("/accounts/users/").content.decode()
    assert 'data-user="qa"' in listing and HERE in listing.split('data-user="qa"', 1)[1].split("</tr>", 1)[0]
    page = client.get("/accounts/users/qa/").content.decode()
    assert "Lockouts" in page and HERE in page
    response = client.post("/accounts/users/qa/", {"action": "unlock", "unlock-client_ip": HERE,
                                                   "unlock-reason": "badge checked at the desk"}, follow=True)
    assert "Unlocked" in response.content.decode() and not auth.is_locked("qa", HERE)
    assert AccountChange.objects.get(kind=AccountChange.Kind.UNLOCK).reason == "badge checked at the desk"
    # Not for other roles.
    other = Client()
    other.force_login(users["qa"])
    assert other.get("/accounts/users/").status_code == 403


def test_users_page_changes_roles_with_a_reason(users, client):
    client.force_login(users["admin"])
    response = client.post("/accounts/users/researcher/", {"action": "account", "account-roles": ["coordinator"],
                                                           "account-active": "on", "account-reason": ""})
    assert response.status_code == 200 and not AccountChange.objects.filter(kind=AccountChange.Kind.ROLES).exists()
    client.post("/accounts/users/researcher/", {"action": "account", "account-roles": ["coordinator"],
                                                "account-active": "on", "account-reason": "joined intake"})
    change = AccountChange.objects.get(kind=AccountChange.Kind.ROLES)
    assert change.user == users["researcher"] and change.after == {"roles": ["coordinator"]}
    assert "joined intake" in client.get("/accounts/users/researcher/").content.decode()


# --- passwords -------------------------------------------------------------------------------------------------------


def test_production_minimum_length_applies_to_password_changes(users, password, client, settings):
    settings.PASSWORD_MIN_LENGTH = 12
    client.force_login(users["qa"])
    response = client.post("/accounts/password/", {"old_password": password, "new_password1": "Short-pw-11",
                                                    "new_password2": "Short-pw-11"})
    assert response.status_code == 200 and "at least 12 characters" in response.content.decode()
    users["qa"].refresh_from_db()
    assert users["qa"].check_password(password)


def test_unlock_without_an_address_frees_every_address(users, password, settings):
    for address in (HERE, ELSEWHERE):
        for _ in range(settings.LOGIN_FAILURE_LIMIT):
            page_login(Client(REMOTE_ADDR=address), "qa", "wrong")
    assert {lock.client_ip for lock in auth.active_locks(["qa"])} == {HERE, ELSEWHERE}
    admin = APIClient()
    admin.force_authenticate(users["admin"])
    response = admin.post("/api/v1/accounts/qa/unlock/", {"reason": "phoned the help desk"}, format="json")
    assert response.status_code == 200 and response.json()["client_ip"] is None
    assert auth.active_locks(["qa"]) == []
    assert AccountChange.objects.get(kind=AccountChange.Kind.UNLOCK).before == {
        "locked_addresses": sorted([HERE, ELSEWHERE])}
    assert page_login(Client(REMOTE_ADDR=ELSEWHERE), "qa", password).status_code == 302


def test_users_page_runs_a_constant_number_of_queries(users, settings, client):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    client.force_login(users["admin"])
    client.get("/accounts/users/")  # session and caches warm

    def queries() -> int:
        with CaptureQueriesContext(connection) as ctx:
            assert client.get("/accounts/users/").status_code == 200
        return len(ctx.captured_queries)

    few = queries()
    for n in range(8):  # more accounts, some locked out, some with a change recorded
        UserFactory(username=f"extra{n}", role="technician")
        save_user(f"extra{n}", roles=["qa"], actor=users["admin"], reason="moved")
    lock_qa(settings)
    # One query each for: the accounts (with their latest change), their roles, their lockouts, second factors.
    assert queries() == few
