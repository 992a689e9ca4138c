"""The patient match search: HvG and GvH counted apart (a homozygous locus once per direction), zero HvG first,
released lines and public units only, researchers limited to data-sharing donors, tiers of index lookups, a
pinned number of queries."""

from __future__ import annotations

import random

import pytest
from django.db import connection

from donors.models import HLAKey
from haplobank import matching, queries
from lots.models import Lot
from tests.haplobank import helpers

pytestmark = pytest.mark.django_db

PATIENT = {"A": ["A*24:02", "A*02:01"], "B": ["B*52:01", "B*07:02"], "DRB1": ["DRB1*15:02", "DRB1*04:05"],
           "C": ["C*12:02", "C*07:02"], "DQB1": ["DQB1*06:01", "DQB1*03:02"]}


def match(api, user, body, **params):
    query = "&".join(f"{k}={v}" for k, v in params.items())
    response = api(user).post("/api/v1/hla/match/" + (f"?{query}" if query else ""), body, format="json")
    assert response.status_code == 200, response.json()
    return response.json()["results"]


# --- the counting convention ------------------------------------------------------------------------------------


@pytest.mark.parametrize(("donor", "patient", "expected"), [
    (["A*02:01", "A*24:02"], ["A*24:02", "A*02:01"], (0, 0)),  # identical, either order
    (["A*02:01", "A*02:01"], ["A*02:01", "A*24:02"], (0, 1)),  # homozygous donor: the patient's A*24:02 is foreign
    (["A*01:01", "A*01:01"], ["A*02:01", "A*24:02"], (1, 2)),  # homozygous donor counts once (HvG)
    (["A*01:01", "A*02:01"], ["A*03:01", "A*03:01"], (2, 1)),  # homozygous patient counts once (GvH)
    (["A*24:03", "A*02:01"], ["A*24:02", "A*02:01"], (1, 1)),  # another protein of the same group
    (["A*24", "A*02:01"], ["A*24:02", "A*02:01"], (0, 0)),  # a 1-field donor allele agrees with its group
    (["A*24:02", "A*02:06"], ["A*24", "A*02"], (0, 0)),  # a 1-field patient typing agrees with the group
    (["A*24:02", "A*24:03"], ["A*24", "A*24"], (0, 0)),
    (["", ""], ["A*24:02", "A*02:01"], (1, 2)),  # an untyped donor locus agrees with nothing
])
def test_hvg_and_gvh_are_counted_apart(donor, patient, expected):
    assert matching.locus_mismatches(donor, patient) == expected


def test_the_sql_counts_agree_with_the_python_counts(users):
    """Random typings (2-field and 1-field, homozygous and not) counted both ways."""
    rng = random.Random(14)
    alleles = {"A": ["A*24:02", "A*24:03", "A*24", "A*02:01", "A*02"], "B": ["B*52:01", "B*52", "B*07:02"],
               "C": ["C*12:02", "C*07:02", "C*07"], "DRB1": ["DRB1*15:02", "DRB1*15:01", "DRB1*04:05"],
               "DQB1": ["DQB1*06:01", "DQB1*03:02", "DQB1*03"]}
    lines = []
    for _ in range(25):
        hla = {locus: [rng.choice(values), rng.choice(values)] for locus, values in alleles.items()}
        lines.append((helpers.line(hla), hla))
    for _ in range(8):
        patient = {locus: (rng.choice(values), rng.choice(values)) for locus, values in alleles.items()
                   if locus in matching.REQUIRED_LOCI or rng.random() < 0.7}
        hvg, gvh, params = matching.counts_sql(patient, connection.vendor)
        with connection.cursor() as cursor:
            cursor.execute(f"SELECT donor_id, {hvg}, {gvh} FROM {HLAKey._meta.db_table}", params)
            counted = {donor: (h, g) for donor, h, g in cursor.fetchall()}
        for line, hla in lines:
            assert counted[line.donor_id] == matching.mismatches(hla, patient), (hla, patient)


