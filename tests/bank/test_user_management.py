"""User management in the app for admins (issue 17): create an account (page, API, ``manage.py add_user``), change
roles and activation without locking the admins out, require a password change, find and filter the users list —
each change an ``AccountChange`` with its reason and in the user's own history."""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.test import Client
from rest_framework.test import APIClient

from bank import auth, services
from bank.errors import Conflict
from bank.models import AccountChange, AccountPolicy
from tests.factories import PASSWORD, UserFactory

pytestmark = pytest.mark.django_db

User = get_user_model()
STRONG = "tundra-lantern-57-quiver"
NEW_USER = "/accounts/new-user/"


def admin_client(users) -> Client:
    client = Client()
    client.force_login(users["admin"])
    return client


def api_as(user) -> APIClient:
    client = APIClient()
    client.force_authenticate(user)
    return client


def token_client(user) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {services.issue_token(user)[1]}")
    return client


def change_kinds(user) -> list[str]:
    return list(AccountChange.objects.filter(user=user).order_by("at", "id").values_list("kind", flat=True))


# --- create: page -----------------------------------------------------------------------------------------------


def test_page_creates_an_account_with_a_typed_password_that_must_be_changed(users):
    client = admin_client(users)
    page = client.get(NEW_USER)
    assert page.status_code == 200 and 'autofocus' in page.content.decode()
    response = client.post(NEW_USER, {
        "username": "mei", "full_name": "Mei Tanaka", "email": "mei@bank.example", "roles": ["qa", "technician"],
        "password_mode": "typed", "password1": STRONG, "password2": STRONG, "must_change_password": "on",
        "reason": "new QA officer, ticket 88"})
    assert response.status_code == 302 and response["Location"] == "/accounts/users/mei/"
    mei = User.objects.get(username="mei")
    assert mei.check_password(STRONG) and mei.get_full_name() == "Mei Tanaka" and mei.email == "mei@bank.example"
    assert sorted(mei.groups.values_list("name", flat=True)) == ["qa", "technician"] and not mei.is_staff
    assert services.must_change_password(mei)
    assert change_kinds(mei) == [AccountChange.Kind.CREATED, AccountChange.Kind.MUST_CHANGE_PASSWORD]
    created = AccountChange.objects.get(user=mei, kind=AccountChange.Kind.CREATED)
    assert created.actor == users["admin"] and created.reason == "new QA officer, ticket 88"
    assert created.after == {"roles": ["qa", "technician"], "active": True}
    # The user's own history and the policy's carry the admin and the reason.
    history = mei.history.earliest()
    assert history.history_user == users["admin"] and history.history_change_reason == "new QA officer, ticket 88"
    policy = AccountPolicy.objects.get(user=mei)
    assert policy.history.latest().history_change_reason == "new QA officer, ticket 88"
    detail = client.get("/accounts/users/mei/").content.decode()
    assert "Must change the password" in detail and "ticket 88" in detail


def test_page_generates_a_password_shown_once(users):
    client = admin_client(users)
    response = client.post(NEW_USER, {"username": "kofi", "roles": ["coordinator"], "password_mode": "generated",
                                      "must_change_password": "on"})
    assert response.status_code == 200
    body = response.content.decode()
    kofi = User.objects.get(username="kofi")
    shown = body.split('id="new-password">', 1)[1].split("<", 1)[0]
    assert len(shown) >= 20 and kofi.check_password(shown)
    assert response["Cache-Control"].startswith("max-age=0") or "no-cache" in response["Cache-Control"]
    assert shown not in client.get("/accounts/users/kofi/").content.decode()
    assert AccountChange.objects.get(user=kofi, kind=AccountChange.Kind.CREATED).reason == "account created"


