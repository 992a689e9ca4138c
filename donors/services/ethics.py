"""Ethics committee approvals that collections cite: recording, correcting and withdrawing them."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from bank.audit import acting, save_changed
from bank.errors import Conflict
from donors.models import EthicsApproval

from ._input import _as_date, _Errors, _require_reason, _text

# --- ethics approvals -------------------------------------------------------------------------


def _clean_ethics(data: Mapping[str, Any], errors: _Errors, *, partial: bool = False,
                  current: EthicsApproval | None = None) -> dict[str, Any]:
    cleaned: dict[str, Any] = {}
    for name, limit, label in (("committee", 200, _("committee")), ("approval_number", 60, _("approval number"))):
        if name in data or not partial:
            value = _text(data.get(name))
            if not value:
                errors.add(name, _("Enter the %(field)s.") % {"field": label})
            elif len(value) > limit:
                errors.add(name, _("Keep it under %(n)s characters.") % {"n": limit})
            cleaned[name] = value
    if "scope" in data or not partial:
        cleaned["scope"] = _text(data.get("scope"))
    for name in ("valid_from", "valid_to"):
        if name in data or not partial:
            cleaned[name] = _as_date(data.get(name), name, errors)
    start = cleaned.get("valid_from", current.valid_from if current else None)
    end = cleaned.get("valid_to", current.valid_to if current else None)
    if start and end and end < start:
        errors.add("valid_to", _("The approval must end on or after the day it starts."))
    number = cleaned.get("approval_number")
    if number and "approval_number" not in errors.by_field:
        clash = EthicsApproval.objects.filter(approval_number__iexact=number)
        if current is not None:
            clash = clash.exclude(pk=current.pk)
        if clash.exists():
            errors.add("approval_number", _("An approval with this number is already recorded."))
    return cleaned


def create_ethics_approval(*, actor, committee: str, approval_number: str, valid_from: Any, valid_to: Any,
                           scope: str = "") -> EthicsApproval:
    """Record an ethics committee approval that collections may cite."""
    errors = _Errors()
    data = {"committee": committee, "approval_number": approval_number, "scope": scope,
            "valid_from": valid_from, "valid_to": valid_to}
    with transaction.atomic(), acting(actor, _("ethics approval recorded")):
        cleaned = _clean_ethics(data, errors)
        errors.raise_if_any()
        return EthicsApproval.objects.create(**cleaned)


def update_ethics_approval(approval: EthicsApproval, *, actor, reason: str, **changes: Any) -> EthicsApproval:
    """Correct or extend an approval. It may not stop covering a collection that already cites it."""
    errors = _Errors()
    reason = _require_reason(reason, errors)
    with transaction.atomic(), acting(actor, reason):
        locked = EthicsApproval.objects.select_for_update().get(pk=approval.pk)
        cleaned = _clean_ethics(changes, errors, partial=True, current=locked)
        start = cleaned.get("valid_from") or locked.valid_from
        end = cleaned.get("valid_to") or locked.valid_to
        if not errors:
            outside = [c.code for c in locked.collections.order_by("collected_at")
                       if not start <= timezone.localtime(c.collected_at).date() <= end]
            if outside:
                errors.add("valid_to", _("Collections %(codes)s cite this approval and would fall outside it.") % {
                    "codes": ", ".join(outside[:10])})
        errors.raise_if_any()
        save_changed(locked, cleaned)
    return locked


def withdraw_ethics_approval(approval: EthicsApproval, *, actor, reason: str,
                             withdrawn_on: Any = None) -> EthicsApproval:
    """Record that the committee withdrew its approval, effective ``withdrawn_on`` (default today; not in the
    future). From that day it covers no new collection; the lines already derived under it are flagged for QA on
    the dashboard. 409 ``already_withdrawn`` the second time."""
    errors = _Errors()
    reason = _require_reason(reason, errors)
    day = _as_date(withdrawn_on, "withdrawn_on", errors, required=False) or timezone.localdate()
    if day > timezone.localdate():
        errors.add("withdrawn_on", _("Record a withdrawal once it is in effect (today at the latest)."))
    with transaction.atomic(), acting(actor, reason or _("ethics approval withdrawn")):
        locked = EthicsApproval.objects.select_for_update().get(pk=approval.pk)
        if locked.withdrawn_on is not None:
            raise Conflict(_("Ethics approval %(number)s was already withdrawn on %(date)s.") % {
                "number": locked.approval_number, "date": locked.withdrawn_on.isoformat()}, code="already_withdrawn")
        if not errors and day < locked.valid_from:
            errors.add("withdrawn_on", _("The approval only starts on %(start)s.") % {
                "start": locked.valid_from.isoformat()})
        errors.raise_if_any()
        locked.withdrawn_on, locked.withdrawn_by, locked.withdrawal_reason = day, actor, reason
        locked.save(update_fields=["withdrawn_on", "withdrawn_by", "withdrawal_reason"])
    return locked