# --- the search -------------------------------------------------------------------------------------------------


def test_zero_hvg_first_then_fewer_mismatches(users, api):
    homozygous = helpers.line({"A": ["A*24:02", "A*24:02"], "B": ["B*52:01", "B*52:01"],
                               "DRB1": ["DRB1*15:02", "DRB1*15:02"], "C": ["C*12:02", "C*12:02"],
                               "DQB1": ["DQB1*06:01", "DQB1*06:01"]}, name="HOMO-1")  # HvG 0, GvH 5
    identical = helpers.line(PATIENT, name="SAME-1")  # 0 / 0
    one_hvg = helpers.line({**PATIENT, "A": ["A*24:02", "A*11:01"]}, name="ONE-1")  # 1 / 1
    two_hvg = helpers.line({**PATIENT, "A": ["A*11:01", "A*11:01"], "B": ["B*52:01", "B*40:01"]},
                           name="TWO-1")  # A: 1/2, B: 1/1 -> 2 / 3
    results = match(api, users["qa"], PATIENT)
    assert [(r["name"], r["mismatches_hvg"], r["mismatches_gvh"]) for r in results] == [
        ("SAME-1", 0, 0), ("HOMO-1", 0, 5), ("ONE-1", 1, 1), ("TWO-1", 2, 3)]
    first = results[0]
    assert first["cell_line"] == identical.pk and first["cell_type"] == "iPSC" and first["din"] is None
    assert first["hla"]["A"] == ["A*02:01", "A*24:02"]  # as the lookup key holds them: in code-point order
    assert {homozygous.pk, one_hvg.pk, two_hvg.pk} == {r["cell_line"] for r in results[1:]}


def test_a_line_foreign_at_every_locus_is_not_listed(users, api):
    helpers.line({"A": ["A*11:01", "A*11:01"], "B": ["B*40:01", "B*40:01"], "DRB1": ["DRB1*09:01", "DRB1*09:01"],
                  "C": ["C*01:02", "C*01:02"], "DQB1": ["DQB1*03:03", "DQB1*03:03"]})
    assert match(api, users["qa"], PATIENT) == []


def test_only_released_lines_and_public_units_are_searched(users, api, password):
    released = helpers.line(PATIENT, name="REL-1")
    helpers.line(PATIENT, status="quarantine")
    helpers.line(PATIENT, status="on_hold")
    recalled = helpers.line(PATIENT)
    from distribution import services as distribution_services

    distribution_services.recall_lot(Lot.objects.get(cell_line=recalled), actor=users["qa"], password=password,
                                     reason="sterility positive")
    public = helpers.unit(PATIENT)
    helpers.unit(PATIENT, ownership="family")
    results = match(api, users["qa"], PATIENT)
    assert {r["cell_line"] for r in results} == {released.pk, public.lot.cell_line_id}
    unit_row = next(r for r in results if r["cell_line"] == public.lot.cell_line_id)
    assert unit_row["din"] == public.din and unit_row["cell_type"] == "CB-HSC"


def test_researchers_see_only_lines_whose_donors_share_data(users, api):
    sharing = helpers.line(PATIENT, scopes=["research", "data_sharing"])
    private = helpers.line(PATIENT, scopes=["research", "clinical"])
    by_researcher = match(api, users["researcher"], PATIENT)
    by_qa = match(api, users["qa"], PATIENT)
    assert [r["cell_line"] for r in by_researcher] == [sharing.pk]
    assert {r["cell_line"] for r in by_qa} == {sharing.pk, private.pk}


