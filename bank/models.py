"""Bank-wide records: electronic signatures, authentication events, number sequences, notifications."""

from __future__ import annotations

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.contenttypes.fields import GenericForeignKey
from django.contrib.contenttypes.models import ContentType
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from simple_history import register

from bank.audit import audit_history

# The user table keeps its own history (role and activation changes are regulated events);
# the password hash and last login time are never copied into it.
register(get_user_model(), app="bank", excluded_fields=["password", "last_login"])


class SignatureMeaning(models.TextChoices):
    """Standard meanings of an electronic signature (21 CFR 11.50(a)(3))."""

    RELEASE = "release", _("Release: the lot meets its specification")
    REJECTION = "rejection", _("Rejection: the lot does not meet its specification")
    APPROVAL = "approval", _("Approval")
    REVIEW = "review", _("Review")
    RESPONSIBILITY = "responsibility", _("Responsibility")
    AUTHORSHIP = "authorship", _("Authorship")
    ACKNOWLEDGEMENT = "acknowledgement", _("Acknowledgement")
    RECALL = "recall", _("Recall")
    CLOSURE = "closure", _("Closure")
    HOLD_LIFTED = "hold_lifted", _("Hold lifted")


class Signature(models.Model):
    """An electronic signature (21 CFR 11.50, 11.70, 11.200) linked to the record it signs.

    ``content_hash`` is the SHA-256 of the signed record's content at signing time; comparing it
    with the record's current content tells whether the record changed after it was signed.
    """

    signer = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="signatures")
    printed_name = models.CharField(_("printed name"), max_length=300)
    signed_at = models.DateTimeField(_("signed at"), default=timezone.now)
    meaning = models.CharField(_("meaning"), max_length=200)
    statement = models.TextField(_("statement"), blank=True)
    content_type = models.ForeignKey(ContentType, on_delete=models.PROTECT)
    object_id = models.PositiveBigIntegerField()
    record = GenericForeignKey("content_type", "object_id")
    content_hash = models.CharField(_("content hash"), max_length=64)
    # What the signer reviewed (21 CFR 11.70): e.g. for a release every counted result with its value, the
    # specification version, the deviations and their state, donor eligibility and consent. The signature
    # binds it: any later change to what it lists shows the signature as no longer matching.
    manifest = models.JSONField(_("manifest"), default=dict, blank=True)
    manifest_hash = models.CharField(_("manifest hash"), max_length=64, blank=True)

    history = audit_history()

    class Meta:
        ordering = ["-signed_at", "-id"]
        indexes = [
            models.Index(fields=["content_type", "object_id"], name="bank_signature_record_idx"),
            models.Index(fields=["-signed_at", "-id"], name="bank_signature_order_idx"),
        ]
        verbose_name = _("electronic signature")
        verbose_name_plural = _("electronic signatures")
        permissions = [("view_audit_trail", _("Can read audit trails"))]

    def __str__(self) -> str:
        return f"{self.printed_name} — {self.meaning_display} — {self.signed_at:%Y-%m-%d %H:%M %Z}"

    @property
    def meaning_display(self) -> str:
        try:
            return str(SignatureMeaning(self.meaning).label)
        except ValueError:
            return self.meaning


class AuthEvent(models.Model):
    """A login, signature or password-check attempt, kept for lockout (21 CFR 11.300(d)) and for review.

    Lockout is per username *and* client address (``client_ip``): a stranger failing from elsewhere can
    never lock a QA officer out of their own bench. An admin's unlock is an event too (``actor``, ``reason``).
    """

    class Kind(models.TextChoices):
        LOGIN_OK = "login_ok", _("Login succeeded")
        LOGIN_FAILED = "login_failed", _("Login failed")
        SIGNATURE_OK = "signature_ok", _("Signature succeeded")
        SIGNATURE_FAILED = "signature_failed", _("Signature failed")
        PASSWORD_FAILED = "password_failed", _("Password check failed")
        LOCKED_OUT = "locked_out", _("Refused while locked")
        UNLOCKED = "unlocked", _("Unlocked by an admin")

    username = models.CharField(_("username"), max_length=150)
    kind = models.CharField(_("kind"), max_length=20, choices=Kind.choices)
    at = models.DateTimeField(_("at"), default=timezone.now)
    source = models.CharField(_("source"), max_length=40, blank=True)
    client_ip = models.GenericIPAddressField(_("client address"), null=True, blank=True)
    actor = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True,
                              related_name="+", verbose_name=_("by"))
    reason = models.CharField(_("reason"), max_length=300, blank=True)

    history = audit_history()

    class Meta:
        ordering = ["-at", "-id"]
        indexes = [
            models.Index(fields=["username", "-at"], name="bank_authevent_user_at_idx"),
            models.Index(fields=["username", "client_ip", "-at"], name="bank_authevent_user_ip_at_idx"),
        ]
        verbose_name = _("authentication event")
        verbose_name_plural = _("authentication events")

    def __str__(self) -> str:
        return f"{self.username} {self.kind} {self.at:%Y-%m-%d %H:%M}"


