"""Bank-wide pages: login, dashboard, scan, notifications, language, errors."""

import pytest

from bank.registry import register_scanner, registry

pytestmark = pytest.mark.django_db


def test_login_page_is_public_and_everything_else_needs_login(client):
    assert client.get("/accounts/login/").status_code == 200
    for url in ("/", "/scan/?code=X", "/notifications/", "/audit/notification/1/"):
        response = client.get(url)
        assert response.status_code == 302 and response.url.startswith("/accounts/login/"), url


def test_dashboard_shows_role_and_scan_field(client, users):
    client.force_login(users["technician"])
    html = client.get("/").content.decode()
    assert 'id="global-scan"' in html
    assert "Technician" in html


def test_scan_not_found_says_what_to_do(client, users):
    client.force_login(users["technician"])
    response = client.get("/scan/", {"code": "SBV99999999"})
    assert response.status_code == 404
    html = response.content.decode()
    assert "Nothing found for" in html and "SBV99999999" in html
    assert "scan again" in html


def test_scan_opens_what_a_resolver_finds(client, users):
    def resolver(code, user):
        return "/notifications/" if code == "KNOWN-1" else None

    register_scanner(resolver, order=999)
    try:
        client.force_login(users["technician"])
        response = client.get("/scan/", {"code": " KNOWN-1 "})
        assert response.status_code == 302 and response.url == "/notifications/"
    finally:
        registry.scanners[:] = [(o, r) for o, r in registry.scanners if r is not resolver]


def test_language_switch_to_simplified_chinese(client, users):
    client.force_login(users["qa"])
    client.post("/i18n/setlang/", {"language": "zh-hans", "next": "/"})
    html = client.get("/").content.decode()
    assert 'lang="zh-hans"' in html
    assert "仪表板" in html  # "Dashboard"


def test_password_change(client, users, password):
    client.force_login(users["qa"])
    response = client.post("/accounts/password/", {
        "old_password": password,
        "new_password1": "a-new-long-passphrase-9",
        "new_password2": "a-new-long-passphrase-9",
    })
    assert response.status_code == 302
    users["qa"].refresh_from_db()
    assert users["qa"].check_password("a-new-long-passphrase-9")


def test_healthz(client):
    assert client.get("/healthz").content == b"ok"


def test_unknown_page_is_a_friendly_404(client, users):
    client.force_login(users["qa"])
    response = client.get("/no/such/page/")
    assert response.status_code == 404


def test_object_panels_render_for_allowed_users(rf, users):
    from django.template import Context, Template

    from bank.registry import register_object_panel, registry

    register_object_panel("bank.notification", "probe", "bank/partials/pager.html",
                          lambda request, obj: {"probe": obj.pk}, perms=("bank.view_audit_trail",))
    try:
        from bank.notifications import notify

        note = notify([users["qa"]], subject="x")[0]
        template = Template("{% load bank_tags %}{% object_panels note %}")
        for user, shown in ((users["qa"], True), (users["researcher"], False)):
            request = rf.get("/")
            request.user = user
            html = template.render(Context({"request": request, "note": note}))
            assert ('id="panel-probe"' in html) is shown
    finally:
        registry.object_panels.pop("bank.notification", None)
