"""Malformed input never yields a 500 and never leaves half-saved data (API.md: "Bad input never yields 500").

One demo bank is loaded per module (inside a transaction rolled back at the end); every request below runs
in its own savepoint, rolled back afterwards, so each nasty payload meets the same clean bank. For every
write endpoint a *valid* base payload is mutated one leaf at a time (wrong JSON types, huge and negative
numbers, NaN, far-away and impossible dates, lone surrogates, NUL bytes, over-long strings ...) so that the
bad value reaches as deep as the endpoint lets it. A 400 must leave no new audit-history row behind.
The same sweep sends junk in every query parameter and path id of the OpenAPI schema (GET and OPTIONS),
submits every form of the pages with nasty values, and imports CSV files with nasty cells.
"""

from __future__ import annotations

import copy
import datetime
import io
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote, urlencode

import pytest
from django.apps import apps
from django.core.management import call_command
from django.db import connection, transaction
from rest_framework.test import APIClient

from tests import throttles

# The marker also makes pytest-django create the test database before the module's demo fixture runs.
pytestmark = pytest.mark.django_db

BIG = 2**63  # one past PostgreSQL's bigint
LONG = "A" * 5000  # longer than any varchar of the schema
NASTY: list[Any] = [
    LONG, "x\x00y", "\ud800", BIG, -BIG - 1, 2**31, -1, 1e308, "NaN", "Infinity", [], {"a": 1}, None, True, "",
    "²", "12345678901234567890.123456789", "2026-02-30", "9999-12-31", "0001-01-01", "9999-12-31T23:59:59-12:00",
]


@dataclass
class Endpoint:
    name: str
    method: str
    path: Callable[[dict], str]
    role: str
    body: Callable[[dict], dict]
    # The base payload is accepted (2xx) on the demo bank, so mutations reach the service and database.
    base_ok: bool = True
    base_status: set[int] = field(default_factory=set)


def _day(d: datetime.date, days: int = 0) -> str:
    return (d + datetime.timedelta(days=days)).isoformat()


def _moment(d: datetime.date, days: int = 0, hour: int = 10) -> str:
    return f"{_day(d, days)}T{hour:02d}:00:00+08:00"


