"""Migration imports: each run of a file (``ImportRun``) and the external IDs it brought in (``ExternalRef``).

An ``ExternalRef`` maps a row's ID in the legacy system (``source``, ``kind``, ``external_id``) to the record the
import created, so running the same file again skips what is already there. The records themselves (lines, lots,
vials, units) carry their own history, stamped with the importer and the run; the mapping is written in the same
transaction and never changes afterwards, so it keeps no history of its own (a million-vial file would otherwise
write a million more history rows for bookkeeping).
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from bank.audit import audit_history
from imports.choices import ImportKind, RefKind, RunStatus

User = settings.AUTH_USER_MODEL


class ImportRun(models.Model):
    """One import (or dry run) of a file: who, what kind, the file's SHA-256, what it created or why it was refused.
    When the file brings lots in as released, the run carries QA's e-signature (``bank.signatures``) over the file's
    hash: QA vouches that the legacy release records exist."""

    # Progress and outcome change after QA signed the run: the signature covers the file, the kind and the source.
    SIGNATURE_EXCLUDE_FIELDS = ("status", "rows", "created", "skipped", "error_count", "report", "errors_file",
                                "finished_at", "job")

    kind = models.CharField(_("kind"), max_length=20, choices=ImportKind.choices)
    source = models.CharField(_("source system"), max_length=60,
                              help_text=_("The legacy system the file comes from; external IDs are unique per source."))
    filename = models.CharField(_("file name"), max_length=200)
    sha256 = models.CharField(_("file SHA-256"), max_length=64)
    dry_run = models.BooleanField(_("dry run"), default=False)
    status = models.CharField(_("status"), max_length=12, choices=RunStatus.choices, default=RunStatus.QUEUED)
    rows = models.PositiveIntegerField(_("rows"), default=0)
    created = models.JSONField(_("created"), default=dict, blank=True)
    skipped = models.PositiveIntegerField(_("rows already imported"), default=0)
    error_count = models.PositiveIntegerField(_("bad rows"), default=0)
    # The outcome: counts, and the first bad rows ({"row", "column", "message"}); all of them are in the job's CSV.
    report = models.JSONField(_("report"), default=dict, blank=True)
    errors_file = models.FileField(_("bad rows (CSV)"), upload_to="imports/errors/%Y/%m/", blank=True)
    released_signed_by = models.ForeignKey(User, on_delete=models.PROTECT, null=True, blank=True, related_name="+",
                                           verbose_name=_("release signed by"))
    job = models.ForeignKey("bank.Job", on_delete=models.PROTECT, null=True, blank=True, related_name="+")
    user = models.ForeignKey(User, on_delete=models.PROTECT, related_name="+", verbose_name=_("imported by"))
    created_at = models.DateTimeField(_("started at"), default=timezone.now)
    finished_at = models.DateTimeField(_("finished at"), null=True, blank=True)

    history = audit_history()

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["-created_at", "-id"], name="imports_run_order_idx")]
        verbose_name = _("import run")
        verbose_name_plural = _("import runs")
        permissions = [
            ("import_inventory", _("Can import cell lines, lots and vials")),
            ("import_cordblood", _("Can import cord blood units")),
        ]

    def __str__(self) -> str:
        return f"{self.kind} #{self.pk} {self.filename}"

    @property
    def finished(self) -> bool:
        return self.status not in (RunStatus.QUEUED, RunStatus.RUNNING)


class ExternalRef(models.Model):
    """A legacy ID and the record it became (``kind`` says which model; ``object_id`` its primary key)."""

    source = models.CharField(_("source system"), max_length=60)
    kind = models.CharField(_("kind"), max_length=20, choices=RefKind.choices)
    external_id = models.CharField(_("external ID"), max_length=100)
    object_id = models.BigIntegerField(_("object id"))
    run = models.ForeignKey(ImportRun, on_delete=models.PROTECT, related_name="refs")

    class Meta:
        ordering = ["source", "kind", "external_id"]
        constraints = [
            models.UniqueConstraint(fields=["source", "kind", "external_id"], name="imports_externalref_unique"),
        ]
        verbose_name = _("external ID")
        verbose_name_plural = _("external IDs")

    def __str__(self) -> str:
        return f"{self.source}:{self.kind}:{self.external_id} → {self.object_id}"
