"""Regressions of issue 10: places that answered the same question two ways and disagreed.

Each test failed on the code before the rule was given one home (see the docstrings), and passes now.
"""

import datetime
from decimal import Decimal

import pytest
from django.utils import timezone

from distribution import services as distribution
from lots.models import Vial
from qc import services
from qc.models import Recheck, StabilityPlan
from tests.distribution.factories import add_lot, make_line, submit
from tests.factories import CollectionFactory, eligible_collection, full_negative_panel
from tests.qc.factories import enter_panel, qc_lot, store_vials

pytestmark = pytest.mark.django_db

TODAY = datetime.date(2027, 3, 1)


def released(users, password, **kwargs):
    lot = qc_lot(**kwargs)
    store_vials(lot)
    enter_panel(lot, users["technician"])
    services.release_lot(lot, actor=users["qa"], password=password, meaning="release")
    lot.refresh_from_db()
    return lot


def recheck(lot, users, viability: str) -> Recheck:
    StabilityPlan.objects.filter(lot=lot).update(next_due_on=TODAY)
    services.open_due_rechecks(today=TODAY)
    item = Recheck.objects.get(lot=lot, status="due")
    services.record_recheck_result(item, actor=users["technician"], viability_pct=Decimal(viability),
                                   tested_on=timezone.localdate())
    lot.refresh_from_db()
    return item


# --- which QC results count ----------------------------------------------------------------------------


def test_lot_api_and_release_review_give_the_same_verdict_after_a_failed_recheck(users, password, api):
    """Before: ``lots.queries.qc_summary`` counted the failed re-check (failed: viability) while the release
    review, which excludes stability re-checks, found every required test passed."""
    lot = released(users, password)
    recheck(lot, users, "55")
    assert lot.status == "on_hold"
    summary = api(users["qa"]).get(f"/api/v1/lots/{lot.pk}/").json()["qc_summary"]
    review = api(users["qa"]).get(f"/api/v1/lots/{lot.pk}/release-readiness/").json()
    review_failed = [t["test"] for t in review["tests"] if t["state"] == "failed"]
    assert summary["failed"] == review_failed == []
    assert summary["missing"] == [] and summary["complete"] is True
    viability = next(t for t in summary["tests"] if t["test"] == "viability")
    assert viability["result"]["value"] == 92.0 and viability["passed"] is True


def test_catalog_characterization_counts_the_results_release_counts(users, password, api):
    """Before: the catalog read its own 'latest result per test', which took a later re-check's viability."""
    lot = released(users, password)
    StabilityPlan.objects.filter(lot=lot).update(next_due_on=TODAY)
    recheck(lot, users, "75")  # passes the 70 % minimum: the lot stays released and listed
    assert lot.status == "released"
    entry = api(users["researcher"]).get(f"/api/v1/catalog/{lot.cell_line_id}/").json()
    viability = next(c for c in entry["characterization"] if c["test"] == "viability")
    assert viability["result"] == "92 %"


# --- eligibility is judged on the line's own collection ------------------------------------------------


def test_request_review_judges_the_donor_on_the_lines_collection_not_the_newest(users, api):
    """Before: ``review_for`` judged the donor's newest collection, so a later collection without a
    screening in its window made an eligible line's request fail with ``donor_not_eligible``."""
    line = make_line()
    add_lot(line, vials=3)
    later = CollectionFactory(donor=line.donor, tissue="peripheral_blood",
                              collected_at=timezone.now() - datetime.timedelta(days=1))
    assert later.collected_at > line.collection.collected_at
    request = submit(users["researcher"], line, 1)
    response = api(users["qa"]).post(f"/api/v1/requests/{request.pk}/approve/", {}, format="json")
    assert response.status_code == 200, response.json()
    assert response.json()["status"] == "approved"