ENDPOINTS = [
    Endpoint("donor-create", "post", lambda c: "/api/v1/donors/", "coordinator", lambda c: {
        "sex": "F", "birth_year": 1990, "population": "Han", "donor_type": "healthy", "diagnosis": "",
        "identity": {"full_name": "Fuzz Donor", "national_id": "FUZZ-0001", "phone": "+86 10 1234"}}),
    Endpoint("donor-update", "patch", lambda c: f"/api/v1/donors/{c['donor']}/", "coordinator", lambda c: {
        "population": "Han", "birth_year": 1991, "diagnosis": "d", "reason": "typo",
        "identity": {"full_name": "Y", "phone": "+86 10 5555"}}),
    Endpoint("consent-create", "post", lambda c: f"/api/v1/donors/{c['donor']}/consents/", "coordinator",
             lambda c: {"form_version": "v9", "signed_on": _day(c["today"], -1), "scopes": ["research"]}),
    Endpoint("consent-withdraw", "post", lambda c: f"/api/v1/consents/{c['consent']}/withdraw/", "coordinator",
             lambda c: {"reason": "the donor called"}),
    Endpoint("screening-create", "post", lambda c: f"/api/v1/donors/{c['donor']}/screenings/", "admin",
             lambda c: {"sample_drawn_on": _day(c["today"], -1), "laboratory": "L", "maternal_sample": False,
                        "results": [{"marker": "hiv_ab", "result": "negative"}]}),
    Endpoint("hla", "put", lambda c: f"/api/v1/donors/{c['donor']}/hla/", "admin", lambda c: {
        "A": ["A*24:02", "A*24"], "B": ["B*07", "B*08"], "C": ["C*01", "C*02"], "DRB1": ["DRB1*01", "DRB1*03"],
        "DQB1": ["DQB1*02", "DQB1*03"], "method": "ngs", "typed_on": _day(c["today"], -1), "laboratory": "L",
        "reason": "r"}),
    Endpoint("screening-correct", "post", lambda c: f"/api/v1/screening-results/{c['screening_result']}/correct/",
             "admin", lambda c: {"result": "indeterminate", "reason": "lab report 7"}),
    Endpoint("collection-create", "post", lambda c: "/api/v1/collections/", "admin", lambda c: {
        "donor": c["donor"], "tissue": "skin", "collected_at": _moment(c["today"], -1),
        "received_at": _moment(c["today"], -1, 12), "transport_temperature_c": "4.0", "notes": "n"}),
    Endpoint("ethics-create", "post", lambda c: "/api/v1/ethics-approvals/", "admin", lambda c: {
        "committee": "IEC", "approval_number": "FUZZ-1", "scope": "s", "valid_from": _day(c["today"], -10),
        "valid_to": _day(c["today"], 300)}),
    Endpoint("ethics-update", "patch", lambda c: f"/api/v1/ethics-approvals/{c['ethics']}/", "admin",
             lambda c: {"committee": "IEC 2", "valid_to": _day(c["today"], 400), "reason": "extended"}),
    Endpoint("cell-line-create", "post", lambda c: "/api/v1/cell-lines/", "admin", lambda c: {
        "collection": c["collection"], "cell_type": "iPSC", "grade": "research", "reprogramming_method": "sendai",
        "description": "d", "established_on": _day(c["today"], -1), "reason": "r"}),
    Endpoint("culture-create", "post", lambda c: "/api/v1/cultures/", "admin", lambda c: {
        "cell_line": c["line"], "started_on": _day(c["today"], -1), "notes": "n", "reason": "r"}),
    Endpoint("passage-create", "post", lambda c: f"/api/v1/cultures/{c['culture']}/passages/", "admin", lambda c: {
        "passaged_on": _day(c["today"]), "split_ratio": "1:3", "seeded_cells": 1000, "harvested_cells": 2000,
        "viability_pct": "90.5", "medium": "m", "medium_lot": "l", "reagents": [{"name": "r", "lot": "l"}],
        "notes": "", "reason": "r"}),
    Endpoint("lot-create", "post", lambda c: "/api/v1/lots/", "admin", lambda c: {
        "cell_line": c["line"], "tier": "MCB", "passage": 5, "vial_count": 2, "cells_per_vial": 1000000,
        "volume_ml": "1.00", "cryoprotectant": "DMSO", "cryoprotectant_lot": "x", "frozen_on": _day(c["today"]),
        "freezing_profile": "p", "notes": "", "reason": "r"}),
    Endpoint("qc-result-value", "post", lambda c: f"/api/v1/lots/{c['quarantine_lot']}/qc-results/", "technician",
             lambda c: {"test": "viability", "value": "90.0", "tested_on": _day(c["today"]), "method": "m",
                        "instrument": "i", "notes": "n"}),
    Endpoint("qc-result-outcome", "post", lambda c: f"/api/v1/lots/{c['quarantine_lot']}/qc-results/", "technician",
             lambda c: {"test": "sterility", "outcome": "negative", "tested_on": _day(c["today"]),
                        "vial": c["quarantine_vial"], "method": "m"}),
    Endpoint("lot-release", "post", lambda c: f"/api/v1/lots/{c['quarantine_lot']}/release/", "qa",
             lambda c: {"password": "demo-qa", "meaning": "release"}, base_ok=False, base_status={409}),
    Endpoint("lot-reject", "post", lambda c: f"/api/v1/lots/{c['quarantine_lot']}/reject/", "qa",
             lambda c: {"password": "demo-qa", "reason": "r", "meaning": "rejection"}),
    Endpoint("lot-lift-hold", "post", lambda c: f"/api/v1/lots/{c['held_lot']}/lift-hold/", "qa",
             lambda c: {"password": "demo-qa", "cited_result": c["held_result"], "reason": "r"},
             base_ok=False, base_status={400, 409}),
    Endpoint("lot-recall", "post", lambda c: f"/api/v1/lots/{c['released_lot']}/recall/", "qa",
             lambda c: {"password": "demo-qa", "reason": "r", "statement": "s"}),
    Endpoint("stability-plan", "put", lambda c: f"/api/v1/lots/{c['released_lot']}/stability-plan/", "qa",
             lambda c: {"interval_days": 180, "min_viability_pct": "70.00"}),
    Endpoint("lot-store", "post", lambda c: f"/api/v1/lots/{c['unplaced_lot']}/store/", "technician",
             lambda c: {"boxes": c["store_boxes"], "reason": "r"}),
    Endpoint("recheck-result", "post", lambda c: f"/api/v1/qc/rechecks/{c['recheck']}/result/", "technician",
             lambda c: {"viability_pct": "80.00", "tested_on": _day(c["today"]), "method": "m", "instrument": "i",
                        "notes": "n"}),
    Endpoint("deviation-create", "post", lambda c: "/api/v1/qc/deviations/", "qa",
             lambda c: {"lot": c["quarantine_lot"], "summary": "s"}),
    Endpoint("deviation-update", "patch", lambda c: f"/api/v1/qc/deviations/{c['deviation']}/", "qa",
             lambda c: {"investigation": "i", "root_cause": "r", "capa": "c"}),
    Endpoint("deviation-close", "post", lambda c: f"/api/v1/qc/deviations/{c['deviation']}/close/", "qa",
             lambda c: {"password": "demo-qa", "meaning": "closure"}, base_ok=False, base_status={409}),
    Endpoint("specification-publish", "post", lambda c: "/api/v1/qc/specifications/", "qa", lambda c: {
        "cell_type": "NSC", "tier": "MCB", "notes": "n", "criteria": [
            {"test": "viability", "min": "70", "max": "100", "unit": "%", "blocking": True},
            {"test": "sterility", "expected": "negative", "only_for_reprogramming": ""}]}),
    Endpoint("request-create", "post", lambda c: "/api/v1/requests/", "researcher", lambda c: {
        "cell_line": c["released_line"], "vials": 1, "intended_use": "research", "project_title": "t",
        "project_summary": "s", "institution": "i", "shipping_address": "a", "mta_accepted": True,
        "institution_type": "public"}),
    Endpoint("request-approve", "post", lambda c: f"/api/v1/requests/{c['submitted_request']}/approve/", "qa",
             lambda c: {"reason": "r"}),
    Endpoint("request-reject", "post", lambda c: f"/api/v1/requests/{c['submitted_request']}/reject/", "qa",
             lambda c: {"reason": "r"}),
    Endpoint("request-pick", "post", lambda c: f"/api/v1/requests/{c['approved_request']}/pick/", "technician",
             lambda c: {"barcode": c["approved_vial"]}),
    Endpoint("request-ship", "post", lambda c: f"/api/v1/requests/{c['approved_request']}/ship/", "technician",
             lambda c: {"courier": "c", "tracking_number": "t", "shipped_on": _day(c["today"]),
                        "shipper_type": "dry_shipper"}),
    Endpoint("request-receive", "post", lambda c: f"/api/v1/requests/{c['shipped_request']}/receive/",
             "shipped_researcher", lambda c: {"condition": "good", "notes": "n"}),
    Endpoint("unit-create", "post", lambda c: "/api/v1/storage/units/", "admin", lambda c: {
        "name": "FUZZ-1", "kind": "ln2_vapor", "site": "s", "room": "r", "min_temperature_c": "-196.0",
        "max_temperature_c": "-150.0", "quarantine": False, "sensor_silent_minutes": 30}),
    Endpoint("unit-update", "patch", lambda c: f"/api/v1/storage/units/{c['unit']}/", "admin", lambda c: {
        "site": "s2", "min_temperature_c": "-196.0", "max_temperature_c": "-140.0", "sensor_silent_minutes": 60,
        "reason": "r"}),
    Endpoint("rack-create", "post", lambda c: f"/api/v1/storage/units/{c['unit']}/racks/", "admin",
             lambda c: {"name": "FUZZ-R", "capacity": 10}),
    Endpoint("box-create", "post", lambda c: f"/api/v1/storage/racks/{c['rack_with_room']}/boxes/", "admin",
             lambda c: {"name": "FUZZ-B", "rows": 9, "cols": 9}),
    Endpoint("reading", "post", lambda c: f"/api/v1/storage/units/{c['unit']}/readings/", "sensor-tank",
             # yesterday 01:00 (bank time): today's 01:00 is still ahead during the bank's first hour of the day
             lambda c: {"temperature_c": -180.5, "recorded_at": _moment(c["today"], -1, 1)}),
    Endpoint("alarm-acknowledge", "post", lambda c: f"/api/v1/storage/alarms/{c['alarm']}/acknowledge/", "admin",
             lambda c: {"reason": "lid closed", "password": "demo-admin", "meaning": "acknowledgement"}),
    Endpoint("box-move", "post", lambda c: f"/api/v1/storage/boxes/{c['empty_box']}/move/", "admin",
             lambda c: {"rack": c["rack_with_room"], "reason": "r"}),
    Endpoint("unit-evacuate", "post", lambda c: f"/api/v1/storage/units/{c['small_unit']}/evacuate/", "admin",
             lambda c: {"unit": c["other_unit"], "reason": "r"}),
    Endpoint("vial-move", "post", lambda c: f"/api/v1/vials/{c['placed_vial']}/move/", "technician",
             lambda c: {"box": c["empty_box"], "row": 1, "col": 1, "reason": "r"}),
    Endpoint("notifications-read", "post", lambda c: "/api/v1/notifications/read/", "technician",
             lambda c: {"ids": [c["notification"]]}),
    Endpoint("token", "post", lambda c: "/api/v1/auth/token/", "anonymous",
             lambda c: {"username": "qa", "password": "demo-qa"}),
    Endpoint("unit-sensors", "put", lambda c: f"/api/v1/storage/units/{c['unit']}/sensors/", "admin",
             lambda c: {"sensors": ["sensor-tank"], "reason": "r"}),
    Endpoint("account-unlock", "post", lambda c: f"/api/v1/accounts/{c['account']}/unlock/", "admin",
             lambda c: {"reason": "identity checked", "client_ip": "127.0.0.1"}),
    # issue 14, haplobank
    Endpoint("hla-population-create", "post", lambda c: "/api/v1/hla/populations/", "qa",
             lambda c: {"name": "Fuzz population", "source": "s", "resolution": "2-field"}),
    Endpoint("hla-simulate", "post", lambda c: "/api/v1/hla/coverage/simulate/", "qa", lambda c: {
        "population": c["hla_population"], "haplotypes": ["A*24:02~B*52:01~DRB1*15:02"], "include_bank": True,
        "definition": "haplotype"}),
    Endpoint("hla-match", "post", lambda c: "/api/v1/hla/match/", "researcher", lambda c: {
        "A": ["A*24:02", "A*02:01"], "B": ["B*52:01", "B*07:02"], "DRB1": ["DRB1*15:02", "DRB1*04:05"],
        "C": ["C*12:02", "C*07:02"], "DQB1": ["DQB1*06:01", "DQB1*03:03"]}),
]


