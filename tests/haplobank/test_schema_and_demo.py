"""The haplobank endpoints are in the OpenAPI schema, and the demo's synthetic tables are what the upload accepts
(a table that says it is synthetic, frequencies adding up to less than 1)."""

from __future__ import annotations

from decimal import Decimal

import pytest
from drf_spectacular.generators import SchemaGenerator

from haplobank import demo, queries, services
from haplobank.choices import HLAResolution
from tests.haplobank import helpers

CONTRACT = {
    ("post", "/api/v1/hla/populations/"), ("post", "/api/v1/hla/populations/{id}/haplotypes/"),
    ("post", "/api/v1/hla/populations/{id}/genotypes/"), ("get", "/api/v1/hla/coverage/"),
    ("post", "/api/v1/hla/coverage/simulate/"), ("post", "/api/v1/hla/match/"),
    # additions
    ("get", "/api/v1/hla/populations/"), ("get", "/api/v1/hla/populations/{id}/"), ("get", "/api/v1/hla/recruitment/"),
}


def test_every_haplobank_endpoint_is_in_the_schema():
    schema = SchemaGenerator().get_schema(request=None, public=True)
    documented = {(method, path) for path, operations in schema["paths"].items() for method in operations}
    assert CONTRACT <= documented
    upload = schema["paths"]["/api/v1/hla/populations/{id}/haplotypes/"]["post"]
    assert "text/csv" in upload["requestBody"]["content"]


def test_the_demo_table_is_synthetic_and_plausible():
    haplotypes = demo.synthetic_haplotypes()
    total = sum(f for _h, f in haplotypes)
    assert len(haplotypes) == demo.TABLE_SIZE and Decimal("0.2") < total < 1
    assert haplotypes[0][0] == "A*33:03~B*58:01~DRB1*03:01"  # the commonest Han Chinese haplotype of the generator
    assert "SYNTHETIC" in demo.SOURCE and "demo" in demo.POPULATION
    rows = services.read_haplotype_table(demo.haplotype_csv(), HLAResolution.TWO_FIELD)
    assert len(rows) == demo.TABLE_SIZE
    assert len(services.read_genotype_table(demo.cohort_csv(), HLAResolution.TWO_FIELD)) == demo.COHORT_SIZE


@pytest.mark.django_db
def test_the_demo_tables_give_the_demo_lines_a_coverage(users):
    population = helpers.population(haplotypes=demo.haplotype_csv(), genotypes=demo.cohort_csv())
    helpers.line("A*02:07~B*46:01~DRB1*09:01")  # the donors step's iPSC line
    helpers.line("A*30:01~B*13:02~DRB1*07:01")  # the line the haplobank step adds
    result = queries.coverage(population)
    assert result.lines == 2 and 10 < result.coverage_pct < 40
    assert queries.coverage(population, "genotype").coverage_pct > 0
