"""StemBank project package: settings, URLs, the Celery app and the bank-wide core."""

from bank.celery import app as celery_app

__all__ = ["celery_app"]
