"""Synthetic HLA frequencies for scale data (``manage.py load_scale``): NOT reference data.

Shaped after published Han Chinese 2-field frequencies (the common alleles and the common extended haplotypes
are the right ones and roughly in the right order), rounded and renormalised by hand. Use them to make realistic
*test* populations — matching, haplotype coverage and search benchmarks — never for a clinical estimate.

A donor gets two haplotypes. With ``HAPLOTYPE_SHARE`` a haplotype is one of ``HAPLOTYPES`` (the linkage
disequilibrium that makes haplobanks work); otherwise each locus is drawn on its own from ``ALLELES``. With
``IDENTICAL_BY_DESCENT`` the second haplotype copies the first (standing in for the homozygous donors a
haplobank recruits: a few per cent HLA-A/B/DRB1 homozygous overall).
"""

from __future__ import annotations

import random
from itertools import accumulate

LOCI = ("A", "C", "B", "DRB1", "DQB1")

# Per locus: (allele, relative frequency). Sums need not be 1.
ALLELES: dict[str, list[tuple[str, float]]] = {
    "A": [("A*11:01", 0.245), ("A*24:02", 0.165), ("A*02:07", 0.100), ("A*02:01", 0.110), ("A*33:03", 0.085),
          ("A*30:01", 0.055), ("A*02:06", 0.040), ("A*01:01", 0.025), ("A*26:01", 0.025), ("A*02:03", 0.030),
          ("A*31:01", 0.025), ("A*03:01", 0.020), ("A*11:02", 0.015), ("A*32:01", 0.010), ("A*29:01", 0.010),
          ("A*68:01", 0.010), ("A*30:02", 0.010), ("A*24:08", 0.010), ("A*02:10", 0.005), ("A*74:01", 0.005)],
    "C": [("C*01:02", 0.185), ("C*07:02", 0.165), ("C*03:04", 0.100), ("C*08:01", 0.095), ("C*03:02", 0.085),
          ("C*06:02", 0.075), ("C*04:01", 0.050), ("C*12:02", 0.040), ("C*14:02", 0.035), ("C*15:02", 0.030),
          ("C*03:03", 0.030), ("C*07:01", 0.025), ("C*08:22", 0.015), ("C*12:03", 0.015), ("C*07:04", 0.010),
          ("C*05:01", 0.010), ("C*16:02", 0.010), ("C*14:03", 0.010), ("C*15:05", 0.010), ("C*01:03", 0.005)],
    "B": [("B*46:01", 0.125), ("B*40:01", 0.110), ("B*58:01", 0.080), ("B*13:02", 0.050), ("B*51:01", 0.050),
          ("B*15:02", 0.045), ("B*38:02", 0.045), ("B*40:02", 0.040), ("B*15:01", 0.040), ("B*54:01", 0.035),
          ("B*35:01", 0.035), ("B*13:01", 0.035), ("B*44:03", 0.030), ("B*52:01", 0.030), ("B*55:02", 0.030),
          ("B*48:01", 0.025), ("B*27:04", 0.020), ("B*39:01", 0.020), ("B*37:01", 0.015), ("B*40:06", 0.015),
          ("B*07:02", 0.015), ("B*57:01", 0.010), ("B*67:01", 0.010), ("B*08:01", 0.010), ("B*56:01", 0.010),
          ("B*18:01", 0.010), ("B*35:03", 0.010), ("B*15:11", 0.010)],
    "DRB1": [("DRB1*09:01", 0.155), ("DRB1*15:01", 0.120), ("DRB1*12:02", 0.095), ("DRB1*08:03", 0.065),
             ("DRB1*07:01", 0.080), ("DRB1*03:01", 0.070), ("DRB1*04:05", 0.050), ("DRB1*11:01", 0.045),
             ("DRB1*14:01", 0.040), ("DRB1*15:02", 0.040), ("DRB1*12:01", 0.035), ("DRB1*16:02", 0.030),
             ("DRB1*13:02", 0.030), ("DRB1*04:03", 0.025), ("DRB1*08:02", 0.020), ("DRB1*14:54", 0.020),
             ("DRB1*04:06", 0.015), ("DRB1*10:01", 0.015), ("DRB1*01:01", 0.020), ("DRB1*13:12", 0.010),
             ("DRB1*04:01", 0.010), ("DRB1*11:04", 0.010)],
    "DQB1": [("DQB1*03:01", 0.200), ("DQB1*03:03", 0.165), ("DQB1*06:01", 0.110), ("DQB1*02:01", 0.080),
             ("DQB1*02:02", 0.070), ("DQB1*05:02", 0.070), ("DQB1*04:01", 0.050), ("DQB1*03:02", 0.065),
             ("DQB1*06:02", 0.055), ("DQB1*05:03", 0.045), ("DQB1*05:01", 0.035), ("DQB1*06:03", 0.020),
             ("DQB1*04:02", 0.020), ("DQB1*06:09", 0.010), ("DQB1*03:04", 0.005)],
}

