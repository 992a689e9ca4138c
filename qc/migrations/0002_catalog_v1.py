"""Seed the QC test catalog and version 1 of every specification from QC_SPECS.md."""

from decimal import Decimal

from django.db import migrations

TESTS = [
    # code, name, kind, unit, outcomes, typical method
    ("sterility", "Sterility (bacteria and fungi)", "outcome", "", ["negative", "positive"], "BacT/ALERT 7 d; USP <71>; ChP 1101"),
    ("mycoplasma", "Mycoplasma", "outcome", "", ["negative", "positive"], "PCR or culture + indicator DNA stain; ChP 3301"),
    ("endotoxin", "Endotoxin", "numeric", "EU/mL", [], "LAL gel clot or kinetic; USP <85>"),
    ("viability", "Post-thaw viability", "numeric", "%", [], "trypan blue, 7-AAD flow"),
    ("str_identity", "STR identity vs donor/parent", "outcome", "", ["match", "mismatch"], "16-locus STR"),
    ("karyotype", "Karyotype", "outcome", "", ["normal", "abnormal"], "G-banding, 20 metaphases"),
    ("pluripotency", "Pluripotency markers (OCT4, SSEA-4, TRA-1-60)", "numeric", "% positive", [], "flow cytometry"),
    ("sendai_clearance", "Residual Sendai vector", "outcome", "", ["negative", "positive"], "SeV RT-PCR"),
    ("cd73", "CD73", "numeric", "% positive", [], "flow cytometry"),
    ("cd90", "CD90", "numeric", "% positive", [], "flow cytometry"),
    ("cd105", "CD105", "numeric", "% positive", [], "flow cytometry"),
    ("negative_markers", "CD45, CD34, CD14/CD11b, CD19/CD79a, HLA-DR", "numeric", "% positive", [], "flow cytometry"),
    ("trilineage", "Osteo/adipo/chondro differentiation", "outcome", "", ["positive", "negative"], "in vitro differentiation"),
    ("tnc", "Total nucleated cells", "numeric", "×10^8 cells", [], "haematology analyser"),
    ("cd34", "Viable CD34+ cells", "numeric", "×10^6 cells", [], "ISHAGE flow"),
    ("cfu", "Colony-forming units", "outcome", "", ["positive", "negative"], "CFU assay"),
]



def c(test, kind=None, value=None, only_for=""):
    return {"test": test, "kind": kind, "value": value, "only_for": only_for}


PSC_MCB = [c("sterility", "expected", "negative"), c("mycoplasma", "expected", "negative"),
           c("endotoxin", "max", "5"), c("str_identity", "expected", "match"), c("karyotype", "expected", "normal"),
           c("pluripotency", "min", "70"), c("viability", "min", "70"),
           c("sendai_clearance", "expected", "negative", only_for="sendai")]
PSC_WCB = [c("sterility", "expected", "negative"), c("mycoplasma", "expected", "negative"),
           c("endotoxin", "max", "5"), c("str_identity", "expected", "match"), c("karyotype", "expected", "normal"),
           c("viability", "min", "70")]
MSC_WCB = [c("sterility", "expected", "negative"), c("mycoplasma", "expected", "negative"),
           c("endotoxin", "max", "0.5"), c("viability", "min", "80"), c("cd73", "min", "95"), c("cd90", "min", "95"),
           c("cd105", "min", "95"), c("negative_markers", "max", "2")]
MSC_MCB = MSC_WCB + [c("trilineage", "expected", "positive"), c("karyotype", "expected", "normal")]
CB_UNIT = [c("sterility", "expected", "negative"), c("tnc", "min", "5.0"), c("cd34", "min", "1.25"),
           c("viability", "min", "70"), c("cfu", "expected", "positive")]
BASIC = [c("sterility", "expected", "negative"), c("mycoplasma", "expected", "negative"), c("viability", "min", "70")]

MSC = ["UC-MSC", "AD-MSC", "BM-MSC", "DP-MSC", "P-MSC"]
# Issue 15's new cell types (seeded on existing banks by 0006_new_cell_types; here for a flushed test database).
NEW_MSC = ["AM-MSC", "EN-MSC", "MB-MSC"]
NEW_BASIC = ["MuSC", "SkSC"]
NEW_SPECS = ([(ct, "MCB", MSC_MCB) for ct in NEW_MSC] + [(ct, "WCB", MSC_WCB) for ct in NEW_MSC]
             + [(ct, tier, BASIC) for ct in NEW_BASIC for tier in ("MCB", "WCB")])
SPECS = (
    [(ct, "MCB", PSC_MCB) for ct in ("iPSC", "ESC")]
    + [(ct, "WCB", PSC_WCB) for ct in ("iPSC", "ESC")]
    + [(ct, "MCB", MSC_MCB) for ct in MSC]
    + [(ct, "WCB", MSC_WCB) for ct in MSC]
    + [("CB-HSC", "unit", CB_UNIT)]
    + [(ct, tier, BASIC) for ct in ("NSC", "other") for tier in ("MCB", "WCB")]
    + NEW_SPECS
)


def seed(apps, schema_editor):
    QCTest = apps.get_model("qc", "QCTest")
    Specification = apps.get_model("qc", "Specification")
    Criterion = apps.get_model("qc", "Criterion")
    tests = {}
    for order, (code, name, kind, unit, outcomes, method) in enumerate(TESTS, start=1):
        tests[code], _ = QCTest.objects.update_or_create(
            code=code,
            defaults={"name": name, "kind": kind, "unit": unit, "outcomes": outcomes,
                      "typical_method": method, "order": order * 10},
        )
    for cell_type, tier, criteria in SPECS:
        spec, created = Specification.objects.get_or_create(
            cell_type=cell_type, tier=tier, version=1,
            defaults={"notes": "Version 1 from QC_SPECS.md (ISCBI 2009, CiRA, EBiSC, ISCT 2006, NetCord-FACT)."},
        )
        if not created:
            continue
        for item in criteria:
            test = tests[item["test"]]
            fields = {"unit": test.unit, "only_for_reprogramming": item["only_for"], "blocking": True}
            if item["kind"] == "expected":
                fields["expected"] = item["value"]
            elif item["kind"] == "min":
                fields["min_value"] = Decimal(item["value"])
            else:
                fields["max_value"] = Decimal(item["value"])
            Criterion.objects.create(specification=spec, test=test, **fields)


class Migration(migrations.Migration):
    dependencies = [("qc", "0001_initial")]
    operations = [migrations.RunPython(seed, migrations.RunPython.noop)]