def build_context() -> dict:
    """Ids of demo records in the states the base payloads need (ids differ between test databases)."""
    from django.contrib.auth import get_user_model
    from django.db.models import Count
    from django.utils import timezone

    from bank.models import Notification
    from bank.services import issue_token
    from distribution.models import DistributionRequest, Recall
    from donors.models import Collection, Consent, EthicsApproval, ScreeningResult
    from haplobank.models import Population
    from lots.models import CellLine, Culture, Lot, Vial
    from qc.models import Deviation, Recheck, Specification
    from storage.models import Alarm, Box, Rack, StorageUnit

    users = {u.username: u for u in get_user_model().objects.all()}
    line = CellLine.objects.filter(donor__consent_withdrawn_at__isnull=True, cell_type="iPSC").order_by("pk").first()
    consent = Consent.objects.filter(withdrawn_at__isnull=True, donor=line.donor).first()
    from lots.services import create_lot

    unplaced = create_lot(cell_line=line, tier="MCB", passage=3, vial_count=4, cells_per_vial=10**6, volume_ml=1,
                          cryoprotectant="DMSO", frozen_on=timezone.localdate(), actor=users["technician"])
    quarantine_unit = StorageUnit.objects.filter(quarantine=True, active=True).first()
    approved = DistributionRequest.objects.filter(status="approved").order_by("pk").first()
    shipped = DistributionRequest.objects.filter(status="shipped").order_by("pk").first()
    held = Lot.objects.filter(status="on_hold").order_by("pk").first()
    released = Lot.objects.filter(status="released", vials__status="available").distinct().order_by("pk").first()
    quarantine_lot = Lot.objects.filter(status="quarantine").order_by("pk").first()
    unit = StorageUnit.objects.filter(quarantine=False, active=True).order_by("pk").first()
    rack_with_room = next(r for r in Rack.objects.filter(unit=unit).order_by("pk")
                          if r.capacity is None or r.boxes.count() < r.capacity)
    small_unit = StorageUnit.objects.filter(quarantine=False, active=True).annotate(n=Count("racks__boxes")).order_by(
        "n", "pk").first()
    users["shipped_researcher"] = shipped.researcher
    # The demo's SOPs govern passage and freeze (issue 16): the fuzzing admin is trained on every version in force,
    # as the bank's staff are, so the base payloads pass the gate and the fuzz reaches the inputs.
    from quality.models import Cleanroom, Equipment, Material
    from quality.queries import versions_in_force_today
    from quality.services import record_training

    for version in versions_in_force_today():
        record_training(actor=users["admin"], user=users["admin"], sop=version.sop, version=version.version,
                        trained_on=timezone.localdate())
    users["anonymous"] = None
    return {
        "users": users,
        "today": timezone.localdate(),
        "donor": line.donor_id,
        "consent": consent.pk,
        "screening_result": ScreeningResult.objects.filter(screening__donor=line.donor).order_by("pk").first().pk,
        "collection": Collection.objects.filter(donor=line.donor).order_by("pk").first().pk,
        "ethics": EthicsApproval.objects.order_by("pk").first().pk,
        "line": line.pk,
        "culture": Culture.objects.filter(cell_line=line).order_by("pk").first().pk,
        "quarantine_lot": quarantine_lot.pk,
        "quarantine_vial": quarantine_lot.vials.filter(status="available").order_by("pk").first().barcode,
        "held_lot": held.pk,
        "held_result": held.qc_results.order_by("-pk").first().pk,
        "released_lot": released.pk,
        "released_line": released.cell_line_id,
        "unplaced_lot": unplaced.pk,
        "store_boxes": [b.pk for b in Box.objects.filter(rack__unit=quarantine_unit, occupied=0).order_by("pk")[:3]],
        "recheck": Recheck.objects.filter(status__in=["due", "overdue"]).order_by("pk").first().pk,
        "deviation": Deviation.objects.filter(status="open").order_by("pk").first().pk,
        "submitted_request": DistributionRequest.objects.filter(status="submitted").order_by("-pk").first().pk,
        "approved_request": approved.pk,
        "approved_vial": approved.allocations.order_by("pk").first().vial.barcode,
        "shipped_request": shipped.pk,
        "unit": unit.pk,
        "small_unit": small_unit.pk,
        "other_unit": StorageUnit.objects.filter(quarantine=False, active=True).exclude(pk=small_unit.pk).order_by(
            "pk").first().pk,
        "rack_with_room": rack_with_room.pk,
        "empty_box": Box.objects.filter(rack__unit=unit, occupied=0).exclude(rack=rack_with_room).order_by(
            "pk").first().pk,
        "placed_vial": Vial.objects.filter(box__rack__unit=unit, status="available").order_by("pk").first().pk,
        "alarm": Alarm.objects.filter(status="active").order_by("pk").first().pk,
        "full_box": Box.objects.filter(occupied__gt=0).order_by("pk").first().pk,
        "placed_barcode": Vial.objects.filter(box__isnull=False).order_by("pk").first().barcode,
        "specification": Specification.objects.order_by("pk").first().pk,
        "recall": Recall.objects.order_by("pk").first().pk,
        "notification": Notification.objects.order_by("pk").first().pk,
        "account": "qa",
        "admin_token": issue_token(users["admin"])[0].token_key,
        "hla_population": Population.objects.order_by("pk").first().pk,  # issue 14: the demo's synthetic population
        # issue 16: the demo's quality records
        "equipment": Equipment.objects.order_by("pk").first().pk,
        "material": Material.objects.order_by("pk").first().pk,
        "cleanroom": Cleanroom.objects.order_by("pk").first().pk,
        **issue17_ids(users["admin"]),
        **cordblood_ids(),
        **transplant_ids(),
    }


