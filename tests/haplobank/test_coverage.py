"""Coverage of a population by the bank's homozygous released lines, with figures worked by hand.

Haplotype definition: C(H) = 1 − (1 − Σ f)². One haplotype of f = 0.10: 1 − 0.9² = 0.19 → 19.00 %. Two, 0.10 and
0.05: 1 − 0.85² = 1 − 0.7225 = 0.2775 → 27.75 %, the second line adding 27.75 − 19.00 = 8.75.
"""

from __future__ import annotations

import datetime

import pytest
from django.utils import timezone

from distribution import services as distribution_services
from donors.services import withdraw_consent
from donors.services.hla import set_hla
from haplobank import queries
from lots.models import Lot
from lots.services import change_lot_status
from tests.haplobank import helpers

pytestmark = pytest.mark.django_db

H24 = "A*24:02~B*52:01~DRB1*15:02"
H02 = "A*02:07~B*46:01~DRB1*09:01"
H33 = "A*33:03~B*58:01~DRB1*03:01"
TABLE = f"{H24},0.10\n{H02},0.05\n{H33},0.02\n"

# Six people, worked by hand against a line homozygous for H24 (L1) and one for H02 (L2) at 2 fields:
COHORT = "\n".join([
    "A*24:02,A*02:01,B*52:01,B*07:02,DRB1*15:02,DRB1*04:05",  # 1: carries 24:02, 52:01, 15:02 -> L1
    "A*24:02,A*24:02,B*52:01,B*52:01,DRB1*15:02,DRB1*15:02",  # 2: L1
    "A*02:07,A*11:01,B*46:01,B*40:01,DRB1*09:01,DRB1*12:02",  # 3: L2
    "A*24:02,A*02:07,B*52:01,B*46:01,DRB1*15:02,DRB1*09:01",  # 4: L1 and L2
    "A*24:02,A*11:01,B*40:01,B*52:01,DRB1*12:02,DRB1*04:05",  # 5: no DRB1*15:02 -> nobody
    "A*24:03,A*02:07,B*52:01,B*46:01,DRB1*15:02,DRB1*09:01",  # 6: A*24:03 is not A*24:02 -> L2 only
]) + "\n"


def coverage_of(api, user, population, definition=None):
    params = {"population": population.pk, **({"definition": definition} if definition else {})}
    response = api(user).get("/api/v1/hla/coverage/", params)
    assert response.status_code == 200, response.json()
    return response.json()


def test_one_haplotype_of_ten_per_cent_covers_nineteen(users, api):
    population = helpers.population(haplotypes=TABLE)
    line = helpers.line(H24, name="SCBi100-A")
    body = coverage_of(api, users["qa"], population)
    assert body["definition"] == "haplotype" and body["lines"] == 1 and body["coverage_pct"] == 19.0
    assert body["per_line"] == [{"cell_line": line.pk, "name": "SCBi100-A", "cell_type": "iPSC", "haplotype": H24,
                                 "gain_pct": 19.0}]
    assert body["curve"] == [{"lines": 1, "coverage_pct": 19.0}]
    assert body["resolution"] == "2-field" and body["population"]["id"] == population.pk
    assert "1 − (1 − Σ f_h)²" in body["definition_text"] and "2-field" in body["resolution_text"]
    assert "homozygous" in body["lines_text"]


def test_two_haplotypes_of_ten_and_five_per_cent_cover_27_75(users, api):
    population = helpers.population(haplotypes=TABLE)
    helpers.line(H02, name="SCBi001-A")  # named first, but the rarer haplotype: greedy puts it second
    helpers.line(H24, name="SCBi002-A")
    body = coverage_of(api, users["coordinator"], population)
    assert body["coverage_pct"] == 27.75 and body["lines"] == 2
    assert [(row["name"], row["gain_pct"]) for row in body["per_line"]] == [("SCBi002-A", 19.0), ("SCBi001-A", 8.75)]
    assert body["curve"] == [{"lines": 1, "coverage_pct": 19.0}, {"lines": 2, "coverage_pct": 27.75}]


