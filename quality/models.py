"""Operations and quality management (issue 16): the records that govern bench work.

- Methods: an ``SOP`` (a controlled document) has ``SOPVersion`` rows; each version is approved by QA with an
  e-signature when it is recorded, names the activities it governs and governs them from ``effective_on`` until a
  later version takes over (superseded versions are kept, with their files).
- Personnel: a ``Training`` of a user on one SOP version (trainer, date, assessment, expiry). A new version needs
  a new training: a training counts only for the version it names.
- Equipment: the register (``Equipment``) with its ``Calibration`` and maintenance records; the register keeps the
  due date and the last calibration's verdict on the instrument's row (the gate reads one row).
- Materials: received lots of media, reagents, cryoprotectants and consumables (``Material``), quarantined until QA
  releases them with an e-signature; ``MaterialUse`` records which passage or lot cited which material (the forward
  trace from a supplier's lot to cultures, lots, vials and recipients), ``InstrumentUse`` which freeze or QC result
  cited which instrument.

Regulated records are never deleted (``PROTECT``); every model keeps its history.
"""

from __future__ import annotations

import datetime

from django.conf import settings
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from bank.audit import audit_history
from quality.choices import (
    Activity,
    Assessment,
    CalibrationKind,
    EnvironmentLevel,
    EnvironmentParameter,
    EquipmentKind,
    EquipmentState,
    GMPGrade,
    MaterialKind,
    MaterialStatus,
)

User = settings.AUTH_USER_MODEL


