"""Demo bank, QC step: results entered by technicians, decisions signed by QA, re-checks due.

ctx in: ``users``, ``lots`` (ipsc_mcb, ipsc_wcb, ipsc_wcb2, patient_mcb, msc_mcb, msc_wcb, cord_unit).
ctx out: ``qc`` with ``rejected_lot`` (an extra UC-MSC MCB lot this step adds) and ``deviations``.

What the demo shows, every state through the services:
- released: ipsc_mcb, ipsc_wcb, msc_wcb, cord_unit (and msc_mcb before its re-check failed) — each e-signed
  by qa or qa2 on results entered by technician or technician2 (segregation of duties);
- msc_mcb: an OOS endotoxin result, its deviation investigated and closed, a passing retest, released,
  then on hold after a failed stability re-check (open deviation, QA told);
- patient_mcb: in quarantine with a full passing panel, waiting for QA to sign;
- ipsc_wcb2: in quarantine, panel incomplete;
- an extra UC-MSC MCB lot: sterility positive, deviation closed, rejected (its vials destroyed);
- re-checks: ipsc_mcb due, msc_wcb overdue.
The lots step calls ``qualify_master`` for ipsc_mcb and msc_mcb before it freezes their WCBs.
Released WCBs are moved out of the quarantine tank; the cord unit is left there for a technician
(the storage page lists it under lots in the wrong kind of unit).
"""

from __future__ import annotations

import datetime
from decimal import Decimal

from django.utils import timezone

from bank.audit import acting
from bank.demo import DEMO_USERS
from lots.models import Lot
from lots.queries import sample_kinds
from lots.services import change_vial_status, create_lot
from qc import services
from qc.models import Deviation, Recheck, StabilityPlan
from qc.queries import spec_in_force
from storage.services import relocate_lot

PASSWORDS = {username: password for username, _role, _name, password in DEMO_USERS}

# test code -> (result, method, instrument or kit lot, days after freezing)
RESULTS = {
    "sterility": ({"outcome": "negative"}, "BacT/ALERT 3D, 7 days (USP <71>)", "BacT/ALERT 3D SN 4471", 9),
    "mycoplasma": ({"outcome": "negative"}, "qPCR (MycoSEQ)", "MycoSEQ kit lot 2318051", 4),
    "endotoxin": ({"value": Decimal("0.12")}, "LAL kinetic chromogenic (USP <85>)", "Endosafe cartridge 2291", 3),
    "viability": ({"value": Decimal("91.5")}, "trypan blue", "Countess 3, slide lot 0458", 1),
    "str_identity": ({"outcome": "match"}, "16-locus STR (PowerPlex 16 HS)", "PowerPlex kit lot 0000494183", 12),
    "karyotype": ({"outcome": "normal"}, "G-banding, 20 metaphases", "", 18),
    "pluripotency": ({"value": Decimal("94.2")}, "flow cytometry OCT4/SSEA-4/TRA-1-60", "CytoFLEX S", 6),
    "sendai_clearance": ({"outcome": "negative"}, "SeV RT-qPCR, passage 12", "TaqMan SeV assay", 7),
    "cd73": ({"value": Decimal("99.1")}, "flow cytometry", "CytoFLEX S", 5),
    "cd90": ({"value": Decimal("99.6")}, "flow cytometry", "CytoFLEX S", 5),
    "cd105": ({"value": Decimal("97.8")}, "flow cytometry", "CytoFLEX S", 5),
    "negative_markers": ({"value": Decimal("0.7")}, "flow cytometry (CD45/CD34/CD14/CD19/HLA-DR)", "CytoFLEX S", 5),
    "trilineage": ({"outcome": "positive"}, "osteo/adipo/chondro induction, 21 days", "StemPro kits", 24),
    "tnc": ({"value": Decimal("12.4")}, "haematology analyser", "Sysmex XN-550", 0),
    "cd34": ({"value": Decimal("4.6")}, "ISHAGE single-platform flow", "BD Stem Cell Enumeration kit", 0),
    "cfu": ({"outcome": "positive"}, "CFU assay, 14 days", "MethoCult H4434", 14),
    # cord blood units (issue 12)
    "abo_rh": ({"outcome": "o+"}, "forward and reverse grouping, RhD", "ORTHO Vision", 0),
    "haemoglobinopathy": ({"outcome": "normal"}, "capillary electrophoresis; thalassaemia genotyping", "Capillarys 3",
                          3),
    "nrbc": ({"value": Decimal("7.8")}, "haematology analyser", "Sysmex XN-550", 0),
    "cfu_count": ({"value": Decimal("21.5")}, "CFU-GM assay, 14 days", "MethoCult H4434", 14),
    "viable_cd34_post_thaw": ({"value": Decimal("86.0")}, "7-AAD ISHAGE flow on a thawed segment", "BD FACSLyric", 1),
    "viable_cd45_post_thaw": ({"value": Decimal("71.0")}, "7-AAD flow on a thawed segment", "BD FACSLyric", 1),
    "cfu_growth": ({"outcome": "positive"}, "CFU assay on a thawed segment, 14 days", "MethoCult H4434", 14),
    "identity": ({"outcome": "match"}, "HLA typing of an attached segment", "SeCore kit", 5),
}


