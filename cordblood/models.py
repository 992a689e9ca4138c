"""Cord blood: a mother's infant donations, the collection sites, and each donation's unit.

The mother is a ``donors.Donor`` holding the identity, the consent and the infectious-disease screening (the
maternal sample); each baby is a ``donors.Donor`` of its own (no identity of its own: a newborn has no
national ID) linked to its mother by an ``InfantDonation``, so twins and later pregnancies are simply more
donations of the same mother. The baby's HLA typing is on the infant donor. A ``CordBloodUnit`` follows the
donation from acceptance to its lot: once processed, the unit *is* a ``lots.Lot`` (tier ``unit``) whose
vials are its bag, segments, reference vials and maternal samples (``lots.Vial.kind``).
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from bank.audit import audit_history
from bank.identifiers import IdentifierField
from cordblood.choices import ABO, Acceptance, ContractStatus, DeliveryType, DiscardReason, ListingStatus, Ownership, Rh

User = settings.AUTH_USER_MODEL


class CollectionSite(models.Model):
    """A maternity hospital where the bank's trained collectors take cord blood."""

    code = IdentifierField(_("code"), max_length=20, unique=True)
    name = models.CharField(_("name"), max_length=200)
    city = models.CharField(_("city"), max_length=100, blank=True)
    agreement_until = models.DateField(_("collection agreement valid until"), null=True, blank=True)
    active = models.BooleanField(_("active"), default=True)

    history = audit_history()

    class Meta:
        ordering = ["code"]
        verbose_name = _("collection site")
        verbose_name_plural = _("collection sites")

    def __str__(self) -> str:
        return f"{self.code} {self.name}"


class Collector(models.Model):
    """A person trained to collect cord blood at a site (a midwife, an obstetric nurse)."""

    site = models.ForeignKey(CollectionSite, on_delete=models.PROTECT, related_name="collectors")
    name = models.CharField(_("name"), max_length=120)
    trained_on = models.DateField(_("trained on"), null=True, blank=True)
    active = models.BooleanField(_("active"), default=True)

    history = audit_history()

    class Meta:
        ordering = ["site_id", "name"]
        verbose_name = _("collector")
        verbose_name_plural = _("collectors")

    def __str__(self) -> str:
        return self.name


class InfantDonation(models.Model):
    """One baby's cord blood donation: the infant donor, its mother, the birth and where it was collected."""

    mother = models.ForeignKey("donors.Donor", on_delete=models.PROTECT, related_name="infant_donations")
    infant = models.OneToOneField("donors.Donor", on_delete=models.PROTECT, related_name="infant_donation")
    birth_order = models.PositiveSmallIntegerField(
        _("birth order"), default=1, help_text=_("1 for a single birth; 1, 2 … for twins, in order of birth."))
    born_at = models.DateTimeField(_("born at"))
    gestational_age_weeks = models.PositiveSmallIntegerField(_("gestational age (weeks)"))
    birth_weight_g = models.PositiveIntegerField(_("birth weight (g)"))
    delivery_type = models.CharField(_("delivery"), max_length=10, choices=DeliveryType.choices)
    site = models.ForeignKey(CollectionSite, on_delete=models.PROTECT, related_name="donations")
    collector = models.ForeignKey(Collector, on_delete=models.PROTECT, null=True, blank=True,
                                  related_name="donations")
    # The cord blood collection (donors.Collection of the infant donor, tissue cord_blood).
    collection = models.OneToOneField("donors.Collection", on_delete=models.PROTECT, null=True, blank=True,
                                      related_name="infant_donation")
    # The mother's medical and family history questionnaire for this pregnancy: {question code: answer}.
    questionnaire = models.JSONField(_("medical and family history"), default=dict, blank=True)
    recorded_by = models.ForeignKey(User, on_delete=models.PROTECT, related_name="+")
    recorded_at = models.DateTimeField(_("recorded at"), default=timezone.now)

    history = audit_history()

    class Meta:
        ordering = ["-born_at", "birth_order"]
        # The donation list's order (a million donations: a page must not sort them all).
        indexes = [models.Index(fields=["-born_at", "birth_order", "-id"], name="cordblood_donation_order_idx")]
        verbose_name = _("infant donation")
        verbose_name_plural = _("infant donations")

    def __str__(self) -> str:
        return f"{self.infant} ({self.born_at:%Y-%m-%d})"


