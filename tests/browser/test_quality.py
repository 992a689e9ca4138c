"""Quality management in Chromium (issue 16): QA approves an SOP version with an e-signature, reads the training
matrix (an expired training, a retraining after a new version) and records a training from the keyboard; the
equipment due list shows an overdue instrument and a calibration clears it; a material lot is received, released
with an e-signature and traced forward; a technician's QC result citing an overdue instrument is refused on the
bench page. Screenshots go to /tmp/shots/quality/ (or QUALITY_SHOTS)."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest
from playwright.sync_api import expect

from quality.models import Equipment, Material, SOPVersion, Training
from tests.distribution.factories import reseed_reference_data
from tests.factories import PASSWORD, UserFactory
from tests.qc.factories import qc_lot
from tests.quality.helpers import approve, days, instrument, material, today, train

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

SHOTS = Path(os.environ.get("QUALITY_SHOTS", "/tmp/shots/quality"))


def shot(page, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"quality_{name}.png"), full_page=True)


def test_qa_keeps_sops_trainings_equipment_and_materials(page, login):
    reseed_reference_data()
    qa = UserFactory(username="qa-wang", role="qa", first_name="Fang", last_name="Wang")
    tech = UserFactory(username="tech-li", role="technician", first_name="Wei", last_name="Li")
    tech2 = UserFactory(username="tech-chen", role="technician", first_name="Jing", last_name="Chen")
    v1 = approve("SOP-CUL-001", "1", ["passage", "freeze"], effective_on=days(-300), qa=qa, title="Passaging hPSC")
    train(tech, v1, trained_on=days(-290), qa=qa)
    qc_v1 = approve("SOP-QC-001", "1", ["qc_result"], effective_on=days(-200), qa=qa, title="QC testing")
    train(tech2, qc_v1, trained_on=days(-190), expires_on=days(-3), qa=qa)  # expired

    login(qa)
    page.click("#main-nav a[data-nav=quality]")
    page.wait_for_url("**/quality/")
    expect(page.locator("#training-matrix tr[data-user='tech-chen'] td[data-state='expired']")).to_have_count(1)

    # A new version of the culture SOP, approved with QA's password: tech-li must retrain.
    page.click("#quality-tabs a[data-tab=sops]")
    page.fill("#id_code", "SOP-CUL-001")
    page.fill("#id_version", "2")
    page.fill("#id_effective_on", today().isoformat())
    page.check("input[name=activities][value=passage]")
    page.check("input[name=activities][value=freeze]")
    page.fill("#id_summary", "Laminin-521 replaces vitronectin.")
    page.fill("#id_password", "wrong password")
    page.click("#approve-sop")
    expect(page.locator("#sop-form .errornote")).to_contain_text("password is not correct")
    page.fill("#id_password", PASSWORD)
    page.click("#approve-sop")
    page.wait_for_url(re.compile(r".*/quality/sops/\d+/$"))
    expect(page.locator("section[data-version='2'][data-state='in_force']")).to_be_visible()
    expect(page.locator("section[data-version='1'][data-state='superseded']")).to_be_visible()
    expect(page.locator("section[data-version='2'] .signature")).to_contain_text("Wang")
    shot(page, "01_sop_versions")
    assert SOPVersion.objects.filter(sop__code="SOP-CUL-001").count() == 2

    page.click("#quality-tabs a[data-tab=matrix]")
    expect(page.locator("#training-matrix tr[data-user='tech-li'] td[data-state='retrain']")).to_have_count(1)
    shot(page, "02_matrix_retrain")
    # Record the retraining from the keyboard: Enter in the last text field submits.
    page.fill("#id_user", "tech-li")
    page.fill("#id_sop", "SOP-CUL-001")
    page.fill("#id_trained_on", today().isoformat())
    page.fill("#id_trainer", "Wang Fang")
    page.press("#id_trainer", "Enter")
    expect(page.locator(".messages, .message, [role=status]").first).to_contain_text("Training of tech-li")
    expect(page.locator("#training-matrix tr[data-user='tech-li'] td[data-state='current']")).to_have_count(1)
    assert Training.objects.filter(user=tech, sop_version__version="2").exists()
    shot(page, "03_matrix_current")

    # The due list: an overdue flow cytometer; a passing calibration clears it.
    instrument("FC-01", due=days(-4), kind="flow_cytometer", qa=qa)
    instrument("CC-01", due=days(200), qa=qa)
    page.click("#quality-tabs a[data-tab=equipment]")
    page.click("#due-list-link")
    expect(page.locator("#equipment-table tr[data-equipment='FC-01'][data-state='overdue']")).to_be_visible()
    expect(page.locator("#equipment-table tr[data-equipment='CC-01']")).to_have_count(0)
    shot(page, "04_due_list")
    page.click("#equipment-table tr[data-equipment='FC-01'] a")
    page.fill("#id_performed_on", today().isoformat())
    page.fill("#id_next_due_on", days(365).isoformat())
    page.fill("#id_certificate", "CAL-FC-2026")
    page.click("#record-calibration")
    expect(page.locator("#due-on")).to_have_text(days(365).isoformat())
    shot(page, "05_calibrated")
    assert Equipment.objects.get(code="FC-01").calibration_due_on == days(365)

    # A material lot: received into quarantine, released with an e-signature, traced forward.
    page.click("#quality-tabs a[data-tab=materials]")
    page.fill("#id_name", "mTeSR Plus")
    page.select_option("#id_kind", "medium")
    page.fill("#id_lot_number", "MT-2231")
    page.fill("#id_supplier", "STEMCELL Technologies")
    page.fill("#id_received_on", today().isoformat())
    page.fill("#id_expires_on", days(120).isoformat())
    page.click("#receive-material")
    page.wait_for_url(re.compile(r".*/quality/materials/\d+/$"))
    expect(page.locator("#material-status")).to_have_text("Quarantine")
    page.fill("#id_inspection", "CoA checked; seal intact")
    page.fill("#id_password", PASSWORD)
    page.click("#release")
    expect(page.locator("#material-status")).to_have_text("Released")
    expect(page.locator("#forward-trace")).to_be_visible()
    shot(page, "06_material_released")
    assert Material.objects.get(lot_number="MT-2231").status == "released"


def test_a_qc_result_citing_an_overdue_instrument_is_refused_on_the_bench_page(page, login):
    reseed_reference_data()
    tech = UserFactory(username="tech-li", role="technician")
    instrument("FC-01", due=days(-4), kind="flow_cytometer")
    lot = qc_lot()
    login(tech)
    page.goto(page.base_url + f"/qc/lots/{lot.pk}/results/")
    form = page.locator("form:has(input[name=test][value=sterility])")
    form.locator("select[name='sterility-outcome']").select_option("negative")
    form.locator("input[name='sterility-instrument']").fill("FC-01")
    form.locator("input[name='sterility-instrument']").press("Enter")
    expect(page.locator("body")).to_contain_text("Instrument FC-01 may not be used")
    shot(page, "07_bench_refusal")
    assert not lot.qc_results.exists()


def test_the_material_trace_page_lists_the_recipient(page, login):
    from lots import services as lot_services
    from lots.choices import LotStatus
    from tests.distribution.factories import make_line, place, shipped_request
    from tests.factories import CultureFactory

    reseed_reference_data()
    qa = UserFactory(username="qa-wang", role="qa")
    tech = UserFactory(username="tech-li", role="technician")
    researcher = UserFactory(username="dr-zhao", role="researcher", first_name="Lei", last_name="Zhao")
    medium = material("MT-TRACE", qa=qa)
    line = make_line()
    culture = CultureFactory(cell_line=line)
    lot_services.record_passage(culture, passaged_on=today(), actor=tech, materials=[medium.pk])
    lot = lot_services.create_lot(cell_line=line, tier="MCB", passage=3, vial_count=3, cells_per_vial=10**6,
                                  volume_ml="1.0", cryoprotectant="CS10", frozen_on=today(), culture=culture,
                                  actor=tech)
    lot_services.change_lot_status(lot, LotStatus.RELEASED, actor=qa, reason="test")
    place(list(lot.vials.all()))
    shipped = shipped_request(researcher, qa, tech, line, vials=2)
    login(qa)
    page.goto(page.base_url + f"/quality/materials/{medium.pk}/")
    expect(page.locator(f"#trace-lots tr[data-lot='{lot.lot_number}']")).to_contain_text("Shipped: 2")
    expect(page.locator(f"#trace-shipments tr[data-request='{shipped.number}']")).to_contain_text("Zhao")
    shot(page, "08_forward_trace")


def test_qa_records_a_cleanroom_excursion_and_the_dashboard_shows_it(page, login):
    from lots import services as lot_services
    from quality import services
    from tests.factories import CultureFactory

    reseed_reference_data()
    qa = UserFactory(username="qa-wang", role="qa", first_name="Fang", last_name="Wang")
    tech = UserFactory(username="tech-li", role="technician")
    services.register_cleanroom(actor=qa, code="CR-2", name="Culture room 2", grade="B")
    culture = CultureFactory()
    lot_services.record_passage(culture, passaged_on=today(), room="CR-2", actor=tech)
    lot = lot_services.create_lot(cell_line=culture.cell_line, tier="MCB", passage=5, vial_count=1,
                                  cells_per_vial=10**6, volume_ml="1.0", cryoprotectant="CS10", frozen_on=today(),
                                  culture=culture, actor=tech)
    login(qa)
    page.goto(page.base_url + "/quality/environment/")
    # A new grade A zone, from the keyboard.
    page.fill("#id_room-code", "CR-1A")
    page.fill("#id_room-name", "Aseptic filling zone")
    page.select_option("#id_room-grade", "A")
    page.press("#id_room-name", "Enter")
    expect(page.locator("#room-table tr[data-room='CR-1A']")).to_be_visible()
    page.select_option("#id_result-room", label="CR-2 · Culture room 2 (B)")
    page.select_option("#id_result-parameter", "settle_plate")
    page.fill("#id_result-value", "9")
    page.fill("#id_result-location", "BSC-2 left")
    page.click("#record-result")
    expect(page.locator("body")).to_contain_text("Action limit exceeded")
    expect(page.locator("#environment-table tr[data-level='action']")).to_contain_text(lot.lot_number)
    shot(page, "09_environment_excursion")
    page.click("#main-nav a[data-nav=dashboard]")
    expect(page.locator("#quality-panel")).to_contain_text("CR-2")
    page.locator("#quality-panel").scroll_into_view_if_needed()
    page.locator("#quality-panel").screenshot(path=str(SHOTS / "quality_10_dashboard_panel.png"))


def test_the_line_page_shows_a_control_chart_flagging_a_drift(page, login):
    import datetime
    from decimal import Decimal

    from django.utils import timezone

    from qc import services as qc_services
    from tests.factories import CellLineFactory, LotFactory

    reseed_reference_data()
    qa = UserFactory(username="qa-wang", role="qa")
    tech = UserFactory(username="tech-li", role="technician")
    line = CellLineFactory()
    start = timezone.localdate() - datetime.timedelta(days=200)
    for i, value in enumerate([92, 93, 92.5, 93.5, 88, 87.5, 87, 86.5, 86, 85.5, 85, 84.5]):
        lot = LotFactory(cell_line=line, frozen_on=start + datetime.timedelta(days=10 * i))
        qc_services.record_qc_result(lot, actor=tech, test="viability", value=Decimal(str(value)),
                                     tested_on=lot.frozen_on + datetime.timedelta(days=1), method="trypan blue")
    login(qa)
    page.goto(page.base_url + f"/lots/lines/{line.pk}/")
    chart = page.locator("#quality-trends figure[data-test='viability']")
    expect(chart).to_be_visible()
    expect(chart.locator("circle[data-flagged='true']").first).to_be_attached()
    chart.scroll_into_view_if_needed()
    page.locator("#quality-trends").screenshot(path=str(SHOTS / "quality_11_control_chart.png"))
