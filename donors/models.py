"""Donors: the pseudonymous registry, restricted identity, consent, ethics, screening, HLA, collections.

Only ``Donor.code`` identifies a donor to anyone but coordinators and admins; the identifying
fields live in ``DonorIdentity``, readable only with ``donors.view_donoridentity``.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from bank.audit import audit_history
from bank.identifiers import IdentifierField
from donors.choices import (
    HLA_LOCI,
    ConsentScope,
    DonorType,
    HLAMethod,
    HLAResolution,
    ScreeningOutcome,
    Sex,
    Tissue,
)

User = settings.AUTH_USER_MODEL


class Donor(models.Model):
    """A donor known by a generated pseudonymous code; never by name outside ``DonorIdentity``."""

    code = IdentifierField(_("donor code"), max_length=20, unique=True, editable=False)
    sex = models.CharField(_("sex"), max_length=1, choices=Sex.choices)
    birth_year = models.PositiveSmallIntegerField(_("birth year"))
    population = models.CharField(
        _("population"), max_length=100, blank=True, help_text=_("Used for HLA haplotype coverage, e.g. Han Chinese.")
    )
    donor_type = models.CharField(_("donor type"), max_length=10, choices=DonorType.choices)
    diagnosis = models.CharField(_("diagnosis"), max_length=300, blank=True)
    registered_at = models.DateTimeField(_("registered at"), default=timezone.now)
    registered_by = models.ForeignKey(User, on_delete=models.PROTECT, related_name="+", null=True, blank=True)
    # Set once by the withdrawal service: from then nothing derived may be released or distributed.
    consent_withdrawn_at = models.DateTimeField(_("consent withdrawn at"), null=True, blank=True)

    history = audit_history()

    class Meta:
        ordering = ["-registered_at", "-id"]
        indexes = [models.Index(fields=["-registered_at", "-id"], name="donors_donor_order_idx")]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(birth_year__gte=1900), name="donors_donor_birth_year_plausible"
            ),
        ]
        verbose_name = _("donor")
        verbose_name_plural = _("donors")

    def __str__(self) -> str:
        return self.code


class DonorIdentity(models.Model):
    """Who the donor is. Readable only with donors.view_donoridentity (coordinators and admins)."""

    donor = models.OneToOneField(Donor, on_delete=models.PROTECT, related_name="identity")
    full_name = models.CharField(_("full name"), max_length=200)
    national_id = models.CharField(_("national ID"), max_length=40, unique=True)
    phone = models.CharField(_("phone"), max_length=40, blank=True)

    history = audit_history()

    class Meta:
        ordering = ["donor_id"]
        verbose_name = _("donor identity")
        verbose_name_plural = _("donor identities")

    def __str__(self) -> str:
        return f"{self.donor.code} identity"


class EthicsApproval(models.Model):
    """An ethics committee approval; a collection may cite one valid on its collection date."""

    committee = models.CharField(_("committee"), max_length=200)
    approval_number = models.CharField(_("approval number"), max_length=60, unique=True)
    scope = models.TextField(_("scope"), blank=True)
    valid_from = models.DateField(_("valid from"))
    valid_to = models.DateField(_("valid to"))

    history = audit_history()

    class Meta:
        ordering = ["-valid_from", "-id"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(valid_to__gte=models.F("valid_from")), name="donors_ethicsapproval_valid_range"
            ),
        ]
        verbose_name = _("ethics approval")
        verbose_name_plural = _("ethics approvals")

    def __str__(self) -> str:
        return f"{self.approval_number} ({self.committee})"

    def is_valid_on(self, day) -> bool:
        return self.valid_from <= day <= self.valid_to


class Consent(models.Model):
    """A signed consent form with its scopes. Re-consent adds a new one; withdrawal never deletes."""

    donor = models.ForeignKey(Donor, on_delete=models.PROTECT, related_name="consents")
    form_version = models.CharField(_("form version"), max_length=40)
    signed_on = models.DateField(_("signed on"))
    scopes = models.JSONField(_("scopes"), default=list, help_text=_("Subset of: ") + ", ".join(ConsentScope.values))
    recorded_by = models.ForeignKey(User, on_delete=models.PROTECT, related_name="+")
    recorded_at = models.DateTimeField(_("recorded at"), default=timezone.now)
    withdrawn_at = models.DateTimeField(_("withdrawn at"), null=True, blank=True)
    withdrawn_by = models.ForeignKey(User, on_delete=models.PROTECT, related_name="+", null=True, blank=True)
    withdrawal_reason = models.TextField(_("withdrawal reason"), blank=True)

    history = audit_history()

    class Meta:
        ordering = ["-signed_on", "-id"]
        indexes = [models.Index(fields=["donor", "-signed_on", "-id"], name="donors_consent_donor_idx")]
        verbose_name = _("consent")
        verbose_name_plural = _("consents")
        permissions = [("withdraw_consent", _("Can record a consent withdrawal"))]

    def __str__(self) -> str:
        return f"{self.donor.code} consent {self.form_version} ({self.signed_on})"

    @property
    def is_withdrawn(self) -> bool:
        return self.withdrawn_at is not None

    def allows(self, scope: str) -> bool:
        return not self.is_withdrawn and scope in (self.scopes or [])


class ScreeningMarker(models.Model):
    """A screening marker the bank records; ``required`` ones form the panel (seeded from QC_SPECS.md).

    ``tissues`` empty means required for every collection; otherwise only for those tissues.
    """

    code = models.CharField(_("code"), max_length=30, unique=True)
    name = models.CharField(_("name"), max_length=120)
    tissues = models.JSONField(_("required for tissues"), default=list, blank=True)
    required = models.BooleanField(_("part of the required panel"), default=True)
    order = models.PositiveSmallIntegerField(_("order"), default=100)

    history = audit_history()

    class Meta:
        ordering = ["order", "code"]
        verbose_name = _("screening marker")
        verbose_name_plural = _("screening markers")

    def __str__(self) -> str:
        return self.code

    def required_for(self, tissue: str | None) -> bool:
        return self.required and (not self.tissues or (tissue is not None and tissue in self.tissues))


class ScreeningWindow(models.Model):
    """How long before/after collection a screening sample may be drawn, per tissue ('' = default)."""

    tissue = models.CharField(_("tissue"), max_length=30, choices=Tissue.choices, blank=True, unique=True)
    days_before = models.PositiveSmallIntegerField(_("days before collection"), default=7)
    days_after = models.PositiveSmallIntegerField(_("days after collection"), default=7)

    history = audit_history()

    class Meta:
        ordering = ["tissue"]
        verbose_name = _("screening window")
        verbose_name_plural = _("screening windows")

    def __str__(self) -> str:
        return f"{self.tissue or 'default'}: -{self.days_before}/+{self.days_after} d"


class Screening(models.Model):
    """A screening sample (drawn on one day) and its marker results."""

    donor = models.ForeignKey(Donor, on_delete=models.PROTECT, related_name="screenings")
    sample_drawn_on = models.DateField(_("sample drawn on"))
    maternal_sample = models.BooleanField(_("maternal sample"), default=False,
                                          help_text=_("The birth mother was tested (cord blood, cord, placenta)."))
    laboratory = models.CharField(_("laboratory"), max_length=200, blank=True)
    recorded_by = models.ForeignKey(User, on_delete=models.PROTECT, related_name="+")
    recorded_at = models.DateTimeField(_("recorded at"), default=timezone.now)

    history = audit_history()

    class Meta:
        ordering = ["-sample_drawn_on", "-id"]
        indexes = [models.Index(fields=["donor", "-sample_drawn_on"], name="donors_screening_donor_idx")]
        verbose_name = _("screening")
        verbose_name_plural = _("screenings")

    def __str__(self) -> str:
        return f"{self.donor.code} screening {self.sample_drawn_on}"


class ScreeningResult(models.Model):
    """One marker's result. Never overwritten: a correction is a new row naming what it corrects."""

    screening = models.ForeignKey(Screening, on_delete=models.PROTECT, related_name="results")
    marker = models.CharField(_("marker"), max_length=30)
    result = models.CharField(_("result"), max_length=15, choices=ScreeningOutcome.choices)
    corrects = models.OneToOneField(
        "self", on_delete=models.PROTECT, null=True, blank=True, related_name="corrected_by"
    )
    correction_reason = models.TextField(_("correction reason"), blank=True)
    recorded_by = models.ForeignKey(User, on_delete=models.PROTECT, related_name="+")
    recorded_at = models.DateTimeField(_("recorded at"), default=timezone.now)

    history = audit_history()

    class Meta:
        ordering = ["screening_id", "marker", "id"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(corrects__isnull=True) | ~models.Q(correction_reason=""),
                name="donors_screeningresult_correction_has_reason",
            ),
        ]
        verbose_name = _("screening result")
        verbose_name_plural = _("screening results")

    def __str__(self) -> str:
        return f"{self.marker}: {self.result}"


