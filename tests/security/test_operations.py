"""Operations (issue 11): the transactional outbox, a Redis outage that costs a sensor nothing, heartbeats of
the worker and beat with readiness and a banner, and the security headers. On PostgreSQL and real Redis.

The outage test runs a second Redis of its own (``redis-server`` on a free port from 6390), points the
Celery broker and the cache at it, stops it, and starts it again."""

from __future__ import annotations

import contextlib
import datetime
import io
import smtplib
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import redis
from django.core import mail
from django.core.cache import caches
from django.db import connections, transaction
from django.test import override_settings
from django.utils import timezone
from rest_framework.test import APIClient

from bank import outbox
from bank.models import Heartbeat, Notification, OutboxMessage
from bank.notifications import notify
from bank.services import issue_token
from bank.tasks import sweep_outbox, worker_heartbeat
from storage.models import Alarm
from storage.services import bind_sensors
from tests.factories import PASSWORD, StorageUnitFactory

ROOT = Path(__file__).resolve().parents[2]


def wait_for(predicate, timeout: float = 30.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.2)
    return predicate()


def free_port(start: int = 6390) -> int:
    for port in range(start, start + 100):
        with socket.socket() as probe:
            try:
                probe.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise RuntimeError("no free port")


class SpareRedis:
    """A throw-away Redis (no persistence) this test can stop and start."""

    def __init__(self, directory: Path):
        self.port = free_port()
        self.directory = directory
        self.url = f"redis://127.0.0.1:{self.port}/0"

    def _client(self):
        return redis.Redis(port=self.port, socket_connect_timeout=0.5, socket_timeout=0.5)

    def up(self) -> bool:
        try:
            return self._client().ping()
        except redis.RedisError:
            return False

    def start(self) -> None:
        subprocess.run(
            ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
             "--daemonize", "yes", "--dir", str(self.directory), "--logfile", str(self.directory / "redis.log"),
             "--pidfile", str(self.directory / "redis.pid")],
            check=True, timeout=10,
        )
        assert wait_for(self.up, 10), "the spare Redis did not start"

    def stop(self) -> None:
        with contextlib.suppress(redis.RedisError):
            self._client().shutdown(nosave=True)
        assert wait_for(lambda: not self.up(), 10), "the spare Redis did not stop"


@pytest.fixture
def spare_redis(tmp_path):
    spare = SpareRedis(tmp_path)
    yield spare
    spare.stop()


def _reset_broker_pools(app) -> None:
    app._pool = None
    app.amqp._producer_pool = None


@contextlib.contextmanager
def app_on_redis(url: str, queue: str):
    """Point the Celery broker and every cache at ``url``; tasks go to ``queue`` (a test worker's own)."""
    from bank.celery import app

    saved = {"broker_url": app.conf.broker_url, "task_default_queue": app.conf.task_default_queue}
    app.conf.broker_url = url
    app.conf.task_default_queue = queue
    _reset_broker_pools(app)
    options = {"socket_connect_timeout": 1.0, "socket_timeout": 1.0}
    cache = {"BACKEND": "bank.cache.ResilientRedisCache", "LOCATION": url, "OPTIONS": options}
    try:
        with override_settings(CACHES={"default": cache, "throttle": {**cache, "KEY_PREFIX": "throttle"}}):
            yield app
    finally:
        app.conf.broker_url = saved["broker_url"]
        app.conf.task_default_queue = saved["task_default_queue"]
        _reset_broker_pools(app)
        outbox._handoff_paused_until = 0.0


@contextlib.contextmanager
def running_worker(app, queue: str):
    from celery.contrib.testing.worker import start_worker

    with start_worker(app, pool="threads", concurrency=2, perform_ping_check=False, queues=[queue],
                      loglevel="WARNING", shutdown_timeout=20):
        yield


def emailed_to() -> list[str]:
    return sorted(address for message in mail.outbox for address in message.to)


# --- a Redis outage ----------------------------------------------------------------------------------------


