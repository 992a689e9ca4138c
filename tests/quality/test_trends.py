"""Control charts across lots: the Western Electric run rules on constructed data, and a drift of a line's
viability flagged on the line page and the QA dashboard."""

from __future__ import annotations

import datetime
from decimal import Decimal

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from qc import services as qc_services
from quality import trends
from tests.factories import CellLineFactory, LotFactory

STABLE = [90.0, 91.0, 89.5, 90.5, 90.0, 89.0, 91.0, 90.0, 90.5, 89.5]


def test_a_stable_process_is_in_control():
    chart = trends.build_chart("viability", "Viability", "%", [(None, v) for v in STABLE])
    assert chart is not None and chart.flagged == []


def test_one_point_beyond_three_sigma():
    values = [90.0, 90.2, 89.8] * 8 + [80.0]
    flags = trends.run_rules(values, 90.0, 0.5)
    assert flags == {len(values) - 1: {1}}


def test_two_of_three_beyond_two_sigma():
    flags = trends.run_rules([0.0, 2.5, 0.5, 2.6], 0.0, 1.0)
    assert 3 in flags and 2 in flags[3] and 1 not in flags[3]


def test_four_of_five_beyond_one_sigma():
    flags = trends.run_rules([1.5, 1.2, 0.2, 1.4, 1.3], 0.0, 1.0)
    assert flags.get(4) == {3}


def test_eight_in_a_row_on_one_side_is_a_drift():
    values = [0.5, -0.2, 0.3, 0.4, 0.2, 0.6, 0.1, 0.3, 0.2, 0.4]  # from index 2: eight above the mean
    flags = trends.run_rules(values, 0.0, 1.0)
    assert 4 in flags[9] and 4 not in flags.get(8, set())
    assert trends.run_rules([0.5, -0.5] * 6, 0.0, 1.0) == {}


def test_too_few_lots_draw_no_chart():
    assert trends.build_chart("viability", "Viability", "%", [(None, v) for v in STABLE[:4]]) is None


@pytest.mark.django_db
def test_a_drifting_viability_is_flagged_on_the_line_page_and_the_dashboard(users):
    line = CellLineFactory()
    # Twelve lots: stable, then the last eight creep down — each within the specification (≥ 70 %), none fails.
    values = [92, 93, 92.5, 93.5, 88, 87.5, 87, 86.5, 86, 85.5, 85, 84.5]
    start = timezone.localdate() - datetime.timedelta(days=200)
    for i, value in enumerate(values):
        lot = LotFactory(cell_line=line, frozen_on=start + datetime.timedelta(days=10 * i))
        qc_services.record_qc_result(lot, actor=users["technician"], test="viability", value=Decimal(str(value)),
                                     tested_on=lot.frozen_on + datetime.timedelta(days=1), method="trypan blue")
    charts = {c.test_code: c for c in trends.line_charts(line)}
    chart = charts["viability"]
    assert len(chart.points) == 12
    assert chart.flagged and any(4 in p.rules or 3 in p.rules for p in chart.flagged)
    assert all(not p.rules for p in chart.points[:4])
    client = Client()
    client.force_login(users["qa"])
    page = client.get(reverse("lots:cellline_detail", args=[line.pk])).content.decode()
    assert 'id="quality-trends"' in page and 'data-test="viability"' in page and 'data-flagged="true"' in page
    dashboard = client.get(reverse("dashboard")).content.decode()
    assert f'data-line="{line.pk}"' in dashboard and "viability" in dashboard


@pytest.mark.django_db
def test_the_dashboards_drift_search_reads_a_constant_number_of_queries(users, django_assert_num_queries):
    """The QA dashboard weighs the most recently banked lines in four queries however many lines it charts (it
    once charted each line with two queries of its own, and read every lot of the year to pick them); a cord
    blood unit, one donation, is never a trend."""
    start = timezone.localdate() - datetime.timedelta(days=100)

    def bank_lines(n: int, drift: bool):
        for _ in range(n):
            line = CellLineFactory()
            values = [92, 93, 92.5, 93.5, 88, 87.5, 87, 86.5, 86, 85.5, 85, 84.5] if drift else STABLE
            for i, value in enumerate(values):
                lot = LotFactory(cell_line=line, frozen_on=start + datetime.timedelta(days=i))
                qc_services.record_qc_result(lot, actor=users["technician"], test="viability",
                                             value=Decimal(str(value)), tested_on=lot.frozen_on, method="trypan")

    bank_lines(1, drift=True)
    LotFactory(tier="unit", frozen_on=timezone.localdate())  # the newest lot: a unit, left out
    # 1 the recent banks' lines (the partial order index), 2 their lots, 3 the lots' counted results, 4 the lines.
    with django_assert_num_queries(4):
        first = trends.drifting_lines()
    bank_lines(3, drift=False)
    bank_lines(1, drift=True)
    with django_assert_num_queries(4):
        second = trends.drifting_lines()
    assert len(first) == 1 and len(second) == 2
