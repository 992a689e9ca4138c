"""The demo bank's distribution step: requests in every state from the demo researchers, and a recall."""

import io

import pytest
from django.core.management import call_command

from distribution.models import DistributionRequest, Recall
from lots.models import Vial

pytestmark = pytest.mark.django_db


def test_demo_has_requests_in_every_state():
    call_command("load_demo", stdout=io.StringIO())
    statuses = set(DistributionRequest.objects.values_list("status", flat=True))
    assert statuses >= {"submitted", "approved", "shipped", "received", "rejected", "cancelled"}
    assert set(DistributionRequest.objects.values_list("researcher__username", flat=True)) == {
        "researcher", "researcher2"}
    approved = DistributionRequest.objects.get(status="approved")
    assert approved.allocations.filter(released_at__isnull=True, vial__status="reserved").count() == approved.vials
    # vials shipped to researchers (the transplant step ships a cord blood unit's bag to a centre)
    assert Vial.objects.filter(status="shipped", allocations__isnull=False).distinct().count() == 4
    recall = Recall.objects.get(source="lot_recall")  # the donors step's withdrawal makes a second one
    assert recall.notices.count() == 1 and recall.lot.status == "recalled"
