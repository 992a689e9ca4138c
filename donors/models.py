"""Donors: the pseudonymous registry, restricted identity, consent, ethics, screening, HLA, collections.

Only ``Donor.code`` identifies a donor to anyone but coordinators and admins; the identifying
fields live in ``DonorIdentity``, readable only with ``donors.view_donoridentity`` and stored encrypted under the
donor's own data key (``DonorKey``, see ``donors.crypto``).
"""

from __future__ import annotations

import datetime
from dataclasses import dataclass
from itertools import combinations

from django.conf import settings
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from bank.audit import audit_history
from bank.errors import Conflict
from bank.identifiers import IdentifierField
from donors.choices import (
    ALL_HLA_LOCI,
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


class DonorKey(models.Model):
    """The donor's own data key, stored only wrapped (encrypted) by the master key named by ``key_id``.

    Destroying ``wrapped_key`` is the erasure of the donor's identity (crypto-shredding): every ciphertext of
    ``DonorIdentity`` — in its table and in every one of its history rows — becomes unreadable for good.
    Exception to "history copies every column": this model's history leaves ``wrapped_key`` out (it keeps
    when the key was made, re-wrapped and destroyed, never the key), else the history would keep a copy of
    the key and no erasure could ever be complete.
    """

    donor = models.OneToOneField(Donor, on_delete=models.PROTECT, related_name="data_key")
    key_id = models.CharField(_("master key id"), max_length=16)
    wrapped_key = models.BinaryField(_("wrapped data key"), null=True, editable=False)
    created_at = models.DateTimeField(_("created at"), default=timezone.now)
    destroyed_at = models.DateTimeField(_("destroyed at"), null=True, blank=True)

    AUDIT_HIDDEN_FIELDS = ("wrapped_key",)

    history = audit_history(excluded_fields=["wrapped_key"])

    class Meta:
        ordering = ["donor_id"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(destroyed_at__isnull=True, wrapped_key__isnull=False)
                | models.Q(destroyed_at__isnull=False, wrapped_key__isnull=True),
                name="donors_donorkey_destroyed_means_no_key",
            ),
        ]
        verbose_name = _("donor data key")
        verbose_name_plural = _("donor data keys")

    def __str__(self) -> str:
        return f"{self.donor.code} data key ({self.key_id})"

    @property
    def is_destroyed(self) -> bool:
        return self.wrapped_key is None

    @classmethod
    def open_for(cls, donor_id: int) -> bytes:
        """The data key of donor ``donor_id`` in clear; ``IdentityKeyUnavailable`` when there is none."""
        from donors import crypto

        key = cls.objects.filter(donor_id=donor_id).first()
        if key is None:
            raise crypto.IdentityKeyUnavailable(_("This identity has no data key: it cannot be read."),
                                                code="identity_key_unavailable")
        return key.open()

    def open(self) -> bytes:
        """The donor's data key in clear (for this process only; never stored or logged)."""
        from donors import crypto

        if self.wrapped_key is None:
            raise crypto.IdentityKeyUnavailable(
                _("The data key of donor %(code)s was destroyed: the identity was erased.") % {
                    "code": self.donor.code}, code="identity_key_unavailable")
        return crypto.unwrap_data_key(self.key_id, self.wrapped_key, donor_id=self.donor_id)


@dataclass(frozen=True)
class RevealedIdentity:
    """A donor's identity in clear, for the one person allowed to see it on the one page that shows it."""

    full_name: str
    national_id: str
    phone: str


