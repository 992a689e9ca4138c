"""Demo bank, lots step: cell lines, their cultures and passages, and lots with their vials — all
made through ``lots.services`` as a technician would at the bench.

ctx in: ``users``, ``collections``. ctx out: ``lines`` and ``lots`` (label → object), ``cultures``.
Lines: ipsc (SCBi001-A, clinical), ipsc_patient (SCBi002-A, research), uc_msc (SCB-UCMSC-001),
cord_blood (SCB-CBHSC-001).
Lots: ipsc_mcb (60 vials), ipsc_wcb (120, child of ipsc_mcb), ipsc_wcb2 (80, child of ipsc_mcb),
patient_mcb (40), msc_mcb (50), msc_wcb (100, child of msc_mcb), cord_unit (1). The clinical lines' lots
get ISBT 128 DINs; SCBi001-A has its hPSCreg and ICSCB IDs recorded (issue 15).
A WCB can only be frozen from a released MCB, so ipsc_mcb and msc_mcb are tested and released in this
step (the ``demo_release_master`` hook, answered by ``qc.demo.qualify_master``: results by technicians,
e-signed release by QA) before their WCBs are
made, and each WCB culture starts from a thawed vial of its MCB (that vial is ``used``). Every other
lot is in quarantine for the QC step to decide.
"""

from __future__ import annotations

import datetime
from decimal import Decimal

from django.utils import timezone

from bank.registry import ask
from lots import services

LINES = [
    # label, cell type, grade, reprogramming, description
    ("ipsc", "iPSC", "clinical", "sendai", "Healthy donor iPSC line, HLA-homozygous (haplobank candidate)."),
    ("ipsc_patient", "iPSC", "research", "episomal", "Patient-derived iPSC line (Parkinson's disease)."),
    ("uc_msc", "UC-MSC", "clinical", "", "Umbilical cord Wharton's jelly MSC."),
    ("cord_blood", "CB-HSC", "clinical", "", "Cord blood unit for the public registry."),
]
# label, line, started (days ago), first passage number (None: continue from the thawed vial's lot),
# passage days ago (one per passage), medium, medium lot
CULTURES = [
    ("ipsc_mcb", "ipsc", 104, 8, [100, 95, 90, 85, 80], "mTeSR Plus", "MT-25A104"),
    ("ipsc_wcb", "ipsc", 62, None, [58, 55, 52, 49, 46, 40], "mTeSR Plus", "MT-25B221"),
    ("ipsc_wcb2", "ipsc", 36, None, [33, 30, 27, 24, 21, 16, 10], "mTeSR Plus", "MT-25C017"),
    ("patient_mcb", "ipsc_patient", 58, 6, [55, 48, 42, 36, 30], "StemFlex", "SF-2291"),
    ("msc_mcb", "uc_msc", 88, 1, [80, 72, 60], "MSC NutriStem XF", "NS-8812"),
    ("msc_wcb", "uc_msc", 40, None, [30, 20], "MSC NutriStem XF", "NS-8840"),
]
REAGENTS = {
    "ipsc": [{"name": "Vitronectin XF", "lot": "VN-2231"}, {"name": "ReLeSR", "lot": "RL-0457"}],
    "ipsc_patient": [{"name": "Laminin-521", "lot": "LN521-118"}],
    "uc_msc": [{"name": "TrypLE Select", "lot": "TS-3320"}],
}
LOTS = [
    # label, line, tier, parent, passage, vials, cells/vial, days ago, culture
    ("ipsc_mcb", "ipsc", "MCB", None, 12, 60, 1_000_000, 80, "ipsc_mcb"),
    ("ipsc_wcb", "ipsc", "WCB", "ipsc_mcb", 18, 120, 1_000_000, 40, "ipsc_wcb"),
    ("ipsc_wcb2", "ipsc", "WCB", "ipsc_mcb", 19, 80, 1_000_000, 10, "ipsc_wcb2"),
    ("patient_mcb", "ipsc_patient", "MCB", None, 10, 40, 1_000_000, 30, "patient_mcb"),
    ("msc_mcb", "uc_msc", "MCB", None, 3, 50, 5_000_000, 60, "msc_mcb"),
    ("msc_wcb", "uc_msc", "WCB", "msc_mcb", 5, 100, 5_000_000, 20, "msc_wcb"),
    ("cord_unit", "cord_blood", "unit", None, 0, 1, 1_200_000_000, 70, None),
]
# MCBs whose WCBs the demo freezes: released first (the rule of create_lot).
RELEASE_FIRST = {"ipsc_mcb", "msc_mcb"}


