"""The gates on bench work through the API (API.md "Quality management"): training_required,
equipment_not_calibrated, material_not_released, material_expired — and adoption step by step (no governing record:
allowed)."""

from __future__ import annotations

import pytest

from lots.models import Lot, Passage
from qc.models import QCResult
from quality.models import InstrumentUse, MaterialUse
from tests.factories import CultureFactory, UserFactory
from tests.qc.factories import qc_lot
from tests.quality.helpers import approve, days, instrument, material, today, train

pytestmark = pytest.mark.django_db


def qc_post(client, lot, **extra):
    body = {"test": "sterility", "outcome": "negative", "tested_on": today().isoformat(), "method": "BacT/ALERT",
            **extra}
    return client.post(f"/api/v1/lots/{lot.pk}/qc-results/", body, format="json")


def freeze_body(line, **extra):
    return {"cell_line": line.pk, "tier": "MCB", "passage": 8, "vial_count": 2, "cells_per_vial": 1_000_000,
            "volume_ml": "1.0", "cryoprotectant": "CryoStor CS10", "frozen_on": today().isoformat(), **extra}


# --- training ----------------------------------------------------------------------------------------------------


def test_no_sop_for_the_activity_allows_it(users, api):
    lot = qc_lot()
    response = qc_post(api(users["technician"]), lot)
    assert response.status_code == 201, response.json()


def test_an_sop_governing_qc_results_refuses_an_untrained_technician(users, api):
    approve("SOP-QC-001", "1", ["qc_result"])
    lot = qc_lot()
    response = qc_post(api(users["technician"]), lot)
    assert response.status_code == 409, response.json()
    assert response.json()["code"] == "training_required"
    assert response.json()["sop"] == "SOP-QC-001"
    assert not QCResult.objects.filter(lot=lot).exists()  # nothing half-saved


def test_a_current_training_allows_it(users, api):
    version = approve("SOP-QC-001", "1", ["qc_result"])
    train(users["technician"], version)
    assert qc_post(api(users["technician"]), qc_lot()).status_code == 201


def test_an_expired_training_is_refused(users, api):
    version = approve("SOP-QC-001", "1", ["qc_result"])
    train(users["technician"], version, trained_on=days(-400), expires_on=days(-1))
    response = qc_post(api(users["technician"]), qc_lot())
    assert (response.status_code, response.json()["code"]) == (409, "training_required")


def test_a_new_version_needs_retraining_from_its_effective_date(users, api):
    v1 = approve("SOP-QC-001", "1", ["qc_result"], effective_on=days(-60))
    train(users["technician"], v1, trained_on=days(-50))
    client = api(users["technician"])
    assert qc_post(client, qc_lot()).status_code == 201
    v2 = approve("SOP-QC-001", "2", ["qc_result"], effective_on=days(-1))
    # Work dated before v2 took effect is still governed by v1; work from its effective date needs v2.
    assert qc_post(client, qc_lot(), tested_on=days(-2).isoformat()).status_code == 201
    refused = qc_post(client, qc_lot())
    assert (refused.status_code, refused.json()["code"], refused.json()["version"]) == (409, "training_required", "2")
    train(users["technician"], v2, trained_on=days(-1))
    assert qc_post(client, qc_lot()).status_code == 201


def test_a_version_not_yet_effective_does_not_govern(users, api):
    approve("SOP-QC-001", "1", ["qc_result"], effective_on=days(5))
    assert qc_post(api(users["technician"]), qc_lot()).status_code == 201


def test_an_sop_of_another_activity_does_not_govern(users, api):
    approve("SOP-SHIP-001", "1", ["ship"])
    assert qc_post(api(users["technician"]), qc_lot()).status_code == 201


def test_a_setting_can_require_an_sop(users, api, settings):
    settings.QUALITY_REQUIRE_SOP_FOR = ["qc_result"]
    response = qc_post(api(users["technician"]), qc_lot())
    assert (response.status_code, response.json()["code"]) == (409, "training_required")


def test_the_passage_gate_through_the_api(users, api):
    version = approve("SOP-CUL-001", "1", ["passage"])
    culture = CultureFactory()
    client = api(users["technician"])
    url = f"/api/v1/cultures/{culture.pk}/passages/"
    response = client.post(url, {"passaged_on": today().isoformat()}, format="json")
    assert (response.status_code, response.json()["code"]) == (409, "training_required")
    assert not Passage.objects.filter(culture=culture).exists()
    train(users["technician"], version)
    assert client.post(url, {"passaged_on": today().isoformat()}, format="json").status_code == 201


# --- equipment ---------------------------------------------------------------------------------------------------


def test_a_qc_result_citing_an_overdue_instrument_is_refused(users, api):
    instrument("CC-01", due=days(-1))
    lot = qc_lot()
    response = qc_post(api(users["technician"]), lot, instrument="CC-01")
    assert response.status_code == 409, response.json()
    assert (response.json()["code"], response.json()["equipment"]) == ("equipment_not_calibrated", "CC-01")
    assert not QCResult.objects.filter(lot=lot).exists()


def test_a_failed_calibration_refuses_until_a_passing_one(users, api):
    from quality.services import record_calibration

    item = instrument("CC-01", due=days(60))
    qa = UserFactory(username="calib-qa", role="qa")
    record_calibration(item, actor=qa, performed_on=today(), passed=False, next_due_on=days(180))
    client = api(users["technician"])
    assert qc_post(client, qc_lot(), instrument="CC-01").json()["code"] == "equipment_not_calibrated"
    record_calibration(item, actor=qa, performed_on=today(), passed=True, next_due_on=days(180))
    lot = qc_lot()
    assert qc_post(client, lot, instrument="CC-01").status_code == 201
    assert InstrumentUse.objects.filter(equipment=item, qc_result__lot=lot).count() == 1


