"""QC: the test catalog, versioned specifications, results, deviations, QA decisions, stability re-checks."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from bank.audit import audit_history
from bank.identifiers import IdentifierField
from lots.choices import CellType, Tier
from qc.choices import ANY_OUTCOME, Decision, DeviationStatus, QCStage, RecheckStatus, TestKind

User = settings.AUTH_USER_MODEL


def format_number(value) -> str:
    """A stored decimal without trailing zeros: 70.0000 → ``70``, 0.5000 → ``0.5``."""
    if value is None:
        return ""
    text = format(value.normalize(), "f") if hasattr(value, "normalize") else str(value)
    return text


class QCTest(models.Model):
    """A test of the catalog with a stable code (``sterility``, ``viability`` ...)."""

    code = models.CharField(_("code"), max_length=40, unique=True)
    name = models.CharField(_("name"), max_length=160)
    kind = models.CharField(_("kind"), max_length=10, choices=TestKind.choices)
    unit = models.CharField(_("unit"), max_length=30, blank=True)
    outcomes = models.JSONField(_("possible outcomes"), default=list, blank=True)
    typical_method = models.CharField(_("typical method"), max_length=200, blank=True)
    order = models.PositiveSmallIntegerField(_("order"), default=100)
    # The stage a test is usually done at (issue 12, cord blood); a criterion's own stage defaults to it.
    stage = models.CharField(_("stage"), max_length=16, choices=QCStage.choices, blank=True, default="")

    history = audit_history()

    class Meta:
        ordering = ["order", "code"]
        verbose_name = _("QC test")
        verbose_name_plural = _("QC tests")

    def __str__(self) -> str:
        return self.code


class Specification(models.Model):
    """The required tests and limits for one cell type and tier, in one published version.

    QA changes a specification only by publishing a new version; old versions keep judging the lots
    whose first result was entered under them.
    """

    cell_type = models.CharField(_("cell type"), max_length=10, choices=CellType.choices)
    tier = models.CharField(_("tier"), max_length=4, choices=Tier.choices)
    version = models.PositiveIntegerField(_("version"))
    published_at = models.DateTimeField(_("published at"), default=timezone.now)
    published_by = models.ForeignKey(User, on_delete=models.PROTECT, related_name="+", null=True, blank=True)
    notes = models.TextField(_("notes"), blank=True)

    history = audit_history()

    class Meta:
        ordering = ["cell_type", "tier", "-version"]
        constraints = [
            models.UniqueConstraint(fields=["cell_type", "tier", "version"], name="qc_specification_unique_version"),
        ]
        verbose_name = _("specification")
        verbose_name_plural = _("specifications")

    def __str__(self) -> str:
        return f"{self.cell_type} {self.tier} v{self.version}"


class Criterion(models.Model):
    """One test in a specification: a numeric range (inclusive) or an expected outcome."""

    specification = models.ForeignKey(Specification, on_delete=models.PROTECT, related_name="criteria")
    test = models.ForeignKey(QCTest, on_delete=models.PROTECT, related_name="criteria")
    min_value = models.DecimalField(_("minimum"), max_digits=12, decimal_places=4, null=True, blank=True)
    max_value = models.DecimalField(_("maximum"), max_digits=12, decimal_places=4, null=True, blank=True)
    unit = models.CharField(_("unit"), max_length=30, blank=True)
    expected = models.CharField(_("expected outcome"), max_length=40, blank=True)
    blocking = models.BooleanField(_("blocking"), default=True,
                                   help_text=_("Reference criteria are shown to QA but do not block release."))
    only_for_reprogramming = models.CharField(
        _("only for lines reprogrammed with"), max_length=20, blank=True,
        help_text=_("e.g. sendai: residual vector testing applies to Sendai-reprogrammed lines only."),
    )
    stage = models.CharField(_("stage"), max_length=16, choices=QCStage.choices, blank=True, default="",
                             help_text=_("Cord blood: pre-processing, post-processing or post-thaw."))

    history = audit_history()

    class Meta:
        ordering = ["specification_id", "test__order", "id"]
        constraints = [
            models.UniqueConstraint(fields=["specification", "test"], name="qc_criterion_unique_test"),
            models.CheckConstraint(
                condition=~models.Q(expected="")
                | models.Q(min_value__isnull=False)
                | models.Q(max_value__isnull=False),
                name="qc_criterion_has_limit",
            ),
        ]
        verbose_name = _("criterion")
        verbose_name_plural = _("criteria")

    def __str__(self) -> str:
        return f"{self.specification}: {self.test.code}"

    def applies_to(self, cell_line) -> bool:
        """A criterion limited to one reprogramming method applies only to lines made with it."""
        return not self.only_for_reprogramming or self.only_for_reprogramming == cell_line.reprogramming_method

    def judge(self, value=None, outcome: str = "") -> bool:
        """Pass/fail of a result against this criterion (numeric limits are inclusive)."""
        if self.expected == ANY_OUTCOME:
            return bool((outcome or "").strip())
        if self.expected:
            return (outcome or "").strip().lower() == self.expected.strip().lower()
        if value is None:
            return False
        if self.min_value is not None and value < self.min_value:
            return False
        return not (self.max_value is not None and value > self.max_value)

    def describe(self) -> str:
        """The limit as QA and the CoA show it: ``≥ 70 %``, ``≤ 5 EU/mL``, ``1–2 %``, ``negative``."""
        if self.expected == ANY_OUTCOME:
            return str(_("recorded"))
        if self.expected:
            return self.expected
        unit = f" {self.unit}" if self.unit else ""
        if self.min_value is not None and self.max_value is not None:
            return f"{format_number(self.min_value)}–{format_number(self.max_value)}{unit}"
        if self.min_value is not None:
            return f"≥ {format_number(self.min_value)}{unit}"
        return f"≤ {format_number(self.max_value)}{unit}"


class LotSpecification(models.Model):
    """The specification version that judges a lot: the one in force when its first result was entered."""

    lot = models.OneToOneField("lots.Lot", on_delete=models.PROTECT, related_name="qc_specification")
    specification = models.ForeignKey(Specification, on_delete=models.PROTECT, related_name="+")
    assigned_at = models.DateTimeField(_("assigned at"), default=timezone.now)

    history = audit_history()

    class Meta:
        ordering = ["lot_id"]
        verbose_name = _("lot specification")
        verbose_name_plural = _("lot specifications")

    def __str__(self) -> str:
        return f"{self.lot} → {self.specification}"


class QCResult(models.Model):
    """A test result on a lot. Never overwritten: a retest is a new result."""

    lot = models.ForeignKey("lots.Lot", on_delete=models.PROTECT, related_name="qc_results")
    test = models.ForeignKey(QCTest, on_delete=models.PROTECT, related_name="results")
    criterion = models.ForeignKey(Criterion, on_delete=models.PROTECT, null=True, blank=True, related_name="+")
    vial = models.ForeignKey("lots.Vial", on_delete=models.PROTECT, null=True, blank=True, related_name="qc_results")
    value = models.DecimalField(_("value"), max_digits=12, decimal_places=4, null=True, blank=True)
    outcome = models.CharField(_("outcome"), max_length=40, blank=True)
    unit = models.CharField(_("unit"), max_length=30, blank=True)
    method = models.CharField(_("method"), max_length=200, blank=True)
    instrument = models.CharField(_("instrument or kit lot"), max_length=120, blank=True)
    tested_on = models.DateField(_("tested on"))
    passed = models.BooleanField(_("passed"), null=True,
                                 help_text=_("Empty when the lot's specification has no criterion for this test."))
    retest_of = models.ForeignKey(
        "self", on_delete=models.PROTECT, null=True, blank=True, related_name="retests"
    )
    entered_by = models.ForeignKey(User, on_delete=models.PROTECT, related_name="+")
    entered_at = models.DateTimeField(_("entered at"), default=timezone.now)
    notes = models.TextField(_("notes"), blank=True)

    history = audit_history()

    class Meta:
        ordering = ["lot_id", "test_id", "-entered_at", "-id"]
        indexes = [
            models.Index(fields=["lot", "test", "-entered_at"], name="qc_result_lot_test_idx"),
        ]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(value__isnull=False, outcome="")
                | (models.Q(value__isnull=True) & ~models.Q(outcome="")),
                name="qc_qcresult_value_or_outcome",
            ),
        ]
        verbose_name = _("QC result")
        verbose_name_plural = _("QC results")

    def __str__(self) -> str:
        return f"{self.lot} {self.test.code}: {self.display}"

    @property
    def display(self) -> str:
        """The result as entered: ``85.5 %`` or ``negative``."""
        if self.value is None:
            return self.outcome
        return f"{format_number(self.value)} {self.unit}".strip()


class Deviation(models.Model):
    """An out-of-specification investigation: root cause and CAPA, closed by QA with an e-signature.

    On a lot, or (issue 15) on a donor collection whose transport fell outside its tissue's limits, before any
    lot exists (``collection``, opened through donors' ``collection_deviation`` hook)."""

    number = IdentifierField(_("number"), max_length=30, unique=True)
    lot = models.ForeignKey("lots.Lot", on_delete=models.PROTECT, related_name="deviations", null=True, blank=True)
    collection = models.ForeignKey("donors.Collection", on_delete=models.PROTECT, related_name="deviations",
                                   null=True, blank=True, verbose_name=_("collection"))
    result = models.ForeignKey(QCResult, on_delete=models.PROTECT, null=True, blank=True, related_name="deviations")
    status = models.CharField(_("status"), max_length=10, choices=DeviationStatus.choices, default=DeviationStatus.OPEN)
    opened_at = models.DateTimeField(_("opened at"), default=timezone.now)
    opened_by = models.ForeignKey(User, on_delete=models.PROTECT, related_name="+")
    summary = models.CharField(_("summary"), max_length=300, blank=True,
                               help_text=_("What was out of specification (filled in when the deviation opens)."))
    investigation = models.TextField(_("investigation"), blank=True)
    root_cause = models.TextField(_("root cause"), blank=True)
    capa = models.TextField(_("corrective and preventive actions"), blank=True)
    closed_at = models.DateTimeField(_("closed at"), null=True, blank=True)
    closed_by = models.ForeignKey(User, on_delete=models.PROTECT, related_name="+", null=True, blank=True)

    history = audit_history()

    class Meta:
        ordering = ["-opened_at", "-id"]
        indexes = [
            models.Index(fields=["lot"], name="qc_deviation_open_idx", condition=models.Q(status="open")),
        ]
        constraints = [
            models.CheckConstraint(condition=models.Q(lot__isnull=False) | models.Q(collection__isnull=False),
                                   name="qc_deviation_lot_or_collection"),
        ]
        verbose_name = _("deviation")
        verbose_name_plural = _("deviations")
        permissions = [("close_deviation", _("Can close deviations with an e-signature"))]

    def __str__(self) -> str:
        return self.number


class LotDecision(models.Model):
    """A QA decision on a lot (release, reject, hold, lift hold, recall), e-signed."""

    lot = models.ForeignKey("lots.Lot", on_delete=models.PROTECT, related_name="decisions")
    decision = models.CharField(_("decision"), max_length=12, choices=Decision.choices)
    decided_at = models.DateTimeField(_("decided at"), default=timezone.now)
    decided_by = models.ForeignKey(User, on_delete=models.PROTECT, related_name="+", null=True, blank=True)
    reason = models.TextField(_("reason"), blank=True)
    cited_result = models.ForeignKey(
        QCResult, on_delete=models.PROTECT, null=True, blank=True, related_name="+",
        help_text=_("A hold is lifted only citing a passing re-test."),
    )
    specification = models.ForeignKey(Specification, on_delete=models.PROTECT, null=True, blank=True, related_name="+")

    history = audit_history()

    class Meta:
        ordering = ["-decided_at", "-id"]
        indexes = [models.Index(fields=["lot", "-decided_at"], name="qc_lotdecision_lot_idx")]
        verbose_name = _("lot decision")
        verbose_name_plural = _("lot decisions")
        permissions = [("release_lot", _("Can sign the release, rejection, hold and recall of lots"))]

    def __str__(self) -> str:
        return f"{self.lot} {self.decision}"

    # What the decision's e-signature covers besides this row (bank.signatures): the manifest of what QA
    # reviewed, rebuilt by qc.queries whenever a page or the API asks whether the signature still matches.
    def signature_manifest(self) -> dict | None:
        from qc.queries import decision_manifest

        return decision_manifest(self)

    @classmethod
    def signature_manifests(cls, decisions) -> dict:
        from qc.queries import decision_manifests

        return decision_manifests(list(decisions))


class StabilityPlan(models.Model):
    """The viability re-check programme of a released lot (default every 365 days)."""

    lot = models.OneToOneField("lots.Lot", on_delete=models.PROTECT, related_name="stability_plan")
    interval_days = models.PositiveIntegerField(_("interval (days)"), default=365)
    min_viability_pct = models.DecimalField(_("minimum viability (%)"), max_digits=5, decimal_places=2)
    next_due_on = models.DateField(_("next re-check due on"))
    active = models.BooleanField(_("active"), default=True)

    history = audit_history()

    class Meta:
        ordering = ["next_due_on", "id"]
        indexes = [
            models.Index(fields=["next_due_on"], name="qc_stabilityplan_due_idx", condition=models.Q(active=True)),
        ]
        constraints = [
            models.CheckConstraint(condition=models.Q(interval_days__gte=1), name="qc_stabilityplan_interval_positive"),
            models.CheckConstraint(
                condition=models.Q(min_viability_pct__gte=0, min_viability_pct__lte=100),
                name="qc_stabilityplan_viability_range",
            ),
        ]
        verbose_name = _("stability plan")
        verbose_name_plural = _("stability plans")

    def __str__(self) -> str:
        return f"{self.lot} every {self.interval_days} d"


class Recheck(models.Model):
    """One due viability re-check: which vial to thaw, and its result."""

    plan = models.ForeignKey(StabilityPlan, on_delete=models.PROTECT, related_name="rechecks")
    lot = models.ForeignKey("lots.Lot", on_delete=models.PROTECT, related_name="rechecks")
    due_on = models.DateField(_("due on"))
    status = models.CharField(_("status"), max_length=10, choices=RecheckStatus.choices, default=RecheckStatus.DUE)
    vial = models.ForeignKey("lots.Vial", on_delete=models.PROTECT, null=True, blank=True, related_name="rechecks")
    opened_at = models.DateTimeField(_("opened at"), default=timezone.now)
    result = models.OneToOneField(QCResult, on_delete=models.PROTECT, null=True, blank=True, related_name="recheck")
    completed_at = models.DateTimeField(_("completed at"), null=True, blank=True)
    completed_by = models.ForeignKey(User, on_delete=models.PROTECT, related_name="+", null=True, blank=True)

    history = audit_history()

    class Meta:
        ordering = ["due_on", "id"]
        indexes = [
            models.Index(fields=["status", "due_on"], name="qc_recheck_status_due_idx"),
        ]
        constraints = [
            # The beat task may run twice (or on two workers): a lot's re-check for a due date exists once.
            models.UniqueConstraint(fields=["plan", "due_on"], name="qc_recheck_unique_due"),
        ]
        verbose_name = _("stability re-check")
        verbose_name_plural = _("stability re-checks")

    def __str__(self) -> str:
        return f"{self.lot} re-check due {self.due_on}"
