"""Transplant centres and the path of a cord blood unit to a patient.

A ``TransplantCentre`` (a qualified transplant hospital) has clinicians (users of role ``clinician`` linked by
``CentreClinician``) and pseudonymous ``Patient``s (a code, a diagnosis, a weight, a blood group and an HLA
typing; never a name). A clinician searches public units for a patient, asks for confirmatory typing
(``TypingRequest``, completed by the bank with a ``cordblood.VerificationTyping``), reserves a unit until a
date (``Reservation``), then orders it for an infusion date (``Order``): the medical director releases it for
administration (an e-signature; an exceptional release also needs a justification and the centre's
acknowledgement), the bank ships the bag, the centre receives it, reports the thaw and infusion
(``ThawReport``) and the outcome at day 100 and one year (``FollowUp``).
"""

from __future__ import annotations

import datetime

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from bank.audit import audit_history
from bank.identifiers import IdentifierField
from transplant.choices import (
    ABO,
    AdverseEventKind,
    AdverseEventSeverity,
    ArrivalCondition,
    FollowUpStatus,
    GVHDGrade,
    Milestone,
    OrderStatus,
    ReleaseKind,
    ReservationStatus,
    Rh,
    Survival,
    TypingRequestStatus,
)

User = settings.AUTH_USER_MODEL


class TransplantCentre(models.Model):
    """A transplant hospital qualified to receive the bank's units (accreditation, e.g. FACT-JACIE, until a date)."""

    code = IdentifierField(_("code"), max_length=20, unique=True)
    name = models.CharField(_("name"), max_length=200)
    city = models.CharField(_("city"), max_length=100, blank=True)
    accreditation_until = models.DateField(_("accredited until"), null=True, blank=True)
    active = models.BooleanField(_("active"), default=True)

    history = audit_history()

    class Meta:
        ordering = ["code"]
        verbose_name = _("transplant centre")
        verbose_name_plural = _("transplant centres")

    def __str__(self) -> str:
        return f"{self.code} {self.name}"

    def is_qualified(self, on: datetime.date | None = None) -> bool:
        """Active and accredited on ``on`` (today by default)."""
        on = on or timezone.localdate()
        return self.active and self.accreditation_until is not None and self.accreditation_until >= on


class CentreClinician(models.Model):
    """A clinician's account linked to the one centre they work for."""

    user = models.OneToOneField(User, on_delete=models.PROTECT, related_name="transplant_centre_link")
    centre = models.ForeignKey(TransplantCentre, on_delete=models.PROTECT, related_name="clinicians")
    active = models.BooleanField(_("active"), default=True)

    history = audit_history()

    class Meta:
        ordering = ["centre_id", "user_id"]
        verbose_name = _("centre clinician")
        verbose_name_plural = _("centre clinicians")

    def __str__(self) -> str:
        return f"{self.user} @ {self.centre.code}"


def hla_text(hla: dict | None) -> str:
    """A patient's typing on one line, locus by locus in the usual order: ``A*02:01/A*24:02; B*...``."""
    hla = hla or {}
    return "; ".join("/".join(hla.get(locus) or []) for locus in ("A", "B", "C", "DRB1", "DQB1") if hla.get(locus))


