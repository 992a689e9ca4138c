"""Two web instances over one database (issue 13): two gunicorn processes on their own ports, and a lot's life
walked across them, every request going to the other instance than the one before.

A browser session made by logging in on A is used on B (sessions are in the database, not in a process); each
account's API token, made on one, works on the other; the QC results entered alternately on A and B make one
release-ready lot, released with an e-signature on one and requested, approved, picked and shipped across both;
the trace seen from either shows the shipment. Under CI=true a missing gunicorn is a failure, never a skip.
"""

from __future__ import annotations

import datetime
import itertools
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests
from django.conf import settings
from django.contrib.auth.hashers import PBKDF2PasswordHasher
from django.utils import timezone

from lots.models import Lot
from qc.models import QCResult
from tests.distribution.factories import make_line, place, reseed_reference_data
from tests.factories import PASSWORD, LotFactory, UserFactory
from tests.qc.factories import PASSING, panel_codes

ROOT = Path(__file__).resolve().parents[2]
GUNICORN = Path(sys.executable).parent / "gunicorn"
STARTUP_SECONDS = 60


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def database_url() -> str:
    db = settings.DATABASES["default"]  # the test database (pytest-django renamed it)
    auth = db["USER"] + (f":{db['PASSWORD']}" if db["PASSWORD"] else "")
    return f"postgres://{auth}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"


class Instance:
    def __init__(self, name: str, log_dir: Path):
        self.name, self.port = name, free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = log_dir / f"gunicorn-{name}.log"
        self.proc: subprocess.Popen | None = None

    def start(self) -> None:
        env = {**os.environ, "DATABASE_URL": database_url(), "REDIS_URL": settings.REDIS_URL, "DEBUG": "true",
               "OUTBOX_HANDOFF": "false", "DB_CONN_MAX_AGE": "0"}
        env.pop("DJANGO_SETTINGS_MODULE", None)
        with self.log.open("wb") as log:
            self.proc = subprocess.Popen(  # noqa: S603
                [str(GUNICORN), "bank.wsgi", "--bind", f"127.0.0.1:{self.port}", "--workers", "1",
                 "--timeout", "60", "--graceful-timeout", "5"],
                cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)

    def wait(self, deadline: float) -> None:
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError(f"gunicorn {self.name} exited: {self.log.read_text()[-3000:]}")
            try:
                if requests.get(self.url + "/healthz", timeout=2).status_code == 200:
                    return
            except requests.RequestException:
                pass
            time.sleep(0.2)
        raise AssertionError(f"gunicorn {self.name} did not answer /healthz: {self.log.read_text()[-3000:]}")

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


@pytest.fixture
def instances(transactional_db, tmp_path):
    # gunicorn is a dependency of the project (pyproject.toml): its absence is a broken install, never a skip.
    assert GUNICORN.exists(), f"gunicorn is not installed at {GUNICORN}: run make install"
    pair = [Instance("A", tmp_path), Instance("B", tmp_path)]
    try:
        for instance in pair:
            instance.start()
        deadline = time.monotonic() + STARTUP_SECONDS
        for instance in pair:
            instance.wait(deadline)
        yield pair
    finally:
        for instance in pair:
            instance.stop()


def account(username: str, role: str):
    """A user whose password the servers can check: they hash with PBKDF2 (the test process only with MD5)."""
    user = UserFactory(username=username, role=role)
    hasher = PBKDF2PasswordHasher()
    user.password = hasher.encode(PASSWORD, hasher.salt(), iterations=1000)
    user.save(update_fields=["password"])
    return user


class Walk:
    """Each call goes to the next instance in turn: A, B, A, B..."""

    def __init__(self, pair):
        self._next = itertools.cycle(pair)
        self.log: list[tuple[str, str, str, int]] = []

    def __call__(self, method: str, path: str, *, token: str | None = None, expect: int = 200, **kwargs):
        instance = next(self._next)
        headers = kwargs.pop("headers", {})
        if token:
            headers["Authorization"] = f"Token {token}"
        response = requests.request(method, instance.url + path, headers=headers, timeout=30,
                                    allow_redirects=False, **kwargs)
        self.log.append((instance.name, method, path, response.status_code))
        assert response.status_code == expect, (instance.name, method, path, response.status_code,
                                                response.text[:500])
        return response


