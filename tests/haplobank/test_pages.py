"""The haplobank's browser pages: coverage (with its curve), populations and their tables, planning and the
recruitment list, the match search. Who may open each, form errors for bad input (every bad line of a table listed,
nothing stored), never a 500, and the pinned query counts of the coverage and match pages."""

from __future__ import annotations

import re

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client

from bank.registry import nav_for
from haplobank.models import CohortGenotype, HaplotypeFrequency, Population
from tests.haplobank import helpers
from tests.haplobank.test_planning import donor

pytestmark = pytest.mark.django_db

H24 = "A*24:02~B*52:01~DRB1*15:02"
H02 = "A*02:07~B*46:01~DRB1*09:01"
H33 = "A*33:03~B*58:01~DRB1*03:01"
TABLE = f"{H24},0.10\n{H02},0.05\n{H33},0.02\n"
COHORT = ("A*24:02,A*02:01,B*52:01,B*07:02,DRB1*15:02,DRB1*04:05\n"
          "A*02:07,A*11:01,B*46:01,B*40:01,DRB1*09:01,DRB1*12:02\n")
PATIENT = {"a_1": "A*24:02", "a_2": "A*02:01", "b_1": "B*52:01", "b_2": "B*07:02", "c_1": "C*12:02",
           "c_2": "C*07:02", "drb1_1": "DRB1*15:02", "drb1_2": "DRB1*04:05", "dqb1_1": "DQB1*06:01",
           "dqb1_2": "DQB1*03:02"}


