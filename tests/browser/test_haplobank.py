"""The haplobank in Chromium (issue 14): QA registers a population, uploads a haplotype table with a bad line (every
bad line listed, nothing stored) then a good one, reads the coverage and its curve and plans the next lines; a
researcher searches for a patient's match with the keyboard (the first field has the focus, Enter searches).
Screenshots go to /tmp/haplobank_*.png (or HB_SHOTS)."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest
from playwright.sync_api import expect

from haplobank.models import HaplotypeFrequency, Population
from tests.browser.focus import assert_focus
from tests.distribution.factories import reseed_reference_data
from tests.factories import UserFactory
from tests.haplobank import helpers
from tests.haplobank.test_planning import donor

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

SHOTS = Path(os.environ.get("HB_SHOTS", "/tmp"))

HAPLOTYPES = [
    ("A*33:03~B*58:01~DRB1*03:01", "0.061"), ("A*02:07~B*46:01~DRB1*09:01", "0.052"),
    ("A*30:01~B*13:02~DRB1*07:01", "0.043"), ("A*11:01~B*15:02~DRB1*12:02", "0.021"),
    ("A*24:02~B*54:01~DRB1*04:05", "0.018"), ("A*02:01~B*46:01~DRB1*09:01", "0.015"),
    ("A*11:01~B*40:01~DRB1*09:01", "0.012"), ("A*02:03~B*38:02~DRB1*16:02", "0.009"),
    ("A*24:02~B*52:01~DRB1*15:02", "0.008"), ("A*01:01~B*37:01~DRB1*10:01", "0.004"),
    ("A*11:01~B*38:02~DRB1*15:02", "0.003"), ("A*02:01~B*13:01~DRB1*15:01", "0.002"),
]
GOOD_TABLE = "haplotype,frequency\n" + "\n".join(f"{h},{f}" for h, f in HAPLOTYPES) + "\n"
BAD_TABLE = GOOD_TABLE.replace("A*11:01~B*15:02~DRB1*12:02", "A*11:01~B*15:02").replace(",0.009", ",1.9")


def shot(page, name: str) -> None:
    page.screenshot(path=str(SHOTS / f"haplobank_{name}.png"), full_page=True)


def test_qa_uploads_a_table_reads_the_coverage_curve_and_plans(page, login):
    reseed_reference_data()
    SHOTS.mkdir(parents=True, exist_ok=True)
    qa = UserFactory(username="qa-wang", role="qa", first_name="Lei", last_name="Wang")
    names = ["SCBi001-A", "SCBi002-A", "SCBi003-A", "SCBi004-A", "SCBi005-A", "SCBi006-A"]
    for name, (haplotype, _f) in zip(names, HAPLOTYPES[:5] + HAPLOTYPES[:1], strict=True):
        helpers.line(haplotype, name=name)  # the sixth repeats the first haplotype: it adds nothing
    helpers.line(HAPLOTYPES[8][0], name="SCBi007-A", status="recalled")  # a recalled line never counts

    login(qa)
    page.click("#main-nav a[data-nav=haplobank]")
    page.wait_for_url("**/haplobank/")
    expect(page.locator("#no-population")).to_be_visible()
    shot(page, "01_no_population")

    # Register a population (keyboard: Enter in the last text field submits).
    page.click("#no-population a")
    page.fill("#id_name", "Han Chinese (southern)")
    page.check("input[name=resolution][value='2-field']")
    page.fill("#id_source", "Test frequencies, synthetic")
    page.press("#id_source", "Enter")
    page.wait_for_url(re.compile(r".*/haplobank/populations/\d+/$"))
    population = Population.objects.get(name="Han Chinese (southern)")

    # A table with two bad lines: both listed with their line numbers, nothing stored.
    page.fill("#id_haplotypes-table", BAD_TABLE)
    page.click("#upload-haplotypes button[type=submit]")
    errors = page.locator("#upload-haplotypes [data-line-errors] li")
    expect(errors).to_have_count(2)
    assert errors.nth(0).inner_text().startswith("Line 5: ")
    assert errors.nth(1).inner_text().startswith("Line 9: ")
    expect(page.locator("#upload-haplotypes .errornote")).to_contain_text("2 lines of the table cannot be read")
    assert not HaplotypeFrequency.objects.filter(population=population).exists()
    page.locator("#upload-haplotypes-card").scroll_into_view_if_needed()
    shot(page, "02_bad_table")

    # The good table: stored, version 1.
    page.fill("#id_haplotypes-table", GOOD_TABLE)
    page.click("#upload-haplotypes button[type=submit]")
    expect(page.locator(".messages .success")).to_contain_text("version 1 is in force")
    expect(page.locator("#haplotype-summary")).to_contain_text("12 haplotypes (version 1)")

    # Coverage: five lines add (greedy), the sixth adds nothing, the recalled one is not there.
    page.click("#show-coverage")
    page.wait_for_url("**/haplobank/?population=*")
    # 0.061 + 0.052 + 0.043 + 0.021 + 0.018 = 0.195: 1 − 0.805² = 0.351975 → 35.20 %
    expect(page.locator("#coverage-pct")).to_have_text("35.20 %")
    expect(page.locator("#coverage-lines")).to_have_text("6")
    curve = page.locator("#coverage-curve svg")
    expect(curve).to_be_visible()
    assert curve.get_attribute("data-points") == "6"
    expect(curve.locator("polyline.curve")).to_be_visible()
    expect(curve.locator("circle.point")).to_have_count(6)
    box = curve.bounding_box()
    assert box and box["width"] > 600 and box["height"] > 150
    rows = page.locator("#per-line tbody tr")
    expect(rows).to_have_count(6)
    assert "SCBi001-A" in rows.nth(0).inner_text() and "+11.83" in rows.nth(0).inner_text()
    assert "SCBi006-A" in rows.nth(5).inner_text() and "SCBi007-A" not in page.inner_text("#per-line")
    expect(page.locator("[data-explain]")).to_have_count(3)
    shot(page, "03_coverage")

    # Planning: a planned set on top of the bank; QA sees no recruitment list.
    page.click("#haplobank-tabs a[data-tab=planning]")
    page.fill("#id_haplotypes", "A*02:01~B*46:01~DRB1*09:01\nA*11:01~B*40:01~DRB1*09:01")
    page.click("#simulate")
    expect(page.locator("#simulated-pct")).to_be_visible()
    expect(page.locator("#next-best tbody tr")).to_have_count(5)
    assert page.locator("#next-best a").count() == 0
    shot(page, "04_planning")

    # A bad planned haplotype is a form error that says how to write it.
    page.fill("#id_haplotypes", "A*02:01~B*46:01")
    page.click("#simulate")
    expect(page.locator("#planning-form .errorlist")).to_contain_text("A*24:02~B*52:01~DRB1*15:02")

    page.click("#haplobank-tabs a[data-tab=populations]")
    expect(page.locator("#population-table tbody tr")).to_have_count(1)
    shot(page, "05_populations")

    # A coordinator opens the recruitment list from the next best haplotypes: donor codes, never identity.
    wanted = donor(HAPLOTYPES[5][0], identity=True)
    page.context.clear_cookies()
    login(UserFactory(username="co-liu", role="coordinator"))
    page.click("#main-nav a[data-nav=haplobank]")
    page.click("#haplobank-tabs a[data-tab=planning]")
    page.click(f'#next-best tr[data-haplotype="{HAPLOTYPES[5][0]}"] a')
    page.wait_for_url("**/haplobank/recruitment/?*")
    expect(page.locator("#recruits tbody tr")).to_have_count(1)
    expect(page.locator(f'#recruits tr[data-donor="{wanted.code}"]')).to_be_visible()
    assert "Li Hua" not in page.content()
    shot(page, "06_recruitment")


def test_researcher_searches_a_match_with_the_keyboard(page, login):
    reseed_reference_data()
    SHOTS.mkdir(parents=True, exist_ok=True)
    patient = {"A": ["A*24:02", "A*02:01"], "B": ["B*52:01", "B*07:02"], "DRB1": ["DRB1*15:02", "DRB1*04:05"],
               "C": ["C*12:02", "C*07:02"], "DQB1": ["DQB1*06:01", "DQB1*03:02"]}
    shared = ["research", "data_sharing"]
    helpers.line({**patient, "A": ["A*11:01", "A*11:01"]}, name="SCBi020-A", scopes=shared)  # HvG 1
    helpers.line(patient, name="SCBi021-A", scopes=shared)  # HvG 0, GvH 0
    helpers.line({"A": ["A*24:02", "A*24:02"], "B": ["B*52:01", "B*52:01"], "DRB1": ["DRB1*15:02", "DRB1*15:02"],
                  "C": ["C*12:02", "C*12:02"], "DQB1": ["DQB1*06:01", "DQB1*06:01"]},
                 name="SCBi022-A", scopes=shared)  # homozygous: HvG 0, GvH 5
    helpers.line(patient, name="SCBi023-A", scopes=["research"])  # no data sharing: not the researcher's
    researcher = UserFactory(username="dr-chen", role="researcher", first_name="Yu", last_name="Chen")

    login(researcher)
    page.click("#main-nav a[data-nav=hla-match]")
    page.wait_for_url("**/haplobank/match/")
    assert_focus(page, "#id_a_1")
    alleles = [allele for locus in ("A", "B", "C", "DRB1", "DQB1") for allele in patient[locus]]
    for allele in alleles[:-1]:
        page.keyboard.type(allele)
        page.keyboard.press("Tab")
    assert_focus(page, "#id_dqb1_2")
    page.keyboard.type(alleles[-1])
    page.keyboard.press("Enter")  # Enter searches
    rows = page.locator("#match-results tbody tr")
    expect(rows).to_have_count(3)
    assert [rows.nth(i).get_attribute("data-hvg") for i in range(3)] == ["0", "0", "1"]
    assert "SCBi021-A" in rows.nth(0).inner_text() and "SCBi020-A" in rows.nth(2).inner_text()
    assert "SCBi023-A" not in page.inner_text("#match-results")
    shot(page, "07_match")

    # A bad allele: a form error saying how to write it, the focus on that field.
    page.fill("#id_b_2", "B*7x")
    page.press("#id_b_2", "Enter")
    expect(page.locator("#errors-B")).to_contain_text("B*24:02")
    assert_focus(page, "#id_b_2")
    shot(page, "08_match_error")
