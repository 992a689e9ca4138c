"""Issue 15 in Chromium: a clinical-grade lot shows its DIN with the check character boxed; the header scan field
opens the lot from its DIN and says what is wrong with a mistyped one; QA records the registry IDs on the line page
and sees the export links."""

import datetime
import re
from decimal import Decimal
from pathlib import Path

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from bank import coding
from lots import services
from tests.distribution.factories import reseed_reference_data
from tests.factories import UserFactory, eligible_collection

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

SHOTS = Path("/tmp/shots/coding")


def _shot(page, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)


def test_din_on_the_lot_page_scan_and_registry_ids(page, login):
    reseed_reference_data()
    technician = UserFactory(username="tech-li", role="technician")
    qa = UserFactory(username="qa-wang", role="qa")
    line = services.create_cell_line(collection=eligible_collection(tissue="skin"), cell_type="iPSC",
                                     grade="clinical", reprogramming_method="sendai", actor=technician)
    lot = services.create_lot(cell_line=line, tier="MCB", passage=10, vial_count=3, cells_per_vial=1_000_000,
                              volume_ml=Decimal("1.0"), cryoprotectant="CryoStor CS10",
                              frozen_on=timezone.localdate() - datetime.timedelta(days=1), actor=technician)
    check = coding.din_check_character(lot.din)

    # The technician scans the DIN as typed from the label, with its boxed character: the lot opens.
    login(technician)
    page.fill("#global-scan", lot.din + check)
    page.press("#global-scan", "Enter")
    page.wait_for_url(re.compile(rf".*/lots/{lot.pk}/$"))
    din = page.locator("#lot-din")
    expect(din).to_contain_text(f"{lot.din[:5]} {lot.din[5:7]} {lot.din[7:]}")
    expect(din.locator(".din-check")).to_have_text(check)
    border = din.locator(".din-check").evaluate("e => getComputedStyle(e).borderTopStyle")
    assert border == "solid"  # the check character is printed boxed
    _shot(page, "lot-din")

    # A mistyped DIN: the scan page says the check character is wrong (not "nothing found"), focus ready to rescan.
    wrong = next(c for c in "0123456789" if c != check)
    page.fill("#global-scan", lot.din + wrong)
    page.press("#global-scan", "Enter")
    expect(page.locator("#scan-code-error")).to_contain_text("check character")
    assert page.locator("#scan-not-found").count() == 0
    _shot(page, "scan-wrong-check")

    # QA records the registry IDs on the line page; the export links are there.
    page.context.clear_cookies()
    login(qa)
    page.goto(f"{page.base_url}/lots/lines/{line.pk}/")
    expect(page.locator("#registry-exports a[data-registry=hpscreg-json]")).to_be_visible()
    page.fill("#id_hpscreg_id", line.name)
    page.fill("#id_icscb_id", "ICSCB-0042")
    page.click("#registry-ids-form button[type=submit]")
    expect(page.locator("#hpscreg-id")).to_have_text(line.name)
    expect(page.locator("#icscb-id")).to_have_text("ICSCB-0042")
    line.refresh_from_db()
    assert (line.hpscreg_id, line.icscb_id) == (line.name, "ICSCB-0042")
    _shot(page, "line-registries")
    response = page.request.get(f"{page.base_url}/api/v1/cell-lines/{line.pk}/registry/?registry=hpscreg&format=csv")
    assert response.status == 200 and response.text().startswith("name,hpscreg_id,")
