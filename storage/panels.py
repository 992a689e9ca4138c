"""What the storage app adds to shared pages: the scan field, the dashboard, the lot and vial pages."""

from __future__ import annotations

from django.urls import reverse

from lots.models import Lot, Vial
from storage import queries
from storage.models import AlarmVial


def resolve_box_scan(code: str, user) -> str | None:
    """The header scan field opens a box by its barcode (vials are the lots app's to resolve)."""
    if not user.has_perm("storage.view_box"):
        return None
    box = queries.box_by_barcode(code)
    return reverse("storage:box", args=[box.pk]) if box else None


def dashboard_context(request) -> dict:
    """Active alarms and units past the capacity warning level."""
    active = list(queries.active_alarms()[:6])
    # The fullest few: a national bank can have hundreds of full units; the overview lists them all.
    warnings, more = queries.capacity_warnings(DASHBOARD_WARNINGS)
    return {
        "alarms": active,
        "alarm_count": len(active) if len(active) < 6 else queries.active_alarms().count(),
        "warnings": warnings, "more_warnings": more,
    }


DASHBOARD_WARNINGS = 5


def lot_panel_context(request, lot: Lot) -> dict:
    """Where the lot's vials are, what waits for a place, and excursions its vials went through."""
    storage = queries.lot_storage(lot)
    excursions = (
        AlarmVial.objects.filter(vial__lot=lot).values("alarm_id", "alarm__unit__name", "alarm__raised_at",
                                                       "alarm__status", "alarm__kind")
        .distinct().order_by("-alarm__raised_at")[:10]
    )
    return {"lot": lot, "storage": storage, "excursions": list(excursions),
            "may_place": request.user.has_perm("storage.add_vialmove")}


def vial_panel_context(request, vial: Vial) -> dict:
    """The vial's position and its chain of custody."""
    vial = Vial.objects.select_related("box__rack__unit").get(pk=vial.pk)
    return {"vial": vial, "position": queries.position_of(vial), "moves": list(queries.custody(vial)),
            "may_move": request.user.has_perm("storage.add_vialmove")}
