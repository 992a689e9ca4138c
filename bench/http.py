"""HTTP benchmark of the bank's hot paths through a real gunicorn (issue 13).

    DATABASE_URL=postgres://... python bench/http.py --start [--workers 3] [--rounds 30] [--users 32] \
        [--duration 30] [--out docs/performance.md]
    DATABASE_URL=postgres://... python bench/http.py --base-url http://127.0.0.1:8000 ...

``--start`` runs gunicorn itself (production settings: DEBUG=false, on a free port, against the current
DATABASE_URL), waits for /healthz and stops it at the end; ``--base-url`` measures a server already running.
Either way the script reads the same database through the ORM (DATABASE_URL must be the server's): it creates
three bench accounts (bench-qa, bench-researcher, bench-admin, new random passwords on every run) and picks its
targets there (a stored vial, its box and lot, the lot's donor, a request with allocations, an HLA allele of a
shareable typing, a catalog line).

1. Every endpoint is fetched once and must answer 200 (a non-200 is reported and left out of the timing).
2. Interleaved rounds over one keep-alive connection per account: each round times every endpoint once, in a
   shuffled order, after one warm-up round that is not counted. Medians and p95 per endpoint, and the ratio
   of the median to the floor's (an authenticated DRF ``GET /api/v1/screening-markers/``) measured in the
   same rounds, judged against the class targets of issue 13.
3. A load run: --users threads, each with its own keep-alive session (its own login for pages), a weighted
   mix (scans, box maps, lots, catalog, traces, requests, audit, pages) over many targets for --duration s:
   throughput, error count (non-2xx/3xx or an exception), median and p95.

API calls use a knox token from ``POST /api/v1/auth/token/``; pages use a browser session from the login
form (CSRF). Pages are every entry of the navigation (bank.registry.nav_for) of the three accounts, plus the
object pages behind the timed endpoints. ``--out`` replaces this database's section of the file with the
tables, the command line, the date, the machine and the row counts.

Exit status 1 when an endpoint fails (a non-200 in the check, an error while timing, or any error in the
load run); a ratio above its target is printed as a miss but does not change the exit status.

The load generator is a threaded requests client, not locust: locust is not a dependency of the project
(it would bring gevent, Flask and 20 more packages into pyproject.toml) and gevent's monkey-patching does not
mix with the in-process Django setup used to pick targets.
"""

from __future__ import annotations

import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
# `python bench/http.py` puts bench/ first on sys.path, where this file would shadow the standard library's
# http package (http.client, http.cookiejar): take it off before anything imports them.
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != HERE]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import argparse  # noqa: E402
import datetime  # noqa: E402
import http.cookiejar  # noqa: E402
import os  # noqa: E402
import platform  # noqa: E402
import random  # noqa: E402
import re  # noqa: E402
import secrets  # noqa: E402
import shlex  # noqa: E402
import signal  # noqa: E402
import socket  # noqa: E402
import statistics  # noqa: E402
import subprocess  # noqa: E402
import threading  # noqa: E402
import time  # noqa: E402
from dataclasses import dataclass, field  # noqa: E402
from urllib.parse import quote, urlencode  # noqa: E402

import requests  # noqa: E402

# Targets of issue 13 (and 14's HLA match): median of the class / median of the floor. None: reported only.
TARGETS: dict[str, float | None] = {
    "floor": 1.0,
    "scan": 1.5,
    "box map": 2.0,
    "lot": 2.0,
    "catalog": 3.0,
    "trace": 4.0,
    "page": 6.0,
    "hla match": 5.0,  # issue 14 (haplobank): a match search within 5x the floor at the national profile
    "vial": None,
    "request": None,
    "audit": None,
}
ROLES = {"qa": "bench-qa", "researcher": "bench-researcher", "admin": "bench-admin"}
TIMEOUT = 60


def setup_django() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "bank.settings")
    os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    import django
    from django.apps import apps

    if not apps.ready:
        django.setup()


# --- statistics --------------------------------------------------------------------------------------------


