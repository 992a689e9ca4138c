"""Search listing of public units (WMDA/EMDIS status): available, temporarily unavailable with a reason and an
end date, reserved, distributed, destroyed. The transplant app calls ``set_listing`` for reserved,
distributed and available (a reservation made, shipped, expired or cancelled); QA's pages and API call
``set_listing_by_qa``, which leaves reserved and distributed to the transplant app. Distributed and destroyed
are final."""

from __future__ import annotations

import datetime
from typing import NoReturn

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from bank.audit import acting, save_changed
from bank.errors import Conflict
from cordblood.choices import ListingStatus, Ownership
from cordblood.models import CordBloodUnit
from lots.models import Lot
from lots.queries import distributable_lot_q

# What QA sets by hand; reserved and distributed follow a reservation and a shipment (the transplant app).
QA_STATUSES = (ListingStatus.NOT_LISTED, ListingStatus.AVAILABLE, ListingStatus.TEMPORARILY_UNAVAILABLE,
               ListingStatus.DESTROYED)
# A shipped bag is gone and a destroyed unit does not come back: nothing leaves these.
FINAL_STATUSES = (ListingStatus.DISTRIBUTED, ListingStatus.DESTROYED)


def _refuse_transition(unit: CordBloodUnit, status: str) -> NoReturn:
    raise Conflict(_("Unit %(din)s is %(from)s; its search status cannot become %(to)s here.") % {
        "din": unit.din, "from": unit.get_listing_status_display(), "to": ListingStatus(status).label},
        code="invalid_transition", listing_status=unit.listing_status)


def set_listing(unit: CordBloodUnit, status: str, *, reason: str = "", until: datetime.date | None = None,
                actor) -> CordBloodUnit:
    """Set a public unit's search status (409 ``family_unit_not_listed`` for a family unit,
    ``listing_reason_required`` for a temporary unavailability without reason or end date,
    ``unit_not_released`` to list a unit whose lot is not released)."""
    if status not in ListingStatus.values:
        raise ValidationError({"status": [_("Unknown search status %(status)s.") % {"status": status}]})
    reason = (reason or "").strip()
    with transaction.atomic(), acting(actor, reason or _("search status: %(status)s") % {"status": status}):
        unit = CordBloodUnit.objects.select_for_update(of=("self",)).select_related("lot").get(pk=unit.pk)
        if unit.listing_status in FINAL_STATUSES and status != unit.listing_status:
            _refuse_transition(unit, status)
        if unit.ownership != Ownership.PUBLIC and status != ListingStatus.NOT_LISTED:
            raise Conflict(_("A family unit is never listed for public search."), code="family_unit_not_listed")
        if status == ListingStatus.TEMPORARILY_UNAVAILABLE:
            if not reason or until is None:
                raise Conflict(_("Give the reason and the end date of a temporary unavailability."),
                               code="listing_reason_required")
            if until < timezone.localdate():
                raise Conflict(_("The end date of a temporary unavailability cannot be in the past."),
                               code="listing_reason_required")
        if status in (ListingStatus.AVAILABLE, ListingStatus.TEMPORARILY_UNAVAILABLE, ListingStatus.RESERVED):
            if unit.lot is None or not Lot.objects.filter(distributable_lot_q(), pk=unit.lot_id).exists():
                raise Conflict(_("Only a released unit can be listed for search."), code="unit_not_released")
        values = {
            "listing_status": status,
            "listing_reason": reason[:200] if status != ListingStatus.AVAILABLE else "",
            "listing_until": until if status == ListingStatus.TEMPORARILY_UNAVAILABLE else None,
        }
        if any(getattr(unit, name) != value for name, value in values.items()):
            save_changed(unit, {**values, "listing_changed_at": timezone.now()})
    return unit


def set_listing_by_qa(unit: CordBloodUnit, status: str, *, reason: str = "", until: datetime.date | None = None,
                      actor) -> CordBloodUnit:
    """QA sets a unit's search status by hand: not listed, available, temporarily unavailable or destroyed
    (``set_listing``'s rules apply). Reserved and distributed belong to the transplant app, which holds the bag
    for them, and a reserved unit stays so until its reservation ends there: 409 ``invalid_transition``."""
    if status not in ListingStatus.values:
        raise ValidationError({"status": [_("Unknown search status %(status)s.") % {"status": status}]})
    with transaction.atomic():
        locked = CordBloodUnit.objects.select_for_update(of=("self",)).get(pk=unit.pk)
        if status not in QA_STATUSES or locked.listing_status == ListingStatus.RESERVED:
            _refuse_transition(locked, status)
        return set_listing(locked, status, reason=reason, until=until, actor=actor)


def end_temporary_unavailability(*, today: datetime.date | None = None, actor=None) -> int:
    """Return every temporarily unavailable unit whose end date has passed to ``available`` (a unit whose lot
    is no longer released stays as it is for QA). Returns how many came back."""
    today = today or timezone.localdate()
    back = 0
    due = CordBloodUnit.objects.filter(listing_status=ListingStatus.TEMPORARILY_UNAVAILABLE,
                                       listing_until__lt=today).order_by("pk").values_list("pk", flat=True)
    for pk in due.iterator():
        unit = CordBloodUnit(pk=pk)
        try:
            with transaction.atomic():
                current = CordBloodUnit.objects.select_for_update().get(pk=pk)
                if (current.listing_status != ListingStatus.TEMPORARILY_UNAVAILABLE
                        or current.listing_until is None or current.listing_until >= today):
                    continue  # someone changed it meanwhile
                set_listing(unit, ListingStatus.AVAILABLE, actor=actor,
                            reason=_("end of temporary unavailability"))
        except Conflict:
            continue
        back += 1
    return back


def on_lot_recalled(*, recall, lot_ids, actor) -> dict:
    """Receiver of distribution's ``lot_recalled`` hook (inside the recall's transaction): a listed unit of a
    recalled lot (or of a donor who withdrew consent) leaves public search at once. Reserved units are the
    transplant app's to free (its look-back cancels the reservation and does not list the unit again)."""
    reason = (_("recall %(id)s: %(reason)s") % {"id": recall.pk, "reason": recall.reason})[:200]
    delisted = []
    with acting(actor, reason[:100]):
        units = CordBloodUnit.objects.select_for_update(of=("self",)).filter(
            lot_id__in=lot_ids, listing_status__in=(ListingStatus.AVAILABLE, ListingStatus.TEMPORARILY_UNAVAILABLE)
        ).order_by("pk")
        for unit in units:
            save_changed(unit, {"listing_status": ListingStatus.NOT_LISTED, "listing_reason": reason,
                                "listing_until": None, "listing_changed_at": timezone.now()})
            delisted.append(unit.pk)
    return {"delisted_units": delisted}
