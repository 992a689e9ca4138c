"""Every refusal code is provoked through the API, listed in one table (ARCHITECTURE.md, "One source per rule").

``TABLE`` has an entry per code: a scenario builds the smallest state that refuses (factories and services),
then makes ONE call through the REST API and returns the response; the test checks the status and ``code``.
The completeness tests collect the codes of ../shared/API.md, of the project's code and of Django REST
framework (tests/bank/refusals.py) and fail when one has no entry — or when an entry names a code that no
longer exists. Codes of features not built yet are ``PENDING`` (a strict xfail turns red once the code
appears, to force its entry); field-validation codes that never reach the API as a ``code`` are listed, with
why, in ``NOT_REFUSALS``.
"""

from __future__ import annotations

import datetime
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.utils import timezone
from rest_framework.test import APIClient

from bank.models import SignatureMeaning
from distribution import services as distribution_services
from distribution.models import Allocation, MaterialTransferAgreement
from lots.services import change_lot_status
from qc import services as qc_services
from qc.models import Deviation, Recheck, Specification, StabilityPlan
from tests.bank import refusals
from tests.distribution.factories import add_lot, add_result, make_line, place, submit
from tests.factories import (
    BoxFactory,
    CellLineFactory,
    CollectionFactory,
    ConsentFactory,
    DonorFactory,
    DonorIdentityFactory,
    EthicsApprovalFactory,
    LotFactory,
    RackFactory,
    ScreeningResultFactory,
    StorageUnitFactory,
    full_negative_panel,
)
from tests.qc.factories import enter_panel, qc_lot

pytestmark = pytest.mark.django_db


@dataclass
class Ctx:
    """What a scenario may use: one user per role, API clients, pytest-django settings, monkeypatch."""

    users: dict
    settings: object
    monkeypatch: pytest.MonkeyPatch
    password: str

    def api(self, role: str | None) -> APIClient:
        client = APIClient()
        if role is not None:
            client.force_authenticate(self.users[role])
        return client


@dataclass(frozen=True)
class Refusal:
    """A code, the answer that carries it and the scenario that provokes it (its one call is ``endpoint``)."""

    code: str
    status: int
    endpoint: str
    scenario: Callable[[Ctx], object]
    variant: str = ""
    # Set when no endpoint reaches the code: the scenario posts a page's form and the page shows this text.
    page_message: str = ""

    @property
    def id(self) -> str:
        return f"{self.code}-{self.variant}" if self.variant else self.code


@dataclass(frozen=True)
class Pending:
    """A code of the contract whose feature is not built yet (API.md "Additions")."""

    code: str
    issue: str
    built: Callable[[], bool] | None = None

    def is_built(self) -> bool:
        return self.built() if self.built is not None else self.code in refusals.project_codes()


def today() -> datetime.date:
    return timezone.localdate()


def release(lot, ctx: Ctx, role: str = "qa", password: str | None = None):
    return ctx.api(role).post(f"/api/v1/lots/{lot.pk}/release/",
                              {"password": password or ctx.password, "meaning": SignatureMeaning.RELEASE.value},
                              format="json")


def basic_lot(**kwargs):
    """A quarantine NSC MCB of an eligible, consenting donor: its specification has three tests."""
    kwargs.setdefault("vial_count", 2)
    return qc_lot(line_cell_type="NSC", line_reprogramming_method="", **kwargs)


def requested(ctx: Ctx, *, vials: int = 1, use: str = "research", stock: int = 2, **line):
    """A researcher's submitted request on a line with ``stock`` distributable, stored vials."""
    line = make_line(**line)
    lot = add_lot(line, vials=stock)
    return submit(ctx.users["researcher"], line, vials, use=use), lot


def approved(ctx: Ctx, **kwargs):
    request, lot = requested(ctx, **kwargs)
    return distribution_services.approve_request(request, actor=ctx.users["qa"]), lot


def ship(ctx: Ctx, request):
    return ctx.api("technician").post(f"/api/v1/requests/{request.pk}/ship/", {
        "courier": "SF Express", "tracking_number": "SF1", "shipped_on": today().isoformat()}, format="json")


def request_body(line, vials: int = 1) -> dict:
    # institution_type is ignored today and required once fees are built (API.md "Sharing and compliance").
    return {"cell_line": line.pk, "vials": vials, "intended_use": "research", "project_title": "Neurons",
            "mta_accepted": True, "institution_type": "public"}


def storage(quarantine: bool = False, *, rows: int = 3, cols: int = 3, **unit):
    return BoxFactory(rack=RackFactory(unit=StorageUnitFactory(quarantine=quarantine, **unit)), rows=rows, cols=cols)


def store(ctx: Ctx, lot, *boxes):
    return ctx.api("technician").post(f"/api/v1/lots/{lot.pk}/store/", {"boxes": [b.pk for b in boxes]},
                                      format="json")


# --- donors -----------------------------------------------------------------------------------------------------


def no_active_consent(ctx: Ctx):
    donor = DonorFactory()
    # An approval valid today, so the consent rule answers even once collections need one (no_ethics_approval).
    year = datetime.timedelta(days=365)
    EthicsApprovalFactory(valid_from=today() - year, valid_to=today() + year)
    collected = timezone.now() - datetime.timedelta(days=1)
    return ctx.api("technician").post("/api/v1/collections/", {
        "donor": donor.pk, "tissue": "skin", "collected_at": collected.isoformat(),
        "received_at": (collected + datetime.timedelta(hours=4)).isoformat(), "transport_temperature_c": 4.0,
    }, format="json")


def consent_withdrawn(ctx: Ctx):
    donor = DonorFactory(consent_withdrawn_at=timezone.now())
    return ctx.api("coordinator").post(f"/api/v1/donors/{donor.pk}/consents/", {
        "form_version": "ICF-2026-v2", "signed_on": today().isoformat(), "scopes": ["research"]}, format="json")


def already_withdrawn(ctx: Ctx):
    consent = ConsentFactory(withdrawn_at=timezone.now())
    return ctx.api("coordinator").post(f"/api/v1/consents/{consent.pk}/withdraw/", {"reason": "asked again"},
                                       format="json")


def no_ethics_approval(ctx: Ctx):
    # Issue 15: REQUIRE_ETHICS_APPROVAL is on by default; the only approval on record ended before the collection.
    consent = ConsentFactory()
    EthicsApprovalFactory(valid_from=today() - datetime.timedelta(days=800),
                          valid_to=today() - datetime.timedelta(days=30))
    collected = timezone.now() - datetime.timedelta(days=1)
    return ctx.api("technician").post("/api/v1/collections/", {
        "donor": consent.donor.pk, "tissue": "skin", "collected_at": collected.isoformat(),
        "received_at": (collected + datetime.timedelta(hours=4)).isoformat(), "transport_temperature_c": 4.0,
    }, format="json")


def ethics_already_withdrawn(ctx: Ctx):
    approval = EthicsApprovalFactory(valid_from=today() - datetime.timedelta(days=30),
                                     valid_to=today() + datetime.timedelta(days=30), withdrawn_on=today(),
                                     withdrawal_reason="committee letter")
    return ctx.api("coordinator").post(f"/api/v1/ethics-approvals/{approval.pk}/withdraw/", {"reason": "again"},
                                       format="json")


def already_corrected(ctx: Ctx):
    original = full_negative_panel(CollectionFactory()).results.get(marker="hbsag")
    ScreeningResultFactory(screening=original.screening, marker="hbsag", result="positive", corrects=original,
                           correction_reason="lab re-test")
    return ctx.api("coordinator").post(f"/api/v1/screening-results/{original.pk}/correct/",
                                       {"result": "positive", "reason": "typo"}, format="json")


