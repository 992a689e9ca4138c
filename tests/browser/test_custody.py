"""Issue 15 in Chromium: a collection needs an ethics approval (the page says what to do), cites the one in force,
records its chain of custody by keyboard (a warm leg opens a deviation), and a withdrawn approval flags the line
derived under it on QA's dashboard."""

import datetime
from pathlib import Path

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from donors.models import Collection
from qc.models import Deviation
from tests.browser.focus import assert_focus
from tests.factories import (
    CellLineFactory,
    CollectionFactory,
    ConsentFactory,
    EthicsApprovalFactory,
    UserFactory,
)

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

SHOTS = Path("/tmp/shots/ethics")


def shot(page, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)


def local(moment: datetime.datetime) -> str:
    return timezone.localtime(moment).strftime("%Y-%m-%dT%H:%M")


def test_collection_needs_an_approval_cites_it_and_records_its_custody(page, login):
    consent = ConsentFactory()
    technician = UserFactory(username="tech-custody", role="technician", first_name="Wei", last_name="Li")
    login(technician)
    collected = timezone.now() - datetime.timedelta(hours=8)

    # No approval in force: the form says so before anything is typed, and again when the collection is refused.
    page.goto(page.base_url + "/donors/collections/new/")
    expect(page.locator("#no-approval-note")).to_contain_text("No ethics approval is in force today")
    page.fill("#id_donor_code", consent.donor.code)
    page.select_option("#id_tissue", "skin")
    page.fill("#id_collected_at", local(collected))
    page.fill("#id_received_at", local(collected + datetime.timedelta(hours=5)))
    page.fill("#id_transport_temperature_c", "4")
    page.press("#id_transport_temperature_c", "Enter")
    expect(page.locator("#form-errors")).to_contain_text("No ethics approval is in force on the collection date")
    expect(page.locator("#form-errors")).to_contain_text("Record the ethics committee")
    shot(page, "collection_refused_without_approval")
    assert not Collection.objects.exists()

    # Once recorded, the single approval in force is cited without being chosen.
    approval = EthicsApprovalFactory(approval_number="IEC-2026-555",
                                     valid_from=timezone.localdate() - datetime.timedelta(days=100),
                                     valid_to=timezone.localdate() + datetime.timedelta(days=300))
    page.goto(page.base_url + "/donors/collections/new/")
    expect(page.locator("#no-approval-note")).to_have_count(0)
    page.fill("#id_donor_code", consent.donor.code)
    page.select_option("#id_tissue", "skin")
    page.fill("#id_collected_at", local(collected))
    page.fill("#id_received_at", local(collected + datetime.timedelta(hours=5)))
    page.fill("#id_transport_temperature_c", "4")
    page.press("#id_transport_temperature_c", "Enter")
    page.wait_for_url("**/donors/collections/*/")
    expect(page.locator("#collection-approval")).to_contain_text("IEC-2026-555")
    collection = Collection.objects.get()
    assert collection.ethics_approval == approval

    # The chain of custody, typed from the transport form: Tab from field to field, Enter records.
    expect(page.locator("#custody")).to_contain_text("2 to 8 °C")
    page.fill("#handover-form #id_handed_by", "Dr. Hu (dermatology)")
    page.press("#handover-form #id_handed_by", "Tab")
    page.keyboard.type("Courier Ma")
    page.fill("#handover-form #id_at", local(collected + datetime.timedelta(minutes=30)))
    page.fill("#handover-form #id_location", "Clinic 4")
    page.fill("#handover-form #id_temperature_c", "5")
    page.press("#handover-form #id_temperature_c", "Enter")
    page.wait_for_url("**#custody")
    expect(page.locator("#handover-table tr[data-handover]")).to_have_count(1)
    assert not Deviation.objects.exists()

    # A bad line stays on the page with the cursor where the correction goes.
    page.fill("#handover-form #id_handed_by", "Courier Ma")
    page.fill("#handover-form #id_received_by", "Reception")
    page.fill("#handover-form #id_at", local(collected + datetime.timedelta(hours=4, minutes=50)))
    page.fill("#handover-form #id_location", "")
    page.fill("#handover-form #id_temperature_c", "12.5")
    page.press("#handover-form #id_temperature_c", "Enter")
    expect(page.locator("#field-location")).to_have_class("field has-error")
    assert_focus(page, "#handover-form #id_location")
    page.keyboard.type("Bank goods-in dock")
    page.keyboard.press("Enter")
    page.wait_for_url("**#custody")
    expect(page.locator("ul.messages")).to_contain_text("outside the transport limits")
    warm = page.locator("#handover-table tr.out-of-limits")
    expect(warm).to_have_count(1)
    expect(warm).to_contain_text("12.5 °C")
    expect(page.locator("#limits-flag")).to_contain_text("QA has a deviation")
    shot(page, "collection_custody_chain")
    deviation = Deviation.objects.get()
    assert deviation.collection == collection and "Bank goods-in dock" in deviation.summary

    # QA sees it among the deviations, on the collection.
    page.context.clear_cookies()
    login(UserFactory(username="qa-custody", role="qa"))
    page.goto(page.base_url + f"/qc/deviations/{deviation.pk}/")
    expect(page.locator("main")).to_contain_text(collection.code)
    shot(page, "collection_deviation")


def test_a_withdrawn_approval_flags_its_lines_on_the_dashboard(page, login):
    approval = EthicsApprovalFactory(approval_number="IEC-2026-777", committee="Demo IEC",
                                     valid_from=timezone.localdate() - datetime.timedelta(days=200),
                                     valid_to=timezone.localdate() + datetime.timedelta(days=200))
    line = CellLineFactory(name="SCBi555-A", collection=CollectionFactory(ethics_approval=approval))
    coordinator = UserFactory(username="coord-ethics", role="coordinator")
    login(coordinator)
    page.goto(page.base_url + "/donors/ethics/")
    page.click("a[data-withdraw='IEC-2026-777']")
    page.wait_for_url(f"**/donors/ethics/{approval.pk}/withdraw/")
    expect(page.locator("#derived-lines")).to_contain_text("SCBi555-A")
    assert_focus(page, "#id_reason")
    page.keyboard.type("Committee letter IEC-2026-777/W: annual report not filed")
    page.check("#id_confirm")
    shot(page, "ethics_withdraw_confirm")
    page.click("#confirm-ethics-withdrawal")
    page.wait_for_url("**/donors/ethics/")
    expect(page.locator("tr[data-approval='IEC-2026-777']")).to_contain_text("withdrawn")
    expect(page.locator("a[data-withdraw='IEC-2026-777']")).to_have_count(0)
    shot(page, "ethics_list_withdrawn")

    page.context.clear_cookies()
    login(UserFactory(username="qa-ethics", role="qa"))
    panel = page.locator("#dashboard-ethics")
    expect(panel).to_contain_text("SCBi555-A")
    expect(panel).to_contain_text("IEC-2026-777")
    shot(page, "dashboard_ethics_panel")
    panel.locator(f"a[href$='/donors/collections/{line.collection_id}/']").click()
    expect(page.locator("#ethics-lapsed")).to_contain_text("IEC-2026-777")
