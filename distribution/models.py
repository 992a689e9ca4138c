"""Distribution: MTA versions, researcher requests, allocated vials, shipments, recalls."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from bank.audit import audit_history
from bank.identifiers import IdentifierField
from distribution.choices import (
    ArrivalCondition,
    InstitutionType,
    IntendedUse,
    RecallSource,
    RequestStatus,
    ShipperType,
)

User = settings.AUTH_USER_MODEL


class MaterialTransferAgreement(models.Model):
    """A version of the MTA text a researcher accepts with each request."""

    version = models.CharField(_("version"), max_length=40, unique=True)
    title = models.CharField(_("title"), max_length=200)
    text = models.TextField(_("text"))
    effective_from = models.DateField(_("effective from"))
    active = models.BooleanField(_("in use"), default=True)

    history = audit_history()

    class Meta:
        ordering = ["-effective_from", "-id"]
        verbose_name = _("material transfer agreement")
        verbose_name_plural = _("material transfer agreements")

    def __str__(self) -> str:
        return self.version


class DistributionRequest(models.Model):
    """A researcher's request for vials of a line, under an accepted MTA."""

    number = IdentifierField(_("number"), max_length=30, unique=True)
    researcher = models.ForeignKey(User, on_delete=models.PROTECT, related_name="distribution_requests")
    cell_line = models.ForeignKey("lots.CellLine", on_delete=models.PROTECT, related_name="requests")
    vials = models.PositiveIntegerField(_("vials"))
    intended_use = models.CharField(_("intended use"), max_length=12, choices=IntendedUse.choices)
    project_title = models.CharField(_("project title"), max_length=300)
    project_summary = models.TextField(_("project summary"), blank=True)
    institution = models.CharField(_("institution"), max_length=200, blank=True)
    # Issue 15: the fee follows the institution's type; a recipient outside settings.BANK_COUNTRY needs an export
    # approval before shipping. db_default: rows written before issue 15 (and bulk loaders) are public, domestic.
    institution_type = models.CharField(_("institution type"), max_length=10, choices=InstitutionType.choices,
                                        default=InstitutionType.PUBLIC, db_default=InstitutionType.PUBLIC)
    recipient_country = models.CharField(_("recipient country"), max_length=2, default="CN", db_default="CN",
                                         help_text=_("ISO 3166-1 alpha-2"))
    shipping_address = models.TextField(_("shipping address"), blank=True)
    mta = models.ForeignKey(MaterialTransferAgreement, on_delete=models.PROTECT, related_name="requests")
    mta_accepted_at = models.DateTimeField(_("MTA accepted at"))
    fee_amount = models.DecimalField(_("fee"), max_digits=12, decimal_places=2, default=0)
    fee_currency = models.CharField(_("currency"), max_length=3, default="CNY")
    status = models.CharField(_("status"), max_length=10, choices=RequestStatus.choices,
                              default=RequestStatus.SUBMITTED)
    submitted_at = models.DateTimeField(_("submitted at"), default=timezone.now)
    decided_at = models.DateTimeField(_("decided at"), null=True, blank=True)
    decided_by = models.ForeignKey(User, on_delete=models.PROTECT, related_name="+", null=True, blank=True)
    decision_reason = models.TextField(_("decision reason"), blank=True)
    cancelled_at = models.DateTimeField(_("cancelled at"), null=True, blank=True)

    history = audit_history()

    class Meta:
        ordering = ["-submitted_at", "-id"]
        indexes = [
            models.Index(fields=["-submitted_at", "-id"], name="distrib_request_order_idx"),
            models.Index(fields=["researcher", "-submitted_at"], name="distrib_request_owner_idx"),
            models.Index(fields=["status"], name="distrib_request_status_idx"),
        ]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(vials__gte=1), name="distribution_distributionrequest_vials_positive"
            ),
        ]
        verbose_name = _("distribution request")
        verbose_name_plural = _("distribution requests")
        permissions = [
            ("review_request", _("Can approve or reject distribution requests")),
            ("ship_request", _("Can pick and ship distribution requests")),
            ("view_catalog", _("Can browse the catalog of released lines")),
            ("view_trace", _("Can trace vials, lots and donors")),
        ]

    def __str__(self) -> str:
        return self.number


class Allocation(models.Model):
    """A vial reserved for a request. Released (``released_at``) if the request ends before shipping."""

    request = models.ForeignKey(DistributionRequest, on_delete=models.PROTECT, related_name="allocations")
    vial = models.ForeignKey("lots.Vial", on_delete=models.PROTECT, related_name="allocations")
    allocated_at = models.DateTimeField(_("allocated at"), default=timezone.now)
    picked_at = models.DateTimeField(_("picked at"), null=True, blank=True)
    picked_by = models.ForeignKey(User, on_delete=models.PROTECT, related_name="+", null=True, blank=True)
    released_at = models.DateTimeField(_("released at"), null=True, blank=True)

    history = audit_history()

    class Meta:
        ordering = ["request_id", "id"]
        constraints = [
            # Never a vial twice: at most one live allocation per vial.
            models.UniqueConstraint(
                fields=["vial"], condition=models.Q(released_at__isnull=True),
                name="distribution_allocation_unique_live_vial",
            ),
        ]
        verbose_name = _("allocated vial")
        verbose_name_plural = _("allocated vials")

    def __str__(self) -> str:
        return f"{self.request} ← {self.vial}"


