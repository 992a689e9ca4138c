"""Seed the bank's default material transfer agreement (a bank edits or replaces it)."""

import datetime

from django.db import migrations

TEXT = """1. The material is provided for the intended use stated in the request only, and may not be used in humans
unless the request was approved for clinical use of a clinical-grade line.
2. The recipient will not attempt to identify the donor, nor link the material or its data to any person.
3. The material and its derivatives may not be transferred to a third party without the bank's written consent.
4. Genetic data derived from the material are handled as personal data and shared only as the donor consented.
5. The recipient acknowledges the bank in publications and reports results that bear on the donor's safety.
6. The bank may recall the material; the recipient then stops using it and follows the bank's instructions.
7. The material is provided as is, without warranty; the recipient is responsible for its safe handling.

1. 材料仅用于申请中注明的用途；除非申请已获批准将临床级细胞系用于临床，否则不得用于人体。
2. 接收方不得试图识别供者，也不得将材料或其数据与任何个人关联。
3. 未经细胞库书面同意，不得将材料及其衍生物转让给第三方。
4. 源自该材料的遗传数据作为个人数据处理，仅在供者同意的范围内共享。
5. 接收方在出版物中致谢细胞库，并报告涉及供者安全的结果。
6. 细胞库可召回材料；接收方应停止使用并遵循细胞库的指示。
7. 材料按现状提供，不作任何保证；接收方负责其安全操作。"""


def seed(apps, schema_editor):
    MTA = apps.get_model("distribution", "MaterialTransferAgreement")
    MTA.objects.get_or_create(
        version="MTA-2026-1",
        defaults={"title": "StemBank material transfer agreement / 材料转移协议", "text": TEXT,
                  "effective_from": datetime.date(2026, 1, 1), "active": True},
    )


class Migration(migrations.Migration):
    dependencies = [("distribution", "0002_initial")]
    operations = [migrations.RunPython(seed, migrations.RunPython.noop)]
