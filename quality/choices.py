"""Stable stored values of the quality app (they appear in history and the API)."""

from django.db import models
from django.utils.translation import gettext_lazy as _


class Activity(models.TextChoices):
    """Bench activities an SOP governs (API.md "Quality management"); upstream services name them when they
    announce the ``activity_gate`` hook."""

    COLLECTION_RECEIPT = "collection_receipt", _("Collection receipt")
    PASSAGE = "passage", _("Passage")
    FREEZE = "freeze", _("Freeze")
    THAW = "thaw", _("Thaw")
    QC_RESULT = "qc_result", _("QC result")
    STORAGE_MOVE = "storage_move", _("Storage move")
    SHIP = "ship", _("Ship")


class TrainingState(models.TextChoices):
    """A cell of the training matrix: a user against an SOP's version in force."""

    CURRENT = "current", _("Current")
    DUE = "due", _("Due (expires soon)")
    EXPIRED = "expired", _("Expired")
    RETRAIN = "retrain", _("Retraining needed (new version)")
    UNTRAINED = "untrained", _("Not trained")


class Assessment(models.TextChoices):
    """How a trainee's competence was assessed."""

    PASSED = "passed", _("Passed")
    OBSERVED = "observed", _("Observed practice")
    READ = "read", _("Read and understood")


class EquipmentKind(models.TextChoices):
    BIOSAFETY_CABINET = "biosafety_cabinet", _("Biosafety cabinet")
    INCUBATOR = "incubator", _("Incubator")
    CONTROLLED_RATE_FREEZER = "controlled_rate_freezer", _("Controlled-rate freezer")
    CELL_COUNTER = "cell_counter", _("Cell counter")
    FLOW_CYTOMETER = "flow_cytometer", _("Flow cytometer")
    STORAGE_UNIT = "storage_unit", _("Storage unit")
    CENTRIFUGE = "centrifuge", _("Centrifuge")
    PIPETTE = "pipette", _("Pipette")
    OTHER = "other", _("Other")


class CalibrationKind(models.TextChoices):
    CALIBRATION = "calibration", _("Calibration")
    MAINTENANCE = "maintenance", _("Maintenance")


class EquipmentState(models.TextChoices):
    """What the due list says of an instrument (computed from its due date and last calibration)."""

    OK = "ok", _("Calibrated")
    DUE_SOON = "due_soon", _("Due soon")
    OVERDUE = "overdue", _("Overdue")
    FAILED = "failed", _("Failed calibration")
    RETIRED = "retired", _("Retired")


class MaterialKind(models.TextChoices):
    MEDIUM = "medium", _("Medium")
    REAGENT = "reagent", _("Reagent")
    CRYOPROTECTANT = "cryoprotectant", _("Cryoprotectant")
    GROWTH_FACTOR = "growth_factor", _("Growth factor")
    CONSUMABLE = "consumable", _("Consumable")
    OTHER = "other", _("Other")


class MaterialStatus(models.TextChoices):
    QUARANTINE = "quarantine", _("Quarantine")
    RELEASED = "released", _("Released")
    REJECTED = "rejected", _("Rejected")


class GMPGrade(models.TextChoices):
    """EU GMP Annex 1 cleanroom grades."""

    A = "A", _("Grade A")
    B = "B", _("Grade B")
    C = "C", _("Grade C")
    D = "D", _("Grade D")


class EnvironmentParameter(models.TextChoices):
    PARTICLES_0_5 = "particles_0_5", _("Particles ≥0.5 µm (per m³)")
    PARTICLES_5 = "particles_5", _("Particles ≥5 µm (per m³)")
    SETTLE_PLATE = "settle_plate", _("Settle plate (cfu/4 h)")
    CONTACT_PLATE = "contact_plate", _("Contact plate (cfu/plate)")
    ACTIVE_AIR = "active_air", _("Active air (cfu/m³)")


class EnvironmentLevel(models.TextChoices):
    WITHIN = "within", _("Within limits")
    ALERT = "alert", _("Alert limit exceeded")
    ACTION = "action", _("Action limit exceeded")


# (alert, action) per grade and parameter: a value above the action limit is an excursion (EU GMP Annex 1, in
# operation; grade A's microbial limit is "no growth", so any colony is above it). Alert limits are the bank's own
# early warning, about half the action limit.
LIMITS = {
    GMPGrade.A: {"particles_0_5": (2000, 3520), "particles_5": (10, 20), "settle_plate": (0, 0),
                 "contact_plate": (0, 0), "active_air": (0, 0)},
    GMPGrade.B: {"particles_0_5": (200_000, 352_000), "particles_5": (1500, 2900), "settle_plate": (3, 5),
                 "contact_plate": (3, 5), "active_air": (5, 10)},
    GMPGrade.C: {"particles_0_5": (2_000_000, 3_520_000), "particles_5": (15_000, 29_000), "settle_plate": (25, 50),
                 "contact_plate": (15, 25), "active_air": (50, 100)},
    GMPGrade.D: {"particles_0_5": (2_000_000, 3_520_000), "particles_5": (15_000, 29_000), "settle_plate": (50, 100),
                 "contact_plate": (25, 50), "active_air": (100, 200)},
}
