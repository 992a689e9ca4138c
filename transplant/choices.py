"""Vocabularies of the transplant-centre path (NetCord-FACT "search, reservation and release", WMDA/EMDIS)."""

from django.db import models
from django.utils.translation import gettext_lazy as _

from cordblood.choices import ABO, Rh  # noqa: F401  (a patient's blood group uses the unit's vocabulary)

# The loci a patient is typed at (the registration loci of donors.HLATyping).
PATIENT_LOCI = ("A", "B", "C", "DRB1", "DQB1")
# The loci a search counts mismatches at: A and B at antigen level (first field), DRB1 at allele level.
MATCH_LOCI = ("A", "B", "DRB1")


class TypingRequestStatus(models.TextChoices):
    REQUESTED = "requested", _("Requested")
    COMPLETED = "completed", _("Completed")
    CANCELLED = "cancelled", _("Cancelled")


class ReservationStatus(models.TextChoices):
    ACTIVE = "active", _("Active")
    ORDERED = "ordered", _("Ordered")
    EXPIRED = "expired", _("Expired")
    CANCELLED = "cancelled", _("Cancelled")


class OrderStatus(models.TextChoices):
    """A unit ordered for an infusion date: released for administration by the medical director, shipped by
    the bank, received by the centre, infused (the thaw and infusion report)."""

    ORDERED = "ordered", _("Ordered")
    RELEASED = "released", _("Released for administration")
    SHIPPED = "shipped", _("Shipped")
    RECEIVED = "received", _("Received")
    INFUSED = "infused", _("Infused")
    CANCELLED = "cancelled", _("Cancelled")


ORDER_TRANSITIONS: dict[str, set[str]] = {
    OrderStatus.ORDERED: {OrderStatus.RELEASED, OrderStatus.CANCELLED},
    OrderStatus.RELEASED: {OrderStatus.SHIPPED, OrderStatus.CANCELLED},
    OrderStatus.SHIPPED: {OrderStatus.RECEIVED},
    OrderStatus.RECEIVED: {OrderStatus.INFUSED},
    OrderStatus.INFUSED: set(),
    OrderStatus.CANCELLED: set(),
}


# The order statuses from which an order may still be cancelled (the unit has not left the bank).
CANCELLABLE_ORDER_STATUSES = frozenset(status for status, targets in ORDER_TRANSITIONS.items()
                                       if OrderStatus.CANCELLED in targets)
# The unit has left the bank: a recall's look-back tells the centre, and the centre may report an adverse event.
UNIT_LEFT_BANK_STATUSES = frozenset({OrderStatus.SHIPPED, OrderStatus.RECEIVED, OrderStatus.INFUSED})


class ReleaseKind(models.TextChoices):
    STANDARD = "standard", _("Standard release")
    EXCEPTIONAL = "exceptional", _("Exceptional release")


class ReleaseException(models.TextChoices):
    """Why a release is exceptional: a unit criterion not met or a confirmatory typing missing or discordant."""

    CT_MISSING = "ct_missing", _("No confirmatory typing completed for this unit and patient")
    CT_DISCORDANT = "ct_discordant", _("Confirmatory typing discordant with the registration typing")
    LOW_DOSE = "low_dose", _("TNC dose below the bank's minimum per kg")
    HLA_MISMATCH = "hla_mismatch", _("More HLA mismatches than the bank's limit")


class DocumentItem(models.TextChoices):
    """The document pack that travels with a unit."""

    UNIT_REPORT = "unit_report", _("Unit report (characterisation, HLA, ABO, processing)")
    MATERNAL_TESTS = "maternal_tests", _("Maternal infectious-disease test results")
    CT_REPORT = "ct_report", _("Confirmatory typing report")
    RELEASE_CERTIFICATE = "release_certificate", _("Release for administration, signed")
    THAW_INSTRUCTIONS = "thaw_instructions", _("Thaw and infusion instructions")
    THAW_FORM = "thaw_form", _("Thaw and infusion report form")


class ArrivalCondition(models.TextChoices):
    GOOD = "good", _("Good: shipper cold, logger in range, bag intact")
    EXCURSION = "excursion", _("Temperature excursion on the logger")
    DAMAGED = "damaged", _("Bag or shipper damaged")


class Milestone(models.TextChoices):
    DAY_100 = "day100", _("Day 100")
    YEAR_1 = "year1", _("One year")


MILESTONE_DAYS = {Milestone.DAY_100: 100, Milestone.YEAR_1: 365}


class FollowUpStatus(models.TextChoices):
    DUE = "due", _("Due")
    RECORDED = "recorded", _("Recorded")


class GVHDGrade(models.TextChoices):
    NONE = "0", _("None")
    I = "I", "I"  # noqa: E741
    II = "II", "II"
    III = "III", "III"
    IV = "IV", "IV"


class Survival(models.TextChoices):
    ALIVE = "alive", _("Alive")
    DEAD = "dead", _("Dead")
    LOST = "lost", _("Lost to follow-up")


class AdverseEventKind(models.TextChoices):
    """What a centre reports after a unit was shipped (NetCord-FACT adverse event reporting, look-back triggers)."""

    INFUSION_REACTION = "infusion_reaction", _("Infusion reaction")
    POSITIVE_CULTURE = "positive_culture", _("Positive microbial culture of the product")
    SUSPECTED_INFECTION = "suspected_infection", _("Suspected transmission of an infection")
    SUSPECTED_GENETIC = "suspected_genetic", _("Suspected transmission of a genetic disease")
    PRODUCT_FAILURE = "product_failure", _("Product failure (no engraftment)")
    OTHER = "other", _("Other")


class AdverseEventSeverity(models.TextChoices):
    MILD = "mild", _("Mild")
    MODERATE = "moderate", _("Moderate")
    SEVERE = "severe", _("Severe")
    LIFE_THREATENING = "life_threatening", _("Life-threatening")
    FATAL = "fatal", _("Fatal")
