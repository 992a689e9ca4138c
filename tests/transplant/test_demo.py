"""The transplant step of the demo bank (issue 12) on its own: with no cord blood units it freezes its own."""

from __future__ import annotations

import pytest

from bank import demo as bank_demo
from transplant import demo
from transplant.models import FollowUp, Order, Reservation, TypingRequest

pytestmark = pytest.mark.django_db


def test_the_demo_shows_the_transplant_path():
    ctx: dict = {}
    bank_demo.load(ctx)
    demo.load(ctx)
    tx = ctx["transplant"]
    clinician = ctx["users"]["clinician"]
    assert clinician.transplant_centre_link.centre == tx["centre"]
    assert TypingRequest.objects.filter(status="requested").exists()  # a pending confirmatory typing
    assert Reservation.objects.filter(status="active").exists()  # a reserved unit
    order = Order.objects.get(status="infused")  # a shipped unit with its thaw report ...
    assert order.thaw_report.meets_post_thaw_criteria
    assert order.unit.listing_status == "distributed"
    # ... and its day-100 follow-up due within the reminder window.
    assert FollowUp.objects.filter(order=order, milestone="day100", status="due").exists()
