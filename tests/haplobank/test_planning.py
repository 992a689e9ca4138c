"""Planning: the coverage of a planned set of haplotypes, the next best haplotypes, and the recruitment list of
registered homozygous donors (coordinators only, codes only)."""

from __future__ import annotations

import pytest

from donors.services import withdraw_consent
from tests.factories import (
    CollectionFactory,
    ConsentFactory,
    DonorFactory,
    DonorIdentityFactory,
    HLATypingFactory,
    full_negative_panel,
)
from tests.haplobank import helpers

pytestmark = pytest.mark.django_db

H24 = "A*24:02~B*52:01~DRB1*15:02"
H02 = "A*02:07~B*46:01~DRB1*09:01"
H33 = "A*33:03~B*58:01~DRB1*03:01"
# Twelve haplotypes: 0.10, 0.05, 0.02 and nine more of 0.01 … 0.001.
RARE = [f"A*{a}~B*{b}~DRB1*{d}" for a, b, d in [
    ("11:01", "40:01", "09:01"), ("11:01", "46:01", "09:01"), ("30:01", "13:02", "07:01"), ("02:01", "46:01", "09:01"),
    ("11:01", "15:02", "12:02"), ("24:02", "54:01", "04:05"), ("11:01", "38:02", "15:02"), ("02:03", "38:02", "16:02"),
    ("01:01", "37:01", "10:01")]]
TABLE = f"{H24},0.10\n{H02},0.05\n{H33},0.02\n" + "".join(
    f"{h},{(9 - i) / 1000:.3f}\n" for i, h in enumerate(RARE))


def simulate(api, user, body):
    return api(user).post("/api/v1/hla/coverage/simulate/", body, format="json")


def test_a_planned_set_is_covered_by_hardy_weinberg(users, api):
    population = helpers.population(haplotypes=TABLE)
    response = simulate(api, users["qa"], {"population": population.pk, "haplotypes": [H24, H02]})
    assert response.status_code == 200, response.json()
    body = response.json()
    assert body["coverage_pct"] == 27.75 and body["haplotypes"] == [H24, H02] and body["bank_haplotypes"] == []
    assert len(body["next_best"]) == 10  # every haplotype not in the set: 12 − 2
    assert body["next_best"][0]["haplotype"] == H33
    # 1 − (1 − 0.17)² − 0.2775 = 0.3111 − 0.2775 = 0.0336
    assert body["next_best"][0]["gain_pct"] == 3.36
    gains = [item["gain_pct"] for item in body["next_best"]]
    assert gains == sorted(gains, reverse=True)
    assert "Hardy–Weinberg" in body["definition_text"]


def test_the_bank_can_be_added_to_the_plan(users, api):
    population = helpers.population(haplotypes=TABLE)
    helpers.line(H24)
    helpers.line({"A": ["A*02:07", "A*02:07"], "B": ["B*46:01", "B*46:01"], "DRB1": ["DRB1*09:01", "DRB1*12:02"]})
    body = simulate(api, users["coordinator"], {"population": population.pk, "haplotypes": [H33],
                                                "include_bank": True}).json()
    assert body["bank_haplotypes"] == [H24]  # the heterozygous line is not the bank's
    # 0.10 + 0.02 = 0.12: 1 − 0.88² = 0.2256
    assert body["coverage_pct"] == 22.56
    assert H24 not in [item["haplotype"] for item in body["next_best"]]
    assert body["next_best"][0]["haplotype"] == H02


def test_planned_haplotypes_are_read_at_the_populations_resolution(users, api):
    population = helpers.population(resolution="1-field", haplotypes="A*24~B*52~DRB1*15,0.10\n")
    body = simulate(api, users["qa"], {"population": population.pk, "haplotypes": [H24, "A*24~B*52~DRB1*15"]}).json()
    assert body["haplotypes"] == ["A*24~B*52~DRB1*15"] and body["coverage_pct"] == 19.0


def test_a_bad_planned_haplotype_is_a_400(users, api):
    population = helpers.population(haplotypes=TABLE)
    response = simulate(api, users["qa"], {"population": population.pk,
                                           "haplotypes": [H24, "A*24:02~B*52:01", "A*24~B*52:01~DRB1*15:02"]})
    assert response.status_code == 400
    problems = response.json()["haplotypes"]
    assert len(problems) == 2 and "A~B~DRB1" in problems[0] and "this table is 2-field" in problems[1]