def import_conflict(ctx: Ctx):
    # Race-only: another registration commits the same national ID between the import's duplicate check and its
    # insert. Simulated deterministically: that registration happens while the import draws its donor codes, so
    # the database's unique constraint refuses the import's row (a real IntegrityError).
    from donors.services import csv_import  # the import looks new_donor_codes up in its own module

    national_id = "110101199001019999"
    drawn = csv_import.new_donor_codes

    def codes_while_another_registers(count):
        DonorIdentityFactory(national_id=national_id)
        return drawn(count)

    ctx.monkeypatch.setattr(csv_import, "new_donor_codes", codes_while_another_registers)
    text = "sex,birth_year,donor_type,diagnosis,full_name,national_id,phone\n" \
           f"F,1990,healthy,,Wang Fang,{national_id},+86 138 0000 0000\n"
    upload = SimpleUploadedFile("donors.csv", text.encode(), content_type="text/csv")
    return ctx.api("coordinator").post("/api/v1/donors/import/", {"file": upload}, format="multipart")


def _erase(ctx: Ctx, donor):
    return ctx.api("coordinator").post(f"/api/v1/donors/{donor.pk}/erase-identity/",
                                       {"reason": "Donor's written request", "password": ctx.password}, format="json")


def no_identity(ctx: Ctx):
    return _erase(ctx, DonorFactory())


def identity_erased(ctx: Ctx):
    donor = DonorIdentityFactory().donor
    assert _erase(ctx, donor).status_code == 200
    return _erase(ctx, donor)


def identity_key_unavailable(ctx: Ctx):
    donor = DonorIdentityFactory().donor
    ctx.settings.DONOR_IDENTITY_KEY, ctx.settings.DONOR_IDENTITY_DEMO_KEY_FILE = "", ""
    return ctx.api("coordinator").get(f"/api/v1/donors/{donor.pk}/")


# --- lots -------------------------------------------------------------------------------------------------------


def parent_not_released(ctx: Ctx):
    mcb = LotFactory(vials=False)  # in quarantine
    return ctx.api("technician").post("/api/v1/lots/", {
        "cell_line": mcb.cell_line_id, "tier": "WCB", "parent_lot": mcb.pk, "passage": 20, "vial_count": 1,
        "cells_per_vial": 1_000_000, "volume_ml": "1.0", "cryoprotectant": "CryoStor CS10",
        "frozen_on": today().isoformat()}, format="json")


def vial_unavailable(ctx: Ctx):
    lot = LotFactory(status="released", vial_count=1)
    vial = lot.vials.get()
    vial.status = "shipped"
    vial.save(update_fields=["status"])
    return ctx.api("technician").post(f"/api/v1/vials/{vial.pk}/move/",
                                      {"box": storage().pk, "row": 1, "col": 1, "reason": "tidy"}, format="json")


# --- storage ----------------------------------------------------------------------------------------------------


def insufficient_space(ctx: Ctx):
    return store(ctx, LotFactory(status="released", vial_count=2), storage(rows=1, cols=1))


def quarantine_segregation(ctx: Ctx):
    return store(ctx, LotFactory(vial_count=1), storage(quarantine=False))


def mirror_storage(ctx: Ctx):
    ctx.settings.MIRROR_STORAGE_MCB = True
    return store(ctx, LotFactory(status="released", tier="MCB", vial_count=2), storage())


def nothing_to_store(ctx: Ctx):
    return store(ctx, LotFactory(status="released", vials=False), storage())


def unit_out_of_service(ctx: Ctx):
    return store(ctx, LotFactory(status="released", vial_count=1), storage(active=False))


def position_occupied(ctx: Ctx):
    lot = LotFactory(status="released", vial_count=2)
    first, second = lot.vials.order_by("number")
    box = place([first])
    return ctx.api("technician").post(f"/api/v1/vials/{second.pk}/move/",
                                      {"box": box.pk, "row": first.row, "col": first.col, "reason": "tidy"},
                                      format="json")


def unit_not_empty(ctx: Ctx):
    box = storage()
    place(LotFactory(status="released", vial_count=1).vials.all(), box)
    return ctx.api("admin").patch(f"/api/v1/storage/units/{box.rack.unit_id}/",
                                  {"quarantine": True, "reason": "becomes the quarantine tank"}, format="json")


def rack_full(ctx: Ctx):
    rack = RackFactory(capacity=1)
    BoxFactory(rack=rack)
    return ctx.api("admin").post(f"/api/v1/storage/racks/{rack.pk}/boxes/", {"name": "B2", "rows": 9, "cols": 9},
                                 format="json")


def box_name_taken(ctx: Ctx):
    unit = StorageUnitFactory()
    box = BoxFactory(rack=RackFactory(unit=unit), name="B1")
    other = RackFactory(unit=unit)
    BoxFactory(rack=other, name="B1")
    return ctx.api("technician").post(f"/api/v1/storage/boxes/{box.pk}/move/",
                                      {"rack": other.pk, "reason": "reorganised"}, format="json")


def nothing_to_evacuate(ctx: Ctx):
    empty, target = StorageUnitFactory(), RackFactory().unit
    return ctx.api("technician").post(f"/api/v1/storage/units/{empty.pk}/evacuate/",
                                      {"unit": target.pk, "reason": "LN2 leak"}, format="json")


def unknown_vials(ctx: Ctx):  # issue 17: storing from a rack scan that read a tube the bank does not know
    box = storage(rows=8, cols=12)
    scan = SimpleUploadedFile("scan.csv", f"{box.barcode},A01,SBV-NOT-OURS\n".encode(), content_type="text/csv")
    return ctx.api("technician").post("/api/v1/storage/rack-scans/store/", {"file": scan, "reason": "re-scan"},
                                      format="multipart")


def rack_name_taken(ctx: Ctx):  # issue 17: a rack moved into a unit that has a rack of that name
    rack, other = RackFactory(name="R1"), RackFactory(name="R1")
    return ctx.api("technician").post(f"/api/v1/storage/racks/{rack.pk}/move/",
                                      {"unit": other.unit_id, "reason": "reorganised"}, format="json")


def import_not_allowed(ctx: Ctx):  # issue 17: a coordinator (cord blood imports only) sends a lots-and-vials file
    from django.core.files.uploadedfile import SimpleUploadedFile

    upload = SimpleUploadedFile("inventory.csv", b"lot_external_id\n", content_type="text/csv")
    return ctx.api("coordinator").post("/api/v1/imports/inventory/", {"file": upload, "source": "old-lims"},
                                       format="multipart")


def alarm_not_active(ctx: Ctx):
    from storage.models import Alarm

    alarm = Alarm.objects.create(unit=StorageUnitFactory(), kind="excursion", status="acknowledged")
    return ctx.api("technician").post(f"/api/v1/storage/alarms/{alarm.pk}/acknowledge/",
                                      {"reason": "lid closed", "password": ctx.password}, format="json")


# --- QC and release ---------------------------------------------------------------------------------------------


def signature_invalid(ctx: Ctx):
    return release(basic_lot(), ctx, password="not-my-password")


def segregation_of_duties(ctx: Ctx):
    lot = basic_lot()
    enter_panel(lot, ctx.users["qa"])
    return release(lot, ctx)


def qc_incomplete(ctx: Ctx):
    return release(basic_lot(), ctx)


def qc_failed(ctx: Ctx):
    lot = basic_lot()
    enter_panel(lot, ctx.users["technician"], override={"viability": {"value": Decimal("40")}})
    return release(lot, ctx)


def open_deviation(ctx: Ctx):
    lot = basic_lot()
    enter_panel(lot, ctx.users["technician"])
    qc_services.open_deviation(lot, actor=ctx.users["technician"], summary="Incubator door left open")
    return release(lot, ctx)


def donor_not_eligible(ctx: Ctx):
    lot = basic_lot(line_collection=CollectionFactory())  # no screening: eligibility incomplete
    enter_panel(lot, ctx.users["technician"])
    return release(lot, ctx)


