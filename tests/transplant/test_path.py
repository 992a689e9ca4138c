"""The transplant-centre path through the services and the API (issue 12): search, confirmatory typing,
reservation, two-stage release, shipment of the bag, receipt, thaw report and follow-up."""

from __future__ import annotations

import datetime

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils import timezone

from bank.models import Notification, Signature
from cordblood.models import CordBloodUnit
from lots.choices import VialKind, VialStatus
from tests import cordblood_factories as cb
from tests.transplant import helpers as tx
from transplant import services, tasks
from transplant.choices import FollowUpStatus, OrderStatus, ReservationStatus, TypingRequestStatus
from transplant.models import FollowUp, Order, Reservation

pytestmark = pytest.mark.django_db


@pytest.fixture
def clin(db):
    return tx.clinician()


@pytest.fixture
def pat(clin):
    return tx.patient(clin)


def bag_of(unit):
    return unit.lot.vials.get(kind=VialKind.BAG)


# --- confirmatory typing ---------------------------------------------------------------------------------


def test_a_typing_request_runs_a_clock_and_is_completed_by_the_banks_verification_typing(clin, pat, users):
    unit = cb.unit()
    ct = services.request_typing(unit, pat, actor=clin)
    assert ct.status == TypingRequestStatus.REQUESTED
    assert ct.due_on == timezone.localdate() + datetime.timedelta(days=services.CT_DUE_DAYS)
    assert not ct.is_overdue
    assert Notification.objects.filter(recipient=users["technician"], subject__contains=unit.din).exists()
    done = services.complete_typing(ct, alleles=tx.MATCHED_HLA, laboratory="HLA lab", actor=users["technician"])
    assert done.status == TypingRequestStatus.COMPLETED and done.typing.concordant
    assert done.typing.sample.kind == VialKind.SEGMENT  # a segment is typed, never the bag
    assert done.turnaround_days == 0
    assert Notification.objects.filter(recipient=clin, subject__contains="concordant").exists()


def test_an_overdue_typing_request_shows_as_overdue(clin, pat):
    ct = services.request_typing(cb.unit(), pat, actor=clin)
    ct.due_on = timezone.localdate() - datetime.timedelta(days=1)
    assert ct.is_overdue


def test_a_discordant_typing_makes_the_release_exceptional(clin, pat, users):
    unit = cb.unit()
    discordant = {**tx.MATCHED_HLA, "A": ["A*02:01", "A*11:01"]}
    tx.ct_done(unit, pat, clin, users["technician"], alleles=discordant)
    order = tx.ordered(unit, pat, clin)
    from transplant.queries import release_exceptions

    assert "ct_discordant" in release_exceptions(order)


def test_the_latest_typing_decides_as_it_does_for_qas_release(clin, pat, users):
    """A discordant typing followed by a concordant re-typing of another segment: the release is not exceptional
    for discordance (cordblood's rule: the latest verification typing decides), and QA's release agrees."""
    from transplant.queries import release_exceptions

    unit = cb.unit(containers=["bag", "segment", "segment", "reference_cells"])
    tx.ct_done(unit, pat, clin, users["technician"], alleles={**tx.MATCHED_HLA, "A": ["A*02:01", "A*11:01"]})
    tx.ct_done(unit, pat, clin, users["technician"])
    order = tx.ordered(unit, pat, clin)
    assert "ct_discordant" not in release_exceptions(order)


# --- reservations ------------------------------------------------------------------------------------------


def test_a_reservation_reserves_the_bag_and_lists_the_unit_reserved(clin, pat):
    unit = cb.unit()
    reservation = tx.reserved(unit, pat, clin)
    unit.refresh_from_db()
    assert unit.listing_status == "reserved"
    assert reservation.bag.kind == VialKind.BAG and bag_of(unit).status == VialStatus.RESERVED
    assert all(v.status == VialStatus.AVAILABLE for v in unit.lot.vials.exclude(kind=VialKind.BAG))


def test_an_expired_reservation_frees_the_unit(clin, pat):
    """Must show (issue 12): the beat task frees a reservation past its date; the unit is available again."""
    unit = cb.unit()
    reservation = tx.reserved(unit, pat, clin, days=1)
    Reservation.objects.filter(pk=reservation.pk).update(until=timezone.localdate() - datetime.timedelta(days=1))
    kept = tx.reserved(cb.unit(), pat, clin, days=10)

    assert tasks.expire_reservations() == 1

    reservation.refresh_from_db()
    unit.refresh_from_db()
    assert reservation.status == ReservationStatus.EXPIRED and reservation.ended_at is not None
    assert unit.listing_status == "available"
    assert bag_of(unit).status == VialStatus.AVAILABLE
    kept.refresh_from_db()
    assert kept.status == ReservationStatus.ACTIVE
    assert Notification.objects.filter(recipient=clin, subject__contains="expired").exists()
    assert tasks.expire_reservations() == 0  # idempotent