def client_for(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def html_of(response) -> str:
    return response.content.decode()


# --- who may open what (one table) ------------------------------------------------------------------------------

MANAGE = {"qa": 200, "coordinator": 200, "admin": 200, "researcher": 403, "technician": 403, "clinician": 403,
          "medical_director": 403}
PAGES = {
    "/haplobank/": MANAGE,
    "/haplobank/planning/": MANAGE,
    "/haplobank/populations/": MANAGE,
    "/haplobank/populations/{pk}/": MANAGE,
    "/haplobank/match/": {**MANAGE, "researcher": 200},
    "/haplobank/recruitment/?population={pk}&haplotype=" + H24: {**MANAGE, "qa": 403},
}


@pytest.mark.parametrize("url", list(PAGES))
def test_each_page_opens_for_its_roles_only(users, url):
    population = helpers.population(haplotypes=TABLE)
    target = url.format(pk=population.pk)
    for role, status in PAGES[url].items():
        assert client_for(users[role]).get(target).status_code == status, (role, target)
    anonymous = Client().get(target)
    assert anonymous.status_code == 302 and anonymous["Location"].startswith("/accounts/login/")


def test_a_populations_tables_are_on_the_audit_pages_for_those_who_keep_them(users):
    """The haplobank's models carry permissions (bank.roles): QA and coordinators read a population's history,
    table uploads included; a technician sees neither the link nor the trail."""
    population = helpers.population(haplotypes=TABLE, actor=users["coordinator"])
    for role in ("qa", "coordinator"):
        page = html_of(client_for(users[role]).get(f"/haplobank/populations/{population.pk}/"))
        link = re.search(r'href="([^"]+)" id="population-history"', page)
        assert link, role
        trail = client_for(users[role]).get(link.group(1))
        assert trail.status_code == 200 and "haplotype table replaced (3 haplotypes)" in html_of(trail), role
    assert 'id="population-history"' not in html_of(client_for(users["admin"]).get("/haplobank/populations/")), \
        "the link is on a population's own page"
    assert client_for(users["technician"]).get(f"/audit/population/{population.pk}/").status_code in (403, 404)


def test_posts_are_refused_to_other_roles_and_store_nothing(users):
    population = helpers.population()
    for role in ("researcher", "technician"):
        client = client_for(users[role])
        assert client.post("/haplobank/populations/", {"name": "X", "source": "s",
                                                       "resolution": "2-field"}).status_code == 403
        assert client.post(f"/haplobank/populations/{population.pk}/haplotypes/",
                           {"haplotypes-table": TABLE}).status_code == 403
    assert not Population.objects.filter(name="X").exists() and not HaplotypeFrequency.objects.exists()


def test_navigation_entries_follow_the_roles(users):
    def keys(role):
        return [item["key"] for item in nav_for(users[role])]

    for role in ("qa", "coordinator", "admin"):
        assert "haplobank" in keys(role) and "hla-match" not in keys(role), role
    assert "hla-match" in keys("researcher") and "haplobank" not in keys("researcher")
    for role in ("technician", "clinician", "medical_director"):
        assert not {"haplobank", "hla-match"} & set(keys(role)), role
    html = html_of(client_for(users["qa"]).get("/haplobank/"))
    assert 'data-nav="haplobank"' in html and 'id="haplobank-tabs"' in html


# --- coverage ---------------------------------------------------------------------------------------------------


def test_coverage_page_shows_the_figure_the_curve_and_each_lines_gain(users):
    population = helpers.population(haplotypes=TABLE)
    helpers.line(H02, name="SCBi001-A")
    helpers.line(H24, name="SCBi002-A")
    helpers.line({"A": ["A*24:02", "A*24:02"], "B": ["B*52:01", "B*52:01"], "DRB1": ["DRB1*15:02", "DRB1*04:05"]},
                 name="HET-1")  # heterozygous at DRB1: never counts
    response = client_for(users["qa"]).get("/haplobank/", {"population": population.pk})
    assert response.status_code == 200
    html = html_of(response)
    assert re.search(r'id="coverage-pct"[^>]*>27\.75 %<', html)
    assert re.search(r'id="coverage-lines"[^>]*>2<', html)
    # the curve: a server-drawn SVG with two points, its axes labelled
    assert '<svg xmlns="http://www.w3.org/2000/svg" class="chart"' in html and 'data-points="2"' in html
    assert "Lines banked, the line adding most first" in html and "Population covered (%)" in html
    assert "<script" not in html.split('id="coverage-curve"')[1].split("</figure>")[0]
    # each line's contribution, greedy order
    table = html.split('id="per-line"')[1]
    assert table.index("SCBi002-A") < table.index("SCBi001-A") and "HET-1" not in html
    assert "+19.00" in table and "+8.75" in table and H24 in table
    # the definition, resolution and lines that count under every figure (headline, curve, table)
    assert html.count("data-explain") == 3
    assert html.count("1 − (1 − Σ f_h)²") == 3 and html.count("Resolution: 2-field") == 3


def test_coverage_by_genotype_and_the_empty_states(users):
    client = client_for(users["coordinator"])
    html = html_of(client.get("/haplobank/"))
    assert 'id="no-population"' in html and "/haplobank/populations/#new-population" in html
    population = helpers.population()
    html = html_of(client.get("/haplobank/", {"population": population.pk}))
    assert 'data-code="no_haplotype_table"' in html
    assert f"/haplobank/populations/{population.pk}/#upload-haplotypes-card" in html
    population = helpers.population(haplotypes=TABLE)
    html = html_of(client.get("/haplobank/", {"population": population.pk, "definition": "genotype"}))
    assert 'data-code="no_cohort"' in html and "#upload-genotypes-card" in html
    # no line counts yet: the curve says so, with its axes, rather than an empty box
    html = html_of(client.get("/haplobank/", {"population": population.pk}))
    assert 'data-points="0"' in html and "No banked line counts yet" in html
    assert re.search(r'id="coverage-pct"[^>]*>0\.00 %<', html) and "No line counts yet." in html
    helpers.line(H24)
    with_cohort = helpers.population(haplotypes=TABLE, genotypes=COHORT)
    response = client.get("/haplobank/", {"population": with_cohort.pk, "definition": "genotype"})
    html = html_of(response)
    assert response.status_code == 200 and re.search(r'id="coverage-pct"[^>]*>50\.00 %<', html)
    assert "Genotype definition" in html and "(2 people)" in html


@pytest.mark.parametrize("url", ["/haplobank/", "/haplobank/planning/"])
@pytest.mark.parametrize("params", [{"population": "abc"}, {"population": "999999"},
                                    {"population": "9" * 40}, {"population": "{pk}", "definition": "nonsense"},
                                    {"population": "{pk}", "page": "x"}, {"population": "{pk}", "page": "99999"}])
def test_bad_coverage_and_planning_parameters_are_form_errors_not_500(users, url, params):
    population = helpers.population(haplotypes=TABLE)
    params = {k: v.format(pk=population.pk) for k, v in params.items()}
    response = client_for(users["qa"]).get(url, params)
    if "page" in params:
        assert response.status_code == 200  # a page out of range shows the last one
    else:
        assert response.status_code == 400 and "errorlist" in html_of(response)


def test_coverage_page_runs_a_constant_number_of_queries(users, django_assert_num_queries):
    population = helpers.population(haplotypes=TABLE)
    helpers.population(haplotypes=TABLE)
    client = client_for(users["qa"])
    for count in (1, 6):
        for _ in range(count):
            helpers.line(H24)
        # 1 session, 2 user, 3 the user's roles (cached for the request: the role checks and the navigation),
        # 4 the populations (with their creators), 5 the stamp of the records coverage follows from, 6 the haplotype
        # table in force, 7 the homozygous lines that count (one query: lines, their lots, donors and HLA keys),
        # 8-9 the lots.view_cellline permission (user and group permissions, for the links to the lines),
        # 10 unread notifications.
        with django_assert_num_queries(10):
            assert client.get("/haplobank/", {"population": population.pk}).status_code == 200
        with django_assert_num_queries(8):  # nothing changed: the table and the lines are kept (haplobank.queries)
            assert client.get("/haplobank/", {"population": population.pk}).status_code == 200


# --- populations and tables -------------------------------------------------------------------------------------


def test_register_a_population_and_its_form_errors(users):
    client = client_for(users["coordinator"])
    response = client.post("/haplobank/populations/", {"name": "Han Chinese (southern)", "source": "Study 2024",
                                                       "resolution": "2-field"})
    population = Population.objects.get(name="Han Chinese (southern)")
    assert response.status_code == 302 and response["Location"] == f"/haplobank/populations/{population.pk}/"
    response = client.post("/haplobank/populations/", {"name": "han chinese (southern)", "source": "",
                                                       "resolution": "2-field"})
    html = html_of(response)
    assert response.status_code == 400 and "exists already" in html and "Say where the frequencies come from" in html
    response = client.post("/haplobank/populations/", {"name": "Other", "source": "s", "resolution": "3-field"})
    assert response.status_code == 400 and Population.objects.count() == 1


def test_a_bad_table_lists_every_bad_line_and_stores_nothing(users):
    population = helpers.population()
    client = client_for(users["qa"])
    table = (f"haplotype,frequency\n{H24},0.10\nA*24:02~B*52:01,0.05\n{H02},1.5\n"
             f"B*52:01~B*52:01~DRB1*15:02,0.01\n{H33},0.02\n")
    response = client.post(f"/haplobank/populations/{population.pk}/haplotypes/", {"haplotypes-table": table})
    html = html_of(response)
    assert response.status_code == 400
    assert "3 lines of the table cannot be read; nothing was stored" in html
    for number in (3, 4, 5):
        assert f"Line {number}: " in html, number
    assert "Line 2: " not in html and "Line 6: " not in html
    assert "A~B~DRB1" in html and "outside (0, 1]" in html and "this position takes HLA-A" in html
    assert html.count('data-line-errors') == 1 and "A*24:02~B*52:01,0.05" in html  # the pasted text is kept
    population.refresh_from_db()
    assert population.haplotype_version == 0 and not HaplotypeFrequency.objects.exists()


def test_frequencies_over_one_are_refused_with_a_clear_message(users):
    population = helpers.population()
    response = client_for(users["qa"]).post(f"/haplobank/populations/{population.pk}/haplotypes/",
                                            {"haplotypes-table": f"{H24},0.6\n{H02},0.5\n"})
    html = html_of(response)
    assert response.status_code == 400 and 'data-code="frequencies_exceed_one"' in html
    assert "The frequencies add up to 1.1, more than 1" in html and "nothing was stored" in html
    assert not HaplotypeFrequency.objects.exists()


def test_a_good_table_from_a_file_then_a_cohort(users):
    population = helpers.population()
    client = client_for(users["coordinator"])
    upload = SimpleUploadedFile("table.csv", ("\ufeff" + TABLE).encode(), content_type="text/csv")
    response = client.post(f"/haplobank/populations/{population.pk}/haplotypes/", {"haplotypes-file": upload})
    assert response.status_code == 302, html_of(response)[:2000]
    population.refresh_from_db()
    assert population.haplotype_version == 1 and HaplotypeFrequency.objects.filter(population=population).count() == 3
    html = html_of(client.get(response["Location"]))
    assert "version 1 is in force" in html and "3 haplotypes (version 1)" in html
    # a bad cohort line, then a good cohort
    bad = COHORT + "A*24:02,A*02:01,B*52:01\n"
    response = client.post(f"/haplobank/populations/{population.pk}/genotypes/", {"genotypes-table": bad})
    assert response.status_code == 400 and "Line 3: " in html_of(response) and not CohortGenotype.objects.exists()
    response = client.post(f"/haplobank/populations/{population.pk}/genotypes/", {"genotypes-table": COHORT})
    assert response.status_code == 302 and CohortGenotype.objects.filter(population=population).count() == 2


@pytest.mark.parametrize(("data", "message"), [
    ({}, "Paste the lines of the table or choose its CSV file."),
    ({"haplotypes-table": "   \n"}, "Paste the lines of the table or choose its CSV file."),
    ({"haplotypes-table": TABLE, "haplotypes-file": "file"}, "not both"),
    ({"haplotypes-file": "latin1"}, "not UTF-8 text"),
    ({"haplotypes-file": "nul"}, "NUL characters"),
    ({"haplotypes-table": "# only a comment\n"}, "The table has no lines"),
])
def test_unusable_uploads_are_form_errors(users, data, message):
    population = helpers.population()
    files = {"file": TABLE.encode(), "latin1": "A*24:02~B*52:01~DRB1*15:02,0.1 Québec".encode("latin-1"),
             "nul": b"A*24:02\x00~B*52:01~DRB1*15:02,0.1"}
    if "haplotypes-file" in data:
        data = {**data, "haplotypes-file": SimpleUploadedFile("t.csv", files[data["haplotypes-file"]])}
    response = client_for(users["qa"]).post(f"/haplobank/populations/{population.pk}/haplotypes/", data)
    assert response.status_code == 400 and message in html_of(response)
    assert not HaplotypeFrequency.objects.exists()


def test_uploads_to_a_missing_population_are_404(users):
    client = client_for(users["qa"])
    assert client.get("/haplobank/populations/999999/").status_code == 404
    assert client.post("/haplobank/populations/999999/haplotypes/", {"haplotypes-table": TABLE}).status_code == 404
    assert client.get(f"/haplobank/populations/{helpers.population().pk}/haplotypes/").status_code == 405


# --- planning and recruitment -----------------------------------------------------------------------------------


def test_planning_shows_the_coverage_and_the_next_best_haplotypes(users):
    population = helpers.population(haplotypes=TABLE)
    helpers.line(H24)
    coordinator = client_for(users["coordinator"])
    response = coordinator.get("/haplobank/planning/", {"population": population.pk, "haplotypes": f"{H02}\n\n",
                                                        "include_bank": "on"})
    html = html_of(response)
    assert response.status_code == 200 and re.search(r'id="simulated-pct"[^>]*>27\.75 %<', html)
    rows = re.findall(r'<tr data-haplotype="([^"]+)"', html)
    assert rows == [H33]  # the only haplotype of the table not in the set
    assert "/haplobank/recruitment/?population=" in html and html.count("data-explain") == 2
    # without the bank: the set alone; QA sees no recruitment link
    html = html_of(client_for(users["qa"]).get("/haplobank/planning/", {"population": population.pk,
                                                                        "haplotypes": H02}))
    assert re.search(r'id="simulated-pct"[^>]*>9\.75 %<', html) and "/haplobank/recruitment/" not in html
    assert re.findall(r'<tr data-haplotype="([^"]+)"', html) == [H24, H33]
    # the first visit: the first population, the bank's lines included
    html = html_of(coordinator.get("/haplobank/planning/"))
    assert re.search(r'id="simulated-pct"[^>]*>19\.00 %<', html)


def test_a_bad_planned_haplotype_is_a_form_error(users):
    population = helpers.population(haplotypes=TABLE)
    response = client_for(users["qa"]).get("/haplobank/planning/", {
        "population": population.pk, "haplotypes": f"{H24}\nA*24:02~B*52:01\nA*24~B*52:01~DRB1*15:02"})
    html = html_of(response)
    assert response.status_code == 400 and "write it like A*24:02~B*52:01~DRB1*15:02" in html
    assert "this table is 2-field" in html and 'id="simulation"' not in html
    no_table = helpers.population()
    html = html_of(client_for(users["qa"]).get("/haplobank/planning/", {"population": no_table.pk}))
    assert 'data-code="no_haplotype_table"' in html


def test_the_recruitment_list_shows_codes_never_identity(users):
    population = helpers.population(haplotypes=TABLE)
    wanted = donor(H24, identity=True)
    response = client_for(users["coordinator"]).get("/haplobank/recruitment/",
                                                    {"population": population.pk, "haplotype": H24})
    html = html_of(response)
    assert response.status_code == 200 and f'data-donor="{wanted.code}"' in html and "Li Hua" not in html
    assert "Healthy donor" in html or "Patient" in html
    for role in ("researcher", "technician", "qa"):
        assert client_for(users[role]).get("/haplobank/recruitment/", {"population": population.pk,
                                                                       "haplotype": H24}).status_code == 403


@pytest.mark.parametrize("params", [{}, {"population": "x", "haplotype": H24}, {"population": "1"},
                                    {"population": "{pk}", "haplotype": "A*24:02"}])
def test_a_bad_recruitment_query_is_a_400(users, params):
    population = helpers.population(haplotypes=TABLE)
    params = {k: v.format(pk=population.pk) for k, v in params.items()}
    response = client_for(users["coordinator"]).get("/haplobank/recruitment/", params)
    assert response.status_code == 400 and 'id="recruitment-errors"' in html_of(response)
    missing = client_for(users["coordinator"]).get("/haplobank/recruitment/", {"population": 999999,
                                                                               "haplotype": H24})
    assert missing.status_code == 404


# --- match search -----------------------------------------------------------------------------------------------


def test_match_search_orders_zero_hvg_first_and_limits_researchers(users):
    patient_hla = {"A": ["A*24:02", "A*02:01"], "B": ["B*52:01", "B*07:02"], "DRB1": ["DRB1*15:02", "DRB1*04:05"],
                   "C": ["C*12:02", "C*07:02"], "DQB1": ["DQB1*06:01", "DQB1*03:02"]}
    one_hvg = helpers.line({**patient_hla, "A": ["A*24:02", "A*11:01"]}, name="ONE-1",
                           scopes=["research", "data_sharing"])
    same = helpers.line(patient_hla, name="SAME-1", scopes=["research", "data_sharing"])
    private = helpers.line(patient_hla, name="PRIVATE-1", scopes=["research"])
    helpers.line(patient_hla, name="HELD-1", status="on_hold")
    response = client_for(users["qa"]).post("/haplobank/match/", PATIENT)
    html = html_of(response)
    assert response.status_code == 200
    lines = re.findall(r'<tr data-line="(\d+)" data-hvg="(\d+)"', html)
    assert [int(pk) for pk, _hvg in lines][:2] in ([same.pk, private.pk], [private.pk, same.pk])
    assert lines[-1] == (str(one_hvg.pk), "1") and "HELD-1" not in html
    researcher = html_of(client_for(users["researcher"]).post("/haplobank/match/", PATIENT))
    assert "SAME-1" in researcher and "ONE-1" in researcher and "PRIVATE-1" not in researcher
    assert "consented to data sharing" in researcher and "/lots/lines/" not in researcher


def test_bad_alleles_are_form_errors_saying_how_to_write_them(users):
    client = client_for(users["researcher"])
    response = client.post("/haplobank/match/", {**PATIENT, "a_2": "A*2X:01", "b_1": "", "b_2": "",
                                                 "drb1_1": "B*07:02"})
    html = html_of(response)
    assert response.status_code == 400
    assert 'id="errors-A"' in html and "A*24:02" in html.split('id="errors-A"')[1].split("</ul>")[0]
    assert 'id="errors-B"' in html and "two HLA-B alleles (one when homozygous)" in html
    assert 'id="errors-DRB1"' in html and "HLA-B allele" in html
    # the first bad field has the focus; what was typed stays
    assert re.search(r'name="a_1"[^>]*value="A\*24:02"', html)
    assert not re.search(r'<input[^>]*name="a_1"[^>]*autofocus', html)
    assert re.search(r'<input[^>]*name="a_2"[^>]*autofocus|<input[^>]*autofocus[^>]*name="a_2"', html)
    assert client.post("/haplobank/match/", {**PATIENT, "limit": "7"}).status_code == 400
    assert client.post("/haplobank/match/", {"a_1": "x" * 5000}).status_code == 400


def test_match_page_runs_a_constant_number_of_queries(users, django_assert_num_queries):
    patient_hla = {"A": ["A*24:02", "A*02:01"], "B": ["B*52:01", "B*07:02"], "DRB1": ["DRB1*15:02", "DRB1*04:05"],
                   "C": ["C*12:02", "C*07:02"], "DQB1": ["DQB1*06:01", "DQB1*03:02"]}
    client = client_for(users["researcher"])
    for count in (1, 5):
        for _ in range(count):
            helpers.line(patient_hla, scopes=["research", "data_sharing"])
        # 1 session, 2 user, 3 the user's roles (cached for the request), then two per tier of the search: the
        # donors ranked on their HLA keys and their lines that count (with a unit's DIN). The patient is typed at
        # five loci and fewer lines than the limit (50) exist, so all five tiers are read: 4-13. 14-15 the
        # lots.view_cellline permission (user and group permissions), 16 unread notifications.
        with django_assert_num_queries(16):
            response = client.post("/haplobank/match/", PATIENT)
        assert response.status_code == 200


# --- the curve and the other language ---------------------------------------------------------------------------


def test_a_national_curve_is_thinned_and_ends_at_the_banks_coverage():
    from haplobank.charts import MAX_POINTS, coverage_curve

    curve = [{"lines": n, "coverage_pct": round(60 * (1 - 0.999 ** n), 2)} for n in range(1, 20_001)]
    svg = str(coverage_curve(curve, population="P", definition="haplotype"))
    drawn = re.search(r'<polyline class="curve" points="([^"]+)"', svg).group(1).split()
    assert len(drawn) <= MAX_POINTS + 2 and drawn[-1].startswith("892.0,")  # the last line, at the right edge
    assert 'data-points="20000"' in svg and "<circle" not in svg and f"{curve[-1]['coverage_pct']:.2f} %" in svg
    assert "20000" in svg  # the x axis runs to the last line


def test_pages_render_in_simplified_chinese(users):
    population = helpers.population(haplotypes=TABLE)
    helpers.line(H24)
    client = client_for(users["qa"])
    client.cookies["django_language"] = "zh-hans"
    for url in ("/haplobank/", "/haplobank/planning/", "/haplobank/populations/",
                f"/haplobank/populations/{population.pk}/", "/haplobank/match/"):
        response = client.get(url, {"population": population.pk})
        assert response.status_code == 200 and '<html lang="zh-hans">' in html_of(response), url
    assert client.post("/haplobank/match/", PATIENT).status_code == 200