def test_a_second_line_of_the_same_haplotype_adds_nothing(users, api):
    population = helpers.population(haplotypes=TABLE)
    helpers.line(H24, name="SCBi001-A")
    helpers.line(H24, name="SCBi002-A")
    helpers.line("A*01:01~B*37:01~DRB1*10:01", name="SCBi003-A")  # homozygous, but not in the table
    body = coverage_of(api, users["admin"], population)
    assert body["coverage_pct"] == 19.0 and body["lines"] == 3
    assert [(row["name"], row["gain_pct"]) for row in body["per_line"]] == [
        ("SCBi001-A", 19.0), ("SCBi002-A", 0.0), ("SCBi003-A", 0.0)]
    assert [point["coverage_pct"] for point in body["curve"]] == [19.0, 19.0, 19.0]


def test_a_heterozygous_donors_line_never_counts(users, api):
    population = helpers.population(haplotypes=TABLE)
    helpers.line({"A": ["A*24:02", "A*24:02"], "B": ["B*52:01", "B*52:01"], "DRB1": ["DRB1*15:02", "DRB1*04:05"]})
    helpers.line({"A": ["A*24:02", "A*24:03"], "B": ["B*52:01", "B*52:01"], "DRB1": ["DRB1*15:02", "DRB1*15:02"]})
    body = coverage_of(api, users["qa"], population)
    assert body["lines"] == 0 and body["coverage_pct"] == 0.0 and body["per_line"] == [] and body["curve"] == []


def test_a_two_field_line_typing_counts_by_its_groups_in_a_one_field_table(users, api):
    population = helpers.population(resolution="1-field", haplotypes="A*24~B*52~DRB1*15,0.10\n")
    # Heterozygous at two fields, homozygous by allele group at A: counts in a 1-field table.
    helpers.line({"A": ["A*24:02", "A*24:03"], "B": ["B*52:01", "B*52:01"], "DRB1": ["DRB1*15:02", "DRB1*15:02"]},
                 name="SCBi010-A")
    helpers.line({"A": ["A*24:02", "A*02:01"], "B": ["B*52:01", "B*52:01"], "DRB1": ["DRB1*15:02", "DRB1*15:02"]})
    body = coverage_of(api, users["qa"], population)
    assert body["coverage_pct"] == 19.0 and body["lines"] == 1
    assert body["per_line"][0]["name"] == "SCBi010-A" and body["per_line"][0]["haplotype"] == "A*24~B*52~DRB1*15"
    assert "1-field" in body["resolution_text"]


def test_a_one_field_line_typing_cannot_be_placed_in_a_two_field_table(users, api):
    population = helpers.population(haplotypes=TABLE)
    helpers.line({"A": ["A*24", "A*24"], "B": ["B*52", "B*52"], "DRB1": ["DRB1*15", "DRB1*15"]})
    assert coverage_of(api, users["qa"], population)["lines"] == 0


def test_a_recalled_line_stops_counting(users, api, password):
    population = helpers.population(haplotypes=TABLE)
    line = helpers.line(H24)
    assert coverage_of(api, users["qa"], population)["coverage_pct"] == 19.0
    lot = Lot.objects.get(cell_line=line)
    distribution_services.recall_lot(lot, actor=users["qa"], password=password, reason="Mycoplasma positive")
    body = coverage_of(api, users["qa"], population)
    assert body["lines"] == 0 and body["coverage_pct"] == 0.0


def test_a_line_on_hold_or_not_released_or_withdrawn_does_not_count(users, api):
    population = helpers.population(haplotypes=TABLE)
    held = helpers.line(H24)
    change_lot_status(Lot.objects.get(cell_line=held), "on_hold", actor=users["qa"], reason="stability re-check")
    helpers.line(H02, status="quarantine")
    withdrawn = helpers.line(H33)
    withdraw_consent(withdrawn.donor.consents.get(), actor=users["coordinator"], reason="Donor's request")
    assert coverage_of(api, users["qa"], population)["lines"] == 0
    # Released again (the hold lifted), the line counts again.
    change_lot_status(Lot.objects.get(cell_line=held), "released", actor=users["qa"], reason="re-check passed")
    assert coverage_of(api, users["qa"], population)["coverage_pct"] == 19.0


def test_public_cord_blood_units_count_and_family_units_do_not(users, api):
    population = helpers.population(haplotypes=TABLE)
    public = helpers.unit(H24)
    helpers.unit(H02, ownership="family")
    body = coverage_of(api, users["qa"], population)
    assert body["lines"] == 1 and body["coverage_pct"] == 19.0
    assert body["per_line"][0]["cell_line"] == public.lot.cell_line_id and body["per_line"][0]["cell_type"] == "CB-HSC"