def test_page_refuses_weak_mismatched_or_taken_and_saves_nothing(users, settings):
    settings.PASSWORD_MIN_LENGTH = 12
    client = admin_client(users)
    base = {"username": "lena", "full_name": "Lena Berg", "roles": ["qa"], "password_mode": "typed"}
    cases = [
        ({"password1": "short-pw", "password2": "short-pw"}, "at least 12 characters"),
        ({"password1": "password1234", "password2": "password1234"}, "too common"),
        ({"password1": "lenaberg2026!", "password2": "lenaberg2026!", "username": "lenaberg2026"}, "too similar"),
        ({"password1": "839201746583", "password2": "839201746583"}, "entirely numeric"),
        ({"password1": STRONG, "password2": STRONG + "x"}, "The two passwords differ"),
        ({"password1": "", "password2": ""}, "Type the initial password"),
        ({"password1": STRONG, "password2": STRONG, "username": "QA"}, "is taken"),
        ({"password1": STRONG, "password2": STRONG, "username": "bad name!"}, "Enter a valid username"),
        ({"password1": STRONG, "password2": STRONG, "roles": []}, "This field is required"),
        ({"password1": STRONG, "password2": STRONG, "roles": ["sensor", "qa"]}, "sensor role only"),
    ]
    for extra, message in cases:
        response = client.post(NEW_USER, {**base, **extra})
        assert response.status_code == 200 and message in response.content.decode(), message
    assert not User.objects.filter(username__in=["lena", "lenaberg2026", "bad name!"]).exists()
    assert not AccountChange.objects.filter(kind=AccountChange.Kind.CREATED).exists()


def test_only_admins_open_the_user_pages(users):
    for role in ("qa", "technician", "coordinator", "researcher"):
        client = Client()
        client.force_login(users[role])
        assert client.get(NEW_USER).status_code == 403
        assert client.post(NEW_USER, {"username": "x", "roles": ["qa"], "password_mode": "generated"}).status_code \
            == 403
        assert client.post("/accounts/users/technician/", {"action": "force_password",
                                                           "force-reason": "x"}).status_code == 403
    assert not User.objects.filter(username="x").exists()
    assert Client().get(NEW_USER).status_code == 302  # to the login page


# --- create: API and the command ---------------------------------------------------------------------------------


def test_api_creates_with_a_given_or_a_generated_password(users):
    client = api_as(users["admin"])
    response = client.post("/api/v1/accounts/", {"username": "ana", "full_name": "Ana Silva", "roles": ["technician"],
                                                 "password": STRONG, "reason": "bench hire"}, format="json")
    assert response.status_code == 201, response.json()
    body = response.json()
    assert body["username"] == "ana" and body["roles"] == ["technician"] and body["must_change_password"] is True
    assert "password" not in body and User.objects.get(username="ana").check_password(STRONG)
    response = client.post("/api/v1/accounts/", {"username": "bo", "roles": ["researcher"],
                                                 "must_change_password": False}, format="json")
    assert response.status_code == 201
    body = response.json()
    assert User.objects.get(username="bo").check_password(body["password"]) and body["must_change_password"] is False
    assert AccountChange.objects.filter(user__username="bo", kind=AccountChange.Kind.CREATED).count() == 1


def test_api_create_refusals_are_400_field_errors_and_403_for_non_admins(users, settings):
    settings.PASSWORD_MIN_LENGTH = 12
    client = api_as(users["admin"])
    cases = [
        ({"username": "cy", "roles": ["qa"], "password": "short"}, "password"),
        ({"username": "cy.lindqvist", "roles": ["qa"], "password": "cy.lindqvist1"}, "password"),
        ({"username": "qa", "roles": ["qa"]}, "username"),
        ({"username": "cy", "roles": []}, "roles"),
        ({"username": "cy", "roles": ["wizard"]}, "roles"),
        ({"username": "cy", "roles": ["sensor", "qa"]}, "roles"),
        ({"username": "cy", "roles": ["qa"], "email": "not-an-address"}, "email"),
    ]
    for body, field in cases:
        response = client.post("/api/v1/accounts/", body, format="json")
        assert response.status_code == 400 and field in response.json(), (body, response.json())
    assert not User.objects.filter(username__startswith="cy").exists()
    for role in ("qa", "technician", "coordinator"):
        assert api_as(users[role]).post("/api/v1/accounts/", {"username": "cy", "roles": ["qa"]},
                                        format="json").status_code == 403
        assert api_as(users[role]).get("/api/v1/accounts/").status_code == 403
        assert api_as(users[role]).patch("/api/v1/accounts/qa/", {"active": False, "reason": "x"},
                                         format="json").status_code == 403
        assert api_as(users[role]).post("/api/v1/accounts/qa/force-password-change/", {"reason": "x"},
                                        format="json").status_code == 403


