"""Template filters of the distribution pages: stored choice values shown as their translated labels."""

from django import template

from distribution.choices import ArrivalCondition, IntendedUse, RecallSource, RequestStatus, ShipperType
from donors.choices import Tissue
from lots.choices import CellType, Grade, LotStatus, ReprogrammingMethod, Tier, VialStatus
from storage.choices import MoveKind

register = template.Library()

CHOICES = {
    "vial": VialStatus, "lot": LotStatus, "request": RequestStatus, "move": MoveKind, "tissue": Tissue,
    "use": IntendedUse, "arrival": ArrivalCondition, "cell_type": CellType, "grade": Grade, "tier": Tier,
    "shipper": ShipperType, "recall": RecallSource, "reprogramming": ReprogrammingMethod,
}


@register.filter
def label(value, kind: str):
    """``{{ vial.status|label:"vial" }}`` → "Reserved" (translated); unknown values are shown as they are."""
    choices = CHOICES.get(kind)
    if choices is None or value in (None, ""):
        return value
    try:
        return choices(value).label
    except ValueError:
        return value