@pytest.mark.celery_worker
def test_with_redis_down_an_excursion_answers_at_once_and_is_emailed_once_redis_is_back(
        transactional_db, spare_redis, users, worker_id):
    unit = StorageUnitFactory(name="LN2-OUTAGE")
    bind_sensors(unit, ["sensor"], actor=users["admin"])
    sensor = APIClient()
    sensor.credentials(HTTP_AUTHORIZATION="Token " + issue_token(users["sensor"])[1])
    queue = f"stembank-outage-{worker_id}-{spare_redis.port}"
    spare_redis.start()
    with app_on_redis(spare_redis.url, queue) as app, running_worker(app, queue):
        # The worker runs against this Redis: beat's heartbeat task reaches it.
        worker_heartbeat.delay()
        assert wait_for(lambda: Heartbeat.objects.filter(name="worker").exists())

        spare_redis.stop()
        started = time.monotonic()
        response = sensor.post(f"/api/v1/storage/units/{unit.pk}/readings/",
                               {"temperature_c": -120, "recorded_at": timezone.now().isoformat()}, format="json")
        elapsed = time.monotonic() - started
        assert response.status_code == 201, response.content
        assert elapsed < 2.0, f"the sensor waited {elapsed:.2f} s with Redis down"
        alarm = Alarm.objects.get(unit=unit, kind="excursion")
        assert response.data["alarm"] == alarm.pk
        # Told in-app at once, in the sensor's transaction; the e-mails wait in the outbox.
        assert sorted(Notification.objects.filter(level="alarm").values_list("recipient__username", flat=True)) == [
            "qa", "technician"]
        pending = OutboxMessage.objects.filter(kind="email", status="pending")
        assert sorted(m.payload["to"][0] for m in pending) == ["qa@bank.example", "technician@bank.example"]
        assert mail.outbox == []

        # Nothing else that touches Redis fails or hangs meanwhile: the cache answers as a miss...
        started = time.monotonic()
        assert caches["default"].get("anything", "miss") == "miss"
        caches["default"].set("anything", 1)
        # ... and the throttled token login, whose counters live in the cache, still answers.
        login = APIClient().post("/api/v1/auth/token/", {"username": "technician", "password": PASSWORD},
                                 format="json")
        assert login.status_code == 200, login.content
        assert time.monotonic() - started < 2.0

        # Redis is back: beat's next sweep reaches the worker, which sends each e-mail once.
        spare_redis.start()
        sweep_outbox.delay()
        assert wait_for(lambda: len(mail.outbox) >= 2, timeout=60), "the e-mails were not sent after Redis came back"
        assert emailed_to() == ["qa@bank.example", "technician@bank.example"]
        assert all(alarm.unit.name in message.subject for message in mail.outbox)
        assert wait_for(lambda: not OutboxMessage.objects.filter(status="pending").exists())
        # Later sweeps find nothing more to send.
        for _ in range(2):
            assert sweep_outbox.delay().get(timeout=30) == {"delivered": 0, "retry": 0, "dead": 0}
        assert emailed_to() == ["qa@bank.example", "technician@bank.example"]
        assert Notification.objects.filter(level="alarm").count() == 2


@pytest.mark.celery_worker
def test_after_commit_the_worker_delivers_at_once(celery_worker, users):
    """The hand-off: a committed notification's e-mail, and a job, reach the worker without waiting for a sweep."""
    with transaction.atomic():
        notify([users["qa"]], subject="Re-check due", body="Lot MCB-1")
        outbox.enqueue_task("bank.tasks.notify_user", [users["technician"].pk, "From the outbox"])
    assert wait_for(lambda: len(mail.outbox) == 2)
    assert emailed_to() == ["qa@bank.example", "technician@bank.example"]
    assert Notification.objects.filter(recipient=users["technician"], subject="From the outbox").exists()
    assert wait_for(lambda: not OutboxMessage.objects.filter(status="pending").exists())


# --- the outbox ------------------------------------------------------------------------------------------


class RefusingBackend:
    """A mail server that refuses everything."""

    def __init__(self, *args, **kwargs):
        pass

    def send_messages(self, messages):
        raise smtplib.SMTPServerDisconnected("mail server went away")


