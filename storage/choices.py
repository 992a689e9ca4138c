"""Stable stored values of the storage app."""

from django.db import models
from django.utils.translation import gettext_lazy as _

from lots.choices import LotStatus, VialStatus


class UnitKind(models.TextChoices):
    LN2_VAPOR = "ln2_vapor", _("LN2 tank, vapour phase")
    LN2_LIQUID = "ln2_liquid", _("LN2 tank, liquid phase")
    FREEZER_MINUS80 = "freezer_minus80", _("-80 °C freezer")
    FREEZER_MINUS150 = "freezer_minus150", _("-150 °C freezer")


class BoxPreset(models.TextChoices):
    GRID_9 = "9x9", _("9 × 9 (2 mL vials)")
    GRID_10 = "10x10", _("10 × 10 (1 mL vials)")
    GRID_5 = "5x5", _("5 × 5")
    CUSTOM = "custom", _("Free-form")


class MoveKind(models.TextChoices):
    PLACED = "placed", _("Placed into storage")
    MOVED = "moved", _("Moved")
    BOX_MOVED = "box_moved", _("Box moved to another rack")
    RACK_MOVED = "rack_moved", _("Rack moved to another unit")
    EVACUATED = "evacuated", _("Emergency evacuation")
    REMOVED = "removed", _("Removed from storage")


class AlarmKind(models.TextChoices):
    EXCURSION = "excursion", _("Temperature excursion")
    SENSOR_SILENT = "sensor_silent", _("Sensor silent")


class AlarmStatus(models.TextChoices):
    ACTIVE = "active", _("Active")
    ACKNOWLEDGED = "acknowledged", _("Acknowledged")


# Vials that may sit in a box. Shipped, used and destroyed vials have left storage for good.
STORABLE_VIAL_STATUSES = (VialStatus.AVAILABLE, VialStatus.RESERVED)
# Lots never released (quarantine, rejected) live only in quarantine units; lots that were released
# (released, on hold, depleted, recalled) never go into one (GMP segregation of untested material).
QUARANTINE_LOT_STATUSES = (LotStatus.QUARANTINE, LotStatus.REJECTED)


def lot_needs_quarantine(status: str) -> bool:
    return status in QUARANTINE_LOT_STATUSES


class RollupPeriod(models.TextChoices):
    """The buckets of ``ReadingRollup``: an hour (UTC-aligned) or a day (the bank's local day, ``TIME_ZONE``)."""

    HOUR = "hour", _("hour")
    DAY = "day", _("day")
