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
    """A login or signature attempt, kept for lockout (21 CFR 11.300(d)) and for review."""

    class Kind(models.TextChoices):
        LOGIN_OK = "login_ok", _("Login succeeded")
        LOGIN_FAILED = "login_failed", _("Login failed")
        SIGNATURE_OK = "signature_ok", _("Signature succeeded")
        SIGNATURE_FAILED = "signature_failed", _("Signature failed")

    username = models.CharField(_("username"), max_length=150)
    kind = models.CharField(_("kind"), max_length=20, choices=Kind.choices)
    at = models.DateTimeField(_("at"), default=timezone.now)
    source = models.CharField(_("source"), max_length=40, blank=True)

    history = audit_history()

    class Meta:
        ordering = ["-at", "-id"]
        indexes = [models.Index(fields=["username", "-at"], name="bank_authevent_user_at_idx")]
        verbose_name = _("authentication event")
        verbose_name_plural = _("authentication events")

    def __str__(self) -> str:
        return f"{self.username} {self.kind} {self.at:%Y-%m-%d %H:%M}"


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
