"""Helpers shared by vial placement and box moves: the required reason and the ``VialMove`` record."""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.utils.translation import gettext as _

from lots.models import Vial
from storage.models import VialMove

# --- helpers ----------------------------------------------------------------------------------------


def _require_reason(reason: str) -> str:
    reason = (reason or "").strip()
    if not reason:
        raise ValidationError({"reason": [_("Give a reason: it is kept in the chain of custody.")]})
    return reason


def _move_record(vial: Vial, kind: str, *, src_box, src_row, src_col, src_rack, dst_box, dst_row, dst_col,
                 dst_rack, actor, reason: str, at) -> VialMove:
    return VialMove(
        vial=vial, kind=kind, from_box=src_box, from_row=src_row, from_col=src_col, from_rack=src_rack,
        to_box=dst_box, to_row=dst_row, to_col=dst_col, to_rack=dst_rack, moved_at=at, moved_by=actor,
        reason=reason[:300],
    )
