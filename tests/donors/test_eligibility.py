"""The one eligibility rule (QC_SPECS.md): positive → ineligible; missing/out of window → incomplete."""

import datetime

import pytest

from donors.models import Donor, ScreeningMarker, ScreeningWindow
from donors.queries import eligibility_for, prefetch_eligibility
from tests.factories import (
    CollectionFactory,
    ScreeningFactory,
    ScreeningResultFactory,
    full_negative_panel,
)

pytestmark = pytest.mark.django_db

BASE_PANEL = {"hiv_ab", "hiv_nat", "hbsag", "anti_hbc", "hcv_ab", "hcv_nat", "syphilis"}


def test_seeded_panel_matches_qc_specs():
    required = {m.code for m in ScreeningMarker.objects.filter(required=True) if m.required_for("skin")}
    assert required == BASE_PANEL
    leuko = {m.code for m in ScreeningMarker.objects.filter(required=True) if m.required_for("cord_blood")}
    assert leuko == BASE_PANEL | {"htlv_ab", "cmv"}
    assert ScreeningWindow.objects.get(tissue="bone_marrow").days_before == 30


def test_full_negative_panel_in_window_is_eligible():
    collection = CollectionFactory(tissue="skin")
    full_negative_panel(collection)
    result = eligibility_for(collection.donor, collection)
    assert result.status == "eligible" and result.missing_markers == []


def test_missing_markers_are_named():
    collection = CollectionFactory(tissue="cord_blood")
    full_negative_panel(collection, skip=("cmv", "htlv_ab"))
    result = eligibility_for(collection.donor, collection)
    assert result.status == "incomplete"
    assert result.missing_markers == ["cmv", "htlv_ab"]


def test_any_positive_makes_ineligible():
    collection = CollectionFactory(tissue="skin")
    screening = full_negative_panel(collection)
    ScreeningResultFactory(screening=screening, marker="syphilis", result="positive")
    assert eligibility_for(collection.donor, collection).status == "ineligible"


def test_sample_outside_window_is_incomplete():
    collection = CollectionFactory(tissue="skin")
    full_negative_panel(collection)
    collection.donor.screenings.update(sample_drawn_on=collection.collected_at.date() - datetime.timedelta(days=8))
    result = eligibility_for(Donor.objects.get(pk=collection.donor_id), collection)
    assert result.status == "incomplete" and set(result.out_of_window) == BASE_PANEL


def test_bone_marrow_allows_30_days_before():
    collection = CollectionFactory(tissue="bone_marrow")
    full_negative_panel(collection)
    collection.donor.screenings.update(sample_drawn_on=collection.collected_at.date() - datetime.timedelta(days=29))
    assert eligibility_for(Donor.objects.get(pk=collection.donor_id), collection).status == "eligible"


def test_cord_blood_needs_a_maternal_sample():
    collection = CollectionFactory(tissue="cord_blood")
    full_negative_panel(collection)
    collection.donor.screenings.update(maternal_sample=False)
    assert eligibility_for(Donor.objects.get(pk=collection.donor_id), collection).status == "incomplete"


def test_indeterminate_is_incomplete_and_named():
    collection = CollectionFactory(tissue="skin")
    screening = ScreeningFactory(donor=collection.donor, sample_drawn_on=collection.collected_at.date())
    for code in BASE_PANEL:
        ScreeningResultFactory(screening=screening, marker=code,
                               result="indeterminate" if code == "hcv_nat" else "negative")
    result = eligibility_for(collection.donor, collection)
    assert result.status == "incomplete" and result.missing_markers == ["hcv_nat"]


def test_a_corrected_positive_no_longer_counts():
    collection = CollectionFactory(tissue="skin")
    screening = full_negative_panel(collection, skip=("syphilis",))
    wrong = ScreeningResultFactory(screening=screening, marker="syphilis", result="positive")
    ScreeningResultFactory(screening=screening, marker="syphilis", result="negative", corrects=wrong,
                           correction_reason="transcription error, lab report SY-22")
    assert eligibility_for(collection.donor, collection).status == "eligible"


def test_no_collection_checks_the_base_panel_without_window():
    donor = CollectionFactory(tissue="skin").donor
    result = eligibility_for(donor)
    assert result.status == "incomplete" and set(result.missing) == BASE_PANEL


def test_prefetched_list_costs_constant_queries(django_assert_max_num_queries):
    for _ in range(5):
        full_negative_panel(CollectionFactory(tissue="skin"))
    from donors.queries import PanelConfig

    panel = PanelConfig.load()
    # donors + screenings + results + collections
    with django_assert_max_num_queries(4):
        statuses = [eligibility_for(d, panel=panel).status for d in prefetch_eligibility(Donor.objects.all())]
    assert statuses == ["eligible"] * 5
