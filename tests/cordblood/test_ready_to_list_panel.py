"""QA's dashboard panel: released public units not yet listed for search (the unit list's own filter)."""

import pytest
from django.urls import reverse

from cordblood import services
from tests import cordblood_factories as cb
from tests.cordblood import helpers as h
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db


def test_qa_sees_released_public_units_waiting_for_listing_and_the_count_drops_once_listed(client):
    waiting = cb.unit(listing_status="not_listed")
    cb.unit(listing_status="available")  # listed already
    cb.unit(listing_status="not_listed", status="quarantine")  # not released yet
    cb.unit(ownership="family")  # never listed
    qa = h.qa()
    client.force_login(qa)
    page = client.get(reverse("dashboard")).content.decode()
    assert 'id="panel-ready-to-list"' in page
    assert "1 released public unit is not yet listed for search" in page
    assert waiting.din in page
    listed = client.get(reverse("cordblood:units") + "?ready_to_list=1").content.decode()
    assert waiting.din in listed
    services.set_listing(waiting, "available", actor=qa)
    page = client.get(reverse("dashboard")).content.decode()
    assert "Every released public unit is listed." in page


def test_the_panel_is_qas_only(client):
    cb.unit(listing_status="not_listed")
    client.force_login(UserFactory(username="tech-panel", role="technician"))
    assert 'id="panel-ready-to-list"' not in client.get(reverse("dashboard")).content.decode()