# Common extended haplotypes (A, C, B, DRB1, DQB1), with their share among haplotypes of the set.
HAPLOTYPES: list[tuple[tuple[str, str, str, str, str], float]] = [
    (("A*33:03", "C*03:02", "B*58:01", "DRB1*03:01", "DQB1*02:01"), 0.045),
    (("A*02:07", "C*01:02", "B*46:01", "DRB1*09:01", "DQB1*03:03"), 0.040),
    (("A*30:01", "C*06:02", "B*13:02", "DRB1*07:01", "DQB1*02:02"), 0.035),
    (("A*11:01", "C*01:02", "B*46:01", "DRB1*09:01", "DQB1*03:03"), 0.025),
    (("A*33:03", "C*03:02", "B*58:01", "DRB1*13:02", "DQB1*06:09"), 0.015),
    (("A*02:01", "C*01:02", "B*46:01", "DRB1*09:01", "DQB1*03:03"), 0.015),
    (("A*11:01", "C*08:01", "B*15:02", "DRB1*12:02", "DQB1*03:01"), 0.015),
    (("A*24:02", "C*01:02", "B*54:01", "DRB1*04:05", "DQB1*04:01"), 0.012),
    (("A*11:01", "C*07:02", "B*38:02", "DRB1*15:02", "DQB1*05:02"), 0.012),
    (("A*02:03", "C*07:02", "B*38:02", "DRB1*16:02", "DQB1*05:02"), 0.010),
    (("A*11:01", "C*04:01", "B*15:01", "DRB1*04:06", "DQB1*03:02"), 0.010),
    (("A*24:02", "C*07:02", "B*40:01", "DRB1*15:01", "DQB1*06:02"), 0.010),
    (("A*02:01", "C*03:04", "B*40:01", "DRB1*08:03", "DQB1*06:01"), 0.010),
    (("A*11:01", "C*07:02", "B*40:01", "DRB1*09:01", "DQB1*03:03"), 0.010),
    (("A*01:01", "C*06:02", "B*37:01", "DRB1*10:01", "DQB1*05:01"), 0.006),
]
HAPLOTYPE_SHARE = sum(f for _h, f in HAPLOTYPES)  # ≈ 27 % of haplotypes come from the table
IDENTICAL_BY_DESCENT = 0.02


def typings(count: int, seed: int) -> list[tuple[str, ...]]:
    """``count`` deterministic 2-field typings: ``(a_1, a_2, c_1, c_2, b_1, b_2, drb1_1, drb1_2, dqb1_1, dqb1_2)``
    in the order of ``LOCI``, each pair sorted."""
    rng = random.Random(seed)  # noqa: S311 - synthetic data, repeatable on purpose
    n = count * 2
    table = [h for h, _f in HAPLOTYPES]
    table_cum = list(accumulate(f for _h, f in HAPLOTYPES))
    from_table = rng.choices(range(len(table) + 1), cum_weights=[*table_cum, 1.0], k=n)
    per_locus = {}
    for locus in LOCI:
        names = [a for a, _f in ALLELES[locus]]
        per_locus[locus] = rng.choices(names, cum_weights=list(accumulate(f for _a, f in ALLELES[locus])), k=n)
    same = [rng.random() < IDENTICAL_BY_DESCENT for _i in range(count)]
    haplotypes = []
    for i in range(n):
        pick = from_table[i]
        if pick < len(table):
            haplotypes.append(table[pick])
        else:
            haplotypes.append(tuple(per_locus[locus][i] for locus in LOCI))
    out = []
    for d in range(count):
        first = haplotypes[2 * d]
        second = first if same[d] else haplotypes[2 * d + 1]
        row: list[str] = []
        for k in range(len(LOCI)):
            row.extend(sorted((first[k], second[k])))
        out.append(tuple(row))
    return out
