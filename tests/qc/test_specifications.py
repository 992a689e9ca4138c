"""Test catalog and versioned specifications (QC_SPECS.md version 1; QA publishes new versions)."""

from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError
from django.utils import timezone

from bank.errors import Forbidden
from qc import services
from qc.models import LotSpecification, QCTest, Specification
from qc.queries import spec_in_force
from tests.qc.factories import qc_lot

pytestmark = pytest.mark.django_db


def criteria_of(spec):
    return [{"test": c.test.code, "min": c.min_value, "max": c.max_value, "unit": c.unit, "expected": c.expected,
             "blocking": c.blocking, "only_for_reprogramming": c.only_for_reprogramming}
            for c in spec.criteria.all()]


def test_catalog_and_version_one_are_seeded():
    # 16 of QC_SPECS.md v1 + 8 cord blood tests (issue 12) + the immunomodulation potency assay (issue 16)
    assert QCTest.objects.count() == 25
    psc = spec_in_force("iPSC", "MCB")
    limits = {c.test.code: c.describe() for c in psc.criteria.all()}
    assert limits == {"sterility": "negative", "mycoplasma": "negative", "endotoxin": "≤ 5 EU/mL",
                      "str_identity": "match", "karyotype": "normal", "pluripotency": "≥ 70 % positive",
                      "viability": "≥ 70 %", "sendai_clearance": "negative"}
    assert psc.criteria.get(test__code="sendai_clearance").only_for_reprogramming == "sendai"
    cord = {c.test.code: c.describe() for c in spec_in_force("CB-HSC", "unit").criteria.all()}
    assert cord["tnc"] == "≥ 5 ×10^8 cells" and cord["cd34"] == "≥ 1.25 ×10^6 cells"


def test_publishing_keeps_old_versions_and_lots_keep_the_version_of_their_first_result(users):
    started = qc_lot()
    services.record_qc_result(started, actor=users["technician"], test="viability", value="75",
                              tested_on=timezone.localdate())
    v1 = spec_in_force("iPSC", "MCB")
    criteria = criteria_of(v1)
    for row in criteria:
        if row["test"] == "viability":
            row["min"] = Decimal("80")
    v2 = services.publish_specification(actor=users["qa"], cell_type="iPSC", tier="MCB", criteria=criteria,
                                        notes="Viability raised to 80 %")
    assert (v2.version, v2.published_by) == (2, users["qa"])
    assert Specification.objects.filter(cell_type="iPSC", tier="MCB").count() == 2
    assert spec_in_force("iPSC", "MCB") == v2
    # the lot that started under v1 stays judged by v1
    again = services.record_qc_result(started, actor=users["technician"], test="viability", value="75",
                                      tested_on=timezone.localdate())
    assert again.passed and LotSpecification.objects.get(lot=started).specification == v1
    new = qc_lot()
    judged = services.record_qc_result(new, actor=users["technician"], test="viability", value="75",
                                       tested_on=timezone.localdate())
    assert judged.passed is False and LotSpecification.objects.get(lot=new).specification == v2
    # v1 is unchanged
    assert v1.criteria.get(test__code="viability").min_value == Decimal("70")


@pytest.mark.parametrize(("row", "message"), [
    ({"test": "nope", "expected": "x"}, "unknown test code"),
    ({"test": "viability"}, "give a minimum, a maximum or both"),
    ({"test": "viability", "min": "90", "max": "80"}, "minimum is above the maximum"),
    ({"test": "viability", "min": "70", "expected": "negative"}, "not an expected outcome"),
    ({"test": "sterility", "expected": "clean"}, "must be one of"),
    ({"test": "sterility", "min": "1", "expected": "negative"}, "not limits"),
    ({"test": "sterility", "expected": "negative", "only_for_reprogramming": "magic"}, "unknown reprogramming"),
])
def test_publish_refuses_bad_criteria_and_saves_nothing(users, row, message):
    with pytest.raises(ValidationError) as error:
        services.publish_specification(actor=users["qa"], cell_type="NSC", tier="MCB", criteria=[row])
    assert message in " ".join(error.value.message_dict["criteria"])
    assert Specification.objects.filter(cell_type="NSC", tier="MCB").count() == 1


def test_publish_needs_the_permission(users):
    with pytest.raises(Forbidden):
        services.publish_specification(actor=users["technician"], cell_type="NSC", tier="MCB",
                                       criteria=[{"test": "sterility", "expected": "negative"}])


