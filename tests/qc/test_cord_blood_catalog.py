"""QC by stage (issue 12): the cord blood tests of the catalog, the CB-HSC unit banking specification (version 2)
and QA adding a test in the browser."""

import datetime
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError
from django.urls import reverse
from django.utils import timezone

from bank.errors import Conflict
from qc import services
from qc.models import QCTest, Specification
from qc.queries import spec_in_force
from tests import cordblood_factories as cb
from tests.qc.factories import enter_panel

pytestmark = pytest.mark.django_db

CORD_TESTS = {"abo_rh": "post_processing", "haemoglobinopathy": "post_processing", "nrbc": "post_processing",
              "cfu_count": "post_processing", "viable_cd34_post_thaw": "post_thaw",
              "viable_cd45_post_thaw": "post_thaw", "cfu_growth": "post_thaw", "identity": "post_thaw"}


def test_the_catalog_has_the_cord_blood_tests_with_their_stage(api, users):
    body = api(users["technician"]).get("/api/v1/qc/tests/", {"page_size": 200}).json()
    tests = {t["code"]: t for t in (body["results"] if isinstance(body, dict) else body)}
    for code, stage in CORD_TESTS.items():
        assert tests[code]["stage"] == stage
    assert "o+" in tests["abo_rh"]["outcomes"] and tests["viability"]["stage"] == ""


def test_the_unit_banking_specification_is_version_2_by_stage():
    spec = spec_in_force("CB-HSC", "unit")
    assert spec.version == 2
    rows = {c.test.code: c for c in spec.criteria.all()}
    blocking = {code for code, c in rows.items() if c.blocking}
    assert blocking == {"sterility", "tnc", "cd34", "viability", "cfu", "abo_rh", "haemoglobinopathy", "nrbc"}
    assert all(c.stage == "post_processing" for c in rows.values() if c.blocking)
    assert (rows["viable_cd34_post_thaw"].min_value, rows["viable_cd45_post_thaw"].min_value) == (70, 40)
    assert {rows[c].stage for c in ("viable_cd34_post_thaw", "viable_cd45_post_thaw", "cfu_growth", "identity")} \
        == {"post_thaw"}
    assert rows["abo_rh"].describe() == "recorded"
    # version 1 stays, judging the units whose first result was entered under it
    assert Specification.objects.filter(cell_type="CB-HSC", tier="unit", version=1).exists()


def test_abo_rh_passes_on_any_blood_group_and_blocks_until_recorded(users, password):
    unit = cb.unit(status="quarantine")
    enter_panel(unit.lot, users["technician"], skip=("abo_rh",))
    with pytest.raises(Conflict) as refused:
        services.release_lot(unit.lot, actor=users["qa"], password=password, meaning="release")
    assert refused.value.code == "qc_incomplete" and refused.value.extra["missing"] == ["abo_rh"]
    result = services.record_qc_result(unit.lot, actor=users["technician"], test="abo_rh", outcome="AB-",
                                       tested_on=timezone.localdate() - datetime.timedelta(days=1))
    assert result.passed and result.outcome == "ab-"
    services.release_lot(unit.lot, actor=users["qa"], password=password, meaning="release")


def test_a_failed_post_thaw_reference_row_does_not_block_banking(users, password):
    unit = cb.unit(status="quarantine")
    enter_panel(unit.lot, users["technician"], override={"viable_cd34_post_thaw": {"value": Decimal("60")}})
    services.release_lot(unit.lot, actor=users["qa"], password=password, meaning="release")
    unit.lot.refresh_from_db()
    assert unit.lot.status == "released"


def test_a_specification_may_ask_only_for_a_result(users):
    spec = services.publish_specification(actor=users["qa"], cell_type="NSC", tier="MCB", notes="x", criteria=[
        {"test": "sterility", "expected": "negative"}, {"test": "abo_rh", "expected": "*", "stage": "post_processing"},
        {"test": "cfu_growth", "expected": "positive"}])
    rows = {c.test.code: c for c in spec.criteria.all()}
    assert rows["abo_rh"].stage == "post_processing" and rows["cfu_growth"].stage == "post_thaw"
    assert rows["sterility"].stage == ""
    with pytest.raises(ValidationError):
        services.publish_specification(actor=users["qa"], cell_type="NSC", tier="MCB", notes="x", criteria=[
            {"test": "sterility", "expected": "negative", "stage": "someday"}])


def test_qa_adds_a_test_in_the_browser(client, users):
    client.force_login(users["qa"])
    url = reverse("qc:tests")
    page = client.get(url).content.decode()
    assert 'id="add-test"' in page and 'data-test="abo_rh"' in page
    response = client.post(url, {"code": "cd3_residual", "name": "Residual CD3+ T cells", "kind": "numeric",
                                 "unit": "%", "stage": "post_processing", "typical_method": "flow cytometry"})
    assert response.status_code == 302
    test = QCTest.objects.get(code="cd3_residual")
    assert (test.kind, test.unit, test.stage) == ("numeric", "%", "post_processing")
    assert test.history.first().history_user == users["qa"]
    again = client.post(url, {"code": "cd3_residual", "name": "Again", "kind": "numeric"})
    assert again.status_code == 200 and "already has a test" in again.content.decode()
    outcome = client.post(url, {"code": "hbv_dna", "name": "HBV DNA", "kind": "outcome", "outcomes": "negative"})
    assert "at least two outcomes" in outcome.content.decode()
    assert not QCTest.objects.filter(code="hbv_dna").exists()


def test_only_qa_adds_tests(client, users):
    client.force_login(users["technician"])
    url = reverse("qc:tests")
    page = client.get(url)
    assert page.status_code == 200 and 'id="add-test"' not in page.content.decode()
    response = client.post(url, {"code": "x_test", "name": "X", "kind": "numeric"})
    assert response.status_code == 403
    assert not QCTest.objects.filter(code="x_test").exists()
