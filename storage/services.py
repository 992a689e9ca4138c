"""Every write of the storage app: layout, placement, moves, readings and alarms.

``remove_from_storage`` is shared: shipping (distribution) and thawing for QC (qc) take vials out of
their positions through it, so every exit lands in the chain of custody.
"""

from __future__ import annotations

from collections.abc import Iterable

from django.db import transaction
from django.utils import timezone
from simple_history.utils import bulk_update_with_history

from bank.audit import acting, bulk_create_audited, current_reason
from lots.models import Vial
from storage.choices import MoveKind
from storage.models import VialMove


def remove_from_storage(vials: Iterable[Vial], *, actor, reason: str) -> list[Vial]:
    """Take vials out of their positions (shipped, thawed, destroyed), recording each exit."""
    ids = sorted({v.pk for v in vials})
    with transaction.atomic(), acting(actor, reason):
        locked = list(
            Vial.objects.select_for_update().filter(pk__in=ids, box__isnull=False).select_related("box__rack")
            .order_by("pk")
        )
        now = timezone.now()
        moves = [
            VialMove(
                vial=v, kind=MoveKind.REMOVED, from_box=v.box, from_row=v.row, from_col=v.col,
                from_rack=v.box.rack, moved_at=now, moved_by=actor, reason=reason[:300],
            )
            for v in locked
        ]
        for vial in locked:
            vial.box, vial.row, vial.col = None, None, None
        bulk_update_with_history(
            locked, Vial, ["box", "row", "col"], batch_size=500,
            default_user=actor, default_change_reason=(reason or current_reason())[:100] or None,
        )
        bulk_create_audited(VialMove, moves)
    return locked