def test_an_ordered_reservation_does_not_expire(clin, pat):
    unit = cb.unit()
    order = tx.ordered(unit, pat, clin)
    Reservation.objects.filter(pk=order.reservation_id).update(until=timezone.localdate() - datetime.timedelta(days=3))
    assert services.expire_reservations() == 0
    unit.refresh_from_db()
    assert unit.listing_status == "reserved"


def test_the_expiry_task_is_on_the_beat_schedule(settings):
    tasks_scheduled = {entry["task"] for entry in settings.CELERY_BEAT_SCHEDULE.values()}
    assert {"transplant.tasks.expire_reservations", "transplant.tasks.remind_follow_ups"} <= tasks_scheduled


# --- two-stage release and shipment --------------------------------------------------------------------------


def _ship(api, user, order, **overrides):
    values = tx.ship_kwargs(order, **overrides)
    return api(user).post(f"/api/v1/transplant/orders/{order.pk}/ship/", {
        "bag_barcode": values["bag_barcode"], "dry_shipper": values["dry_shipper"], "documents": values["documents"],
        "courier": values["courier"],
        "temperature_log": SimpleUploadedFile("logger.csv", values["logger_content"], content_type="text/csv")},
        format="multipart")


def test_an_exceptional_release_needs_the_directors_signature_and_the_centres_acknowledgement(clin, pat, users,
                                                                                               api, password):
    """Must show (issue 12): no confirmatory typing → exceptional; shipping is refused with 409 until the director
    signed with a justification and the centre acknowledged."""
    unit = cb.unit()
    order = tx.ordered(unit, pat, clin)
    director, technician = users["medical_director"], users["technician"]

    response = _ship(api, technician, order)
    assert (response.status_code, response.json()["code"]) == (409, "release_not_signed")

    response = api(director).post(f"/api/v1/transplant/orders/{order.pk}/release/", {"password": password},
                                  format="json")
    assert (response.status_code, response.json()["code"]) == (409, "justification_required")
    assert response.json()["exceptions"] == ["ct_missing"]

    response = api(director).post(f"/api/v1/transplant/orders/{order.pk}/release/", {
        "password": password, "justification": "Patient relapsing; no time for CT, registry typing 2-field."},
        format="json")
    assert response.status_code == 200, response.json()
    assert response.json()["release_kind"] == "exceptional"

    response = _ship(api, technician, order)
    assert (response.status_code, response.json()["code"]) == (409, "acknowledgement_required")

    response = api(clin).post(f"/api/v1/transplant/orders/{order.pk}/acknowledge/", {"password": password},
                              format="json")
    assert response.status_code == 200, response.json()
    assert response.json()["acknowledged_by"] == clin.username

    response = _ship(api, technician, order)
    assert response.status_code == 200, response.json()
    assert response.json()["status"] == "shipped"
    meanings = set(Signature.objects.filter(object_id=order.pk, content_type__model="order")
                   .values_list("meaning", flat=True))
    assert meanings == {"approval", "acknowledgement"}


def test_a_standard_release_ships_without_acknowledgement_and_only_the_bag_leaves(clin, pat, users, password):
    unit = cb.unit()
    tx.ct_done(unit, pat, clin, users["technician"])
    order = tx.ordered(unit, pat, clin)
    released = services.release_order(order, actor=users["medical_director"], password=password)
    assert released.release_kind == "standard" and released.release_exceptions == []

    segment = unit.lot.vials.filter(kind=VialKind.SEGMENT).first()
    from bank.errors import Conflict

    with pytest.raises(Conflict) as refused:
        services.ship_order(order, actor=users["technician"], **tx.ship_kwargs(order, bag_barcode=segment.barcode))
    assert refused.value.code == "wrong_vial"

    shipped = services.ship_order(order, actor=users["technician"], **tx.ship_kwargs(order))
    assert shipped.status == OrderStatus.SHIPPED
    unit.refresh_from_db()
    assert unit.listing_status == "distributed"
    assert bag_of(unit).status == VialStatus.SHIPPED
    assert not unit.lot.vials.exclude(kind=VialKind.BAG).filter(status=VialStatus.SHIPPED).exists()
    log = shipped.temperature_logs.get()
    assert bytes(log.content) == tx.LOGGER and len(log.sha256) == 64


