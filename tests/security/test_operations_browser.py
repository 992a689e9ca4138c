"""In Chromium, under the Content-Security-Policy: the operations banner appears for QA when the worker is
silent and not otherwise; the bank's pages and the API docs run without a single CSP violation."""

from __future__ import annotations

import datetime
import re

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from bank.models import Heartbeat
from tests.factories import LotFactory, UserFactory

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def seen(name: str, **ago) -> None:
    Heartbeat.objects.update_or_create(name=name, defaults={"seen_at": timezone.now() - datetime.timedelta(**ago)})


@pytest.fixture
def violations(page):
    """Every console message of the page that reports a Content-Security-Policy violation."""
    found = []
    page.on("console", lambda message: found.append(message.text) if "Content Security Policy" in message.text
            else None)
    return found


def test_qa_sees_the_banner_while_the_worker_is_silent(page, login, violations):
    seen("beat", seconds=10)
    seen("worker", minutes=7)
    qa = UserFactory(username="qa-officer", role="qa")
    login(qa)
    banner = page.locator("#operations-banner")
    expect(banner).to_contain_text("The worker has not run since")
    expect(banner).to_contain_text("temperature alarms are not being raised")
    page.screenshot(path="/tmp/operations-banner.png", full_page=False)

    seen("worker", seconds=5)  # the worker is back: the next page has no banner
    page.goto(page.base_url + "/notifications/")
    page.wait_for_load_state("networkidle")
    assert page.locator("#operations-banner").inner_text().strip() == ""
    assert violations == []


def test_technicians_do_not_get_the_banner(page, login):
    seen("worker", minutes=7)
    login(UserFactory(username="bench-tech", role="technician"))
    page.wait_for_load_state("networkidle")
    assert page.locator("#operations-banner").count() == 0


def test_pages_run_without_csp_violations_and_the_api_docs_load(page, login, violations):
    seen("beat", seconds=1)
    seen("worker", seconds=1)
    lot = LotFactory(status="released", vial_count=60)
    admin = UserFactory(username="csp-admin", role=["admin", "qa"])
    login(admin)
    barcode = lot.vials.order_by("-number").values_list("barcode", flat=True).first()
    page.goto(f"{page.base_url}/lots/{lot.pk}/?vial={barcode}")
    row = page.locator("#vial-table tr.highlight")
    expect(row).to_be_in_viewport()  # scrolled into view by bank.js, no inline script
    for path in ("/", "/storage/", "/qc/", "/distribution/catalog/", "/notifications/"):
        page.goto(page.base_url + path)
        page.wait_for_load_state("networkidle")
    # The header scan field (bank.js) still works: "/" focuses it, a scan opens the lot.
    page.keyboard.press("/")
    page.keyboard.type(barcode)
    page.keyboard.press("Enter")
    page.wait_for_url(re.compile(rf".*/lots/{lot.pk}/.*"))

    page.goto(page.base_url + "/api/v1/docs/")
    expect(page.locator("#swagger-ui .opblock-tag").first).to_be_visible(timeout=20_000)
    expect(page.locator("#swagger-ui")).to_contain_text("StemBank API")
    page.screenshot(path="/tmp/operations-api-docs.png", full_page=False)
    assert violations == []