class Shipment(models.Model):
    """The shipment of a request's vials, and the researcher's confirmation of receipt."""

    request = models.OneToOneField(DistributionRequest, on_delete=models.PROTECT, related_name="shipment")
    courier = models.CharField(_("courier"), max_length=120)
    tracking_number = models.CharField(_("tracking number"), max_length=120)
    shipper_type = models.CharField(_("shipper"), max_length=15, choices=ShipperType.choices,
                                    default=ShipperType.DRY_SHIPPER)
    shipped_on = models.DateField(_("shipped on"))
    shipped_by = models.ForeignKey(User, on_delete=models.PROTECT, related_name="+")
    received_at = models.DateTimeField(_("received at"), null=True, blank=True)
    received_by = models.ForeignKey(User, on_delete=models.PROTECT, related_name="+", null=True, blank=True)
    arrival_condition = models.CharField(_("condition on arrival"), max_length=10, choices=ArrivalCondition.choices,
                                         blank=True)
    receipt_notes = models.TextField(_("receipt notes"), blank=True)

    history = audit_history()

    class Meta:
        ordering = ["-shipped_on", "-id"]
        verbose_name = _("shipment")
        verbose_name_plural = _("shipments")

    def __str__(self) -> str:
        return f"{self.request} via {self.courier} {self.tracking_number}"


class Recall(models.Model):
    """A recall of a lot (or everything from a donor whose consent was withdrawn) and its recipients."""

    source = models.CharField(_("source"), max_length=20, choices=RecallSource.choices)
    lot = models.ForeignKey("lots.Lot", on_delete=models.PROTECT, null=True, blank=True, related_name="recalls")
    donor = models.ForeignKey("donors.Donor", on_delete=models.PROTECT, null=True, blank=True, related_name="recalls")
    reason = models.TextField(_("reason"))
    initiated_at = models.DateTimeField(_("initiated at"), default=timezone.now)
    initiated_by = models.ForeignKey(User, on_delete=models.PROTECT, related_name="+")

    history = audit_history()

    class Meta:
        ordering = ["-initiated_at", "-id"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(lot__isnull=False) | models.Q(donor__isnull=False),
                name="distribution_recall_has_subject",
            ),
        ]
        verbose_name = _("recall")
        verbose_name_plural = _("recalls")

    def __str__(self) -> str:
        return f"Recall {self.pk}"


class RecallNotice(models.Model):
    """One recipient told about a recall: which shipment of which request."""

    recall = models.ForeignKey(Recall, on_delete=models.PROTECT, related_name="notices")
    request = models.ForeignKey(DistributionRequest, on_delete=models.PROTECT, related_name="recall_notices")
    recipient = models.ForeignKey(User, on_delete=models.PROTECT, related_name="+")
    vial_barcodes = models.JSONField(_("shipped vials"), default=list)
    notified_at = models.DateTimeField(_("notified at"), default=timezone.now)

    history = audit_history()

    class Meta:
        ordering = ["recall_id", "id"]
        constraints = [
            models.UniqueConstraint(fields=["recall", "request"], name="distribution_recallnotice_unique"),
        ]
        verbose_name = _("recall notice")
        verbose_name_plural = _("recall notices")

    def __str__(self) -> str:
        return f"{self.recall} → {self.recipient}"


class KeptCatalogEntry(models.Model):
    """Derived, like an index: a stocked line's catalog entry shaped ready (characterization, passages, tiers,
    shared HLA) with the version it was built from. ``version`` is bumped by database triggers whenever anything
    the entry shows changes (distribution/catalog_cache.py); an entry whose ``built_version`` is behind is shaped
    again on the next read. No history, no service writes it."""

    cell_line = models.OneToOneField("lots.CellLine", primary_key=True, on_delete=models.DO_NOTHING,
                                     db_constraint=False, related_name="+")
    version = models.BigIntegerField(default=1, db_default=1)
    built_version = models.BigIntegerField(default=0, db_default=0)
    data = models.JSONField(default=dict)

    class Meta:
        verbose_name = _("catalog entry (kept)")
        verbose_name_plural = _("catalog entries (kept)")

    def __str__(self) -> str:
        return f"{self.cell_line_id} v{self.version}"


