"""Stability programme: plans, the daily re-check task (idempotent, batched), re-check results and holds."""

import datetime
from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from bank.errors import Conflict, Forbidden
from bank.models import Notification
from qc import services
from qc.models import Deviation, LotDecision, QCResult, Recheck, StabilityPlan
from tests.qc.factories import enter_panel, qc_lot, store_vials

pytestmark = pytest.mark.django_db

TODAY = datetime.date(2027, 3, 1)


def released_lot(users, password, *, due_in_days=None, stored=True, **kwargs):
    """A released lot (panel by the technician, signed by QA) with its vials stored."""
    lot = qc_lot(**kwargs)
    if stored:
        store_vials(lot)
    enter_panel(lot, users["technician"])
    services.release_lot(lot, actor=users["qa"], password=password, meaning="release")
    lot.refresh_from_db()
    if due_in_days is not None:
        StabilityPlan.objects.filter(lot=lot).update(next_due_on=TODAY + datetime.timedelta(days=due_in_days))
    return lot


def fail_a_recheck(users, password):
    lot = released_lot(users, password, due_in_days=0)
    services.open_due_rechecks(today=TODAY)
    recheck = Recheck.objects.get(lot=lot)
    services.record_recheck_result(recheck, actor=users["technician"], viability_pct=Decimal("55"),
                                   tested_on=timezone.localdate())
    lot.refresh_from_db()
    recheck.refresh_from_db()
    return lot, recheck


# --- the daily task ---------------------------------------------------------------------------------


def test_opens_one_recheck_per_due_lot_choosing_the_highest_numbered_stored_vial(users, password):
    due = released_lot(users, password, due_in_days=-1)
    not_yet = released_lot(users, password, due_in_days=5)
    highest = due.vials.order_by("-number").first()
    assert services.open_due_rechecks(today=TODAY) == {"opened": 1, "overdue": 0}
    recheck = Recheck.objects.get()
    assert (recheck.lot, recheck.vial, recheck.status) == (due, highest, "due")
    assert recheck.due_on == TODAY - datetime.timedelta(days=1)
    assert not Recheck.objects.filter(lot=not_yet).exists()
    # history: one creation row with the scheduler's reason
    assert recheck.history.get().history_type == "+"


def test_running_twice_opens_nothing_twice(users, password):
    released_lot(users, password, due_in_days=0)
    assert services.open_due_rechecks(today=TODAY)["opened"] == 1
    assert services.open_due_rechecks(today=TODAY)["opened"] == 0
    assert services.open_due_rechecks(today=TODAY + datetime.timedelta(days=3))["opened"] == 0
    assert Recheck.objects.count() == 1


def test_the_unique_constraint_guards_even_if_a_claim_is_missed(users, password):
    lot = released_lot(users, password, due_in_days=0)
    plan = lot.stability_plan
    created = services._insert_rechecks([(plan.pk, lot.pk, plan.next_due_on, None)], timezone.now())
    again = services._insert_rechecks([(plan.pk, lot.pk, plan.next_due_on, None)], timezone.now())
    assert len(created) == 1 and again == []
    assert Recheck.objects.count() == 1


def test_skips_lots_not_released_and_vials_not_available_or_not_stored(users, password):
    from lots.services import change_lot_status, change_vial_status

    lot = released_lot(users, password, due_in_days=0)
    change_lot_status(lot, "on_hold", actor=users["qa"], reason="excursion")
    unstored = released_lot(users, password, due_in_days=0, stored=False)
    reserved = released_lot(users, password, due_in_days=0)
    top = reserved.vials.order_by("-number").first()
    change_vial_status([top], "reserved", actor=users["qa"], reason="REQ-1")
    services.open_due_rechecks(today=TODAY)
    assert not Recheck.objects.filter(lot=lot).exists()
    assert Recheck.objects.get(lot=unstored).vial is None  # opened; the page asks to scan the vial thawed
    chosen = Recheck.objects.get(lot=reserved).vial
    assert chosen.number == top.number - 1