class HLATyping(models.Model):
    """HLA-A, -B, -C, -DRB1, -DQB1 typing (two alleles each), WHO nomenclature at 1 or 2 fields."""

    donor = models.OneToOneField(Donor, on_delete=models.PROTECT, related_name="hla")
    a_1 = models.CharField("A (1)", max_length=20)
    a_2 = models.CharField("A (2)", max_length=20)
    b_1 = models.CharField("B (1)", max_length=20)
    b_2 = models.CharField("B (2)", max_length=20)
    c_1 = models.CharField("C (1)", max_length=20)
    c_2 = models.CharField("C (2)", max_length=20)
    drb1_1 = models.CharField("DRB1 (1)", max_length=20)
    drb1_2 = models.CharField("DRB1 (2)", max_length=20)
    dqb1_1 = models.CharField("DQB1 (1)", max_length=20)
    dqb1_2 = models.CharField("DQB1 (2)", max_length=20)
    method = models.CharField(_("typing method"), max_length=10, choices=HLAMethod.choices, blank=True)
    resolution = models.CharField(_("resolution"), max_length=10, choices=HLAResolution.choices)
    typed_on = models.DateField(_("typed on"), null=True, blank=True)
    laboratory = models.CharField(_("laboratory"), max_length=200, blank=True)
    recorded_by = models.ForeignKey(User, on_delete=models.PROTECT, related_name="+")
    recorded_at = models.DateTimeField(_("recorded at"), default=timezone.now)

    history = audit_history()

    class Meta:
        ordering = ["donor_id"]
        verbose_name = _("HLA typing")
        verbose_name_plural = _("HLA typings")

    def __str__(self) -> str:
        return f"{self.donor.code} HLA"

    def alleles(self) -> dict[str, list[str]]:
        return {locus: [getattr(self, f"{locus.lower()}_1"), getattr(self, f"{locus.lower()}_2")] for locus in HLA_LOCI}

    def homozygous_loci(self) -> list[str]:
        return [locus for locus, (first, second) in self.alleles().items() if first and first == second]


