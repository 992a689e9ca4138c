"""Stable stored values of the qc app."""

from django.db import models
from django.utils.translation import gettext_lazy as _


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


class Decision(models.TextChoices):
    RELEASE = "release", _("Release")
    REJECT = "reject", _("Reject")
    HOLD = "hold", _("Hold")
    LIFT_HOLD = "lift_hold", _("Lift hold")
    RECALL = "recall", _("Recall")
