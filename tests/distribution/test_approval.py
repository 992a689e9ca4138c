"""QA review and approval: consent scope, grade, eligibility, withdrawn consent, stock; allocation order."""

import pytest
from django.utils import timezone

from distribution import queries, services
from distribution.models import Allocation
from lots.models import Vial
from lots.services import change_lot_status
from tests.distribution.factories import add_lot, make_line, stocked_line, submit
from tests.factories import ScreeningFactory, ScreeningResultFactory

pytestmark = pytest.mark.django_db


def _approve(api, users, request):
    return api(users["qa"]).post(f"/api/v1/requests/{request.pk}/approve/", {}, format="json")


def _nothing_reserved():
    return not Allocation.objects.exists() and not Vial.objects.filter(status="reserved").exists()


def test_approval_reserves_vials_and_returns_their_barcodes(api, users):
    line, lot = stocked_line(vials=4)
    request = submit(users["researcher"], line, vials=3)
    response = _approve(api, users, request)
    assert response.status_code == 200, response.json()
    body = response.json()
    assert body["status"] == "approved" and body["decided_by"] == "qa"
    expected = sorted(lot.vials.order_by("pk").values_list("barcode", flat=True)[:3])
    assert body["allocated_vials"] == expected
    assert Vial.objects.filter(status="reserved").count() == 3
    vial = Vial.objects.get(barcode=expected[0])
    assert vial.history.first().history_user == users["qa"]
    # the researcher is told, technicians get a pick task
    assert users["researcher"].notifications.filter(subject__contains="approved").exists()
    assert users["technician"].notifications.filter(subject__contains=request.number).exists()


def test_allocation_takes_wcb_before_mcb_and_oldest_freeze_first(users):
    line = make_line()
    mcb = add_lot(line, tier="MCB", vials=3, days_ago=100)
    new_wcb = add_lot(line, tier="WCB", vials=2, parent=mcb, days_ago=5)
    old_wcb = add_lot(line, tier="WCB", vials=2, parent=mcb, days_ago=50)
    approved = services.approve_request(submit(users["researcher"], line, vials=5), actor=users["qa"])
    lots = list(Vial.objects.filter(barcode__in=approved.allocated_barcodes).order_by("pk")
                .values_list("lot__lot_number", flat=True))
    assert sorted(lots) == sorted([old_wcb.lot_number] * 2 + [new_wcb.lot_number] * 2 + [mcb.lot_number])
    # the MCB vial is the last resort, and it is the lowest-pk one of its lot
    assert Vial.objects.get(lot=mcb, status="reserved") == mcb.vials.order_by("pk").first()


def test_min_mcb_stock_is_never_allocated(users, settings):
    settings.MIN_MCB_STOCK = 2
    line = make_line()
    mcb = add_lot(line, tier="MCB", vials=3)
    add_lot(line, tier="WCB", vials=1, parent=mcb)
    first = services.approve_request(submit(users["researcher"], line, vials=2), actor=users["qa"])
    assert len(first.allocated_barcodes) == 2
    assert mcb.vials.filter(status="available").count() == 2
    # submission already refuses what the reserve protects
    with pytest.raises(services.Conflict) as refused:
        submit(users["researcher"], line, vials=1)
    assert refused.value.code == "insufficient_stock"


def test_min_mcb_stock_also_holds_at_approval(users, settings):
    line = make_line()
    add_lot(line, tier="MCB", vials=3)
    request = submit(users["researcher"], line, vials=2)
    settings.MIN_MCB_STOCK = 2  # the reserve was raised after submission
    with pytest.raises(services.Conflict) as refused:
        services.approve_request(request, actor=users["qa"])
    assert refused.value.code == "insufficient_stock" and _nothing_reserved()


def test_insufficient_stock_is_409_and_reserves_nothing(api, users):
    line, lot = stocked_line(vials=3)
    request = submit(users["researcher"], line, vials=3)
    services.approve_request(submit(users["researcher"], line, vials=2), actor=users["qa"])
    before = set(Vial.objects.filter(status="reserved").values_list("pk", flat=True))
    response = _approve(api, users, request)
    assert response.status_code == 409 and response.json()["code"] == "insufficient_stock"
    assert response.json()["available"] == 1
    assert set(Vial.objects.filter(status="reserved").values_list("pk", flat=True)) == before
    request.refresh_from_db()
    assert request.status == "submitted" and not request.allocations.exists()


def test_clinical_use_of_a_research_grade_line_is_grade_mismatch(api, users):
    line, _lot = stocked_line(grade="research")
    request = submit(users["researcher"], line, use="clinical")
    response = _approve(api, users, request)
    assert response.status_code == 409 and response.json()["code"] == "grade_mismatch"
    assert _nothing_reserved()
    clinical, _lot = stocked_line(grade="clinical")
    assert _approve(api, users, submit(users["researcher"], clinical, use="clinical")).status_code == 200