def test_a_line_with_two_released_lots_counts_once(users, api):
    population = helpers.population(haplotypes=TABLE)
    line = helpers.line(H24)
    Lot.objects.create(cell_line=line, tier="WCB", parent_lot=Lot.objects.get(cell_line=line), passage=12,
                       vial_count=1, cells_per_vial=1, volume_ml=1, cryoprotectant="CS10", lot_number="WCB-HB-1",
                       barcode="SBHBW1", frozen_on=timezone.localdate() - datetime.timedelta(days=3),
                       operator=users["technician"], status="released")
    assert coverage_of(api, users["qa"], population)["lines"] == 1


# --- genotype definition ----------------------------------------------------------------------------------------


def test_genotype_counting_on_a_six_person_cohort(users, api):
    population = helpers.population(haplotypes=TABLE, genotypes=COHORT)
    helpers.line(H24, name="SCBi100-A")  # covers 1, 2, 4
    helpers.line(H02, name="SCBi101-A")  # covers 3, 4, 6: adds 3 and 6
    body = coverage_of(api, users["qa"], population, "genotype")
    assert body["definition"] == "genotype"
    assert body["coverage_pct"] == 83.33  # 5 of 6
    assert [(row["name"], row["gain_pct"]) for row in body["per_line"]] == [("SCBi100-A", 50.0),
                                                                            ("SCBi101-A", 33.33)]
    assert body["curve"] == [{"lines": 1, "coverage_pct": 50.0}, {"lines": 2, "coverage_pct": 83.33}]
    assert "6 people" in body["definition_text"]


def test_genotype_counting_at_one_field_uses_the_groups(users, api):
    cohort_1f = COHORT  # uploaded into a 1-field population: normalised to groups (A*24:03 -> A*24)
    population = helpers.population(resolution="1-field", haplotypes="A*24~B*52~DRB1*15,0.1\n", genotypes=cohort_1f)
    helpers.line(H24, name="SCBi100-A")  # A*24~B*52~DRB1*15: now covers 1, 2, 4 and 6
    helpers.line(H02, name="SCBi101-A")  # A*02~B*46~DRB1*09: covers 3, 4, 6 -> adds 3
    body = coverage_of(api, users["qa"], population, "genotype")
    assert body["coverage_pct"] == 83.33
    assert [row["gain_pct"] for row in body["per_line"]] == [66.67, 16.67]  # each rounded on its own


def test_the_definitions_need_their_table(users, api):
    empty = helpers.population()
    client = api(users["qa"])
    response = client.get("/api/v1/hla/coverage/", {"population": empty.pk})
    assert response.status_code == 409 and response.json()["code"] == "no_haplotype_table"
    response = client.get("/api/v1/hla/coverage/", {"population": empty.pk, "definition": "genotype"})
    assert response.status_code == 409 and response.json()["code"] == "no_cohort"


@pytest.mark.parametrize("params", [{}, {"population": "x"}, {"population": 999999},
                                    {"population": 1, "definition": "phenotype"}])
def test_bad_coverage_parameters_are_a_400(users, api, params):
    helpers.population(haplotypes=TABLE)
    response = api(users["qa"]).get("/api/v1/hla/coverage/", params)
    assert response.status_code == 400


@pytest.mark.parametrize(("role", "status"), [("qa", 200), ("coordinator", 200), ("admin", 200),
                                              ("technician", 403), ("researcher", 403), (None, 401)])
def test_who_may_read_coverage(users, api, role, status):
    population = helpers.population(haplotypes=TABLE)
    response = api(users[role] if role else None).get("/api/v1/hla/coverage/", {"population": population.pk})
    assert response.status_code == status


