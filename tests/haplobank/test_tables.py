"""Population tables: registration, the CSV uploads read with mhcgnomes, every bad line listed and nothing stored,
frequencies over 1 refused, normalisation to the population's resolution, replacement by version."""

from __future__ import annotations

from decimal import Decimal

import pytest

from haplobank import queries
from haplobank.alleles import parse_allele
from haplobank.models import CohortGenotype, HaplotypeFrequency, Population
from tests.haplobank import helpers

pytestmark = pytest.mark.django_db


def upload(client, population, kind: str, text: str, content_type: str = "text/csv"):
    return client.post(f"/api/v1/hla/populations/{population.pk}/{kind}/", data=text.encode("utf-8"),
                       content_type=content_type)


# --- allele names -----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("value", "resolution", "expected"), [
    ("A*24:02", "2-field", "A*24:02"),
    ("HLA-A*24:02", "2-field", "A*24:02"),
    ("A*2402", "2-field", "A*24:02"),  # the compact old notation, read by mhcgnomes
    ("a*24:02:01:01", "2-field", "A*24:02"),  # finer than the table: cut to its fields
    ("A*02:01:01G", "2-field", "A*02:01"),  # a G group counts as its first fields
    ("A*24:02", "1-field", "A*24"),  # a 2-field allele in a 1-field table: its group
    ("DRB1*15:02", "1-field", "DRB1*15"),
    ("A*24", "1-field", "A*24"),
])
def test_alleles_are_read_by_mhcgnomes_and_normalised_to_the_resolution(value, resolution, expected):
    locus = expected.split("*")[0]
    assert parse_allele(value, locus=locus, resolution=resolution) == expected


@pytest.mark.parametrize(("value", "locus", "resolution", "message"), [
    ("A*24", "A", "2-field", "this table is 2-field"),  # coarser than the table: which protein is unknown
    ("B*52:01", "A", "2-field", "HLA-B allele; this position takes HLA-A"),
    ("A24", "A", "2-field", "serological antigen"),
    ("A*24:XX", "A", "2-field", "not an HLA allele name"),
    ("banana", "A", "2-field", "not an HLA allele name"),
    ("A*24:09N", "A", "2-field", "expression suffix N"),
    ("Patr-A*01:01", "A", "2-field", "not a human"),
    ("A*024:02", "A", "2-field", "not WHO nomenclature"),  # mhcgnomes reads it; the bank's shape refuses it
    ("", "A", "2-field", "missing"),
])
def test_a_bad_allele_is_refused_with_what_to_write(value, locus, resolution, message):
    with pytest.raises(ValueError, match=message):
        parse_allele(value, locus=locus, resolution=resolution)


# --- populations ------------------------------------------------------------------------------------------------


def test_a_population_is_registered_with_its_source_and_resolution(users, api):
    response = api(users["coordinator"]).post("/api/v1/hla/populations/", {
        "name": "Han Chinese (south)", "source": "Test registry 2025", "resolution": "2-field"}, format="json")
    assert response.status_code == 201, response.json()
    body = response.json()
    assert body["name"] == "Han Chinese (south)" and body["resolution"] == "2-field"
    assert body["haplotypes"] == 0 and body["cohort_size"] == 0 and body["created_by"] == "coordinator"
    population = Population.objects.get(pk=body["id"])
    assert population.history.first().history_user == users["coordinator"]


def test_a_population_needs_a_name_a_source_and_a_known_resolution(users, api):
    helpers.population(name="Han Chinese")
    response = api(users["qa"]).post("/api/v1/hla/populations/", {
        "name": "han chinese", "source": "", "resolution": "3-field"}, format="json")
    assert response.status_code == 400
    assert set(response.json()) == {"name", "source", "resolution"}
    assert "exists already" in response.json()["name"][0]


# --- haplotype tables -------------------------------------------------------------------------------------------