@pytest.mark.parametrize("use, scopes", [("commercial", ["research", "clinical"]), ("clinical", ["research"]),
                                         ("research", ["clinical"])])
def test_use_outside_the_donor_consent_is_consent_scope(api, users, use, scopes):
    line, _lot = stocked_line(grade="clinical", scopes=scopes)
    response = _approve(api, users, submit(users["researcher"], line, use=use))
    assert response.status_code == 409 and response.json()["code"] == "consent_scope"
    assert _nothing_reserved()


def test_withdrawn_consent_after_submission_is_refused(api, users):
    line, _lot = stocked_line()
    request = submit(users["researcher"], line)
    line.donor.consent_withdrawn_at = timezone.now()
    line.donor.save(update_fields=["consent_withdrawn_at"])
    response = _approve(api, users, request)
    assert response.status_code == 409 and response.json()["code"] == "consent_withdrawn"
    assert _nothing_reserved()


def test_flagged_and_recalled_lots_are_never_allocated(api, users):
    line = make_line()
    mcb = add_lot(line, tier="MCB", vials=2, days_ago=90)
    recalled = add_lot(line, tier="WCB", vials=2, parent=mcb, days_ago=60)
    flagged = add_lot(line, tier="WCB", vials=2, parent=mcb, days_ago=50)
    request = submit(users["researcher"], line, vials=3)
    change_lot_status(recalled, "recalled", actor=users["qa"])
    flagged.consent_withdrawn_flagged_at = timezone.now()
    flagged.save(update_fields=["consent_withdrawn_flagged_at"])
    response = _approve(api, users, request)
    assert response.status_code == 409 and response.json()["code"] == "insufficient_stock"
    assert response.json()["available"] == 2
    request2 = submit(users["researcher"], line, vials=2)
    approved = services.approve_request(request2, actor=users["qa"])
    assert set(Vial.objects.filter(barcode__in=approved.allocated_barcodes).values_list("lot", flat=True)) == {mcb.pk}


def test_a_donor_no_longer_eligible_is_refused(api, users):
    line, _lot = stocked_line()
    request = submit(users["researcher"], line)
    screening = ScreeningFactory(donor=line.donor, sample_drawn_on=line.collection.collected_at.date())
    ScreeningResultFactory(screening=screening, marker="hbsag", result="positive")
    response = _approve(api, users, request)
    assert response.status_code == 409 and response.json()["code"] == "donor_not_eligible"
    assert _nothing_reserved()


def test_review_lists_every_check(users):
    line, _lot = stocked_line(grade="research", scopes=["research"])
    review = queries.review_for(submit(users["researcher"], line, use="research"))
    assert [c.key for c in review.checks] == ["consent_withdrawn", "consent_scope", "grade", "eligibility", "stock",
                                              "blocked_lots"]
    assert review.ok and review.refusal is None
    bad = queries.review_for(submit(users["researcher"], line, use="clinical"))
    assert bad.refusal.code == "consent_scope"
    assert {c.key for c in bad.checks if not c.ok} == {"consent_scope", "grade"}


def test_approval_runs_a_constant_number_of_queries(users, django_assert_num_queries):
    line, _lot = stocked_line(vials=40)
    small = submit(users["researcher"], line, vials=1)
    large = submit(users["researcher"], line, vials=30)
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as one:
        services.approve_request(small, actor=users["qa"])
    with CaptureQueriesContext(connection) as thirty:
        services.approve_request(large, actor=users["qa"])
    assert len(thirty) == len(one), [q["sql"][:80] for q in thirty.captured_queries]


def test_reject_needs_a_reason_and_tells_the_researcher(api, users):
    line, _lot = stocked_line()
    request = submit(users["researcher"], line)
    client = api(users["qa"])
    assert client.post(f"/api/v1/requests/{request.pk}/reject/", {"reason": ""}, format="json").status_code == 400
    response = client.post(f"/api/v1/requests/{request.pk}/reject/", {"reason": "No ethics approval attached."},
                           format="json")
    assert response.status_code == 200 and response.json()["status"] == "rejected"
    assert response.json()["decision_reason"] == "No ethics approval attached."
    assert users["researcher"].notifications.filter(body="No ethics approval attached.").exists()
    again = client.post(f"/api/v1/requests/{request.pk}/approve/", {}, format="json")
    assert again.status_code == 409 and again.json()["code"] == "invalid_transition"


def test_withdrawing_an_approval_releases_the_vials(users):
    line, _lot = stocked_line(vials=2)
    approved = services.approve_request(submit(users["researcher"], line, vials=2), actor=users["qa"])
    services.reject_request(approved, actor=users["qa"], reason="Recipient institution lost its MTA signature.")
    assert set(Vial.objects.values_list("status", flat=True)) == {"available"}
    assert not Allocation.objects.filter(released_at__isnull=True).exists()
    # and the vials can be allocated again
    again = services.approve_request(submit(users["researcher"], line, vials=2), actor=users["qa"])
    assert sorted(again.allocated_barcodes) == sorted(approved.allocated_barcodes)