def test_add_user_command_shares_the_create_rule(users, capsys):
    call_command("add_user", "dana", "--role", "qa", "--password", STRONG, "--must-change-password")
    dana = User.objects.get(username="dana")
    assert dana.check_password(STRONG) and services.must_change_password(dana)
    assert AccountChange.objects.get(user=dana, kind=AccountChange.Kind.CREATED).reason.startswith(
        "manage.py add_user")
    call_command("add_user", "eli", "--role", "technician", "--generate-password")
    printed = capsys.readouterr().out.split("Initial password (shown once): ", 1)[1].strip()
    assert User.objects.get(username="eli").check_password(printed)
    from django.core.management.base import CommandError

    with pytest.raises(CommandError, match="similar|numeric|common|short"):
        call_command("add_user", "fay", "--role", "qa", "--password", "12345678")
    with pytest.raises(CommandError, match="taken"):
        call_command("add_user", "DANA", "--role", "qa", "--password", STRONG)
    # An existing account is updated as before (exactly these roles).
    call_command("add_user", "dana", "--role", "technician", "--password", STRONG + "-2")
    assert list(User.objects.get(username="dana").groups.values_list("name", flat=True)) == ["technician"]


# --- roles and activation: the admins cannot lock themselves out -------------------------------------------------


def test_an_admin_cannot_demote_or_deactivate_themselves(users):
    admin = users["admin"]
    with pytest.raises(Conflict) as refused:
        services.save_user("admin", roles=["qa"], actor=admin, reason="oops")
    assert refused.value.code == "self_lockout"
    with pytest.raises(Conflict):
        services.save_user("admin", roles=["admin"], active=False, actor=admin, reason="oops")
    client = admin_client(users)
    response = client.post("/accounts/users/admin/", {"action": "account", "account-roles": ["qa"],
                                                      "account-active": "on", "account-reason": "oops"})
    assert response.status_code == 200 and "cannot remove your own admin role" in response.content.decode()
    response = api_as(admin).patch("/api/v1/accounts/admin/", {"active": False, "reason": "oops"}, format="json")
    assert response.status_code == 409 and response.json()["code"] == "self_lockout"
    admin.refresh_from_db()
    assert admin.is_active and admin.groups.filter(name="admin").exists()
    assert not AccountChange.objects.filter(user=admin, kind__in=["roles", "activation"]).exists()
    # Adding a role to oneself is fine.
    services.save_user("admin", roles=["admin", "qa"], actor=admin, reason="also QA")


def test_the_last_active_admin_stays(users):
    other = UserFactory(username="root2", role="admin")
    response = api_as(other).patch("/api/v1/accounts/admin/", {"roles": ["qa"], "reason": "moved to QA"},
                                   format="json")
    assert response.status_code == 200 and response.json()["roles"] == ["qa"]
    # root2 is now the only admin: nobody (not even a command) takes its admin role or activation.
    with pytest.raises(Conflict) as refused:
        services.save_user("root2", roles=["qa"], actor=None, reason="command")
    assert refused.value.code == "last_admin"
    with pytest.raises(Conflict):
        services.save_user("root2", roles=["admin"], active=False, actor=users["admin"], reason="x")


def test_api_patch_changes_roles_and_activation_with_a_reason_and_revokes_tokens(users):
    client = api_as(users["admin"])
    tech = users["technician"]
    services.issue_token(tech)
    response = client.patch("/api/v1/accounts/technician/", {"roles": ["technician", "qa"]}, format="json")
    assert response.status_code == 400 and "reason" in response.json()
    response = client.patch("/api/v1/accounts/technician/", {"active": False, "reason": "left the bank"},
                            format="json")
    assert response.status_code == 200 and response.json()["active"] is False
    assert response.json()["roles"] == ["technician"]
    change = AccountChange.objects.get(user=tech, kind=AccountChange.Kind.ACTIVATION)
    assert (change.before, change.after, change.reason) == ({"active": True}, {"active": False}, "left the bank")
    assert not services.token_model().objects.filter(user=tech).exists()
    assert client.patch("/api/v1/accounts/nobody/", {"active": False, "reason": "x"},
                        format="json").status_code == 404


# --- forcing a password change ---------------------------------------------------------------------------------


