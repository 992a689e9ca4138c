"""Seed the donor screening panel and sample windows of QC_SPECS.md (21 CFR 1271.80/85, EU 2006/17/EC)."""

from django.db import migrations

LEUKOCYTE_RICH = ["cord_blood", "peripheral_blood", "bone_marrow"]
MARKERS = [
    # code, name, tissues ([] = every collection), required
    ("hiv_ab", "Anti-HIV-1/2", [], True),
    ("hiv_nat", "HIV-1 NAT", [], True),
    ("hbsag", "HBsAg", [], True),
    ("anti_hbc", "Anti-HBc", [], True),
    ("hbv_nat", "HBV NAT", [], False),
    ("hcv_ab", "Anti-HCV", [], True),
    ("hcv_nat", "HCV NAT", [], True),
    ("htlv_ab", "Anti-HTLV-I/II", LEUKOCYTE_RICH, True),
    ("syphilis", "Syphilis (Treponema pallidum)", [], True),
    ("cmv", "CMV (IgG/IgM)", LEUKOCYTE_RICH, True),
]
WINDOWS = [("", 7, 7), ("bone_marrow", 30, 7), ("peripheral_blood", 30, 7)]


def seed(apps, schema_editor):
    Marker = apps.get_model("donors", "ScreeningMarker")
    Window = apps.get_model("donors", "ScreeningWindow")
    for order, (code, name, tissues, required) in enumerate(MARKERS, start=1):
        Marker.objects.update_or_create(
            code=code, defaults={"name": name, "tissues": tissues, "required": required, "order": order * 10}
        )
    for tissue, before, after in WINDOWS:
        Window.objects.update_or_create(tissue=tissue, defaults={"days_before": before, "days_after": after})


class Migration(migrations.Migration):
    dependencies = [("donors", "0001_initial")]
    operations = [migrations.RunPython(seed, migrations.RunPython.noop)]