class AccountChange(models.Model):
    """A regulated change to an account — roles, activation, unlock, password, tokens revoked, stray
    permissions removed, second factor — with who made it, when and why (21 CFR 11.10(d), (g))."""

    class Kind(models.TextChoices):
        CREATED = "created", _("Account created")
        ROLES = "roles", _("Roles changed")
        ACTIVATION = "activation", _("Activated or deactivated")
        UNLOCK = "unlock", _("Unlocked")
        PASSWORD = "password", _("Password changed")
        TOKENS_REVOKED = "tokens_revoked", _("API tokens revoked")
        PERMISSIONS = "permissions", _("Per-user permissions removed")
        SECOND_FACTOR = "second_factor", _("Second factor changed")
        SENSORS = "sensors", _("Sensor bound to units")
        MUST_CHANGE_PASSWORD = "must_change_password", _("Password change required")

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="account_changes",
                             verbose_name=_("account"))
    actor = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True,
                              related_name="+", verbose_name=_("by"))
    at = models.DateTimeField(_("at"), default=timezone.now)
    kind = models.CharField(_("kind"), max_length=20, choices=Kind.choices)
    before = models.JSONField(_("before"), default=dict, blank=True)
    after = models.JSONField(_("after"), default=dict, blank=True)
    reason = models.CharField(_("reason"), max_length=300, blank=True)

    history = audit_history()

    class Meta:
        ordering = ["-at", "-id"]
        indexes = [models.Index(fields=["user", "-at"], name="bank_accountchange_user_at_idx")]
        verbose_name = _("account change")
        verbose_name_plural = _("account changes")

    def __str__(self) -> str:
        return f"{self.user} {self.kind} {self.at:%Y-%m-%d %H:%M}"


class Sequence(models.Model):
    """The last number handed out in one family of numbers (``barcode:vial``, ``deviation:2026``,
    ``name:SCBi`` ...). Only ``bank.sequences`` reads and moves it, with the row locked."""

    key = models.CharField(_("key"), max_length=100, primary_key=True)
    last_value = models.PositiveBigIntegerField(_("last value"), default=0)

    history = audit_history()

    class Meta:
        ordering = ["key"]
        verbose_name = _("number sequence")
        verbose_name_plural = _("number sequences")

    def __str__(self) -> str:
        return f"{self.key}: {self.last_value}"


class Notification(models.Model):
    """An in-app message to one user (alarms, due re-checks, holds, recalls); also e-mailed."""

    class Level(models.TextChoices):
        INFO = "info", _("Information")
        WARNING = "warning", _("Warning")
        ALARM = "alarm", _("Alarm")

    recipient = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="notifications"
    )
    level = models.CharField(_("level"), max_length=10, choices=Level.choices, default=Level.INFO)
    subject = models.CharField(_("subject"), max_length=200)
    body = models.TextField(_("body"), blank=True)
    link = models.CharField(_("link"), max_length=300, blank=True)
    created_at = models.DateTimeField(_("created at"), default=timezone.now)
    read_at = models.DateTimeField(_("read at"), null=True, blank=True)

    history = audit_history()

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(fields=["-created_at", "-id"], name="bank_notification_order_idx"),
            models.Index(
                fields=["recipient", "-created_at"],
                name="bank_notification_unread_idx",
                condition=models.Q(read_at__isnull=True),
            ),
        ]
        verbose_name = _("notification")
        verbose_name_plural = _("notifications")

    def __str__(self) -> str:
        return self.subject