def consent_withdrawn_at_release(ctx: Ctx):
    lot = basic_lot()
    enter_panel(lot, ctx.users["technician"])
    donor = lot.cell_line.donor
    donor.consent_withdrawn_at = timezone.now()
    donor.save(update_fields=["consent_withdrawn_at"])
    return release(lot, ctx)


def permission_denied_for_a_signer_without_the_qa_role(ctx: Ctx):
    # The admin holds every permission, but only a QA officer signs a release (a service-level Forbidden).
    return release(basic_lot(), ctx, role="admin")


def no_specification(ctx: Ctx):
    lot = LotFactory(tier="unit", vial_count=1)  # an iPSC "unit": no specification is published for it
    return ctx.api("technician").post(f"/api/v1/lots/{lot.pk}/qc-results/", {
        "test": "sterility", "outcome": "negative", "tested_on": today().isoformat()}, format="json")


def bag_not_a_sample(ctx: Ctx):
    # Issue 12: a cord blood unit's bag is the patient's dose; a QC test thaws a segment or a reference vial.
    from tests import cordblood_factories as cb

    unit = cb.unit(status="quarantine")
    return ctx.api("technician").post(f"/api/v1/lots/{unit.lot.pk}/qc-results/", {
        "test": "viability", "value": "90", "tested_on": today().isoformat(),
        "vial": unit.lot.vials.get(kind="bag").barcode}, format="json")


def hla_discordant(ctx: Ctx):
    # Issue 12: a unit whose verification typing disagrees with the infant's registration typing is not released.
    from cordblood.services import typing
    from tests import cordblood_factories as cb

    typing.register()  # what CordbloodConfig.ready() does
    unit = cb.unit(status="quarantine")
    enter_panel(unit.lot, ctx.users["technician"])
    typing.record_verification(unit, {"A": ["A*02:01", "A*24:02"]}, sample=unit.lot.vials.filter(
        kind="segment").first(), typed_on=today(), actor=ctx.users["technician"])
    return release(unit.lot, ctx)


def lot_rejected(ctx: Ctx):
    lot = LotFactory(status="rejected", vial_count=1)
    return ctx.api("technician").post(f"/api/v1/lots/{lot.pk}/qc-results/", {
        "test": "sterility", "outcome": "negative", "tested_on": today().isoformat()}, format="json")


def not_released(ctx: Ctx):
    return ctx.api("qa").get(f"/api/v1/lots/{LotFactory(vials=False).pk}/certificate.pdf")


def stability_plan(ctx: Ctx, lot):
    return ctx.api("qa").put(f"/api/v1/lots/{lot.pk}/stability-plan/",
                             {"interval_days": 180, "min_viability_pct": "75"}, format="json")


def lot_not_released(ctx: Ctx):
    return stability_plan(ctx, LotFactory(vials=False))


def last_vial(ctx: Ctx):
    return stability_plan(ctx, LotFactory(status="released", tier="unit", vial_count=1))


def retest_required(ctx: Ctx):
    lot = LotFactory(status="on_hold", vial_count=1)
    low = add_result(lot, "viability", value=40, passed=False)  # entered by another technician
    return ctx.api("qa").post(f"/api/v1/lots/{lot.pk}/lift-hold/", {"password": ctx.password, "cited_result": low.pk},
                              format="json")


def deviation_closed(ctx: Ctx):
    deviation = qc_services.open_deviation(LotFactory(vials=False), actor=ctx.users["technician"], summary="Spill")
    Deviation.objects.filter(pk=deviation.pk).update(status="closed", closed_at=timezone.now())
    return ctx.api("qa").patch(f"/api/v1/qc/deviations/{deviation.pk}/", {"capa": "retrain"}, format="json")


def deviation_incomplete(ctx: Ctx):
    deviation = qc_services.open_deviation(LotFactory(vials=False), actor=ctx.users["technician"], summary="Spill")
    return ctx.api("qa").post(f"/api/v1/qc/deviations/{deviation.pk}/close/", {"password": ctx.password},
                              format="json")


def recheck_closed(ctx: Ctx):
    lot = LotFactory(status="released", vial_count=2)
    plan = StabilityPlan.objects.create(lot=lot, interval_days=365, min_viability_pct=Decimal("70"),
                                        next_due_on=today())
    recheck = Recheck.objects.create(plan=plan, lot=lot, due_on=today(), status="done")
    return ctx.api("technician").post(f"/api/v1/qc/rechecks/{recheck.pk}/result/",
                                      {"viability_pct": "85", "tested_on": today().isoformat()}, format="json")


def version_conflict(ctx: Ctx):
    # Race-only: two QA officers publish the next version of a specification at the same moment. Simulated
    # deterministically: the other publication is inserted just before this one, so the database's unique
    # constraint (cell type, tier, version) refuses it with a real IntegrityError.
    manager = Specification.objects
    create = manager.create

    def create_after_the_other_one(**fields):
        Specification(**{**fields, "notes": "published by the other QA officer"}).save()
        return create(**fields)

    ctx.monkeypatch.setattr(manager, "create", create_after_the_other_one)
    return ctx.api("qa").post("/api/v1/qc/specifications/", {
        "cell_type": "NSC", "tier": "MCB",
        "criteria": [{"test": "sterility", "expected": "negative"}, {"test": "viability", "min": 75}]},
        format="json")


# --- distribution -----------------------------------------------------------------------------------------------


def no_mta(ctx: Ctx):
    line = make_line()
    add_lot(line, vials=1)
    MaterialTransferAgreement.objects.update(active=False)
    return ctx.api("researcher").post("/api/v1/requests/", request_body(line), format="json")


def no_mta_to_read(ctx: Ctx):
    MaterialTransferAgreement.objects.update(active=False)
    return ctx.api("researcher").get("/api/v1/mta/")


def not_released_for_distribution(ctx: Ctx):
    line = make_line()
    add_lot(line, vials=1, status="quarantine", tier="MCB")
    return ctx.api("researcher").post("/api/v1/requests/", request_body(line), format="json")


def insufficient_stock(ctx: Ctx):
    line = make_line()
    add_lot(line, vials=1)
    return ctx.api("researcher").post("/api/v1/requests/", request_body(line, vials=5), format="json")


def approve(ctx: Ctx, request):
    return ctx.api("qa").post(f"/api/v1/requests/{request.pk}/approve/", {}, format="json")


def consent_scope(ctx: Ctx):
    return approve(ctx, requested(ctx, use="commercial", scopes=["research"])[0])


def grade_mismatch(ctx: Ctx):
    return approve(ctx, requested(ctx, use="clinical", grade="research")[0])


def invalid_transition(ctx: Ctx):
    return approve(ctx, approved(ctx)[0])


def invalid_transition_of_a_lot(ctx: Ctx):
    lot = LotFactory(vials=False)  # in quarantine: only a released (or held) lot is recalled
    return ctx.api("qa").post(f"/api/v1/lots/{lot.pk}/recall/", {"reason": "sterility", "password": ctx.password},
                              format="json")


def not_requester(ctx: Ctx):
    request, _lot = requested(ctx)
    return ctx.api("qa").post(f"/api/v1/requests/{request.pk}/cancel/", {}, format="json")


def wrong_vial(ctx: Ctx):
    request, _lot = approved(ctx)
    return ctx.api("technician").post(f"/api/v1/requests/{request.pk}/pick/", {"barcode": "SBV-NOT-ON-THE-LIST"},
                                      format="json")


def lot_blocked(ctx: Ctx):
    request, lot = approved(ctx)
    # After approval the lot goes on hold (a failed stability re-check does this): its reserved vials stay put.
    change_lot_status(lot, "on_hold", actor=ctx.users["qa"], reason="failed stability re-check")
    return ship(ctx, request)


