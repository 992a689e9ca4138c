"""Stable stored values of the lots app (they appear in history and the API)."""

from django.db import models
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy


class CellType(models.TextChoices):
    IPSC = "iPSC", _("Induced pluripotent stem cells (iPSC)")
    ESC = "ESC", _("Embryonic stem cells (ESC)")
    UC_MSC = "UC-MSC", _("Umbilical cord MSC")
    AD_MSC = "AD-MSC", _("Adipose-derived MSC")
    BM_MSC = "BM-MSC", _("Bone marrow MSC")
    DP_MSC = "DP-MSC", _("Dental pulp MSC")
    P_MSC = "P-MSC", _("Placental MSC")
    CB_HSC = "CB-HSC", _("Cord blood haematopoietic stem cells")
    NSC = "NSC", _("Neural stem cells")
    # Issue 15: every bank type of the seed review's Table 1.
    AM_MSC = "AM-MSC", _("Amniotic MSC")
    EN_MSC = "EN-MSC", _("Endometrial MSC")
    MB_MSC = "MB-MSC", _("Menstrual blood MSC")
    MUSC = "MuSC", _("Muscle stem cells")
    SKSC = "SkSC", _("Skin stem cells")
    OTHER = "other", _("Other")


PLURIPOTENT_TYPES = (CellType.IPSC, CellType.ESC)
MSC_TYPES = (CellType.UC_MSC, CellType.AD_MSC, CellType.BM_MSC, CellType.DP_MSC, CellType.P_MSC, CellType.AM_MSC,
             CellType.EN_MSC, CellType.MB_MSC)


class Grade(models.TextChoices):
    RESEARCH = "research", _("Research grade")
    CLINICAL = "clinical", _("Clinical grade")


class ReprogrammingMethod(models.TextChoices):
    NONE = "", _("Not reprogrammed")
    SENDAI = "sendai", _("Sendai virus")
    EPISOMAL = "episomal", _("Episomal plasmids")
    MRNA = "mrna", _("Synthetic mRNA")
    LENTIVIRUS = "lentivirus", _("Lentivirus")
    OTHER = "other", _("Other")


class Tier(models.TextChoices):
    MCB = "MCB", _("Master cell bank")
    WCB = "WCB", _("Working cell bank")
    UNIT = "unit", _("Single unit (cord blood)")


class LotStatus(models.TextChoices):
    QUARANTINE = "quarantine", _("Quarantine")
    RELEASED = "released", _("Released")
    REJECTED = "rejected", _("Rejected")
    ON_HOLD = "on_hold", _("On hold")
    DEPLETED = "depleted", _("Depleted")
    RECALLED = "recalled", _("Recalled")


# The lot status machine of API.md. Only lots.services.change_lot_status moves along it.
LOT_TRANSITIONS: dict[str, set[str]] = {
    LotStatus.QUARANTINE: {LotStatus.RELEASED, LotStatus.REJECTED},
    LotStatus.RELEASED: {LotStatus.ON_HOLD, LotStatus.DEPLETED, LotStatus.RECALLED},
    # A hold is exactly when a recall comes: a lot on hold may be recalled (same signature and recipients).
    LotStatus.ON_HOLD: {LotStatus.RELEASED, LotStatus.RECALLED},
    LotStatus.REJECTED: set(),
    LotStatus.DEPLETED: set(),
    LotStatus.RECALLED: set(),
}


def lot_can_become(status: str, to: str) -> bool:
    """Whether the status machine allows ``status`` → ``to`` (pages offer only what the service will do)."""
    return to in LOT_TRANSITIONS.get(status, set())


# Vials of these lots must never be used, moved out to a recipient or grown (nor those of a lot made from a
# recalled one): lots.choices.lot_unusable is the one test, for services, pages and the map API.
UNUSABLE_LOT_STATUSES = frozenset({LotStatus.RECALLED, LotStatus.REJECTED})


def lot_unusable(status: str, ancestor_recalled_at=None) -> bool:
    return status in UNUSABLE_LOT_STATUSES or ancestor_recalled_at is not None


class VialKind(models.TextChoices):
    """What a container holds (issue 12). A culture lot's vials are all ``vial``; a cord blood unit has one
    ``bag`` (the product), ``segment``s attached to it, reference cryovials and the mother's samples."""

    VIAL = "vial", _("Vial")
    BAG = "bag", _("Bag")
    SEGMENT = "segment", _("Segment")
    REFERENCE_CELLS = "reference_cells", _("Reference vial (cells)")
    REFERENCE_PLASMA = "reference_plasma", _("Reference vial (plasma)")
    REFERENCE_DNA = "reference_dna", _("Reference vial (DNA)")
    MATERNAL_SAMPLE = "maternal_sample", _("Maternal sample")


# What a box map cell prints under the lot for a container that is not a plain vial (its full name in the tooltip).
VIAL_KIND_MARKS = {
    VialKind.BAG: pgettext_lazy("container kind mark on a box map", "BAG"),
    VialKind.SEGMENT: pgettext_lazy("container kind mark on a box map", "SEG"),
    VialKind.REFERENCE_CELLS: pgettext_lazy("container kind mark on a box map", "REF-C"),
    VialKind.REFERENCE_PLASMA: pgettext_lazy("container kind mark on a box map", "REF-P"),
    VialKind.REFERENCE_DNA: pgettext_lazy("container kind mark on a box map", "DNA"),
    VialKind.MATERNAL_SAMPLE: pgettext_lazy("container kind mark on a box map", "MAT"),
}

# Only these go to a researcher or a patient; the rest are kept for testing.
DISTRIBUTABLE_KINDS = (VialKind.VIAL, VialKind.BAG)
# What a researcher's request may receive: a plain vial. A cord blood unit's bag goes to a patient, through a
# transplant centre's order (the transplant app), never through a distribution request.
RESEARCH_KINDS = (VialKind.VIAL,)
# What a stability re-check, confirmatory typing or identity test may thaw: never the bag.
TEST_SAMPLE_KINDS = (VialKind.VIAL, VialKind.SEGMENT, VialKind.REFERENCE_CELLS)


class VialStatus(models.TextChoices):
    AVAILABLE = "available", _("Available")
    RESERVED = "reserved", _("Reserved")
    SHIPPED = "shipped", _("Shipped")
    USED = "used", _("Used")
    DESTROYED = "destroyed", _("Destroyed")


# The vial status machine. Reserved vials go back to available when a request is cancelled or recalled
# before shipping; used (thawed for QC or a re-check) and destroyed are final, like shipped.
VIAL_TRANSITIONS: dict[str, set[str]] = {
    VialStatus.AVAILABLE: {VialStatus.RESERVED, VialStatus.USED, VialStatus.DESTROYED},
    VialStatus.RESERVED: {VialStatus.AVAILABLE, VialStatus.SHIPPED, VialStatus.DESTROYED},
    VialStatus.SHIPPED: set(),
    VialStatus.USED: set(),
    VialStatus.DESTROYED: set(),
}


class FreezingProgram(models.TextChoices):
    CONTROLLED_RATE = "controlled_rate", _("Controlled-rate freezer profile")
    CONTAINER = "container", _("-1 °C/min freezing container")
