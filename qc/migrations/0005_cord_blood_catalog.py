"""Cord blood QC by stage (issue 12): the tests a unit needs in the catalog, and version 2 of the CB-HSC unit
specification — the post-processing banking specification, with the post-thaw criteria of NetCord-FACT
(viable CD34 > 70 %, viable CD45 > 40 %, CFU growth, identity) shown to QA as reference rows (they are tested
on a thawed segment or reference vial before the unit is released for administration)."""

from decimal import Decimal

from django.db import migrations

BLOOD_GROUPS = ["o+", "o-", "a+", "a-", "b+", "b-", "ab+", "ab-"]

TESTS = [
    # code, name, kind, unit, outcomes, typical method, stage
    ("abo_rh", "ABO/Rh blood group", "outcome", "", BLOOD_GROUPS, "forward and reverse grouping, RhD",
     "post_processing"),
    ("haemoglobinopathy", "Haemoglobinopathy screen", "outcome", "", ["normal", "abnormal"],
     "HPLC or capillary electrophoresis; thalassaemia genotyping", "post_processing"),
    ("nrbc", "Nucleated red blood cells (NRBC)", "numeric", "%", [], "haematology analyser", "post_processing"),
    ("cfu_count", "CFU count (CFU-GM)", "numeric", "×10^5 CFU", [], "CFU-GM assay, 14 days", "post_processing"),
    ("viable_cd34_post_thaw", "Post-thaw viable CD34+", "numeric", "%", [], "7-AAD ISHAGE flow", "post_thaw"),
    ("viable_cd45_post_thaw", "Post-thaw viable CD45+", "numeric", "%", [], "7-AAD flow", "post_thaw"),
    ("cfu_growth", "Post-thaw CFU growth", "outcome", "", ["positive", "negative"], "CFU assay, 14 days",
     "post_thaw"),
    ("identity", "Identity (segment or reference vial vs unit)", "outcome", "", ["match", "mismatch"],
     "HLA or STR typing of an attached segment", "post_thaw"),
]

# test, kind, value, blocking, stage
CB_UNIT_V2 = [
    ("sterility", "expected", "negative", True, "post_processing"),
    ("tnc", "min", "5.0", True, "post_processing"),
    ("cd34", "min", "1.25", True, "post_processing"),
    ("viability", "min", "70", True, "post_processing"),
    ("cfu", "expected", "positive", True, "post_processing"),
    ("abo_rh", "expected", "*", True, "post_processing"),
    ("haemoglobinopathy", "expected", "normal", True, "post_processing"),
    ("nrbc", "min", "0", True, "post_processing"),
    ("cfu_count", "min", "0", False, "post_processing"),
    ("viable_cd34_post_thaw", "min", "70", False, "post_thaw"),
    ("viable_cd45_post_thaw", "min", "40", False, "post_thaw"),
    ("cfu_growth", "expected", "positive", False, "post_thaw"),
    ("identity", "expected", "match", False, "post_thaw"),
]


def seed(apps, schema_editor):
    QCTest = apps.get_model("qc", "QCTest")
    Specification = apps.get_model("qc", "Specification")
    Criterion = apps.get_model("qc", "Criterion")
    for order, (code, name, kind, unit, outcomes, method, stage) in enumerate(TESTS, start=17):
        QCTest.objects.update_or_create(
            code=code, defaults={"name": name, "kind": kind, "unit": unit, "outcomes": outcomes,
                                 "typical_method": method, "order": order * 10, "stage": stage})
    if Specification.objects.filter(cell_type="CB-HSC", tier="unit", version__gte=2).exists():
        return
    if not Specification.objects.filter(cell_type="CB-HSC", tier="unit", version=1).exists():
        return  # the v1 seed did not run (a bank that removed it): nothing to build on
    spec = Specification.objects.create(
        cell_type="CB-HSC", tier="unit", version=2,
        notes="Version 2 (issue 12): post-processing banking specification with ABO/Rh, haemoglobinopathy screen "
              "and NRBC; CFU count and the NetCord-FACT post-thaw criteria (viable CD34 > 70 %, viable CD45 > 40 %, "
              "CFU growth, identity) as reference rows.")
    tests = {t.code: t for t in QCTest.objects.filter(code__in=[row[0] for row in CB_UNIT_V2])}
    for code, kind, value, blocking, stage in CB_UNIT_V2:
        test = tests[code]
        fields = {"unit": test.unit if test.kind == "numeric" else "", "blocking": blocking, "stage": stage}
        if kind == "expected":
            fields["expected"] = value
        else:
            fields["min_value"] = Decimal(value)
        Criterion.objects.create(specification=spec, test=test, **fields)


class Migration(migrations.Migration):
    dependencies = [("qc", "0004_qc_stage")]
    operations = [migrations.RunPython(seed, migrations.RunPython.noop)]