def allocation_incomplete(ctx: Ctx):
    # No endpoint leaves an approved request short of vials today (a recall replaces them or rejects the
    # request): the allocation is released directly, the state this defensive check guards against.
    request, _lot = approved(ctx, vials=2)
    Allocation.objects.filter(pk=request.allocations.order_by("pk").first().pk).update(released_at=timezone.now())
    return ship(ctx, request)


def picks_incomplete(ctx: Ctx):
    # Page only: the API ships without scanning (POST /requests/{id}/ship/), the pick page's "Ship" button
    # requires every vial scanned first. Posted through the page with the Django test client.
    request, _lot = approved(ctx)
    client = Client()
    client.force_login(ctx.users["technician"])
    return client.post(f"/distribution/requests/{request.pk}/ship/", {
        "courier": "SF Express", "tracking_number": "SF1", "shipper_type": "dry_shipper",
        "shipped_on": today().isoformat()})


def _approved_abroad(ctx: Ctx):
    """An approved request to a recipient in Germany, outside the bank's country (issue 15)."""
    ctx.settings.BANK_COUNTRY = "CN"
    line = make_line()
    add_lot(line, vials=2)
    request = submit(ctx.users["researcher"], line, 1, recipient_country="DE")
    return distribution_services.approve_request(request, actor=ctx.users["qa"])


def export_approval_required(ctx: Ctx):
    return ship(ctx, _approved_abroad(ctx))


def export_approval_expired(ctx: Ctx):
    request = _approved_abroad(ctx)
    distribution_services.record_export_approval(
        request, actor=ctx.users["qa"], approval_number="HGR-2025-001", authority="MOST HGR Office",
        approved_on=today() - datetime.timedelta(days=400), expires_on=today() - datetime.timedelta(days=1))
    return ship(ctx, request)


# --- accounts and sensors ---------------------------------------------------------------------------------------

TOKEN_URL = "/api/v1/auth/token/"


def account_locked(ctx: Ctx):
    # LOGIN_FAILURE_LIMIT wrong passwords from this client address lock qa here: even the right one is refused.
    ctx.settings.LOGIN_FAILURE_LIMIT = 3
    client = APIClient()
    for _ in range(3):
        assert client.post(TOKEN_URL, {"username": "qa", "password": "wrong"}, format="json").status_code in (401, 403)
    return client.post(TOKEN_URL, {"username": "qa", "password": ctx.password}, format="json")


def password_change_required(ctx: Ctx):
    # An admin required a new password: the user's API token is refused until it is changed (issue 17).
    from bank.services import issue_token, require_password_change

    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {issue_token(ctx.users['qa'])[1]}")
    require_password_change(ctx.users["qa"], actor=ctx.users["admin"], reason="password shared")
    return client.get("/api/v1/me/")


def self_lockout(ctx: Ctx):
    return ctx.api("admin").patch("/api/v1/accounts/admin/", {"roles": ["qa"], "reason": "oops"}, format="json")


def last_admin(ctx: Ctx):
    # A superuser outside the admin role (an emergency account) may not take the only admin's role.
    from tests.factories import UserFactory

    client = APIClient()
    client.force_authenticate(UserFactory(username="root", is_superuser=True))
    return client.patch("/api/v1/accounts/admin/", {"roles": ["qa"], "reason": "moved to QA"}, format="json")


def sensor_account(ctx: Ctx):
    return ctx.api("admin").post("/api/v1/accounts/sensor/force-password-change/", {"reason": "x"}, format="json")


def sensor_not_bound(ctx: Ctx):
    from bank.services import issue_token
    from storage.services import bind_sensors

    bound, other = StorageUnitFactory(), StorageUnitFactory()
    bind_sensors(bound, ["sensor"], actor=ctx.users["admin"])
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {issue_token(ctx.users['sensor'])[1]}")
    return client.post(f"/api/v1/storage/units/{other.pk}/readings/", {"temperature_c": -180}, format="json")


def throttled(ctx: Ctx):
    ctx.settings.API_THROTTLE_RATES = {**ctx.settings.API_THROTTLE_RATES, "token": "2/min"}
    client = APIClient()
    for _ in range(2):
        assert client.post(TOKEN_URL, {"username": "qa", "password": ctx.password}, format="json").status_code == 200
    return client.post(TOKEN_URL, {"username": "qa", "password": ctx.password}, format="json")


# --- the API itself (Django REST framework and the bank's exception handler) ----------------------------------------


def not_authenticated(ctx: Ctx):
    return ctx.api(None).get("/api/v1/lots/")


def authentication_failed(ctx: Ctx):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION="Token 0000000000000000000000000000000000000000")
    return client.get("/api/v1/lots/")


def permission_denied(ctx: Ctx):
    return ctx.api("researcher").get("/api/v1/lots/")


def not_found(ctx: Ctx):
    return ctx.api("technician").get("/api/v1/lots/987654321/")


def method_not_allowed(ctx: Ctx):
    return ctx.api("technician").delete("/api/v1/me/")


def not_acceptable(ctx: Ctx):
    return ctx.api("technician").get("/api/v1/me/", HTTP_ACCEPT="application/xml")


def unsupported_media_type(ctx: Ctx):
    return ctx.api("technician").post("/api/v1/qc/deviations/", "<deviation/>", content_type="application/xml")


def parse_error(ctx: Ctx):
    return ctx.api("technician").post("/api/v1/qc/deviations/", '{"lot": 1, "summary": ',
                                      content_type="application/json")


def page_too_deep(ctx: Ctx):
    # A keyset list (bank.api.pagination.KeysetPagination) reaches pages by number only within its first 10,000
    # rows: page 202 of 50 starts past them.
    return ctx.api("technician").get("/api/v1/vials/", {"page": 202})


def protected(ctx: Ctx):
    # No endpoint deletes anything (regulated records are retired by status), so this is the exception handler's
    # safety net. Simulated: the service behind an endpoint tries to delete a unit its racks protect, raising a
    # real ProtectedError, which must come back as 409 ``protected``, not a 500.
    from storage import services as storage_services

    unit = RackFactory().unit
    ctx.monkeypatch.setattr(storage_services, "evacuate_unit", lambda unit, target, **kwargs: unit.delete())
    return ctx.api("technician").post(f"/api/v1/storage/units/{unit.pk}/evacuate/",
                                      {"unit": StorageUnitFactory().pk, "reason": "LN2 leak"}, format="json")


# --- cordblood (issue 12) --------------------------------------------------------------------------------------

CB = "/api/v1/cordblood"


def _cb_pending(**kwargs):
    from tests.cordblood import helpers as cbh

    return cbh.donate(**kwargs).unit


def _cb_accepted(ctx: Ctx, **kwargs):
    from cordblood import services as cb_services

    return cb_services.accept_unit(_cb_pending(**kwargs), actor=ctx.users["technician"], collected_volume_ml="95",
                                   tnc=1_500_000_000)


def acceptance_criteria_not_met(ctx: Ctx):
    unit = _cb_pending()
    return ctx.api("technician").post(f"{CB}/units/{unit.pk}/accept/", {"collected_volume_ml": "20.0", "tnc": 1},
                                      format="json")


def unit_already_decided(ctx: Ctx):
    unit = _cb_accepted(ctx)
    return ctx.api("technician").post(f"{CB}/units/{unit.pk}/accept/",
                                      {"collected_volume_ml": "95.0", "tnc": 1_500_000_000}, format="json")


def unit_not_accepted(ctx: Ctx):
    unit = _cb_pending()
    return ctx.api("technician").post(f"{CB}/units/{unit.pk}/freeze/", {}, format="json")


def processing_not_recorded(ctx: Ctx):
    unit = _cb_accepted(ctx)
    return ctx.api("technician").post(f"{CB}/units/{unit.pk}/freeze/", {}, format="json")


