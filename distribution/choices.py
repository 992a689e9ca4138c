"""Stable stored values of the distribution app."""

from django.db import models
from django.utils.translation import gettext_lazy as _


class IntendedUse(models.TextChoices):
    RESEARCH = "research", _("Research")
    CLINICAL = "clinical", _("Clinical")
    COMMERCIAL = "commercial", _("Commercial")


class RequestStatus(models.TextChoices):
    SUBMITTED = "submitted", _("Submitted")
    APPROVED = "approved", _("Approved")
    REJECTED = "rejected", _("Rejected")
    SHIPPED = "shipped", _("Shipped")
    RECEIVED = "received", _("Received")
    CANCELLED = "cancelled", _("Cancelled")


# The request machine of API.md. One addition: an approved request that has not shipped may still be
# rejected (its reservations released) — by QA, or by a recall when no replacement stock is left.
REQUEST_TRANSITIONS: dict[str, set[str]] = {
    RequestStatus.SUBMITTED: {RequestStatus.APPROVED, RequestStatus.REJECTED, RequestStatus.CANCELLED},
    RequestStatus.APPROVED: {RequestStatus.SHIPPED, RequestStatus.REJECTED},
    RequestStatus.SHIPPED: {RequestStatus.RECEIVED},
    RequestStatus.REJECTED: set(),
    RequestStatus.RECEIVED: set(),
    RequestStatus.CANCELLED: set(),
}


class ShipperType(models.TextChoices):
    DRY_SHIPPER = "dry_shipper", _("LN2 dry shipper")
    DRY_ICE = "dry_ice", _("Dry ice")
    LN2_LIQUID = "ln2_liquid", _("Liquid nitrogen")
    OTHER = "other", _("Other")


class ArrivalCondition(models.TextChoices):
    GOOD = "good", _("Good: frozen, intact")
    THAWED = "thawed", _("Thawed or warm on arrival")
    DAMAGED = "damaged", _("Damaged or leaking")


class RecallSource(models.TextChoices):
    LOT_RECALL = "lot_recall", _("Lot recalled by QA")
    CONSENT_WITHDRAWAL = "consent_withdrawal", _("Donor consent withdrawn")


class InstitutionType(models.TextChoices):
    """Who asks (issue 15, benefit sharing): public institutions share free by default, enterprises pay."""

    PUBLIC = "public", _("Public (university, hospital, public institute)")
    ENTERPRISE = "enterprise", _("Enterprise (company)")
