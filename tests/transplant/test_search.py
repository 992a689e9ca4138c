"""The unit search for a patient (issue 12): public, released, available units only, ranked by HLA match,
then TNC/kg and CD34/kg; filters; a constant number of queries."""

from __future__ import annotations

import datetime

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from cordblood.models import CordBloodUnit
from tests import cordblood_factories as cb
from tests.transplant import helpers as tx
from transplant.queries import SearchFilters, hla_mismatches, search_units

pytestmark = pytest.mark.django_db

ONE_A_OFF = {"a_1": "A*02:01", "a_2": "A*24:02"}  # one A antigen mismatch
TWO_OFF = {"a_1": "A*02:01", "a_2": "A*11:01", "drb1_1": "DRB1*15:01", "drb1_2": "DRB1*15:02"}  # A x2, DRB1 x1


@pytest.fixture
def clin(db):
    return tx.clinician()


@pytest.fixture
def pat(clin):
    return tx.patient(clin, weight_kg="20.0")


def dins(qs) -> list[str]:
    return [u.din for u in qs]


def test_a_family_unit_is_invisible_to_public_search(clin, pat, api):
    """Must show (issue 12): a family unit never appears, even a perfectly matched one with the highest dose."""
    public = cb.unit()
    family = cb.unit(ownership="family", tnc=9_000_000_000)
    # Even if someone listed it by mistake, the search's own rule keeps it out.
    CordBloodUnit.objects.filter(pk=family.pk).update(listing_status="available")
    found = dins(search_units(pat))
    assert public.din in found and family.din not in found
    body = api(clin).get(f"/api/v1/transplant/patients/{pat.pk}/search/").json()
    assert [r["din"] for r in body["results"]] == [public.din]


def test_only_released_available_units_appear(pat):
    shown = cb.unit()
    hidden = [cb.unit(status="quarantine"), cb.unit(listing_status="reserved"),
              cb.unit(listing_status="temporarily_unavailable"), cb.unit(listing_status="not_listed")]
    found = dins(search_units(pat))
    assert shown.din in found and not set(found) & {u.din for u in hidden}


def test_ranked_by_mismatches_then_tnc_then_cd34(pat):
    far = cb.unit(hla=TWO_OFF, tnc=4_000_000_000)
    one_off = cb.unit(hla=ONE_A_OFF, tnc=3_000_000_000)
    matched_small = cb.unit(tnc=1_000_000_000)
    matched_big = cb.unit(tnc=2_000_000_000, cd34=1_000_000)
    matched_big_more_cd34 = cb.unit(tnc=2_000_000_000, cd34=9_000_000)
    rows = list(search_units(pat))
    assert dins(rows) == [matched_big_more_cd34.din, matched_big.din, matched_small.din, one_off.din, far.din]
    assert [r.mismatches for r in rows] == [0, 0, 0, 1, 3]
    assert rows[0].tnc_per_kg == pytest.approx(2e9 / 20 / 1e7)  # 10 × 10^7/kg
    assert rows[0].cd34_per_kg == pytest.approx(9e6 / 20 / 1e5)  # 4.5 × 10^5/kg


def test_sql_ranking_agrees_with_the_python_rule(pat):
    for hla in (None, ONE_A_OFF, TWO_OFF, {"b_1": "B*52", "b_2": "B*07:02"},
                {"drb1_1": "DRB1*15", "drb1_2": "DRB1*04:05"}):
        cb.unit(hla=hla)
    for row in search_units(pat):
        typing = row.donation.infant.hla
        assert row.mismatches == hla_mismatches(typing.alleles(), pat.hla), typing.alleles()


def test_mismatch_rule():
    patient = {"A": ["A*24:02", "A*02:01"], "B": ["B*52:01", "B*07:02"], "DRB1": ["DRB1*15:02", "DRB1*04:05"]}
    same = {"A": ["A*02:01", "A*24:02"], "B": ["B*07:02", "B*52:01"], "DRB1": ["DRB1*04:05", "DRB1*15:02"]}
    assert hla_mismatches(same, patient) == 0
    # A and B at antigen level: A*24:03 is the A24 antigen (no mismatch); DRB1 at allele level: 15:01 ≠ 15:02.
    assert hla_mismatches({**same, "A": ["A*24:03", "A*02:01"], "DRB1": ["DRB1*15:01", "DRB1*04:05"]}, patient) == 1
    assert hla_mismatches({**same, "B": ["B*35:01", "B*35:01"]}, patient) == 2
    assert hla_mismatches({}, patient) == 6
    assert hla_mismatches(same, {"A": patient["A"]}) == 0  # untyped loci of the patient count nothing


def test_filters(pat):
    o_unit = cb.unit(abo="O", tnc=1_000_000_000)
    a_unit = cb.unit(abo="A", tnc=3_000_000_000)
    old = cb.unit(abo="O", tnc=2_000_000_000)
    CordBloodUnit.objects.filter(pk=old.pk).update(frozen_at=timezone.now() - datetime.timedelta(days=365 * 12))
    assert set(dins(search_units(pat, SearchFilters(abo="A")))) == {a_unit.din}
    assert old.din not in dins(search_units(pat, SearchFilters(max_age_years=10)))
    # 20 kg: 1e9 TNC is 5 × 10^7/kg, 3e9 is 15 × 10^7/kg
    assert set(dins(search_units(pat, SearchFilters(min_tnc_per_kg=6)))) == {a_unit.din, old.din}
    assert o_unit.din in dins(search_units(pat, SearchFilters(max_mismatches=0)))


def test_the_search_api_runs_a_constant_number_of_queries(clin, pat, api):
    def count_queries() -> int:
        client = api(type(clin).objects.get(pk=clin.pk))  # a fresh user: no roles or permissions cached
        with CaptureQueriesContext(connection) as captured:
            response = client.get(f"/api/v1/transplant/patients/{pat.pk}/search/?abo=O")
        assert response.status_code == 200
        return len(captured)

    cb.unit()
    few = count_queries()
    for _ in range(4):
        cb.unit(hla=ONE_A_OFF)
    # Pinned: the user's permissions (own, then its groups') · its roles (groups) · its centre link · the patient ·
    # the page of units with their HLA (one joined query). A first page that holds the whole list is its own count
    # (bank.api.pagination); a longer list adds the COUNT.
    assert count_queries() == few == 6
