"""Stable stored values of the qc app."""

from django.db import models
from django.utils.translation import gettext_lazy as _

from lots.choices import LotStatus, Tier


class TestKind(models.TextChoices):
    NUMERIC = "numeric", _("Numeric")
    OUTCOME = "outcome", _("Outcome")


class DeviationStatus(models.TextChoices):
    OPEN = "open", _("Open")
    CLOSED = "closed", _("Closed")


class RecheckStatus(models.TextChoices):
    DUE = "due", _("Due")
    OVERDUE = "overdue", _("Overdue")
    DONE = "done", _("Done")
    CANCELLED = "cancelled", _("Cancelled")


# Re-checks still waiting for a thawed vial's result.
OPEN_RECHECK = (RecheckStatus.DUE, RecheckStatus.OVERDUE)
# Lots with a certificate of analysis: released, or used up after release.
CERTIFIABLE_LOT_STATUSES = (LotStatus.RELEASED, LotStatus.DEPLETED)
# Lots with a stability plan QA may change: released, or on hold after a failed re-check.
PLANNED_LOT_STATUSES = (LotStatus.RELEASED, LotStatus.ON_HOLD)


class Decision(models.TextChoices):
    RELEASE = "release", _("Release")
    REJECT = "reject", _("Reject")
    HOLD = "hold", _("Hold")
    LIFT_HOLD = "lift_hold", _("Lift hold")
    RECALL = "recall", _("Recall")


def takes_stability_plan(lot) -> bool:
    """Whether a released lot is re-checked by thawing its vials. A cord blood unit is one bag, the patient's
    dose: it gets no plan (re-checks of units will thaw their reference samples, which the bank does not
    record yet)."""
    return lot.tier != Tier.UNIT