def issue17_ids(admin) -> dict:
    """Issue 17: the demo's import run and printer profile, the import kinds, and a job of the admin's."""
    from bank.models import Job, PrinterProfile
    from imports.models import ImportRun

    return {"import_run": ImportRun.objects.order_by("pk").first().pk, "import_kind": "inventory",
            "printer_profile": PrinterProfile.objects.order_by("pk").first().pk,
            "job": Job.objects.create(kind="bank.export", user=admin, title="fuzz").pk}


def transplant_ids() -> dict:
    """Issue 12: a centre, a patient, a typing request, a reservation, an order and a follow-up of the demo."""
    from transplant.models import AdverseEvent, FollowUp, Order, Patient, Reservation, TransplantCentre, TypingRequest

    return {f"tx_{name}": model.objects.order_by("pk").values_list("pk", flat=True).first()
            for name, model in (("centre", TransplantCentre), ("patient", Patient), ("typing", TypingRequest),
                                ("reservation", Reservation), ("order", Order), ("follow_up", FollowUp),
                                ("adverse_event", AdverseEvent))}


def cordblood_ids() -> dict:
    """Issue 12: a collection site, an infant donation, a listed unit and a family contract of the demo."""
    from cordblood.models import CollectionSite, CordBloodUnit, FamilyContract, InfantDonation

    return {"cb_site": CollectionSite.objects.order_by("pk").first().pk,
            "cb_donation": InfantDonation.objects.order_by("pk").first().pk,
            "cb_unit": CordBloodUnit.objects.filter(listing_status="available").order_by("pk").first().pk,
            "cb_contract": FamilyContract.objects.order_by("pk").first().pk}