def test_a_haplotype_table_is_stored_normalised(users, api):
    population = helpers.population()
    text = ("haplotype,frequency\n"
            "# a comment\n"
            "A*24:02~B*52:01~DRB1*15:02,0.085\n"
            "\n"
            "HLA-A*02:07~B*4601~DRB1*09:01:01,0.04\n")
    response = upload(api(users["qa"]), population, "haplotypes", text)
    assert response.status_code == 200, response.json()
    body = response.json()
    assert body["haplotypes"] == 2 and body["frequency_total"] == "0.125" and body["haplotype_version"] == 1
    population.refresh_from_db()
    assert queries.haplotype_table(population) == {"A*24:02~B*52:01~DRB1*15:02": Decimal("0.085"),
                                                   "A*02:07~B*46:01~DRB1*09:01": Decimal("0.04")}
    assert set(HaplotypeFrequency.objects.values_list("line", flat=True)) == {3, 5}


def test_every_bad_line_is_listed_and_nothing_is_stored(users, api):
    population = helpers.population(haplotypes="A*11:01~B*40:01~DRB1*09:01,0.05\n")
    text = "\n".join([
        "A*24:02~B*52:01~DRB1*15:02,0.085",      # 1 good
        "A*24:XX~B*52:01~DRB1*15:02,0.01",       # 2 an allele that does not parse
        "B*52:01~A*24:02~DRB1*15:02,0.01",       # 3 loci in the wrong positions
        "A*24~B*52:01~DRB1*15:02,0.01",          # 4 coarser than the 2-field table
        "A*02:01~B*46:01~DRB1*09:01,abc",        # 5 frequency not a number
        "A*02:01~B*46:01~DRB1*09:01,0",          # 6 frequency outside (0, 1]
        "A*02:01~B*46:01~DRB1*12:02,1.5",        # 7 frequency outside (0, 1]
        "A*24:02~B*52:01~DRB1*15:02,0.01",       # 8 the haplotype of line 1 again
        "A*24:02~B*52:01,0.01",                  # 9 two alleles only
        "A*33:03~B*58:01~DRB1*03:01",            # 10 no frequency
        "A*33:03~B*58:01~DRB1*03:01,0.02",       # 11 good
    ])
    response = upload(api(users["coordinator"]), population, "haplotypes", text)
    assert response.status_code == 400
    body = response.json()
    assert body["code"] == "invalid_lines" and "nothing was stored" in body["detail"]
    errors = {item["line"]: item["error"] for item in body["lines"]}
    assert sorted(errors) == [2, 3, 4, 5, 6, 7, 8, 9, 10]
    assert "not an HLA allele name" in errors[2]
    assert "HLA-B allele; this position takes HLA-A" in errors[3] and "position 1" in errors[3]
    assert "this table is 2-field" in errors[4]
    assert "not a number" in errors[5]
    assert "outside (0, 1]" in errors[6] and "outside (0, 1]" in errors[7]
    assert "on line 1 already" in errors[8]
    assert "three alleles" in errors[9]
    assert "separated by a comma" in errors[10]
    population.refresh_from_db()
    assert population.haplotype_version == 1  # the table in force is untouched
    assert queries.haplotype_table(population) == {"A*11:01~B*40:01~DRB1*09:01": Decimal("0.05")}
    assert HaplotypeFrequency.objects.count() == 1


def test_frequencies_adding_up_to_more_than_one_are_refused(users, api):
    population = helpers.population()
    text = "A*24:02~B*52:01~DRB1*15:02,0.6\nA*02:07~B*46:01~DRB1*09:01,0.4002\n"
    response = upload(api(users["qa"]), population, "haplotypes", text)
    assert response.status_code == 400
    body = response.json()
    assert body["code"] == "frequencies_exceed_one" and body["total"] == "1.0002" and "more than 1" in body["detail"]
    assert not HaplotypeFrequency.objects.exists()


def test_a_first_line_that_is_not_a_header_is_read_as_data(users, api):
    population = helpers.population()
    response = upload(api(users["qa"]), population, "haplotypes", "A24~B52~DR15,0.1\nA*24:02~B*52:01~DRB1*15:02,0.1\n")
    assert response.status_code == 400
    assert [item["line"] for item in response.json()["lines"]] == [1]
    assert "serological antigen" in response.json()["lines"][0]["error"]