class CordBloodUnit(models.Model):
    """A donation's unit: accepted or discarded, processed and frozen (then ``lot`` is set), listed for search
    or kept for a family."""

    donation = models.OneToOneField(InfantDonation, on_delete=models.PROTECT, related_name="unit")
    # ISBT 128 donation identification number printed on the bag (with its check character).
    din = IdentifierField(_("DIN"), max_length=20, unique=True)
    ownership = models.CharField(_("ownership"), max_length=8, choices=Ownership.choices, default=Ownership.PUBLIC)
    collected_volume_ml = models.DecimalField(_("collected volume (mL)"), max_digits=6, decimal_places=1,
                                              null=True, blank=True)
    # Acceptance for processing
    acceptance = models.CharField(_("acceptance"), max_length=10, choices=Acceptance.choices,
                                  default=Acceptance.PENDING)
    acceptance_reason = models.CharField(_("acceptance reason"), max_length=60, blank=True)
    accepted_at = models.DateTimeField(_("decided at"), null=True, blank=True)
    accepted_by = models.ForeignKey(User, on_delete=models.PROTECT, related_name="+", null=True, blank=True)
    # Processing record (NetCord-FACT D): volumes, cell counts, times, equipment and reagent lots.
    processing_method = models.CharField(_("processing method"), max_length=80, blank=True)
    processing_started_at = models.DateTimeField(_("processing started at"), null=True, blank=True)
    processing_ended_at = models.DateTimeField(_("processing ended at"), null=True, blank=True)
    volume_pre_ml = models.DecimalField(_("volume before (mL)"), max_digits=6, decimal_places=1, null=True,
                                        blank=True)
    volume_post_ml = models.DecimalField(_("volume after (mL)"), max_digits=6, decimal_places=1, null=True,
                                         blank=True)
    tnc_pre = models.PositiveBigIntegerField(_("TNC before processing"), null=True, blank=True)
    tnc_post = models.PositiveBigIntegerField(_("TNC after processing"), null=True, blank=True)
    cd34_post = models.PositiveBigIntegerField(_("CD34+ cells after processing"), null=True, blank=True)
    nrbc_pct = models.DecimalField(_("NRBC (%)"), max_digits=5, decimal_places=2, null=True, blank=True)
    hct_pct = models.DecimalField(_("haematocrit (%)"), max_digits=5, decimal_places=2, null=True, blank=True)
    equipment = models.CharField(_("equipment"), max_length=200, blank=True)
    reagent_lots = models.JSONField(_("reagent lots"), default=list, blank=True)
    frozen_at = models.DateTimeField(_("frozen at"), null=True, blank=True)
    processed_by = models.ForeignKey(User, on_delete=models.PROTECT, related_name="+", null=True, blank=True)
    # Blood group (from the QC results, kept here for search and the inventory export).
    abo = models.CharField(_("ABO"), max_length=2, choices=ABO.choices, blank=True)
    rh = models.CharField(_("Rh"), max_length=3, choices=Rh.choices, blank=True)
    # The frozen unit: a lot of tier "unit" whose vials are the bag, segments, reference vials and samples.
    lot = models.OneToOneField("lots.Lot", on_delete=models.PROTECT, null=True, blank=True,
                               related_name="cord_blood_unit")
    # Search listing (WMDA/EMDIS): status, why, and until when a temporary status lasts.
    listing_status = models.CharField(_("search status"), max_length=24, choices=ListingStatus.choices,
                                      default=ListingStatus.NOT_LISTED)
    listing_reason = models.CharField(_("search status reason"), max_length=200, blank=True)
    listing_until = models.DateField(_("search status until"), null=True, blank=True)
    listing_changed_at = models.DateTimeField(_("search status changed at"), default=timezone.now)
    created_at = models.DateTimeField(_("created at"), default=timezone.now)

    history = audit_history()

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name = _("cord blood unit")
        verbose_name_plural = _("cord blood units")
        permissions = [
            ("process_cordbloodunit", _("Can accept, process and freeze cord blood units")),
            ("list_cordbloodunit", _("Can list cord blood units for search")),
        ]
        indexes = [
            models.Index(fields=["-created_at", "-id"], name="cordblood_unit_order_idx"),
            models.Index(fields=["ownership", "listing_status"], name="cordblood_unit_listing_idx"),
        ]

    def __str__(self) -> str:
        return self.din

    @property
    def discard_reason_label(self) -> str:
        """The discard reason in words (the stored value is a ``DiscardReason`` code)."""
        if self.acceptance_reason in DiscardReason.values:
            return str(DiscardReason(self.acceptance_reason).label)
        return self.acceptance_reason

    @property
    def recovery_pct(self):
        """TNC recovery of processing, in per cent (None until both counts are known)."""
        if not self.tnc_pre or self.tnc_post is None:
            return None
        return round(self.tnc_post * 100 / self.tnc_pre, 1)


