"""API base: auth (token and session), 401/403 format, pagination, OpenAPI schema and docs."""

import pytest
from rest_framework.test import APIClient

from bank.notifications import notify

pytestmark = pytest.mark.django_db


def test_unauthenticated_calls_get_401():
    response = APIClient().get("/api/v1/me/")
    assert response.status_code == 401
    assert response.json()["code"] == "not_authenticated"
    assert "Token" in response["WWW-Authenticate"]


def test_token_round_trip(users, password):
    client = APIClient()
    response = client.post("/api/v1/auth/token/", {"username": "qa", "password": password}, format="json")
    assert response.status_code == 200
    client.credentials(HTTP_AUTHORIZATION=f"Token {response.json()['token']}")
    me = client.get("/api/v1/me/")
    assert me.status_code == 200 and me.json()["roles"] == ["qa"]


def test_bad_credentials_are_401_and_missing_fields_400(users):
    client = APIClient()
    bad = client.post("/api/v1/auth/token/", {"username": "qa", "password": "nope"}, format="json")
    assert bad.status_code == 401 and bad.json()["code"] == "authentication_failed"
    assert client.post("/api/v1/auth/token/", {"username": "qa"}, format="json").status_code == 400
    assert client.post("/api/v1/auth/token/", "not json", content_type="application/json").status_code == 400
    bad_token = APIClient()
    bad_token.credentials(HTTP_AUTHORIZATION="Token deadbeef")
    assert bad_token.get("/api/v1/me/").status_code == 401


def test_session_auth_works_on_the_api(client, users):
    client.force_login(users["technician"])
    assert client.get("/api/v1/me/").json()["username"] == "technician"


def test_pagination_shape_and_cap(users, api):
    notify([users["technician"]] * 3, subject="hello")
    body = api(users["technician"]).get("/api/v1/notifications/", {"page_size": 2}).json()
    assert set(body) == {"count", "next", "previous", "results"}
    assert body["count"] == 3 and len(body["results"]) == 2 and body["next"]
    capped = api(users["technician"]).get("/api/v1/notifications/", {"page_size": 100000})
    assert capped.status_code == 200
    assert api(users["technician"]).get("/api/v1/notifications/", {"page": "zz"}).status_code == 404


def test_malformed_input_is_400_not_500(users, api):
    client = api(users["technician"])
    assert client.post("/api/v1/notifications/read/", {"ids": ["x"]}).status_code == 400
    assert client.post("/api/v1/notifications/read/", {"ids": "x"}).status_code == 400


def test_schema_and_docs_are_served(users, api):
    client = api(users["admin"])
    schema = client.get("/api/v1/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json")
    assert schema.status_code == 200
    assert "/api/v1/audit/" in schema.json()["paths"]
    docs = client.get("/api/v1/docs/")
    assert docs.status_code == 200
    html = docs.content.decode()
    assert "swagger" in html.lower()
    assert "cdn" not in html.lower() and "unpkg" not in html.lower()