class FeeRate(models.Model):
    """QA's fee per vial for one institution type, on one line or on every line of a grade (issue 15).

    A request's fee per vial is its line's rate, else its grade's, else the bank's default for the institution type
    (settings REQUEST_FEE_PUBLIC_PER_VIAL / REQUEST_FEE_ENTERPRISE_PER_VIAL): ``queries.fee_for`` is the one rule.
    A rate is never deleted: clearing it sets ``per_vial`` to null (the next rule applies again), with history.
    """

    institution_type = models.CharField(_("institution type"), max_length=10, choices=InstitutionType.choices)
    cell_line = models.ForeignKey("lots.CellLine", on_delete=models.PROTECT, null=True, blank=True,
                                  related_name="fee_rates")
    grade = models.CharField(_("grade"), max_length=10, blank=True)
    per_vial = models.DecimalField(_("fee per vial"), max_digits=12, decimal_places=2, null=True, blank=True)
    set_by = models.ForeignKey(User, on_delete=models.PROTECT, related_name="+", null=True, blank=True)
    set_at = models.DateTimeField(_("set at"), default=timezone.now)

    history = audit_history()

    class Meta:
        ordering = ["institution_type", "grade", "cell_line_id"]
        constraints = [
            models.CheckConstraint(
                condition=(models.Q(cell_line__isnull=False, grade="")
                           | (models.Q(cell_line__isnull=True) & ~models.Q(grade=""))),
                name="distribution_feerate_line_or_grade"),
            models.CheckConstraint(condition=models.Q(per_vial__isnull=True) | models.Q(per_vial__gte=0),
                                   name="distribution_feerate_not_negative"),
            models.UniqueConstraint(fields=["institution_type", "cell_line"],
                                    condition=models.Q(cell_line__isnull=False),
                                    name="distribution_feerate_unique_line"),
            models.UniqueConstraint(fields=["institution_type", "grade"],
                                    condition=models.Q(cell_line__isnull=True),
                                    name="distribution_feerate_unique_grade"),
        ]
        verbose_name = _("fee rate")
        verbose_name_plural = _("fee rates")

    def __str__(self) -> str:
        return f"{self.institution_type} {self.cell_line_id or self.grade}: {self.per_vial}"


class InstitutionProfile(models.Model):
    """A researcher's institution (issue 15): name, type, country, address and billing contact. It prefills the
    request form; each request keeps its own copy of what was submitted."""

    user = models.OneToOneField(User, on_delete=models.PROTECT, related_name="institution_profile")
    name = models.CharField(_("institution"), max_length=200)
    institution_type = models.CharField(_("institution type"), max_length=10, choices=InstitutionType.choices)
    country = models.CharField(_("country"), max_length=2, help_text=_("ISO 3166-1 alpha-2"))
    address = models.TextField(_("shipping address"), blank=True)
    billing_contact = models.CharField(_("billing contact"), max_length=200, blank=True)
    billing_email = models.EmailField(_("billing e-mail"), blank=True)
    updated_at = models.DateTimeField(_("updated at"), default=timezone.now)

    history = audit_history()

    class Meta:
        ordering = ["user_id"]
        verbose_name = _("institution profile")
        verbose_name_plural = _("institution profiles")

    def __str__(self) -> str:
        return self.name


def export_approval_path(instance, filename: str) -> str:
    # The storage never overwrites a name (settings.STORAGES): a second scan of the same name gets a suffix.
    return f"export-approvals/{timezone.localdate():%Y}/{filename}"


class ExportApproval(models.Model):
    """A Human Genetic Resources export approval for a request whose recipient is outside the bank's country
    (China's HGR regulation). The request ships only with one valid on its shipping date (issue 15)."""

    request = models.ForeignKey(DistributionRequest, on_delete=models.PROTECT, related_name="export_approvals")
    approval_number = models.CharField(_("approval number"), max_length=100)
    authority = models.CharField(_("authority"), max_length=200)
    approved_on = models.DateField(_("approved on"))
    expires_on = models.DateField(_("expires on"))
    document = models.FileField(_("scanned document"), upload_to=export_approval_path, max_length=300, blank=True)
    document_name = models.CharField(_("file name"), max_length=200, blank=True)
    document_sha256 = models.CharField(_("SHA-256"), max_length=64, blank=True)
    recorded_by = models.ForeignKey(User, on_delete=models.PROTECT, related_name="+")
    recorded_at = models.DateTimeField(_("recorded at"), default=timezone.now)

    history = audit_history()

    class Meta:
        ordering = ["request_id", "-expires_on", "-id"]
        constraints = [
            models.CheckConstraint(condition=models.Q(expires_on__gte=models.F("approved_on")),
                                   name="distribution_exportapproval_dates_in_order"),
        ]
        verbose_name = _("export approval")
        verbose_name_plural = _("export approvals")

    def __str__(self) -> str:
        return f"{self.authority} {self.approval_number}"

    def valid_on(self, day) -> bool:
        return self.approved_on <= day <= self.expires_on
