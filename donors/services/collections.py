"""Collections: receiving tissue under an active consent and an ethics approval in force, collection codes, and the
tissue's transport limits (time and temperature) checked at receipt."""

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


def transport_limits(tissue: str | None = None) -> dict[str, Any]:
    """The tissue's transport limits: ``min_c``/``max_c`` (°C, None when the tissue has none) and ``max_hours``
    from collection (the tissue's own, else ``COLLECTION_TRANSPORT_LIMIT_HOURS``). From
    ``COLLECTION_TRANSPORT_LIMITS``: the one source of what a transport may be."""
    own = dict(getattr(settings, "COLLECTION_TRANSPORT_LIMITS", {}).get(tissue or "", {}))
    return {"min_c": own.get("min_c"), "max_c": own.get("max_c"),
            "max_hours": own.get("max_hours", int(settings.COLLECTION_TRANSPORT_LIMIT_HOURS))}


def transport_limit_hours(tissue: str | None = None) -> int | float:
    return transport_limits(tissue)["max_hours"]


def transport_problems(tissue: str, collected_at: datetime.datetime, at: datetime.datetime,
                       temperature_c: Decimal | None) -> list[str]:
    """What falls outside the tissue's limits at ``at``: the time since collection, the temperature (if taken)."""
    limits = transport_limits(tissue)
    problems = []
    hours = (at - collected_at).total_seconds() / 3600
    if hours > limits["max_hours"]:
        problems.append(_("%(hours)s h after collection (limit %(limit)s h)") % {
            "hours": f"{hours:.1f}", "limit": limits["max_hours"]})
    if temperature_c is not None:
        low, high = limits["min_c"], limits["max_c"]
        if (low is not None and temperature_c < Decimal(str(low))) or (
                high is not None and temperature_c > Decimal(str(high))):
            problems.append(_("%(t)s °C (limits %(low)s to %(high)s °C)") % {
                "t": temperature_c, "low": "—" if low is None else low, "high": "—" if high is None else high})
    return problems


def open_transport_deviation(collection: Collection, *, actor, summary: str) -> dict:
    """Tell QA that a collection's transport fell outside its limits: qc opens a deviation on the collection
    (hook ``collection_deviation``). Inside the caller's transaction."""
    from bank.registry import announce

    return announce("collection_deviation", collection=collection, summary=summary, actor=actor)


def ethics_required() -> bool:
    return bool(getattr(settings, "REQUIRE_ETHICS_APPROVAL", True))


def approval_for_collection(day: datetime.date, named: EthicsApproval | None) -> EthicsApproval | None:
    """The approval a collection of ``day`` cites: the one named (it must be valid on that day: 400), else the
    single approval in force that day. None when none is (or several are) and ``REQUIRE_ETHICS_APPROVAL`` is off;
    with it on, 409 ``no_ethics_approval`` when none is in force and 400 when several are and none is named.

    An approval the committee has withdrawn is never cited unasked, even for a day before its withdrawal: a
    collection recorded late under it must name it."""
    if named is not None:
        if not named.is_valid_on(day):
            if named.withdrawn_on is not None and named.withdrawn_on <= day:
                detail = _("Ethics approval %(number)s was withdrawn on %(withdrawn)s: it does not cover the "
                           "collection date %(day)s. Cite an approval in force on that day.")
            else:
                detail = _("Ethics approval %(number)s is valid from %(start)s to %(end)s, not on the collection "
                           "date %(day)s. Cite an approval valid on that day.")
            raise ValidationError({"ethics_approval": [detail % {
                "number": named.approval_number, "start": named.valid_from.isoformat(),
                "end": named.valid_to.isoformat(), "day": day.isoformat(),
                "withdrawn": named.withdrawn_on.isoformat() if named.withdrawn_on else ""}]})
        return named
    in_force = list(EthicsApproval.valid_on(day).filter(withdrawn_on__isnull=True).order_by("approval_number")[:11])
    if len(in_force) == 1:
        return in_force[0]
    if not ethics_required():
        return None
    if not in_force:
        raise Conflict(_("No ethics approval is in force on the collection date %(day)s. Record the ethics "
                         "committee's approval that covers this collection (Donors › Ethics approvals), then "
                         "receive the collection again.") % {"day": day.isoformat()}, code="no_ethics_approval")
    raise ValidationError({"ethics_approval": [_(
        "Several ethics approvals are in force on %(day)s (%(numbers)s): choose the one this collection falls "
        "under.") % {"day": day.isoformat(), "numbers": ", ".join(a.approval_number for a in in_force[:10])}]})


def record_collection(*, actor, donor: Donor, tissue: str, collected_at: Any, received_at: Any,
                      transport_temperature_c: Any = None, ethics_approval: EthicsApproval | None = None,
                      notes: str = "", received_by=None) -> Collection:
    """Receive tissue collected from a donor under an active consent (409 no_active_consent) and an ethics approval
    in force on the collection date (``approval_for_collection``: the one named, else the single one in force; 409
    no_ethics_approval while ``REQUIRE_ETHICS_APPROVAL`` is on). A transport over the tissue's hours is flagged on
    the record; outside the tissue's limits (time or temperature) qc opens a deviation for QA.
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
        try:
            approval_for_collection(timezone.localtime(collected).date(), ethics_approval)
        except ValidationError as exc:
            for message in exc.message_dict["ethics_approval"]:
                errors.add("ethics_approval", message)
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
        approval = approval_for_collection(timezone.localtime(collected).date(), ethics_approval)
        hours = (received - collected).total_seconds() / 3600
        flagged = hours > transport_limit_hours(tissue)
        problems = transport_problems(tissue, collected, received, temperature)
        collection = Collection.objects.create(
            code=_next_collection_code(timezone.localtime(collected).year), donor=locked, consent=consent,
            ethics_approval=approval, tissue=tissue, collected_at=collected, received_at=received,
            transport_temperature_c=temperature, received_by=received_by or actor, transport_delay_flagged=flagged,
            transport_out_of_limits=bool(problems), notes=notes,
        )
        from bank.registry import announce  # issue 16: the quality gate (training_required) on a collection receipt
        announce("activity_gate", activity="collection_receipt", actor=received_by or actor, on=received,
                 subject=collection)
        if problems:
            # QA hears of it through the deviation qc opens (and its notification).
            open_transport_deviation(collection, actor=actor, summary=_(
                "Collection %(code)s (%(tissue)s) received outside its transport limits: %(problems)s") % {
                "code": collection.code, "tissue": collection.get_tissue_display(), "problems": "; ".join(problems)})
    return collection
