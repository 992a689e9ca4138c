"""Runners for the jobs framework's own tests (registered by the tests, never by the app)."""

from __future__ import annotations

import time

from django.core.exceptions import ValidationError

from bank.jobs import JobFailed
from bank.models import Notification


def count(job, progress):
    """Count to ``params["n"]`` in steps of ``params.get("sleep", 0)`` seconds, writing a note at the end."""
    n = int(job.params.get("n", 3))
    progress.set_total(n, "counting")
    for i in range(n):
        time.sleep(float(job.params.get("sleep", 0)))
        progress.advance(1, f"step {i + 1}")
    progress.attach("count.csv", (f"{i}\n" for i in range(n)), "text/csv")
    Notification.objects.create(recipient=job.user, subject=f"counted {n}")
    return {"summary": [["counted", n]]}


def refuse(job, progress):
    raise JobFailed("row 2 is bad", result={"errors": [{"row": 2, "column": "lot", "message": "unknown lot"}]})


def invalid(job, progress):
    raise ValidationError({"box": ["No such box."]})


def crash(job, progress):
    raise RuntimeError("boom")
