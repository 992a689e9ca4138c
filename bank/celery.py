"""The Celery application. Its beat schedule lives in settings (CELERY_BEAT_SCHEDULE)."""

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "bank.settings")


def survive_a_lost_broker() -> None:
    """Keep the worker alive through a Redis outage (kombu 5.6 with celery 5.7).

    When the worker loses Redis while a task is unacknowledged, celery closes the broken connection; closing
    the Redis channel restores the unacknowledged messages on a new client built from the connection's
    parameters, but the connection is already gone (``client`` is None), so kombu raises an AttributeError —
    not a connection error — and the worker stops for good ("Unrecoverable error"), leaving the outbox
    undelivered after Redis is back. Raising the connection error it means lets the close ignore it and the
    worker reconnect; the messages are restored by Redis' visibility timeout, and every task is idempotent.
    Regression: tests/security/test_operations.py."""
    import redis
    from kombu.transport import redis as kombu_redis

    original = kombu_redis.Channel._connparams
    if getattr(original, "stembank_guarded", False):
        return

    def _connparams(self, asynchronous=False):
        if self.connection.client is None:
            raise redis.exceptions.ConnectionError("the broker connection is already closed")
        return original(self, asynchronous=asynchronous)

    _connparams.stembank_guarded = True
    kombu_redis.Channel._connparams = _connparams


survive_a_lost_broker()

app = Celery("bank")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
