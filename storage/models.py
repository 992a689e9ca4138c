"""Cryostorage: units (tanks, freezers) → racks → boxes; vial moves; temperature readings and alarms.

A vial's position lives on the vial (lots.Vial box/row/col); this app owns the places and the chain
of custody (``VialMove``).
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from bank.audit import audit_history
from storage.choices import AlarmKind, AlarmStatus, MoveKind, UnitKind

User = settings.AUTH_USER_MODEL


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


class Rack(models.Model):
    """A rack or canister inside a unit."""

    unit = models.ForeignKey(StorageUnit, on_delete=models.PROTECT, related_name="racks")
    name = models.CharField(_("name"), max_length=80)
    position = models.PositiveSmallIntegerField(_("position in unit"), default=1)

    history = audit_history()

    class Meta:
        ordering = ["unit_id", "position", "name"]
        constraints = [models.UniqueConstraint(fields=["unit", "name"], name="storage_rack_unique_name")]
        verbose_name = _("rack")
        verbose_name_plural = _("racks")

    def __str__(self) -> str:
        return f"{self.unit.name} / {self.name}"


class Box(models.Model):
    """A cryobox: a grid of rows × cols positions (1-based). Positions are computed, not stored."""

    rack = models.ForeignKey(Rack, on_delete=models.PROTECT, related_name="boxes")
    name = models.CharField(_("name"), max_length=80)
    barcode = models.CharField(_("barcode"), max_length=40, unique=True)
    rows = models.PositiveSmallIntegerField(_("rows"))
    cols = models.PositiveSmallIntegerField(_("columns"))
    position = models.PositiveSmallIntegerField(_("position in rack"), default=1)
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

    @property
    def capacity(self) -> int:
        return self.rows * self.cols


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
        indexes = [models.Index(fields=["vial", "moved_at"], name="storage_vialmove_vial_idx")]
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
        indexes = [models.Index(fields=["unit", "-recorded_at"], name="storage_reading_unit_time_idx")]
        verbose_name = _("temperature reading")
        verbose_name_plural = _("temperature readings")

    def __str__(self) -> str:
        return f"{self.unit.name} {self.temperature_c} °C at {self.recorded_at:%Y-%m-%d %H:%M}"


class Alarm(models.Model):
    """An excursion or a silent sensor; acknowledged with a reason and an e-signature."""

    unit = models.ForeignKey(StorageUnit, on_delete=models.PROTECT, related_name="alarms")
    kind = models.CharField(_("kind"), max_length=15, choices=AlarmKind.choices)
    status = models.CharField(_("status"), max_length=15, choices=AlarmStatus.choices, default=AlarmStatus.ACTIVE)
    raised_at = models.DateTimeField(_("raised at"), default=timezone.now)
    reading = models.ForeignKey(
        TemperatureReading, on_delete=models.PROTECT, null=True, blank=True, related_name="alarms"
    )
    message = models.TextField(_("message"), blank=True)
    acknowledged_at = models.DateTimeField(_("acknowledged at"), null=True, blank=True)
    acknowledged_by = models.ForeignKey(User, on_delete=models.PROTECT, related_name="+", null=True, blank=True)
    acknowledgement_reason = models.TextField(_("acknowledgement reason"), blank=True)
    affected_vials = models.ManyToManyField("lots.Vial", through="AlarmVial", related_name="alarms", blank=True)

    history = audit_history()

    class Meta:
        ordering = ["-raised_at", "-id"]
        indexes = [
            models.Index(fields=["-raised_at", "-id"], name="storage_alarm_order_idx"),
            models.Index(
                fields=["unit", "kind"], name="storage_alarm_active_idx", condition=models.Q(status="active")
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
