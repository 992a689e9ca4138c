"""QA release and rejection: every refusal code of API.md, in its order, through the service and the API."""

import datetime
from decimal import Decimal

import pytest
from django.utils import timezone

from bank.errors import Conflict, Forbidden
from bank.models import AuthEvent, Signature
from bank.signatures import signatures_for
from lots.services import flag_lots_for_withdrawn_consent
from qc import services
from qc.certificate import certificate_content, certificate_pdf
from qc.models import Deviation, LotDecision, StabilityPlan
from tests.factories import CollectionFactory, full_negative_panel
from tests.qc.factories import enter_panel, panel_codes, qc_lot

pytestmark = pytest.mark.django_db


def release(lot, user, password, meaning="release"):
    return services.release_lot(lot, actor=user, password=password, meaning=meaning)


def refused(func, *args, **kwargs):
    with pytest.raises((Conflict, Forbidden)) as caught:
        func(*args, **kwargs)
    return caught.value


def close_all_deviations(lot, qa_user, password):
    for dev in Deviation.objects.filter(lot=lot, status="open"):
        services.update_deviation(dev, actor=qa_user, investigation="Retested", root_cause="Sampling error",
                                  capa="Retrain on aseptic sampling")
        services.close_deviation(dev, actor=qa_user, password=password)


# --- the happy path ----------------------------------------------------------------------------------


def test_release_signs_records_decision_sets_status_and_starts_a_stability_plan(users, password):
    lot = qc_lot()
    enter_panel(lot, users["technician"])
    decision = release(lot, users["qa"], password)
    lot.refresh_from_db()
    assert lot.status == "released"
    assert decision.decision == "release" and decision.decided_by == users["qa"]
    assert decision.specification.version == 1
    sig = signatures_for(decision).get()
    assert sig.signer == users["qa"] and sig.meaning == "release"
    assert lot.lot_number in sig.statement
    plan = StabilityPlan.objects.get(lot=lot)
    assert plan.interval_days == 365
    assert plan.min_viability_pct == Decimal("70")  # the iPSC MCB spec's viability limit
    assert plan.next_due_on == timezone.localdate() + datetime.timedelta(days=365)
    assert lot.history.first().history_user == users["qa"]


def test_msc_lot_plan_takes_its_specs_viability_limit(users, password, settings):
    settings.STABILITY_INTERVAL_DAYS = 180
    lot = qc_lot(line_cell_type="UC-MSC", line_reprogramming_method="")
    enter_panel(lot, users["technician"])
    release(lot, users["qa"], password)
    plan = StabilityPlan.objects.get(lot=lot)
    assert (plan.interval_days, plan.min_viability_pct) == (180, Decimal("80"))


def test_reference_criteria_do_not_block(users, password):
    lot = qc_lot()
    # Mark pluripotency as reference in a new version, then judge a new lot by it.
    from qc.queries import spec_in_force

    current = spec_in_force("iPSC", "MCB")
    criteria = [{"test": c.test.code, "min": c.min_value, "max": c.max_value, "expected": c.expected,
                 "blocking": c.test.code != "pluripotency", "only_for_reprogramming": c.only_for_reprogramming}
                for c in current.criteria.all()]
    services.publish_specification(actor=users["qa"], cell_type="iPSC", tier="MCB", criteria=criteria)
    enter_panel(lot, users["technician"], skip=("pluripotency",))
    services.record_qc_result(lot, actor=users["technician"], test="pluripotency", value="40",
                              tested_on=timezone.localdate())
    assert not Deviation.objects.filter(lot=lot).exists()  # a reference result opens no deviation
    release(lot, users["qa"], password)
    lot.refresh_from_db()
    assert lot.status == "released"


# --- every refusal code ----------------------------------------------------------------------------------


def test_role_technician_and_admin_without_qa_role_cannot_sign(users, password):
    lot = qc_lot()
    for who in ("technician", "admin", "researcher"):
        error = refused(release, lot, users[who], password)
        assert (error.code, error.status) == ("permission_denied", 403)
    assert not AuthEvent.objects.filter(kind="signature_failed").exists()  # refused before the password