def test_a_sum_over_one_by_rounding_only_is_accepted(users, api):
    population = helpers.population()
    text = "A*24:02~B*52:01~DRB1*15:02,0.6\nA*02:07~B*46:01~DRB1*09:01,0.40005\n"
    assert upload(api(users["qa"]), population, "haplotypes", text).status_code == 200


def test_a_one_field_table_takes_the_groups_and_adds_up_what_they_join(users, api):
    population = helpers.population(resolution="1-field")
    text = ("A*24:02~B*52:01~DRB1*15:02,0.05\n"
            "A*24:03~B*52:01~DRB1*15:01,0.02\n"  # the same groups: one 1-field haplotype, 0.07
            "A*02~B*46~DRB1*09,0.04\n")
    response = upload(api(users["qa"]), population, "haplotypes", text)
    assert response.status_code == 200, response.json()
    population.refresh_from_db()
    assert queries.haplotype_table(population) == {"A*24~B*52~DRB1*15": Decimal("0.07"),
                                                   "A*02~B*46~DRB1*09": Decimal("0.04")}


def test_a_group_given_besides_alleles_of_it_is_named_twice(users, api):
    population = helpers.population(resolution="1-field")
    response = upload(api(users["qa"]), population, "haplotypes",
                      "A*24~B*52~DRB1*15,0.05\nA*24:02~B*52:01~DRB1*15:02,0.02\n")
    assert response.status_code == 400
    assert response.json()["lines"] == [{"line": 2, "error": "the haplotype A*24~B*52~DRB1*15 is on line 1 already; "
                                                             "give each haplotype once."}]


def test_an_upload_replaces_the_table_and_keeps_the_old_one_on_file(users, api):
    population = helpers.population(haplotypes="A*24:02~B*52:01~DRB1*15:02,0.10\n")
    response = upload(api(users["admin"]), population, "haplotypes", "A*02:07~B*46:01~DRB1*09:01,0.04\n")
    assert response.status_code == 200
    population.refresh_from_db()
    assert population.haplotype_version == 2
    assert queries.haplotype_table(population) == {"A*02:07~B*46:01~DRB1*09:01": Decimal("0.04")}
    assert HaplotypeFrequency.objects.filter(population=population, version=1).count() == 1
    latest = population.history.first()
    assert latest.history_user == users["admin"] and "haplotype table replaced" in latest.history_change_reason


@pytest.mark.parametrize(("text", "status", "field"), [
    ("", 400, "table"),
    ("haplotype,frequency\n", 400, "table"),
    ("\ufeffA*24:02~B*52:01~DRB1*15:02,0.1\n", 200, None),  # a BOM, as spreadsheets save CSV
])
def test_empty_tables_are_refused(users, api, text, status, field):
    population = helpers.population()
    response = upload(api(users["qa"]), population, "haplotypes", text)
    assert response.status_code == status, response.content
    if field:
        assert field in response.json()


def test_a_table_must_be_text(users, api):
    population = helpers.population()
    client = api(users["qa"])
    as_json = client.post(f"/api/v1/hla/populations/{population.pk}/haplotypes/", {"x": 1}, format="json")
    assert as_json.status_code == 415 and as_json.json()["code"] == "unsupported_media_type"
    latin1 = client.post(f"/api/v1/hla/populations/{population.pk}/haplotypes/",
                         data="A*24:02~B*52:01~DRB1*15:02,0.1 \xe9\n".encode("latin-1"), content_type="text/csv")
    assert latin1.status_code == 400 and latin1.json()["code"] == "parse_error"
    assert "UTF-8" in latin1.json()["detail"]
    assert upload(client, population, "haplotypes", "A*24:02~B*52:01~DRB1*15:02,0.1\n",
                  content_type="text/plain").status_code == 200
    assert api(users["qa"]).post("/api/v1/hla/populations/999999/haplotypes/", data=b"x",
                                 content_type="text/csv").status_code == 404


# --- cohorts ----------------------------------------------------------------------------------------------------