def test_relaxing_loci_finds_lines_with_mismatches_when_zero_hvg_is_short(users, api):
    """Tier 0 finds one line; limit 3 asks for more: tier 1 adds the lines foreign at one locus, ranked by GvH,
    and a line foreign at two loci comes from tier 2."""
    helpers.line(PATIENT, name="Z-0")
    helpers.line({**PATIENT, "C": ["C*12:02", "C*01:02"]}, name="Y-1-1")  # 1 HvG, 1 GvH
    helpers.line({**PATIENT, "DQB1": ["DQB1*05:01", "DQB1*05:01"]}, name="X-1-2")  # 1 HvG, 2 GvH
    helpers.line({**PATIENT, "C": ["C*01:02", "C*12:02"], "DQB1": ["DQB1*06:01", "DQB1*05:01"]},
                 name="W-2-2")  # 2 HvG, 2 GvH
    results = match(api, users["qa"], PATIENT, limit=3)
    assert [(r["name"], r["mismatches_hvg"], r["mismatches_gvh"]) for r in results] == [
        ("Z-0", 0, 0), ("Y-1-1", 1, 1), ("X-1-2", 1, 2)]
    results = match(api, users["qa"], PATIENT, limit=10)
    assert [r["name"] for r in results] == ["Z-0", "Y-1-1", "X-1-2", "W-2-2"]


def test_a_patient_typed_at_one_field_matches_the_groups(users, api):
    line = helpers.line({**PATIENT, "A": ["A*24:03", "A*02:06"]})
    patient = {**PATIENT, "A": ["A*24", "A*02"]}
    results = match(api, users["qa"], patient)
    assert [(r["cell_line"], r["mismatches_hvg"], r["mismatches_gvh"]) for r in results] == [(line.pk, 0, 0)]


def test_loci_left_out_count_nothing(users, api):
    line = helpers.line({**PATIENT, "C": ["C*01:02", "C*01:02"]})
    body = {locus: PATIENT[locus] for locus in ("A", "B", "DRB1")}
    assert [(r["cell_line"], r["mismatches_hvg"]) for r in match(api, users["qa"], body)] == [(line.pk, 0)]
    one_allele = {**body, "A": ["A*24:02"]}  # one allele given: homozygous
    found = match(api, users["qa"], one_allele)[0]
    assert (found["mismatches_hvg"], found["mismatches_gvh"]) == (1, 0)  # the line's A*02:01 is foreign to him


def test_the_match_runs_a_fixed_number_of_queries(users, django_assert_num_queries):
    for n in range(6):
        helpers.line(PATIENT, name=f"M-{n}")
    helpers.unit(PATIENT)
    helpers.line({**PATIENT, "A": ["A*11:01", "A*11:01"]})  # 1 HvG: never read, tier 0 fills the limit
    qa = users["qa"]
    queries.sees_every_line(qa)  # the user's roles, read once and kept on the user
    patient = matching.clean_patient(PATIENT)
    # tier 0: the donors ranked on their lookup keys; their lines that count (with the units' DINs)
    with django_assert_num_queries(2):
        results = matching.match_lines(patient, user=qa, limit=5)
    assert [r.mismatches_hvg for r in results] == [0] * 5
    # limit 8: tier 0 holds 7 lines; tier 1 (one locus relaxed: its donors, their lines) adds the eighth
    with django_assert_num_queries(4):
        results = matching.match_lines(patient, user=qa, limit=8)
    assert [r.mismatches_hvg for r in results] == [0] * 7 + [1]


def test_the_index_follows_every_typing_change(users, api):
    from donors.services import set_hla

    line = helpers.line({**PATIENT, "A": ["A*11:01", "A*11:01"]})
    assert match(api, users["qa"], PATIENT)[0]["mismatches_hvg"] == 1
    set_hla(line.donor, actor=users["coordinator"], alleles=PATIENT, reason="re-typed at 2 fields")
    assert match(api, users["qa"], PATIENT)[0]["mismatches_hvg"] == 0
    other = helpers.line()  # typed through the ORM (a factory): indexed all the same
    assert other.donor.hla_key.a_key == "A*02:01/A*11:01"
    typing = other.donor.hla
    typing.a_2 = "A*24:02"
    typing.save(update_fields=["a_2"])
    other.donor.hla_key.refresh_from_db()
    assert other.donor.hla_key.a_key == "A*11:01/A*24:02"