def _tested_on(lot: Lot, days: int) -> datetime.date:
    return min(lot.frozen_on + datetime.timedelta(days=days), timezone.localdate())


def _panel(lot: Lot) -> list[str]:
    spec = spec_in_force(lot.cell_line.cell_type, lot.tier)
    return [c.test.code for c in spec.criteria.all() if c.applies_to(lot.cell_line)]


def _enter(lot: Lot, user, code: str, *, override: dict | None = None, vial=None, days: int | None = None):
    result, method, instrument, offset = RESULTS[code]
    return services.record_qc_result(
        lot, actor=user, test=code, tested_on=_tested_on(lot, offset if days is None else days), method=method,
        instrument=instrument, vial=vial, **(override or result),
    )


def _enter_panel(lot: Lot, user, *, skip=(), overrides=None, thaw: bool = True):
    """Every applicable test; the post-thaw tests use the lot's first vial (thawed once) — for a cord blood unit
    its first segment or reference vial of cells, never the bag."""
    overrides = overrides or {}
    vial = (lot.vials.filter(kind__in=sample_kinds(lot.tier)).order_by("number").first()
            if thaw and lot.vial_count > 1 else None)
    for code in _panel(lot):
        if code in skip:
            continue
        _enter(lot, user, code, override=overrides.get(code),
               vial=vial.barcode if vial and code in ("viability", "sterility", "mycoplasma") else None)


def _close(deviation: Deviation, qa, *, investigation: str, root_cause: str, capa: str) -> None:
    services.update_deviation(deviation, actor=qa, investigation=investigation, root_cause=root_cause, capa=capa)
    services.close_deviation(deviation, actor=qa, password=PASSWORDS[qa.username])


def _release(lot: Lot, qa) -> None:
    services.release_lot(lot, actor=qa, password=PASSWORDS[qa.username], meaning="release")


def _extra_rejected_lot(ctx: dict, technician) -> Lot:
    """One more UC-MSC master bank, to show a rejection (the lots step makes seven lots, one per other state)."""
    return create_lot(
        cell_line=ctx["lines"]["uc_msc"], tier="MCB", parent_lot=None, culture=None, passage=4, vial_count=30,
        cells_per_vial=5_000_000, volume_ml=Decimal("1.0"), cryoprotectant="CryoStor CS10",
        cryoprotectant_lot="CS10-25A17", freezing_program="controlled_rate", freezing_profile="",
        frozen_on=timezone.localdate() - datetime.timedelta(days=50), actor=technician, reason="demo bank",
    )


def qualify_master(label: str, lot: Lot, ctx: dict) -> None:
    """QC and release of a demo master bank; the lots step calls it before freezing the WCBs from it.

    ipsc_mcb: a full Sendai iPSC MCB panel, released by qa. msc_mcb: an OOS endotoxin result, its
    deviation investigated and closed, a passing retest, released by qa2.
    """
    users = ctx["users"]
    tech, tech2, qa, qa2 = users["technician"], users["technician2"], users["qa"], users["qa2"]
    if label != "msc_mcb":
        _enter_panel(lot, tech)
        _release(lot, qa)
        return
    _enter_panel(lot, tech2, overrides={"endotoxin": {"value": Decimal("0.82")}})
    oos = Deviation.objects.get(lot=lot, status="open")
    _close(oos, qa, investigation="Endotoxin 0.82 EU/mL on the first LAL run; spike recovery 48 % (invalid run, "
                                  "acceptance 50–200 %). Retained sample retested on a new cartridge lot.",
           root_cause="Cartridge lot 2277 stored above 8 °C during a cold-room outage: invalid assay, not product.",
           capa="Quarantined cartridge lot 2277; cold-room alarm added to the sensor network; retest passed.")
    _enter(lot, tech2, "endotoxin", override={"value": Decimal("0.08")}, days=11)
    _release(lot, qa2)


