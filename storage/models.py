"""Cryostorage: units (tanks, freezers) → racks → boxes; vial moves; temperature readings and alarms.

A vial's position lives on the vial (lots.Vial box/row/col); this app owns the places and the chain
of custody (``VialMove``).
"""

from __future__ import annotations

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from bank.audit import audit_history
from bank.identifiers import IdentifierField
from storage.choices import AlarmKind, AlarmStatus, MoveKind, RollupPeriod, UnitKind

User = settings.AUTH_USER_MODEL

# Rows are printed as letters A-Z on a box, so a grid is at most 26 x 26 (storage_box_grid_size).
MAX_GRID = 26


class StorageUnit(models.Model):
    """An LN2 tank or a freezer, with its allowed temperature range and quarantine flag."""

    name = models.CharField(_("name"), max_length=80, unique=True)
    kind = models.CharField(_("kind"), max_length=20, choices=UnitKind.choices)
    site = models.CharField(_("site"), max_length=120, blank=True)
    room = models.CharField(_("room"), max_length=120, blank=True)
    min_temperature_c = models.DecimalField(_("minimum temperature (°C)"), max_digits=6, decimal_places=1)
    max_temperature_c = models.DecimalField(_("maximum temperature (°C)"), max_digits=6, decimal_places=1)
    quarantine = models.BooleanField(
        _("quarantine unit"), default=False, help_text=_("Holds only material not yet released.")
    )
    sensor_silent_minutes = models.PositiveIntegerField(
        _("sensor silent after (minutes)"), null=True, blank=True,
        help_text=_("Raise an alarm when no reading arrives for this long; empty uses the bank default."),
    )
    last_reading_at = models.DateTimeField(_("last reading at"), null=True, blank=True)
    active = models.BooleanField(_("in service"), default=True)
    created_at = models.DateTimeField(_("created at"), default=timezone.now)

    history = audit_history()

    class Meta:
        ordering = ["name"]
        indexes = [
            models.Index(
                fields=["last_reading_at"], name="storage_unit_reading_idx", condition=models.Q(active=True)
            ),
        ]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(max_temperature_c__gt=models.F("min_temperature_c")),
                name="storage_storageunit_temperature_range",
            ),
        ]
        verbose_name = _("storage unit")
        verbose_name_plural = _("storage units")

    def __str__(self) -> str:
        return self.name

    def clean(self) -> None:
        if (
            self.min_temperature_c is not None
            and self.max_temperature_c is not None
            and self.max_temperature_c <= self.min_temperature_c
        ):
            raise ValidationError(
                {"max_temperature_c": _("The maximum temperature must be above the minimum temperature.")}
            )

    @property
    def silent_minutes(self) -> int:
        """Minutes without a reading after which the sensor counts as silent (unit value or bank default)."""
        return self.sensor_silent_minutes or settings.SENSOR_SILENT_MINUTES

    def in_range(self, temperature_c) -> bool:
        return self.min_temperature_c <= temperature_c <= self.max_temperature_c


class SensorBinding(models.Model):
    """A sensor account allowed to post readings for a unit (``PUT /storage/units/{id}/sensors/``): a sensor
    bound elsewhere cannot fake an excursion here or mask a dead sensor."""

    unit = models.ForeignKey(StorageUnit, on_delete=models.PROTECT, related_name="sensor_bindings")
    sensor = models.ForeignKey(User, on_delete=models.PROTECT, related_name="sensor_bindings")
    bound_at = models.DateTimeField(_("bound at"), default=timezone.now)
    bound_by = models.ForeignKey(User, on_delete=models.PROTECT, null=True, blank=True, related_name="+")

    history = audit_history()

    class Meta:
        ordering = ["unit", "sensor"]
        constraints = [models.UniqueConstraint(fields=["unit", "sensor"], name="storage_sensorbinding_unique")]
        verbose_name = _("sensor binding")
        verbose_name_plural = _("sensor bindings")

    def __str__(self) -> str:
        return f"{self.sensor} → {self.unit}"


class Rack(models.Model):
    """A rack or canister inside a unit."""

    unit = models.ForeignKey(StorageUnit, on_delete=models.PROTECT, related_name="racks")
    name = models.CharField(_("name"), max_length=80)
    position = models.PositiveSmallIntegerField(_("position in unit"), default=1)
    capacity = models.PositiveSmallIntegerField(
        _("boxes it holds"), null=True, blank=True,
        help_text=_("How many boxes fit in this rack or canister; empty means no limit."),
    )

    history = audit_history()

    class Meta:
        ordering = ["unit_id", "position", "name"]
        constraints = [models.UniqueConstraint(fields=["unit", "name"], name="storage_rack_unique_name")]
        verbose_name = _("rack")
        verbose_name_plural = _("racks")

    def __str__(self) -> str:
        return f"{self.unit.name} / {self.name}"