def test_a_forced_change_keeps_the_user_on_the_password_page_until_done(users):
    qa = users["qa"]
    admin = admin_client(users)
    response = admin.post("/accounts/users/qa/", {"action": "force_password", "force-reason": ""})
    assert response.status_code == 200 and not services.must_change_password(qa)
    response = admin.post("/accounts/users/qa/", {"action": "force_password",
                                                  "force-reason": "password seen on a sticky note"})
    assert response.status_code == 302
    change = AccountChange.objects.get(user=qa, kind=AccountChange.Kind.MUST_CHANGE_PASSWORD)
    assert change.actor == users["admin"] and change.reason == "password seen on a sticky note"

    client = Client()
    assert client.post("/accounts/login/", {"username": "qa", "password": PASSWORD}).status_code == 302
    for path in ("/", "/lots/", "/accounts/tokens/", "/accounts/users/"):
        response = client.get(path)
        assert response.status_code == 302 and response["Location"] == "/accounts/password/", path
    htmx = client.get("/operations/banner/", HTTP_HX_REQUEST="true", HTTP_HX_CURRENT_URL="http://testserver/")
    assert htmx.status_code == 204 and htmx["HX-Redirect"] == "/accounts/password/"
    api = client.get("/api/v1/me/")
    assert api.status_code == 403 and api.json()["code"] == "password_change_required"
    page = client.get("/accounts/password/")
    assert page.status_code == 200 and 'id="must-change-password"' in page.content.decode()
    # The same password again is refused; a new one frees the account.
    same = client.post("/accounts/password/", {"old_password": PASSWORD, "new_password1": PASSWORD,
                                               "new_password2": PASSWORD})
    assert same.status_code == 200 and "different from the current one" in same.content.decode()
    done = client.post("/accounts/password/", {"old_password": PASSWORD, "new_password1": STRONG,
                                               "new_password2": STRONG})
    assert done.status_code == 302
    qa.refresh_from_db()
    assert not services.must_change_password(User.objects.get(pk=qa.pk)) and qa.check_password(STRONG)
    assert client.get("/").status_code == 200
    policy = AccountPolicy.objects.get(user=qa)
    assert policy.history.latest().history_user == qa and not policy.must_change_password
    assert change_kinds(qa)[-1] in (AccountChange.Kind.PASSWORD, AccountChange.Kind.TOKENS_REVOKED)


def test_a_flagged_users_tokens_answer_403_until_the_password_is_changed(users):
    tech = users["technician"]
    client = token_client(tech)
    assert client.get("/api/v1/me/").status_code == 200
    response = api_as(users["admin"]).post("/api/v1/accounts/technician/force-password-change/",
                                           {"reason": "leaver had access to the bench PC"}, format="json")
    assert response.status_code == 200 and response.json()["must_change_password"] is True
    refused = client.get("/api/v1/me/")
    assert refused.status_code == 403 and refused.json()["code"] == "password_change_required"
    token = APIClient().post("/api/v1/auth/token/", {"username": "technician", "password": PASSWORD},
                             format="json")
    assert token.status_code == 403 and token.json()["code"] == "password_change_required"
    # Forcing again changes nothing and records nothing more.
    api_as(users["admin"]).post("/api/v1/accounts/technician/force-password-change/", {"reason": "again"},
                                format="json")
    assert AccountChange.objects.filter(user=tech, kind=AccountChange.Kind.MUST_CHANGE_PASSWORD).count() == 1
    services.change_password(tech, STRONG, actor=tech, reason="changed by the user")
    fresh = APIClient().post("/api/v1/auth/token/", {"username": "technician", "password": STRONG}, format="json")
    assert fresh.status_code == 200
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {fresh.json()['token']}")
    assert client.get("/api/v1/me/").status_code == 200


def test_force_needs_a_reason_and_a_person(users):
    client = api_as(users["admin"])
    response = client.post("/api/v1/accounts/qa/force-password-change/", {"reason": ""}, format="json")
    assert response.status_code == 400 and "reason" in response.json()
    response = client.post("/api/v1/accounts/sensor/force-password-change/", {"reason": "x"}, format="json")
    assert response.status_code == 409 and response.json()["code"] == "sensor_account"
    assert client.post("/api/v1/accounts/ghost/force-password-change/", {"reason": "x"},
                       format="json").status_code == 404
    assert not AccountPolicy.objects.exists()