def test_a_cohort_is_stored_with_each_pair_sorted(users, api):
    population = helpers.population()
    text = "A*24:02,A*02:01,B*52:01,B*07:02,DRB1*15:02,DRB1*04:05\nA*11:01,A*11:01,B*40:01,B*46:01,DRB1*09:01," \
           "DRB1*09:01\n"
    response = upload(api(users["coordinator"]), population, "genotypes", text)
    assert response.status_code == 200, response.json()
    assert response.json()["cohort_size"] == 2
    population.refresh_from_db()
    assert queries.cohort(population)[0] == (("A*02:01", "A*24:02"), ("B*07:02", "B*52:01"),
                                             ("DRB1*04:05", "DRB1*15:02"))


def test_every_bad_cohort_line_is_listed(users, api):
    population = helpers.population()
    text = ("A*24:02,A*02:01,B*52:01,B*07:02,DRB1*15:02,DRB1*04:05\n"
            "A*24:02,B*52:01,A*02:01,B*07:02,DRB1*15:02,DRB1*04:05\n"  # B in an A position
            "A*24:02,A*02:01,B*52:01,B*07:02,DRB1*15:02\n"  # five alleles
            "A*24,A*02:01,B*52:01,B*07:02,DRB1*15:02,DRB1*04:05\n")  # coarser than 2-field
    response = upload(api(users["qa"]), population, "genotypes", text)
    assert response.status_code == 400 and response.json()["code"] == "invalid_lines"
    lines = {item["line"]: item["error"] for item in response.json()["lines"]}
    assert sorted(lines) == [2, 3, 4]
    assert "position 2" in lines[2] and "position 3" in lines[2]
    assert "six alleles" in lines[3]
    assert "this table is 2-field" in lines[4]
    assert not CohortGenotype.objects.exists()


# --- who may ----------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("role", "status"), [
    ("qa", 200), ("coordinator", 200), ("admin", 200), ("technician", 403), ("researcher", 403), ("clinician", 403),
    ("sensor", 403), (None, 401),
])
def test_who_may_upload_a_table(users, api, role, status):
    population = helpers.population()
    response = upload(api(users[role] if role else None), population, "haplotypes",
                      "A*24:02~B*52:01~DRB1*15:02,0.1\n")
    assert response.status_code == status
    if status == 403:
        assert response.json()["code"] == "permission_denied"


@pytest.mark.parametrize(("role", "status"), [
    ("qa", 201), ("coordinator", 201), ("admin", 201), ("technician", 403), ("researcher", 403), (None, 401),
])
def test_who_may_register_a_population(users, api, role, status):
    response = api(users[role] if role else None).post("/api/v1/hla/populations/", {
        "name": f"Pop {role}", "source": "s", "resolution": "1-field"}, format="json")
    assert response.status_code == status


def test_populations_are_listed_with_their_tables_in_a_fixed_number_of_queries(users, api,
                                                                               django_assert_num_queries):
    for n in range(3):
        helpers.population(haplotypes=f"A*24:02~B*52:01~DRB1*15:0{n + 1},0.1\n",
                           genotypes="A*24:02,A*02:01,B*52:01,B*07:02,DRB1*15:02,DRB1*04:05\n")
    client = api(users["qa"])
    client.get("/api/v1/hla/populations/")  # the user's roles, read once and kept on the user
    # the page with its creators (a first page holding the whole list is its own count), haplotype totals,
    # cohort sizes
    with django_assert_num_queries(3):
        response = client.get("/api/v1/hla/populations/")
    assert response.status_code == 200
    body = response.json()
    assert body["count"] == 3 and all(row["haplotypes"] == 1 and row["cohort_size"] == 1 for row in body["results"])
    detail = client.get(f"/api/v1/hla/populations/{body['results'][0]['id']}/")
    assert detail.status_code == 200 and detail.json()["frequency_total"] == "0.1"


@pytest.mark.parametrize(("role", "status"), [("qa", 200), ("researcher", 403)])
def test_options_describe_an_upload_to_whoever_may_send_it(users, api, role, status):
    population = helpers.population()
    response = api(users[role]).options(f"/api/v1/hla/populations/{population.pk}/haplotypes/")
    assert response.status_code == status