def history_rows() -> int:
    """Rows in every audit-history table: any saved change to a regulated record adds one."""
    tables = [m._meta.db_table for m in apps.get_models() if m.__name__.startswith("Historical")]
    sql = " + ".join(f'(SELECT count(*) FROM "{t}")' for t in tables)  # noqa: S608 (table names from models)
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT {sql}")  # noqa: S608
        return cursor.fetchone()[0]


def call(ctx: dict, role: str, method: str, path: str, *, body: Any = None, raw: bytes | None = None,
         content_type: str = "application/json", **extra) -> tuple[int, str, bool]:
    """One request in a savepoint rolled back afterwards: (status, text, wrote-history-on-4xx)."""
    throttles.reset()  # every nasty payload reaches the endpoint, not the throttle (tested in tests/security/)
    client = APIClient(raise_request_exception=False)
    user = ctx["users"][role]
    if user is not None:
        client.force_authenticate(user)
    data = raw if raw is not None else json.dumps(body).encode("utf-8", "surrogatepass")
    with transaction.atomic():
        before = history_rows()
        if method in ("get", "options"):
            response = getattr(client, method)(path, **extra)
        else:
            response = getattr(client, method)(path, data=data, content_type=content_type, **extra)
        wrote = response.status_code == 400 and history_rows() != before
        transaction.set_rollback(True)
    body = b"".join(response.streaming_content) if response.streaming else response.content  # exports stream
    text = body.decode("utf-8", "replace")
    if response.status_code >= 500 and "<title>" in text:  # Django's debug page: keep the exception line
        text = " ".join(text.split("<title>", 1)[1].split("</title>", 1)[0].split())
    return response.status_code, text[:300], wrote


def leaves(obj: Any, prefix: tuple = ()):
    """Every key path of a JSON body, containers included."""
    items = obj.items() if isinstance(obj, dict) else enumerate(obj) if isinstance(obj, list) else ()
    for key, value in items:
        yield (*prefix, key)
        yield from leaves(value, (*prefix, key))


def replaced(body: dict, path: tuple, value: Any) -> dict:
    new = copy.deepcopy(body)
    target = new
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value
    return new


def fuzz_endpoint(ctx: dict, endpoint: Endpoint) -> list[str]:
    """Problems found for one endpoint (empty when it holds)."""
    problems = []
    path, body = endpoint.path(ctx), endpoint.body(ctx)
    status, text, _ = call(ctx, endpoint.role, endpoint.method, path, body=body)
    expected = {200, 201} if endpoint.base_ok else endpoint.base_status
    if status not in expected:
        problems.append(f"base payload answered {status} (expected {sorted(expected)}): {text}")
    cases: list[tuple[str, dict]] = []
    for raw in [b"", b"null", b"[]", b'"s"', b"{", b"1", b'{"a":' * 60 + b"1" + b"}" * 60,
                b'{"x": "\\ud800"}', b"\xff\xfe", b"[" * 100_000, b'{"a": ' * 100_000]:
        cases.append((f"raw {raw[:20]!r}", {"raw": raw}))
    cases.append(("form-encoded", {"raw": b"a=1&b=%00", "content_type": "application/x-www-form-urlencoded"}))
    for key_path in leaves(body):
        for value in NASTY:
            cases.append((f"{'.'.join(map(str, key_path))}={value!r:.60}", {"body": replaced(body, key_path, value)}))
        if len(key_path) == 1:
            cases.append((f"without {key_path[0]}", {"body": {k: v for k, v in body.items() if k != key_path[0]}}))
    for label, kwargs in cases:
        status, text, wrote = call(ctx, endpoint.role, endpoint.method, path, **kwargs)
        if status >= 500:
            problems.append(f"{label} -> {status}: {text[:200]}")
        if wrote:
            problems.append(f"{label} -> 400 but audit history was written")
    return problems


# --- the donor CSV import: the same nasty values, one cell at a time --------------------------------------

IMPORT_ROW = {"sex": "F", "birth_year": "1990", "donor_type": "healthy", "full_name": "Fuzz Import",
              "national_id": "FUZZ-IMPORT-1", "population": "Han", "diagnosis": "", "phone": "+86 10 1234",
              "sample_drawn_on": "", "maternal_sample": "no", "laboratory": "", "consent_form_version": "v1",
              "consent_signed_on": "", "consent_scopes": "research", "hiv_ab": "", "hbsag": ""}


