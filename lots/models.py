"""Cell lines, their culture record (passages), MCB/WCB/unit lots and their vials.

A vial's storage position is three columns on the vial (box, row, col) under a conditional unique
constraint: empty positions are not rows, free slots are computed (NetBox's device-in-rack model).
"""

from __future__ import annotations

import math

from django.conf import settings
from django.db import models
from django.db.models.functions import Upper
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from bank.audit import audit_history
from bank.identifiers import IdentifierField
from lots.choices import (
    CellType,
    FreezingProgram,
    Grade,
    LotStatus,
    ReprogrammingMethod,
    Tier,
    VialKind,
    VialStatus,
    lot_unusable,
)

User = settings.AUTH_USER_MODEL


class CellLine(models.Model):
    """Cells established from a collection. iPSC/ESC lines carry an hPSCreg name, e.g. SCBi001-A."""

    name = models.CharField(_("name"), max_length=40, unique=True)
    collection = models.ForeignKey("donors.Collection", on_delete=models.PROTECT, related_name="cell_lines")
    # Denormalised from the collection by the service: trace, catalog and release ask it constantly.
    donor = models.ForeignKey("donors.Donor", on_delete=models.PROTECT, related_name="cell_lines")
    cell_type = models.CharField(_("cell type"), max_length=10, choices=CellType.choices)
    grade = models.CharField(_("grade"), max_length=10, choices=Grade.choices)
    reprogramming_method = models.CharField(
        _("reprogramming method"), max_length=20, choices=ReprogrammingMethod.choices, blank=True
    )
    parent_line = models.ForeignKey(
        "self", on_delete=models.PROTECT, null=True, blank=True, related_name="subclones",
        help_text=_("For a subclone (-B, -C ...): the line it was cloned from."),
    )
    # hPSCreg parts: SCB + i + 001 + -A ; number and subclone are null for non-pluripotent lines.
    registry_number = models.PositiveIntegerField(_("registry number"), null=True, blank=True)
    subclone = models.CharField(_("subclone letter"), max_length=2, blank=True)
    description = models.TextField(_("description"), blank=True)
    established_on = models.DateField(_("established on"), null=True, blank=True)
    # The IDs the registries gave the line's record once the bank submitted its export (issue 15).
    genetic_modification = models.CharField(
        _("genetic modification"), max_length=200, blank=True, default="",
        help_text=_("Empty when the line is not genetically modified; else what was changed "
                    "(e.g. AAVS1-GFP knock-in)."))
    hpscreg_id = models.CharField(_("hPSCreg ID"), max_length=40, blank=True, default="")
    icscb_id = models.CharField(_("ICSCB ID"), max_length=40, blank=True, default="")
    created_by = models.ForeignKey(User, on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField(_("created at"), default=timezone.now)

    history = audit_history()

    class Meta:
        ordering = ["name"]
        # The lines list filtered by type or grade, in name order: a page without walking a million cord blood lines.
        indexes = [models.Index(fields=["cell_type", "name"], name="lots_cellline_type_name_idx"),
                   models.Index(fields=["grade", "name"], name="lots_cellline_grade_name_idx")]
        constraints = [
            models.UniqueConstraint(
                fields=["cell_type", "registry_number", "subclone"],
                condition=models.Q(registry_number__isnull=False),
                name="lots_cellline_unique_registry_name",
            ),
            # Scanned or typed in any case, a name finds its line through this index (bank.identifiers).
            models.UniqueConstraint(Upper("name"), name="lots_cellline_name_upper_unique"),
        ]
        verbose_name = _("cell line")
        verbose_name_plural = _("cell lines")
        permissions = [("record_registry_id", _("Can record the hPSCreg and ICSCB IDs of a cell line"))]

    def __str__(self) -> str:
        return self.name


class LineStock(models.Model):
    """Derived, like an index: the line's vials a researcher may receive (``RESEARCH_KINDS``, available, in a
    distributable lot), split MCB / other. Written only by database triggers (lots/stock.py), so no history
    and no service writes it; a line with no row has no stock."""

    cell_line = models.OneToOneField(CellLine, primary_key=True, on_delete=models.DO_NOTHING, db_constraint=False,
                                     related_name="stock")
    mcb = models.IntegerField(_("MCB vials available"), default=0, db_default=0)
    other = models.IntegerField(_("other vials available"), default=0, db_default=0)
    # Copies of the line's own fields the catalog sorts and filters by (kept by the same triggers), so a catalog
    # page sorts and counts a few thousand narrow rows and reads only its own 50 lines.
    sort_name = models.CharField(_("name (lower case)"), max_length=40, default="", db_default="")
    cell_type = models.CharField(_("cell type"), max_length=10, default="", db_default="")
    grade = models.CharField(_("grade"), max_length=10, default="", db_default="")
    # The donor's alleles at A, B, C, DRB1 and DQB1 (upper case, each between spaces), for the catalog's HLA search.
    hla = models.CharField(_("HLA alleles"), max_length=250, default="", db_default="")

    class Meta:
        indexes = [
            # The catalog reads only lines with stock (a few thousand of a million: cord blood units have none).
            models.Index(fields=["cell_line"], condition=models.Q(other__gt=0) | models.Q(mcb__gt=0),
                         name="lots_linestock_stocked_idx"),
        ]
        verbose_name = _("line stock")
        verbose_name_plural = _("line stock")

    def __str__(self) -> str:
        return f"{self.cell_line_id}: {self.mcb} MCB + {self.other}"


class Culture(models.Model):
    """A culture run of a line (from the primary tissue, or thawed from a parent lot's vial)."""

    cell_line = models.ForeignKey(CellLine, on_delete=models.PROTECT, related_name="cultures")
    source_vial = models.ForeignKey(
        "lots.Vial", on_delete=models.PROTECT, null=True, blank=True, related_name="cultures_started",
        help_text=_("The vial thawed to start this culture (WCB expansion from an MCB vial)."),
    )
    started_on = models.DateField(_("started on"))
    notes = models.TextField(_("notes"), blank=True)
    created_by = models.ForeignKey(User, on_delete=models.PROTECT, related_name="+")

    history = audit_history()

    class Meta:
        ordering = ["-started_on", "-id"]
        verbose_name = _("culture")
        verbose_name_plural = _("cultures")

    def __str__(self) -> str:
        return f"{self.cell_line.name} culture {self.started_on}"

    def population_doublings(self) -> float:
        """Cumulative PD = sum of log2(harvested / seeded) over the passages with both counts."""
        return sum(p.population_doublings or 0.0 for p in self.passages.all())


class Passage(models.Model):
    """One split of a culture, with its counts, medium and reagent lots (traceable from the lot)."""

    culture = models.ForeignKey(Culture, on_delete=models.PROTECT, related_name="passages")
    number = models.PositiveSmallIntegerField(_("passage number"))
    passaged_on = models.DateField(_("date"))
    split_ratio = models.CharField(_("split ratio"), max_length=20, blank=True, help_text=_("e.g. 1:6"))
    seeded_cells = models.PositiveBigIntegerField(_("cells seeded"), null=True, blank=True)
    harvested_cells = models.PositiveBigIntegerField(_("cells harvested"), null=True, blank=True)
    viability_pct = models.DecimalField(_("viability (%)"), max_digits=5, decimal_places=2, null=True, blank=True)
    medium = models.CharField(_("medium"), max_length=120, blank=True)
    medium_lot = models.CharField(_("medium lot"), max_length=60, blank=True)
    reagents = models.JSONField(
        _("other reagents"), default=list, blank=True,
        help_text=_('Reagent lots used, e.g. [{"name": "Vitronectin", "lot": "VN-2231"}]'),
    )
    operator = models.ForeignKey(User, on_delete=models.PROTECT, related_name="+")
    notes = models.TextField(_("notes"), blank=True)

    history = audit_history()

    class Meta:
        ordering = ["culture_id", "number", "id"]
        constraints = [
            models.UniqueConstraint(fields=["culture", "number"], name="lots_passage_unique_number"),
            models.CheckConstraint(
                condition=models.Q(viability_pct__isnull=True)
                | models.Q(viability_pct__gte=0, viability_pct__lte=100),
                name="lots_passage_viability_range",
            ),
        ]
        verbose_name = _("passage")
        verbose_name_plural = _("passages")

    def __str__(self) -> str:
        return f"P{self.number}"

    @property
    def population_doublings(self) -> float | None:
        if self.seeded_cells and self.harvested_cells:
            return math.log2(self.harvested_cells / self.seeded_cells)
        return None


class Lot(models.Model):
    """One freeze of a line: a master or working cell bank, or a single cord blood unit."""

    SIGNATURE_EXCLUDE_FIELDS = ("status", "status_changed_at", "consent_withdrawn_flagged_at", "ancestor_recalled_at")

    lot_number = models.CharField(_("lot number"), max_length=40, unique=True)
    barcode = IdentifierField(_("barcode"), max_length=40, unique=True)
    # ISBT 128 donation identification number (bank/coding.py): clinical-grade lots and cord blood units (the
    # unit's own DIN); null for research-grade lots.
    din = IdentifierField(_("DIN"), max_length=13, unique=True, null=True, blank=True)
    cell_line = models.ForeignKey(CellLine, on_delete=models.PROTECT, related_name="lots")
    tier = models.CharField(_("tier"), max_length=4, choices=Tier.choices)
    parent_lot = models.ForeignKey(
        "self", on_delete=models.PROTECT, null=True, blank=True, related_name="child_lots"
    )
    culture = models.ForeignKey(Culture, on_delete=models.PROTECT, null=True, blank=True, related_name="lots")
    passage = models.PositiveSmallIntegerField(_("passage at freeze"))
    population_doublings = models.DecimalField(
        _("cumulative population doublings"), max_digits=6, decimal_places=2, null=True, blank=True
    )
    vial_count = models.PositiveIntegerField(_("vials frozen"))
    cells_per_vial = models.PositiveBigIntegerField(_("cells per vial"))
    volume_ml = models.DecimalField(_("volume per vial (mL)"), max_digits=5, decimal_places=2)
    cryoprotectant = models.CharField(_("cryoprotectant"), max_length=120)
    cryoprotectant_lot = models.CharField(_("cryoprotectant lot"), max_length=60, blank=True)
    freezing_program = models.CharField(
        _("freezing program"), max_length=20, choices=FreezingProgram.choices, default=FreezingProgram.CONTAINER
    )
    freezing_profile = models.CharField(_("controlled-rate profile"), max_length=120, blank=True)
    frozen_on = models.DateField(_("frozen on"))
    operator = models.ForeignKey(User, on_delete=models.PROTECT, related_name="+")
    status = models.CharField(_("status"), max_length=12, choices=LotStatus.choices, default=LotStatus.QUARANTINE)
    status_changed_at = models.DateTimeField(_("status changed at"), default=timezone.now)
    # Set when the donor withdraws consent: nothing of this lot may be released or distributed any more.
    consent_withdrawn_flagged_at = models.DateTimeField(_("donor consent withdrawn"), null=True, blank=True)
    # Set when a lot this one was made from (its MCB, ...) is recalled: it may never be released again.
    ancestor_recalled_at = models.DateTimeField(_("parent lot recalled"), null=True, blank=True)
    notes = models.TextField(_("notes"), blank=True)
    created_at = models.DateTimeField(_("created at"), default=timezone.now)

    history = audit_history()

    class Meta:
        ordering = ["-frozen_on", "-id"]
        indexes = [
            models.Index(fields=["-frozen_on", "-id"], name="lots_lot_order_idx"),
            # The banks (MCB, WCB) newest first without the million cord blood units (quality trends' dashboard).
            models.Index(fields=["-frozen_on", "-id"], name="lots_lot_bank_order_idx",
                         condition=~models.Q(tier="unit")),
            models.Index(fields=["cell_line", "status"], name="lots_lot_line_status_idx"),
            models.Index(fields=["status"], name="lots_lot_status_idx"),
        ]
        constraints = [
            models.CheckConstraint(condition=models.Q(vial_count__gte=1), name="lots_lot_vial_count_positive"),
            models.CheckConstraint(condition=models.Q(cells_per_vial__gte=1), name="lots_lot_cells_positive"),
            models.CheckConstraint(condition=models.Q(volume_ml__gt=0), name="lots_lot_volume_positive"),
            models.CheckConstraint(
                condition=~models.Q(tier="WCB") | models.Q(parent_lot__isnull=False),
                name="lots_lot_wcb_has_parent",
            ),
            models.UniqueConstraint(Upper("lot_number"), name="lots_lot_lot_number_upper_unique"),
        ]
        verbose_name = _("lot")
        verbose_name_plural = _("lots")

    def __str__(self) -> str:
        return self.lot_number

    def lineage(self) -> list[Lot]:
        """Ancestor lots, nearest first (a WCB's MCB, ...)."""
        chain, current, seen = [], self.parent_lot, {self.pk}
        while current is not None and current.pk not in seen:
            chain.append(current)
            seen.add(current.pk)
            current = current.parent_lot
        return chain

    @property
    def is_unusable(self) -> bool:
        """Recalled, rejected or made from a recalled lot: its vials must not be used."""
        return lot_unusable(self.status, self.ancestor_recalled_at)

    @property
    def is_blocked_by_consent(self) -> bool:
        return self.consent_withdrawn_flagged_at is not None


class Vial(models.Model):
    """One cryotube with a unique barcode; its position is (box, row, col) or nothing."""

    lot = models.ForeignKey(Lot, on_delete=models.PROTECT, related_name="vials")
    number = models.PositiveIntegerField(_("vial number"))
    barcode = IdentifierField(_("barcode"), max_length=40, unique=True)
    kind = models.CharField(_("kind"), max_length=16, choices=VialKind.choices, default=VialKind.VIAL)
    status = models.CharField(_("status"), max_length=10, choices=VialStatus.choices, default=VialStatus.AVAILABLE)
    status_changed_at = models.DateTimeField(_("status changed at"), default=timezone.now)
    box = models.ForeignKey(
        "storage.Box", on_delete=models.PROTECT, null=True, blank=True, related_name="vials"
    )
    row = models.PositiveSmallIntegerField(_("row"), null=True, blank=True)
    col = models.PositiveSmallIntegerField(_("column"), null=True, blank=True)

    history = audit_history()

    class Meta:
        ordering = ["lot_id", "number"]
        indexes = [
            models.Index(fields=["lot", "status"], name="lots_vial_lot_status_idx"),
            # Vials waiting for a position (storage's "awaiting storage" list: storage.choices.STORABLE_VIAL_STATUSES,
            # a test keeps the two equal): a few hundred among millions of placed or shipped vials.
            models.Index(fields=["lot"], condition=models.Q(box__isnull=True, status__in=("available", "reserved")),
                         name="lots_vial_unplaced_idx"),
        ]
        constraints = [
            models.UniqueConstraint(fields=["lot", "number"], name="lots_vial_unique_number"),
            models.UniqueConstraint(
                fields=["box", "row", "col"], condition=models.Q(box__isnull=False), name="lots_vial_unique_position"
            ),
            models.CheckConstraint(
                condition=models.Q(row__isnull=True) | models.Q(row__gte=1), name="lots_vial_row_positive"
            ),
            models.CheckConstraint(
                condition=models.Q(col__isnull=True) | models.Q(col__gte=1), name="lots_vial_col_positive"
            ),
            models.CheckConstraint(
                condition=models.Q(box__isnull=True, row__isnull=True, col__isnull=True)
                | models.Q(box__isnull=False, row__isnull=False, col__isnull=False),
                name="lots_vial_position_complete",
            ),
        ]
        verbose_name = _("vial")
        verbose_name_plural = _("vials")

    def __str__(self) -> str:
        return self.barcode

    @property
    def is_stored(self) -> bool:
        return self.box_id is not None