# --- The tamper-evident audit chain (21 CFR 11.10(c), (e)) ----------------------------------------------
# These two tables are the ledger of the history tables, not audited records themselves: they carry no
# history of their own (bank.audit_chain writes them; a database trigger adds a link per history row).


class AuditLink(models.Model):
    """One history row's place in the chain: its content hash (written by a trigger as the row is inserted)
    and, once sealed in insertion order, the hash linking it to the link before it."""

    table = models.CharField(_("history table"), max_length=63)
    history_id = models.BigIntegerField(_("history row"))
    row_hash = models.CharField(_("row hash"), max_length=64)
    chain_hash = models.CharField(_("chain hash"), max_length=64, blank=True)
    recorded_at = models.DateTimeField(_("recorded at"), default=timezone.now)

    class Meta:
        ordering = ["id"]
        constraints = [models.UniqueConstraint(fields=["table", "history_id"], name="bank_auditlink_unique_row")]
        indexes = [models.Index(fields=["id"], condition=models.Q(chain_hash=""), name="bank_auditlink_unsealed_idx")]
        verbose_name = _("audit chain link")
        verbose_name_plural = _("audit chain links")

    def __str__(self) -> str:
        return f"{self.table}#{self.history_id}"


class AuditCheckpoint(models.Model):
    """The chain's head at a moment, keyed with a secret held outside the database (AUDIT_CHAIN_KEY): a
    superuser who rewrites history and re-hashes the chain cannot forge the checkpoints."""

    at = models.DateTimeField(_("at"), default=timezone.now)
    last_link_id = models.BigIntegerField(_("last link"))
    chain_hash = models.CharField(_("chain hash"), max_length=64)
    signature = models.CharField(_("keyed hash"), max_length=64)
    key_id = models.CharField(_("key id"), max_length=20, blank=True)

    class Meta:
        ordering = ["-at", "-id"]
        verbose_name = _("audit checkpoint")
        verbose_name_plural = _("audit checkpoints")

    def __str__(self) -> str:
        return f"checkpoint {self.at:%Y-%m-%d %H:%M} @ {self.last_link_id}"


# --- Work outside the request --------------------------------------------------------------------------


class OutboxMessage(models.Model):
    """Something to tell another system — an e-mail, a Celery task — written in the same transaction as the
    change it follows, and delivered by a worker with retry and backoff (a beat sweep picks up stragglers).
    Nothing is lost while Redis or SMTP is down, and no web request waits on them. Operational rows: no history."""

    class Kind(models.TextChoices):
        EMAIL = "email", _("E-mail")
        TASK = "task", _("Task")

    class Status(models.TextChoices):
        PENDING = "pending", _("Pending")
        DELIVERED = "delivered", _("Delivered")
        DEAD = "dead", _("Gave up")

    kind = models.CharField(_("kind"), max_length=10, choices=Kind.choices)
    payload = models.JSONField(_("payload"), default=dict)
    status = models.CharField(_("status"), max_length=10, choices=Status.choices, default=Status.PENDING)
    created_at = models.DateTimeField(_("created at"), default=timezone.now)
    available_at = models.DateTimeField(_("next attempt"), default=timezone.now)
    attempts = models.PositiveIntegerField(_("attempts"), default=0)
    last_error = models.TextField(_("last error"), blank=True)
    delivered_at = models.DateTimeField(_("delivered at"), null=True, blank=True)

    class Meta:
        ordering = ["id"]
        indexes = [models.Index(fields=["available_at", "id"], condition=models.Q(status="pending"),
                                name="bank_outbox_pending_idx")]
        verbose_name = _("outbox message")
        verbose_name_plural = _("outbox messages")

    def __str__(self) -> str:
        return f"{self.kind} #{self.pk} {self.status}"


class Heartbeat(models.Model):
    """The last sign of life of the Celery worker and of beat: when either stops, alarms cannot be raised,
    and the readiness endpoint and a banner for admin and QA say so."""

    name = models.CharField(_("name"), max_length=40, primary_key=True)
    seen_at = models.DateTimeField(_("seen at"), default=timezone.now)
    detail = models.CharField(_("detail"), max_length=200, blank=True)
    # Beat's row also holds the leader lease (issue 13, bank/beat.py): with beat on two hosts, only the holder
    # sends due tasks. Taken and renewed by a conditional UPDATE on the database's clock.
    leader = models.CharField(_("leader"), max_length=200, blank=True, default="", db_default="")
    lease_until = models.DateTimeField(_("lease until"), null=True, blank=True)

    class Meta:
        ordering = ["name"]
        verbose_name = _("heartbeat")
        verbose_name_plural = _("heartbeats")

    def __str__(self) -> str:
        return f"{self.name} {self.seen_at:%Y-%m-%d %H:%M:%S}"


