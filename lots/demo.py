"""Demo bank, lots step (baseline): cell lines and lots (quarantine) with their vials.

ctx in: ``users``, ``collections``. ctx out: ``lines`` and ``lots`` (label → object).
Lines: ipsc (SCBi001-A, clinical), ipsc_patient (SCBi002-A, research), uc_msc, cord_blood.
Lots: ipsc_mcb (60 vials), ipsc_wcb (120, child of ipsc_mcb), ipsc_wcb2 (80), patient_mcb (40),
msc_mcb (50), msc_wcb (100), cord_unit (1) — all in quarantine; the QC step decides them.
"""

from __future__ import annotations

import datetime
from decimal import Decimal

from django.utils import timezone

from bank.barcodes import issue
from lots.models import CellLine, Lot, Vial

LINES = [
    # label, name, cell type, grade, reprogramming, registry number
    ("ipsc", "SCBi001-A", "iPSC", "clinical", "sendai", 1),
    ("ipsc_patient", "SCBi002-A", "iPSC", "research", "episomal", 2),
    ("uc_msc", "SCB-UCMSC-001", "UC-MSC", "clinical", "", None),
    ("cord_blood", "SCB-CB-0001", "CB-HSC", "clinical", "", None),
]
LOTS = [
    # label, line, tier, parent, passage, vials, cells/vial, days ago
    ("ipsc_mcb", "ipsc", "MCB", None, 12, 60, 1_000_000, 80),
    ("ipsc_wcb", "ipsc", "WCB", "ipsc_mcb", 18, 120, 1_000_000, 40),
    ("ipsc_wcb2", "ipsc", "WCB", "ipsc_mcb", 19, 80, 1_000_000, 10),
    ("patient_mcb", "ipsc_patient", "MCB", None, 10, 40, 1_000_000, 30),
    ("msc_mcb", "uc_msc", "MCB", None, 3, 50, 5_000_000, 60),
    ("msc_wcb", "uc_msc", "WCB", "msc_mcb", 5, 100, 5_000_000, 20),
    ("cord_unit", "cord_blood", "unit", None, 0, 1, 1_200_000_000, 70),
]


def load(ctx: dict) -> None:
    technician = ctx["users"]["technician"]
    lines, lots = {}, {}
    for label, name, cell_type, grade, method, number in LINES:
        collection = ctx["collections"][label]
        lines[label] = CellLine.objects.create(
            name=name, collection=collection, donor=collection.donor, cell_type=cell_type, grade=grade,
            reprogramming_method=method, registry_number=number, subclone="A" if number else "",
            created_by=technician, established_on=collection.collected_at.date() + datetime.timedelta(days=30),
        )
    for seq, (label, line, tier, parent, passage, vials, cells, days) in enumerate(LOTS, start=1):
        frozen = timezone.localdate() - datetime.timedelta(days=days)
        lot = Lot.objects.create(
            lot_number=f"{tier}-{frozen.year}-{seq:04d}", barcode=issue("lot")[0], cell_line=lines[line], tier=tier,
            parent_lot=lots.get(parent), passage=passage, vial_count=vials, cells_per_vial=cells,
            volume_ml=Decimal("1.0") if tier != "unit" else Decimal("25.0"), cryoprotectant="CryoStor CS10",
            cryoprotectant_lot="CS10-25A17", frozen_on=frozen, operator=technician,
        )
        Vial.objects.bulk_create(
            [Vial(lot=lot, number=i, barcode=code) for i, code in enumerate(issue("vial", vials), start=1)]
        )
        lots[label] = lot
    ctx.update(lines=lines, lots=lots)