def test_coverage_runs_a_fixed_number_of_queries(users, django_assert_num_queries):
    population = helpers.population(haplotypes=TABLE, genotypes=COHORT)
    for haplotype in (H24, H02, H33, H24):
        helpers.line(haplotype)
    helpers.unit(H02)
    population = queries.populations().get(pk=population.pk)
    queries.forget_kept()
    with django_assert_num_queries(3):  # the records' stamp, the table in force, the homozygous lines that count
        result = queries.coverage(population)
    assert result.lines == 5 and result.coverage_pct == queries.pct(1 - (1 - 0.17) ** 2)
    with django_assert_num_queries(2):  # the stamp, the cohort in force (the lines are kept)
        assert queries.coverage(population, "genotype").lines == 5
    with django_assert_num_queries(2):  # the stamp of each read (outside a request): both figures are kept
        assert queries.coverage(population).per_line is result.per_line
        assert queries.coverage(population, "genotype").lines == 5


def test_coverage_is_kept_until_a_record_it_follows_changes(users, settings, django_assert_num_queries):
    """Kept figures stand while no lot, line, donor, typing or cord blood unit changes; each change is seen at once
    (its history row moves the stamp), and nothing is kept longer than HAPLOBANK_KEEP_SECONDS."""
    settings.HAPLOBANK_KEEP_SECONDS = 3600
    population = helpers.population(haplotypes=TABLE)
    line = helpers.line(H24)
    unit = helpers.unit(H33)
    first = queries.coverage(population)
    assert first.lines == 2 and queries.coverage(population) is not first  # a new Coverage, the same figures
    assert queries.coverage(population).per_line is first.per_line
    helpers.line(H02)  # a new line (lines, lots, donors, typings)
    assert queries.coverage(population).lines == 3
    # The typing corrected: the donor is no longer homozygous at B.
    set_hla(line.donor, actor=users["coordinator"], alleles={**helpers.typing(H24), "B": ["B*40:01", "B*52:01"]},
            reason="re-typed by the laboratory")
    assert line.pk not in {g.cell_line for g in queries.coverage(population).per_line}
    assert queries.coverage(population).lines == 2
    unit.ownership = "family"  # kept for one family: never counts
    unit.save()
    assert unit.lot.cell_line_id not in {g.cell_line for g in queries.coverage(population).per_line}
    assert queries.coverage(population).lines == 1
    settings.HAPLOBANK_KEEP_SECONDS = 0  # nothing kept: every read computes again
    with django_assert_num_queries(3):
        assert queries.coverage(population).lines == 1


def test_greedy_order_follows_the_marginal_gain():
    lines = [queries.LineHaplotype(1, "L1", "iPSC", "x"), queries.LineHaplotype(2, "L2", "iPSC", "y"),
             queries.LineHaplotype(3, "L3", "iPSC", "z")]
    # persons: 0..3 covered by x; 3..5 by y; 0..1 and 6 by z. Greedy: x (4), y (+2), z (+1).
    index = queries._CohortIndex([])
    index.size, index.covers = 7, {"x": 0b0001111, "y": 0b0111000, "z": 0b1000011}
    order = queries._genotype_order(lines, index)
    assert [(line.name, round(float(share), 4)) for line, share in order] == [("L1", 0.5714), ("L2", 0.8571),
                                                                              ("L3", 1.0)]


def test_the_lines_that_count_are_distributions_rule(users):
    """``bank_lines`` applies ``distributable_lots_q`` in its two parts (the lot's own in a subquery, the donor's
    consent on the line's donor): the same lines as the rule in one piece, family units left out."""
    from django.db.models import Exists, OuterRef
    from django.utils import timezone as tz

    from distribution.queries import distributable_lots_q
    from lots.models import CellLine

    lines = [helpers.line(H24), helpers.line(H02, status="quarantine"), helpers.line(H33, status="on_hold"),
             helpers.line(H24, status="depleted")]
    withdrawn = helpers.line(H02)
    withdrawn.donor.consent_withdrawn_at = tz.now()  # the donor's own date, before any lot is flagged
    withdrawn.donor.save(update_fields=["consent_withdrawn_at"])
    flagged = helpers.line(H33)
    Lot.objects.filter(cell_line=flagged).update(consent_withdrawn_flagged_at=tz.now())
    public, family = helpers.unit(H24), helpers.unit(H02, ownership="family")
    whole = set(CellLine.objects.filter(Exists(Lot.objects.filter(distributable_lots_q(), cell_line=OuterRef("pk"))))
                .exclude(pk=family.lot.cell_line_id).values_list("pk", flat=True))
    assert set(queries.bank_lines().values_list("pk", flat=True)) == whole == {lines[0].pk, public.lot.cell_line_id}
