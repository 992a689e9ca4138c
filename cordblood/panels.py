"""Sections the cordblood app adds to other apps' pages (bank.registry object panels)."""

from __future__ import annotations

from cordblood import queries
from cordblood.models import CordBloodUnit, InfantDonation


def donor_panel(request, donor) -> dict | None:
    """On a donor's page: a mother's babies and their units, or the infant donor's mother and unit."""
    donations = list(queries.donations_of(donor))
    infant_of = (InfantDonation.objects.filter(infant=donor).select_related("mother", "unit").first()
                 if not donations else None)
    if not donations and infant_of is None and not request.user.has_perm("cordblood.add_infantdonation"):
        return None
    if not donations and infant_of is None and donor.sex != "F":
        return None
    return {"donor": donor, "donations": donations, "infant_of": infant_of,
            "can_add": request.user.has_perm("cordblood.add_infantdonation")}


def lot_panel(request, lot) -> dict | None:
    """On a lot's page: the cord blood unit it is (DIN, ownership, search status)."""
    if lot.tier != "unit":
        return None
    unit = CordBloodUnit.objects.filter(lot=lot).first()
    return {"unit": unit} if unit else None


READY_TO_LIST_SHOWN = 5


def ready_to_list_panel(request) -> dict | None:
    """QA's worklist on the dashboard: released public units not yet listed for search (the unit list's own
    ``ready_to_list`` filter, so the count and the list agree). Two queries: the count and the first few."""
    ready = queries.filter_units(CordBloodUnit.objects.select_related("lot"), {"ready_to_list": "1"})
    count = ready.count()
    return {"count": count, "units": list(ready.order_by("-created_at", "-id")[:READY_TO_LIST_SHOWN]) if count else []}
