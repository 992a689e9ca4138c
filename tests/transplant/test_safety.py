"""Product safety after a unit leaves the bank: a recall's look-back of transplant orders (distribution's
``lot_recalled`` hook) and the adverse events a centre reports, which QA links to the recall it starts."""

from __future__ import annotations

import datetime

import pytest
from django.db.models import Q
from django.utils import timezone

from bank.errors import Conflict
from bank.models import Notification
from distribution import services as distribution_services
from distribution.models import Recall
from donors.services.consent import withdraw_consent
from lots.choices import VialKind, VialStatus
from tests import cordblood_factories as cb
from tests.factories import PASSWORD
from tests.transplant import helpers as tx
from transplant import services
from transplant.choices import OrderStatus, ReservationStatus
from transplant.models import AdverseEvent, LookBackNotice, Order, Reservation
from transplant.services import safety

pytestmark = pytest.mark.django_db


@pytest.fixture
def clin(db):
    return tx.clinician()


@pytest.fixture
def pat(clin):
    return tx.patient(clin)


def shipped(unit, pat, clin, users, *, receive=False):
    tx.ct_done(unit, pat, clin, users["technician"])
    order = services.release_order(tx.ordered(unit, pat, clin, days=0), actor=users["medical_director"],
                                   password=PASSWORD)
    order = services.ship_order(order, actor=users["technician"], **tx.ship_kwargs(order))
    if receive:
        order = services.receive_order(order, actor=clin)
    return order


def recall(unit, users, reason="Sterility failure of a reference vial"):
    return distribution_services.recall_lot(unit.lot, actor=users["qa"], password=PASSWORD, reason=reason)


# --- look-back --------------------------------------------------------------------------------------------


def test_a_lot_recall_lists_shipped_orders_and_cancels_unshipped_ones(clin, pat, users, api):
    """Must show: a recall of a unit's lot finds the transplant orders of its bag. Shipped → a look-back notice,
    the centre's clinicians and the medical directors alarmed; ordered (not shipped) → cancelled with the recall's
    reason and its unit freed, never listed again."""
    gone = cb.unit()
    order_gone = shipped(gone, pat, clin, users, receive=True)
    other_patient = tx.patient(clin, code="P-002")
    waiting_unit = cb.unit()
    order_waiting = tx.ordered(waiting_unit, other_patient, clin)
    colleague = tx.clinician(tx.centre(), username="clin-colleague")
    outsider = tx.clinician(tx.centre("TC-02"), username="clin-other")

    first = recall(gone, users)
    second = recall(waiting_unit, users, reason="Positive culture")

    notice = LookBackNotice.objects.get()
    assert (notice.recall, notice.order, notice.centre.code, notice.order_status) == (
        first, order_gone, "TC-01", OrderStatus.RECEIVED)
    assert notice.history.get().history_user == users["qa"]
    for user in (clin, colleague, users["medical_director"]):
        assert Notification.objects.filter(Q(subject__contains=gone.din) | Q(body__contains=gone.din),
                                           recipient=user, level=Notification.Level.ALARM).exists(), user
    assert not Notification.objects.filter(recipient=outsider, subject__contains=gone.din).exists()

    order_waiting.refresh_from_db()
    assert order_waiting.status == OrderStatus.CANCELLED
    assert order_waiting.reservation.status == ReservationStatus.CANCELLED
    assert order_waiting.history.first().history_change_reason.startswith(f"recall {second.pk}: Positive culture")
    waiting_unit.refresh_from_db()
    assert waiting_unit.listing_status == "not_listed"  # a recalled lot is never listed again
    assert waiting_unit.lot.vials.get(kind=VialKind.BAG).status != VialStatus.RESERVED
    assert Notification.objects.filter(recipient=clin, subject__contains=f"{order_waiting.number} cancelled").exists()

    # The order page and the API show the look-back; the recall counts the centre among its recipients.
    body = api(clin).get(f"/api/v1/transplant/orders/{order_gone.pk}/").json()
    assert [n["recall"] for n in body["look_back"]] == [first.pk]
    assert users["qa"].notifications.filter(subject__contains=f"Recall {first.pk}",
                                            subject__endswith="1 recipients notified").exists()


def test_a_reservation_of_a_recalled_unit_is_given_back(clin, pat, users):
    unit = cb.unit()
    reservation = tx.reserved(unit, pat, clin)
    recall(unit, users)
    reservation.refresh_from_db()
    unit.refresh_from_db()
    assert reservation.status == ReservationStatus.CANCELLED
    assert unit.listing_status == "not_listed"


