"""The transplant-centre path in Chromium (issue 12): the clinician registers a patient and searches → requests
confirmatory typing → the technician records it → the clinician reserves and orders → the medical director
signs the release → the technician scans the bag and the dry shipper and ships → the clinician confirms receipt,
reports the thaw and infusion, and records the day-100 follow-up. Keyboard first: Enter submits.
Screenshots go to /tmp/shots_tx/ (or TX_SHOTS)."""

from __future__ import annotations

import datetime
import os
import re
from pathlib import Path

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from lots.choices import VialKind, VialStatus
from tests import cordblood_factories as cb
from tests.distribution.factories import reseed_reference_data
from tests.factories import UserFactory
from tests.transplant import helpers as tx
from transplant.models import FollowUp, Order, TypingRequest

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

SHOTS = Path(os.environ.get("TX_SHOTS", "/tmp/shots_tx"))


def test_transplant_centre_path(page, login, password):
    reseed_reference_data()
    SHOTS.mkdir(parents=True, exist_ok=True)
    centre = tx.centre("TC-01", name="Shanghai Children's Transplant Centre")
    clinician = UserFactory(username="dr-qian", role="clinician", first_name="Ming", last_name="Qian")
    from transplant import services

    services.link_clinician(clinician, centre, actor=None)
    director = UserFactory(username="dr-zhou", role="medical_director", first_name="Hong", last_name="Zhou")
    technician = UserFactory(username="tech-li", role="technician", first_name="Na", last_name="Li")
    best = cb.unit(tnc=2_000_000_000, cd34=8_000_000)
    cb.unit(hla={"a_1": "A*02:01", "a_2": "A*11:01"}, tnc=3_000_000_000)
    cb.unit(abo="A", tnc=1_800_000_000)
    family = cb.unit(ownership="family", tnc=5_000_000_000)
    shipper = tx.shipper("DS-0007")
    today = timezone.localdate()

    def shot(name: str) -> None:
        page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)

    def as_user(user):
        page.context.clear_cookies()
        return login(user)

    # 1. The clinician registers a patient (no name: a code) and lands on the search.
    as_user(clinician)
    keys = page.eval_on_selector_all("#main-nav a", "els => els.map(e => e.dataset.nav)")
    assert "transplant" in keys and "lots" not in keys and "donors" not in keys
    shot("01_clinician_dashboard")
    page.click("#main-nav a[data-nav=transplant-patients]")
    page.click("#new-patient")
    page.fill("#id_code", "TC01-0042")
    page.fill("#id_diagnosis", "Acute lymphoblastic leukaemia")
    page.fill("#id_weight_kg", "20")
    page.select_option("#id_abo", "O")
    page.select_option("#id_rh", "pos")
    page.fill("#id_hla_A", "A*24:02 A*24:02")
    page.fill("#id_hla_B", "B*52:01")
    page.fill("#id_hla_C", "C*12:02")
    page.fill("#id_hla_DRB1", "DRB1*15:02")
    page.fill("#id_hla_DQB1", "DQB1*06:01")
    page.press("#id_hla_DQB1", "Enter")
    page.wait_for_url(re.compile(r".*/transplant/patients/\d+/$"))
    rows = page.locator("#search-results tbody tr[data-din]")
    expect(rows).to_have_count(3)
    assert rows.first.get_attribute("data-din") == best.din
    assert family.din not in page.inner_text("#search-results")
    shot("02_patient_search")

    # Filter by blood group O and a minimum dose: Enter in the last filter submits.
    page.select_option("#id_abo", "O")
    page.fill("#id_min_tnc_per_kg", "5")
    page.press("#id_min_tnc_per_kg", "Enter")
    page.wait_for_url("**min_tnc_per_kg=5*")
    expect(rows).to_have_count(2)
    shot("03_search_filtered")

    # 2. Confirmatory typing of the best unit.
    page.click(f"#search-results tr[data-din='{best.din}'] [data-action=request-ct]")
    expect(page.locator(".messages")).to_contain_text("Confirmatory typing of unit")
    expect(page.locator("#patient-typing")).to_contain_text(best.din)
    ct = TypingRequest.objects.get(unit=best)
    shot("04_ct_requested")

    # The technician types a segment: scan it (Enter moves on), enter the alleles, Enter sends.
    as_user(technician)
    page.goto(f"{page.base_url}/transplant/typing/{ct.pk}/")
    segment = best.lot.vials.filter(kind=VialKind.SEGMENT).order_by("number").first()
    page.fill("#id_sample", segment.barcode)
    page.press("#id_sample", "Enter")
    assert page.evaluate("document.activeElement.id") == "id_laboratory"
    page.fill("#id_laboratory", "Bank HLA laboratory")
    page.fill("#id_hla_A", "A*24:02")
    page.fill("#id_hla_B", "B*52:01")
    page.fill("#id_hla_C", "C*12:02")
    page.fill("#id_hla_DRB1", "DRB1*15:02")
    page.fill("#id_hla_DQB1", "DQB1*06:01")
    page.press("#id_hla_DQB1", "Enter")
    expect(page.locator("#typing-status")).to_have_attribute("data-status", "completed")
    expect(page.locator("#typing-result")).to_contain_text("Concordant")
    shot("05_ct_completed")

    # 3. The clinician reserves the unit until a date, then orders it for the infusion date.
    as_user(clinician)
    page.click("#main-nav a[data-nav=transplant-patients]")
    page.click("text=TC01-0042")
    until = page.locator(f"#search-results tr[data-din='{best.din}'] input[name=until]")
    until.fill((today + datetime.timedelta(days=14)).isoformat())
    until.press("Enter")
    expect(page.locator(".messages")).to_contain_text("is reserved for TC01-0042")
    assert best.din not in page.inner_text("#search-results")  # reserved: no longer offered
    shot("06_reserved")
    infusion = page.locator("#patient-reservations input[name=infusion_date]")
    infusion.fill((today + datetime.timedelta(days=3)).isoformat())
    infusion.press("Enter")
    page.wait_for_url(re.compile(r".*/transplant/orders/\d+/$"))
    order = Order.objects.get()
    expect(page.locator("#order-status")).to_have_attribute("data-status", "ordered")
    shot("07_ordered")

    # 4. The medical director signs the release for administration (every criterion met).
    as_user(director)
    page.goto(f"{page.base_url}/transplant/orders/{order.pk}/")
    expect(page.locator("#release-form")).to_contain_text("Every release criterion is met")
    page.fill("#id_password", password)
    page.press("#id_password", "Enter")
    expect(page.locator("#order-status")).to_have_attribute("data-status", "released")
    expect(page.locator("#signatures")).to_contain_text("Zhou")
    expect(page.locator("#signatures [data-matches=true]")).to_have_count(1)
    shot("08_released")

    # 5. The technician scans a segment by mistake (refused), then the bag and the dry shipper, and ships.
    as_user(technician)
    page.goto(f"{page.base_url}/transplant/orders/{order.pk}/")
    page.fill("#id_bag_barcode", segment.barcode)
    page.press("#id_bag_barcode", "Enter")
    assert page.evaluate("document.activeElement.id") == "id_dry_shipper"
    page.fill("#id_dry_shipper", shipper.code)
    page.set_input_files("#id_temperature_log", files=[{"name": "DS-0007.csv", "mimeType": "text/csv",
                                                         "buffer": tx.LOGGER}])
    for value in tx.ALL_DOCUMENTS:
        page.check(f"#ship-form input[name=documents][value={value}]")
    page.fill("#id_courier", "World Courier")
    page.press("#id_courier", "Enter")
    expect(page.locator("#ship-form .errornote")).to_contain_text("Only the bag is shipped")
    shot("09_wrong_container")
    bag = order.bag
    page.fill("#id_bag_barcode", bag.barcode)
    page.press("#id_bag_barcode", "Enter")
    page.fill("#id_dry_shipper", shipper.code)
    page.set_input_files("#id_temperature_log", files=[{"name": "DS-0007.csv", "mimeType": "text/csv",
                                                         "buffer": tx.LOGGER}])
    for value in tx.ALL_DOCUMENTS:
        page.check(f"#ship-form input[name=documents][value={value}]")
    page.press("#id_courier", "Enter")
    expect(page.locator("#order-status")).to_have_attribute("data-status", "shipped")
    shot("10_shipped")
    bag.refresh_from_db()
    assert bag.status == VialStatus.SHIPPED
    assert list(best.lot.vials.filter(status=VialStatus.SHIPPED)) == [bag]  # never a segment

    # 6. The clinician confirms receipt, reports the thaw and infusion, and records the day-100 follow-up.
    as_user(clinician)
    page.goto(f"{page.base_url}/transplant/orders/{order.pk}/")
    page.click("#confirm-receipt")
    expect(page.locator("#order-status")).to_have_attribute("data-status", "received")
    page.fill("#id_thawed_at", timezone.localtime().strftime("%Y-%m-%dT%H:%M"))
    page.fill("#id_viable_cd34_pct", "86.5")
    page.fill("#id_viable_cd45_pct", "70.2")
    page.check("#id_cfu_growth")
    page.check("#id_identity_confirmed")
    page.fill("#id_infused_on", today.isoformat())
    page.press("#id_infused_on", "Enter")
    expect(page.locator("#order-status")).to_have_attribute("data-status", "infused")
    expect(page.locator("#thaw-report")).to_contain_text("Post-thaw criteria met")
    expect(page.locator("#follow-ups tr[data-follow-up]")).to_have_count(2)
    shot("11_thaw_report")
    page.click("#follow-ups tr[data-follow-up=day100] a")
    page.check("#id_survival_0")
    page.select_option("#id_engrafted", "true")
    page.fill("#id_engraftment_day", "22")
    page.select_option("#id_gvhd_grade", "II")
    page.press("#id_engraftment_day", "Enter")
    page.wait_for_url(re.compile(r".*/transplant/orders/\d+/$"))
    expect(page.locator("#follow-ups tr[data-follow-up=day100]")).to_contain_text("engrafted day 22")
    shot("12_follow_up")
    assert FollowUp.objects.get(order=order, milestone="day100").status == "recorded"