def test_an_unregistered_instrument_text_is_kept_on_a_qc_result(users, api):
    assert qc_post(api(users["technician"]), qc_lot(), instrument="kit lot 42").status_code == 201


def test_a_freeze_citing_an_overdue_instrument_is_refused(users, api):
    instrument("CRF-01", due=days(-3), kind="controlled_rate_freezer")
    line = qc_lot().cell_line
    before = Lot.objects.count()
    response = api(users["technician"]).post("/api/v1/lots/", freeze_body(line, instrument="CRF-01"), format="json")
    assert (response.status_code, response.json()["code"]) == (409, "equipment_not_calibrated"), response.json()
    assert Lot.objects.count() == before


def test_a_freeze_citing_an_unknown_instrument_is_a_400(users, api):
    line = qc_lot().cell_line
    response = api(users["technician"]).post("/api/v1/lots/", freeze_body(line, instrument="NOPE"), format="json")
    assert response.status_code == 400 and "instrument" in response.json()


# --- materials ---------------------------------------------------------------------------------------------------


def test_a_passage_citing_a_quarantined_material_is_refused(users, api):
    medium = material("MT-Q", released=False)
    culture = CultureFactory()
    response = api(users["technician"]).post(f"/api/v1/cultures/{culture.pk}/passages/", {
        "passaged_on": today().isoformat(), "materials": [medium.pk]}, format="json")
    assert (response.status_code, response.json()["code"]) == (409, "material_not_released"), response.json()
    assert response.json()["materials"] == [medium.pk]
    assert not MaterialUse.objects.exists()


def test_a_passage_citing_an_expired_material_is_refused(users, api):
    from quality.models import Material

    medium = material("MT-X")
    Material.objects.filter(pk=medium.pk).update(expires_on=days(-1))
    culture = CultureFactory()
    response = api(users["technician"]).post(f"/api/v1/cultures/{culture.pk}/passages/", {
        "passaged_on": today().isoformat(), "materials": [medium.pk]}, format="json")
    assert (response.status_code, response.json()["code"]) == (409, "material_expired"), response.json()


def test_a_material_used_on_its_expiry_day_is_allowed(users, api):
    medium = material("MT-E", expires_on=today())
    culture = CultureFactory()
    response = api(users["technician"]).post(f"/api/v1/cultures/{culture.pk}/passages/", {
        "passaged_on": today().isoformat(), "materials": [medium.pk]}, format="json")
    assert response.status_code == 201, response.json()
    assert MaterialUse.objects.get(material=medium).passage_id == response.json()["id"]


def test_a_freeze_citing_an_unreleased_cryoprotectant_is_refused(users, api):
    cryo = material("CS10-9", released=False, name="CryoStor CS10")
    line = qc_lot().cell_line
    response = api(users["technician"]).post("/api/v1/lots/", freeze_body(line, materials=[cryo.pk]), format="json")
    assert (response.status_code, response.json()["code"]) == (409, "material_not_released")


def test_an_unknown_material_is_a_400(users, api):
    culture = CultureFactory()
    response = api(users["technician"]).post(f"/api/v1/cultures/{culture.pk}/passages/", {
        "passaged_on": today().isoformat(), "materials": [999999]}, format="json")
    assert response.status_code == 400 and "materials" in response.json()


def test_a_setting_can_require_materials(users, api, settings):
    settings.QUALITY_REQUIRE_MATERIALS = True
    culture = CultureFactory()
    response = api(users["technician"]).post(f"/api/v1/cultures/{culture.pk}/passages/", {
        "passaged_on": today().isoformat()}, format="json")
    assert response.status_code == 400 and "materials" in response.json()


def test_qa_rejects_a_failed_material_lot_and_it_can_never_be_cited(users, api, password):
    """Incoming inspection can fail: QA rejects the quarantined lot with an e-signature and the reason (API); a
    reason is required, a released lot cannot be rejected, and a rejected lot is refused at the bench."""
    from bank.models import Signature

    medium = material("MT-REJ", released=False)
    client = api(users["qa"])
    url = f"/api/v1/quality/materials/{medium.pk}/reject/"
    assert client.post(url, {"password": password}, format="json").status_code == 400  # no reason
    assert client.post(url, {"password": "wrong", "reason": "CoA mismatch"}, format="json").status_code in (400, 403)
    assert api(users["technician"]).post(url, {"password": password, "reason": "x"}, format="json").status_code == 403
    response = client.post(url, {"password": password, "reason": "pH out of range on receipt"}, format="json")
    assert response.status_code == 200 and response.json()["status"] == "rejected", response.json()
    assert Signature.objects.filter(meaning="rejection", object_id=medium.pk).count() == 1
    again = client.post(url, {"password": password, "reason": "twice"}, format="json")
    assert (again.status_code, again.json()["code"]) == (409, "invalid_transition")
    released = material("MT-OK")
    refused = client.post(f"/api/v1/quality/materials/{released.pk}/reject/",
                          {"password": password, "reason": "late"}, format="json")
    assert (refused.status_code, refused.json()["code"]) == (409, "invalid_transition")
    culture = CultureFactory()
    cited = api(users["technician"]).post(f"/api/v1/cultures/{culture.pk}/passages/", {
        "passaged_on": today().isoformat(), "materials": [medium.pk]}, format="json")
    assert (cited.status_code, cited.json()["code"]) == (409, "material_not_released"), cited.json()