def test_messages_exist_only_with_the_change_they_follow(db, users):
    with pytest.raises(RuntimeError), transaction.atomic():
        notify([users["qa"]], subject="Never")
        raise RuntimeError("the change fails")
    assert not OutboxMessage.objects.exists() and not Notification.objects.exists()
    notify([users["qa"], users["technician"], users["researcher"]], subject="Hello", body="Body", link="/qc/")
    messages = OutboxMessage.objects.order_by("id")
    assert [m.payload["to"] for m in messages] == [["qa@bank.example"], ["researcher@bank.example"],
                                                   ["technician@bank.example"]]
    assert {m.status for m in messages} == {"pending"} and mail.outbox == []
    assert outbox.deliver() == {"delivered": 3, "retry": 0, "dead": 0}
    assert emailed_to() == ["qa@bank.example", "researcher@bank.example", "technician@bank.example"]
    assert mail.outbox[0].subject.endswith("Hello") and "/qc/" in mail.outbox[0].body
    assert outbox.deliver() == {"delivered": 0, "retry": 0, "dead": 0}
    assert set(OutboxMessage.objects.values_list("status", flat=True)) == {"delivered"}


@override_settings(EMAIL_BACKEND="tests.security.test_operations.RefusingBackend", OUTBOX_MAX_ATTEMPTS=3,
                   OUTBOX_RETRY_BASE_SECONDS=30, OUTBOX_RETRY_MAX_SECONDS=45)
def test_a_failed_delivery_backs_off_then_gives_up_and_an_admin_sends_it_again(db, users):
    [message] = outbox.enqueue_email(["qa@bank.example"], "Excursion", "LN2-01")

    def due_now():
        OutboxMessage.objects.filter(pk=message.pk).update(available_at=timezone.now())

    before = timezone.now()
    assert outbox.deliver() == {"delivered": 0, "retry": 1, "dead": 0}
    message.refresh_from_db()
    assert (message.status, message.attempts) == ("pending", 1)
    assert "mail server went away" in message.last_error
    assert before + datetime.timedelta(seconds=29) < message.available_at < timezone.now() + datetime.timedelta(
        seconds=31)
    assert outbox.deliver() == {"delivered": 0, "retry": 0, "dead": 0}  # not due yet
    due_now()
    assert outbox.deliver()["retry"] == 1
    message.refresh_from_db()
    assert message.attempts == 2  # 60 s doubled, capped at 45 s
    assert timezone.now() + datetime.timedelta(seconds=40) < message.available_at < timezone.now() + \
        datetime.timedelta(seconds=46)
    due_now()
    assert outbox.deliver() == {"delivered": 0, "retry": 0, "dead": 1}
    message.refresh_from_db()
    assert (message.status, message.attempts) == ("dead", 3)
    due_now()
    assert outbox.deliver()["dead"] == 0  # given up: no more tries on its own

    # An admin sees it and sends it again once the mail server is back.
    from django.test import Client

    admin = users["admin"]
    admin.is_staff = True
    admin.save(update_fields=["is_staff"])
    client = Client()
    client.force_login(admin)
    page = client.get("/admin/bank/outboxmessage/?status__exact=dead")
    assert page.status_code == 200 and "qa@bank.example: Excursion" in page.content.decode()
    response = client.post("/admin/bank/outboxmessage/", {"action": "send_again", "_selected_action": [message.pk]})
    assert response.status_code == 302
    message.refresh_from_db()
    assert (message.status, message.attempts) == ("pending", 0)
    with override_settings(EMAIL_BACKEND="django.core.mail.backends.locmem.EmailBackend"):
        assert outbox.deliver() == {"delivered": 1, "retry": 0, "dead": 0}
    assert emailed_to() == ["qa@bank.example"]


def test_a_task_message_is_published_to_the_broker(db, monkeypatch):
    from bank.celery import app

    sent = []
    monkeypatch.setattr(app, "send_task", lambda name, **kw: sent.append((name, kw["args"], kw["kwargs"])))
    outbox.enqueue_task("qc.tasks.open_due_rechecks", [], {"today": "2026-01-02"})
    assert outbox.deliver() == {"delivered": 1, "retry": 0, "dead": 0}
    assert sent == [("qc.tasks.open_due_rechecks", [], {"today": "2026-01-02"})]

    def broker_down(name, **kw):
        raise ConnectionRefusedError("broker down")

    monkeypatch.setattr(app, "send_task", broker_down)
    job = outbox.enqueue_task("storage.tasks.notify_alarms", [[1, 2]])
    assert outbox.deliver() == {"delivered": 0, "retry": 1, "dead": 0}
    job.refresh_from_db()
    assert job.status == "pending" and "broker down" in job.last_error