def p95(samples: list[float]) -> float:
    """Nearest-rank 95th percentile."""
    ordered = sorted(samples)
    return ordered[max(0, -(-95 * len(ordered) // 100) - 1)]


def fmt_ms(seconds: float) -> str:
    return f"{seconds * 1000:.1f}"


# --- HTTP clients -----------------------------------------------------------------------------------------


class _NoCookies(http.cookiejar.DefaultCookiePolicy):
    """The session keeps no cookies of its own: the Cookie header is set by hand, because production sets them
    Secure and this client speaks plain HTTP to gunicorn on the loopback."""

    def set_ok(self, cookie, request):
        return False


class Client:
    """One keep-alive connection (requests.Session) authenticated as one account: token or browser session."""

    def __init__(self, base_url: str, role: str, kind: str):
        self.base_url, self.role, self.kind = base_url.rstrip("/"), role, kind
        self.session = requests.Session()
        self.session.cookies.set_policy(_NoCookies())
        self.session.headers["User-Agent"] = "stembank-bench/1"
        self.csrf = ""
        self.responses = self.closed = 0

    def request(self, method: str, path: str, json_body=None) -> requests.Response:
        headers = {"X-CSRFToken": self.csrf} if method != "GET" and self.csrf else None
        response = self.session.request(method, self.base_url + path, json=json_body, headers=headers,
                                        allow_redirects=False, timeout=TIMEOUT)
        self.responses += 1
        if response.headers.get("Connection", "").lower() == "close":  # the next request opens a new connection
            self.closed += 1
        return response

    def clone(self) -> Client:
        """A new connection with the same credentials (a token is shared; a page session is not: see login)."""
        other = Client(self.base_url, self.role, self.kind)
        other.session.headers.update({k: v for k, v in self.session.headers.items() if k in ("Authorization",
                                                                                               "Cookie")})
        other.csrf = self.csrf
        return other

    @classmethod
    def with_token(cls, base_url: str, role: str, username: str, password: str) -> Client:
        client = cls(base_url, role, "token")
        response = client.session.post(client.base_url + "/api/v1/auth/token/",
                                       json={"username": username, "password": password}, timeout=TIMEOUT)
        if response.status_code != 200:
            raise BenchError(f"POST /api/v1/auth/token/ as {username}: {response.status_code} {response.text[:200]}")
        client.session.headers["Authorization"] = f"Token {response.json()['token']}"
        return client

    @classmethod
    def with_login(cls, base_url: str, role: str, username: str, password: str) -> Client:
        client = cls(base_url, role, "session")
        form = client.session.get(client.base_url + "/accounts/login/", timeout=TIMEOUT)
        csrf = form.cookies.get("csrftoken", "")
        if form.status_code != 200 or not csrf:
            raise BenchError(f"GET /accounts/login/: {form.status_code}, "
                             f"csrftoken cookie {'set' if csrf else 'missing'}")
        response = client.session.post(
            client.base_url + "/accounts/login/",
            data={"username": username, "password": password, "csrfmiddlewaretoken": csrf},
            headers={"Cookie": f"csrftoken={csrf}", "Referer": client.base_url + "/accounts/login/"},
            allow_redirects=False, timeout=TIMEOUT,
        )
        sessionid = response.cookies.get("sessionid")
        if response.status_code != 302 or not sessionid:
            raise BenchError(f"POST /accounts/login/ as {username}: {response.status_code} (expected 302 with a "
                             f"session cookie) {response.text[:200]!r}")
        client.csrf = response.cookies.get("csrftoken") or csrf
        client.session.headers["Cookie"] = f"csrftoken={client.csrf}; sessionid={sessionid}"
        return client

    def revoke(self) -> None:
        if self.kind == "token":
            try:
                self.session.delete(self.base_url + "/api/v1/auth/tokens/", timeout=TIMEOUT)
            except requests.RequestException:
                pass


class BenchError(Exception):
    pass


# --- accounts and targets (through the ORM, on the server's database) -------------------------------------


def ensure_accounts() -> dict[str, tuple[str, str]]:
    """bench-qa, bench-researcher and bench-admin with a new random password each: role -> (username, password)."""
    from bank.services import save_user

    accounts = {}
    for role, username in ROLES.items():
        password = secrets.token_urlsafe(24)
        save_user(username, roles=[role], password=password, full_name=f"Bench {role}", validate=False,
                  reason="bench/http.py (issue 13 benchmark account)", active=True)
        accounts[role] = (username, password)
    return accounts


@dataclass
class Targets:
    vial_id: int
    barcode: str
    box_id: int
    lot_id: int
    donor_id: int
    request_id: int | None
    hla: str
    line_name: str
    cell_type: str
    grade: str
    hla_typing: dict | None
    hla_typing5: dict | None
    # pools for the load run
    vials: list[tuple[int, str, int, int]] = field(default_factory=list)  # (vial, barcode, box, lot)
    donors: list[int] = field(default_factory=list)
    requests: list[int] = field(default_factory=list)


def _sample_stored_vials(n: int, rng: random.Random) -> list[tuple[int, str, int, int]]:
    """n stored vials spread over the table (random primary keys, each an index probe, no ORDER BY random())."""
    from django.db.models import Max, Min

    from lots.models import Vial

    stored = Vial.objects.filter(box__isnull=False)
    bounds = stored.aggregate(lo=Min("pk"), hi=Max("pk"))
    if bounds["lo"] is None:
        return []
    seen, picked = set(), []
    for _ in range(n * 3):
        row = (stored.filter(pk__gte=rng.randint(bounds["lo"], bounds["hi"])).order_by("pk")
               .values_list("pk", "barcode", "box_id", "lot_id").first())
        if row and row[0] not in seen:
            seen.add(row[0])
            picked.append(row)
        if len(picked) >= n:
            break
    return picked


def pick_targets(seed: int = 13, pool: int = 200) -> Targets:
    from distribution import queries as dq
    from distribution.models import DistributionRequest
    from donors.models import HLATyping
    from lots.models import Lot

    rng = random.Random(seed)
    vials = _sample_stored_vials(pool, rng)
    if not vials:
        raise BenchError("No stored vial in this database (load the demo bank or a scale profile first).")
    # The timed vial: a stored one of a released lot when there is one, else the first sampled.
    released = set(Lot.objects.filter(pk__in={v[3] for v in vials}, status="released").values_list("pk", flat=True))
    vial_id, barcode, box_id, lot_id = next((v for v in vials if v[3] in released), vials[0])
    donor_id = Lot.objects.filter(pk=lot_id).values_list("cell_line__donor_id", flat=True).get()
    donors = sorted(set(Lot.objects.filter(pk__in={v[3] for v in vials})
                        .values_list("cell_line__donor_id", flat=True)))
    with_allocations = DistributionRequest.objects.filter(allocations__isnull=False).distinct()
    request_id = with_allocations.order_by("-pk").values_list("pk", flat=True).first()
    request_pool = list(with_allocations.order_by("-pk").values_list("pk", flat=True)[:50])

    # The catalog line and HLA allele: from the catalog's own first page (what a researcher sees), the allele of
    # a shareable typing when there is one, else of any typing.
    entries = dq.catalog_entries(list(dq.catalog_lines()[:50]))
    if not entries:
        raise BenchError("The catalog is empty (no released line with available vials).")
    line = entries[0]
    hla = ""
    for entry in entries:
        alleles = (entry.hla or {}).get("alleles") or {}
        for values in alleles.values():
            hla = next((a for a in values if a), "")
            if hla:
                break
        if hla:
            break
    typing = HLATyping.objects.order_by("pk").first()
    if not hla and typing is not None:
        hla = typing.a_1
    hla_typing = hla_typing5 = None
    if typing is not None:
        hla_typing = {"A": [typing.a_1, typing.a_2], "B": [typing.b_1, typing.b_2],
                      "DRB1": [typing.drb1_1, typing.drb1_2]}
        # A patient typed at five loci: the search ranks on C and DQB1 too (more tiers to fill the page).
        hla_typing5 = {**hla_typing, "C": [typing.c_1, typing.c_2], "DQB1": [typing.dqb1_1, typing.dqb1_2]}
    return Targets(vial_id=vial_id, barcode=barcode, box_id=box_id, lot_id=lot_id, donor_id=donor_id,
                   request_id=request_id, hla=hla, line_name=line.name, cell_type=line.cell_type,
                   grade=line.grade, hla_typing=hla_typing, hla_typing5=hla_typing5, vials=vials, donors=donors,
                   requests=request_pool)


def nav_pages() -> list[tuple[str, str, str]]:
    """Every entry of the navigation of the bench accounts: (label, url, role that opens it), first role wins."""
    from django.contrib.auth import get_user_model

    from bank.registry import nav_for

    User = get_user_model()
    pages, seen = [], set()
    for role, username in ROLES.items():
        for item in nav_for(User.objects.get(username=username)):
            if item["url"] not in seen:
                seen.add(item["url"])
                pages.append((str(item["label"]), item["url"], role))
    return pages


def url_exists(path: str) -> bool:
    from django.urls import Resolver404, resolve

    try:
        resolve(path)
    except Resolver404:
        return False
    return True


def row_counts() -> dict[str, int]:
    from cordblood.models import CordBloodUnit
    from distribution.models import DistributionRequest
    from donors.models import Donor
    from lots.models import CellLine, Lot, Vial
    from storage.models import Box

    return {"vials": Vial.objects.count(), "cord blood units": CordBloodUnit.objects.count(),
            "lots": Lot.objects.count(), "cell lines": CellLine.objects.count(), "donors": Donor.objects.count(),
            "boxes": Box.objects.count(), "requests": DistributionRequest.objects.count()}


# --- endpoints ----------------------------------------------------------------------------------------------


@dataclass
class Endpoint:
    name: str
    cls: str
    path: str
    role: str
    kind: str = "token"  # token (API) or session (page)
    method: str = "GET"
    body: dict | None = None
    expect: int = 200  # the scan page answers with a redirect to what it found


def endpoints_for(t: Targets, pages: list[tuple[str, str, str]]) -> list[Endpoint]:
    api = "/api/v1"
    e = [
        Endpoint("floor: GET screening-markers", "floor", f"{api}/screening-markers/", "qa"),
        Endpoint("scan: vials?barcode=", "scan", f"{api}/vials/?{urlencode({'barcode': t.barcode})}", "qa"),
        Endpoint("box map", "box map", f"{api}/storage/boxes/{t.box_id}/map/", "qa"),
        Endpoint("lot detail", "lot", f"{api}/lots/{t.lot_id}/", "qa"),
        Endpoint("lot vials", "lot", f"{api}/lots/{t.lot_id}/vials/", "qa"),
        Endpoint("catalog", "catalog", f"{api}/catalog/", "researcher"),
        Endpoint("catalog ?q=", "catalog", f"{api}/catalog/?{urlencode({'q': t.line_name})}", "researcher"),
        Endpoint("catalog ?cell_type=", "catalog", f"{api}/catalog/?{urlencode({'cell_type': t.cell_type})}",
                 "researcher"),
        Endpoint("catalog ?grade=", "catalog", f"{api}/catalog/?{urlencode({'grade': t.grade})}", "researcher"),
        Endpoint(f"catalog ?hla={t.hla}", "catalog", f"{api}/catalog/?{urlencode({'hla': t.hla})}", "researcher"),
        Endpoint("vial detail", "vial", f"{api}/vials/{t.vial_id}/", "qa"),
        Endpoint("trace vial", "trace", f"{api}/trace/vials/{quote(t.barcode, safe='')}/", "qa"),
        Endpoint("trace donor", "trace", f"{api}/trace/donors/{t.donor_id}/", "qa"),
        Endpoint("trace lot", "trace", f"{api}/trace/lots/{t.lot_id}/", "qa"),
        Endpoint("request list", "request", f"{api}/requests/", "qa"),
        Endpoint("audit (lot)", "audit", f"{api}/audit/?object_type=lot&object_id={t.lot_id}", "qa"),
    ]
    if t.request_id:
        e.append(Endpoint("request detail", "request", f"{api}/requests/{t.request_id}/", "qa"))
    if url_exists(f"{api}/hla/match/") and t.hla_typing:  # issue "haplobank": measured once it has landed
        e.append(Endpoint("HLA match", "hla match", f"{api}/hla/match/", "qa", method="POST", body=t.hla_typing))
        e.append(Endpoint("HLA match (5 loci)", "hla match", f"{api}/hla/match/", "qa", method="POST",
                          body=t.hla_typing5))
        # A patient typed at one field (allele groups) is looked up on the group columns' indexes.
        from donors.hla_index import group_of

        groups = {locus: [group_of(allele) for allele in pair] for locus, pair in t.hla_typing5.items()}
        e.append(Endpoint("HLA match (1-field, 5 loci)", "hla match", f"{api}/hla/match/", "qa", method="POST",
                          body=groups))
    for label, url, role in pages:
        e.append(Endpoint(f"page: {label} {url}", "page", url, role, kind="session"))
    objects = [("lot", f"/lots/{t.lot_id}/"), ("box", f"/storage/boxes/{t.box_id}/"),
               ("donor", f"/donors/{t.donor_id}/"),
               ("vial trace", f"/distribution/trace/vials/{quote(t.barcode, safe='')}/"),
               ("donor trace", f"/distribution/trace/donors/{t.donor_id}/"),
               ("lot trace", f"/distribution/trace/lots/{t.lot_id}/"),
               ("audit trail (lot)", f"/audit/lot/{t.lot_id}/"),
               ("catalog ?hla=", f"/distribution/catalog/?{urlencode({'hla': t.hla})}")]
    if url_exists("/haplobank/planning/"):  # the haplobank's other tab: the bank's homozygous lines and units too
        objects.append(("haplobank planning", "/haplobank/planning/"))
    if t.request_id:
        objects.append(("request", f"/distribution/requests/{t.request_id}/"))
    for label, url in objects:
        role = "researcher" if url.startswith("/distribution/catalog/") else "qa"
        e.append(Endpoint(f"page: {label} {url.split('?')[0]}", "page", url, role, kind="session"))
    # The header's scan field: a redirect to the vial on its lot's page (that page is timed above).
    e.append(Endpoint("page: scan /scan/?code= (302)", "page", f"/scan/?{urlencode({'code': t.barcode})}", "qa",
                      kind="session", expect=302))
    return e


@dataclass
class Bench:
    base_url: str
    accounts: dict[str, tuple[str, str]]
    clients: dict[tuple[str, str], Client] = field(default_factory=dict)

    def client(self, role: str, kind: str) -> Client:
        key = (role, kind)
        if key not in self.clients:
            username, password = self.accounts[role]
            maker = Client.with_token if kind == "token" else Client.with_login
            self.clients[key] = maker(self.base_url, role, username, password)
        return self.clients[key]

    def call(self, ep: Endpoint, client: Client | None = None) -> tuple[int, float, int]:
        client = client or self.client(ep.role, ep.kind)
        start = time.perf_counter()
        response = client.request(ep.method, ep.path, ep.body)
        body = response.content
        return response.status_code, time.perf_counter() - start, len(body)

    def close(self) -> None:
        for client in self.clients.values():
            client.revoke()
            client.session.close()


def check(bench: Bench, endpoints: list[Endpoint]) -> tuple[list[Endpoint], list[str]]:
    """Fetch every endpoint once: those answering 200 are kept; the others are reported."""
    ok, failures = [], []
    for ep in endpoints:
        try:
            status, _elapsed, size = bench.call(ep)
        except (requests.RequestException, BenchError) as exc:
            failures.append(f"{ep.name} {ep.method} {ep.path}: {exc}")
            continue
        if status == ep.expect:
            ok.append(ep)
        else:
            failures.append(f"{ep.name} {ep.method} {ep.path}: HTTP {status} (expected {ep.expect})")
    return ok, failures


def rounds(bench: Bench, endpoints: list[Endpoint], n: int, seed: int = 13, warmup: int = 1,
           progress=None) -> tuple[dict[str, list[float]], list[str]]:
    """n interleaved rounds (after ``warmup`` uncounted ones): every endpoint once per round, shuffled."""
    rng = random.Random(seed)
    samples: dict[str, list[float]] = {ep.name: [] for ep in endpoints}
    errors = []
    for r in range(warmup + n):
        order = endpoints[:]
        rng.shuffle(order)
        for ep in order:
            try:
                status, elapsed, _size = bench.call(ep)
            except requests.RequestException as exc:
                errors.append(f"round {r}: {ep.name}: {exc}")
                continue
            if status != ep.expect:
                errors.append(f"round {r}: {ep.name}: HTTP {status}")
            elif r >= warmup:
                samples[ep.name].append(elapsed)
        if progress:
            progress(r - warmup + 1, n)
    return samples, errors


@dataclass
class Row:
    name: str
    cls: str
    median: float
    p95: float
    ratio: float
    target: float | None

    @property
    def verdict(self) -> str:
        if self.target is None or self.cls == "floor":
            return ""
        return "PASS" if self.ratio <= self.target else "MISS"


def table(endpoints: list[Endpoint], samples: dict[str, list[float]]) -> list[Row]:
    floor = statistics.median(samples[endpoints[0].name])
    rows = []
    for ep in endpoints:
        s = samples[ep.name]
        if not s:
            continue
        med = statistics.median(s)
        rows.append(Row(ep.name, ep.cls, med, p95(s), med / floor, TARGETS.get(ep.cls)))
    return rows


# --- load run ----------------------------------------------------------------------------------------------


def load_mix(t: Targets, timed: list[Endpoint], has_match: bool):
    """(weight, persona, class, function(rng) -> (method, path, body)) of the load run's mix. Pages: those of
    the timed endpoints (they answered in the check) that QA or the researcher opens."""
    api = "/api/v1"

    def vial(rng):
        return rng.choice(t.vials)

    def catalog(rng):
        f = rng.choice([{}, {"q": t.line_name}, {"cell_type": t.cell_type}, {"grade": t.grade}, {"hla": t.hla}])
        return "GET", f"{api}/catalog/" + (f"?{urlencode(f)}" if f else ""), None

    pages = [ep for ep in timed if ep.kind == "session"]
    qa_pages = [ep.path for ep in pages if ep.role == "qa"] or ["/"]
    researcher_pages = [ep.path for ep in pages if ep.role == "researcher"] or ["/"]
    mix = [
        (25, "qa", "scan", lambda rng: ("GET", f"{api}/vials/?{urlencode({'barcode': vial(rng)[1]})}", None)),
        (12, "qa", "box map", lambda rng: ("GET", f"{api}/storage/boxes/{vial(rng)[2]}/map/", None)),
        (8, "qa", "lot", lambda rng: ("GET", f"{api}/lots/{vial(rng)[3]}/", None)),
        (4, "qa", "lot", lambda rng: ("GET", f"{api}/lots/{vial(rng)[3]}/vials/", None)),
        (4, "qa", "trace", lambda rng: ("GET", f"{api}/trace/vials/{quote(vial(rng)[1], safe='')}/", None)),
        (2, "qa", "trace", lambda rng: ("GET", f"{api}/trace/lots/{vial(rng)[3]}/", None)),
        (2, "qa", "trace", lambda rng: ("GET", f"{api}/trace/donors/{rng.choice(t.donors)}/", None)),
        (2, "qa", "audit", lambda rng: ("GET", f"{api}/audit/?object_type=lot&object_id={vial(rng)[3]}", None)),
        (2, "qa", "request", lambda rng: ("GET", f"{api}/requests/", None)),
        (10, "qa", "page", lambda rng: ("GET", rng.choice(qa_pages + [f"/lots/{vial(rng)[3]}/",
                                                                       f"/storage/boxes/{vial(rng)[2]}/"]), None)),
        (15, "researcher", "catalog", catalog),
        (5, "researcher", "page", lambda rng: ("GET", rng.choice(researcher_pages), None)),
    ]
    if t.requests:
        mix.append((2, "qa", "request", lambda rng: ("GET", f"{api}/requests/{rng.choice(t.requests)}/", None)))
    if has_match and t.hla_typing:
        mix.append((3, "qa", "hla match", lambda rng: ("POST", f"{api}/hla/match/", t.hla_typing)))
    return mix


@dataclass
class LoadResult:
    users: int
    duration: float
    count: int
    errors: int
    error_samples: list[str]
    latencies: list[float]
    by_class: dict[str, list[float]]

    @property
    def rps(self) -> float:
        return self.count / self.duration if self.duration else 0.0


def load_run(bench: Bench, t: Targets, timed: list[Endpoint], users: int, duration: float, has_match: bool,
             page_logins: int, seed: int = 13) -> LoadResult:
    """``users`` threads for ``duration`` seconds. Every fourth user is a researcher (catalog, its pages),
    the others QA staff (scans, boxes, lots, traces, pages). Each thread has its own connection; the first
    ``page_logins`` users log in on their own, the rest share those sessions round-robin (the login form is
    throttled per client address)."""
    mix = load_mix(t, timed, has_match)
    personas = ["researcher" if i % 4 == 3 else "qa" for i in range(users)]
    logins = {p: max(1, round(page_logins * personas.count(p) / users)) for p in set(personas)}
    sessions: dict[str, list[Client]] = {p: [] for p in logins}
    clients = []
    for persona in personas:
        token = bench.client(persona, "token").clone()
        pool = sessions[persona]
        if len(pool) < logins[persona]:
            username, password = bench.accounts[persona]
            pool.append(Client.with_login(bench.base_url, persona, username, password))
            page = pool[-1]
        else:
            page = pool[sum(1 for c in clients if c[0] == persona) % len(pool)].clone()
        clients.append((persona, token, page))

    lock = threading.Lock()
    latencies: list[float] = []
    by_class: dict[str, list[float]] = {}
    errors: list[str] = []
    stop = time.perf_counter() + duration
    barrier = threading.Barrier(users + 1)

    def worker(index: int, persona: str, token: Client, page: Client) -> None:
        rng = random.Random(seed * 1000 + index)
        own = [m for m in mix if m[1] == persona]
        weights = [m[0] for m in own]
        local, local_cls, local_err = [], [], []
        barrier.wait()
        while time.perf_counter() < stop:
            _w, _p, cls, make = rng.choices(own, weights)[0]
            method, path, body = make(rng)
            client = page if cls == "page" else token
            start = time.perf_counter()
            try:
                response = client.request(method, path, body)
                response.content  # noqa: B018 - read the whole body
                elapsed = time.perf_counter() - start
                if response.status_code >= 400:
                    local_err.append(f"{method} {path}: HTTP {response.status_code}")
            except requests.RequestException as exc:
                elapsed = time.perf_counter() - start
                local_err.append(f"{method} {path}: {type(exc).__name__}: {exc}")
            local.append(elapsed)
            local_cls.append((cls, elapsed))
        with lock:
            latencies.extend(local)
            errors.extend(local_err)
            for cls, elapsed in local_cls:
                by_class.setdefault(cls, []).append(elapsed)

    threads = [threading.Thread(target=worker, args=(i, *c), daemon=True) for i, c in enumerate(clients)]
    for th in threads:
        th.start()
    barrier.wait()
    began = time.perf_counter()
    for th in threads:
        th.join()
    elapsed = time.perf_counter() - began
    for _persona, token, page in clients:
        token.session.close()
        page.session.close()
    return LoadResult(users, elapsed, len(latencies), len(errors), errors[:10], latencies, by_class)


# --- gunicorn ------------------------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def server_env(debug: bool) -> dict[str, str]:
    """The environment of a production-like server (DEBUG=false) on the current DATABASE_URL and REDIS_URL.
    Missing secrets are filled for the bench only: a random SECRET_KEY, the demo's key files under var/."""
    env = dict(os.environ)
    env.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)
    if debug:
        env["DEBUG"] = "true"
        return env
    env["DEBUG"] = "false"
    env.setdefault("SECRET_KEY", secrets.token_urlsafe(60))
    env["ALLOWED_HOSTS"] = "127.0.0.1,localhost"
    env["SECURE_SSL_REDIRECT"] = "false"  # plain HTTP on the loopback, no TLS proxy in front
    var = ROOT / "var"
    if not env.get("DONOR_IDENTITY_KEY") and not env.get("DONOR_IDENTITY_KEY_FILE"):
        if (var / "donor-identity.key").exists():
            env["DONOR_IDENTITY_KEY_FILE"] = str(var / "donor-identity.key")
        else:
            import base64

            env["DONOR_IDENTITY_KEY"] = base64.urlsafe_b64encode(secrets.token_bytes(32)).decode()
    if not env.get("AUDIT_CHAIN_KEY") and not env.get("AUDIT_CHAIN_KEY_FILE"):
        if (var / "audit-chain.key").exists():
            env["AUDIT_CHAIN_KEY_FILE"] = str(var / "audit-chain.key")
        else:
            env["AUDIT_CHAIN_KEY"] = secrets.token_hex(32)
    # The load run logs every user in from this one address: lift the per-address login and token throttles
    # on the bench's own server (a server given with --base-url keeps its own).
    env.setdefault("LOGIN_THROTTLE_RATE", "1000/min")
    env.setdefault("API_THROTTLE_TOKEN_RATE", "1000/min")
    return env


class Server:
    def __init__(self, workers: int, worker_class: str, threads: int, debug: bool):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.env = server_env(debug)
        self.args = [sys.executable, "-m", "gunicorn", "bank.wsgi:application", "--bind", f"127.0.0.1:{self.port}",
                     "--workers", str(workers), "--worker-class", worker_class, "--threads", str(threads),
                     "--keep-alive", "75", "--timeout", "120"]
        self.log_path = ROOT / "var" / "bench-http-gunicorn.log"
        self.proc: subprocess.Popen | None = None

    def start(self) -> None:
        if self.env["DEBUG"] == "false" and not (ROOT / "staticfiles" / "staticfiles.json").exists():
            print("collectstatic (production pages need the static manifest) ...", flush=True)
            subprocess.run([sys.executable, "manage.py", "collectstatic", "--noinput", "-v0"], cwd=ROOT,
                           env=self.env, check=True)
        self.log_path.parent.mkdir(exist_ok=True)
        log = open(self.log_path, "w")  # noqa: SIM115 - kept open for the server's lifetime
        self.proc = subprocess.Popen(self.args, cwd=ROOT, env=self.env, stdout=log, stderr=subprocess.STDOUT,
                                     start_new_session=True)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise BenchError(f"gunicorn exited ({self.proc.returncode}); see {self.log_path}")
            try:
                if requests.get(self.url + "/healthz", timeout=2).status_code == 200:
                    return
            except requests.RequestException:
                pass
            time.sleep(0.3)
        self.stop()
        raise BenchError(f"gunicorn did not answer /healthz within 60 s; see {self.log_path}")

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)  # the arbiter stops its workers
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


# --- report ------------------------------------------------------------------------------------------------------


def machine_facts() -> dict[str, str]:
    from django.db import connection

    cpu = platform.processor() or ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem = ""
    try:
        kb = int(re.search(r"MemTotal:\s+(\d+)", Path("/proc/meminfo").read_text()).group(1))
        mem = f"{kb / 1024 / 1024:.1f} GiB"
    except (OSError, AttributeError):
        pass
    with connection.cursor() as cursor:
        cursor.execute("SHOW server_version")
        pg = cursor.fetchone()[0]
    return {"cores": str(os.cpu_count()), "cpu": cpu, "memory": mem, "python": platform.python_version(),
            "postgresql": pg, "os": platform.platform(),
            "load average at start": " / ".join(f"{x:.1f}" for x in os.getloadavg())}


def render(ctx: dict) -> str:
    rows: list[Row] = ctx["rows"]
    floor = rows[0]
    lines = [
        f"<!-- bench/http.py:{ctx['profile']} begin -->",
        f"### `{ctx['profile']}` — {ctx['date']}",
        "",
        "```sh",
        ctx["command"],
        "```",
        "",
        f"- Database `{ctx['database']}`: " + ", ".join(f"{v:,} {k}" for k, v in ctx["counts"].items()) + ".",
        "- Machine: " + ", ".join(f"{k} {v}" for k, v in ctx["machine"].items() if v) + ".",
        f"- Server: {ctx['server']}. Client on the same machine: one keep-alive connection per account"
        + (f"; {ctx['keepalive']}." if ctx.get("keepalive") else "."),
        f"- {ctx['rounds']} interleaved rounds after 1 warm-up round; floor `GET /api/v1/screening-markers/` "
        f"median {fmt_ms(floor.median)} ms.",
        "",
        "| endpoint | class | median ms | p95 ms | × floor | target | |",
        "|---|---|---:|---:|---:|---:|---|",
    ]
    for r in rows:
        target = "—" if r.target is None or r.cls == "floor" else f"≤ {r.target:g}×"
        lines.append(f"| {r.name.replace('|', '/')} | {r.cls} | {fmt_ms(r.median)} | {fmt_ms(r.p95)} | "
                     f"{r.ratio:.2f} | {target} | {r.verdict} |")
    misses = [r for r in rows if r.verdict == "MISS"]
    lines += ["", "Misses: " + (", ".join(f"{r.name} ({r.ratio:.2f}× > {r.target:g}×)" for r in misses)
                                 if misses else "none.")]
    if ctx["failures"]:
        lines += ["", "Failures (not timed):", *[f"- {f}" for f in ctx["failures"]]]
    load: LoadResult | None = ctx.get("load")
    if load:
        lines += [
            "",
            f"Load run: {load.users} concurrent users for {load.duration:.0f} s: **{load.rps:.1f} requests/s**, "
            f"{load.count:,} requests, **{load.errors} errors**, median {fmt_ms(statistics.median(load.latencies))}"
            f" ms, p95 {fmt_ms(p95(load.latencies))} ms.",
            "",
            "| class | requests | median ms | p95 ms |",
            "|---|---:|---:|---:|",
        ]
        for cls, s in sorted(load.by_class.items(), key=lambda kv: -len(kv[1])):
            lines.append(f"| {cls} | {len(s):,} | {fmt_ms(statistics.median(s))} | {fmt_ms(p95(s))} |")
        if load.error_samples:
            lines += ["", "First errors:", *[f"- {e}" for e in load.error_samples]]
    lines.append(f"<!-- bench/http.py:{ctx['profile']} end -->")
    return "\n".join(lines) + "\n"


DOC_HEAD = """# Performance

Figures of the benchmarks under `bench/`. Each section below is written by the command it shows and replaced
when that command is run again for the same database.

## HTTP through gunicorn (`bench/http.py`, issue 13)

Medians as ratios to the floor, an authenticated DRF `GET /api/v1/screening-markers/` measured in the same
interleaved rounds. Targets: scan ≤ 1.5×, box map ≤ 2×, lot detail (and its vials) ≤ 2×, catalog with any
filter ≤ 3×, each trace ≤ 4×, every page ≤ 6×; 0 errors with 32 concurrent users. Rows with "—" have no target
in the issue and are reported only.

"""


def write_doc(path: Path, section: str, profile: str) -> None:
    text = path.read_text() if path.exists() else DOC_HEAD
    begin, end = f"<!-- bench/http.py:{profile} begin -->", f"<!-- bench/http.py:{profile} end -->"
    if begin in text and end in text:
        head, rest = text.split(begin, 1)
        _old, tail = rest.split(end, 1)
        text = head + section.rstrip("\n") + tail
    else:
        text = text.rstrip("\n") + "\n\n" + section
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


def print_rows(rows: list[Row]) -> None:
    width = max(len(r.name) for r in rows)
    print(f"{'endpoint':<{width}}  {'class':<9} {'median':>8} {'p95':>8} {'x floor':>8}  target")
    for r in rows:
        target = "" if r.target is None or r.cls == "floor" else f"<= {r.target:g}x"
        print(f"{r.name:<{width}}  {r.cls:<9} {fmt_ms(r.median):>8} {fmt_ms(r.p95):>8} {r.ratio:>8.2f}  "
              f"{target:<8} {r.verdict}")


# --- main --------------------------------------------------------------------------------------------------------


def prepare(base_url: str, seed: int = 13) -> tuple[Bench, Targets, list, list[Endpoint], bool]:
    """Accounts, targets, pages and endpoints (the part tests/bench/test_http_bench.py runs against a live
    server)."""
    accounts = ensure_accounts()
    targets = pick_targets(seed)
    pages = nav_pages()
    endpoints = endpoints_for(targets, pages)
    has_match = any(ep.cls == "hla match" for ep in endpoints)
    return Bench(base_url, accounts), targets, pages, endpoints, has_match


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    where = parser.add_mutually_exclusive_group(required=True)
    where.add_argument("--base-url", help="a running server on the database of DATABASE_URL")
    where.add_argument("--start", action="store_true", help="start gunicorn on a free port, stop it after")
    parser.add_argument("--workers", type=int, default=3, help="gunicorn workers with --start (default 3, as "
                        "the Dockerfile)")
    parser.add_argument("--worker-class", default="gthread", help="gunicorn worker class with --start (default "
                        "gthread, which keeps connections alive; the Dockerfile's sync closes each one)")
    parser.add_argument("--threads", type=int, default=1, help="threads per gthread worker (default 1)")
    parser.add_argument("--debug", action="store_true", help="run the started server with DEBUG=true")
    parser.add_argument("--rounds", type=int, default=30)
    parser.add_argument("--users", type=int, default=32, help="concurrent users of the load run (0: none)")
    parser.add_argument("--duration", type=float, default=30, help="seconds of the load run")
    parser.add_argument("--page-logins", type=int, default=None, help="separate page logins in the load run "
                        "(default: one per user with --start, 4 with --base-url: the login form is throttled)")
    parser.add_argument("--seed", type=int, default=13)
    parser.add_argument("--profile", help="name of the section in --out (default: the database name)")
    parser.add_argument("--out", type=Path, help="markdown file whose section for this profile is replaced")
    args = parser.parse_args(argv)

    setup_django()
    from django.conf import settings
    from django.db import connection

    database = settings.DATABASES["default"]["NAME"]
    if settings.DATABASES["default"]["ENGINE"] != "django.db.backends.postgresql":
        print(f"warning: the database is {settings.DATABASES['default']['ENGINE']} ({database})", file=sys.stderr)
    profile = args.profile or Path(str(database)).name
    command = "DATABASE_URL=postgres://…/" + Path(str(database)).name + " " + " ".join(
        shlex.quote(a) for a in ["python", "bench/http.py", *(argv if argv is not None else sys.argv[1:])])

    server = None
    if args.start:
        server = Server(args.workers, args.worker_class, args.threads, args.debug)
        print(f"starting gunicorn on {server.url} ({args.workers} {args.worker_class} workers) ...", flush=True)
        server.start()
        base_url = server.url
        server_desc = (f"gunicorn {args.workers} × {args.worker_class}"
                       + (f" ({args.threads} thread{'s' if args.threads > 1 else ''})"
                          if args.worker_class == "gthread" else "")
                       + f", DEBUG={'true' if args.debug else 'false'}, started by the script")
    else:
        base_url = args.base_url.rstrip("/")
        server_desc = f"already running at {base_url}"
    page_logins = args.page_logins if args.page_logins is not None else (args.users if args.start else 4)

    status = 0
    bench = None
    try:
        bench, targets, pages, endpoints, has_match = prepare(base_url, args.seed)
        counts = row_counts()
        facts = machine_facts()
        connection.close()  # the client holds no connection of the server's database while it measures
        print(f"targets: vial {targets.barcode} (box {targets.box_id}, lot {targets.lot_id}), donor "
              f"{targets.donor_id}, request {targets.request_id}, HLA {targets.hla}, line {targets.line_name}; "
              f"{len(pages)} pages in the navigation; HLA match {'measured' if has_match else 'not yet in the API'}")
        timed, failures = check(bench, endpoints)
        for f in failures:
            print(f"FAIL {f}")
        if failures:
            status = 1
        if not timed or timed[0].cls != "floor":
            raise BenchError("the floor endpoint does not answer 200: nothing to compare with")

        def progress(done, total):
            if done > 0 and (done % 10 == 0 or done == total):
                print(f"  round {done}/{total}", flush=True)

        samples, errors = rounds(bench, timed, args.rounds, args.seed, progress=progress)
        for e in errors:
            print(f"ERROR {e}")
        if errors:
            status = 1
            failures += errors[:20]
        rows = table(timed, samples)
        made = sum(c.responses for c in bench.clients.values())
        closed = sum(c.closed for c in bench.clients.values())
        keepalive = (f"the server closed the connection after {closed:,} of {made:,} responses "
                     f"(check and rounds)")
        print(f"\n{keepalive}")
        print()
        print_rows(rows)
        misses = [r for r in rows if r.verdict == "MISS"]
        print("\nmisses: " + (", ".join(f"{r.name} {r.ratio:.2f}x > {r.target:g}x" for r in misses) or "none"))

        load = None
        if args.users > 0 and args.duration > 0:
            print(f"\nload run: {args.users} users for {args.duration:g} s ...", flush=True)
            load = load_run(bench, targets, timed, args.users, args.duration, has_match, page_logins, args.seed)
            print(f"{load.rps:.1f} requests/s, {load.count} requests, {load.errors} errors, median "
                  f"{fmt_ms(statistics.median(load.latencies))} ms, p95 {fmt_ms(p95(load.latencies))} ms")
            for e in load.error_samples:
                print(f"  ERROR {e}")
            if load.errors:
                status = 1

        if args.out:
            ctx = {"profile": profile, "date": datetime.datetime.now().astimezone().strftime("%Y-%m-%d %H:%M %Z"),
                   "command": command, "database": Path(str(database)).name, "counts": counts, "machine": facts,
                   "server": server_desc, "keepalive": keepalive, "rounds": args.rounds, "rows": rows,
                   "failures": failures, "load": load}
            ctx["machine"]["load average at end"] = " / ".join(f"{x:.1f}" for x in os.getloadavg())
            write_doc(args.out, render(ctx), profile)
            print(f"\nwrote the {profile} section of {args.out}")
    except BenchError as exc:
        print(f"bench/http.py: {exc}", file=sys.stderr)
        status = 1
    finally:
        if bench is not None:
            bench.close()
        if server is not None:
            server.stop()
    return status


if __name__ == "__main__":
    sys.exit(main())