def test_request_review_refuses_when_the_lines_own_collection_is_not_eligible(users, api):
    """The other direction: a newer, fully screened collection does not make the line's donor eligible."""
    line = make_line()
    add_lot(line, vials=3)
    # The line's collection lacks a negative HIV NAT in its window; a later collection is fully screened.
    screening = line.donor.screenings.get()
    screening.results.filter(marker="hiv_nat").delete()
    later = CollectionFactory(donor=line.donor, tissue="skin",
                              collected_at=timezone.now() - datetime.timedelta(hours=2))
    full_negative_panel(later)
    request = submit(users["researcher"], line, 1)
    response = api(users["qa"]).post(f"/api/v1/requests/{request.pk}/approve/", {}, format="json")
    assert response.status_code == 409
    assert response.json()["code"] == "donor_not_eligible"


# --- a lot on hold can be recalled ---------------------------------------------------------------------


def test_a_lot_on_hold_can_be_recalled_with_a_signature_and_its_recipients_listed(users, password, api):
    """Before: ``on_hold → recalled`` was not in the status machine: 409 ``invalid_transition``."""
    line = make_line()
    lot = add_lot(line, vials=4)
    request = submit(users["researcher"], line, 1)
    request = distribution.approve_request(request, actor=users["qa"])
    for barcode in request.allocated_barcodes:
        distribution.confirm_pick(request, barcode, actor=users["technician"])
    distribution.ship_request(request, actor=users["technician"], courier="SF", tracking_number="SF1",
                              shipped_on=timezone.localdate())
    from lots.services import change_lot_status

    change_lot_status(lot, "on_hold", actor=users["qa"], reason="failed re-check")
    response = api(users["qa"]).post(f"/api/v1/lots/{lot.pk}/recall/",
                                     {"password": password, "reason": "mycoplasma found on retest"}, format="json")
    assert response.status_code == 201, response.json()
    lot.refresh_from_db()
    assert lot.status == "recalled"
    body = response.json()
    assert [n["request"] for n in body["notices"]] == [request.number]
    assert body["signatures"][0]["meaning"] == "recall"


# --- the stability programme never thaws a lot's last vial ----------------------------------------------


def test_a_recheck_never_names_the_last_available_vial(users, password):
    """Before: the daily task named the highest-numbered available vial, even when it was the lot's last."""
    lot = released(users, password)
    vials = list(lot.vials.order_by("number"))
    Vial.objects.filter(pk__in=[v.pk for v in vials[:-1]]).update(status="used", box=None, row=None, col=None)
    StabilityPlan.objects.filter(lot=lot).update(next_due_on=TODAY)
    services.open_due_rechecks(today=TODAY)
    assert not Recheck.objects.filter(lot=lot, vial=vials[-1]).exists()


def test_a_cord_blood_unit_gets_no_stability_plan(users, password):
    """Before: every released lot got a plan, so a unit's only bag would be named for a re-check thaw."""
    lot = qc_lot(tier="unit", passage=0, vial_count=1, line_cell_type="CB-HSC", line_reprogramming_method="",
                 line_collection=eligible_collection(tissue="cord_blood"))
    store_vials(lot)
    enter_panel(lot, users["technician"])
    services.release_lot(lot, actor=users["qa"], password=password, meaning="release")
    lot.refresh_from_db()
    assert lot.status == "released"
    assert not StabilityPlan.objects.filter(lot=lot).exists()


# --- segregation of duties covers the lot's operator -----------------------------------------------------


def test_the_officer_who_froze_a_lot_may_not_release_it(users, password, api):
    """Before: only result entry was checked; the lot's operator could sign its release."""
    lot = qc_lot(operator=users["qa"])
    enter_panel(lot, users["technician"])
    response = api(users["qa"]).post(f"/api/v1/lots/{lot.pk}/release/",
                                     {"password": password, "meaning": "release"}, format="json")
    assert response.status_code == 403
    assert response.json()["code"] == "segregation_of_duties"
    lot.refresh_from_db()
    assert lot.status == "quarantine"