class UnitOccupancy(models.Model):
    """Derived, like an index: a unit's used and total positions (the sums of its boxes' ``occupied`` and rows ×
    cols). Written only by database triggers on boxes and racks (storage/occupancy.py), so no history and no
    service writes it; a unit with no row has no boxes. The dashboard's fullest units and the overview's gauges
    read 300 of these instead of summing 68,000 boxes."""

    unit = models.OneToOneField(StorageUnit, primary_key=True, on_delete=models.DO_NOTHING, db_constraint=False,
                                related_name="kept_occupancy")
    used = models.BigIntegerField(_("positions used"), default=0, db_default=0)
    capacity = models.BigIntegerField(_("positions"), default=0, db_default=0)

    class Meta:
        verbose_name = _("unit occupancy")
        verbose_name_plural = _("unit occupancy")

    def __str__(self) -> str:
        return f"{self.unit_id}: {self.used}/{self.capacity}"


class Box(models.Model):
    """A cryobox: a grid of rows × cols positions (1-based). Positions are computed, not stored."""

    rack = models.ForeignKey(Rack, on_delete=models.PROTECT, related_name="boxes")
    name = models.CharField(_("name"), max_length=80)
    barcode = IdentifierField(_("barcode"), max_length=40, unique=True)
    rows = models.PositiveSmallIntegerField(_("rows"))
    cols = models.PositiveSmallIntegerField(_("columns"))
    position = models.PositiveSmallIntegerField(_("position in rack"), default=1)
    # Derived: vials in the box, kept by database triggers on lots_vial (storage/occupancy.py).
    occupied = models.PositiveIntegerField(_("vials in the box"), default=0, db_default=0, editable=False)
    created_at = models.DateTimeField(_("created at"), default=timezone.now)

    history = audit_history()

    class Meta:
        ordering = ["rack_id", "position", "name"]
        constraints = [
            models.UniqueConstraint(fields=["rack", "name"], name="storage_box_unique_name"),
            models.CheckConstraint(
                condition=models.Q(rows__gte=1, rows__lte=26, cols__gte=1, cols__lte=26),
                name="storage_box_grid_size",
            ),
        ]
        verbose_name = _("box")
        verbose_name_plural = _("boxes")

    def __str__(self) -> str:
        return f"{self.rack} / {self.name}"

    def clean(self) -> None:
        errors = {}
        for field in ("rows", "cols"):
            value = getattr(self, field)
            if value is not None and not 1 <= value <= MAX_GRID:
                errors[field] = _("A box has between 1 and %(max)d rows and columns.") % {"max": MAX_GRID}
        if errors:
            raise ValidationError(errors)

    @property
    def capacity(self) -> int:
        return self.rows * self.cols

    @property
    def free(self) -> int:
        return max(self.capacity - self.occupied, 0)

    @staticmethod
    def position_label(row: int, col: int) -> str:
        """Rows are letters and columns numbers, as printed on cryoboxes: row 2, column 3 is "B3"."""
        return f"{chr(64 + row)}{col}"

    def free_positions(self) -> list[tuple[int, int]]:
        """Free (row, col) positions in filling order (row by row). One query."""
        taken = set(self.vials.values_list("row", "col"))
        return [(r, c) for r in range(1, self.rows + 1) for c in range(1, self.cols + 1) if (r, c) not in taken]


class VialMove(models.Model):
    """One step in a vial's chain of custody: where from, where to, who, when and why."""

    vial = models.ForeignKey("lots.Vial", on_delete=models.PROTECT, related_name="moves")
    kind = models.CharField(_("kind"), max_length=12, choices=MoveKind.choices)
    from_box = models.ForeignKey(Box, on_delete=models.PROTECT, null=True, blank=True, related_name="+")
    from_row = models.PositiveSmallIntegerField(null=True, blank=True)
    from_col = models.PositiveSmallIntegerField(null=True, blank=True)
    from_rack = models.ForeignKey(Rack, on_delete=models.PROTECT, null=True, blank=True, related_name="+")
    to_box = models.ForeignKey(Box, on_delete=models.PROTECT, null=True, blank=True, related_name="+")
    to_row = models.PositiveSmallIntegerField(null=True, blank=True)
    to_col = models.PositiveSmallIntegerField(null=True, blank=True)
    to_rack = models.ForeignKey(Rack, on_delete=models.PROTECT, null=True, blank=True, related_name="+")
    moved_at = models.DateTimeField(_("moved at"), default=timezone.now)
    moved_by = models.ForeignKey(User, on_delete=models.PROTECT, related_name="+", null=True, blank=True)
    reason = models.CharField(_("reason"), max_length=300, blank=True)

    history = audit_history()

    class Meta:
        ordering = ["vial_id", "moved_at", "id"]
        indexes = [
            models.Index(fields=["vial", "moved_at"], name="storage_vialmove_vial_idx"),
            # An excursion's vials are put back where they were at the reading: the moves since then.
            models.Index(fields=["moved_at"], name="storage_vialmove_moved_at_idx"),
        ]
        verbose_name = _("vial move")
        verbose_name_plural = _("vial moves")

    def __str__(self) -> str:
        return f"{self.vial} {self.kind} {self.moved_at:%Y-%m-%d %H:%M}"