class DonorIdentity(models.Model):
    """Who the donor is, encrypted at rest. Readable only with donors.view_donoridentity (coordinators, admins).

    The three ``*_encrypted`` columns hold AES-GCM ciphertexts under the donor's own data key (``DonorKey``);
    ``reveal()`` opens them. ``national_id_index`` is a keyed hash of the normalised national ID that keeps it
    unique without decrypting anything; it is left out of the history (and cleared by an erasure), so no audit
    row can ever be matched to a national ID. After an erasure the row keeps only its tombstone.
    """

    ENCRYPTED_FIELDS = {"full_name": "full_name_encrypted", "national_id": "national_id_encrypted",
                        "phone": "phone_encrypted"}
    # bank.audit shows that these changed, never their (encrypted) values.
    AUDIT_MASKED_FIELDS = tuple(ENCRYPTED_FIELDS.values())
    AUDIT_HIDDEN_FIELDS = ("national_id_index",)

    donor = models.OneToOneField(Donor, on_delete=models.PROTECT, related_name="identity")
    full_name_encrypted = models.TextField(_("full name (encrypted)"), blank=True, editable=False)
    national_id_encrypted = models.TextField(_("national ID (encrypted)"), blank=True, editable=False)
    phone_encrypted = models.TextField(_("phone (encrypted)"), blank=True, editable=False)
    national_id_index = models.CharField(_("national ID index"), max_length=64, null=True, blank=True,
                                         editable=False)
    erased_at = models.DateTimeField(_("erased at"), null=True, blank=True)
    erased_by = models.ForeignKey(User, on_delete=models.PROTECT, related_name="+", null=True, blank=True,
                                  verbose_name=_("erased by"))
    erasure_reason = models.TextField(_("reason for the erasure"), blank=True)

    history = audit_history(excluded_fields=["national_id_index"])

    class Meta:
        ordering = ["donor_id"]
        constraints = [
            models.UniqueConstraint(fields=["national_id_index"], name="donors_donoridentity_national_id_unique"),
            models.CheckConstraint(
                condition=models.Q(erased_at__isnull=True)
                | models.Q(national_id_index__isnull=True, full_name_encrypted="", national_id_encrypted="",
                           phone_encrypted=""),
                name="donors_donoridentity_erased_keeps_nothing",
            ),
        ]
        verbose_name = _("donor identity")
        verbose_name_plural = _("donor identities")
        permissions = [("erase_donoridentity", _("Can erase a donor's identity (crypto-shredding)"))]

    def __str__(self) -> str:
        return f"{self.donor.code} identity"

    @property
    def is_erased(self) -> bool:
        return self.erased_at is not None

    def reveal(self, data_key: bytes | None = None) -> RevealedIdentity:
        """The identity in clear (``data_key`` if the caller unwrapped it already).

        Raises ``IdentityErased`` after an erasure and ``crypto.IdentityKeyUnavailable`` when the master key
        is missing or wrong. Cached on the instance for as long as its ciphertexts do not change.
        """
        from donors import crypto

        sealed = tuple(getattr(self, column) for column in self.ENCRYPTED_FIELDS.values())
        cached = getattr(self, "_revealed", None)
        if cached is not None and cached[0] == sealed:
            return cached[1]
        if self.is_erased:
            raise IdentityErased(self, code="identity_erased")
        if data_key is None:
            data_key = DonorKey.open_for(self.donor_id)
        values = {name: crypto.unseal(data_key, getattr(self, column), donor_id=self.donor_id, field_name=name)
                  for name, column in self.ENCRYPTED_FIELDS.items()}
        revealed = RevealedIdentity(**values)
        self._revealed = (sealed, revealed)
        return revealed

    # Read-only conveniences for code that needs one value (each opens the identity once, then it is cached).
    @property
    def full_name(self) -> str:
        return self.reveal().full_name

    @property
    def national_id(self) -> str:
        return self.reveal().national_id

    @property
    def phone(self) -> str:
        return self.reveal().phone


class IdentityErased(Conflict):
    """The identity was erased: its data key is gone and nothing can bring it back (409 ``identity_erased``)."""

    def __init__(self, identity: DonorIdentity, *, code: str = "identity_erased"):
        self.identity = identity
        super().__init__(_("The identity of donor %(code)s was erased on %(date)s; it can no longer be read or "
                           "changed.") % {"code": identity.donor.code,
                                          "date": f"{timezone.localtime(identity.erased_at):%Y-%m-%d}"},
                         code=code)