class Collection(models.Model):
    """Tissue collected from a donor under an active consent and, optionally, an ethics approval."""

    code = IdentifierField(_("collection code"), max_length=30, unique=True, editable=False)
    donor = models.ForeignKey(Donor, on_delete=models.PROTECT, related_name="collections")
    consent = models.ForeignKey(Consent, on_delete=models.PROTECT, related_name="collections")
    ethics_approval = models.ForeignKey(
        EthicsApproval, on_delete=models.PROTECT, related_name="collections", null=True, blank=True
    )
    tissue = models.CharField(_("tissue"), max_length=30, choices=Tissue.choices)
    collected_at = models.DateTimeField(_("collected at"))
    received_at = models.DateTimeField(_("received at"))
    transport_temperature_c = models.DecimalField(
        _("transport temperature (°C)"), max_digits=5, decimal_places=1, null=True, blank=True
    )
    received_by = models.ForeignKey(User, on_delete=models.PROTECT, related_name="+")
    transport_delay_flagged = models.BooleanField(_("transport time over the limit"), default=False)
    notes = models.TextField(_("notes"), blank=True)

    history = audit_history()

    class Meta:
        ordering = ["-collected_at", "-id"]
        indexes = [models.Index(fields=["donor", "-collected_at"], name="donors_collection_donor_idx")]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(received_at__gte=models.F("collected_at")),
                name="donors_collection_received_after_collected",
            ),
        ]
        verbose_name = _("collection")
        verbose_name_plural = _("collections")

    def __str__(self) -> str:
        return self.code

    @property
    def transport_hours(self) -> float:
        return (self.received_at - self.collected_at).total_seconds() / 3600