def test_centres_shippers_patient_edit_typing_cancel_adverse_event_and_look_back(page, login, password):
    """QA keeps the centres (accreditation, clinicians linked and unlinked) and the dry shippers; the clinician
    corrects a patient's HLA with a reason (the earlier typing stays listed), cancels a confirmatory typing and
    reports an adverse event; QA's recall of the lot shows as a look-back on the order and the worklist, and QA
    links the event to it. Screenshots go to /tmp/shots/ (or TX_SHOTS_MORE)."""
    from distribution import services as distribution_services
    from transplant import services

    reseed_reference_data()
    shots = Path(os.environ.get("TX_SHOTS_MORE", "/tmp/shots"))
    shots.mkdir(parents=True, exist_ok=True)
    qa = UserFactory(username="qa-wang", role="qa", first_name="Li", last_name="Wang")
    director = UserFactory(username="dr-zhou", role="medical_director", first_name="Hong", last_name="Zhou")
    technician = UserFactory(username="tech-li", role="technician", first_name="Na", last_name="Li")
    clinician = UserFactory(username="dr-qian", role="clinician", first_name="Ming", last_name="Qian")
    newcomer = UserFactory(username="dr-sun", role="clinician", first_name="Yan", last_name="Sun")
    centre = tx.centre("TC-01", name="Shanghai Children's Transplant Centre")
    services.link_clinician(clinician, centre, actor=None)
    today = timezone.localdate()

    def shot(name: str) -> None:
        page.screenshot(path=str(shots / f"{name}.png"), full_page=True)

    def as_user(user):
        page.context.clear_cookies()
        return login(user)

    # 1. QA: a new centre with its accreditation date, a clinician linked then unlinked.
    as_user(qa)
    page.goto(f"{page.base_url}/transplant/")
    page.click("#nav-centres")
    page.click("#new-centre")
    page.fill("#id_code", "TC-07")
    page.fill("#id_name", "Guangzhou BMT Unit")
    page.fill("#id_city", "Guangzhou")
    page.fill("#id_accreditation_until", (today + datetime.timedelta(days=400)).isoformat())
    page.press("#id_city", "Enter")
    page.wait_for_url(re.compile(r".*/transplant/centres/\d+/$"))
    page.select_option("#id_user", str(newcomer.pk))
    page.click("#link-clinician")
    expect(page.locator("#centre-clinicians tr[data-clinician=dr-sun]")).to_have_count(1)
    shot("tx_centre_edit")
    page.click("#centre-clinicians tr[data-clinician=dr-sun] [data-action=unlink]")
    expect(page.locator("#centre-clinicians tr[data-clinician=dr-sun]")).to_have_count(0)
    page.goto(f"{page.base_url}/transplant/centres/")
    expect(page.locator("#centre-table tr[data-centre=TC-07]")).to_contain_text("Guangzhou")
    shot("tx_centre_list")

    # Dry shippers: a new one, then its validation extended.
    page.goto(f"{page.base_url}/transplant/dry-shippers/")
    page.click("#new-shipper")
    page.fill("#id_code", "DS-0100")
    page.fill("#id_description", "MVE CryoShipper XC 20/3V")
    page.fill("#id_validated_until", (today + datetime.timedelta(days=30)).isoformat())
    page.press("#id_description", "Enter")
    page.wait_for_url("**/transplant/dry-shippers/")
    page.click("#shipper-table tr[data-shipper=DS-0100] a")
    page.fill("#id_validated_until", (today + datetime.timedelta(days=365)).isoformat())
    page.click("#save-shipper")
    page.wait_for_url("**/transplant/dry-shippers/")
    expect(page.locator("#shipper-table tr[data-shipper=DS-0100]")).to_contain_text(
        (today + datetime.timedelta(days=365)).isoformat())
    shot("tx_shipper_list")

    # 2. The clinician corrects a patient's HLA (a retyping): a reason is asked, the earlier typing stays.
    patient = tx.patient(clinician, code="TC01-0042")
    as_user(clinician)
    page.goto(f"{page.base_url}/transplant/patients/{patient.pk}/")
    page.click("#edit-patient")
    page.fill("#id_hla_A", "A*24:02 A*02:01")
    page.press("#id_hla_A", "Enter")
    expect(page.locator("#id_reason ~ .errorlist, .errorlist")).to_contain_text("Give the reason")
    page.fill("#id_reason", "High-resolution retyping")
    page.press("#id_reason", "Enter")
    page.wait_for_url(re.compile(r".*/transplant/patients/\d+/$"))
    expect(page.locator("#patient-hla")).to_contain_text("A*24:02/A*02:01")
    page.click("#edit-patient")
    expect(page.locator("#hla-history tbody tr")).to_have_count(2)
    expect(page.locator("#hla-history")).to_contain_text("High-resolution retyping")
    shot("tx_patient_edit")

    # 3. The clinician cancels an open confirmatory typing request.
    ct = services.request_typing(cb.unit(), patient, actor=clinician)
    page.goto(f"{page.base_url}/transplant/typing/{ct.pk}/")
    page.click("#cancel-typing-box summary")
    page.fill("#cancel-typing-form #id_reason", "Search closed: a better unit was found")
    page.click("#cancel-typing")
    expect(page.locator("#typing-status")).to_have_attribute("data-status", "cancelled")
    expect(page.locator("#typing-cancelled")).to_contain_text("a better unit was found")
    shot("tx_typing_cancelled")

    # 4. A shipped unit: the clinician reports an adverse event.
    unit = cb.unit()
    tx.ct_done(unit, patient, clinician, technician)
    order = services.release_order(tx.ordered(unit, patient, clinician, days=0), actor=director, password=password)
    services.ship_order(order, actor=technician, **tx.ship_kwargs(order))
    page.goto(f"{page.base_url}/transplant/orders/{order.pk}/")
    page.click("#adverse-event-box summary")
    page.select_option("#id_kind", "positive_culture")
    page.select_option("#id_severity", "severe")
    page.fill("#id_occurred_on", today.isoformat())
    page.fill("#id_description", "Blood culture positive 6 h after infusion (S. epidermidis).")
    page.click("#report-adverse-event")
    expect(page.locator("#adverse-events tr[data-adverse-event]")).to_have_count(1)
    shot("tx_adverse_event")

    # 5. QA recalls the lot (distribution's recall); the order page shows the look-back and QA links the event.
    recall = distribution_services.recall_lot(unit.lot, actor=qa, password=password,
                                              reason="Positive culture reported by TC-01")
    as_user(qa)
    page.goto(f"{page.base_url}/transplant/orders/{order.pk}/")
    expect(page.locator("#look-back")).to_contain_text(f"Recall {recall.pk}")
    page.click("#adverse-events [data-action=link-recall]")
    expect(page.locator(f"#adverse-events [data-linked-recall='{recall.pk}']")).to_have_count(1)
    shot("tx_look_back_order")
    as_user(clinician)
    page.goto(f"{page.base_url}/transplant/")
    expect(page.locator("#look-backs")).to_contain_text(order.number)
    shot("tx_look_back_worklist")