def test_a_consent_withdrawal_of_the_infant_reaches_the_transplant_orders(clin, pat, users):
    """The same hook runs for a donor's consent withdrawal: the lot stays ``released`` but is flagged, so the
    freed unit is not listed again and no order ships (distribution's one rule of distributable lots)."""
    unit = cb.unit()
    order = tx.ordered(unit, pat, clin)
    infused_unit = cb.unit(cb.donation(unit.donation.mother, birth_order=2))  # a twin: the same mother
    gone = shipped(infused_unit, tx.patient(clin, code="P-TWIN"), clin, users)
    infant = unit.donation.infant
    consent = infant.consents.order_by("pk").first()
    withdraw_consent(consent, actor=users["coordinator"], reason=f"Parents of {infant.code} withdrew consent")
    order.refresh_from_db()
    unit.refresh_from_db()
    assert order.status == OrderStatus.CANCELLED
    assert unit.listing_status == "not_listed"
    assert unit.pk not in [u.pk for u in services.queries.search_units(pat)]
    # Only this infant's unit is affected; and a centre never reads the withdrawal's words about the donor.
    assert not LookBackNotice.objects.filter(order=gone).exists()
    assert infant.code not in "".join(Notification.objects.filter(recipient=clin).values_list("body", flat=True))


def test_a_consent_withdrawal_after_infusion_tells_the_centre_without_the_donor(clin, pat, users, api):
    unit = cb.unit()
    order = shipped(unit, pat, clin, users)
    infant = unit.donation.infant
    withdraw_consent(infant.consents.order_by("pk").first(), actor=users["coordinator"],
                     reason=f"Donor {infant.code}: parents withdrew consent")
    notice = LookBackNotice.objects.get(order=order)
    assert notice.recall.source == "consent_withdrawal"
    texts = [*Notification.objects.filter(recipient=clin).values_list("subject", "body")]
    assert texts and infant.code not in repr(texts)
    body = api(clin).get(f"/api/v1/transplant/orders/{order.pk}/").content.decode()
    assert '"look_back"' in body and infant.code not in body and unit.donation.mother.code not in body


def test_the_look_back_is_idempotent_per_recall(clin, pat, users):
    unit = cb.unit()
    shipped(unit, pat, clin, users)
    first = recall(unit, users)
    assert safety.look_back(first, [unit.lot_id], actor=users["qa"]) == []
    assert LookBackNotice.objects.count() == 1


def test_look_back_notices_show_on_the_order_page_and_the_worklist(client, clin, pat, users):
    unit = cb.unit()
    order = shipped(unit, pat, clin, users)
    the_recall = recall(unit, users)
    client.force_login(clin)
    html = client.get(f"/transplant/orders/{order.pk}/").content.decode()
    assert 'id="look-back"' in html and f"Recall {the_recall.pk}" in html
    assert 'id="look-backs"' in client.get("/transplant/").content.decode()
    other = tx.clinician(tx.centre("TC-03"), username="clin-3")
    client.force_login(other)
    assert 'id="look-backs"' not in client.get("/transplant/").content.decode()


def test_the_recall_panel_lists_the_look_back(rf, clin, pat, users):
    """The object panel registered for distribution's recall page (shown once that page renders panels)."""
    from bank.registry import object_panels_for

    unit = cb.unit()
    order = shipped(unit, pat, clin, users)
    the_recall = recall(unit, users)
    request = rf.get("/")
    request.user = users["qa"]
    panels = {p["key"]: p for p in object_panels_for(request, the_recall)}
    assert [n.order for n in panels["transplant-look-back"]["context"]["notices"]] == [order]
    from django.template.loader import render_to_string

    html = render_to_string(panels["transplant-look-back"]["template"],
                            {"panel": panels["transplant-look-back"]["context"], "perms": {}})
    assert order.number in html and unit.din in html
    assert unit.donation.infant.code not in html


# --- adverse events ---------------------------------------------------------------------------------------