def freeze_window_exceeded(ctx: Ctx):
    from tests.cordblood import helpers as cbh

    unit = _cb_accepted(ctx, born_at=timezone.now() - datetime.timedelta(hours=50))
    cbh.process(unit)
    return ctx.api("technician").post(f"{CB}/units/{unit.pk}/freeze/", {}, format="json")


def unit_already_frozen(ctx: Ctx):
    from tests import cordblood_factories as cb

    unit = cb.unit()
    return ctx.api("technician").post(f"{CB}/units/{unit.pk}/discard/", {"reason": "other"}, format="json")


def no_research_consent(ctx: Ctx):
    unit = _cb_pending(scopes=("clinical",))
    return ctx.api("technician").post(f"{CB}/units/{unit.pk}/divert/", {}, format="json")


def unit_not_released(ctx: Ctx):
    from tests import cordblood_factories as cb

    unit = cb.unit(status="quarantine", listing_status="not_listed")
    return ctx.api("qa").post(f"{CB}/units/{unit.pk}/listing/", {"status": "available"}, format="json")


def family_unit_not_listed(ctx: Ctx):
    from tests import cordblood_factories as cb

    unit = cb.unit(ownership="family")
    return ctx.api("qa").post(f"{CB}/units/{unit.pk}/listing/", {"status": "available"}, format="json")


def listing_reason_required(ctx: Ctx):
    from tests import cordblood_factories as cb

    unit = cb.unit()
    return ctx.api("qa").post(f"{CB}/units/{unit.pk}/listing/", {"status": "temporarily_unavailable"},
                              format="json")


def _cb_contract_body(number: str) -> dict:
    return {"number": number, "signed_on": today().isoformat(),
            "paid_until": (today() + datetime.timedelta(days=365)).isoformat()}


def not_family_unit(ctx: Ctx):
    from tests import cordblood_factories as cb

    unit = cb.unit()
    return ctx.api("coordinator").post(f"{CB}/units/{unit.pk}/contract/", _cb_contract_body("FS-R1"), format="json")


def contract_exists(ctx: Ctx):
    from cordblood import services as cb_services
    from tests import cordblood_factories as cb

    unit = cb.unit(ownership="family")
    cb_services.create_contract(unit, actor=ctx.users["coordinator"], **_cb_contract_body("FS-R2"))
    return ctx.api("coordinator").post(f"{CB}/units/{unit.pk}/contract/", _cb_contract_body("FS-R3"), format="json")


def contract_not_active(ctx: Ctx):
    from cordblood import services as cb_services
    from tests import cordblood_factories as cb

    unit = cb.unit(ownership="family")
    contract = cb_services.create_contract(unit, actor=ctx.users["coordinator"], **_cb_contract_body("FS-R4"))
    cb_services.donate_to_public(contract, actor=ctx.users["coordinator"], reason="donation form signed")
    return ctx.api("coordinator").post(f"{CB}/contracts/{contract.pk}/release-request/", {"note": "for her son"},
                                       format="json")


# --- transplant (issue 12) -------------------------------------------------------------------------------------


def _tx(ctx: Ctx, *, link: bool = True, accredited: bool = True, **unit):
    """A clinician (linked to a qualified centre unless told), their patient and a listed public unit."""
    from tests import cordblood_factories as cb
    from tests.transplant import helpers as tx

    centre = tx.centre("TC-R", accreditation_until=today() + datetime.timedelta(days=365 if accredited else -1))
    clinician = ctx.users["clinician"]
    patient = tx.patient(tx.clinician(centre, username="clin-r"), code="P-R")
    if link:
        from transplant import services as tx_services

        tx_services.link_clinician(clinician, centre, actor=None)
    return clinician, patient, cb.unit(**unit)


def _tx_ordered(ctx: Ctx):
    from tests.transplant import helpers as tx

    clinician, patient, unit = _tx(ctx)
    return clinician, tx.ordered(unit, patient, clinician)


def _tx_ship(ctx: Ctx, order, **overrides):
    from tests.transplant import helpers as tx

    values = tx.ship_kwargs(order, **overrides)
    return ctx.api("technician").post(f"/api/v1/transplant/orders/{order.pk}/ship/", {
        "bag_barcode": values["bag_barcode"], "dry_shipper": values["dry_shipper"], "documents": values["documents"],
        "temperature_log": SimpleUploadedFile("logger.csv", values["logger_content"])}, format="multipart")


def _tx_reserve(ctx: Ctx, clinician, patient, unit):
    return ctx.api(None if clinician is None else "clinician").post("/api/v1/transplant/reservations/", {
        "unit": unit.pk, "patient": patient.pk, "until": (today() + datetime.timedelta(days=7)).isoformat()},
        format="json")


def no_centre(ctx: Ctx):
    from tests.transplant import helpers as tx

    return ctx.api("clinician").post("/api/v1/transplant/patients/", {
        "code": "P-X", "diagnosis": "AML", "weight_kg": "30.0", "hla": tx.MATCHED_HLA}, format="json")


def not_your_centre(ctx: Ctx):
    from tests.transplant import helpers as tx

    clinician, patient, unit = _tx(ctx)
    other = tx.patient(tx.clinician(tx.centre("TC-O"), username="clin-o"), code="P-O")
    return _tx_reserve(ctx, clinician, other, unit)


def centre_not_qualified(ctx: Ctx):
    clinician, patient, unit = _tx(ctx, accredited=False)
    return _tx_reserve(ctx, clinician, patient, unit)


def unit_not_available(ctx: Ctx):
    clinician, patient, unit = _tx(ctx, ownership="family")
    return _tx_reserve(ctx, clinician, patient, unit)


def no_bag(ctx: Ctx):
    from lots.choices import VialKind

    clinician, patient, unit = _tx(ctx, containers=[VialKind.SEGMENT, VialKind.REFERENCE_CELLS])
    return _tx_reserve(ctx, clinician, patient, unit)


def no_typing_sample(ctx: Ctx):
    from lots.choices import VialKind
    from transplant import services as tx_services

    clinician, patient, unit = _tx(ctx, containers=[VialKind.BAG])
    ct = tx_services.request_typing(unit, patient, actor=clinician)
    return ctx.api("technician").post(f"/api/v1/transplant/typing-requests/{ct.pk}/complete/",
                                      {"alleles": {"A": ["A*24:02", "A*24:02"]}}, format="json")


def justification_required(ctx: Ctx):
    _clinician, order = _tx_ordered(ctx)  # no confirmatory typing: an exceptional release
    return ctx.api("medical_director").post(f"/api/v1/transplant/orders/{order.pk}/release/",
                                            {"password": ctx.password}, format="json")


def release_not_signed(ctx: Ctx):
    _clinician, order = _tx_ordered(ctx)
    return _tx_ship(ctx, order)


def acknowledgement_required(ctx: Ctx):
    from transplant import services as tx_services

    _clinician, order = _tx_ordered(ctx)
    tx_services.release_order(order, actor=ctx.users["medical_director"], password=ctx.password,
                              justification="Urgent; CT pending")
    return _tx_ship(ctx, order)


def shipper_not_validated(ctx: Ctx):
    from tests.transplant import helpers as tx
    from transplant import services as tx_services

    clinician, order = _tx_ordered(ctx)
    tx_services.release_order(order, actor=ctx.users["medical_director"], password=ctx.password,
                              justification="Urgent; CT pending")
    tx_services.acknowledge_release(order, actor=clinician, password=ctx.password)
    return _tx_ship(ctx, order, dry_shipper=tx.shipper("DS-EXPIRED", days=-1).code)


# --- haplobank (issue 14) ---------------------------------------------------------------------------------------


