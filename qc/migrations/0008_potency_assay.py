"""Issue 16 (quality trends and functional evaluation): an immunomodulation potency assay in the test catalog for
MSC lots (ISO/TS 22859 and the ISCT's potency guidance: suppression of activated T-cell proliferation by the MSCs).
The ISCT minimal criteria are the catalog's cd73, cd90, cd105 (≥ 95 %), negative_markers (CD45, CD34, CD14/CD11b,
CD79α/CD19, HLA-DR ≤ 2 %) and trilineage tests, already in the MSC specifications. The assay joins the catalog only:
QA adds it to a specification by publishing a new version (a lot already judged keeps its version)."""

from django.db import migrations

TEST = ("potency_immunomodulation", "Potency: immunomodulation (T-cell proliferation suppression)", "numeric",
        "% suppression", "MSC–PBMC co-culture, CFSE dilution of CD3+ T cells (ISO/TS 22859)")


def seed(apps, schema_editor):
    QCTest = apps.get_model("qc", "QCTest")
    code, name, kind, unit, method = TEST
    QCTest.objects.update_or_create(code=code, defaults={"name": name, "kind": kind, "unit": unit, "outcomes": [],
                                                         "typical_method": method, "order": 165})


class Migration(migrations.Migration):

    dependencies = [("qc", "0007_new_cell_types")]

    operations = [migrations.RunPython(seed, migrations.RunPython.noop)]
