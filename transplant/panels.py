"""The transplant app's dashboard panel: what waits for the person looking (a clinician's centre, the medical
director's releases, the bank's typing and shipping)."""

from __future__ import annotations

from transplant import queries
from transplant.choices import OrderStatus, ReleaseKind, ReservationStatus, TypingRequestStatus


def work_panel(request) -> dict | None:
    user = request.user
    orders = queries.orders_visible_to(user)
    panel = {
        "clinician": queries.is_clinician(user),
        "to_release": orders.filter(status=OrderStatus.ORDERED).count()
        if user.has_perm("transplant.release_order") else None,
        "to_ship": orders.filter(status=OrderStatus.RELEASED).exclude(
            release_kind=ReleaseKind.EXCEPTIONAL, acknowledged_at__isnull=True).count()
        if user.has_perm("transplant.ship_order") else None,
        "to_type": queries.typing_requests_visible_to(user).filter(status=TypingRequestStatus.REQUESTED).count(),
        "reserved": queries.reservations_visible_to(user).filter(status=ReservationStatus.ACTIVE).count(),
        "to_acknowledge": orders.filter(status=OrderStatus.RELEASED, release_kind=ReleaseKind.EXCEPTIONAL,
                                        acknowledged_at__isnull=True).count(),
        "to_receive": orders.filter(status=OrderStatus.SHIPPED).count(),
        "follow_ups": queries.open_follow_ups(user).count(),
    }
    return panel


def recall_look_back_panel(request, recall) -> dict | None:
    """The transplant orders a recall reached (look-back notices) and the adverse events linked to it."""
    notices = list(queries.look_backs_visible_to(request.user).filter(recall=recall).order_by("pk"))
    events = list(queries.adverse_events_visible_to(request.user).filter(recall=recall).order_by("pk"))
    if not notices and not events:
        return None
    return {"notices": notices, "events": events}