class Patient(models.Model):
    """A centre's patient, pseudonymous: the centre's code, a diagnosis, weight, blood group and HLA; no name."""

    centre = models.ForeignKey(TransplantCentre, on_delete=models.PROTECT, related_name="patients")
    code = IdentifierField(_("patient code"), max_length=30)
    diagnosis = models.CharField(_("diagnosis"), max_length=200)
    weight_kg = models.DecimalField(_("weight (kg)"), max_digits=5, decimal_places=1)
    abo = models.CharField(_("ABO"), max_length=2, choices=ABO.choices, blank=True)
    rh = models.CharField(_("Rh"), max_length=3, choices=Rh.choices, blank=True)
    # {"A": ["A*02:01", "A*24:02"], "B": [...], "C": [...], "DRB1": [...], "DQB1": [...]}
    hla = models.JSONField(_("HLA"), default=dict)
    created_by = models.ForeignKey(User, on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField(_("created at"), default=timezone.now)

    history = audit_history()

    class Meta:
        ordering = ["centre_id", "code"]
        verbose_name = _("patient")
        verbose_name_plural = _("patients")
        permissions = [("search_units", "Search cord blood units for a patient")]
        constraints = [
            models.UniqueConstraint(fields=["centre", "code"], name="%(app_label)s_%(class)s_code_per_centre"),
            models.CheckConstraint(condition=Q(weight_kg__gt=0), name="%(app_label)s_%(class)s_weight_positive"),
        ]
        indexes = [models.Index(fields=["centre", "code"], name="transplant_patient_order_idx")]

    def __str__(self) -> str:
        return self.code

    def hla_text(self) -> str:
        return hla_text(self.hla)


class TypingRequest(models.Model):
    """A centre's request for confirmatory typing (CT) of a unit for a patient, with its turnaround clock: due
    ``TRANSPLANT_CT_DUE_DAYS`` after the request; completed when the bank records the verification typing."""

    unit = models.ForeignKey("cordblood.CordBloodUnit", on_delete=models.PROTECT, related_name="typing_requests")
    patient = models.ForeignKey(Patient, on_delete=models.PROTECT, related_name="typing_requests")
    status = models.CharField(_("status"), max_length=10, choices=TypingRequestStatus.choices,
                              default=TypingRequestStatus.REQUESTED)
    requested_by = models.ForeignKey(User, on_delete=models.PROTECT, related_name="+")
    requested_at = models.DateTimeField(_("requested at"), default=timezone.now)
    due_on = models.DateField(_("due on"))
    typing = models.OneToOneField("cordblood.VerificationTyping", on_delete=models.PROTECT, null=True, blank=True,
                                  related_name="typing_request")
    completed_by = models.ForeignKey(User, on_delete=models.PROTECT, related_name="+", null=True, blank=True)
    completed_at = models.DateTimeField(_("completed at"), null=True, blank=True)
    cancelled_by = models.ForeignKey(User, on_delete=models.PROTECT, related_name="+", null=True, blank=True)
    cancelled_at = models.DateTimeField(_("cancelled at"), null=True, blank=True)
    cancel_reason = models.CharField(_("reason for cancelling"), max_length=300, blank=True)

    history = audit_history()

    class Meta:
        ordering = ["-requested_at", "-id"]
        verbose_name = _("confirmatory typing request")
        verbose_name_plural = _("confirmatory typing requests")
        permissions = [("complete_typingrequest", "Record the confirmatory typing the centre asked for")]
        indexes = [
            models.Index(fields=["-requested_at", "-id"], name="transplant_ct_order_idx"),
            models.Index(fields=["due_on"], name="transplant_ct_open_idx", condition=Q(status="requested")),
        ]

    def __str__(self) -> str:
        return f"CT {self.unit} / {self.patient}"

    @property
    def is_overdue(self) -> bool:
        if self.status == TypingRequestStatus.COMPLETED:
            return self.completed_at is not None and timezone.localdate(self.completed_at) > self.due_on
        return self.status == TypingRequestStatus.REQUESTED and timezone.localdate() > self.due_on

    @property
    def turnaround_days(self) -> int | None:
        if self.completed_at is None:
            return None
        return (timezone.localdate(self.completed_at) - timezone.localdate(self.requested_at)).days


class Reservation(models.Model):
    """A unit held for a patient until a date (WMDA "reserved"); one live reservation per unit. An expired
    reservation frees the unit (``transplant.tasks.expire_reservations``); an order keeps it."""

    unit = models.ForeignKey("cordblood.CordBloodUnit", on_delete=models.PROTECT, related_name="reservations")
    patient = models.ForeignKey(Patient, on_delete=models.PROTECT, related_name="reservations")
    bag = models.ForeignKey("lots.Vial", on_delete=models.PROTECT, related_name="+", null=True, blank=True)
    status = models.CharField(_("status"), max_length=10, choices=ReservationStatus.choices,
                              default=ReservationStatus.ACTIVE)
    until = models.DateField(_("reserved until"))
    reserved_by = models.ForeignKey(User, on_delete=models.PROTECT, related_name="+")
    reserved_at = models.DateTimeField(_("reserved at"), default=timezone.now)
    ended_at = models.DateTimeField(_("ended at"), null=True, blank=True)

    history = audit_history()

    class Meta:
        ordering = ["-reserved_at", "-id"]
        verbose_name = _("reservation")
        verbose_name_plural = _("reservations")
        constraints = [
            models.UniqueConstraint(fields=["unit"], condition=Q(status__in=["active", "ordered"]),
                                    name="%(app_label)s_%(class)s_one_live_per_unit"),
        ]
        indexes = [
            models.Index(fields=["-reserved_at", "-id"], name="transplant_res_order_idx"),
            models.Index(fields=["until"], name="transplant_res_active_idx", condition=Q(status="active")),
        ]

    def __str__(self) -> str:
        return f"{self.unit} → {self.patient}"


class Order(models.Model):
    """A reserved unit ordered for an infusion date, from release for administration to infusion."""

    number = models.CharField(_("number"), max_length=20, unique=True)
    reservation = models.OneToOneField(Reservation, on_delete=models.PROTECT, related_name="order")
    unit = models.ForeignKey("cordblood.CordBloodUnit", on_delete=models.PROTECT, related_name="transplant_orders")
    patient = models.ForeignKey(Patient, on_delete=models.PROTECT, related_name="orders")
    status = models.CharField(_("status"), max_length=10, choices=OrderStatus.choices, default=OrderStatus.ORDERED)
    infusion_date = models.DateField(_("planned infusion date"))
    ordered_by = models.ForeignKey(User, on_delete=models.PROTECT, related_name="+")
    ordered_at = models.DateTimeField(_("ordered at"), default=timezone.now)
    # Release for administration (the medical director's e-signature, bank.Signature on this order).
    release_kind = models.CharField(_("release"), max_length=12, choices=ReleaseKind.choices, blank=True)
    release_exceptions = models.JSONField(_("criteria not met"), default=list, blank=True)
    justification = models.TextField(_("justification"), blank=True)
    released_by = models.ForeignKey(User, on_delete=models.PROTECT, related_name="+", null=True, blank=True)
    released_at = models.DateTimeField(_("released at"), null=True, blank=True)
    # An exceptional release: the centre's clinician acknowledges it (an e-signature) before shipment.
    acknowledged_by = models.ForeignKey(User, on_delete=models.PROTECT, related_name="+", null=True, blank=True)
    acknowledged_at = models.DateTimeField(_("acknowledged at"), null=True, blank=True)
    # Shipment: only the unit's bag leaves.
    bag = models.ForeignKey("lots.Vial", on_delete=models.PROTECT, related_name="+", null=True, blank=True)
    dry_shipper = models.ForeignKey("DryShipper", on_delete=models.PROTECT, related_name="orders", null=True,
                                    blank=True)
    documents = models.JSONField(_("document pack"), default=list, blank=True)
    courier = models.CharField(_("courier"), max_length=120, blank=True)
    shipped_by = models.ForeignKey(User, on_delete=models.PROTECT, related_name="+", null=True, blank=True)
    shipped_at = models.DateTimeField(_("shipped at"), null=True, blank=True)
    received_by = models.ForeignKey(User, on_delete=models.PROTECT, related_name="+", null=True, blank=True)
    received_at = models.DateTimeField(_("received at"), null=True, blank=True)
    arrival_condition = models.CharField(_("condition on arrival"), max_length=10, choices=ArrivalCondition.choices,
                                         blank=True)
    receipt_notes = models.TextField(_("receipt notes"), blank=True)

    # The signature covers the order's content as released; later steps change these without touching it.
    SIGNATURE_EXCLUDE_FIELDS = ("status", "acknowledged_by", "acknowledged_at", "bag", "dry_shipper", "documents",
                                "courier", "shipped_by", "shipped_at", "received_by", "received_at",
                                "arrival_condition", "receipt_notes", "released_at", "released_by")

    history = audit_history()

    class Meta:
        ordering = ["-ordered_at", "-id"]
        verbose_name = _("transplant order")
        verbose_name_plural = _("transplant orders")
        permissions = [
            ("release_order", "Release a unit for administration (medical director)"),
            ("ship_order", "Ship a released unit to its transplant centre"),
            ("receive_order", "Confirm receipt and report the thaw, infusion and outcome"),
        ]
        indexes = [
            models.Index(fields=["-ordered_at", "-id"], name="transplant_order_order_idx"),
            models.Index(fields=["status"], name="transplant_order_status_idx"),
        ]

    def __str__(self) -> str:
        return self.number

    @property
    def is_exceptional(self) -> bool:
        return self.release_kind == ReleaseKind.EXCEPTIONAL


class DryShipper(models.Model):
    """A dry shipper (LN2 vapour) the bank validated for holding temperature, with the validation's end date."""

    code = IdentifierField(_("shipper id"), max_length=30, unique=True)
    description = models.CharField(_("description"), max_length=200, blank=True)
    validated_until = models.DateField(_("validated until"))
    active = models.BooleanField(_("active"), default=True)

    history = audit_history()

    class Meta:
        ordering = ["code"]
        verbose_name = _("dry shipper")
        verbose_name_plural = _("dry shippers")

    def __str__(self) -> str:
        return self.code


class TemperatureLog(models.Model):
    """The temperature logger's file of a shipment, kept in the database with its SHA-256 (so a backup of the
    database holds it, and nobody can swap the file unnoticed)."""

    order = models.ForeignKey(Order, on_delete=models.PROTECT, related_name="temperature_logs")
    filename = models.CharField(_("file name"), max_length=200)
    content_type = models.CharField(_("content type"), max_length=100, blank=True)
    content = models.BinaryField(_("content"))
    size = models.PositiveIntegerField(_("size (bytes)"))
    sha256 = models.CharField(_("SHA-256"), max_length=64)
    uploaded_by = models.ForeignKey(User, on_delete=models.PROTECT, related_name="+")
    uploaded_at = models.DateTimeField(_("uploaded at"), default=timezone.now)

    # Audited like every record; the file itself is not copied into the history (its SHA-256 is).
    history = audit_history(excluded_fields=["content"])

    class Meta:
        ordering = ["order_id", "uploaded_at"]
        verbose_name = _("temperature log")
        verbose_name_plural = _("temperature logs")

    def __str__(self) -> str:
        return self.filename


class ThawReport(models.Model):
    """The centre's thaw and infusion report (NetCord-FACT post-thaw: viable CD34 > 70 %, viable CD45 > 40 %)."""

    order = models.OneToOneField(Order, on_delete=models.PROTECT, related_name="thaw_report")
    thawed_at = models.DateTimeField(_("thawed at"))
    viable_cd34_pct = models.DecimalField(_("viable CD34+ (%)"), max_digits=5, decimal_places=1)
    viable_cd45_pct = models.DecimalField(_("viable CD45+ (%)"), max_digits=5, decimal_places=1)
    cfu_growth = models.BooleanField(_("CFU growth"))
    identity_confirmed = models.BooleanField(_("unit identity confirmed at the bedside"))
    infused_on = models.DateField(_("infused on"))
    adverse_events = models.TextField(_("adverse events"), blank=True)
    recorded_by = models.ForeignKey(User, on_delete=models.PROTECT, related_name="+")
    recorded_at = models.DateTimeField(_("recorded at"), default=timezone.now)

    history = audit_history()

    class Meta:
        ordering = ["-recorded_at"]
        verbose_name = _("thaw and infusion report")
        verbose_name_plural = _("thaw and infusion reports")
        constraints = [
            models.CheckConstraint(condition=Q(viable_cd34_pct__gte=0, viable_cd34_pct__lte=100,
                                               viable_cd45_pct__gte=0, viable_cd45_pct__lte=100),
                                   name="%(app_label)s_%(class)s_percentages"),
        ]

    def __str__(self) -> str:
        return f"{self.order} thaw"

    @property
    def meets_post_thaw_criteria(self) -> bool:
        return self.viable_cd34_pct > 70 and self.viable_cd45_pct > 40 and self.cfu_growth and self.identity_confirmed


class FollowUp(models.Model):
    """The outcome of a transplant at a milestone (day 100, one year after infusion): engraftment, GVHD,
    survival. Due on a date; the centre is reminded until it is recorded."""

    order = models.ForeignKey(Order, on_delete=models.PROTECT, related_name="follow_ups")
    milestone = models.CharField(_("milestone"), max_length=8, choices=Milestone.choices)
    due_on = models.DateField(_("due on"))
    status = models.CharField(_("status"), max_length=10, choices=FollowUpStatus.choices, default=FollowUpStatus.DUE)
    engrafted = models.BooleanField(_("neutrophil engraftment"), null=True, blank=True)
    engraftment_day = models.PositiveSmallIntegerField(_("engraftment day"), null=True, blank=True)
    gvhd_grade = models.CharField(_("acute GVHD grade"), max_length=3, choices=GVHDGrade.choices, blank=True)
    chronic_gvhd = models.BooleanField(_("chronic GVHD"), null=True, blank=True)
    survival = models.CharField(_("survival"), max_length=6, choices=Survival.choices, blank=True)
    notes = models.TextField(_("notes"), blank=True)
    recorded_by = models.ForeignKey(User, on_delete=models.PROTECT, related_name="+", null=True, blank=True)
    recorded_at = models.DateTimeField(_("recorded at"), null=True, blank=True)
    reminded_at = models.DateTimeField(_("last reminded at"), null=True, blank=True)

    history = audit_history()

    class Meta:
        ordering = ["due_on", "id"]
        verbose_name = _("follow-up")
        verbose_name_plural = _("follow-ups")
        constraints = [
            models.UniqueConstraint(fields=["order", "milestone"], name="%(app_label)s_%(class)s_one_per_milestone"),
        ]
        indexes = [
            models.Index(fields=["due_on", "id"], name="transplant_fu_order_idx"),
            models.Index(fields=["due_on"], name="transplant_fu_due_idx", condition=Q(status="due")),
        ]

    def __str__(self) -> str:
        return f"{self.order} {self.get_milestone_display()}"

    @property
    def is_overdue(self) -> bool:
        return self.status == FollowUpStatus.DUE and timezone.localdate() > self.due_on


class LookBackNotice(models.Model):
    """A recall's look-back for one transplant order: the unit's lot was recalled (or its donor withdrew consent)
    after the bag left the bank, so the centre's clinicians and the medical directors were told. The recall itself
    (``distribution.Recall``) lists the recipients distribution knows; this lists the patients only transplant
    knows."""

    recall = models.ForeignKey("distribution.Recall", on_delete=models.PROTECT, related_name="transplant_look_backs")
    order = models.ForeignKey(Order, on_delete=models.PROTECT, related_name="look_back_notices")
    centre = models.ForeignKey(TransplantCentre, on_delete=models.PROTECT, related_name="look_back_notices")
    order_status = models.CharField(_("order status when notified"), max_length=10, choices=OrderStatus.choices)
    created_at = models.DateTimeField(_("created at"), default=timezone.now)

    history = audit_history()

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name = _("look-back notice")
        verbose_name_plural = _("look-back notices")
        constraints = [
            models.UniqueConstraint(fields=["recall", "order"], name="%(app_label)s_%(class)s_one_per_order"),
        ]
        indexes = [models.Index(fields=["-created_at", "-id"], name="transplant_lookback_order_idx")]

    def __str__(self) -> str:
        return f"{self.order} / recall {self.recall_id}"


class AdverseEvent(models.Model):
    """An adverse event a centre reports after the unit was shipped (an infusion reaction, a positive culture of
    the product, a suspected transmission, a product failure ...). QA and the medical director are alerted and QA
    may link it to the recall it starts."""

    order = models.ForeignKey(Order, on_delete=models.PROTECT, related_name="adverse_events")
    kind = models.CharField(_("kind"), max_length=20, choices=AdverseEventKind.choices)
    severity = models.CharField(_("severity"), max_length=20, choices=AdverseEventSeverity.choices)
    occurred_on = models.DateField(_("occurred on"))
    description = models.TextField(_("description"))
    reported_by = models.ForeignKey(User, on_delete=models.PROTECT, related_name="+")
    reported_at = models.DateTimeField(_("reported at"), default=timezone.now)
    recall = models.ForeignKey("distribution.Recall", on_delete=models.PROTECT, null=True, blank=True,
                               related_name="transplant_adverse_events")
    recall_linked_by = models.ForeignKey(User, on_delete=models.PROTECT, related_name="+", null=True, blank=True)
    recall_linked_at = models.DateTimeField(_("linked to the recall at"), null=True, blank=True)

    history = audit_history()

    class Meta:
        ordering = ["-reported_at", "-id"]
        verbose_name = _("adverse event")
        verbose_name_plural = _("adverse events")
        indexes = [models.Index(fields=["-reported_at", "-id"], name="transplant_ae_order_idx")]

    def __str__(self) -> str:
        return f"{self.order} {self.get_kind_display()}"
