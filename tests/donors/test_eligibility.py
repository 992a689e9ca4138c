"""The one eligibility rule (QC_SPECS.md): positive → ineligible; missing/out of window → incomplete."""

import datetime

import pytest

from donors.models import Donor, ScreeningMarker, ScreeningWindow
from donors.queries import PanelConfig, collection_eligibility, eligibility_for, eligibility_of
from tests.factories import (
    CollectionFactory,
    ScreeningFactory,
    ScreeningResultFactory,
    full_negative_panel,
)

pytestmark = pytest.mark.django_db

BASE_PANEL = {"hiv_ab", "hiv_nat", "hbsag", "anti_hbc", "hcv_ab", "hcv_nat", "syphilis"}

# The rule is applied along two paths: to one donor as loaded (the donor page) and to many from plain rows (lists,
# release decisions). Every case below runs on both, so the two can never disagree.
PATHS = ["one", "many"]


@pytest.fixture(params=PATHS)
def judge(request):
    def judged(donor, collection=None):
        donor = Donor.objects.get(pk=donor.pk)
        if request.param == "one":
            return eligibility_for(donor, collection)
        if collection is not None:
            return collection_eligibility([collection.pk])[collection.pk].eligibility
        return eligibility_of([donor])[donor.pk]
    return judged


def test_seeded_panel_matches_qc_specs():
    required = {m.code for m in ScreeningMarker.objects.filter(required=True) if m.required_for("skin")}
    assert required == BASE_PANEL
    leuko = {m.code for m in ScreeningMarker.objects.filter(required=True) if m.required_for("cord_blood")}
    assert leuko == BASE_PANEL | {"htlv_ab", "cmv"}
    assert ScreeningWindow.objects.get(tissue="bone_marrow").days_before == 30


def test_full_negative_panel_in_window_is_eligible(judge):
    collection = CollectionFactory(tissue="skin")
    full_negative_panel(collection)
    result = judge(collection.donor, collection)
    assert result.status == "eligible" and result.missing_markers == []


def test_missing_markers_are_named(judge):
    collection = CollectionFactory(tissue="cord_blood")
    full_negative_panel(collection, skip=("cmv", "htlv_ab"))
    result = judge(collection.donor, collection)
    assert result.status == "incomplete"
    assert result.missing_markers == ["cmv", "htlv_ab"]


def test_any_positive_makes_ineligible(judge):
    collection = CollectionFactory(tissue="skin")
    screening = full_negative_panel(collection)
    ScreeningResultFactory(screening=screening, marker="syphilis", result="positive")
    assert judge(collection.donor, collection).status == "ineligible"


def test_sample_outside_window_is_incomplete(judge):
    collection = CollectionFactory(tissue="skin")
    full_negative_panel(collection)
    collection.donor.screenings.update(sample_drawn_on=collection.collected_at.date() - datetime.timedelta(days=8))
    result = judge(collection.donor, collection)
    assert result.status == "incomplete" and set(result.out_of_window) == BASE_PANEL


def test_bone_marrow_allows_30_days_before(judge):
    collection = CollectionFactory(tissue="bone_marrow")
    full_negative_panel(collection)
    collection.donor.screenings.update(sample_drawn_on=collection.collected_at.date() - datetime.timedelta(days=29))
    assert judge(collection.donor, collection).status == "eligible"


def test_cord_blood_needs_a_maternal_sample(judge):
    collection = CollectionFactory(tissue="cord_blood")
    full_negative_panel(collection)
    collection.donor.screenings.update(maternal_sample=False)
    assert judge(collection.donor, collection).status == "incomplete"


def test_indeterminate_is_incomplete_and_named(judge):
    collection = CollectionFactory(tissue="skin")
    screening = ScreeningFactory(donor=collection.donor, sample_drawn_on=collection.collected_at.date())
    for code in BASE_PANEL:
        ScreeningResultFactory(screening=screening, marker=code,
                               result="indeterminate" if code == "hcv_nat" else "negative")
    result = judge(collection.donor, collection)
    assert result.status == "incomplete" and result.missing_markers == ["hcv_nat"]


def test_a_corrected_positive_no_longer_counts(judge):
    collection = CollectionFactory(tissue="skin")
    screening = full_negative_panel(collection, skip=("syphilis",))
    wrong = ScreeningResultFactory(screening=screening, marker="syphilis", result="positive")
    ScreeningResultFactory(screening=screening, marker="syphilis", result="negative", corrects=wrong,
                           correction_reason="transcription error, lab report SY-22")
    assert judge(collection.donor, collection).status == "eligible"


def test_no_collection_checks_the_base_panel_without_window(judge):
    donor = CollectionFactory(tissue="skin").donor
    result = judge(donor)
    assert result.status == "incomplete" and set(result.missing) == BASE_PANEL


def test_a_list_is_judged_in_constant_queries(django_assert_max_num_queries):
    for _ in range(5):
        full_negative_panel(CollectionFactory(tissue="skin"))
    panel = PanelConfig.load()
    donors = list(Donor.objects.all())
    # current results + newest collections, whatever the number of donors
    with django_assert_max_num_queries(2):
        statuses = [e.status for e in eligibility_of(donors, panel).values()]
    assert statuses == ["eligible"] * 5


def test_the_newest_collection_is_judged_on_both_paths():
    """Two collections, the newest out of its sample's window: a list judges the newest, like the donor page."""
    old = CollectionFactory(tissue="skin", collected_at=datetime.datetime(2026, 1, 5, 9, tzinfo=datetime.UTC))
    full_negative_panel(old)
    CollectionFactory(donor=old.donor, tissue="skin",
                      collected_at=datetime.datetime(2026, 6, 5, 9, tzinfo=datetime.UTC))
    donor = Donor.objects.get(pk=old.donor_id)
    one, many = eligibility_for(donor), eligibility_of([donor])[donor.pk]
    assert one == many and one.status == "incomplete" and set(one.out_of_window) == BASE_PANEL
    assert collection_eligibility([old.pk])[old.pk].eligibility.status == "eligible"