class EthicsApproval(models.Model):
    """An ethics committee approval; a collection cites one valid on its collection date (required while
    ``REQUIRE_ETHICS_APPROVAL`` is on). Withdrawn by the committee, it covers nothing from the withdrawal's day on;
    expired or withdrawn, the lines derived under it are flagged for QA (``donors.queries.lapsed_approvals``)."""

    committee = models.CharField(_("committee"), max_length=200)
    approval_number = models.CharField(_("approval number"), max_length=60, unique=True)
    scope = models.TextField(_("scope"), blank=True)
    valid_from = models.DateField(_("valid from"))
    valid_to = models.DateField(_("valid to"))
    # Set once by ``withdraw_ethics_approval``; never cleared (a new approval is recorded instead).
    withdrawn_on = models.DateField(_("withdrawn on"), null=True, blank=True)
    withdrawn_by = models.ForeignKey(User, on_delete=models.PROTECT, related_name="+", null=True, blank=True,
                                     verbose_name=_("withdrawal recorded by"))
    withdrawal_reason = models.TextField(_("withdrawal reason"), blank=True)

    history = audit_history()

    class Meta:
        ordering = ["-valid_from", "-id"]
        indexes = [
            # The dashboard's lapsed approvals: those ended before today or withdrawn (a handful among many).
            models.Index(fields=["valid_to"], name="donors_ethics_valid_to_idx"),
            models.Index(fields=["withdrawn_on"], condition=models.Q(withdrawn_on__isnull=False),
                         name="donors_ethics_withdrawn_idx"),
        ]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(valid_to__gte=models.F("valid_from")), name="donors_ethicsapproval_valid_range"
            ),
            models.CheckConstraint(
                condition=models.Q(withdrawn_on__isnull=True) | ~models.Q(withdrawal_reason=""),
                name="donors_ethicsapproval_withdrawal_has_reason",
            ),
        ]
        verbose_name = _("ethics approval")
        verbose_name_plural = _("ethics approvals")
        permissions = [("withdraw_ethicsapproval", _("Can record the withdrawal of an ethics approval"))]

    def __str__(self) -> str:
        return f"{self.approval_number} ({self.committee})"

    @property
    def is_withdrawn(self) -> bool:
        return self.withdrawn_on is not None

    def is_valid_on(self, day) -> bool:
        """In force on ``day``: inside its dates and not withdrawn on or before that day."""
        return self.valid_from <= day <= self.valid_to and (self.withdrawn_on is None or day < self.withdrawn_on)

    @classmethod
    def valid_on(cls, day):
        """The approvals in force on ``day`` (the one rule ``is_valid_on`` states, as a query)."""
        return cls.objects.filter(valid_from__lte=day, valid_to__gte=day).filter(
            models.Q(withdrawn_on__isnull=True) | models.Q(withdrawn_on__gt=day))

    def lapsed_on(self, today) -> datetime.date | None:
        """The day it stopped covering anything (withdrawn, or the day after it ended), if before ``today``."""
        ends = [d for d in (self.withdrawn_on, self.valid_to + datetime.timedelta(days=1)) if d is not None]
        first = min(ends)
        return first if first <= today else None


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
    """The donor's registration HLA typing: A, B, C, DRB1, DQB1 (two alleles each) and, when typed, DPB1, in WHO
    nomenclature at 1 or 2 fields. One row per donor, replaced in place by ``donors.services.set_hla``: every earlier
    version stays in its history (shown on the donor's HLA tab and in ``GET /donors/{id}/hla/``). A cord blood unit's
    verification typing is a separate record (``cordblood.VerificationTyping``) and never changes this one."""

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
    # Optional (issue 12): blank when the laboratory did not type DPB1.
    dpb1_1 = models.CharField("DPB1 (1)", max_length=20, blank=True, default="")
    dpb1_2 = models.CharField("DPB1 (2)", max_length=20, blank=True, default="")
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
        """Two alleles per locus; an optional locus (DPB1) only when it was typed."""
        pairs = {locus: [getattr(self, f"{locus.lower()}_1"), getattr(self, f"{locus.lower()}_2")]
                 for locus in ALL_HLA_LOCI}
        return {locus: pair for locus, pair in pairs.items() if locus in HLA_LOCI or any(pair)}

    def homozygous_loci(self) -> list[str]:
        return [locus for locus, (first, second) in self.alleles().items() if first and first == second]