def test_a_clinician_reports_an_adverse_event_after_shipment_and_qa_links_it_to_the_recall(clin, pat, users, api):
    unit = cb.unit()
    order = tx.ordered(unit, pat, clin)
    today = timezone.localdate().isoformat()
    event_body = {"kind": "positive_culture", "severity": "severe", "occurred_on": today,
                  "description": "Blood culture positive (S. epidermidis) 6 h after infusion."}

    response = api(clin).post(f"/api/v1/transplant/orders/{order.pk}/adverse-events/", event_body, format="json")
    assert (response.status_code, response.json()["code"]) == (409, "invalid_transition")  # not shipped yet

    # No confirmatory typing: an exceptional release, acknowledged by the centre.
    services.release_order(order, actor=users["medical_director"], password=PASSWORD, justification="Urgent")
    services.acknowledge_release(order, actor=clin, password=PASSWORD)
    services.ship_order(order, actor=users["technician"], **tx.ship_kwargs(order))

    response = api(clin).post(f"/api/v1/transplant/orders/{order.pk}/adverse-events/", event_body, format="json")
    assert response.status_code == 201, response.json()
    event = AdverseEvent.objects.get()
    assert (event.kind, event.severity, event.reported_by) == ("positive_culture", "severe", clin)
    for role in ("qa", "medical_director"):
        assert Notification.objects.filter(recipient=users[role], level=Notification.Level.ALARM,
                                           subject__contains="Adverse event").exists(), role
    body = api(clin).get(f"/api/v1/transplant/orders/{order.pk}/").json()
    assert [e["kind"] for e in body["adverse_events"]] == ["positive_culture"]
    assert api(clin).get("/api/v1/transplant/adverse-events/").json()["count"] == 1

    # Another centre's clinician neither reports on nor sees it.
    other = tx.clinician(tx.centre("TC-02"), username="clin-2")
    assert api(other).post(f"/api/v1/transplant/orders/{order.pk}/adverse-events/", event_body,
                           format="json").status_code == 404
    assert api(other).get("/api/v1/transplant/adverse-events/").json()["count"] == 0

    # QA starts the recall (distribution's) and links the event to it; the clinician cannot link.
    the_recall = recall(unit, users, reason="Positive culture reported by TC-01")
    unrelated = recall(cb.unit(), users, reason="Other unit")
    url = f"/api/v1/transplant/adverse-events/{event.pk}/recall/"
    assert api(clin).post(url, {"recall": the_recall.pk}, format="json").status_code == 403
    response = api(users["qa"]).post(url, {"recall": unrelated.pk}, format="json")
    assert response.status_code == 400 and "recall" in response.json()
    response = api(users["qa"]).post(url, {"recall": the_recall.pk}, format="json")
    assert response.status_code == 200, response.json()
    assert response.json()["recall"] == the_recall.pk
    event.refresh_from_db()
    assert event.recall_linked_by == users["qa"]
    assert api(users["qa"]).post(url, {"recall": 999999}, format="json").status_code == 400
    with pytest.raises(Conflict):
        safety.link_adverse_event(event, Recall.objects.create(source="lot_recall", lot=unit.lot, reason="again",
                                                               initiated_by=users["qa"]), actor=users["qa"])


def test_adverse_event_input_is_checked(clin, pat, users):
    unit = cb.unit()
    order = shipped(unit, pat, clin, users)
    from django.core.exceptions import ValidationError

    with pytest.raises(ValidationError) as invalid:
        safety.report_adverse_event(order, actor=clin, kind="nonsense", severity="", description=" ",
                                    occurred_on=timezone.localdate() + datetime.timedelta(days=2))
    assert set(invalid.value.message_dict) == {"kind", "severity", "description", "occurred_on"}
    with pytest.raises(ValidationError) as invalid:
        safety.report_adverse_event(order, actor=clin, kind="other", severity="mild", description="x",
                                    occurred_on=timezone.localdate() - datetime.timedelta(days=30))
    assert "occurred_on" in invalid.value.message_dict  # before the shipment


def test_report_and_link_from_the_order_page(client, clin, pat, users):
    unit = cb.unit()
    order = shipped(unit, pat, clin, users)
    client.force_login(clin)
    html = client.get(f"/transplant/orders/{order.pk}/").content.decode()
    assert 'id="adverse-event-form"' in html
    response = client.post(f"/transplant/orders/{order.pk}/adverse-events/", {
        "kind": "infusion_reaction", "severity": "moderate", "occurred_on": "not a date", "description": "Chills"})
    assert response.status_code == 400
    response = client.post(f"/transplant/orders/{order.pk}/adverse-events/", {
        "kind": "infusion_reaction", "severity": "moderate", "occurred_on": timezone.localdate().isoformat(),
        "description": "Chills and hypotension during infusion"})
    assert response.status_code == 302
    event = AdverseEvent.objects.get()
    the_recall = recall(unit, users)
    client.force_login(users["qa"])
    html = client.get(f"/transplant/orders/{order.pk}/").content.decode()
    assert f'id="link-recall-{event.pk}"' in html and 'id="adverse-event-form"' not in html
    response = client.post(f"/transplant/orders/{order.pk}/adverse-events/{event.pk}/recall/",
                           {"recall": the_recall.pk})
    assert response.status_code == 302
    event.refresh_from_db()
    assert event.recall == the_recall
    # The technician (no recall permission) cannot link.
    client.force_login(users["technician"])
    assert client.post(f"/transplant/orders/{order.pk}/adverse-events/{event.pk}/recall/",
                       {"recall": the_recall.pk}).status_code == 403


def test_an_order_not_yet_shipped_has_no_adverse_event_form(client, clin, pat):
    order = tx.ordered(cb.unit(), pat, clin)
    client.force_login(clin)
    assert 'id="adverse-event-form"' not in client.get(f"/transplant/orders/{order.pk}/").content.decode()
    assert Order.objects.filter(pk=order.pk, status="ordered").exists()
    assert Reservation.objects.filter(status="ordered").count() == 1
