"""Errors have one shape: under /api/ every error is JSON ``{"detail","code"}`` — also the ones Django answers
itself (no route, a crash, a request it cannot take, a refused CSRF check) — while pages keep their HTML."""

from __future__ import annotations

import json

import pytest
from django.middleware.csrf import _get_failure_view
from django.test import Client, RequestFactory
from rest_framework.test import APIClient

pytestmark = pytest.mark.django_db


def assert_api_error(response, status: int, code: str) -> dict:
    assert response.status_code == status
    assert response["Content-Type"].startswith("application/json"), response.content[:200]
    body = json.loads(response.content)
    assert set(body) == {"detail", "code"} and body["code"] == code and body["detail"]
    return body


def assert_html(response, status: int) -> None:
    assert response.status_code == status
    assert response["Content-Type"].startswith("text/html")


@pytest.mark.parametrize("path", ["/api/", "/api/v1/", "/api/v1/nope/", "/api/v1/lots/abc/", "/api/v2/lots/",
                                  "/api/v1/storage/units/1/nope/", "/api/v1/vials/1/label.png"])
@pytest.mark.parametrize("debug", [False, True])
def test_unknown_api_paths_are_a_json_404(users, settings, path, debug):
    settings.DEBUG = debug  # the embedded set-up runs with DEBUG on: its debug page is HTML too
    token = APIClient()
    token.force_authenticate(users["technician"])
    for client in (APIClient(), token):
        assert_api_error(client.get(path), 404, "not_found")
        assert_api_error(client.post(path, {"x": 1}, format="json"), 404, "not_found")


def test_pages_keep_their_html_404(users, client):
    client.force_login(users["technician"])
    assert_html(client.get("/nope/"), 404)
    assert_html(client.get("/lots/999999/"), 404)


def test_405_is_json(users, api):
    body = assert_api_error(api(users["admin"]).delete("/api/v1/audit/?object_type=notification"), 405,
                            "method_not_allowed")
    assert "DELETE" in body["detail"]


@pytest.mark.parametrize("debug", [False, True])
def test_a_crash_under_the_api_is_a_json_500(users, settings, monkeypatch, debug):
    settings.DEBUG = debug
    monkeypatch.setattr("bank.api.views.user_roles", lambda user: 1 / 0)
    client = Client(raise_request_exception=False)
    client.force_login(users["technician"])
    assert_api_error(client.get("/api/v1/me/"), 500, "server_error")


def test_a_crash_on_a_page_keeps_the_html_500(users, monkeypatch):
    monkeypatch.setattr("bank.views.panels_for", lambda request: 1 / 0)
    client = Client(raise_request_exception=False)
    client.force_login(users["technician"])
    assert_html(client.get("/"), 500)


def test_a_request_django_cannot_take_is_a_json_400(users, api):
    # Over DATA_UPLOAD_MAX_NUMBER_FIELDS parameters: Django refuses the request (SuspiciousOperation -> 400).
    query = "&".join(f"p{i}=1" for i in range(1100))
    assert_api_error(api(users["technician"]).get(f"/api/v1/me/?{query}"), 400, "bad_request")


def test_nul_in_an_api_path_is_a_json_404(users, api, client):
    assert_api_error(api(users["admin"]).get("/api/v1/trace/vials/SBV%00/"), 404, "not_found")
    client.force_login(users["admin"])
    assert_html(client.get("/distribution/trace/vials/SBV%00/"), 404)


def test_csrf_failure_is_json_under_the_api_and_html_on_pages(users):
    failure_view = _get_failure_view()  # settings.CSRF_FAILURE_VIEW
    body = assert_api_error(failure_view(RequestFactory().post("/api/v1/notifications/read/"),
                                         reason="CSRF token missing."), 403, "permission_denied")
    assert "CSRF token missing." in body["detail"]
    assert_html(failure_view(RequestFactory().post("/notifications/"), reason="CSRF token missing."), 403)


def test_session_call_without_csrf_token_gets_the_same_shape(users):
    """DRF checks CSRF itself on the API's views (they are exempt from the middleware): the same body."""
    client = Client(enforce_csrf_checks=True)
    client.force_login(users["technician"])
    body = assert_api_error(client.post("/api/v1/notifications/read/", {}, content_type="application/json"), 403,
                            "permission_denied")
    assert body["detail"].startswith("CSRF Failed")
    assert_html(client.post("/notifications/"), 403)


@pytest.mark.django_db
def test_a_method_an_endpoint_does_not_have_is_405_for_any_role(users, api):
    """Before: the role check refused first (403 permission_denied), even for an admin."""
    for role in ("admin", "technician", "researcher"):
        response = api(users[role]).delete("/api/v1/lots/1/")
        assert response.status_code == 405, (role, response.status_code)
        assert response.json()["code"] == "method_not_allowed"
    assert api().delete("/api/v1/lots/1/").status_code == 401