class HLAKey(models.Model):
    """Derived, like an index (``donors.hla_index``): the donor's registration typing as lookup keys, so that a
    match search over a million typed donors runs on b-tree lookups instead of a scan.

    Per locus (A, B, C, DRB1, DQB1): ``<locus>_key`` the unordered genotype as typed (``"A*02:01/A*24:02"``, the
    two alleles in code-point order) and ``<locus>_group`` the same at the allele-group level (``"A*02/A*24"``).
    ``haplotype`` is ``"A*02:07~B*46:01~DRB1*09:01"`` when the donor is homozygous at A, B and DRB1 at two fields
    (else ``""``); ``haplotype_group`` the same at the group level (``"A*02~B*46~DRB1*09"``). Written only by
    ``donors.hla_index`` (every save of an ``HLATyping``; ``fill_hla_keys`` for bulk loads and the migration), so no
    history and no service writes it."""

    donor = models.OneToOneField(Donor, primary_key=True, on_delete=models.CASCADE, related_name="hla_key")
    a_key = models.CharField(_("HLA-A genotype"), max_length=41)
    b_key = models.CharField(_("HLA-B genotype"), max_length=41)
    c_key = models.CharField(_("HLA-C genotype"), max_length=41)
    drb1_key = models.CharField(_("HLA-DRB1 genotype"), max_length=41)
    dqb1_key = models.CharField(_("HLA-DQB1 genotype"), max_length=41)
    a_group = models.CharField(_("HLA-A genotype (allele groups)"), max_length=41)
    b_group = models.CharField(_("HLA-B genotype (allele groups)"), max_length=41)
    c_group = models.CharField(_("HLA-C genotype (allele groups)"), max_length=41)
    drb1_group = models.CharField(_("HLA-DRB1 genotype (allele groups)"), max_length=41)
    dqb1_group = models.CharField(_("HLA-DQB1 genotype (allele groups)"), max_length=41)
    haplotype = models.CharField(_("homozygous A~B~DRB1 haplotype (2-field)"), max_length=64, blank=True)
    haplotype_group = models.CharField(_("homozygous A~B~DRB1 haplotype (allele groups)"), max_length=64,
                                       blank=True)

    class Meta:
        ordering = ["donor_id"]
        indexes = [
            *[models.Index(fields=[f"{locus}_{kind}"], name=f"donors_hlakey_{locus}_{kind}_idx")
              for locus in ("a", "b", "c", "drb1", "dqb1") for kind in ("key", "group")],
            # Every pair of loci at 2 fields: a match tier that keeps some loci free of host-versus-graft mismatches
            # looks donors up by pairs (haplobank.matching.tier_sql). One scan of a pair's few thousand entries
            # instead of a bitmap AND of two loci's tens of thousands (A and DQB1: 51,000 and 65,000 donors for a
            # common patient at the national profile; the tier's lookups 12 -> 0.7 ms).
            *[models.Index(fields=[f"{x}_key", f"{y}_key"], name=f"donors_hlakey_{x}_{y}_idx")
              for x, y in combinations(("a", "b", "c", "drb1", "dqb1"), 2)],
            # The same pairs at the allele-group level, for a patient typed at one field (tier_sql looks the group
            # columns up then): a 1-field five-locus search at the national profile no longer ANDs two loci's
            # bitmaps of a hundred thousand donors each.
            *[models.Index(fields=[f"{x}_group", f"{y}_group"], name=f"donors_hlagrp_{x}_{y}_idx")
              for x, y in combinations(("a", "b", "c", "drb1", "dqb1"), 2)],
            # Homozygous donors (a few per cent): coverage and the recruitment list read only these.
            models.Index(fields=["haplotype"], condition=models.Q(haplotype__gt=""),
                         name="donors_hlakey_haplotype_idx"),
            models.Index(fields=["haplotype_group"], condition=models.Q(haplotype_group__gt=""),
                         name="donors_hlakey_haplo_grp_idx"),
        ]
        verbose_name = _("HLA lookup key")
        verbose_name_plural = _("HLA lookup keys")

    def __str__(self) -> str:
        return f"{self.donor_id}: {self.a_key} {self.b_key} {self.drb1_key}"


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
    # Issue 15: set when the receipt or a custody hand-over fell outside the tissue's transport limits
    # (COLLECTION_TRANSPORT_LIMITS); QA has a deviation for it.
    transport_out_of_limits = models.BooleanField(_("transport outside the tissue's limits"), default=False)
    notes = models.TextField(_("notes"), blank=True)

    history = audit_history()

    class Meta:
        ordering = ["-collected_at", "-id"]
        indexes = [
            models.Index(fields=["donor", "-collected_at"], name="donors_collection_donor_idx"),
            # The dashboard's late collections of the last 30 days: a few among a million.
            models.Index(fields=["received_at"], condition=models.Q(transport_delay_flagged=True),
                         name="donors_collection_late_idx"),
            # The lines derived under a lapsed ethics approval, newest first (lots.queries.lines_under_approvals).
            models.Index(fields=["ethics_approval", "-collected_at", "-id"], name="donors_collection_ethics_idx"),
        ]
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


class CustodyHandover(models.Model):
    """One hand-over in a collection's chain of custody, from the collection site to the bank's receipt: who gave
    it, who took it, when, where and at what temperature. Recorded, never changed (a mistake is noted in a later
    hand-over's note). ``within_limits`` is judged once, against the tissue's transport limits at the time."""

    collection = models.ForeignKey(Collection, on_delete=models.PROTECT, related_name="handovers")
    handed_by = models.CharField(_("handed over by"), max_length=200)
    received_by = models.CharField(_("received by"), max_length=200)
    at = models.DateTimeField(_("handed over at"))
    location = models.CharField(_("location"), max_length=200)
    temperature_c = models.DecimalField(_("temperature (°C)"), max_digits=5, decimal_places=1, null=True,
                                        blank=True)
    note = models.TextField(_("note"), blank=True)
    within_limits = models.BooleanField(_("within the transport limits"), default=True)
    limit_problem = models.CharField(_("outside the limits"), max_length=300, blank=True)
    recorded_by = models.ForeignKey(User, on_delete=models.PROTECT, related_name="+")
    recorded_at = models.DateTimeField(_("recorded at"), default=timezone.now)

    history = audit_history()

    class Meta:
        ordering = ["collection_id", "at", "id"]
        indexes = [models.Index(fields=["collection", "at", "id"], name="donors_handover_chain_idx")]
        constraints = [
            models.CheckConstraint(condition=models.Q(within_limits=True) | ~models.Q(limit_problem=""),
                                   name="donors_custodyhandover_problem_named"),
        ]
        verbose_name = _("custody hand-over")
        verbose_name_plural = _("custody hand-overs")

    def __str__(self) -> str:
        return f"{self.collection_id}: {self.handed_by} → {self.received_by} ({self.at:%Y-%m-%d %H:%M})"