def _csv(row: dict) -> bytes:
    import csv
    import io

    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(row.keys())
    writer.writerow(row.values())
    return out.getvalue().encode("utf-8", "surrogatepass")


def fuzz_import(ctx: dict) -> list[str]:
    from django.core.files.uploadedfile import SimpleUploadedFile

    problems = []
    base = {**IMPORT_ROW, "consent_signed_on": _day(ctx["today"], -2), "sample_drawn_on": _day(ctx["today"], -1),
            "hiv_ab": "negative"}

    def post(content: bytes) -> tuple[int, str, bool]:
        client = APIClient(raise_request_exception=False)
        client.force_authenticate(ctx["users"]["admin"])
        with transaction.atomic():
            before = history_rows()
            response = client.post("/api/v1/donors/import/", {"file": SimpleUploadedFile("d.csv", content)},
                                   format="multipart")
            wrote = response.status_code == 400 and history_rows() != before
            transaction.set_rollback(True)
        text = response.content.decode("utf-8", "replace")
        if response.status_code >= 500 and "<title>" in text:
            text = " ".join(text.split("<title>", 1)[1].split("</title>", 1)[0].split())
        return response.status_code, text[:300], wrote

    status, text, _ = post(_csv(base))
    if status != 201:
        problems.append(f"base import answered {status}: {text}")
    for name in base:
        for value in [v for v in NASTY if isinstance(v, str)] + ["1" * 30, "-1", "99999", "2026-13-01"]:
            status, text, wrote = post(_csv({**base, name: value}))
            if status >= 500:
                problems.append(f"{name}={value!r:.60} -> {status}: {text}")
            if wrote:
                problems.append(f"{name}={value!r:.60} -> 400 but audit history was written")
    for raw in [b"", b"\xff\xfe\x00", b"sex\n" + b"x\n" * 3, b'"unterminated\n', b"\x00" * 10]:
        status, text, _ = post(raw)
        if status >= 500:
            problems.append(f"raw {raw[:20]!r} -> {status}: {text}")
    return problems


def test_donor_import_survives_nasty_cells(demo):
    problems = fuzz_import(demo)
    assert not problems, "\n".join(problems)


# --- reads: junk in every query parameter and path id of the OpenAPI schema -------------------------------

PARAM_JUNK = ["a\x00b", "²", "-1", str(10**30), "1.5", "2026-02-30", "2026-02-30T00:00", "zzz", "", LONG]
ID_JUNK = ["0", str(BIG), str(10**30)]
# path prefix -> the context key of an existing record of that kind
PATH_IDS = [
    ("/api/v1/cordblood/sites/", "cb_site"), ("/api/v1/cordblood/donations/", "cb_donation"),
    ("/api/v1/cordblood/units/", "cb_unit"), ("/api/v1/cordblood/contracts/", "cb_contract"),
    ("/api/v1/transplant/centres/", "tx_centre"), ("/api/v1/transplant/patients/", "tx_patient"),
    ("/api/v1/transplant/typing-requests/", "tx_typing"), ("/api/v1/transplant/reservations/", "tx_reservation"),
    ("/api/v1/transplant/orders/", "tx_order"), ("/api/v1/transplant/follow-ups/", "tx_follow_up"),
    ("/api/v1/transplant/adverse-events/", "tx_adverse_event"),
    ("/api/v1/accounts/", "account"), ("/api/v1/auth/tokens/", "admin_token"),
    ("/api/v1/catalog/", "released_line"), ("/api/v1/cell-lines/", "line"), ("/api/v1/collections/", "collection"),
    ("/api/v1/consents/", "consent"), ("/api/v1/cultures/", "culture"), ("/api/v1/donors/", "donor"),
    ("/api/v1/ethics-approvals/", "ethics"), ("/api/v1/lots/", "released_lot"), ("/api/v1/qc/deviations/", "deviation"),
    ("/api/v1/qc/specifications/", "specification"), ("/api/v1/recalls/", "recall"),
    ("/api/v1/qc/rechecks/", "recheck"), ("/api/v1/screening-results/", "screening_result"),
    ("/api/v1/requests/", "approved_request"), ("/api/v1/storage/alarms/", "alarm"),
    ("/api/v1/storage/boxes/", "full_box"), ("/api/v1/storage/racks/", "rack_with_room"),
    ("/api/v1/storage/units/", "unit"), ("/api/v1/storage/vials/", "placed_vial"), ("/api/v1/trace/donors/", "donor"),
    ("/api/v1/trace/lots/", "released_lot"), ("/api/v1/trace/vials/", "placed_barcode"),
    ("/api/v1/vials/", "placed_vial"), ("/api/v1/hla/populations/", "hla_population"),
    ("/api/v1/quality/equipment/", "equipment"), ("/api/v1/quality/materials/", "material"),
    ("/api/v1/quality/cleanrooms/", "cleanroom"),
    ("/api/v1/imports/runs/", "import_run"), ("/api/v1/imports/", "import_kind"),
    ("/api/v1/printer-profiles/", "printer_profile"), ("/api/v1/jobs/", "job"),
    ("/api/v1/storage/racks/", "rack_with_room"),
]


