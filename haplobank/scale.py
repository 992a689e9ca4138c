"""load_scale step of the haplobank: one synthetic population with its haplotype table and a typed cohort, so the
coverage and planning pages are measured on the bank's real number of homozygous lines and units (at the national
profile, tens of thousands), not on a bank with no table (whose pages answer at once, saying what to upload).

The table and cohort are the demo's (``haplobank.demo``: the synthetic generator behind the load's typings, which
says it is synthetic), written set-wise at version 1 with their creation history, as an upload would.
"""

from __future__ import annotations

from bank.scale import ScaleContext
from donors import hla_frequencies
from haplobank.choices import HLAResolution
from haplobank.demo import COHORT_SEED, SOURCE, TABLE_SIZE, synthetic_haplotypes
from haplobank.models import CohortGenotype, HaplotypeFrequency, Population

POPULATION = "Synthetic Han Chinese (scale profile — not real frequencies)"
COHORT_SIZE = 1000


def load(ctx: ScaleContext) -> None:
    now = f"'{ctx.now.isoformat()}'::timestamptz"
    ctx.temp_table("scale_population", "name text, source text", [(POPULATION, SOURCE)])
    population = ctx.reserve_ids(Population, 1)
    ctx.insert(Population, {
        "id": str(population), "name": "name", "source": "source", "resolution": f"'{HLAResolution.TWO_FIELD}'",
        "haplotype_version": "1", "haplotypes_uploaded_at": now, "genotype_version": "1",
        "genotypes_uploaded_at": now, "created_by_id": str(ctx.users["coordinator"]), "created_at": now},
        "FROM scale_population")
    ctx.add_history(Population, population, 1, date_sql=now, reason="population registered", user="coordinator")

    haplotypes = [(*haplotype.split("~"), frequency, line)
                  for line, (haplotype, frequency) in enumerate(synthetic_haplotypes(TABLE_SIZE), start=2)]
    ctx.temp_table("scale_haplotypes", "a text, b text, drb1 text, frequency numeric, line int", haplotypes)
    first = ctx.reserve_ids(HaplotypeFrequency, len(haplotypes))
    ctx.insert(HaplotypeFrequency, {
        "id": f"{first} + (line - 2)", "population_id": str(population), "version": "1", "a": "a", "b": "b",
        "drb1": "drb1", "frequency": "frequency", "line": "line"}, "FROM scale_haplotypes")
    ctx.add_history(HaplotypeFrequency, first, len(haplotypes), date_sql=now, reason="haplotype table uploaded",
                    user="coordinator")

    persons = [(a1, a2, b1, b2, d1, d2, line) for line, (a1, a2, _c1, _c2, b1, b2, d1, d2, _q1, _q2)
               in enumerate(hla_frequencies.typings(COHORT_SIZE, COHORT_SEED), start=1)]
    ctx.temp_table("scale_cohort", "a_1 text, a_2 text, b_1 text, b_2 text, drb1_1 text, drb1_2 text, line int",
                   persons)
    first = ctx.reserve_ids(CohortGenotype, len(persons))
    ctx.insert(CohortGenotype, {
        "id": f"{first} + (line - 1)", "population_id": str(population), "version": "1", "a_1": "a_1", "a_2": "a_2",
        "b_1": "b_1", "b_2": "b_2", "drb1_1": "drb1_1", "drb1_2": "drb1_2", "line": "line"}, "FROM scale_cohort")
    ctx.add_history(CohortGenotype, first, len(persons), date_sql=now, reason="cohort uploaded", user="coordinator")
