"""Product safety after a unit leaves the bank: the look-back of a recall (distribution's ``lot_recalled`` hook) and
the adverse events a centre reports.

A recall is distribution's (QA starts it on the lot, or a donor's consent withdrawal does); distribution lists the
researchers it shipped vials to and announces ``lot_recalled`` inside the recall's transaction. The transplant app
answers for the patients only it knows: an order whose bag already left (shipped, received, infused) gets a
``LookBackNotice`` and its centre's clinicians and the medical directors are alarmed; an order not yet shipped is
cancelled with the recall's reason (``cancel_order``: the unit is freed, and not listed again) and a live
reservation is given back (``cancel_reservation``).
"""

from __future__ import annotations

import datetime
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _

from bank.audit import acting, bulk_create_audited
from bank.errors import Conflict
from bank.models import Notification
from bank.notifications import notify, notify_role
from bank.roles import MEDICAL_DIRECTOR, QA
from distribution.choices import RecallSource
from transplant import queries
from transplant.choices import (
    CANCELLABLE_ORDER_STATUSES,
    UNIT_LEFT_BANK_STATUSES,
    AdverseEventKind,
    AdverseEventSeverity,
    ReservationStatus,
)
from transplant.models import AdverseEvent, LookBackNotice, Order, Reservation
from transplant.services import (
    _centre_clinicians,
    _order_link,
    _require_own_patient,
    cancel_order,
    cancel_reservation,
)

# --- look-back ------------------------------------------------------------------------------------------------


def centre_facing_reason(recall) -> str:
    """What a centre is told of why: a QA lot recall's reason is about the product; a consent withdrawal's reason
    was written about the donor, and a centre never learns anything of the donor, so it gets the generic words."""
    if recall.source == RecallSource.CONSENT_WITHDRAWAL:
        return str(_("the unit may no longer be used (donor consent withdrawn)"))
    return recall.reason


def on_lot_recalled(*, recall, lot_ids, actor) -> dict:
    """Receiver of distribution's ``lot_recalled`` hook (inside the recall's transaction); see ``look_back``."""
    return {"look_back": look_back(recall, lot_ids, actor=actor)}


def look_back(recall, lot_ids, *, actor) -> list[LookBackNotice]:
    """List and tell the transplant centres whose patients received a bag of these lots, cancel the orders not yet
    shipped and give back live reservations of these units. Returns the notices created (a second call for the
    same recall creates none)."""
    lot_ids = sorted({int(pk) for pk in lot_ids or []})
    if not lot_ids:
        return []
    why = _("recall %(id)s: %(reason)s") % {"id": recall.pk, "reason": recall.reason}
    with transaction.atomic(), acting(actor, why[:100]):
        orders = list(Order.objects.select_for_update(of=("self",))
                      .select_related("unit", "patient__centre")
                      .filter(unit__lot_id__in=lot_ids).order_by("pk"))
        known = set(LookBackNotice.objects.filter(recall=recall, order__in=orders).values_list("order_id", flat=True))
        notices = [LookBackNotice(recall=recall, order=order, centre=order.patient.centre, order_status=order.status)
                   for order in orders if order.status in UNIT_LEFT_BANK_STATUSES and order.pk not in known]
        notices = bulk_create_audited(LookBackNotice, notices)
        for notice in notices:
            order = notice.order
            notify(_centre_clinicians(order.patient.centre_id), subject=_(
                "RECALL: unit %(din)s given to patient %(code)s (%(number)s) — look-back") % {
                "din": order.unit.din, "code": order.patient.code, "number": order.number},
                body=_("The bank recalled the unit's lot: %(reason)s. Review the patient and report any adverse "
                       "event to the bank.") % {"reason": centre_facing_reason(recall)}, link=_order_link(order),
                level=Notification.Level.ALARM)
        cancelled = []
        for order in orders:
            if order.status in CANCELLABLE_ORDER_STATUSES:
                cancel_order(order, actor=actor, reason=why)
                cancelled.append(order)
                notify(_centre_clinicians(order.patient.centre_id), subject=_(
                    "%(number)s cancelled: unit %(din)s was recalled") % {"number": order.number,
                                                                          "din": order.unit.din},
                    body=_("Search another unit for patient %(code)s.") % {"code": order.patient.code},
                    link=_order_link(order), level=Notification.Level.ALARM)
        reservations = list(Reservation.objects.select_related("unit", "patient__centre").filter(
            unit__lot_id__in=lot_ids, status=ReservationStatus.ACTIVE).order_by("pk"))
        for reservation in reservations:
            cancel_reservation(reservation, actor=actor, reason=why)
            notify(_centre_clinicians(reservation.patient.centre_id), subject=_(
                "Reservation of unit %(din)s for %(code)s ended: the unit was recalled") % {
                "din": reservation.unit.din, "code": reservation.patient.code},
                link=reverse("transplant:patient", args=[reservation.patient_id]), level=Notification.Level.WARNING)
        if notices or cancelled:
            lines = [_("%(number)s (unit %(din)s, %(centre)s): %(status)s") % {
                "number": n.order.number, "din": n.order.unit.din, "centre": n.centre.code,
                "status": n.order.get_status_display()} for n in notices]
            lines += [_("%(number)s (unit %(din)s, %(centre)s): cancelled before shipment") % {
                "number": o.number, "din": o.unit.din, "centre": o.patient.centre.code} for o in cancelled]
            notify_role(MEDICAL_DIRECTOR, subject=_("Recall %(id)s: look-back of %(n)s transplant orders") % {
                "id": recall.pk, "n": len(notices) + len(cancelled)}, body="\n".join(str(line) for line in lines),
                link=reverse("transplant:index"), level=Notification.Level.ALARM)
    return notices