def read_operations() -> list[tuple[str, list[str] | None]]:
    """(path template, query parameter names of its GET or None) of every path in the OpenAPI schema."""
    from drf_spectacular.generators import SchemaGenerator

    schema = SchemaGenerator().get_schema(request=None, public=True)
    operations = []
    for path, item in schema["paths"].items():
        if "get" in item:
            names = [p["name"] for p in item["get"].get("parameters", []) if p["in"] == "query"]
            operations.append((path, sorted({*names, "page", "page_size"})))
        else:
            operations.append((path, None))
    return operations


# Readiness answers 503 by design while the worker and beat are not running, as here (bank.health).
DESIGNED_503 = {"/api/v1/health/"}


def fuzz_read(ctx: dict, template: str, params: list[str] | None) -> list[str]:
    problems = []
    key = next((k for prefix, k in PATH_IDS if template.startswith(prefix)), None)
    placeholder = template[template.index("{"):template.index("}") + 1] if "{" in template else None
    real = template.replace(placeholder, str(ctx[key])) if placeholder else template
    for method in ("get", "options") if params is not None else ("options",):
        # OPTIONS: DRF's metadata describes the PUT/POST forms (and looks the object up for PUT)
        status, text, _ = call(ctx, "admin", method, real)
        if status >= 500 and not (status == 503 and real in DESIGNED_503):
            problems.append(f"{method.upper()} {real} -> {status}: {text}")
    if params is None:
        return problems
    for name in params:
        for value in PARAM_JUNK:
            status, text, _ = call(ctx, "admin", "get", real, QUERY_STRING=urlencode({name: value}))
            if status >= 500 and not (status == 503 and real in DESIGNED_503):
                problems.append(f"GET {real}?{name}={value!r:.40} -> {status}: {text}")
    if placeholder:
        for value in [*ID_JUNK, "²", "x" * 300]:
            path = template.replace(placeholder, quote(value))
            status, text, _ = call(ctx, "admin", "get", path)
            if status >= 500:
                problems.append(f"GET {path[:80]} -> {status}: {text}")
    return problems


# --- writes to records that do not exist -----------------------------------------------------------------


def fuzz_write_ids(ctx: dict, endpoint: Endpoint) -> list[str]:
    problems = []
    template = endpoint.path(ctx)
    digits = [part for part in template.split("/") if part.isdigit()]
    for value in ID_JUNK:
        for part in digits:
            path = template.replace(f"/{part}/", f"/{value}/", 1)
            status, text, _ = call(ctx, endpoint.role, endpoint.method, path, body=endpoint.body(ctx))
            if status >= 500:
                problems.append(f"{endpoint.method.upper()} {path} -> {status}: {text}")
    return problems


# --- the HTML pages: every form on a page, posted (or, for search forms, sent) with nasty values ------------

PAGE_JUNK = [LONG, "x\x00y", "²", "9" * 25, "-1", "NaN", "Infinity", "2026-02-30", "9999-12-31", "0001-01-01",
             "0001-01-01T00:00", ""]
PAGES = [  # (path, role)
    ("/donors/", "admin"), ("/donors/new/", "admin"), ("/donors/{donor}/edit/", "admin"),
    ("/donors/{donor}/consents/new/", "admin"), ("/donors/{donor}/screenings/new/", "admin"),
    ("/donors/{donor}/hla/", "admin"), ("/donors/consents/{consent}/withdraw/", "admin"),
    ("/donors/results/{screening_result}/correct/", "admin"), ("/donors/collections/", "admin"),
    ("/donors/collections/new/", "admin"), ("/donors/ethics/", "admin"), ("/donors/ethics/new/", "admin"),
    ("/donors/ethics/{ethics}/edit/", "admin"), ("/donors/panel/", "admin"), ("/donors/panel/windows/", "admin"),
    ("/donors/import/", "admin"), ("/lots/", "admin"), ("/lots/new/", "admin"), ("/lots/lines/", "admin"),
    ("/lots/lines/new/", "admin"), ("/lots/lines/{line}/", "admin"), ("/lots/{quarantine_lot}/", "admin"),
    ("/lots/lines/{line}/cultures/new/", "admin"), ("/lots/cultures/{culture}/", "admin"),
    ("/storage/", "admin"), ("/storage/units/new/", "admin"), ("/storage/units/{unit}/edit/", "admin"),
    ("/storage/units/{unit}/racks/new/", "admin"), ("/storage/units/{small_unit}/evacuate/", "admin"),
    ("/storage/racks/{rack_with_room}/boxes/new/", "admin"), ("/storage/boxes/{empty_box}/move/", "admin"),
    ("/storage/move/", "technician"), ("/storage/store/", "technician"),
    ("/storage/lots/{unplaced_lot}/store/", "technician"), ("/storage/alarms/", "admin"),
    ("/storage/alarms/{alarm}/", "admin"), ("/qc/results/", "technician"),
    ("/qc/lots/{quarantine_lot}/results/", "technician"), ("/qc/lots/{quarantine_lot}/review/", "qa"),
    ("/qc/lots/{held_lot}/review/", "qa"), ("/qc/lots/{released_lot}/review/", "qa"), ("/qc/deviations/", "qa"),
    ("/qc/deviations/{deviation}/", "qa"), ("/qc/rechecks/", "technician"),
    ("/qc/specifications/", "qa"), ("/qc/specifications/{specification}/", "qa"),
    ("/distribution/catalog/", "researcher"), ("/distribution/catalog/{released_line}/request/", "researcher"),
    ("/distribution/requests/", "qa"), ("/distribution/requests/{submitted_request}/", "qa"),
    ("/distribution/requests/{approved_request}/", "technician"), ("/distribution/trace/", "qa"),
    ("/distribution/lots/{released_lot}/recall/", "qa"),
    ("/distribution/requests/{shipped_request}/", "shipped_researcher"), ("/donors/{donor}/", "admin"),
    ("/donors/collections/{collection}/", "admin"), ("/storage/boxes/{full_box}/", "admin"),
    ("/storage/units/{unit}/", "admin"), ("/storage/racks/{rack_with_room}/", "admin"),
    ("/notifications/", "admin"), ("/", "admin"),
    ("/accounts/password/", "qa"), ("/accounts/tokens/", "technician"), ("/accounts/users/", "admin"),
    ("/accounts/users/{account}/", "admin"),
]


