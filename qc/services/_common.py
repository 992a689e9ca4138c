"""Helpers shared by the qc services: permission and QA-signer checks, the signature's meaning,
today, test dates, decimals, the lot lock and links."""

from __future__ import annotations

import datetime
from decimal import Decimal, InvalidOperation

from django.core.exceptions import ValidationError
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _

from bank.errors import Forbidden
from bank.roles import QA, has_role
from lots.models import Lot

# --- helpers -------------------------------------------------------------------------------------


def _require_perm(actor, perm: str) -> None:
    if actor is None or not actor.has_perm(perm):
        raise Forbidden(_("Your role does not allow this action."), code="permission_denied")


def _require_qa_signer(actor, perm: str = "qc.release_lot") -> None:
    """QA decisions are signed by a QA officer only (an admin account must also hold the qa role)."""
    if actor is None or not actor.has_perm(perm) or not has_role(actor, QA):
        raise Forbidden(_("Only a QA officer may sign this decision."), code="permission_denied")


def _require_meaning(meaning: str) -> str:
    meaning = (meaning or "").strip()
    if not meaning:
        raise ValidationError({"meaning": [_("Give the meaning of your signature.")]})
    return meaning[:200]


def _today() -> datetime.date:
    return timezone.localdate()


def _check_tested_on(tested_on, errors: dict) -> None:
    if tested_on in (None, ""):
        errors["tested_on"] = [_("Enter the date the test was done.")]
    elif not isinstance(tested_on, datetime.date):
        errors["tested_on"] = [_("Enter a date as YYYY-MM-DD.")]
    elif tested_on > _today():
        errors["tested_on"] = [_("The test date %(date)s is in the future: enter the day the test was done.")
                               % {"date": tested_on.isoformat()}]


def _decimal(value, field: str, errors: dict) -> Decimal | None:
    if value in (None, ""):
        return None
    try:
        number = value if isinstance(value, Decimal) else Decimal(str(value).strip())
    except (InvalidOperation, ValueError):
        errors[field] = [_("Enter a number.")]
        return None
    if not number.is_finite():
        errors[field] = [_("Enter a number.")]
        return None
    return number


def _lock_lot(lot: Lot) -> Lot:
    return Lot.objects.select_for_update(of=("self",)).select_related("cell_line").get(pk=lot.pk)


def _link(name: str, *args) -> str:
    return reverse(name, args=args)
