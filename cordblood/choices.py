"""Vocabularies of cord blood banking (NetCord-FACT, WMDA/EMDIS cord blood unit data)."""

from django.db import models
from django.utils.translation import gettext_lazy as _


class DeliveryType(models.TextChoices):
    VAGINAL = "vaginal", _("Vaginal")
    CAESAREAN = "caesarean", _("Caesarean")


class Ownership(models.TextChoices):
    PUBLIC = "public", _("Public (donated)")
    FAMILY = "family", _("Family (private storage)")


class Acceptance(models.TextChoices):
    PENDING = "pending", _("Awaiting acceptance")
    ACCEPTED = "accepted", _("Accepted for processing")
    DISCARDED = "discarded", _("Discarded")
    RESEARCH = "research", _("Diverted to research")


class ListingStatus(models.TextChoices):
    """WMDA/EMDIS search status of a public unit."""

    NOT_LISTED = "not_listed", _("Not listed")
    AVAILABLE = "available", _("Available")
    TEMPORARILY_UNAVAILABLE = "temporarily_unavailable", _("Temporarily unavailable")
    RESERVED = "reserved", _("Reserved")
    DISTRIBUTED = "distributed", _("Distributed")
    DESTROYED = "destroyed", _("Destroyed")


class ABO(models.TextChoices):
    A = "A", "A"
    B = "B", "B"
    AB = "AB", "AB"
    O = "O", "O"  # noqa: E741


class Rh(models.TextChoices):
    POSITIVE = "pos", _("Rh positive")
    NEGATIVE = "neg", _("Rh negative")


class DiscardReason(models.TextChoices):
    """Why a collection was not processed (counted by reason on the discards page)."""

    LOW_VOLUME = "low_volume", _("Volume below the threshold")
    LOW_TNC = "low_tnc", _("TNC below the threshold")
    CLOTTED = "clotted", _("Clots in the bag")
    BAG_DAMAGED = "bag_damaged", _("Bag damaged or leaking")
    # The limit is CORDBLOOD_FREEZE_WINDOW_HOURS (a bank's setting): not written into the label.
    LATE = "late", _("Arrived too late to freeze within the time limit")
    MATERNAL_SCREENING = "maternal_screening", _("Maternal screening positive")
    NO_CONSENT = "no_consent", _("Consent withdrawn or missing")
    OTHER = "other", _("Other")


class ContractStatus(models.TextChoices):
    ACTIVE = "active", _("Active")
    ENDED = "ended", _("Ended")
    DONATED = "donated", _("Donated to the public inventory")