class SOP(models.Model):
    """A standard operating procedure: a controlled document known by its code (e.g. SOP-CUL-001)."""

    code = models.CharField(_("code"), max_length=40, unique=True)
    title = models.CharField(_("title"), max_length=200)
    created_by = models.ForeignKey(User, on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField(_("created at"), default=timezone.now)

    history = audit_history()

    class Meta:
        ordering = ["code"]
        verbose_name = _("SOP")
        verbose_name_plural = _("SOPs")

    def __str__(self) -> str:
        return f"{self.code} {self.title}"


def sop_upload_to(instance: SOPVersion, filename: str) -> str:
    return f"quality/sops/{instance.sop.code}/v{instance.version}/{filename}"


class SOPVersion(models.Model):
    """One approved version of an SOP: it governs its ``activities`` from ``effective_on`` until a later version of
    the same SOP becomes effective. Approved by QA's e-signature when recorded (``approved_by``); never edited."""

    sop = models.ForeignKey(SOP, on_delete=models.PROTECT, related_name="versions")
    version = models.CharField(_("version"), max_length=20)
    effective_on = models.DateField(_("effective on"))
    activities = models.JSONField(_("activities governed"), default=list, blank=True)
    document = models.FileField(_("document"), upload_to=sop_upload_to, blank=True, max_length=300)
    document_sha256 = models.CharField(_("document SHA-256"), max_length=64, blank=True)
    summary = models.TextField(_("summary of changes"), blank=True)
    approved_by = models.ForeignKey(User, on_delete=models.PROTECT, related_name="+")
    approved_at = models.DateTimeField(_("approved at"), default=timezone.now)

    history = audit_history()

    class Meta:
        ordering = ["sop_id", "-effective_on", "-id"]
        indexes = [models.Index(fields=["sop", "-effective_on", "-id"], name="quality_sopversion_order_idx")]
        constraints = [
            models.UniqueConstraint(fields=["sop", "version"], name="quality_sopversion_unique_version"),
        ]
        verbose_name = _("SOP version")
        verbose_name_plural = _("SOP versions")

    def __str__(self) -> str:
        return f"{self.sop.code} v{self.version}"

    def signature_content(self) -> dict:
        """What QA's approval signs: the version's fields and its document (name and SHA-256 of its bytes)."""
        return {"sop": self.sop.code, "title": self.sop.title, "version": self.version,
                "effective_on": self.effective_on, "activities": list(self.activities or []), "summary": self.summary,
                "document": self.document.name or "", "document_sha256": self.document_sha256}

    def activity_labels(self) -> list[str]:
        return [str(Activity(a).label) if a in Activity.values else a for a in self.activities or []]


class Training(models.Model):
    """A user trained on one SOP version: by whom, when, how assessed, until when (``expires_on``: none, no
    expiry). It counts for that version only; a new version of the SOP needs a new training."""

    user = models.ForeignKey(User, on_delete=models.PROTECT, related_name="quality_trainings")
    sop_version = models.ForeignKey(SOPVersion, on_delete=models.PROTECT, related_name="trainings")
    trained_on = models.DateField(_("trained on"))
    expires_on = models.DateField(_("expires on"), null=True, blank=True)
    trainer = models.CharField(_("trainer"), max_length=150, blank=True)
    assessment = models.CharField(_("assessment"), max_length=20, choices=Assessment.choices,
                                  default=Assessment.PASSED)
    recorded_by = models.ForeignKey(User, on_delete=models.PROTECT, related_name="+")
    recorded_at = models.DateTimeField(_("recorded at"), default=timezone.now)
    reminded_on = models.DateField(_("reminder sent on"), null=True, blank=True)

    history = audit_history()

    class Meta:
        ordering = ["user_id", "sop_version_id", "-trained_on", "-id"]
        indexes = [
            models.Index(fields=["user", "sop_version", "-trained_on"], name="quality_training_lookup_idx"),
            models.Index(fields=["expires_on"], name="quality_training_expiry_idx",
                         condition=models.Q(expires_on__isnull=False)),
        ]
        constraints = [
            models.CheckConstraint(condition=models.Q(expires_on__isnull=True)
                                   | models.Q(expires_on__gte=models.F("trained_on")),
                                   name="quality_training_expiry_after_training"),
            models.CheckConstraint(condition=models.Q(assessment__in=Assessment.values),
                                   name="quality_training_assessment_valid"),
        ]
        verbose_name = _("training record")
        verbose_name_plural = _("training records")

    def __str__(self) -> str:
        return f"{self.user} · {self.sop_version}"

    def is_current_on(self, day: datetime.date) -> bool:
        return self.trained_on <= day and (self.expires_on is None or self.expires_on >= day)


class Equipment(models.Model):
    """An instrument of the register (a biosafety cabinet, an incubator, a cell counter, a storage unit...).

    ``calibration_due_on`` and ``last_calibration_passed`` are kept by ``record_calibration`` so the gate on a QC
    result or a freeze reads this one row."""

    code = models.CharField(_("code"), max_length=40, unique=True)
    name = models.CharField(_("name"), max_length=200)
    kind = models.CharField(_("kind"), max_length=30, choices=EquipmentKind.choices)
    location = models.CharField(_("location"), max_length=120, blank=True)
    storage_unit = models.OneToOneField("storage.StorageUnit", on_delete=models.PROTECT, null=True, blank=True,
                                        related_name="equipment_record", verbose_name=_("storage unit"))
    calibration_due_on = models.DateField(_("calibration due on"))
    last_calibration_passed = models.BooleanField(_("last calibration passed"), null=True, blank=True)
    retired = models.BooleanField(_("retired"), default=False)
    reminded_on = models.DateField(_("reminder sent on"), null=True, blank=True)
    created_by = models.ForeignKey(User, on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField(_("created at"), default=timezone.now)

    history = audit_history()

    class Meta:
        ordering = ["code"]
        indexes = [models.Index(fields=["calibration_due_on", "code"], name="quality_equipment_due_idx",
                                condition=models.Q(retired=False))]
        constraints = [models.CheckConstraint(condition=models.Q(kind__in=EquipmentKind.values),
                                              name="quality_equipment_kind_valid")]
        verbose_name = _("equipment")
        verbose_name_plural = _("equipment")

    def __str__(self) -> str:
        return f"{self.code} {self.name}"

    def state_on(self, day: datetime.date, *, soon_days: int = 30) -> str:
        if self.retired:
            return EquipmentState.RETIRED
        if self.last_calibration_passed is False:
            return EquipmentState.FAILED
        if self.calibration_due_on < day:
            return EquipmentState.OVERDUE
        if self.calibration_due_on <= day + datetime.timedelta(days=soon_days):
            return EquipmentState.DUE_SOON
        return EquipmentState.OK

    def usable_on(self, day: datetime.date) -> bool:
        return not self.retired and self.last_calibration_passed is not False and self.calibration_due_on >= day


class Calibration(models.Model):
    """A calibration (or maintenance) of an instrument: when, the verdict, the certificate and the next due date."""

    equipment = models.ForeignKey(Equipment, on_delete=models.PROTECT, related_name="calibrations")
    kind = models.CharField(_("kind"), max_length=20, choices=CalibrationKind.choices,
                            default=CalibrationKind.CALIBRATION)
    performed_on = models.DateField(_("performed on"))
    passed = models.BooleanField(_("passed"))
    next_due_on = models.DateField(_("next due on"))
    certificate = models.CharField(_("certificate"), max_length=200, blank=True)
    notes = models.TextField(_("notes"), blank=True)
    recorded_by = models.ForeignKey(User, on_delete=models.PROTECT, related_name="+")
    recorded_at = models.DateTimeField(_("recorded at"), default=timezone.now)

    history = audit_history()

    class Meta:
        ordering = ["equipment_id", "-performed_on", "-id"]
        indexes = [models.Index(fields=["equipment", "-performed_on", "-id"], name="quality_calibration_order_idx")]
        constraints = [models.CheckConstraint(condition=models.Q(next_due_on__gte=models.F("performed_on")),
                                              name="quality_calibration_due_after_performed")]
        verbose_name = _("calibration")
        verbose_name_plural = _("calibrations")

    def __str__(self) -> str:
        return f"{self.equipment.code} {self.performed_on}"


class Material(models.Model):
    """A received lot of a medium, reagent, cryoprotectant or consumable: quarantined on receipt, released by QA
    (e-signature) after incoming inspection, usable until ``expires_on``."""

    name = models.CharField(_("name"), max_length=200)
    kind = models.CharField(_("kind"), max_length=20, choices=MaterialKind.choices)
    lot_number = models.CharField(_("supplier's lot number"), max_length=80)
    supplier = models.CharField(_("supplier"), max_length=200)
    expires_on = models.DateField(_("expires on"))
    received_on = models.DateField(_("received on"))
    certificate = models.CharField(_("certificate of analysis"), max_length=200, blank=True)
    inspection = models.TextField(_("incoming inspection"), blank=True)
    status = models.CharField(_("status"), max_length=20, choices=MaterialStatus.choices,
                              default=MaterialStatus.QUARANTINE)
    released_by = models.ForeignKey(User, on_delete=models.PROTECT, null=True, blank=True, related_name="+")
    released_at = models.DateTimeField(_("released at"), null=True, blank=True)
    created_by = models.ForeignKey(User, on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField(_("created at"), default=timezone.now)

    history = audit_history()
    SIGNATURE_EXCLUDE_FIELDS = ("status", "released_by", "released_at")

    class Meta:
        ordering = ["-received_on", "-id"]
        indexes = [
            models.Index(fields=["-received_on", "-id"], name="quality_material_order_idx"),
            models.Index(fields=["lot_number"], name="quality_material_lot_idx"),
        ]
        constraints = [
            models.UniqueConstraint(fields=["supplier", "name", "lot_number"], name="quality_material_unique_lot"),
            models.CheckConstraint(condition=models.Q(status__in=MaterialStatus.values),
                                   name="quality_material_status_valid"),
            models.CheckConstraint(condition=models.Q(kind__in=MaterialKind.values),
                                   name="quality_material_kind_valid"),
        ]
        verbose_name = _("material lot")
        verbose_name_plural = _("material lots")
        permissions = [("release_material", _("Can sign the release of material lots"))]

    def __str__(self) -> str:
        return f"{self.name} {self.lot_number}"

    def is_expired_on(self, day: datetime.date) -> bool:
        return self.expires_on < day


class MaterialUse(models.Model):
    """A passage or a lot that cited a material lot (what a supplier's recall traces forward)."""

    material = models.ForeignKey(Material, on_delete=models.PROTECT, related_name="uses")
    activity = models.CharField(_("activity"), max_length=30, choices=Activity.choices)
    used_on = models.DateField(_("used on"))
    passage = models.ForeignKey("lots.Passage", on_delete=models.PROTECT, null=True, blank=True, related_name="+")
    lot = models.ForeignKey("lots.Lot", on_delete=models.PROTECT, null=True, blank=True, related_name="+")
    used_by = models.ForeignKey(User, on_delete=models.PROTECT, related_name="+")

    history = audit_history()

    class Meta:
        ordering = ["material_id", "used_on", "id"]
        indexes = [models.Index(fields=["material", "used_on", "id"], name="quality_materialuse_trace_idx")]
        constraints = [models.CheckConstraint(condition=models.Q(passage__isnull=False) | models.Q(lot__isnull=False),
                                              name="quality_materialuse_has_subject")]
        verbose_name = _("material use")
        verbose_name_plural = _("material uses")

    def __str__(self) -> str:
        return f"{self.material} · {self.activity} {self.used_on}"


class InstrumentUse(models.Model):
    """A freeze or QC result that cited an instrument of the register."""

    equipment = models.ForeignKey(Equipment, on_delete=models.PROTECT, related_name="uses")
    activity = models.CharField(_("activity"), max_length=30, choices=Activity.choices)
    used_on = models.DateField(_("used on"))
    lot = models.ForeignKey("lots.Lot", on_delete=models.PROTECT, null=True, blank=True, related_name="+")
    qc_result = models.ForeignKey("qc.QCResult", on_delete=models.PROTECT, null=True, blank=True, related_name="+")
    used_by = models.ForeignKey(User, on_delete=models.PROTECT, related_name="+")

    history = audit_history()

    class Meta:
        ordering = ["equipment_id", "-used_on", "-id"]
        indexes = [models.Index(fields=["equipment", "-used_on", "-id"], name="quality_instrumentuse_idx")]
        verbose_name = _("instrument use")
        verbose_name_plural = _("instrument uses")

    def __str__(self) -> str:
        return f"{self.equipment.code} · {self.activity} {self.used_on}"


class Cleanroom(models.Model):
    """A cleanroom (or a zone of one) with its EU GMP grade; the grade sets its particle and microbial limits."""

    code = models.CharField(_("code"), max_length=40, unique=True)
    name = models.CharField(_("name"), max_length=200)
    grade = models.CharField(_("GMP grade"), max_length=1, choices=GMPGrade.choices)
    created_by = models.ForeignKey(User, on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField(_("created at"), default=timezone.now)

    history = audit_history()

    class Meta:
        ordering = ["code"]
        constraints = [models.CheckConstraint(condition=models.Q(grade__in=GMPGrade.values),
                                              name="quality_cleanroom_grade_valid")]
        verbose_name = _("cleanroom")
        verbose_name_plural = _("cleanrooms")

    def __str__(self) -> str:
        return f"{self.code} ({self.grade})"


class EnvironmentResult(models.Model):
    """One environmental monitoring result of a room, judged against the limits of its grade (copied at entry). An
    action-limit excursion opens a QC deviation on each lot processed in the room that day (``deviations``)."""

    room = models.ForeignKey(Cleanroom, on_delete=models.PROTECT, related_name="results")
    parameter = models.CharField(_("parameter"), max_length=20, choices=EnvironmentParameter.choices)
    sampled_on = models.DateField(_("sampled on"))
    location = models.CharField(_("sampling point"), max_length=120, blank=True)
    value = models.DecimalField(_("value"), max_digits=12, decimal_places=2)
    alert_limit = models.DecimalField(_("alert limit"), max_digits=12, decimal_places=2)
    action_limit = models.DecimalField(_("action limit"), max_digits=12, decimal_places=2)
    level = models.CharField(_("level"), max_length=10, choices=EnvironmentLevel.choices)
    lots = models.JSONField(_("lots processed that day"), default=list, blank=True)
    deviations = models.JSONField(_("deviations opened"), default=list, blank=True)
    recorded_by = models.ForeignKey(User, on_delete=models.PROTECT, related_name="+")
    recorded_at = models.DateTimeField(_("recorded at"), default=timezone.now)

    history = audit_history()

    class Meta:
        ordering = ["room_id", "-sampled_on", "-id"]
        indexes = [models.Index(fields=["room", "-sampled_on", "-id"], name="quality_envresult_room_idx"),
                   models.Index(fields=["-sampled_on", "-id"], name="quality_envresult_action_idx",
                                condition=models.Q(level="action"))]
        constraints = [models.CheckConstraint(condition=models.Q(value__gte=0),
                                              name="quality_environmentresult_value_positive")]
        verbose_name = _("environmental monitoring result")
        verbose_name_plural = _("environmental monitoring results")

    def __str__(self) -> str:
        return f"{self.room.code} {self.parameter} {self.sampled_on}"


class RoomUse(models.Model):
    """A passage or freeze recorded in a cleanroom (the lots an excursion of that room and day concerns)."""

    room = models.ForeignKey(Cleanroom, on_delete=models.PROTECT, related_name="uses")
    activity = models.CharField(_("activity"), max_length=30, choices=Activity.choices)
    used_on = models.DateField(_("used on"))
    passage = models.ForeignKey("lots.Passage", on_delete=models.PROTECT, null=True, blank=True, related_name="+")
    lot = models.ForeignKey("lots.Lot", on_delete=models.PROTECT, null=True, blank=True, related_name="+")
    used_by = models.ForeignKey(User, on_delete=models.PROTECT, related_name="+")

    history = audit_history()

    class Meta:
        ordering = ["room_id", "used_on", "id"]
        indexes = [models.Index(fields=["room", "used_on"], name="quality_roomuse_day_idx")]
        constraints = [models.CheckConstraint(condition=models.Q(passage__isnull=False) | models.Q(lot__isnull=False),
                                              name="quality_roomuse_has_subject")]
        verbose_name = _("room use")
        verbose_name_plural = _("room uses")

    def __str__(self) -> str:
        return f"{self.room.code} · {self.activity} {self.used_on}"
