"""Notifications: an in-app message per recipient and an e-mail, both written in the caller's transaction
(the e-mail as an outbox message the worker sends after the commit)."""

from __future__ import annotations

from collections.abc import Iterable

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import transaction
from django.utils import timezone

from bank.audit import acting, bulk_create_audited
from bank.models import Notification
from bank.outbox import enqueue_email


def users_with_role(*roles: str):
    return get_user_model().objects.filter(is_active=True, groups__name__in=roles).distinct().order_by("pk")


def absolute_link(link: str) -> str:
    """A link an e-mail reader can open: a site path gets ``SITE_URL`` in front when it is set."""
    return f"{settings.SITE_URL}{link}" if link.startswith("/") else link


def notify(recipients: Iterable, *, subject: str, body: str = "", link: str = "",
           level: str = Notification.Level.INFO, email: bool = True) -> list[Notification]:
    """Tell ``recipients`` (users) something; returns the in-app notifications created."""
    recipients = [user for user in recipients if user is not None]
    notes = bulk_create_audited(
        Notification,
        [
            Notification(recipient=user, subject=str(subject)[:200], body=str(body), link=link, level=level)
            for user in recipients
        ]
    )
    addresses = sorted({user.email for user in recipients if user.email})
    if email and addresses:
        body_text = str(body)
        if link:
            body_text = f"{body_text}\n\n{absolute_link(link)}"
        # Written in the caller's transaction, sent by the worker after the commit (bank.outbox): a mail
        # server or broker that is down delays the e-mail, never the change, and never loses it.
        enqueue_email(addresses, f"[{settings.BANK_NAME}] {subject}", body_text)
    return notes


def notify_role(*roles: str, subject: str, body: str = "", link: str = "",
                level: str = Notification.Level.INFO) -> list[Notification]:
    return notify(users_with_role(*roles), subject=subject, body=body, link=link, level=level)


def unread_count(user) -> int:
    return Notification.objects.filter(recipient=user, read_at__isnull=True).count()


def mark_read(user, notification_ids: Iterable[int] | None = None) -> int:
    """Mark ``user``'s unread notifications (or the given ones) read; each change is audited."""
    qs = Notification.objects.filter(recipient=user, read_at__isnull=True)
    if notification_ids is not None:
        qs = qs.filter(pk__in=list(notification_ids))
    now = timezone.now()
    count = 0
    with transaction.atomic(), acting(user):
        for note in qs.select_for_update().order_by("pk")[:500]:
            note.read_at = now
            note.save(update_fields=["read_at"])
            count += 1
    return count