class VerificationTyping(models.Model):
    """HLA typing of a unit's own sample (a segment or a reference vial), kept apart from the infant donor's
    registration typing and never overwritten: confirmatory typing (CT) for a transplant centre, or the bank's
    verification before listing. ``concordant`` compares it with the registration typing at the loci both
    have; a discordance blocks the unit's release."""

    unit = models.ForeignKey(CordBloodUnit, on_delete=models.PROTECT, related_name="verification_typings")
    sample = models.ForeignKey("lots.Vial", on_delete=models.PROTECT, null=True, blank=True, related_name="+")
    # {"A": ["A*02:01", "A*24:02"], "B": [...], "C": [...], "DRB1": [...], "DQB1": [...], "DPB1": [...]}
    alleles = models.JSONField(_("alleles"), default=dict)
    laboratory = models.CharField(_("laboratory"), max_length=200, blank=True)
    typed_on = models.DateField(_("typed on"))
    concordant = models.BooleanField(_("concordant with the registration typing"))
    discordant_loci = models.JSONField(_("discordant loci"), default=list, blank=True)
    recorded_by = models.ForeignKey(User, on_delete=models.PROTECT, related_name="+")
    recorded_at = models.DateTimeField(_("recorded at"), default=timezone.now)

    history = audit_history()

    class Meta:
        ordering = ["-recorded_at"]
        verbose_name = _("verification typing")
        verbose_name_plural = _("verification typings")

    def __str__(self) -> str:
        return f"{self.unit} {self.typed_on}"


class FamilyContract(models.Model):
    """The storage contract of a family unit: its owner (the mother), fees and how far they are paid.

    A family unit is released only at the owner's request; the owner may donate it to the public inventory
    (the contract then ends as ``donated`` and the unit's ownership becomes public)."""

    unit = models.OneToOneField(CordBloodUnit, on_delete=models.PROTECT, related_name="family_contract")
    owner = models.ForeignKey("donors.Donor", on_delete=models.PROTECT, related_name="family_contracts")
    number = IdentifierField(_("contract number"), max_length=40, unique=True)
    signed_on = models.DateField(_("signed on"))
    initial_fee = models.DecimalField(_("initial fee"), max_digits=10, decimal_places=2, default=0)
    annual_fee = models.DecimalField(_("annual fee"), max_digits=10, decimal_places=2, default=0)
    currency = models.CharField(_("currency"), max_length=3, default="CNY")
    paid_until = models.DateField(_("paid until"))
    status = models.CharField(_("status"), max_length=10, choices=ContractStatus.choices,
                              default=ContractStatus.ACTIVE)
    release_requested_at = models.DateTimeField(_("release requested by the owner at"), null=True, blank=True)
    release_request_note = models.CharField(_("release request"), max_length=300, blank=True)
    recorded_by = models.ForeignKey(User, on_delete=models.PROTECT, related_name="+")
    recorded_at = models.DateTimeField(_("recorded at"), default=timezone.now)

    history = audit_history()

    class Meta:
        ordering = ["-signed_on", "-id"]
        verbose_name = _("family storage contract")
        verbose_name_plural = _("family storage contracts")

    def __str__(self) -> str:
        return self.number


class ContractPayment(models.Model):
    """A payment or renewal of a family contract: what was paid and until when storage is now covered."""

    contract = models.ForeignKey(FamilyContract, on_delete=models.PROTECT, related_name="payments")
    paid_on = models.DateField(_("paid on"))
    amount = models.DecimalField(_("amount"), max_digits=10, decimal_places=2)
    covers_until = models.DateField(_("covers storage until"))
    note = models.CharField(_("note"), max_length=200, blank=True)
    recorded_by = models.ForeignKey(User, on_delete=models.PROTECT, related_name="+")
    recorded_at = models.DateTimeField(_("recorded at"), default=timezone.now)

    history = audit_history()

    class Meta:
        ordering = ["-paid_on", "-id"]
        verbose_name = _("contract payment")
        verbose_name_plural = _("contract payments")

    def __str__(self) -> str:
        return f"{self.contract} {self.paid_on}"