def test_api_tests_and_specification_in_force(users, api):
    client = api(users["technician"])
    tests = client.get("/api/v1/qc/tests/").json()
    assert tests["count"] == 25 and {"code", "name", "kind", "unit", "outcomes"} <= set(tests["results"][0])
    spec = client.get("/api/v1/qc/specifications/", {"cell_type": "UC-MSC", "tier": "WCB"})
    assert spec.status_code == 200
    data = spec.json()
    assert (data["cell_type"], data["tier"], data["version"]) == ("UC-MSC", "WCB", 1)
    endotoxin = next(c for c in data["criteria"] if c["test"] == "endotoxin")
    assert (endotoxin["min"], endotoxin["max"], endotoxin["unit"], endotoxin["expected"]) == (None, 0.5, "EU/mL", "")
    sterility = next(c for c in data["criteria"] if c["test"] == "sterility")
    assert (sterility["min"], sterility["max"], sterility["expected"]) == (None, None, "negative")
    assert client.get("/api/v1/qc/specifications/", {"cell_type": "XYZ", "tier": "MCB"}).status_code == 400
    assert client.get("/api/v1/qc/specifications/", {"cell_type": "CB-HSC", "tier": "MCB"}).status_code == 404
    listing = client.get("/api/v1/qc/specifications/").json()
    # one in force per (cell type, tier) of QC_SPECS.md, and issue 15's AM-, EN-, MB-MSC, MuSC and SkSC (MCB, WCB)
    assert listing["count"] == 29
    assert api(users["researcher"]).get("/api/v1/qc/tests/").status_code == 403


def test_api_publish_new_version(users, api):
    body = {"cell_type": "NSC", "tier": "MCB", "notes": "Add karyotype",
            "criteria": [{"test": "sterility", "expected": "negative"},
                         {"test": "mycoplasma", "expected": "negative"},
                         {"test": "viability", "min": 75},
                         {"test": "karyotype", "expected": "normal", "blocking": False}]}
    assert api(users["technician"]).post("/api/v1/qc/specifications/", body).status_code == 403
    response = api(users["qa"]).post("/api/v1/qc/specifications/", body)
    assert response.status_code == 201, response.json()
    assert response.json()["version"] == 2
    current = api(users["qa"]).get("/api/v1/qc/specifications/", {"cell_type": "NSC", "tier": "MCB"}).json()
    assert current["version"] == 2 and next(c for c in current["criteria"] if c["test"] == "karyotype")["blocking"] \
        is False
    every = api(users["qa"]).get("/api/v1/qc/specifications/", {"cell_type": "NSC", "tier": "MCB",
                                                                "all_versions": "true"}).json()
    assert [s["version"] for s in every["results"]] == [2, 1]
    bad = api(users["qa"]).post("/api/v1/qc/specifications/", {**body, "criteria": [{"test": "viability"}]})
    assert bad.status_code == 400 and "criteria" in bad.json()
    assert api(users["qa"]).post("/api/v1/qc/specifications/", {**body, "criteria": []}).status_code == 400
    assert Specification.objects.filter(cell_type="NSC", tier="MCB").count() == 2


def test_the_lot_detail_api_reads_the_lot_its_vials_its_specification_and_results(
        users, api, django_assert_num_queries):
    lot = qc_lot()
    services.record_qc_result(lot, actor=users["technician"], test="viability", value="75",
                              tested_on=timezone.localdate())
    client = api(users["qa"])
    client.get(f"/api/v1/lots/{lot.pk}/")
    # the lot with its line, parent and operator; its vials counted by status; its assigned specification (its
    # criteria were kept by the first request: qc.queries.spec_criteria); the counted results with their tests (not
    # who entered them, nor on which vial)
    with django_assert_num_queries(4):
        body = client.get(f"/api/v1/lots/{lot.pk}/").json()
    assert body["qc_summary"]["specification"] and body["qc_summary"]["tests"][0]["test"]
    assert [t for t in body["qc_summary"]["tests"] if t["test"] == "viability"][0]["passed"] is True


def test_a_versions_criteria_are_kept_once_read_and_a_new_version_is_read(users, django_assert_num_queries):
    """Published versions never change, so their criteria are read once per process; a newly published version
    (a new row) is read when a panel first needs it, and judges at once."""
    from qc.models import Criterion
    from qc.queries import forget_criteria, qc_panels, spec_criteria

    lot = qc_lot()  # no result yet: judged by the version in force
    forget_criteria()
    spec = qc_panels([lot])[lot.pk].specification
    stored = tuple(Criterion.objects.filter(specification=spec).order_by("test__order", "id"))
    with django_assert_num_queries(0):
        kept = spec_criteria([spec.pk])[spec.pk]
    assert kept == stored and all(c.test.code for c in kept)
    rows = [{"test": c.test.code, "min": c.min_value, "max": c.max_value, "unit": c.unit, "expected": c.expected,
             "blocking": c.blocking, "stage": c.stage, "only_for_reprogramming": c.only_for_reprogramming}
            for c in stored if c.test.code != "karyotype"]
    newer = services.publish_specification(actor=users["qa"], cell_type=spec.cell_type, tier=spec.tier,
                                           criteria=rows, notes="no karyotype")
    with django_assert_num_queries(1):
        assert [c.test.code for c in spec_criteria([newer.pk])[newer.pk]] == [r["test"] for r in rows]
    panel = qc_panels([lot])[lot.pk]  # the new version is in force: it judges the lot, without karyotype
    assert not panel.assigned and panel.specification.pk == newer.pk
    assert "karyotype" in [c.test.code for c in stored] and "karyotype" not in [r.test.code for r in panel.rows]
