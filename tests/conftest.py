"""Test harness: PostgreSQL and Redis are required (never skipped), users per role, API clients,
a real Celery worker on Redis, and headless Chromium driven by Playwright.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest
from django.conf import settings
from rest_framework.test import APIClient

from bank.roles import ROLES
from tests.factories import PASSWORD, UserFactory

CHROMIUM = os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium")
ARTIFACTS = Path(__file__).resolve().parent.parent / "test-artifacts"


def _require_services() -> None:
    """The suite runs on PostgreSQL and Redis. Without them it stops with a clear message."""
    db = settings.DATABASES["default"]
    if db["ENGINE"] != "django.db.backends.postgresql":
        pytest.exit(
            "Tests run on PostgreSQL: set DATABASE_URL=postgres://postgres@127.0.0.1:5432/stembank "
            "(`make test` does this).",
            returncode=3,
        )
    import psycopg2

    try:
        psycopg2.connect(
            dbname="postgres", user=db["USER"] or None, password=db["PASSWORD"] or None,
            host=db["HOST"] or None, port=db["PORT"] or None, connect_timeout=5,
        ).close()
    except psycopg2.OperationalError as exc:
        pytest.exit(f"PostgreSQL is not reachable ({exc}). Start it (see .ci/run).", returncode=3)
    if not settings.REDIS_URL:
        pytest.exit("Tests need Redis: set REDIS_URL=redis://127.0.0.1:6379/0 (`make test` does this).", returncode=3)
    import redis

    try:
        redis.Redis.from_url(settings.REDIS_URL, socket_connect_timeout=5).ping()
    except redis.RedisError as exc:
        pytest.exit(f"Redis is not reachable at {settings.REDIS_URL} ({exc}). Start it (see .ci/run).", returncode=3)
    if not (Path(CHROMIUM).exists() or shutil.which(CHROMIUM)):
        pytest.exit(f"Chromium is not installed at {CHROMIUM}: `apt-get install chromium` (.ci/run does).",
                    returncode=3)


def pytest_configure(config):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    from tests import throttles

    settings.CACHES["throttle"]["KEY_PREFIX"] = throttles.key_prefix()  # per test process (tests/throttles.py)
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    # Close DB connections after every Celery task, so worker threads leave none behind.
    settings.DATABASES["default"]["CONN_MAX_AGE"] = 0
    _require_services()


@pytest.fixture(autouse=True)
def _default_language():
    """Every test starts in English: a request in Chinese leaves its language active in the thread,
    and stored texts (reasons, notifications) would otherwise depend on which test ran before."""
    from django.utils import translation

    translation.activate(settings.LANGUAGE_CODE)
    yield
    translation.activate(settings.LANGUAGE_CODE)


@pytest.fixture(autouse=True)
def _fresh_kept_criteria():
    """A specification version's criteria are kept per process (qc.queries.spec_criteria): a test's rolled-back
    versions must not answer for the next test's."""
    from qc.queries import forget_criteria

    forget_criteria()


@pytest.fixture(autouse=True)
def _fresh_throttles():
    """API throttle counters (Redis) outlive a test's transaction: each test starts with none."""
    from tests import throttles

    throttles.reset()


# --- users and clients --------------------------------------------------------------------------


@pytest.fixture
def password() -> str:
    return PASSWORD


@pytest.fixture
def make_user(db):
    def make(role: str | list[str] | None = None, **kwargs):
        return UserFactory(role=role, **kwargs)

    return make


@pytest.fixture
def users(db) -> dict:
    """One user per role, named after the role: ``users["qa"]``."""
    return {role: UserFactory(username=role, role=role) for role in ROLES}


@pytest.fixture
def api():
    """``api(user)`` → an APIClient authenticated as ``user`` (or anonymous for None)."""

    def make(user=None) -> APIClient:
        client = APIClient()
        if user is not None:
            client.force_authenticate(user)
        return client

    return make


# --- Celery: a real worker consuming from Redis ---------------------------------------------------


@pytest.fixture
def celery_worker(transactional_db, worker_id):
    """A real Celery worker (threads) consuming a private Redis queue; not eager mode.

    Each pytest-xdist process gets its own queue, so parallel test processes never run each
    other's tasks against the wrong test database.
    """
    from celery.contrib.testing.worker import start_worker

    from bank.celery import app

    assert app.conf.broker_url.startswith("redis://"), "the Celery tests need the Redis broker"
    queue = f"stembank-test-{worker_id}-{os.getpid()}"
    previous = app.conf.task_default_queue
    app.conf.task_default_queue = queue
    try:
        with start_worker(app, pool="threads", concurrency=2, perform_ping_check=False, queues=[queue],
                          loglevel="WARNING", shutdown_timeout=20):
            yield app
    finally:
        app.conf.task_default_queue = previous


# --- Browser: headless Debian Chromium through Playwright -----------------------------------------


@pytest.fixture(scope="session")
def browser():
    from playwright.sync_api import sync_playwright

    os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    with sync_playwright() as p:
        chromium = p.chromium.launch(
            executable_path=CHROMIUM,
            headless=True,
            args=[
                "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                "--disable-background-networking", "--disable-component-update", "--disable-sync",
            ],
        )
        yield chromium
        chromium.close()


@pytest.fixture
def page(browser, live_server, request):
    """A fresh browser page; a screenshot is kept under test-artifacts/ when the test fails."""
    context = browser.new_context(viewport={"width": 1366, "height": 900}, locale="en-US")
    context.set_default_timeout(10_000)
    # A navigation waits for a whole page from the live server, which shares CI's two cores with the other
    # xdist process (a Celery worker, gunicorn, a migration test): give it room, keep 10 s for the rest.
    context.set_default_navigation_timeout(30_000)
    pg = context.new_page()
    pg.base_url = live_server.url
    yield pg
    report = getattr(request.node, "rep_call", None)
    if report is not None and report.failed:
        ARTIFACTS.mkdir(exist_ok=True)
        pg.screenshot(path=str(ARTIFACTS / f"{request.node.name}.png"), full_page=True)
    context.close()


@pytest.fixture
def login(page):
    """``login(user)`` logs ``user`` in through the real login form."""

    def do(user, password: str = PASSWORD):
        page.goto(page.base_url + "/accounts/login/")
        page.fill("#id_username", user.username)
        page.fill("#id_password", password)
        page.press("#id_password", "Enter")
        page.wait_for_url(page.base_url + "/")
        return page

    return do


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    setattr(item, f"rep_{report.when}", report)