class TemperatureReading(models.Model):
    """A temperature posted by a unit's sensor."""

    unit = models.ForeignKey(StorageUnit, on_delete=models.PROTECT, related_name="readings")
    temperature_c = models.DecimalField(_("temperature (°C)"), max_digits=6, decimal_places=2)
    recorded_at = models.DateTimeField(_("recorded at"))
    received_at = models.DateTimeField(_("received at"), default=timezone.now)
    sensor = models.ForeignKey(User, on_delete=models.PROTECT, related_name="+", null=True, blank=True)

    history = audit_history()

    class Meta:
        ordering = ["unit_id", "-recorded_at", "-id"]
        # A sensor retrying a POST sends the same timestamp again: one reading per unit and instant.
        # The constraint's index also serves the chart and "latest reading" queries (scanned backwards).
        constraints = [
            models.UniqueConstraint(fields=["unit", "recorded_at"], name="storage_temperaturereading_unique_time"),
        ]
        verbose_name = _("temperature reading")
        verbose_name_plural = _("temperature readings")

    def __str__(self) -> str:
        return f"{self.unit.name} {self.temperature_c} °C at {self.recorded_at:%Y-%m-%d %H:%M}"


class ReadingRollup(models.Model):
    """Derived: the readings of one unit over one hour or one local day, summarised exactly (how many, lowest,
    highest, sum, first and last time). Kept by ``storage.services.rollups`` in the transaction that stores the
    readings, so the 30-day and one-year charts read a few hundred rows instead of a million, and the true
    extremes stay visible (an excursion shows as a band reaching outside the allowed range).

    No history: derived data, rebuilt from the readings on demand (``rebuild_rollups``), written on every reading.
    Once raw readings pass their retention period (``READINGS_RAW_RETENTION_DAYS``) these rows are what remains
    of them, so they are never deleted.
    """

    unit = models.ForeignKey(StorageUnit, on_delete=models.PROTECT, related_name="rollups")
    period = models.CharField(_("period"), max_length=4, choices=RollupPeriod.choices)
    start = models.DateTimeField(_("period start"))
    count = models.PositiveIntegerField(_("readings"))
    low = models.DecimalField(_("lowest (°C)"), max_digits=6, decimal_places=2)
    high = models.DecimalField(_("highest (°C)"), max_digits=6, decimal_places=2)
    # Hundredths of a degree summed as an integer: exact on both backends (SQLite sums decimals as floats).
    total_centi = models.BigIntegerField(_("sum (hundredths of °C)"))
    first_at = models.DateTimeField(_("first reading at"))
    last_at = models.DateTimeField(_("last reading at"))

    class Meta:
        ordering = ["unit_id", "period", "start"]
        # The constraint's index serves the upsert and the chart (unit, period, start range).
        constraints = [
            models.UniqueConstraint(fields=["unit", "period", "start"], name="storage_readingrollup_unique_bucket"),
            models.CheckConstraint(condition=models.Q(count__gte=1, high__gte=models.F("low")),
                                   name="storage_readingrollup_consistent"),
        ]
        verbose_name = _("reading summary")
        verbose_name_plural = _("reading summaries")

    def __str__(self) -> str:
        return f"{self.unit_id} {self.period} {self.start:%Y-%m-%d %H:%M}: {self.low}…{self.high} °C ({self.count})"

    @property
    def mean(self) -> float:
        return self.total_centi / self.count / 100