def test_signature_invalid_is_recorded_and_nothing_changes(users):
    lot = qc_lot()
    enter_panel(lot, users["technician"])
    error = refused(release, lot, users["qa"], "wrong-password")
    assert error.code == "signature_invalid" and error.status == 403
    assert AuthEvent.objects.filter(username="qa", kind="signature_failed").count() == 1
    lot.refresh_from_db()
    assert lot.status == "quarantine" and not LotDecision.objects.exists() and not Signature.objects.exists()


def test_segregation_of_duties(users, password):
    lot = qc_lot()
    enter_panel(lot, users["technician"], skip=("viability",))
    services.record_qc_result(lot, actor=users["qa"], test="viability", value="90", tested_on=timezone.localdate())
    error = refused(release, lot, users["qa"], password)
    assert (error.code, error.status) == ("segregation_of_duties", 403)
    error = refused(services.reject_lot, lot, actor=users["qa"], password=password, reason="x")
    assert error.code == "segregation_of_duties"


def test_qc_incomplete_names_the_missing_tests(users, password):
    lot = qc_lot()
    enter_panel(lot, users["technician"], skip=("karyotype", "sendai_clearance"))
    error = refused(release, lot, users["qa"], password)
    assert error.code == "qc_incomplete" and error.status == 409
    assert error.extra["missing"] == ["karyotype", "sendai_clearance"]


def test_qc_incomplete_without_any_result_lists_the_whole_panel(users, password):
    lot = qc_lot()
    error = refused(release, lot, users["qa"], password)
    assert error.code == "qc_incomplete" and error.extra["missing"] == panel_codes(lot)


def test_sendai_clearance_is_required_only_for_sendai_lines(users, password):
    episomal = qc_lot(line_reprogramming_method="episomal")
    assert "sendai_clearance" not in panel_codes(episomal)
    enter_panel(episomal, users["technician"])
    release(episomal, users["qa"], password)
    sendai = qc_lot()
    enter_panel(sendai, users["technician"], skip=("sendai_clearance",))
    assert refused(release, sendai, users["qa"], password).extra["missing"] == ["sendai_clearance"]


def test_qc_failed_the_latest_result_counts(users, password):
    lot = qc_lot()
    enter_panel(lot, users["technician"], override={"endotoxin": {"value": "7.5"}})
    close_all_deviations(lot, users["qa"], password)
    error = refused(release, lot, users["qa"], password)
    assert error.code == "qc_failed" and error.extra["failed"] == ["endotoxin"]
    # A passing retest is a new result; the failing one stays and the latest counts.
    services.record_qc_result(lot, actor=users["technician"], test="endotoxin", value="0.3",
                              tested_on=timezone.localdate())
    release(lot, users["qa"], password)
    assert lot.qc_results.filter(test__code="endotoxin").count() == 2


def test_a_later_failure_overrides_an_earlier_pass(users, password):
    lot = qc_lot()
    enter_panel(lot, users["technician"])
    services.record_qc_result(lot, actor=users["technician"], test="sterility", outcome="positive",
                              tested_on=timezone.localdate())
    close_all_deviations(lot, users["qa"], password)
    assert refused(release, lot, users["qa"], password).extra["failed"] == ["sterility"]


def test_open_deviation_blocks_until_closed(users, password):
    lot = qc_lot()
    enter_panel(lot, users["technician"], override={"viability": {"value": "50"}})
    services.record_qc_result(lot, actor=users["technician"], test="viability", value="85",
                              tested_on=timezone.localdate())
    error = refused(release, lot, users["qa"], password)
    assert error.code == "open_deviation" and error.extra["deviations"] == [Deviation.objects.get(lot=lot).number]
    close_all_deviations(lot, users["qa"], password)
    release(lot, users["qa"], password)