def _hla_population(ctx: Ctx, **tables):
    from tests.haplobank.helpers import population

    return population(actor=ctx.users["qa"], **tables)


def _hla_upload(ctx: Ctx, text: str):
    population = _hla_population(ctx)
    return ctx.api("qa").post(f"/api/v1/hla/populations/{population.pk}/haplotypes/", data=text.encode(),
                              content_type="text/csv")


def frequencies_exceed_one(ctx: Ctx):
    return _hla_upload(ctx, "A*24:02~B*52:01~DRB1*15:02,0.7\nA*02:07~B*46:01~DRB1*09:01,0.4\n")


def invalid_lines(ctx: Ctx):
    return _hla_upload(ctx, "A*24:02~B*52:01~DRB1*15:02,0.1\nA*24:XX~B*52:01~DRB1*15:02,0.1\n")


def no_haplotype_table(ctx: Ctx):
    return ctx.api("qa").get("/api/v1/hla/coverage/", {"population": _hla_population(ctx).pk})


def no_cohort(ctx: Ctx):
    population = _hla_population(ctx, haplotypes="A*24:02~B*52:01~DRB1*15:02,0.1\n")
    return ctx.api("qa").get("/api/v1/hla/coverage/", {"population": population.pk, "definition": "genotype"})


# --- quality (issue 16) -----------------------------------------------------------------------------------------


def training_required(ctx: Ctx):
    from tests.quality.helpers import approve

    approve("SOP-QC-001", "1", ["qc_result"], qa=ctx.users["qa"])  # governs QC results; the technician is untrained
    return ctx.api("technician").post(f"/api/v1/lots/{basic_lot().pk}/qc-results/", {
        "test": "sterility", "outcome": "negative", "tested_on": today().isoformat()}, format="json")


def equipment_not_calibrated(ctx: Ctx):
    from tests.quality.helpers import instrument

    instrument("CC-01", due=today() - datetime.timedelta(days=1), qa=ctx.users["qa"])
    return ctx.api("technician").post(f"/api/v1/lots/{basic_lot().pk}/qc-results/", {
        "test": "sterility", "outcome": "negative", "tested_on": today().isoformat(), "instrument": "CC-01"},
        format="json")


def _passage_citing(ctx: Ctx, material):
    from tests.factories import CultureFactory

    return ctx.api("technician").post(f"/api/v1/cultures/{CultureFactory().pk}/passages/", {
        "passaged_on": today().isoformat(), "materials": [material.pk]}, format="json")


def material_not_released(ctx: Ctx):
    from tests.quality.helpers import material

    return _passage_citing(ctx, material("MT-Q", released=False, qa=ctx.users["qa"]))


def material_expired(ctx: Ctx):
    from quality.models import Material
    from tests.quality.helpers import material

    medium = material("MT-X", qa=ctx.users["qa"])
    Material.objects.filter(pk=medium.pk).update(expires_on=today() - datetime.timedelta(days=1))
    return _passage_citing(ctx, medium)


# --- the table --------------------------------------------------------------------------------------------------