def test_marks_overdue_and_reminds_once(users, password, settings):
    settings.RECHECK_OVERDUE_DAYS = 30
    released_lot(users, password, due_in_days=-40)
    released_lot(users, password, due_in_days=-2)
    result = services.open_due_rechecks(today=TODAY)
    assert result == {"opened": 2, "overdue": 1}
    assert set(Recheck.objects.values_list("status", flat=True)) == {"due", "overdue"}
    overdue = Recheck.objects.get(status="overdue")
    assert [(h.history_type, h.status) for h in overdue.history.order_by("history_id")] == [("+", "due"),
                                                                                          ("~", "overdue")]
    tech_notes = Notification.objects.filter(recipient=users["technician"])
    assert tech_notes.filter(subject="2 stability re-checks are due").count() == 1
    assert Notification.objects.filter(recipient=users["qa"], subject="1 stability re-check is overdue").exists()
    before = Notification.objects.count()
    assert services.open_due_rechecks(today=TODAY) == {"opened": 0, "overdue": 0}
    assert Notification.objects.count() == before  # nothing new, nobody reminded twice


def test_the_task_runs_a_constant_number_of_queries(users, password):
    """Batched: the due plans with their vial (1), the insert (1), history (1) per batch — never one per lot."""
    for _ in range(2):
        released_lot(users, password, due_in_days=0)
    few = count_at(TODAY)
    for _ in range(6):
        released_lot(users, password, due_in_days=1)
    many = count_at(TODAY + datetime.timedelta(days=1))
    assert Recheck.objects.count() == 8
    assert many == few, (few, many)


def count_at(day):
    with CaptureQueriesContext(connection) as ctx:
        services.open_due_rechecks(today=day)
    return len(ctx.captured_queries)


# --- re-check results ------------------------------------------------------------------------------


def test_a_passing_recheck_thaws_the_vial_and_reschedules(users, password):
    lot = released_lot(users, password, due_in_days=0)
    services.open_due_rechecks(today=TODAY)
    recheck = Recheck.objects.get()
    vial = recheck.vial
    services.record_recheck_result(recheck, actor=users["technician"], viability_pct="86.5",
                                   tested_on=timezone.localdate())
    recheck.refresh_from_db()
    vial.refresh_from_db()
    lot.refresh_from_db()
    assert recheck.status == "done" and recheck.result.passed and recheck.result.value == Decimal("86.5")
    assert (vial.status, vial.box_id) == ("used", None)
    assert vial.moves.get().kind == "removed"
    assert lot.status == "released"
    assert lot.stability_plan.next_due_on == timezone.localdate() + datetime.timedelta(days=365)
    assert not Deviation.objects.exists()


def test_a_failing_recheck_puts_the_lot_on_hold_opens_a_deviation_and_tells_qa(users, password):
    lot, recheck = fail_a_recheck(users, password)
    assert lot.status == "on_hold" and not recheck.result.passed
    hold = LotDecision.objects.get(lot=lot, decision="hold")
    assert hold.cited_result == recheck.result and hold.decided_by is None
    dev = Deviation.objects.get(lot=lot)
    assert dev.status == "open" and "55" in dev.summary
    assert Notification.objects.filter(recipient=users["qa"], level="alarm",
                                       subject=f"Lot {lot.lot_number} is on hold after a failed re-check").exists()
    # a re-check result never counts towards release
    assert recheck.result.recheck == recheck


def test_recheck_result_bad_input_and_closed_recheck(users, password):
    from django.core.exceptions import ValidationError

    released_lot(users, password, due_in_days=0)
    services.open_due_rechecks(today=TODAY)
    recheck = Recheck.objects.get()
    for kwargs in ({"viability_pct": "120", "tested_on": timezone.localdate()},
                   {"viability_pct": "80", "tested_on": timezone.localdate() + datetime.timedelta(days=1)},
                   {"viability_pct": "80", "tested_on": timezone.localdate(), "vial": "NOPE"}):
        with pytest.raises(ValidationError):
            services.record_recheck_result(recheck, actor=users["technician"], **kwargs)
    assert not QCResult.objects.filter(recheck__isnull=False).exists()
    with pytest.raises(Forbidden):
        services.record_recheck_result(recheck, actor=users["researcher"], viability_pct="80",
                                       tested_on=timezone.localdate())
    services.record_recheck_result(recheck, actor=users["technician"], viability_pct="80",
                                   tested_on=timezone.localdate())
    with pytest.raises(Conflict) as closed:
        services.record_recheck_result(recheck, actor=users["technician"], viability_pct="80",
                                       tested_on=timezone.localdate())
    assert closed.value.code == "recheck_closed"


