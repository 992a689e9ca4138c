"""The unit page's temperature chart over 24 hours (raw readings), 30 days (hourly summaries) and a year (daily
summaries): the true extremes stay visible, and the page costs the same number of queries whatever the range
and however many readings there are. The readings API pages by keyset over a range."""

import datetime

import pytest
from django.utils import timezone

from storage import queries
from storage.models import TemperatureReading
from storage.services import record_readings

pytestmark = pytest.mark.django_db


def _history(unit, user, *, days: int, every_minutes: int, spike_days_ago: float | None = None, now=None):
    """Readings at -185 ± 1 °C every ``every_minutes`` for ``days`` days, one reading at -120 °C (a one-minute
    warm spike, not a mean anyone would notice) ``spike_days_ago`` days ago."""
    now = now or timezone.now()
    values = [(-185 + (i % 3) - 1, now - datetime.timedelta(minutes=every_minutes * i))
              for i in range(1, days * 24 * 60 // every_minutes)]
    if spike_days_ago is not None:
        values.append((-120, now - datetime.timedelta(days=spike_days_ago, seconds=30)))
    record_readings(unit, values, actor=user)


def test_ranges_read_raw_hourly_and_daily_and_keep_the_extremes(layout, users):
    now = timezone.now()
    _history(layout.unit, users["admin"], days=40, every_minutes=30, spike_days_ago=20, now=now)
    day = queries.readings_series(layout.unit, "24h", now=now)
    assert len(day) == 48 and all(p.low == p.avg == p.high for p in day)  # raw readings
    month = queries.readings_series(layout.unit, "30d", now=now)
    assert 719 <= len(month) <= 721  # one point per hour
    assert sum(p.count for p in month) in range(1438, 1444)
    spike = [p for p in month if p.high > -150]
    assert len(spike) == 1 and spike[0].high == -120 and spike[0].low == -186 and spike[0].avg < -150
    year = queries.readings_series(layout.unit, "1y", now=now)
    assert 40 <= len(year) <= 41  # one point per local day with readings
    assert max(p.high for p in year) == -120 and min(p.low for p in year) == -186
    assert queries.readings_series(layout.unit, "bogus", now=now) == day


def test_unit_page_ranges_show_the_band_and_the_excursion(client, layout, users):
    _history(layout.unit, users["admin"], days=3, every_minutes=20, spike_days_ago=2)
    client.force_login(users["qa"])
    url = f"/storage/units/{layout.unit.pk}/"
    html = client.get(url).content.decode()
    assert 'data-window="24h"' in html and 'class="band"' not in html
    for window, label in (("30d", "30 days"), ("1y", "1 year")):
        html = client.get(url, {"window": window}).content.decode()
        assert f'data-window="{window}"' in html and 'class="band"' in html and 'class="excursion"' in html
        assert f'aria-current="page">{label}</a>' in html
        assert "-120.0 °C" in html  # the spike's dot carries its true value, not the hour's mean
    assert "Each day: the band runs" in html
    html = client.get(url, {"window": "30d"}).content.decode()
    assert "Each hour: the band runs" in html and "hours (" in html


@pytest.mark.parametrize("window", ["24h", "7d", "30d", "1y"])
def test_unit_page_queries_are_constant(client, layout, users, django_assert_num_queries, window):
    client.force_login(users["qa"])
    url = f"/storage/units/{layout.unit.pk}/"
    # Queries: the session, the user, their groups, their permissions (2); the unit, the chart's readings (24 h)
    # or summaries (the others) (1), the latest reading (1), the unit's occupancy (1), its racks (1) and their
    # occupancy (1), its alarms (1); the unread notifications of the header (1).
    with django_assert_num_queries(13):
        assert client.get(url, {"window": window}).status_code == 200
    _history(layout.unit, users["admin"], days=2, every_minutes=10, spike_days_ago=0.5)
    with django_assert_num_queries(13):
        html = client.get(url, {"window": window}).content.decode()
    assert 'class="excursion"' in html


def test_the_chart_reads_one_query_per_range(layout, users, django_assert_num_queries):
    _history(layout.unit, users["admin"], days=2, every_minutes=10)
    for window in queries.WINDOWS:
        # One query: raw readings (24 h) or the unit's hourly / daily summaries (the others).
        with django_assert_num_queries(1):
            queries.readings_series(layout.unit, window)


def test_readings_api_pages_by_keyset_over_a_range(layout, users, api, django_assert_num_queries):
    now = timezone.now()
    record_readings(layout.unit, [(-180 - i % 5, now - datetime.timedelta(minutes=7 * i)) for i in range(1, 60)]
                    + [(-190, now - datetime.timedelta(days=3))], actor=users["admin"])
    client = api(users["qa"])
    url = f"/api/v1/storage/units/{layout.unit.pk}/readings/"
    client.get(url)  # the role's permissions, read once per client
    seen, page_url, pages = [], url + "?range=24h&page_size=25", 0
    while page_url:
        # Queries: the unit (1), the page (1), the alarms raised by the page's readings (1). No count.
        with django_assert_num_queries(3):
            body = client.get(page_url).json()
        assert "count" not in body
        seen += [(r["recorded_at"], r["id"]) for r in body["results"]]
        page_url, pages = body["next"], pages + 1
    assert pages == 3 and len(seen) == 59 == len(set(seen))
    assert seen == sorted(seen, reverse=True)  # newest first, no gap, no repeat
    assert len(client.get(url, {"range": "7d", "page_size": 1000}).json()["results"]) == 60
    until = (now - datetime.timedelta(days=1)).isoformat()
    assert [r["temperature_c"] for r in client.get(url, {"until": until}).json()["results"]] == [-190]
    for bad, field in (({"range": "2y"}, "range"), ({"cursor": "not-a-cursor"}, "cursor"),
                       ({"until": "tomorrow"}, "until")):
        response = client.get(url, bad)
        assert response.status_code == 400 and list(response.json()) == [field], response.json()
    assert TemperatureReading.objects.filter(unit=layout.unit).count() == 60
