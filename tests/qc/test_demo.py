"""The demo bank shows QC and release in every state (qc/demo.py, run after lots and storage)."""

import io

import pytest
from celery.schedules import crontab
from django.conf import settings
from django.core.management import call_command

from bank.signatures import signatures_for
from qc.models import Deviation, LotDecision, Recheck
from qc.queries import readiness_for

pytestmark = pytest.mark.django_db


def test_demo_lots_are_in_every_qc_state():
    call_command("load_demo", stdout=io.StringIO())
    # The cordblood and transplant steps add their own units (tests/cordblood, tests/transplant check them), the
    # haplobank step a released HLA-homozygous line (tests/haplobank checks it), the imports step two legacy lots in
    # quarantine (tests/imports checks them).
    from imports.models import ExternalRef
    from lots.models import Lot

    imported = ExternalRef.objects.filter(kind="lot").values_list("object_id", flat=True)
    by_number = {lot.lot_number: lot for lot in Lot.objects.filter(cord_blood_unit__isnull=True)
                 .exclude(cell_line__description__contains="(haplobank line)").exclude(pk__in=imported)
                 .select_related("cell_line")}
    statuses = sorted(lot.status for lot in by_number.values())
    # four released by QA; the distribution step then recalls the UC-MSC working bank
    assert statuses.count("released") == 3 and statuses.count("recalled") == 1
    assert {"quarantine", "rejected", "on_hold"} <= set(statuses) and statuses.count("quarantine") == 2
    for decision in LotDecision.objects.filter(decision__in=("release", "reject")):
        signer = signatures_for(decision).get().signer.username
        assert signer in ("qa", "qa2")
        assert not decision.lot.qc_results.filter(entered_by__username=signer).exists()
    rejected = LotDecision.objects.get(decision="reject").lot
    assert rejected.qc_results.filter(passed=False).exists()
    assert Deviation.objects.get(lot=rejected).status == "closed"
    held = Lot.objects.get(status="on_hold", cord_blood_unit__isnull=True)
    assert held.rechecks.get(status="done").result.passed is False
    assert set(Recheck.objects.values_list("status", flat=True)) == {"due", "overdue", "done"}
    waiting = list(Lot.objects.filter(status="quarantine", cord_blood_unit__isnull=True).exclude(pk__in=imported)
                   .select_related("cell_line"))
    states = sorted((r.first_blocker or {}).get("code", "ready to sign") for r in readiness_for(waiting).values())
    assert states == ["qc_incomplete", "ready to sign"]


def test_the_recheck_task_is_scheduled_daily():
    entry = settings.CELERY_BEAT_SCHEDULE["qc-open-due-rechecks"]
    assert entry["task"] == "qc.tasks.open_due_rechecks"
    assert isinstance(entry["schedule"], crontab) and entry["schedule"].hour == {22}
    from bank.celery import app

    app.loader.import_default_modules()
    assert "qc.tasks.open_due_rechecks" in app.tasks