def test_donor_not_eligible(users, password):
    collection = CollectionFactory()  # no screening at all: incomplete
    lot = qc_lot(line_collection=collection, line_donor=collection.donor)
    enter_panel(lot, users["technician"])
    error = refused(release, lot, users["qa"], password)
    assert error.code == "donor_not_eligible" and error.extra["eligibility"] == "incomplete"
    assert "hiv_ab" in error.extra["missing_markers"]


def test_donor_with_a_positive_marker_is_not_eligible(users, password):
    collection = CollectionFactory()
    full_negative_panel(collection, result="positive")
    lot = qc_lot(line_collection=collection, line_donor=collection.donor)
    enter_panel(lot, users["technician"])
    error = refused(release, lot, users["qa"], password)
    assert error.code == "donor_not_eligible" and error.extra["eligibility"] == "ineligible"


def test_consent_withdrawn_on_the_donor_or_flagged_on_the_lot(users, password):
    lot = qc_lot()
    enter_panel(lot, users["technician"])
    donor = lot.cell_line.donor
    donor.consent_withdrawn_at = timezone.now()
    donor.save(update_fields=["consent_withdrawn_at"])
    assert refused(release, lot, users["qa"], password).code == "consent_withdrawn"
    other = qc_lot()
    enter_panel(other, users["technician"])
    flag_lots_for_withdrawn_consent(other.cell_line.donor, actor=users["coordinator"], reason="withdrawn")
    assert refused(release, other, users["qa"], password).code == "consent_withdrawn"


def test_refusal_order_when_everything_applies(users, password):
    """role → signature_invalid → segregation → qc_incomplete → qc_failed → open_deviation → donor → consent."""
    collection = CollectionFactory()  # donor not eligible
    lot = qc_lot(line_collection=collection, line_donor=collection.donor)
    donor = lot.cell_line.donor
    donor.consent_withdrawn_at = timezone.now()
    donor.save(update_fields=["consent_withdrawn_at"])
    enter_panel(lot, users["technician"], skip=("karyotype",), override={"endotoxin": {"value": "9"}})
    services.record_qc_result(lot, actor=users["qa"], test="pluripotency", value="90", tested_on=timezone.localdate())
    qa = users["qa"]

    def code(user=qa, pw=password):
        return refused(release, lot, user, pw).code

    assert code(users["technician"], "wrong") == "permission_denied"
    assert code(qa, "wrong") == "signature_invalid"
    assert code() == "segregation_of_duties"
    qa2 = _another_qa()
    assert code(qa2) == "qc_incomplete"
    services.record_qc_result(lot, actor=users["technician"], test="karyotype", outcome="normal",
                              tested_on=timezone.localdate())
    assert code(qa2) == "qc_failed"
    services.record_qc_result(lot, actor=users["technician"], test="endotoxin", value="1",
                              tested_on=timezone.localdate())
    assert code(qa2) == "open_deviation"
    close_all_deviations(lot, qa, password)
    assert code(qa2) == "donor_not_eligible"
    full_negative_panel(collection)
    assert code(qa2) == "consent_withdrawn"
    donor.consent_withdrawn_at = None
    donor.save(update_fields=["consent_withdrawn_at"])
    release(lot, qa2, password)


def _another_qa():
    from tests.factories import UserFactory

    return UserFactory(username="qa-two", role="qa", first_name="Liu", last_name="Yang")


def test_a_released_lot_cannot_be_released_again(users, password):
    lot = qc_lot()
    enter_panel(lot, users["technician"])
    release(lot, users["qa"], password)
    assert refused(release, lot, users["qa"], password).code == "invalid_transition"


# --- rejection ----------------------------------------------------------------------------------------


def test_reject_is_signed_with_a_reason(users, password):
    lot = qc_lot()
    enter_panel(lot, users["technician"], override={"sterility": {"outcome": "positive"}})
    decision = services.reject_lot(lot, actor=users["qa"], password=password, reason="Sterility positive")
    lot.refresh_from_db()
    assert lot.status == "rejected" and decision.reason == "Sterility positive"
    assert signatures_for(decision).get().meaning == "rejection"