def test_a_lot_walks_from_quarantine_to_shipment_across_two_instances(instances):
    started = time.monotonic()
    a, b = instances
    reseed_reference_data()  # a transactional test may have flushed the seeded QC catalog and MTA
    technician, qa, researcher = (account("walk-tech", "technician"), account("walk-qa", "qa"),
                                  account("walk-researcher", "researcher"))
    # A consenting, eligible donor's line and a WCB of 3 vials in quarantine, stored in a box.
    line = make_line(grade="research")
    parent = LotFactory(cell_line=line, tier="MCB", status="released", vials=False, passage=8,
                        frozen_on=timezone.localdate() - datetime.timedelta(days=60))
    lot = LotFactory(cell_line=line, tier="WCB", status="quarantine", parent_lot=parent, vial_count=3, passage=18,
                     frozen_on=timezone.localdate() - datetime.timedelta(days=20))
    place(lot.vials.order_by("number"))

    # 1. A browser session made on A is a session on B.
    login_form = requests.get(a.url + "/accounts/login/", timeout=30)
    csrf = login_form.cookies["csrftoken"]
    login = requests.post(a.url + "/accounts/login/", timeout=30, allow_redirects=False,
                          data={"username": researcher.username, "password": PASSWORD, "csrfmiddlewaretoken": csrf},
                          cookies={"csrftoken": csrf}, headers={"Referer": a.url + "/accounts/login/"})
    assert login.status_code == 302, login.text[:500]
    cookies = {"csrftoken": csrf, "sessionid": login.cookies["sessionid"]}
    me = requests.get(b.url + "/api/v1/me/", cookies=cookies, timeout=30)
    assert me.status_code == 200 and me.json()["username"] == researcher.username
    assert requests.get(b.url + "/distribution/catalog/", cookies=cookies, timeout=30,
                        allow_redirects=False).status_code == 200

    walk = Walk(instances)
    tokens = {user.username: walk("POST", "/api/v1/auth/token/", expect=200,
                                  json={"username": user.username, "password": PASSWORD}).json()["token"]
              for user in (technician, qa, researcher)}
    tech, qa_token, res = tokens[technician.username], tokens[qa.username], tokens[researcher.username]

    # 2. QC: a passing result for every test of the specification in force, entered on A and B in turn.
    for code in panel_codes(lot):
        data = {k: str(v) for k, v in PASSING[code].items()}
        entered = walk("POST", f"/api/v1/lots/{lot.pk}/qc-results/", token=tech, expect=201,
                       json={"test": code, "tested_on": timezone.localdate().isoformat(), "method": "standard",
                             **data})
        assert entered.json()["passed"] is True, entered.json()
    assert QCResult.objects.filter(lot=lot).count() == len(panel_codes(lot))
    readiness = walk("GET", f"/api/v1/lots/{lot.pk}/release-readiness/", token=qa_token).json()
    assert readiness["ready"] is True, readiness

    # 3. Release with QA's e-signature; the other instance sees the lot released at once.
    walk("POST", f"/api/v1/lots/{lot.pk}/release/", token=qa_token, expect=200,
         json={"password": PASSWORD, "meaning": "release"})
    assert walk("GET", f"/api/v1/lots/{lot.pk}/", token=qa_token).json()["status"] == "released"
    assert Lot.objects.get(pk=lot.pk).status == "released"

    # 4. The researcher finds the line in the catalog and requests two vials; QA approves.
    catalog = walk("GET", "/api/v1/catalog/", token=res).json()
    assert line.pk in [entry["id"] for entry in catalog["results"]], catalog
    mta = walk("GET", "/api/v1/mta/", token=res).json()
    created = walk("POST", "/api/v1/requests/", token=res, expect=201,
                   json={"cell_line": line.pk, "vials": 2, "intended_use": "research", "project_title": "Neurons",
                         "institution": "Example University", "mta_accepted": True, "institution_type": "public",
                         "mta_version": mta.get("version", "")}).json()
    approved = walk("POST", f"/api/v1/requests/{created['id']}/approve/", token=qa_token, json={}).json()
    assert approved["status"] == "approved" and len(approved["allocated_vials"]) == 2, approved

    # 5. The technician picks each vial (one scan per instance) and ships.
    picks = walk("GET", f"/api/v1/requests/{created['id']}/pick-list/", token=tech).json()
    for barcode in approved["allocated_vials"]:
        walk("POST", f"/api/v1/requests/{created['id']}/pick/", token=tech, json={"barcode": barcode})
    assert len(picks) == 2
    shipped = walk("POST", f"/api/v1/requests/{created['id']}/ship/", token=tech,
                   json={"courier": "SF Express Cold Chain", "tracking_number": "SF1402889311",
                         "shipped_on": timezone.localdate().isoformat(), "shipper_type": "dry_shipper"}).json()
    assert shipped["status"] == "shipped" and shipped["shipment"], shipped

    # 6. The forward trace of the lot, from each instance, lists the shipment to the researcher.
    for _instance in instances:
        trace = walk("GET", f"/api/v1/trace/lots/{lot.pk}/", token=qa_token)
        assert created["number"] in trace.text and researcher.username in trace.text

    served = {name for name, *_ in walk.log}
    assert served == {"A", "B"} and len(walk.log) >= 20
    assert all(walk.log[i][0] != walk.log[i + 1][0] for i in range(len(walk.log) - 1))  # strictly alternating
    assert time.monotonic() - started < 60