def test_genotype_planning_counts_the_cohort(users, api):
    cohort = ("A*24:02,A*02:01,B*52:01,B*07:02,DRB1*15:02,DRB1*04:05\n"
              "A*02:07,A*11:01,B*46:01,B*40:01,DRB1*09:01,DRB1*12:02\n"
              "A*02:07,A*02:07,B*46:01,B*46:01,DRB1*09:01,DRB1*09:01\n"
              "A*33:03,A*11:01,B*58:01,B*40:01,DRB1*03:01,DRB1*12:02\n")
    population = helpers.population(haplotypes=TABLE, genotypes=cohort)
    body = simulate(api, users["qa"], {"population": population.pk, "haplotypes": [H24],
                                       "definition": "genotype"}).json()
    assert body["definition"] == "genotype" and body["coverage_pct"] == 25.0
    assert [(item["haplotype"], item["gain_pct"]) for item in body["next_best"][:2]] == [(H02, 50.0), (H33, 25.0)]


def test_planning_needs_the_table(users, api):
    population = helpers.population()
    response = simulate(api, users["qa"], {"population": population.pk, "haplotypes": [H24]})
    assert response.status_code == 409 and response.json()["code"] == "no_haplotype_table"


@pytest.mark.parametrize(("role", "status"), [("qa", 200), ("coordinator", 200), ("admin", 200),
                                              ("researcher", 403), ("technician", 403), (None, 401)])
def test_who_may_plan(users, api, role, status):
    population = helpers.population(haplotypes=TABLE)
    assert simulate(api, users[role] if role else None,
                    {"population": population.pk, "haplotypes": []}).status_code == status


# --- the recruitment list ---------------------------------------------------------------------------------------


def donor(hla, *, scopes=("research", "recontact"), eligible=True, identity=False):
    person = DonorFactory()
    if identity:
        DonorIdentityFactory(donor=person, full_name="Li Hua")
    ConsentFactory(donor=person, scopes=list(scopes))
    collection = CollectionFactory(donor=person)
    full_negative_panel(collection, result="negative" if eligible else "positive")
    HLATypingFactory(donor=person, **helpers.typing_fields(hla))
    return person


def recruitment(api, user, population, haplotype):
    return api(user).get("/api/v1/hla/recruitment/", {"population": population.pk, "haplotype": haplotype})


def test_the_recruitment_list_names_typed_consented_eligible_homozygous_donors(users, api):
    population = helpers.population(haplotypes=TABLE)
    wanted = donor(H24, identity=True)
    no_recontact = donor(H24, scopes=("research",))
    donor(H24, eligible=False)  # a positive marker
    withdrawn = donor(H24)
    withdraw_consent(withdrawn.consents.get(), actor=users["coordinator"], reason="Donor's request")
    donor({"A": ["A*24:02", "A*24:02"], "B": ["B*52:01", "B*52:01"], "DRB1": ["DRB1*15:02", "DRB1*04:05"]})
    banked = helpers.line(H24)
    response = recruitment(api, users["coordinator"], population, H24)
    assert response.status_code == 200, response.json()
    body = response.json()
    assert body["haplotype"] == H24 and body["population"]["id"] == population.pk
    rows = {row["code"]: row for row in body["donors"]}
    assert set(rows) == {wanted.code, no_recontact.code, banked.donor.code}
    assert rows[wanted.code]["may_recontact"] and not rows[no_recontact.code]["may_recontact"]
    assert rows[banked.donor.code]["banked"] and not rows[wanted.code]["banked"]
    assert "Li Hua" not in response.content.decode()  # codes only, never who the donor is
    assert set(body["donors"][0]) == {"donor", "code", "donor_type", "population", "may_recontact", "banked"}


def test_recruitment_at_one_field_takes_the_groups(users, api):
    population = helpers.population(resolution="1-field", haplotypes="A*24~B*52~DRB1*15,0.1\n")
    carrier = donor({"A": ["A*24:02", "A*24:03"], "B": ["B*52:01", "B*52:01"], "DRB1": ["DRB1*15:02", "DRB1*15:02"]})
    body = recruitment(api, users["admin"], population, H24).json()
    assert body["haplotype"] == "A*24~B*52~DRB1*15" and [row["code"] for row in body["donors"]] == [carrier.code]


@pytest.mark.parametrize(("role", "status"), [("coordinator", 200), ("admin", 200), ("qa", 403),
                                              ("researcher", 403), ("technician", 403), (None, 401)])
def test_only_coordinators_see_the_recruitment_list(users, api, role, status):
    population = helpers.population(haplotypes=TABLE)
    assert recruitment(api, users[role] if role else None, population, H24).status_code == status


def test_a_bad_recruitment_query_is_a_400(users, api):
    population = helpers.population(haplotypes=TABLE)
    assert recruitment(api, users["coordinator"], population, "A*24:02").status_code == 400
    response = api(users["coordinator"]).get("/api/v1/hla/recruitment/", {"haplotype": H24})
    assert response.status_code == 400 and "population" in response.json()