class ReadingPurge(models.Model):
    """The record of a retention run on one unit: raw readings recorded before ``before`` were deleted
    (``deleted``) after their retention period, except those an alarm needs (``kept``), which stay for ever.
    The hourly and daily summaries of the purged period stay too (``ReadingRollup``)."""

    unit = models.ForeignKey(StorageUnit, on_delete=models.PROTECT, related_name="reading_purges")
    before = models.DateTimeField(_("readings recorded before"))
    deleted = models.PositiveIntegerField(_("readings deleted"))
    kept = models.PositiveIntegerField(_("readings kept for alarms"))
    retention_days = models.PositiveIntegerField(_("retention period (days)"))
    purged_at = models.DateTimeField(_("purged at"), default=timezone.now)

    history = audit_history()

    class Meta:
        ordering = ["unit_id", "-before", "-id"]
        indexes = [models.Index(fields=["unit", "-before"], name="storage_readingpurge_unit_idx")]
        verbose_name = _("readings purge")
        verbose_name_plural = _("readings purges")

    def __str__(self) -> str:
        return f"{self.unit_id}: {self.deleted} readings before {self.before:%Y-%m-%d}"


class Alarm(models.Model):
    """An excursion or a silent sensor; acknowledged with a reason and an e-signature."""

    # Bookkeeping of the notification fan-out, not part of what the acknowledgement signs.
    SIGNATURE_EXCLUDE_FIELDS = ("notified_at", "vials_recorded_at", "snapshot_job")

    unit = models.ForeignKey(StorageUnit, on_delete=models.PROTECT, related_name="alarms")
    kind = models.CharField(_("kind"), max_length=15, choices=AlarmKind.choices)
    status = models.CharField(_("status"), max_length=15, choices=AlarmStatus.choices, default=AlarmStatus.ACTIVE)
    raised_at = models.DateTimeField(_("raised at"), default=timezone.now)
    reading = models.ForeignKey(
        TemperatureReading, on_delete=models.PROTECT, null=True, blank=True, related_name="alarms"
    )
    message = models.TextField(_("message"), blank=True)
    peak_temperature_c = models.DecimalField(
        _("most extreme temperature (°C)"), max_digits=6, decimal_places=2, null=True, blank=True,
        help_text=_("For an excursion: the reading furthest outside the range while the alarm was active."),
    )
    acknowledged_at = models.DateTimeField(_("acknowledged at"), null=True, blank=True)
    acknowledged_by = models.ForeignKey(User, on_delete=models.PROTECT, related_name="+", null=True, blank=True)
    acknowledgement_reason = models.TextField(_("acknowledgement reason"), blank=True)
    notified_at = models.DateTimeField(_("people notified at"), null=True, blank=True)
    # An excursion's vials are listed by the worker, seconds after the reading, as a job (storage.jobs
    # ``storage.excursion_snapshot``) whose progress the alarm page shows until ``vials_recorded_at`` is set.
    vials_recorded_at = models.DateTimeField(_("vials listed at"), null=True, blank=True)
    # The job is an operational row, not part of the record: should jobs ever be purged, the alarm keeps its
    # vials and ``vials_recorded_at`` and only loses the link to the progress bar (SET_NULL, never CASCADE).
    snapshot_job = models.ForeignKey("bank.Job", on_delete=models.SET_NULL, null=True, blank=True, related_name="+",
                                     verbose_name=_("job listing the vials"))
    affected_vials = models.ManyToManyField("lots.Vial", through="AlarmVial", related_name="alarms", blank=True)

    history = audit_history()

    class Meta:
        ordering = ["-raised_at", "-id"]
        indexes = [
            models.Index(fields=["-raised_at", "-id"], name="storage_alarm_order_idx"),
        ]
        constraints = [
            # At most one active alarm of a kind per unit: a second beat run or a second out-of-range
            # reading can never raise a duplicate, even when they race (the index also serves lookups).
            models.UniqueConstraint(
                fields=["unit", "kind"], condition=models.Q(status="active"), name="storage_alarm_unique_active"
            ),
        ]
        verbose_name = _("alarm")
        verbose_name_plural = _("alarms")

    def __str__(self) -> str:
        return f"{self.get_kind_display()} — {self.unit.name}"


class AlarmVial(models.Model):
    """A vial that was in the unit when an excursion happened (and where), for QA's assessment."""

    alarm = models.ForeignKey(Alarm, on_delete=models.PROTECT)
    vial = models.ForeignKey("lots.Vial", on_delete=models.PROTECT)
    box = models.ForeignKey(Box, on_delete=models.PROTECT, related_name="+")
    row = models.PositiveSmallIntegerField()
    col = models.PositiveSmallIntegerField()

    history = audit_history()

    class Meta:
        ordering = ["alarm_id", "box_id", "row", "col"]
        constraints = [models.UniqueConstraint(fields=["alarm", "vial"], name="storage_alarmvial_unique")]
        verbose_name = _("vial in an excursion")
        verbose_name_plural = _("vials in excursions")

    def __str__(self) -> str:
        return f"{self.alarm_id}: {self.vial_id}"