def test_reject_needs_a_reason_and_the_right_password(users, password):
    from django.core.exceptions import ValidationError

    lot = qc_lot()
    with pytest.raises(ValidationError):
        services.reject_lot(lot, actor=users["qa"], password=password, reason=" ")
    assert refused(services.reject_lot, lot, actor=users["qa"], password="nope", reason="x").code == \
        "signature_invalid"
    lot.refresh_from_db()
    assert lot.status == "quarantine"


# --- the API -------------------------------------------------------------------------------------------


def test_api_release_and_every_refusal_code(users, password, api):
    collection = CollectionFactory()
    lot = qc_lot(line_collection=collection, line_donor=collection.donor)
    donor = lot.cell_line.donor
    donor.consent_withdrawn_at = timezone.now()
    donor.save(update_fields=["consent_withdrawn_at"])
    url = f"/api/v1/lots/{lot.pk}/release/"
    body = {"password": password, "meaning": "release"}
    assert api().post(url, body).status_code == 401
    tech = api(users["technician"]).post(url, body)
    assert (tech.status_code, tech.json()["code"]) == (403, "permission_denied")
    qa = api(users["qa"])
    bad = qa.post(url, {"password": "wrong", "meaning": "release"})
    assert (bad.status_code, bad.json()["code"]) == (403, "signature_invalid")
    assert qa.post(url, {"meaning": "release"}).status_code == 400  # bad input: no password
    services.record_qc_result(lot, actor=users["qa"], test="viability", value="91", tested_on=timezone.localdate())
    seg = qa.post(url, body)
    assert (seg.status_code, seg.json()["code"]) == (403, "segregation_of_duties")
    qa2 = api(_another_qa())
    incomplete = qa2.post(url, body)
    assert (incomplete.status_code, incomplete.json()["code"]) == (409, "qc_incomplete")
    assert "sterility" in incomplete.json()["missing"] and "viability" not in incomplete.json()["missing"]
    enter_panel(lot, users["technician"], skip=("viability",), override={"mycoplasma": {"outcome": "positive"}})
    failed = qa2.post(url, body)
    assert (failed.status_code, failed.json()["code"], failed.json()["failed"]) == (409, "qc_failed", ["mycoplasma"])
    services.record_qc_result(lot, actor=users["technician"], test="mycoplasma", outcome="negative",
                              tested_on=timezone.localdate())
    assert qa2.post(url, body).json()["code"] == "open_deviation"
    close_all_deviations(lot, users["qa"], password)
    assert qa2.post(url, body).json()["code"] == "donor_not_eligible"
    full_negative_panel(collection)
    assert qa2.post(url, body).json()["code"] == "consent_withdrawn"
    donor.consent_withdrawn_at = None
    donor.save(update_fields=["consent_withdrawn_at"])
    ok = qa2.post(url, body)
    assert ok.status_code == 200, ok.json()
    data = ok.json()
    assert data["lot_status"] == "released" and data["decision"] == "release"
    assert data["signatures"][0]["printed_name"] == "Liu Yang" and data["signatures"][0]["meaning"] == "release"


def test_api_reject(users, password, api):
    lot = qc_lot()
    url = f"/api/v1/lots/{lot.pk}/reject/"
    assert api(users["technician"]).post(url, {"password": password, "reason": "x"}).status_code == 403
    assert api(users["qa"]).post(url, {"password": password}).status_code == 400
    response = api(users["qa"]).post(url, {"password": password, "reason": "Karyotype abnormal"})
    assert response.status_code == 200 and response.json()["lot_status"] == "rejected"
    again = api(users["qa"]).post(url, {"password": password, "reason": "again"})
    assert (again.status_code, again.json()["code"]) == (409, "invalid_transition")