def load(ctx: dict) -> None:
    users, lots = ctx["users"], ctx["lots"]
    tech, tech2, qa, qa2 = users["technician"], users["technician2"], users["qa"], users["qa2"]

    # The masters were already qualified by the lots step (their WCBs need a released parent).
    for label in ("ipsc_mcb", "msc_mcb"):
        if lots[label].status == "quarantine":
            qualify_master(label, lots[label], ctx)
    msc_mcb = lots["msc_mcb"]

    # ipsc_wcb and msc_wcb — working banks from the released masters.
    _enter_panel(lots["ipsc_wcb"], tech)
    _release(lots["ipsc_wcb"], qa2)
    _enter_panel(lots["msc_wcb"], tech2)
    _release(lots["msc_wcb"], qa)

    # cord_unit — a single unit: counts on the bag's segments, the unit itself is not thawed.
    _enter_panel(lots["cord_unit"], tech, thaw=False)
    _release(lots["cord_unit"], qa)

    # Released working banks leave the quarantine tank; the cord unit waits for a technician to move it.
    for label in ("ipsc_wcb", "msc_wcb"):
        relocate_lot(lots[label], actor=tech, reason="released by QA: moved out of the quarantine tank")

    # patient_mcb — full passing panel, waiting for QA's signature.
    _enter_panel(lots["patient_mcb"], tech2)

    # ipsc_wcb2 — frozen 10 days ago: sterility culture, STR and karyotype still running.
    _enter_panel(lots["ipsc_wcb2"], tech, skip=("sterility", "str_identity", "karyotype"))

    # An extra UC-MSC MCB: sterility positive, investigated, closed; rejected by qa2.
    rejected = _extra_rejected_lot(ctx, tech)
    _enter_panel(rejected, tech2, overrides={"sterility": {"outcome": "positive"}}, thaw=False)
    _close(Deviation.objects.get(lot=rejected, status="open"), qa,
           investigation="BacT/ALERT aerobic bottle positive at 38 h; Gram-positive cocci, identified as "
                         "Staphylococcus epidermidis. Both retained bottles positive: not a sampling artefact.",
           root_cause="Skin flora introduced during harvest: the biosafety cabinet sash was above the working height.",
           capa="Lot rejected and destroyed; aseptic technique retraining; sash height interlock fitted to BSC-2.")
    services.reject_lot(rejected, actor=qa2, password=PASSWORDS[qa2.username],
                        reason="Sterility positive (S. epidermidis), confirmed on both retained bottles.")
    change_vial_status(list(rejected.vials.all()), "destroyed", actor=tech, reason="rejected lot destroyed")

    # Stability: pretend a year has passed for three released lots, then run the daily task.
    today = timezone.localdate()
    due = {"ipsc_mcb": today - datetime.timedelta(days=3), "msc_mcb": today - datetime.timedelta(days=6),
           "msc_wcb": today - datetime.timedelta(days=41)}
    with acting(qa, "demo bank: these lots were released a year ago"):
        for label, day in due.items():
            plan = StabilityPlan.objects.get(lot=lots[label])
            plan.next_due_on = day
            plan.save(update_fields=["next_due_on"])
    services.open_due_rechecks(actor=None, today=today)
    # msc_mcb's re-check fails: the lot goes on hold, a deviation opens, QA is told.
    recheck = Recheck.objects.get(lot=msc_mcb, status__in=("due", "overdue"))
    services.record_recheck_result(recheck, actor=tech, viability_pct=Decimal("62.5"), tested_on=today,
                                   method="trypan blue", instrument="Countess 3, slide lot 0502")
    ctx["qc"] = {"rejected_lot": rejected, "deviations": list(Deviation.objects.order_by("number"))}
