"""A reagent lot's forward trace to cultures, lots, vials and recipients; the beat reminders; the dashboard panel."""

from __future__ import annotations

import pytest

from bank.models import Notification
from lots import services as lot_services
from quality import queries
from quality.models import Equipment, Training
from quality.tasks import send_reminders
from tests.distribution.factories import make_line, shipped_request
from tests.factories import CultureFactory, UserFactory
from tests.quality.helpers import approve, days, instrument, material, today, train

pytestmark = pytest.mark.django_db


def test_forward_trace_from_a_reagent_lot_to_the_recipient(users, api):
    """A medium cited at a passage reaches the lot frozen from that culture, its vials and the researcher who
    received them; a lot that cited the medium at its freeze is found too; an unrelated lot is not."""
    medium = material("MT-TRACE")
    line = make_line()
    culture = CultureFactory(cell_line=line)
    tech = users["technician"]
    lot_services.record_passage(culture, passaged_on=today(), actor=tech, materials=[medium.pk])
    traced = lot_services.create_lot(cell_line=line, tier="MCB", passage=3, vial_count=3, cells_per_vial=10**6,
                                     volume_ml="1.0", cryoprotectant="CS10", frozen_on=today(), culture=culture,
                                     actor=tech)
    cited = lot_services.create_lot(cell_line=line, tier="MCB", passage=3, vial_count=2, cells_per_vial=10**6,
                                    volume_ml="1.0", cryoprotectant="CS10", frozen_on=today(),
                                    materials=[medium.pk], actor=tech)
    other = lot_services.create_lot(cell_line=line, tier="MCB", passage=3, vial_count=2, cells_per_vial=10**6,
                                    volume_ml="1.0", cryoprotectant="CS10", frozen_on=today(), actor=tech)
    from lots.choices import LotStatus
    from lots.services import change_lot_status
    from tests.distribution.factories import place

    change_lot_status(traced, LotStatus.RELEASED, actor=users["qa"], reason="test")
    place(list(traced.vials.all()))
    shipped_request(users["researcher"], users["qa"], tech, line, vials=2)

    trace = queries.forward_trace(medium)
    numbers = [row["lot"].lot_number for row in trace["lots"]]
    assert traced.lot_number in numbers and cited.lot_number in numbers and other.lot_number not in numbers
    assert [c.pk for c in trace["cultures"]] == [culture.pk]
    row = next(r for r in trace["lots"] if r["lot"].pk == traced.pk)
    assert row["vials"].get("shipped") == 2 and row["vial_total"] == 3
    assert [s["recipient"]["username"] for s in trace["shipments"]] == ["researcher"]

    body = api(users["qa"]).get(f"/api/v1/quality/materials/{medium.pk}/trace/").json()
    assert body["shipments"][0]["recipient"] == "researcher" and body["shipments"][0]["vials"] == 2
    assert {lot["lot"] for lot in body["lots"]} == {traced.lot_number, cited.lot_number}
    assert api(users["researcher"]).get(f"/api/v1/quality/materials/{medium.pk}/trace/").status_code == 403


def test_the_beat_reminds_each_expiring_training_and_due_calibration_once(users, settings):
    settings.QUALITY_REMINDER_DAYS = 30
    version = approve("SOP-QC-001", "1")
    soon = train(users["technician"], version, expires_on=days(10))
    later = train(users["coordinator"], version, expires_on=days(200))
    due = instrument("CC-01", due=days(5))
    instrument("CC-02", due=days(300))
    assert send_reminders.apply().get() == {"trainings": 1, "equipment": 1}
    assert Training.objects.get(pk=soon.pk).reminded_on == today()
    assert Training.objects.get(pk=later.pk).reminded_on is None
    assert Equipment.objects.get(pk=due.pk).reminded_on == today()
    assert Notification.objects.filter(recipient=users["technician"], subject__contains="SOP-QC-001").count() == 1
    assert Notification.objects.filter(recipient=users["qa"], subject__contains="CC-01").count() == 1
    assert send_reminders() == {"trainings": 0, "equipment": 0}  # each record once


def test_the_training_matrix_states(users):
    v1 = approve("SOP-A", "1", ["passage"], effective_on=days(-100))
    tech2 = UserFactory(username="tech2", role="technician")
    tech3 = UserFactory(username="tech3", role="technician")
    train(users["technician"], v1, trained_on=days(-90), expires_on=days(-1))  # expired
    train(tech2, v1, trained_on=days(-90), expires_on=days(10))  # due soon
    train(tech3, v1, trained_on=days(-90))  # current, then a new version
    approve("SOP-A", "2", ["passage"], effective_on=days(-5))
    versions = queries.versions_in_force_today()
    assert [v.version for v in versions] == ["2"]
    rows = {r.user.username: r.cells[0].state for r in queries.training_matrix(
        [users["technician"], tech2, tech3, users["qa"]], versions)}
    # v2 is in force: everybody trained on v1 only must retrain, whatever the v1 training's expiry
    assert rows == {"technician": "retrain", "tech2": "retrain", "tech3": "retrain", "qa": "untrained"}
    v2 = versions[0]
    train(users["technician"], v2, trained_on=days(-1), expires_on=days(-1 + 400))
    train(tech2, v2, trained_on=days(-1), expires_on=days(20))
    rows = {r.user.username: r.cells[0].state for r in queries.training_matrix([users["technician"], tech2], [v2])}
    assert rows == {"technician": "current", "tech2": "due"}