class Tally(models.Model):
    """Derived, like an index: an exact count of rows per group (``"lots.status:released"`` → n), written only by
    database triggers (bank/tally.py), so no history and no service writes it."""

    key = models.CharField(_("key"), max_length=120, primary_key=True)
    n = models.BigIntegerField(_("count"), default=0)

    class Meta:
        verbose_name = _("tally")
        verbose_name_plural = _("tallies")

    def __str__(self) -> str:
        return f"{self.key} = {self.n}"


class Job(models.Model):
    """A long piece of work (an import, an export, a label sheet, a tank evacuation) run by the Celery worker
    for one user, with its progress, its result or the reason it failed (bank/jobs.py). The page that started
    it polls the job's row, so a reload, a closed tab or a restarted worker loses nothing. Operational rows:
    the work a job does is audited where it writes; the job itself keeps no history."""

    class Status(models.TextChoices):
        QUEUED = "queued", _("Waiting for the worker")
        RUNNING = "running", _("Running")
        DONE = "done", _("Done")
        FAILED = "failed", _("Failed")

    kind = models.CharField(_("kind"), max_length=60)
    title = models.CharField(_("title"), max_length=200, blank=True)
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="jobs",
                             verbose_name=_("user"))
    params = models.JSONField(_("parameters"), default=dict, blank=True)
    status = models.CharField(_("status"), max_length=10, choices=Status.choices, default=Status.QUEUED)
    done = models.BigIntegerField(_("done"), default=0)
    total = models.BigIntegerField(_("total"), null=True, blank=True)
    message = models.CharField(_("message"), max_length=300, blank=True)
    result = models.JSONField(_("result"), default=dict, blank=True)
    error = models.TextField(_("error"), blank=True)
    input_file = models.FileField(_("input file"), upload_to="jobs/in/%Y/%m/", blank=True)
    result_file = models.FileField(_("result file"), upload_to="jobs/out/%Y/%m/", blank=True)
    result_name = models.CharField(_("result file name"), max_length=200, blank=True)
    result_type = models.CharField(_("result content type"), max_length=100, blank=True)
    attempts = models.PositiveSmallIntegerField(_("attempts"), default=0)
    created_at = models.DateTimeField(_("created at"), default=timezone.now)
    started_at = models.DateTimeField(_("started at"), null=True, blank=True)
    heartbeat_at = models.DateTimeField(_("last progress"), null=True, blank=True)
    finished_at = models.DateTimeField(_("finished at"), null=True, blank=True)

    class Meta:
        ordering = ["-id"]
        indexes = [
            models.Index(fields=["user", "-id"], name="bank_job_user_idx"),
            models.Index(fields=["status", "id"], condition=models.Q(status__in=["queued", "running"]),
                         name="bank_job_open_idx"),
        ]
        verbose_name = _("job")
        verbose_name_plural = _("jobs")

    def __str__(self) -> str:
        return f"{self.kind} #{self.pk} {self.status}"

    @property
    def finished(self) -> bool:
        return self.status in (self.Status.DONE, self.Status.FAILED)

    @property
    def percent(self) -> int | None:
        """Whole percent done, or None while the total is unknown."""
        if not self.total:
            return 100 if self.status == self.Status.DONE else None
        return max(0, min(100, int(self.done * 100 // self.total)))


class AccountPolicy(models.Model):
    """What an admin asked of one account beyond its roles: that the user choose a new password before doing
    anything else (an account created with an initial password, or an admin's "force a password change").
    Set by ``bank.services``; cleared when the user changes the password. One row per account, made on first
    need; the login loads it with the user (``bank.auth.LockoutModelBackend.get_user``), so no page pays a query."""

    user = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="account_policy",
                                verbose_name=_("account"))
    must_change_password = models.BooleanField(_("must change the password"), default=False)
    flagged_at = models.DateTimeField(_("password change required since"), null=True, blank=True)

    history = audit_history()

    class Meta:
        verbose_name = _("account policy")
        verbose_name_plural = _("account policies")

    def __str__(self) -> str:
        return f"{self.user} must_change_password={self.must_change_password}"


class PrinterProfile(models.Model):
    """A label stock and how it is printed (issue 17): the size of one label, what it is for (vial, box or lot
    labels), and the output — a PDF sheet (a grid on A4/letter label stock), a PDF roll (one label per page, for a
    thermal roll printer) or ZPL for a Zebra printer at its resolution. Admins keep them (``/labels/printers/``);
    each kind has at most one default, used when the person printing chooses none. With no profile at all the
    settings ``LABEL_WIDTH_IN`` × ``LABEL_HEIGHT_IN`` (vials) still apply (bank/labels.py)."""

    class Kind(models.TextChoices):
        VIAL = "vial", _("Vial labels")
        BOX = "box", _("Box labels")
        LOT = "lot", _("Lot labels")

    class Output(models.TextChoices):
        PDF_SHEET = "pdf_sheet", _("PDF sheet (a grid of labels on a page)")
        PDF_ROLL = "pdf_roll", _("PDF roll (one label per page)")
        ZPL = "zpl", _("ZPL (Zebra printer)")

    class Page(models.TextChoices):
        A4 = "A4", "A4"
        LETTER = "letter", _("US letter")

    class Dpi(models.IntegerChoices):
        DPI_203 = 203, _("203 dpi (8 dots/mm)")
        DPI_300 = 300, _("300 dpi (12 dots/mm)")
        DPI_600 = 600, _("600 dpi (24 dots/mm)")

    name = models.CharField(_("name"), max_length=80, unique=True)
    kind = models.CharField(_("labels for"), max_length=10, choices=Kind.choices)
    output = models.CharField(_("output"), max_length=10, choices=Output.choices, default=Output.PDF_SHEET)
    width_in = models.DecimalField(_("label width (inches)"), max_digits=6, decimal_places=4)
    height_in = models.DecimalField(_("label height (inches)"), max_digits=6, decimal_places=4)
    page_size = models.CharField(_("sheet page size"), max_length=10, choices=Page.choices, default=Page.A4)
    columns = models.PositiveSmallIntegerField(
        _("columns on a sheet"), null=True, blank=True, help_text=_("Empty: as many as fit between the margins."))
    rows = models.PositiveSmallIntegerField(
        _("rows on a sheet"), null=True, blank=True, help_text=_("Empty: as many as fit between the margins."))
    margin_left_in = models.DecimalField(_("left margin (inches)"), max_digits=6, decimal_places=4, default="0.5")
    margin_top_in = models.DecimalField(_("top margin (inches)"), max_digits=6, decimal_places=4, default="0.5")
    gap_x_in = models.DecimalField(_("gap between columns (inches)"), max_digits=6, decimal_places=4, default="0.1")
    gap_y_in = models.DecimalField(_("gap between rows (inches)"), max_digits=6, decimal_places=4, default="0.1")
    dpi = models.PositiveSmallIntegerField(_("printer resolution (ZPL)"), choices=Dpi.choices, default=Dpi.DPI_300)
    is_default = models.BooleanField(_("default for its kind"), default=False)
    active = models.BooleanField(_("in use"), default=True)
    created_at = models.DateTimeField(_("created at"), default=timezone.now)

    history = audit_history()

    class Meta:
        ordering = ["kind", "name"]
        indexes = [models.Index(fields=["kind", "name"], name="bank_printerprofile_kind_idx")]
        constraints = [
            models.UniqueConstraint(fields=["kind"], condition=models.Q(is_default=True),
                                    name="bank_printerprofile_one_default_per_kind"),
            models.CheckConstraint(condition=models.Q(width_in__gt=0, height_in__gt=0),
                                   name="bank_printerprofile_size_positive"),
            models.CheckConstraint(condition=models.Q(is_default=False) | models.Q(active=True),
                                   name="bank_printerprofile_default_is_active"),
        ]
        verbose_name = _("printer profile")
        verbose_name_plural = _("printer profiles")

    def __str__(self) -> str:
        return self.name

    def clean(self) -> None:
        from django.core.exceptions import ValidationError

        from bank.labels import profile_errors

        errors = profile_errors(self)
        if errors:
            raise ValidationError(errors)