def test_api_release_readiness(users, api):
    lot = qc_lot()
    enter_panel(lot, users["technician"], skip=("karyotype",))
    data = api(users["qa"]).get(f"/api/v1/lots/{lot.pk}/release-readiness/").json()
    assert data["ready"] is False and data["blockers"][0]["code"] == "qc_incomplete"
    states = {row["test"]: row["state"] for row in data["tests"]}
    assert states["karyotype"] == "missing" and states["sterility"] == "passed"


# --- certificate of analysis -------------------------------------------------------------------------------


def test_certificate_only_once_released(users, password, api, client):
    lot = qc_lot()
    enter_panel(lot, users["technician"])
    url = f"/api/v1/lots/{lot.pk}/certificate.pdf"
    early = api(users["qa"]).get(url)
    assert (early.status_code, early.json()["code"]) == (409, "not_released")
    release(lot, users["qa"], password)
    response = api(users["technician"]).get(url)
    assert response.status_code == 200 and response["Content-Type"] == "application/pdf"
    assert response.content.startswith(b"%PDF") and b"/Type /Page" in response.content
    content = certificate_content(lot)
    facts = dict(content["facts"])
    assert facts["Lot"] == lot.lot_number and facts["Passage at freeze"] == "10"
    assert facts["Cell line"].startswith(lot.cell_line.name) and facts["Specification"] == "iPSC MCB — version 1"
    rows = {row["test"]: row for row in content["rows"]}
    assert rows["endotoxin"]["criterion"] == "≤ 5 EU/mL" and rows["endotoxin"]["result"] == "0.2 EU/mL"
    assert rows["viability"]["method"] == "standard" and rows["viability"]["conclusion"] == "Pass"
    assert content["signature"]["name"] == users["qa"].get_full_name()
    assert content["signature"]["meaning"] == "Release: the lot meets its specification"
    assert api(users["researcher"]).get(url).status_code == 403
    client.force_login(users["qa"])
    page = client.get(f"/qc/lots/{lot.pk}/certificate.pdf")
    assert page.status_code == 200 and page.content.startswith(b"%PDF")


def test_certificate_shows_the_results_signed_on_not_later_ones(users, password):
    lot = qc_lot()
    enter_panel(lot, users["technician"])
    release(lot, users["qa"], password)
    services.record_qc_result(lot, actor=users["technician"], test="viability", value="75",
                              tested_on=timezone.localdate())
    rows = {row["test"]: row for row in certificate_content(lot)["rows"]}
    assert rows["viability"]["result"] == "92 %"


def test_certificate_in_simplified_chinese(users, password):
    from django.utils import translation

    lot = qc_lot()
    enter_panel(lot, users["technician"])
    release(lot, users["qa"], password)
    with translation.override("zh-hans"):
        pdf = certificate_pdf(lot)
    assert pdf.startswith(b"%PDF") and b"STSong-Light" in pdf


# --- holds ----------------------------------------------------------------------------------------------


def test_lift_hold_needs_a_passing_retest_after_the_hold(users, password):
    from tests.qc.test_stability import fail_a_recheck

    lot, recheck = fail_a_recheck(users, password)
    qa2 = _another_qa()
    old = recheck.result
    error = refused(services.lift_hold, lot, actor=qa2, password=password, cited_result=old.pk)
    assert error.code == "retest_required"
    retest = services.record_qc_result(lot, actor=users["technician"], test="viability", value="88",
                                       tested_on=timezone.localdate())
    assert refused(services.lift_hold, lot, actor=qa2, password=password, cited_result=retest.pk).code == \
        "open_deviation"
    close_all_deviations(lot, users["qa"], password)
    assert refused(services.lift_hold, lot, actor=users["technician"], password=password,
                   cited_result=retest.pk).code == "permission_denied"
    decision = services.lift_hold(lot, actor=qa2, password=password, cited_result=retest.pk, reason="Retest passed")
    lot.refresh_from_db()
    assert lot.status == "released" and decision.cited_result == retest
    assert signatures_for(decision).get().meaning == "hold_lifted"