def test_an_admins_password_set_does_not_clear_the_flag(users):
    qa = users["qa"]
    services.require_password_change(qa, actor=users["admin"], reason="audit finding")
    services.change_password(qa, STRONG, actor=users["admin"], reason="set by an admin")
    assert services.must_change_password(User.objects.get(pk=qa.pk))


# --- the users list ----------------------------------------------------------------------------------------------


def test_users_list_is_searchable_filterable_and_links_the_actions(users, settings):
    UserFactory(username="zoe", first_name="Zoe", last_name="Quartz", email="zq@bank.example", role="qa",
                is_active=False)
    services.require_password_change(users["coordinator"], actor=users["admin"], reason="x")
    for _ in range(settings.LOGIN_FAILURE_LIMIT):
        Client(REMOTE_ADDR="127.0.0.9").post("/accounts/login/", {"username": "researcher", "password": "wrong"})
    assert auth.is_locked("researcher", "127.0.0.9")
    client = admin_client(users)

    def listed(query: str) -> set[str]:
        body = client.get("/accounts/users/" + query).content.decode()
        return {part.split('"', 1)[0] for part in body.split('data-user="')[1:]}

    page = client.get("/accounts/users/").content.decode()
    assert 'href="/accounts/new-user/"' in page and "admin/auth/user/add" not in page and "autofocus" in page
    assert listed("?q=quartz") == {"zoe"} and listed("?q=zq@bank") == {"zoe"}
    assert listed("?role=qa") == {"qa", "zoe"}
    assert listed("?active=no") == {"zoe"} and "zoe" not in listed("?active=yes")
    assert listed("?locked=yes") == {"researcher"} and "researcher" not in listed("?locked=no")
    assert listed("?role=qa&active=yes") == {"qa"}
    coordinator_row = page.split('data-user="coordinator"', 1)[1].split("</tr>", 1)[0]
    assert "new password due" in coordinator_row


def test_users_list_pages_keep_the_filters(users):
    for n in range(55):
        UserFactory(username=f"tech{n:02d}", role="technician")
    body = admin_client(users).get("/accounts/users/?role=technician").content.decode()
    assert "?role=technician&amp;page=2" in body


def test_users_list_and_api_list_run_a_constant_number_of_queries(users, django_assert_num_queries):
    client = admin_client(users)
    client.get("/accounts/users/")

    def page() -> None:
        assert client.get("/accounts/users/?role=technician").status_code == 200

    api = api_as(users["admin"])
    for n in range(10):
        user = UserFactory(username=f"more{n}", role="technician")
        services.require_password_change(user, actor=users["admin"], reason="x")
    # session; the admin with its policy (one join); the admin's roles; its permissions (2); count; the accounts
    # (with policy and latest change); their roles; their lockouts; their second factors; unread notifications.
    with django_assert_num_queries(11):
        page()
    # the admin's permissions (2); the accounts (with policy and latest change; the count known from the page);
    # their roles.
    with django_assert_num_queries(4):
        response = api.get("/api/v1/accounts/?role=technician")
    assert response.status_code == 200 and response.json()["count"] == 11
    assert all(row["must_change_password"] for row in response.json()["results"] if row["username"] != "technician")
    UserFactory(username="more-late", role="technician")
    with django_assert_num_queries(11):
        page()


def test_a_session_page_costs_no_query_for_the_flag(users, django_assert_num_queries):
    """The policy comes with the session's user (one LEFT JOIN): a page pays no query for the check."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    client = Client()
    client.force_login(users["qa"])
    client.get("/accounts/tokens/")
    with CaptureQueriesContext(connection) as ctx:
        client.get("/accounts/tokens/")
    assert not [q for q in ctx.captured_queries if "bank_accountpolicy" in q["sql"] and "JOIN" not in q["sql"]]


def test_the_demo_new_hire_must_change_the_password_and_the_readme_logins_do_not(db):
    from bank import demo

    demo.load({})
    demo.load({})  # idempotent
    newhire = User.objects.get(username=demo.NEW_HIRE[0])
    assert newhire.check_password(demo.NEW_HIRE[3]) and services.must_change_password(newhire)
    for username, _role, _name, password in demo.DEMO_USERS:
        user = User.objects.get(username=username)
        assert user.check_password(password) and not services.must_change_password(user)
    client = Client()
    client.post("/accounts/login/", {"username": "newhire", "password": "demo-newhire"})
    assert client.get("/").headers["Location"] == "/accounts/password/"