@pytest.mark.parametrize(("body", "field"), [
    ({"B": ["B*52:01"], "DRB1": ["DRB1*15:02"]}, "A"),
    ({**PATIENT, "A": ["A*24:XX", "A*02:01"]}, "A"),
    ({**PATIENT, "A": ["B*52:01", "A*02:01"]}, "A"),
    ({**PATIENT, "A": ["A*24:02", "A*02:01", "A*11:01"]}, "A"),
    ({**PATIENT, "DPB1": ["DPB1*04:01", "DPB1*04:01"]}, "non_field_errors"),
    ([1, 2], "non_field_errors"),
])
def test_a_bad_typing_is_a_400(users, api, body, field):
    response = api(users["qa"]).post("/api/v1/hla/match/", body, format="json")
    assert response.status_code == 400 and field in response.json(), response.json()


@pytest.mark.parametrize("limit", ["0", "201", "many"])
def test_the_limit_is_bounded(users, api, limit):
    response = api(users["qa"]).post(f"/api/v1/hla/match/?limit={limit}", PATIENT, format="json")
    assert response.status_code == 400 and "limit" in response.json()


@pytest.mark.parametrize(("role", "status"), [("qa", 200), ("coordinator", 200), ("admin", 200),
                                              ("researcher", 200), ("technician", 403), ("clinician", 403),
                                              (None, 401)])
def test_who_may_search(users, api, role, status):
    response = api(users[role] if role else None).post("/api/v1/hla/match/", PATIENT, format="json")
    assert response.status_code == status


@pytest.mark.django_db
def test_each_tier_finds_exactly_the_donors_with_enough_compatible_loci():
    """``tier_sql`` finds donors through a superset of index lookups (pairs of loci inside groups) and keeps them by
    the exact count: for random typings over a small allele pool (many overlaps, some 1-field, some homozygous) and
    patients typed at three, four and five loci, every tier equals the brute-force set worked out in Python."""
    import random

    from django.db import connection

    from donors.models import HLAKey
    from haplobank import matching
    from tests.factories import HLATypingFactory

    rng = random.Random(22)
    pool = {locus: [f"{locus}*0{g}:0{p}" for g in (1, 2) for p in (1, 2)] + [f"{locus}*03"]
            for locus in matching.MATCH_LOCI}

    def pick(locus):
        first = rng.choice(pool[locus])
        return first, first if rng.random() < 0.3 else rng.choice(pool[locus])

    for _ in range(120):
        alleles = {locus: pick(locus) for locus in matching.MATCH_LOCI}
        HLATypingFactory(**{f"{locus.lower()}_{i + 1}": alleles[locus][i]
                            for locus in matching.MATCH_LOCI for i in (0, 1)})
    donors = {row.donor_id: row for row in HLAKey.objects.all()}
    for loci in (("A", "B", "DRB1"), ("A", "B", "C", "DRB1"), matching.MATCH_LOCI):
        for _ in range(8):
            patient = {locus: tuple(a for a in pick(locus)) for locus in loci}
            patient = {locus: (a if ":" in a else a + ":01", b if ":" in b else b + ":01")
                       for locus, (a, b) in patient.items()}  # a patient typed at two fields
            for relaxed in range(len(loci)):
                condition, params = matching.tier_sql(patient, relaxed)
                with connection.cursor() as cursor:
                    cursor.execute(f"SELECT donor_id FROM donors_hlakey WHERE {condition}", params)  # noqa: S608
                    found = {row[0] for row in cursor.fetchall()}
                kept = max(len(loci) - relaxed, 1)
                expected = {
                    donor_id for donor_id, row in donors.items()
                    if sum(matching.locus_mismatches(getattr(row, f"{locus.lower()}_key").split("/"),
                                                     patient[locus])[0] == 0 for locus in loci) >= kept}
                assert found == expected, (loci, patient, relaxed)