# --- adverse events -------------------------------------------------------------------------------------------


def report_adverse_event(order: Order, *, actor, kind: str, severity: str, occurred_on: datetime.date | None,
                         description: str) -> AdverseEvent:
    """The centre's clinician reports an adverse event of an order whose unit has left the bank; QA and the medical
    director are alarmed (QA may start a recall and link the event to it). 400 fields; 403 ``no_centre``,
    ``not_your_centre``; 409 ``invalid_transition`` (the unit has not been shipped)."""
    _require_own_patient(actor, order.patient)
    errors: dict[str, list] = {}
    if kind not in AdverseEventKind.values:
        errors["kind"] = [_("Choose the kind of event.")]
    if severity not in AdverseEventSeverity.values:
        errors["severity"] = [_("Choose the severity.")]
    if not isinstance(occurred_on, datetime.date) or isinstance(occurred_on, datetime.datetime):
        errors["occurred_on"] = [_("Enter the date of the event.")]
    elif occurred_on > timezone.localdate():
        errors["occurred_on"] = [_("The date cannot be in the future.")]
    description = str(description or "").strip()
    if not description:
        errors["description"] = [_("Describe the event.")]
    if errors:
        raise ValidationError(errors)
    with transaction.atomic(), acting(actor, _("adverse event reported")):
        locked = Order.objects.select_for_update(of=("self",)).select_related("unit", "patient__centre").get(
            pk=order.pk)
        if locked.status not in UNIT_LEFT_BANK_STATUSES:
            raise Conflict(_("%(number)s has not been shipped: an adverse event is reported once the unit has left "
                             "the bank.") % {"number": locked.number}, code="invalid_transition",
                           status=locked.status)
        if locked.shipped_at and occurred_on < timezone.localdate(locked.shipped_at):
            raise ValidationError({"occurred_on": [_("The event cannot be before the shipment (%(date)s).") % {
                "date": timezone.localdate(locked.shipped_at).isoformat()}]})
        event = AdverseEvent.objects.create(order=locked, kind=kind, severity=severity, occurred_on=occurred_on,
                                            description=description, reported_by=actor)
        notify_role(QA, MEDICAL_DIRECTOR, subject=_(
            "Adverse event (%(severity)s) after unit %(din)s (%(number)s): %(kind)s") % {
            "severity": event.get_severity_display(), "din": locked.unit.din, "number": locked.number,
            "kind": event.get_kind_display()}, body=description, link=_order_link(locked),
            level=Notification.Level.ALARM)
    return event


def link_adverse_event(event: AdverseEvent, recall, *, actor) -> AdverseEvent:
    """QA links an adverse event to the recall it started for the unit (a recall of the unit's lot or of its
    donor). 400 another unit's recall; 409 ``invalid_transition`` (linked already to another recall)."""
    with transaction.atomic(), acting(actor, _("adverse event linked to recall %(id)s") % {"id": recall.pk}):
        locked = AdverseEvent.objects.select_for_update(of=("self",)).select_related(
            "order__unit__donation").get(pk=event.pk)
        if not queries.recalls_of_unit(locked.order.unit).filter(pk=recall.pk).exists():
            raise ValidationError({"recall": [_("Recall %(id)s does not concern unit %(din)s.") % {
                "id": recall.pk, "din": locked.order.unit.din}]})
        if locked.recall_id == recall.pk:
            return locked
        if locked.recall_id is not None:
            raise Conflict(_("This adverse event is linked to recall %(id)s already.") % {"id": locked.recall_id},
                           code="invalid_transition", recall=locked.recall_id)
        locked.recall, locked.recall_linked_by, locked.recall_linked_at = recall, actor, timezone.now()
        locked.save(update_fields=["recall", "recall_linked_by", "recall_linked_at"])
    return locked


__all__: list[Any] = ["on_lot_recalled", "look_back", "report_adverse_event", "link_adverse_event"]