# --- plans ------------------------------------------------------------------------------------------------


def test_set_stability_plan(users, password):
    lot = released_lot(users, password)
    plan = services.set_stability_plan(lot, actor=users["qa"], interval_days=180, min_viability_pct="75")
    assert (plan.interval_days, plan.min_viability_pct) == (180, Decimal("75.00"))
    assert plan.next_due_on == timezone.localdate() + datetime.timedelta(days=180)
    quarantine = qc_lot()
    with pytest.raises(Conflict) as refused:
        services.set_stability_plan(quarantine, actor=users["qa"], interval_days=180, min_viability_pct="75")
    assert refused.value.code == "lot_not_released"
    with pytest.raises(Forbidden):
        services.set_stability_plan(lot, actor=users["technician"], interval_days=180, min_viability_pct="75")


def test_api_stability_plan_and_rechecks(users, password, api, django_assert_num_queries):
    lot = released_lot(users, password, due_in_days=0)
    url = f"/api/v1/lots/{lot.pk}/stability-plan/"
    assert api(users["technician"]).put(url, {"interval_days": 90, "min_viability_pct": 75}).status_code == 403
    bad = api(users["qa"]).put(url, {"interval_days": 0, "min_viability_pct": 175})
    assert bad.status_code == 400 and set(bad.json()) == {"interval_days", "min_viability_pct"}
    ok = api(users["qa"]).put(url, {"interval_days": 90, "min_viability_pct": "75.5"})
    assert ok.status_code == 200 and ok.json()["interval_days"] == 90 and ok.json()["min_viability_pct"] == 75.5
    assert api(users["technician"]).get(url).json()["interval_days"] == 90
    StabilityPlan.objects.filter(lot=lot).update(next_due_on=TODAY)
    for _ in range(2):
        other = released_lot(users, password, due_in_days=-3)
        assert other
    services.open_due_rechecks(today=TODAY)
    client = api(users["technician"])
    # Queries (the user's permissions are already cached): the page with lot, line, plan, vial, box, rack, unit,
    # result and completer joined (1; one page: no count) — whatever the number of re-checks.
    with django_assert_num_queries(1):
        body = client.get("/api/v1/qc/rechecks/", {"status": "due"}).json()
    assert body["count"] == 3
    first = body["results"][0]
    assert first["status"] == "due" and first["vial"] and first["position"]["row"] >= 1
    assert client.get("/api/v1/qc/rechecks/", {"status": "bogus"}).status_code == 400
    recheck_id = next(r["id"] for r in body["results"] if r["lot"] == lot.pk)
    result_url = f"/api/v1/qc/rechecks/{recheck_id}/result/"
    assert client.post(result_url, {"viability_pct": "abc", "tested_on": "2026-01-01"}).status_code == 400
    response = client.post(result_url, {"viability_pct": "60", "tested_on": timezone.localdate().isoformat()})
    assert response.status_code == 201, response.json()
    assert response.json()["status"] == "done" and response.json()["result"]["passed"] is False
    lot.refresh_from_db()
    assert lot.status == "on_hold"
    again = client.post(result_url, {"viability_pct": "90", "tested_on": timezone.localdate().isoformat()})
    assert (again.status_code, again.json()["code"]) == (409, "recheck_closed")
    assert api(users["researcher"]).get("/api/v1/qc/rechecks/").status_code == 403


def test_api_lift_hold(users, password, api):
    lot, recheck = fail_a_recheck(users, password)
    url = f"/api/v1/lots/{lot.pk}/lift-hold/"
    from tests.factories import UserFactory

    qa2 = UserFactory(username="qa-lift", role="qa")
    early = api(qa2).post(url, {"password": password, "cited_result": recheck.result_id})
    assert (early.status_code, early.json()["code"]) == (409, "retest_required")
    assert api(qa2).post(url, {"password": password, "cited_result": 999999}).status_code == 400
