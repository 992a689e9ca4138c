"""What the distribution app adds to shared pages: dashboard cards and the lot page's section."""

from __future__ import annotations

from bank.roles import RESEARCHER, has_role
from distribution import queries
from distribution.choices import RequestStatus
from distribution.models import DistributionRequest
from lots.choices import LotStatus, lot_can_become


def review_panel(request) -> dict:
    """QA: requests waiting for a decision, oldest first (one query; the count is kept: bank/tally.py)."""
    qs = DistributionRequest.objects.filter(status=RequestStatus.SUBMITTED)
    return {"count": queries.open_request_counts().get(RequestStatus.SUBMITTED, 0),
            "requests": list(qs.select_related("cell_line", "researcher").order_by("submitted_at", "id")[:6])}


def pick_panel(request) -> dict:
    """Technicians: approved requests to pick and ship, oldest approval first (one query; the count is kept)."""
    qs = DistributionRequest.objects.filter(status=RequestStatus.APPROVED)
    return {"count": queries.open_request_counts().get(RequestStatus.APPROVED, 0),
            "requests": list(qs.select_related("cell_line").order_by("decided_at", "id")[:6])}


def my_requests_panel(request) -> dict | None:
    """Researchers: their own requests, newest first, and what awaits their confirmation of receipt."""
    if not has_role(request.user, RESEARCHER):
        return None
    mine = DistributionRequest.objects.filter(researcher=request.user)
    return {"requests": list(mine.select_related("cell_line").order_by("-submitted_at", "-id")[:6]),
            "to_receive": mine.filter(status=RequestStatus.SHIPPED).count()}


def lot_panel(request, lot) -> dict:
    """The lot page: who received vials of this lot, how many are reserved, trace and recall links."""
    shipments, reserved = queries.lot_panel_shipments(lot)
    return {"lot": lot, "shipments": shipments, "reserved": reserved, "can_recall": can_recall(request.user, lot)}


def can_recall(user, lot) -> bool:
    """The recall link is offered where the service would accept it (released or on hold, role allowing)."""
    return user.has_perm("distribution.add_recall") and lot_can_become(lot.status, LotStatus.RECALLED)
