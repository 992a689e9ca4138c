"""Demo bank, haplobank step (after transplant): a synthetic population with its haplotype table and a small typed
cohort, uploaded through the services as a coordinator would, and one more HLA-homozygous iPSC line.

The public WMDA/NMDP frequency sets may not be redistributed, so the demo's table is synthetic and says so: the
A~B~DRB1 haplotype frequencies of the generator behind the bank's synthetic typings (``donors.hla_frequencies``,
shaped after published Han Chinese data), the ``TABLE_SIZE`` most frequent (they add up to less than 1). The
cohort is drawn from the same generator. Homozygous lines that count: the donors step's iPSC line (A*02:07~B*46:01~
DRB1*09:01) and cord blood line (A*33:03~B*58:01~DRB1*03:01), and the line made here (A*30:01~B*13:02~DRB1*07:01).

ctx in: ``users``, ``ethics``. ctx out: ``haplobank`` with ``population`` and ``line``.
"""

from __future__ import annotations

import datetime
from collections import defaultdict
from decimal import Decimal

from django.utils import timezone

from bank.registry import ask
from donors import hla_frequencies
from donors import services as donor_services
from donors.choices import ConsentScope
from donors.models import ScreeningMarker
from haplobank import services
from haplobank.choices import HLAResolution
from lots import services as lot_services

POPULATION = "Synthetic Han Chinese (demo — not real frequencies)"
SOURCE = ("SYNTHETIC — not reference data: A~B~DRB1 frequencies of StemBank's synthetic typing generator "
          "(donors/hla_frequencies.py, shaped after published Han Chinese 2-field data). For demonstration only; "
          "never use for a clinical or planning estimate.")
TABLE_SIZE = 60
COHORT_SIZE = 200
COHORT_SEED = 14
NEW_LINE_HLA = {"A": ["A*30:01", "A*30:01"], "B": ["B*13:02", "B*13:02"], "C": ["C*06:02", "C*06:02"],
                "DRB1": ["DRB1*07:01", "DRB1*07:01"], "DQB1": ["DQB1*02:02", "DQB1*02:02"]}


def synthetic_haplotypes(count: int = TABLE_SIZE) -> list[tuple[str, Decimal]]:
    """The ``count`` most frequent A~B~DRB1 haplotypes of ``donors.hla_frequencies`` and their frequency: the
    extended haplotypes of its table, projected on A, B, DRB1, plus the share drawn locus by locus (each locus
    independent, in proportion to its allele weights). Rounded to 6 decimals; their sum is below 1."""
    loci = hla_frequencies.LOCI
    weights = {locus: dict(hla_frequencies.ALLELES[locus]) for locus in ("A", "B", "DRB1")}
    totals = {locus: sum(w.values()) for locus, w in weights.items()}
    frequency: dict[str, float] = defaultdict(float)
    for haplotype, share in hla_frequencies.HAPLOTYPES:
        alleles = dict(zip(loci, haplotype, strict=True))
        frequency[f"{alleles['A']}~{alleles['B']}~{alleles['DRB1']}"] += share
    rest = 1 - hla_frequencies.HAPLOTYPE_SHARE
    for a, fa in weights["A"].items():
        for b, fb in weights["B"].items():
            for dr, fd in weights["DRB1"].items():
                frequency[f"{a}~{b}~{dr}"] += rest * (fa / totals["A"]) * (fb / totals["B"]) * (fd / totals["DRB1"])
    best = sorted(frequency.items(), key=lambda item: (-item[1], item[0]))[:count]
    return [(haplotype, Decimal(f"{f:.6f}")) for haplotype, f in best]


def haplotype_csv(count: int = TABLE_SIZE) -> str:
    lines = ["haplotype,frequency", *(f"{h},{f}" for h, f in synthetic_haplotypes(count))]
    return "\n".join(lines) + "\n"


def cohort_csv(size: int = COHORT_SIZE, seed: int = COHORT_SEED) -> str:
    """``size`` persons typed at A, B, DRB1 (2-field), drawn from the same generator."""
    rows = []
    for a1, a2, _c1, _c2, b1, b2, d1, d2, _q1, _q2 in hla_frequencies.typings(size, seed):
        rows.append(",".join((a1, a2, b1, b2, d1, d2)))
    return "\n".join(rows) + "\n"


def _homozygous_line(ctx: dict):
    """A healthy donor homozygous at A, B and DRB1, consented, screened, typed; an iPSC line from a skin biopsy and
    its master bank, QC'd and released (qc's demo step answers ``demo_release_master``)."""
    users = ctx["users"]
    coordinator, technician = users["coordinator"], users["technician"]
    today = timezone.localdate()
    donor = donor_services.register_donor(
        actor=coordinator, sex="M", birth_year=1985, donor_type="healthy", population="Han Chinese",
        identity={"full_name": "郑浩", "national_id": "110105198507140019", "phone": "+86 139 0000 0140"},
        reason="demo bank: haplobank recruitment (homozygous donor)")
    donor_services.record_consent(donor, actor=coordinator, form_version="ICF-2025-v3",
                                  scopes=list(ConsentScope.values), signed_on=today - datetime.timedelta(days=150))
    collected = timezone.now() - datetime.timedelta(days=140)
    collection = donor_services.record_collection(
        actor=technician, donor=donor, tissue="skin", collected_at=collected,
        received_at=collected + datetime.timedelta(hours=4), transport_temperature_c=4, ethics_approval=ctx["ethics"])
    results = [{"marker": m.code, "result": "negative"} for m in ScreeningMarker.objects.filter(required=True)
               if m.required_for("skin")]
    donor_services.record_screening(donor, actor=coordinator, sample_drawn_on=collected.date(), maternal_sample=False,
                                    laboratory="Demo Hospital Clinical Laboratory", results=results)
    donor_services.set_hla(donor, actor=coordinator, alleles=NEW_LINE_HLA, method="ngs", typed_on=collected.date())
    line = lot_services.create_cell_line(
        collection=collection, cell_type="iPSC", grade="clinical", reprogramming_method="sendai",
        description="Healthy donor iPSC line, HLA-homozygous A*30:01~B*13:02~DRB1*07:01 (haplobank line).",
        established_on=collected.date() + datetime.timedelta(days=21), actor=technician, reason="demo bank")
    lot = lot_services.create_lot(
        cell_line=line, tier="MCB", passage=12, vial_count=40, cells_per_vial=1_000_000, volume_ml=Decimal("1.0"),
        cryoprotectant="CryoStor CS10", cryoprotectant_lot="CS10-25A17", freezing_program="controlled_rate",
        frozen_on=today - datetime.timedelta(days=70), actor=technician, reason="demo bank")
    ask("demo_release_master", "haplo_mcb", lot, ctx)
    return line


def load(ctx: dict) -> None:
    coordinator = ctx["users"]["coordinator"]
    line = _homozygous_line(ctx)
    population = services.create_population(actor=coordinator, name=POPULATION, source=SOURCE,
                                            resolution=HLAResolution.TWO_FIELD)
    population = services.replace_haplotypes(population, haplotype_csv(), actor=coordinator)
    population = services.replace_genotypes(population, cohort_csv(), actor=coordinator)
    ctx["haplobank"] = {"population": population, "line": line}
