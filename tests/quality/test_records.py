"""The quality records through the API: SOP versions approved by e-signature, trainings, the equipment register and
its calibrations, material lots received in quarantine and released by QA's e-signature; roles."""

from __future__ import annotations

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from bank.models import Signature
from quality.models import SOP, Equipment, Material, SOPVersion, Training
from tests.quality.helpers import approve, days, instrument, material, today

pytestmark = pytest.mark.django_db


def sop_body(password, **extra):
    return {"code": "SOP-CUL-001", "title": "Passaging hPSC", "version": "1", "effective_on": today().isoformat(),
            "activities": ["passage", "freeze"], "password": password, **extra}


def test_qa_approves_an_sop_version_with_an_e_signature(users, api, password):
    response = api(users["qa"]).post("/api/v1/quality/sops/", sop_body(password), format="json")
    assert response.status_code == 201, response.json()
    body = response.json()
    assert (body["code"], body["version"], body["activities"]) == ("SOP-CUL-001", "1", ["passage", "freeze"])
    assert body["signatures"][0]["signer"] == "qa" and body["signatures"][0]["meaning"] == "approval"
    assert body["signatures"][0]["matches"] is True


def test_a_wrong_password_signs_nothing(users, api):
    response = api(users["qa"]).post("/api/v1/quality/sops/", sop_body("wrong"), format="json")
    assert (response.status_code, response.json()["code"]) == (403, "signature_invalid")
    assert not SOP.objects.exists() and not Signature.objects.exists()


@pytest.mark.parametrize("role", ["technician", "coordinator", "researcher"])
def test_only_qa_approves_sops(users, api, password, role):
    response = api(users[role]).post("/api/v1/quality/sops/", sop_body(password), format="json")
    assert response.status_code == 403
    assert not SOP.objects.exists()


def test_bad_sop_input_is_a_400(users, api, password):
    client = api(users["qa"])
    assert "activities" in client.post("/api/v1/quality/sops/", sop_body(password, activities=["dance"]),
                                       format="json").json()
    assert "title" in client.post("/api/v1/quality/sops/", sop_body(password, title=""), format="json").json()
    assert client.post("/api/v1/quality/sops/", sop_body(password), format="json").status_code == 201
    again = client.post("/api/v1/quality/sops/", sop_body(password), format="json")
    assert again.status_code == 400 and "version" in again.json()
    assert SOPVersion.objects.count() == 1


def test_an_sop_document_is_stored_through_django_storage(users, api, password, settings, tmp_path):
    settings.STORAGES = {**settings.STORAGES, "default": {"BACKEND": "django.core.files.storage.FileSystemStorage",
                                                          "OPTIONS": {"location": str(tmp_path)}}}
    upload = SimpleUploadedFile("sop.pdf", b"%PDF-1.4 SOP", content_type="application/pdf")
    response = api(users["qa"]).post("/api/v1/quality/sops/", {**sop_body(password), "document": upload,
                                                               "activities": ["passage"]}, format="multipart")
    assert response.status_code == 201, response.json()
    version = SOPVersion.objects.get()
    assert version.document.name.endswith("sop.pdf") and version.document.read() == b"%PDF-1.4 SOP"


def test_qa_records_a_training(users, api):
    approve("SOP-QC-001", "1")
    response = api(users["qa"]).post("/api/v1/quality/trainings/", {
        "user": "technician", "sop": "SOP-QC-001", "version": "1", "trained_on": today().isoformat(),
        "expires_on": days(365).isoformat()}, format="json")
    assert response.status_code == 201, response.json()
    assert (response.json()["user"], response.json()["sop"], response.json()["version"]) == (
        "technician", "SOP-QC-001", "1")
    listed = api(users["technician"]).get("/api/v1/quality/trainings/?user=technician").json()
    assert listed["count"] == 1


def test_bad_training_input_is_a_400(users, api):
    approve("SOP-QC-001", "1")
    client = api(users["qa"])
    for body, field in [
        ({"user": "nobody", "sop": "SOP-QC-001", "trained_on": today().isoformat()}, "user"),
        ({"user": "technician", "sop": "SOP-NONE", "trained_on": today().isoformat()}, "sop"),
        ({"user": "technician", "sop": "SOP-QC-001", "version": "9", "trained_on": today().isoformat()}, "version"),
        ({"user": "technician", "sop": "SOP-QC-001", "trained_on": today().isoformat(),
          "expires_on": days(-5).isoformat()}, "expires_on"),
    ]:
        response = client.post("/api/v1/quality/trainings/", body, format="json")
        assert response.status_code == 400 and field in response.json(), (body, response.json())
    assert not Training.objects.exists()
    assert api(users["technician"]).post("/api/v1/quality/trainings/", {
        "user": "technician", "sop": "SOP-QC-001", "trained_on": today().isoformat()}, format="json").status_code == 403