def load(ctx: dict) -> None:
    technician = ctx["users"]["technician"]
    technician2 = ctx["users"].get("technician2", technician)
    today = timezone.localdate()

    def ago(days: int) -> datetime.date:
        return today - datetime.timedelta(days=days)

    cultures_spec = {spec[0]: spec for spec in CULTURES}
    lines = {}
    for label, cell_type, grade, method, description in LINES:
        collection = ctx["collections"][label]
        lines[label] = services.create_cell_line(
            collection=collection, cell_type=cell_type, grade=grade, reprogramming_method=method,
            description=description, established_on=min(collection.collected_at.date() + datetime.timedelta(days=21),
                                                        today),
            actor=technician, reason="demo bank",
        )

    cultures, lots = {}, {}
    for label, line, tier, parent, passage, vials, cells, days, culture_label in LOTS:
        culture = None
        if culture_label:
            culture = _grow(lines[line], cultures_spec[culture_label], parent_lot=lots.get(parent), ago=ago,
                            technicians=(technician, technician2))
            cultures[culture_label] = culture
        unit = tier == "unit"
        lots[label] = services.create_lot(
            cell_line=lines[line], tier=tier, parent_lot=lots.get(parent), culture=culture,
            passage=passage, vial_count=vials, cells_per_vial=cells,
            volume_ml=Decimal("25.0") if unit else Decimal("1.0"),
            cryoprotectant="10% DMSO, 1% Dextran 40" if unit else "CryoStor CS10",
            cryoprotectant_lot="DX-7781" if unit else "CS10-25A17",
            freezing_program="controlled_rate" if tier != "WCB" else "container",
            freezing_profile="CRF profile 'stem cells -1 °C/min to -40 °C'" if tier != "WCB" else "",
            frozen_on=ago(days), actor=technician, reason="demo bank",
        )
        if label in RELEASE_FIRST:
            # QC results and an e-signed release by QA, as the bank would do it (qc.demo tells the story).
            ask("demo_release_master", label, lots[label], {**ctx, "lines": lines})
    # Issue 15: the clinical-grade lots carry ISBT 128 DINs (given at freeze); the haplobank iPSC line is registered
    # with hPSCreg (whose ID is its name) and ICSCB, and QA recorded the IDs back on the line.
    qa = ctx["users"].get("qa")
    if qa is not None:
        services.record_registry_ids(lines["ipsc"], hpscreg_id=lines["ipsc"].name, icscb_id="ICSCB-DEMO-0001",
                                     actor=qa, reason="demo bank: registered with hPSCreg and ICSCB")
    ctx.update(lines=lines, lots=lots, cultures=cultures)


def _grow(line, spec, *, parent_lot, ago, technicians):
    """A culture with its passages; a WCB's culture starts from a thawed vial of its parent MCB."""
    _label, line_label, started, first, days, medium, medium_lot = spec
    source = parent_lot.vials.filter(status="available").order_by("number").first() if parent_lot else None
    culture = services.start_culture(line, started_on=ago(started), source_vial=source, actor=technicians[0],
                                     reason="demo bank")
    seeded = 500_000 if line_label == "uc_msc" else 1_000_000
    for index, day in enumerate(days):
        fold = (6, 5, 7, 6, 4, 6, 5)[index % 7]
        services.record_passage(
            culture, number=first if index == 0 else None, passaged_on=ago(day), split_ratio=f"1:{fold}",
            seeded_cells=seeded, harvested_cells=seeded * fold, viability_pct=Decimal("96.5") - Decimal(index) / 2,
            medium=medium, medium_lot=medium_lot, reagents=REAGENTS.get(line_label, []),
            actor=technicians[index % 2], reason="demo bank",
        )
    return culture