def test_two_workers_deliver_each_message_once(transactional_db):
    outbox.enqueue_email([f"tech{n}@bank.example" for n in range(40)], "Sweep", "race")
    start = threading.Barrier(3)
    results = []

    def work():
        start.wait()
        try:
            results.append(outbox.deliver())
        finally:
            connections.close_all()

    threads = [threading.Thread(target=work) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert sum(r["delivered"] for r in results) == 40
    assert emailed_to() == sorted(f"tech{n}@bank.example" for n in range(40))
    assert OutboxMessage.objects.filter(status="delivered").count() == 40


def test_a_lease_keeps_a_claimed_message_from_everyone_else(db):
    [message] = outbox.enqueue_email(["qa@bank.example"], "Lease", "x")
    assert [m.pk for m in outbox.claim()] == [message.pk]
    assert outbox.claim() == []  # leased: a second worker does not take it
    OutboxMessage.objects.filter(pk=message.pk).update(available_at=timezone.now())  # the lease ran out
    assert [m.attempts for m in outbox.claim()] == [2]


def test_delivered_messages_are_pruned_after_the_retention(db):
    old, new = outbox.enqueue_email(["a@bank.example", "b@bank.example"], "x", "y")
    outbox.deliver()
    OutboxMessage.objects.filter(pk=old.pk).update(delivered_at=timezone.now() - datetime.timedelta(days=31))
    [dead] = outbox.enqueue_email(["c@bank.example"], "x", "y")
    OutboxMessage.objects.filter(pk=dead.pk).update(status="dead", created_at=timezone.now() - datetime.timedelta(
        days=90))
    assert outbox.prune() == 1
    assert set(OutboxMessage.objects.values_list("pk", flat=True)) == {new.pk, dead.pk}


# --- heartbeats, readiness and the banner ----------------------------------------------------------------


def beat_at(name: str, **ago) -> None:
    Heartbeat.objects.update_or_create(name=name, defaults={"seen_at": timezone.now() - datetime.timedelta(**ago)})


@pytest.fixture
def healthy(db):
    beat_at("worker", seconds=20)
    beat_at("beat", seconds=5)


def test_ready_when_worker_and_beat_were_seen_lately(healthy, client, users):
    response = client.get("/healthz/ready")
    assert response.status_code == 200
    assert response.json() == {"status": "ok", "checks": {name: {"ok": True} for name in
                                                          ("database", "worker", "beat", "outbox")}}
    assert client.get("/healthz").status_code == 200  # liveness unchanged
    api = APIClient()
    assert api.get("/api/v1/health/").json()["status"] == "ok"
    api.force_authenticate(users["admin"])
    details = api.get("/api/v1/health/").json()["checks"]
    assert 15 <= details["worker"]["age_seconds"] <= 60 and details["outbox"] == {
        "ok": True, "pending": 0, "stale": 0, "oldest_stale_at": None, "dead": 0}
    client.force_login(users["qa"])
    assert client.get("/operations/banner/").status_code == 204  # no banner when all is well


@override_settings(HEARTBEAT_MAX_AGE_SECONDS=180)
def test_a_stale_worker_makes_readiness_fail_and_shows_the_banner_to_qa_and_admins_only(healthy, client, users):
    beat_at("worker", minutes=4)
    response = client.get("/healthz/ready")
    assert response.status_code == 503
    assert response.json()["status"] == "unavailable"
    assert response.json()["checks"]["worker"] == {"ok": False} and response.json()["checks"]["beat"] == {"ok": True}
    assert APIClient().get("/api/v1/health/").status_code == 503
    seen = timezone.localtime(Heartbeat.objects.get(name="worker").seen_at)
    when = seen.strftime("%H:%M" if seen.date() == timezone.localdate() else "%Y-%m-%d %H:%M")
    for role in ("qa", "admin"):
        client.force_login(users[role])
        page = client.get("/").content.decode()
        assert 'id="operations-banner"' in page
        banner = client.get("/operations/banner/")
        assert banner.status_code == 200
        text = banner.content.decode()
        assert f"The worker has not run since {when}" in text and "temperature alarms are not being raised" in text
    for role in ("technician", "coordinator", "researcher"):
        client.force_login(users[role])
        assert 'id="operations-banner"' not in client.get("/").content.decode()
        assert client.get("/operations/banner/").status_code == 204
    client.logout()
    assert client.get("/operations/banner/").status_code == 204


def test_beat_never_seen_and_stuck_messages_fail_readiness(db, client, users):
    beat_at("worker", seconds=10)
    response = client.get("/healthz/ready")
    assert response.status_code == 503 and response.json()["checks"]["beat"] == {"ok": False}
    beat_at("beat", seconds=10)
    assert client.get("/healthz/ready").status_code == 200
    [message] = outbox.enqueue_email(["qa@bank.example"], "x", "y")
    OutboxMessage.objects.filter(pk=message.pk).update(created_at=timezone.now() - datetime.timedelta(minutes=11))
    assert client.get("/healthz/ready").status_code == 503
    client.force_login(users["admin"])
    assert client.get("/healthz/ready").json()["checks"]["outbox"]["stale"] == 1
    assert "1 e-mail or job has waited since" in client.get("/operations/banner/").content.decode()
    Heartbeat.objects.filter(name="beat").delete()
    assert "The scheduler has never reported" in client.get("/operations/banner/").content.decode()


def test_readiness_answers_503_when_the_database_is_down(transactional_db, client):
    conn = connections["default"]
    saved = dict(conn.settings_dict)
    conn.close()
    conn.settings_dict.update(HOST="127.0.0.1", PORT=str(free_port(25000)))
    try:
        response = client.get("/healthz/ready")
        api_response = APIClient().get("/api/v1/health/")
    finally:
        conn.close()
        conn.settings_dict.clear()
        conn.settings_dict.update(saved)
    assert response.status_code == 503
    assert response.json()["checks"]["database"] == {"ok": False}
    assert api_response.status_code == 503


def test_the_worker_and_beat_record_their_heartbeats(db, tmp_path):
    from celery.signals import worker_ready

    from bank.beat import HeartbeatScheduler
    from bank.celery import app

    worker_ready.send(sender=None)
    assert Heartbeat.objects.filter(name="worker").exists()
    Heartbeat.objects.all().delete()
    worker_heartbeat()
    assert Heartbeat.objects.get(name="worker").seen_at > timezone.now() - datetime.timedelta(seconds=5)

    scheduler = HeartbeatScheduler(app=app, schedule_filename=str(tmp_path / "schedule"))
    try:
        assert scheduler.tick() <= 30
        beat = Heartbeat.objects.get(name="beat")
        assert str(beat.detail).endswith(f"pid {__import__('os').getpid()}")
        Heartbeat.objects.filter(name="beat").update(seen_at=timezone.now() - datetime.timedelta(minutes=10))
        scheduler.tick()  # within the heartbeat interval: no write on every tick
        assert Heartbeat.objects.get(name="beat").seen_at < timezone.now() - datetime.timedelta(minutes=9)
        scheduler._last_heartbeat -= 31
        scheduler.tick()
        assert Heartbeat.objects.get(name="beat").seen_at > timezone.now() - datetime.timedelta(seconds=5)
    finally:
        scheduler.close()
    assert app.conf.beat_scheduler == "bank.beat:HeartbeatScheduler"


def test_beat_schedules_the_sweep_and_the_heartbeat():
    from django.conf import settings

    schedule = settings.CELERY_BEAT_SCHEDULE
    assert schedule["bank-sweep-outbox"]["task"] == "bank.tasks.sweep_outbox"
    assert schedule["bank-worker-heartbeat"]["task"] == "bank.tasks.worker_heartbeat"
    # both every 30 s, well inside the 180 s after which the banner shows
    assert schedule["bank-sweep-outbox"]["schedule"] == schedule["bank-worker-heartbeat"]["schedule"] == 30.0


def test_health_command_checks_beat_for_its_container(db):
    from django.core.management import call_command
    from django.core.management.base import CommandError

    with pytest.raises(CommandError, match="beat"):
        call_command("health", "--check", "beat", stdout=io.StringIO())
    beat_at("beat", seconds=3)
    out = io.StringIO()
    call_command("health", "--check", "beat", stdout=out)
    assert '"ok": true' in out.getvalue()


# --- headers ---------------------------------------------------------------------------------------------


def test_pages_and_the_api_carry_csp_and_permissions_policy(db, client, users):
    client.force_login(users["qa"])
    for url in ("/", "/accounts/password/", "/api/v1/me/"):
        response = client.get(url)
        csp = response["Content-Security-Policy"]
        directives = dict(part.strip().split(" ", 1) for part in csp.split(";") if part.strip())
        assert directives["default-src"] == "'self'" and directives["script-src"] == "'self'"
        assert directives["frame-ancestors"] == "'none'" and directives["object-src"] == "'none'"
        assert directives["base-uri"] == "'self'" and directives["form-action"] == "'self'"
        assert directives["img-src"] == "'self' data:" and directives["style-src"] == "'self'"
        policy = response["Permissions-Policy"]
        for feature in ("camera=()", "microphone=()", "geolocation=()", "usb=()", "payment=()"):
            assert feature in policy, feature


def test_no_page_template_has_an_inline_script():
    """``script-src 'self'`` forbids inline scripts and event handler attributes: they would silently stop."""
    import re

    offenders = []
    for template in sorted((ROOT / "templates").rglob("*.html")):
        text = template.read_text(encoding="utf-8")
        for match in re.finditer(r"<script(?![^>]*\bsrc=)[^>]*>|\son[a-z]+=\"|javascript:", text):
            offenders.append(f"{template.relative_to(ROOT)}: {match.group(0)}")
    assert not offenders, offenders


def test_api_docs_are_served_with_their_script_as_a_file(db, client, users):
    client.force_login(users["qa"])
    page = client.get("/api/v1/docs/")
    assert page.status_code == 200 and "Content-Security-Policy" in page
    html = page.content.decode()
    assert "<script>" not in html and "/api/v1/docs/?script=" in html
    script = client.get("/api/v1/docs/?script=")
    assert script.status_code == 200 and script["Content-Type"].startswith("application/javascript")
    assert "SwaggerUIBundle" in script.content.decode()


@pytest.mark.parametrize("behind_proxy,header", [("", "None"), ("true", "('HTTP_X_FORWARDED_PROTO', 'https')")])
def test_the_proxy_https_header_is_trusted_only_behind_a_proxy(tmp_path, behind_proxy, header):
    import os

    env = {k: v for k, v in os.environ.items() if k not in {"DATABASE_URL", "REDIS_URL", "DJANGO_ALLOW_ASYNC_UNSAFE"}}
    env.update(STEMBANK_VAR_DIR=str(tmp_path), DEBUG="false", ALLOWED_HOSTS="bank.example", BEHIND_PROXY=behind_proxy,
               SECRET_KEY="a-real-production-secret-of-sufficient-length-0123456789-abcdef")
    out = subprocess.run(
        [sys.executable, "-c", "import django, os; os.environ.setdefault('DJANGO_SETTINGS_MODULE','bank.settings');"
         "django.setup(); from django.conf import settings as s; print(s.SECURE_PROXY_SSL_HEADER)"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=60,
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == header


def test_the_hand_off_never_raises_and_pauses_after_a_failure(monkeypatch, settings):
    from bank.celery import app

    calls = []

    def broker_down(*args, **kwargs):
        calls.append(args)
        raise OSError("Connection refused")

    monkeypatch.setattr(app, "send_task", broker_down)
    monkeypatch.setattr(outbox, "_handoff_paused_until", 0.0)
    assert outbox.hand_off([1]) is False
    assert outbox.hand_off([2]) is False  # paused: not even tried
    assert len(calls) == 1
    monkeypatch.setattr(outbox, "_handoff_paused_until", time.monotonic() - 1)
    assert outbox.hand_off([3]) is False and len(calls) == 2


def test_closing_a_channel_after_the_broker_went_away_is_a_connection_error_the_worker_survives():
    """kombu closing a Redis channel with unacknowledged messages after the connection was collected raised an
    AttributeError that stopped the worker for good (bank.celery.survive_a_lost_broker)."""
    import os

    from kombu import Connection

    import bank.celery  # noqa: F401  (installs the guard)

    connection = Connection(os.environ["REDIS_URL"])
    channel = connection.default_channel
    channel.qos._delivered["lost-tag"] = None  # a task in flight when the broker went away
    channel._pool = None
    channel.connection.client = None
    connection.close()  # ignored as a connection error: no AttributeError
    assert connection._default_channel is None or channel.closed
