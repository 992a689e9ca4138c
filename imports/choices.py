"""Stable stored values of the imports app (they appear in history and the API)."""

from django.db import models
from django.utils.translation import gettext_lazy as _


class ImportKind(models.TextChoices):
    CELL_LINES = "cell_lines", _("Cell lines")
    INVENTORY = "inventory", _("Lots and vials with their positions")
    CORD_BLOOD = "cord_blood", _("Cord blood units with their HLA typings")


class RunStatus(models.TextChoices):
    QUEUED = "queued", _("Waiting for the worker")
    RUNNING = "running", _("Running")
    VALIDATED = "validated", _("Dry run: valid")
    IMPORTED = "imported", _("Imported")
    REJECTED = "rejected", _("Rejected: bad rows")
    FAILED = "failed", _("Failed")


class RefKind(models.TextChoices):
    """What an external ID names (``ExternalRef.kind``)."""

    CELL_LINE = "cell_line", _("cell line")
    LOT = "lot", _("lot")
    VIAL = "vial", _("vial")
    CORD_BLOOD_UNIT = "cord_blood_unit", _("cord blood unit")
    MOTHER = "mother", _("mother")