TABLE = [
    # donors
    Refusal("no_active_consent", 409, "POST /collections/", no_active_consent),
    Refusal("consent_withdrawn", 409, "POST /donors/{id}/consents/", consent_withdrawn),
    Refusal("consent_withdrawn", 409, "POST /lots/{id}/release/", consent_withdrawn_at_release, "release"),
    Refusal("already_withdrawn", 409, "POST /consents/{id}/withdraw/", already_withdrawn),
    Refusal("already_withdrawn", 409, "POST /ethics-approvals/{id}/withdraw/", ethics_already_withdrawn, "ethics"),
    Refusal("no_ethics_approval", 409, "POST /collections/", no_ethics_approval),
    Refusal("already_corrected", 409, "POST /screening-results/{id}/correct/", already_corrected),
    Refusal("import_conflict", 409, "POST /donors/import/ (race simulated)", import_conflict),
    # donors: privacy (issue 11)
    Refusal("no_identity", 409, "POST /donors/{id}/erase-identity/", no_identity),
    Refusal("identity_erased", 409, "POST /donors/{id}/erase-identity/ (erased already)", identity_erased),
    Refusal("identity_key_unavailable", 503, "GET /donors/{id}/ (coordinator, no DONOR_IDENTITY_KEY)",
            identity_key_unavailable),
    # lots
    Refusal("parent_not_released", 409, "POST /lots/", parent_not_released),
    Refusal("vial_unavailable", 409, "POST /vials/{id}/move/", vial_unavailable),
    # storage
    Refusal("insufficient_space", 409, "POST /lots/{id}/store/", insufficient_space),
    Refusal("quarantine_segregation", 409, "POST /lots/{id}/store/", quarantine_segregation),
    Refusal("mirror_storage", 409, "POST /lots/{id}/store/ (MIRROR_STORAGE_MCB=True)", mirror_storage),
    Refusal("nothing_to_store", 409, "POST /lots/{id}/store/", nothing_to_store),
    Refusal("unit_out_of_service", 409, "POST /lots/{id}/store/", unit_out_of_service),
    Refusal("position_occupied", 409, "POST /vials/{id}/move/", position_occupied),
    Refusal("unit_not_empty", 409, "PATCH /storage/units/{id}/", unit_not_empty),
    Refusal("rack_full", 409, "POST /storage/racks/{id}/boxes/", rack_full),
    Refusal("box_name_taken", 409, "POST /storage/boxes/{id}/move/", box_name_taken),
    Refusal("nothing_to_evacuate", 409, "POST /storage/units/{id}/evacuate/", nothing_to_evacuate),
    Refusal("unknown_vials", 409, "POST /storage/rack-scans/store/ (a tube no vial has)", unknown_vials),
    Refusal("import_not_allowed", 403, "POST /imports/inventory/ (a coordinator: cord blood imports only)",
            import_not_allowed),
    Refusal("rack_name_taken", 409, "POST /storage/racks/{id}/move/ (the unit has a rack of that name)",
            rack_name_taken),
    Refusal("alarm_not_active", 409, "POST /storage/alarms/{id}/acknowledge/", alarm_not_active),
    # QC and release (API.md's order: role, signature_invalid, segregation_of_duties, qc_incomplete, ...)
    Refusal("signature_invalid", 403, "POST /lots/{id}/release/", signature_invalid),
    Refusal("segregation_of_duties", 403, "POST /lots/{id}/release/", segregation_of_duties),
    Refusal("qc_incomplete", 409, "POST /lots/{id}/release/", qc_incomplete),
    Refusal("qc_failed", 409, "POST /lots/{id}/release/", qc_failed),
    Refusal("open_deviation", 409, "POST /lots/{id}/release/", open_deviation),
    Refusal("donor_not_eligible", 409, "POST /lots/{id}/release/", donor_not_eligible),
    Refusal("no_specification", 409, "POST /lots/{id}/qc-results/", no_specification),
    Refusal("lot_rejected", 409, "POST /lots/{id}/qc-results/", lot_rejected),
    Refusal("bag_not_a_sample", 409, "POST /lots/{id}/qc-results/", bag_not_a_sample),
    Refusal("hla_discordant", 409, "POST /lots/{id}/release/", hla_discordant),
    Refusal("not_released", 409, "GET /lots/{id}/certificate.pdf", not_released),
    Refusal("not_released", 409, "POST /requests/", not_released_for_distribution, "request"),
    Refusal("lot_not_released", 409, "PUT /lots/{id}/stability-plan/", lot_not_released),
    Refusal("last_vial", 409, "PUT /lots/{id}/stability-plan/", last_vial),
    Refusal("retest_required", 409, "POST /lots/{id}/lift-hold/", retest_required),
    Refusal("deviation_closed", 409, "PATCH /qc/deviations/{id}/", deviation_closed),
    Refusal("deviation_incomplete", 409, "POST /qc/deviations/{id}/close/", deviation_incomplete),
    Refusal("recheck_closed", 409, "POST /qc/rechecks/{id}/result/", recheck_closed),
    Refusal("version_conflict", 409, "POST /qc/specifications/ (race simulated)", version_conflict),
    # distribution
    Refusal("no_mta", 409, "POST /requests/", no_mta),
    Refusal("no_mta", 404, "GET /mta/", no_mta_to_read, "read"),
    Refusal("insufficient_stock", 409, "POST /requests/", insufficient_stock),
    Refusal("consent_scope", 409, "POST /requests/{id}/approve/", consent_scope),
    Refusal("grade_mismatch", 409, "POST /requests/{id}/approve/", grade_mismatch),
    Refusal("invalid_transition", 409, "POST /requests/{id}/approve/ (approved already)", invalid_transition),
    Refusal("invalid_transition", 409, "POST /lots/{id}/recall/ (lot in quarantine)", invalid_transition_of_a_lot,
            "lot"),
    Refusal("not_requester", 403, "POST /requests/{id}/cancel/ (by QA)", not_requester),
    Refusal("wrong_vial", 409, "POST /requests/{id}/pick/", wrong_vial),
    Refusal("lot_blocked", 409, "POST /requests/{id}/ship/", lot_blocked),
    Refusal("allocation_incomplete", 409, "POST /requests/{id}/ship/", allocation_incomplete),
    Refusal("picks_incomplete", 400, "page POST /distribution/requests/{id}/ship/", picks_incomplete,
            page_message="Scan every vial before shipping"),
    # sharing (issue 15): the Human Genetic Resources export gate
    Refusal("export_approval_required", 409, "POST /requests/{id}/ship/ (recipient abroad, no approval)",
            export_approval_required),
    Refusal("export_approval_required", 409, "POST /requests/{id}/ship/ (the approval expired)",
            export_approval_expired, "expired"),
    # cordblood (issue 12)
    Refusal("acceptance_criteria_not_met", 409, "POST /cordblood/units/{id}/accept/ (below the thresholds)",
            acceptance_criteria_not_met),
    Refusal("unit_already_decided", 409, "POST /cordblood/units/{id}/accept/ (accepted already)",
            unit_already_decided),
    Refusal("unit_not_accepted", 409, "POST /cordblood/units/{id}/freeze/ (awaiting acceptance)", unit_not_accepted),
    Refusal("processing_not_recorded", 409, "POST /cordblood/units/{id}/freeze/ (no processing record)",
            processing_not_recorded),
    Refusal("freeze_window_exceeded", 409, "POST /cordblood/units/{id}/freeze/ (50 h after collection)",
            freeze_window_exceeded),
    Refusal("unit_already_frozen", 409, "POST /cordblood/units/{id}/discard/ (frozen)", unit_already_frozen),
    Refusal("no_research_consent", 409, "POST /cordblood/units/{id}/divert/ (no research scope)",
            no_research_consent),
    Refusal("unit_not_released", 409, "POST /cordblood/units/{id}/listing/ (lot in quarantine)", unit_not_released),
    Refusal("family_unit_not_listed", 409, "POST /cordblood/units/{id}/listing/ (a family unit)",
            family_unit_not_listed),
    Refusal("listing_reason_required", 409, "POST /cordblood/units/{id}/listing/ (no reason or end date)",
            listing_reason_required),
    Refusal("not_family_unit", 409, "POST /cordblood/units/{id}/contract/ (a public unit)", not_family_unit),
    Refusal("contract_exists", 409, "POST /cordblood/units/{id}/contract/ (a second contract)", contract_exists),
    Refusal("contract_not_active", 409, "POST /cordblood/contracts/{id}/release-request/ (donated)",
            contract_not_active),
    # transplant (issue 12)
    Refusal("no_centre", 403, "POST /transplant/patients/ (a clinician linked to no centre)", no_centre),
    Refusal("not_your_centre", 403, "POST /transplant/reservations/ (another centre's patient)", not_your_centre),
    Refusal("centre_not_qualified", 409, "POST /transplant/reservations/ (accreditation expired)",
            centre_not_qualified),
    Refusal("unit_not_available", 409, "POST /transplant/reservations/ (a family unit)", unit_not_available),
    Refusal("no_bag", 409, "POST /transplant/reservations/ (a unit without a bag)", no_bag),
    Refusal("no_typing_sample", 409, "POST /transplant/typing-requests/{id}/complete/ (a unit with only its bag)",
            no_typing_sample),
    Refusal("justification_required", 409, "POST /transplant/orders/{id}/release/ (exceptional, no justification)",
            justification_required),
    Refusal("release_not_signed", 409, "POST /transplant/orders/{id}/ship/ (not released)", release_not_signed),
    Refusal("acknowledgement_required", 409, "POST /transplant/orders/{id}/ship/ (exceptional, not acknowledged)",
            acknowledgement_required),
    Refusal("shipper_not_validated", 409, "POST /transplant/orders/{id}/ship/ (validation expired)",
            shipper_not_validated),
    # haplobank (issue 14)
    Refusal("frequencies_exceed_one", 400, "POST /hla/populations/{id}/haplotypes/ (frequencies add up to 1.1)",
            frequencies_exceed_one),
    Refusal("invalid_lines", 400, "POST /hla/populations/{id}/haplotypes/ (an allele that does not parse)",
            invalid_lines),
    Refusal("no_haplotype_table", 409, "GET /hla/coverage/ (no table uploaded)", no_haplotype_table),
    Refusal("no_cohort", 409, "GET /hla/coverage/?definition=genotype (no cohort uploaded)", no_cohort),
    # quality (issue 16)
    Refusal("training_required", 409, "POST /lots/{id}/qc-results/ (an SOP governs QC results; untrained)",
            training_required),
    Refusal("equipment_not_calibrated", 409, "POST /lots/{id}/qc-results/ (instrument past its due date)",
            equipment_not_calibrated),
    Refusal("material_not_released", 409, "POST /cultures/{id}/passages/ (a medium in quarantine)",
            material_not_released),
    Refusal("material_expired", 409, "POST /cultures/{id}/passages/ (a medium expired yesterday)", material_expired),
    # accounts and sensors
    Refusal("account_locked", 403, "POST /auth/token/ (after LOGIN_FAILURE_LIMIT failures from this address)",
            account_locked),
    Refusal("sensor_not_bound", 403, "POST /storage/units/{id}/readings/ (a sensor bound to another unit)",
            sensor_not_bound),
    # user management (issue 17)
    Refusal("password_change_required", 403, "GET /me/ (token of a user an admin required to change the password)",
            password_change_required),
    Refusal("self_lockout", 409, "PATCH /accounts/{username}/ (an admin removing their own admin role)",
            self_lockout),
    Refusal("last_admin", 409, "PATCH /accounts/{username}/ (the last active admin's role)", last_admin),
    Refusal("sensor_account", 409, "POST /accounts/{username}/force-password-change/ (a sensor)", sensor_account),
    Refusal("throttled", 429, "POST /auth/token/ (over API_THROTTLE_RATES['token'])", throttled),
    # the API itself
    Refusal("not_authenticated", 401, "GET /lots/ (no credentials)", not_authenticated),
    Refusal("authentication_failed", 401, "GET /lots/ (unknown token)", authentication_failed),
    Refusal("permission_denied", 403, "GET /lots/ (researcher)", permission_denied),
    Refusal("permission_denied", 403, "POST /lots/{id}/release/ (admin without the qa role)",
            permission_denied_for_a_signer_without_the_qa_role, "signer"),
    Refusal("not_found", 404, "GET /lots/{id}/", not_found),
    Refusal("method_not_allowed", 405, "DELETE /me/", method_not_allowed),
    Refusal("not_acceptable", 406, "GET /me/ (Accept: application/xml)", not_acceptable),
    Refusal("unsupported_media_type", 415, "POST /qc/deviations/ (XML body)", unsupported_media_type),
    Refusal("parse_error", 400, "POST /qc/deviations/ (broken JSON)", parse_error),
    Refusal("page_too_deep", 400, "GET /vials/?page=202 (past the rows a keyset list reaches by number)",
            page_too_deep),
    Refusal("protected", 409, "POST /storage/units/{id}/evacuate/ (delete simulated)", protected),
]

