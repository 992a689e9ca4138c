"""Page-numbered API lists whose total the database keeps (bank/tally.py) never COUNT their rows: cord blood units,
donations and requests. The totals equal what a COUNT would say, filtered or not."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from tests import cordblood_factories as cb

pytestmark = pytest.mark.django_db


def _counts(client, url):
    with CaptureQueriesContext(connection) as ctx:
        response = client.get(url)
    assert response.status_code == 200, response.content[:300]
    return response.json(), [q["sql"] for q in ctx.captured_queries if "COUNT(" in q["sql"].upper()]


def test_units_and_donations_take_their_totals_from_the_kept_counts(api, users):
    for n in range(3):
        cb.unit(ownership="public" if n else "family")
    client = api(users["qa"])
    for url, total in (("/api/v1/cordblood/units/?page_size=1", 3),
                       ("/api/v1/cordblood/units/?page_size=1&page=2", 3),
                       ("/api/v1/cordblood/units/?page_size=1&ownership=public", 2),
                       ("/api/v1/cordblood/donations/?page_size=1&page=3", 3)):
        body, counts = _counts(client, url)
        assert body["count"] == total and counts == [], url
    # A filter the kept counts cannot answer is counted as before, and agrees.
    body, counts = _counts(client, "/api/v1/cordblood/units/?page_size=1&acceptance=accepted")
    assert body["count"] == 3 and counts


def test_requests_take_their_totals_from_the_kept_counts(api, users):
    from tests.distribution.factories import stocked_line, submit

    line, _lot = stocked_line(vials=6)
    for _ in range(3):
        submit(users["researcher"], line)
    body, counts = _counts(api(users["qa"]), "/api/v1/requests/?page_size=1&page=2")
    assert body["count"] == 3 and counts == []
    body, counts = _counts(api(users["qa"]), "/api/v1/requests/?page_size=1&status=submitted")
    assert body["count"] == 3 and counts == []
    # A researcher sees only their own requests: counted, not taken from the bank-wide figure.
    body, counts = _counts(api(users["researcher"]), "/api/v1/requests/?page_size=1")
    assert body["count"] == 3 and counts


def test_the_kept_unit_count_is_the_lists_count_for_every_filter_it_answers(users):
    """``unit_count`` (kept counts) and ``filter_units(...).count()`` are one rule in two forms: equal for bank
    staff and for users outside the bank, for each ownership and listing filter and for values that are no choice."""
    from cordblood import queries

    cb.unit(ownership="public", listing_status="available")
    cb.unit(ownership="public", listing_status="not_listed")
    cb.unit(ownership="public", listing_status="reserved")
    cb.unit(ownership="family")
    for who in ("qa", "researcher"):
        user = users[who]
        for params in ({}, {"ownership": "public"}, {"ownership": "family"}, {"listing_status": "available"},
                       {"listing_status": "not_listed"}, {"ownership": "public", "listing_status": "reserved"},
                       {"ownership": "nonsense"}, {"listing_status": "nonsense"}):
            expected = queries.filter_units(queries.units_visible_to(user), params, user=user).count()
            assert queries.unit_count(user, params) == expected, (who, params)


def test_the_lines_page_counts_what_it_lists_whatever_the_filter(client, users):
    """A filter value that is no choice filters nothing, and the kept total says so (it once said 0: empty page)."""
    from tests.factories import CellLineFactory

    for _ in range(3):
        CellLineFactory()
    client.force_login(users["qa"])
    for query in ("", "?cell_type=nonsense", "?grade=nonsense"):
        html = client.get(f"/lots/lines/{query}").content.decode()
        assert html.count("<tr") - 1 == 3, query