def test_an_unvalidated_dry_shipper_and_an_incomplete_document_pack_are_refused(clin, pat, users, password):
    unit = cb.unit()
    tx.ct_done(unit, pat, clin, users["technician"])
    order = services.release_order(tx.ordered(unit, pat, clin), actor=users["medical_director"], password=password)
    expired = tx.shipper("DS-OLD", days=-1)
    from django.core.exceptions import ValidationError

    from bank.errors import Conflict

    with pytest.raises(Conflict) as refused:
        services.ship_order(order, actor=users["technician"], **tx.ship_kwargs(order, dry_shipper=expired.code))
    assert refused.value.code == "shipper_not_validated"
    with pytest.raises(ValidationError) as invalid:
        services.ship_order(order, actor=users["technician"], **tx.ship_kwargs(order, documents=["unit_report"],
                                                                                logger_content=b""))
    assert {"documents", "temperature_log"} <= set(invalid.value.message_dict)


def test_receipt_thaw_report_and_follow_ups(clin, pat, users, password):
    unit = cb.unit()
    tx.ct_done(unit, pat, clin, users["technician"])
    order = services.release_order(tx.ordered(unit, pat, clin, days=0), actor=users["medical_director"],
                                   password=password)
    services.ship_order(order, actor=users["technician"], **tx.ship_kwargs(order))
    services.receive_order(order, actor=clin)
    today = timezone.localdate()
    report = services.record_thaw_report(order, actor=clin, thawed_at=timezone.now(), viable_cd34_pct="85.0",
                                         viable_cd45_pct="62.5", cfu_growth=True, identity_confirmed=True,
                                         infused_on=today, adverse_events="Grade 1 fever")
    assert report.meets_post_thaw_criteria
    order.refresh_from_db()
    assert order.status == OrderStatus.INFUSED
    due = dict(FollowUp.objects.filter(order=order).values_list("milestone", "due_on"))
    assert due == {"day100": today + datetime.timedelta(days=100), "year1": today + datetime.timedelta(days=365)}
    # An adverse event alerts QA and the medical director (a look-back starts from there).
    assert Notification.objects.filter(recipient=users["qa"], subject__contains="adverse event").exists()

    # Reminders: none yet (day 100 is far); then one when it comes due, not twice in a week.
    assert services.remind_follow_ups() == 0
    later = today + datetime.timedelta(days=95)
    assert tasks.remind_follow_ups(later.isoformat()) == 1
    assert tasks.remind_follow_ups(later.isoformat()) == 0
    assert Notification.objects.filter(recipient=clin, subject__contains="Day 100").exists()

    day100 = FollowUp.objects.get(order=order, milestone="day100")
    recorded = services.record_follow_up(day100, actor=clin, survival="alive", engrafted=True, engraftment_day=21,
                                         gvhd_grade="II")
    assert recorded.status == FollowUpStatus.RECORDED


def test_a_clinician_acts_for_their_own_centre_only(clin, pat, api):
    other = tx.clinician(tx.centre("TC-02"), username="clin-2")
    unit = cb.unit()
    assert api(other).get(f"/api/v1/transplant/patients/{pat.pk}/").status_code == 404
    assert api(other).get("/api/v1/transplant/patients/").json()["count"] == 0
    response = api(other).post("/api/v1/transplant/reservations/", {
        "unit": unit.pk, "patient": pat.pk, "until": (timezone.localdate() + datetime.timedelta(days=5)).isoformat()},
        format="json")
    assert (response.status_code, response.json()["code"]) == (403, "not_your_centre")


def test_a_clinician_never_sees_the_donor(clin, pat, api):
    unit = cb.unit()
    body = api(clin).get(f"/api/v1/transplant/patients/{pat.pk}/search/").content.decode()
    assert unit.din in body
    assert unit.donation.infant.code not in body and unit.donation.mother.code not in body


def test_cancelling_an_order_frees_the_unit(clin, pat):
    unit = cb.unit()
    order = tx.ordered(unit, pat, clin)
    services.cancel_order(order, actor=clin, reason="Patient's condition changed")
    unit.refresh_from_db()
    assert unit.listing_status == "available"
    assert Order.objects.get(pk=order.pk).status == OrderStatus.CANCELLED
    assert CordBloodUnit.objects.get(pk=unit.pk).lot.vials.get(kind=VialKind.BAG).status == VialStatus.AVAILABLE
