"""The demo bank shows each dimension of quality management: an expired training and a retraining, an overdue
calibration, an expired reagent lot, a lot awaiting release, a cleanroom excursion with its deviation, and a medium
traced forward to a recipient; the dashboard surfaces them."""

from __future__ import annotations

import io

import pytest
from django.core.management import call_command
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from quality import queries
from quality.models import EnvironmentResult, Equipment, Material

pytestmark = pytest.mark.django_db


def test_the_demo_shows_every_dimension():
    from django.contrib.auth import get_user_model

    call_command("load_demo", stdout=io.StringIO())
    User = get_user_model()
    users = {u.username: u for u in User.objects.filter(username__in=["technician", "technician2", "qa", "qa2"])}
    states = {row.user.username: {v.sop.code: c.state for v, c in zip(queries.versions_in_force_today(), row.cells,
                                                                      strict=True)}
              for row in queries.training_matrix(list(users.values()), queries.versions_in_force_today())}
    assert states["technician2"]["SOP-QC-001"] == "expired"
    assert states["qa2"]["SOP-CUL-001"] == "retrain"
    assert set(states["technician"].values()) == {"current"}
    today = timezone.localdate()
    assert Equipment.objects.get(code="FC-01").state_on(today) == "overdue"
    assert Material.objects.filter(status="released", expires_on__lt=today).exists()
    assert Material.objects.filter(status="quarantine").exists()
    excursion = EnvironmentResult.objects.get(level="action")
    assert excursion.room.code == "CR-2" and excursion.deviations and excursion.lots
    medium = Material.objects.get(lot_number="MT-2231")
    trace = queries.forward_trace(medium)
    assert trace["shipments"] and trace["lots"]
    client = Client()
    client.force_login(users["qa"])
    body = client.get(reverse("dashboard")).content.decode()
    assert 'id="quality-panel"' in body and f'data-excursion="{excursion.pk}"' in body
    for name in ["quality:matrix", "quality:sops", "quality:equipment", "quality:materials", "quality:environment"]:
        assert client.get(reverse(name)).status_code == 200