def test_equipment_and_calibrations(users, api):
    client = api(users["qa"])
    created = client.post("/api/v1/quality/equipment/", {"code": "CC-01", "name": "Countess 3",
                                                         "kind": "cell_counter",
                                                         "calibration_due_on": days(-1).isoformat()}, format="json")
    assert created.status_code == 201 and created.json()["state"] == "overdue", created.json()
    pk = created.json()["id"]
    overdue = api(users["technician"]).get("/api/v1/quality/equipment/?state=overdue").json()
    assert [e["code"] for e in overdue["results"]] == ["CC-01"]
    cal = client.post(f"/api/v1/quality/equipment/{pk}/calibrations/", {
        "performed_on": today().isoformat(), "passed": True, "next_due_on": days(365).isoformat(),
        "certificate": "CAL-2026-118"}, format="json")
    assert cal.status_code == 201, cal.json()
    assert Equipment.objects.get(pk=pk).calibration_due_on == days(365)
    assert api(users["technician"]).get("/api/v1/quality/equipment/?state=overdue").json()["count"] == 0
    bad = client.post(f"/api/v1/quality/equipment/{pk}/calibrations/", {
        "performed_on": today().isoformat(), "passed": True, "next_due_on": days(-3).isoformat()}, format="json")
    assert bad.status_code == 400 and "next_due_on" in bad.json()
    dup = client.post("/api/v1/quality/equipment/", {"code": "CC-01", "name": "x", "kind": "cell_counter",
                                                     "calibration_due_on": days(1).isoformat()}, format="json")
    assert dup.status_code == 400 and "code" in dup.json()
    assert api(users["technician"]).post(f"/api/v1/quality/equipment/{pk}/calibrations/", {
        "performed_on": today().isoformat(), "passed": True, "next_due_on": days(9).isoformat()},
        format="json").status_code == 403


def test_an_older_calibration_entered_late_does_not_move_the_due_date(users):
    from quality.services import record_calibration

    item = instrument("CC-02", due=days(100))
    record_calibration(item, actor=users["qa"], performed_on=today(), passed=True, next_due_on=days(200))
    record_calibration(item, actor=users["qa"], performed_on=days(-100), passed=False, next_due_on=days(10))
    item.refresh_from_db()
    assert (item.calibration_due_on, item.last_calibration_passed) == (days(200), True)


def test_materials_are_received_in_quarantine_and_released_by_qa(users, api, password):
    client = api(users["qa"])
    created = client.post("/api/v1/quality/materials/", {
        "name": "mTeSR Plus", "kind": "medium", "lot_number": "MT-2231", "supplier": "STEMCELL",
        "expires_on": days(200).isoformat(), "received_on": today().isoformat()}, format="json")
    assert created.status_code == 201 and created.json()["status"] == "quarantine", created.json()
    pk = created.json()["id"]
    wrong = client.post(f"/api/v1/quality/materials/{pk}/release/", {"password": "nope"}, format="json")
    assert (wrong.status_code, wrong.json()["code"]) == (403, "signature_invalid")
    assert Material.objects.get(pk=pk).status == "quarantine"
    assert api(users["technician"]).post(f"/api/v1/quality/materials/{pk}/release/", {"password": password},
                                         format="json").status_code == 403
    released = client.post(f"/api/v1/quality/materials/{pk}/release/", {"password": password,
                                                                        "inspection": "CoA checked"}, format="json")
    assert released.status_code == 200 and released.json()["status"] == "released", released.json()
    assert released.json()["signatures"][0]["meaning"] == "release"
    again = client.post(f"/api/v1/quality/materials/{pk}/release/", {"password": password}, format="json")
    assert (again.status_code, again.json()["code"]) == (409, "invalid_transition")


def test_bad_material_input_is_a_400(users, api):
    response = api(users["qa"]).post("/api/v1/quality/materials/", {
        "name": "mTeSR Plus", "kind": "medium", "lot_number": "MT-1", "supplier": "STEMCELL",
        "expires_on": days(-10).isoformat(), "received_on": today().isoformat()}, format="json")
    assert response.status_code == 400 and "expires_on" in response.json()
    material("MT-1")
    dup = api(users["qa"]).post("/api/v1/quality/materials/", {
        "name": "mTeSR Plus", "kind": "medium", "lot_number": "MT-1", "supplier": "STEMCELL Technologies",
        "expires_on": days(10).isoformat(), "received_on": today().isoformat()}, format="json")
    assert dup.status_code == 400 and "lot_number" in dup.json()


@pytest.mark.parametrize("role,status", [("qa", 200), ("technician", 200), ("coordinator", 200),
                                         ("researcher", 403), ("sensor", 403)])
@pytest.mark.parametrize("url", ["/api/v1/quality/sops/", "/api/v1/quality/trainings/",
                                 "/api/v1/quality/equipment/", "/api/v1/quality/materials/"])
def test_who_reads_the_quality_records(users, api, role, status, url):
    assert api(users[role]).get(url).status_code == status


def test_the_endpoints_are_in_the_schema():
    from drf_spectacular.generators import SchemaGenerator

    schema = SchemaGenerator().get_schema(request=None, public=True)
    documented = {(method, path) for path, operations in schema["paths"].items() for method in operations}
    assert {("post", "/api/v1/quality/sops/"), ("post", "/api/v1/quality/trainings/"),
            ("post", "/api/v1/quality/equipment/"), ("post", "/api/v1/quality/equipment/{id}/calibrations/"),
            ("post", "/api/v1/quality/materials/"), ("post", "/api/v1/quality/materials/{id}/release/"),
            ("get", "/api/v1/quality/materials/{id}/trace/"), ("get", "/api/v1/quality/equipment/")} <= documented
    lot = schema["components"]["schemas"]["LotCreateRequest"]["properties"]
    assert "instrument" in lot and "materials" in lot


def test_a_training_without_a_version_is_on_the_version_in_force_not_the_next(users):
    """"Leave empty for the version in force": a version approved for next month is not the one trained on today
    (the gate would still find the trainee untrained)."""
    from quality import services
    from tests.quality.helpers import qa_user

    current = approve("SOP-CUL-009", "1", ["passage"], effective_on=days(-30))
    approve("SOP-CUL-009", "2", ["passage"], effective_on=days(30))
    training = services.record_training(actor=qa_user(), user=users["technician"], sop="SOP-CUL-009", version="",
                                        trained_on=today())
    assert training.sop_version_id == current.pk