def page_forms(html: str) -> list[tuple[str, str, list[tuple[str, str]]]]:
    """(method, action, [(name, value)]) of every form of a page, as a browser would submit it."""
    from html.parser import HTMLParser

    forms: list[tuple[str, str, list[tuple[str, str]]]] = []

    class Parser(HTMLParser):
        select: str | None = None
        textarea: str | None = None

        def handle_starttag(self, tag, attrs):
            a = dict(attrs)
            if tag == "form":
                forms.append(((a.get("method") or "get").lower(), a.get("action") or "", []))
            elif not forms:
                return
            elif tag == "input" and a.get("name") and a.get("type") not in ("submit", "button", "file"):
                if a.get("type") in ("checkbox", "radio") and "checked" not in a:
                    return
                forms[-1][2].append((a["name"], a.get("value") or ""))
            elif tag == "select" and a.get("name"):
                self.select = a["name"]
                forms[-1][2].append((a["name"], ""))
            elif tag == "option" and self.select:
                fields = forms[-1][2]
                if fields[-1][1] == "" or "selected" in a:
                    fields[-1] = (self.select, a.get("value") or "")
            elif tag == "textarea" and a.get("name"):
                self.textarea = a["name"]
                forms[-1][2].append((a["name"], ""))

        def handle_endtag(self, tag):
            if tag == "select":
                self.select = None
            elif tag == "textarea":
                self.textarea = None

    Parser().feed(html)
    return forms


def fuzz_page(ctx: dict, template: str, role: str) -> list[str]:
    from django.test import Client

    problems = []
    path = template.format(**ctx)
    client = Client(raise_request_exception=False)
    client.force_login(ctx["users"][role])
    with transaction.atomic():
        page = client.get(path)
        transaction.set_rollback(True)
    if page.status_code != 200:
        return [f"GET {path} -> {page.status_code}"]
    seen = set()
    for method, action, fields in page_forms(page.content.decode()):
        target = action or path
        names = [n for n, _v in fields if n != "csrfmiddlewaretoken"]
        # One form per shape: a page repeats the same form for every QC test, vial or request.
        if (not target.startswith("/") or method not in ("get", "post") or target.startswith("/i18n/")
                or (method, target, tuple(names)) in seen):
            continue
        seen.add((method, target, tuple(names)))
        for name in names:
            for value in PAGE_JUNK:
                data = [(n, value if n == name else v) for n, v in fields]
                with transaction.atomic():
                    before = history_rows()
                    if method == "get":
                        response = client.get(target, QUERY_STRING=urlencode(data))
                    else:
                        response = client.post(target, urlencode(data),
                                               content_type="application/x-www-form-urlencoded")
                    # A failed e-signature is recorded on purpose (it counts towards the lock-out).
                    wrote = (response.status_code == 200 and method == "post" and history_rows() != before
                             and not any("password" in n for n in names))
                    transaction.set_rollback(True)
                label = f"{method.upper()} {target} {name}={value!r:.40}"
                if response.status_code >= 500:
                    text = response.content.decode("utf-8", "replace")
                    title = text.split("<title>", 1)[-1].split("</title>", 1)[0] if "<title>" in text else text
                    problems.append(f"{label} -> {response.status_code}: {' '.join(title.split())[:200]}")
                elif wrote:
                    problems.append(f"{label} -> the form was shown again but audit history was written")
    return problems


@pytest.fixture(scope="module")
def demo(django_db_setup, django_db_blocker):
    """The demo bank, loaded once for the module and rolled back at its end."""
    with django_db_blocker.unblock():
        with transaction.atomic():
            call_command("load_demo", verbosity=0, stdout=io.StringIO())
            yield build_context()
            transaction.set_rollback(True)


@pytest.mark.parametrize("endpoint", ENDPOINTS, ids=[e.name for e in ENDPOINTS])
def test_write_endpoint_survives_nasty_input(demo, endpoint):
    problems = fuzz_endpoint(demo, endpoint)
    assert not problems, "\n".join(problems)


def test_write_to_missing_or_absurd_ids_is_not_a_500(demo):
    problems = [p for endpoint in ENDPOINTS for p in fuzz_write_ids(demo, endpoint)]
    assert not problems, "\n".join(problems)


@pytest.fixture(scope="module")
def reads():
    return read_operations()


def test_reads_survive_junk_parameters_and_ids(demo, reads):
    problems = [p for template, params in reads for p in fuzz_read(demo, template, params)]
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize("template,role", PAGES, ids=[p for p, _r in PAGES])
def test_page_forms_survive_nasty_input(demo, template, role):
    problems = fuzz_page(demo, template, role)
    assert not problems, "\n".join(problems)
