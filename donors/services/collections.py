"""Collections: receiving tissue under an active consent, collection codes and the transport-time flag."""

from __future__ import annotations

import datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from bank import sequences
from bank.audit import acting
from bank.errors import Conflict
from donors.choices import Tissue
from donors.models import Collection, Donor, EthicsApproval
from donors.queries import active_consent

from ._input import _as_datetime, _Errors, _text

# A clock a few minutes ahead on the bench PC must not make "now" look like the future.
CLOCK_SKEW = datetime.timedelta(minutes=5)


# --- collections --------------------------------------------------------------------------------


def _next_collection_code(year: int) -> str:
    """COL-<year>-<nnnn> from one sequence per year (``bank.sequences``): two technicians never share a code."""
    number = sequences.take_one(f"collection:{year}",
                                taken=lambda n: Collection.objects.filter(code=f"COL-{year}-{n:04d}").exists())
    return f"COL-{year}-{number:04d}"


def transport_limit_hours() -> int:
    return int(settings.COLLECTION_TRANSPORT_LIMIT_HOURS)


def record_collection(*, actor, donor: Donor, tissue: str, collected_at: Any, received_at: Any,
                      transport_temperature_c: Any = None, ethics_approval: EthicsApproval | None = None,
                      notes: str = "", received_by=None) -> Collection:
    """Receive tissue collected from a donor under an active consent (409 no_active_consent).

    A cited ethics approval must be valid on the collection date; a transport time over
    ``COLLECTION_TRANSPORT_LIMIT_HOURS`` is flagged on the record (and QA is told).
    """
    errors = _Errors()
    tissue = _text(tissue)
    if tissue not in Tissue.values:
        errors.add("tissue", _("Choose the tissue: %(choices)s.") % {"choices": ", ".join(Tissue.values)})
    collected = _as_datetime(collected_at, "collected_at", errors)
    received = _as_datetime(received_at, "received_at", errors)
    now = timezone.now()
    if collected and collected > now + CLOCK_SKEW:
        errors.add("collected_at", _("The collection time cannot be in the future."))
    if received and received > now + CLOCK_SKEW:
        errors.add("received_at", _("The receipt time cannot be in the future."))
    if collected and received and received < collected:
        errors.add("received_at", _("The tissue cannot be received before it was collected."))
    temperature = None
    if transport_temperature_c not in (None, ""):
        try:
            temperature = Decimal(str(transport_temperature_c)).quantize(Decimal("0.1"))
        except (InvalidOperation, ValueError):
            errors.add("transport_temperature_c", _("Enter the temperature in °C, e.g. 4 or -80."))
        else:
            if not Decimal("-200") <= temperature <= Decimal("60"):
                errors.add("transport_temperature_c", _("Enter a transport temperature from -200 to 60 °C."))
    if collected and ethics_approval is not None:
        day = timezone.localtime(collected).date()
        if not ethics_approval.is_valid_on(day):
            errors.add("ethics_approval", _(
                "Ethics approval %(number)s is valid from %(start)s to %(end)s, not on the collection date "
                "%(day)s. Cite an approval valid on that day.") % {
                "number": ethics_approval.approval_number, "start": ethics_approval.valid_from.isoformat(),
                "end": ethics_approval.valid_to.isoformat(), "day": day.isoformat()})
    notes = _text(notes)
    errors.raise_if_any()
    with transaction.atomic(), acting(actor, _("collection received")):
        locked = Donor.objects.select_for_update().get(pk=donor.pk)
        consent = active_consent(locked)
        if consent is None:
            if locked.consent_withdrawn_at is not None:
                detail = _("Donor %(code)s withdrew consent: no collection can be received.")
            else:
                detail = _("Donor %(code)s has no active consent. Record the signed consent before the collection.")
            raise Conflict(detail % {"code": locked.code}, code="no_active_consent")
        if timezone.localtime(collected).date() < consent.signed_on:
            raise ValidationError({"collected_at": [_(
                "The tissue was collected before the consent was signed (%(date)s). Check the date, or record "
                "the consent that covered this collection.") % {"date": consent.signed_on.isoformat()}]})
        hours = (received - collected).total_seconds() / 3600
        flagged = hours > transport_limit_hours()
        collection = Collection.objects.create(
            code=_next_collection_code(timezone.localtime(collected).year), donor=locked, consent=consent,
            ethics_approval=ethics_approval, tissue=tissue, collected_at=collected, received_at=received,
            transport_temperature_c=temperature, received_by=received_by or actor, transport_delay_flagged=flagged,
            notes=notes,
        )
        if flagged:
            from django.urls import reverse

            from bank.notifications import notify_role
            from bank.roles import QA

            subject = _("Collection %(code)s arrived %(hours)s h after collection (limit %(limit)s h)") % {
                "code": collection.code, "hours": f"{hours:.1f}", "limit": transport_limit_hours()}
            notify_role(QA, subject=subject, link=reverse("donors:collection", args=[collection.pk]), level="warning")
    return collection