# API.md "Additions (issues #8 and later)", by section.
ACCOUNTS = 'API.md Additions: "Accounts and sensors"'
SHARING = 'API.md Additions: "Sharing and compliance"'
QUALITY = 'API.md Additions: "Quality management"'

PENDING: list[Pending] = []

# Codes that appear in the code but are not refusals of the API (no answer carries them as its ``code``).
NOT_REFUSALS = {
    # Django ValidationError codes of generated names: they reach the API as a 400 ``non_field_errors`` message
    # (no ``code``); see test_name_exhaustion_is_a_400_without_a_code.
    "numbers_exhausted": "lots.naming.allocate: the 999 hPSCreg numbers of an institute are used up",
    "subclones_exhausted": "lots.naming.next_subclone: every subclone letter A..ZZ of a line is taken",
    # Unreachable: the name checked is the one the bank just generated from a validated institute code.
    "invalid_hpscreg_name": "lots.naming.validate_hpscreg_name: a guard on the generated name",
    # A query parameter outside its choices (bank/api/filters.py): a 400 {"param": [message]} field error.
    "invalid_choice": "django ChoiceField validation of a filter parameter",
    # An ORM lookup of the QC catalog (QCTest.objects.get(code="viability")), not an error code.
    "viability": "the code of the viability QC test",
    # DomainError's fallbacks, never answered: every Conflict/Forbidden names its code (see
    # test_every_domain_error_names_its_code).
    "conflict": "bank.errors.Conflict.default_code",
    "forbidden": "bank.errors.Forbidden.default_code",
    # DRF: ValidationError answers 400 {"field": [messages]} without a code; APIException's "error" is its generic
    # fallback (and the bank's handler's code for a compound error detail), raised by no view.
    "invalid": "rest_framework.exceptions.ValidationError.default_code",
    "error": "rest_framework.exceptions.APIException.default_code",
}


def all_codes() -> set[str]:
    return set(refusals.contract_codes()) | set(refusals.project_codes()) | set(refusals.drf_codes())


# --- the tests --------------------------------------------------------------------------------------------------


@pytest.fixture
def ctx(users, settings, monkeypatch, password) -> Ctx:
    return Ctx(users=users, settings=settings, monkeypatch=monkeypatch, password=password)


@pytest.mark.parametrize("entry", TABLE, ids=[entry.id for entry in TABLE])
def test_the_refusal_is_provoked_through_the_api(entry: Refusal, ctx):
    response = entry.scenario(ctx)
    if entry.page_message:
        body = response.content.decode()
        assert response.status_code == entry.status, body[:2000]
        assert entry.page_message in body
        return
    body = response.json()
    assert (response.status_code, body.get("code")) == (entry.status, entry.code), body
    assert body.get("detail"), body


def test_every_code_has_an_entry():
    """A code of API.md, of the project's code or of DRF without an entry (or a pending or non-refusal listing)."""
    covered = {e.code for e in TABLE} | {p.code for p in PENDING} | set(NOT_REFUSALS)
    missing = sorted(all_codes() - covered)
    sources = refusals.project_code_sources()
    assert not missing, "codes without a TABLE entry: " + "; ".join(
        f"{code} ({', '.join(s.where for s in sources.get(code, ())) or 'API.md or DRF'})" for code in missing)


def test_every_entry_names_a_code_that_exists():
    known = all_codes()
    stale = sorted({e.code for e in TABLE} - known)
    assert not stale, f"TABLE entries for codes that no longer exist anywhere: {stale}"
    unnamed = sorted({p.code for p in PENDING} - set(refusals.contract_codes()) - set(refusals.drf_codes()))
    assert not unnamed, f"PENDING codes the contract does not name: {unnamed}"
    gone = sorted(set(NOT_REFUSALS) - set(refusals.project_codes()) - set(refusals.drf_codes()))
    assert not gone, f"NOT_REFUSALS codes that no longer exist: {gone}"


def test_the_lists_do_not_overlap():
    table, pending = {e.code for e in TABLE}, {p.code for p in PENDING}
    assert not table & pending and not table & set(NOT_REFUSALS) and not pending & set(NOT_REFUSALS)
    assert len({e.id for e in TABLE}) == len(TABLE) and len(pending) == len(PENDING)


@pytest.mark.parametrize("code", sorted(NOT_REFUSALS))
def test_a_code_listed_as_no_refusal_is_never_raised_as_one(code):
    """A field-validation code turned into Conflict/Forbidden(code=...) is an API refusal: it needs a TABLE entry."""
    raised = refusals.raised_as_domain_error(code)
    assert not raised, f"{code} is now a refusal ({', '.join(s.where for s in raised)}): give it a TABLE entry"


def test_every_domain_error_names_its_code():
    assert refusals.domain_errors_without_code() == []


def test_the_contract_parser_reads_exactly_the_reviewed_codes():
    sample = ("- `POST /x/` `{\"a\"}` → 409 `first_code` (with `field_name`), `second_code`; else 403\n"
              "  `third_code`. `not_a_code` is a field. A status `fourth_word` before any number.")
    assert refusals.codes_in_contract(sample) == {"first_code", "second_code", "third_code"}
    if refusals.API_MD.exists():  # ../shared/API.md beside the project (the reviewed list stands in otherwise)
        found = refusals.codes_in_contract(refusals.API_MD.read_text(encoding="utf-8"))
        assert found == refusals.API_MD_CODES, (
            f"API.md changed: new {sorted(found - refusals.API_MD_CODES)}, gone {sorted(refusals.API_MD_CODES - found)}"
            " — review the list in tests/bank/refusals.py and give every new code a TABLE entry")


def test_a_pending_code_is_not_built_yet():
    """A PENDING code whose feature now exists must move to TABLE with a scenario that provokes it through the API.
    (Every code of API.md is built since issues 15 and 16: the list is empty, and this keeps it honest when the
    contract grows.)"""
    built = [f"{p.code} ({p.issue})" for p in PENDING if p.is_built()]
    assert not built, f"built now, move from PENDING to TABLE: {built}"


@pytest.mark.parametrize("code", ["numbers_exhausted", "subclones_exhausted"])
def test_name_exhaustion_is_a_400_without_a_code(code, users, api, settings, monkeypatch):
    """The naming codes of NOT_REFUSALS reach the API as a 400 ``non_field_errors`` message, never a 500."""
    from bank.models import Sequence
    from lots import naming

    line = CellLineFactory()
    body = {"collection": line.collection_id, "cell_type": "iPSC", "grade": "research",
            "reprogramming_method": "sendai"}
    if code == "numbers_exhausted":
        Sequence.objects.create(key=f"name:{settings.INSTITUTE_CODE}{naming.HPSCREG_KIND['iPSC']}",
                                last_value=naming.HPSCREG_MAX_NUMBER)
        message = "used up"
    else:  # a subclone of a line whose letters are all taken (the alphabet shortened to the one letter it has)
        monkeypatch.setattr(naming, "subclone_letters", lambda: iter([line.subclone]))
        body["parent_line"] = line.pk
        message = "subclone letter"
    response = api(users["technician"]).post("/api/v1/cell-lines/", body, format="json")
    assert response.status_code == 400 and "code" not in response.json(), response.json()
    assert message in " ".join(response.json()["non_field_errors"])
