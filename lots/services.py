"""Every write and state change of cell lines, lots and vials.

The status machines (``lots.choices.LOT_TRANSITIONS`` / ``VIAL_TRANSITIONS``) are enforced only
here: QC release, holds, recalls, allocation and shipping all move a lot or vial through these
functions, so no door can skip a guard.
"""

from __future__ import annotations

from collections.abc import Iterable

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _
from simple_history.utils import bulk_update_with_history

from bank.audit import acting, current_reason
from bank.errors import Conflict
from lots.choices import LOT_TRANSITIONS, VIAL_TRANSITIONS, LotStatus, VialStatus
from lots.models import Lot, Vial


def change_lot_status(lot: Lot, to: str, *, actor, reason: str = "") -> Lot:
    """Move ``lot`` to status ``to`` along the machine of API.md, or refuse (409 invalid_transition)."""
    with transaction.atomic(), acting(actor, reason):
        locked = Lot.objects.select_for_update().get(pk=lot.pk)
        if to not in LOT_TRANSITIONS.get(locked.status, set()):
            raise Conflict(
                _("Lot %(lot)s is %(from)s; it cannot become %(to)s.") % {
                    "lot": locked.lot_number, "from": LotStatus(locked.status).label, "to": LotStatus(to).label},
                code="invalid_transition", status=locked.status,
            )
        locked.status = to
        locked.status_changed_at = timezone.now()
        locked.save(update_fields=["status", "status_changed_at"])
    lot.status, lot.status_changed_at = locked.status, locked.status_changed_at
    return locked


def change_vial_status(vials: Iterable[Vial], to: str, *, actor, reason: str = "") -> list[Vial]:
    """Move every vial to ``to`` (all or none), locking them in pk order; 409 invalid_transition."""
    ids = sorted({v.pk for v in vials})
    if not ids:
        return []
    with transaction.atomic(), acting(actor, reason):
        locked = list(Vial.objects.select_for_update().filter(pk__in=ids).order_by("pk"))
        refused = [v.barcode for v in locked if to not in VIAL_TRANSITIONS.get(v.status, set())]
        if refused:
            raise Conflict(
                _("These vials cannot become %(to)s: %(vials)s.") % {
                    "to": VialStatus(to).label, "vials": ", ".join(refused[:20])},
                code="invalid_transition", vials=refused,
            )
        now = timezone.now()
        for vial in locked:
            vial.status, vial.status_changed_at = to, now
        bulk_update_with_history(
            locked, Vial, ["status", "status_changed_at"], batch_size=500,
            default_user=actor, default_change_reason=(reason or current_reason())[:100] or None,
        )
    return locked


def flag_lots_for_withdrawn_consent(donor, *, actor, reason: str = "") -> list[Lot]:
    """Flag every lot derived from ``donor`` (all their lines and subclones); returns them all."""
    with transaction.atomic(), acting(actor, reason):
        lots = list(Lot.objects.select_for_update().filter(cell_line__donor=donor).order_by("pk"))
        now = timezone.now()
        for lot in lots:
            if lot.consent_withdrawn_flagged_at is None:
                lot.consent_withdrawn_flagged_at = now
                lot.save(update_fields=["consent_withdrawn_flagged_at"])
    return lots
