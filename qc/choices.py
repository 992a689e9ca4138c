"""Stable stored values of the qc app."""

from django.db import models
from django.utils.translation import gettext_lazy as _

from lots.choices import LotStatus


class TestKind(models.TextChoices):
    NUMERIC = "numeric", _("Numeric")
    OUTCOME = "outcome", _("Outcome")


class QCStage(models.TextChoices):
    """When a test is done on a cord blood unit (NetCord-FACT): before processing, after processing (the banking
    specification) or after thawing a segment or reference vial (before release for administration). Blank for
    tests of culture lots, which are not staged."""

    PRE_PROCESSING = "pre_processing", _("Pre-processing")
    POST_PROCESSING = "post_processing", _("Post-processing")
    POST_THAW = "post_thaw", _("Post-thaw")


# The expected outcome of a criterion that only asks for a result (a characterisation such as ABO/Rh: every
# outcome of the test passes, a missing result blocks).
ANY_OUTCOME = "*"


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
