"""Recall: a signed lot recall lists and notifies every recipient and blocks what has not shipped; the same
list is produced when a donor's consent is withdrawn (consent_withdrawal_recall)."""

import pytest
from django.utils import timezone

from bank.errors import Conflict, Forbidden
from bank.models import AuthEvent, Notification
from bank.signatures import signatures_for
from distribution import services
from distribution.models import Allocation, Recall, RecallNotice
from lots.models import Vial
from tests.distribution.factories import add_lot, make_line, shipped_request, submit
from tests.factories import PASSWORD, UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def world(users):
    """Two WCBs of a line: the old one shipped to two labs and reserved for a third."""
    line = make_line()
    mcb = add_lot(line, tier="MCB", vials=0, days_ago=120)
    bad = add_lot(line, tier="WCB", vials=6, parent=mcb, days_ago=60)
    good = add_lot(line, tier="WCB", vials=3, parent=mcb, days_ago=10)
    lab_a = UserFactory(username="lab-a", role="researcher")
    lab_b = UserFactory(username="lab-b", role="researcher")
    shipped_a = shipped_request(lab_a, users["qa"], users["technician"], line, vials=2)
    shipped_b = shipped_request(lab_b, users["qa"], users["technician"], line, vials=1)
    services.receive_request(shipped_b, actor=lab_b)
    reserved = services.approve_request(submit(users["researcher"], line, vials=2), actor=users["qa"])
    waiting = submit(users["researcher"], line, vials=1)
    return {"line": line, "bad": bad, "good": good, "lab_a": lab_a, "lab_b": lab_b, "shipped_a": shipped_a,
            "shipped_b": shipped_b, "reserved": reserved, "waiting": waiting}


def test_lot_recall_lists_and_notifies_every_recipient(api, users, world):
    response = api(users["qa"]).post(f"/api/v1/lots/{world['bad'].pk}/recall/",
                                     {"reason": "Mycoplasma positive on re-test.", "password": PASSWORD},
                                     format="json")
    assert response.status_code == 201, response.json()
    body = response.json()
    assert body["source"] == "lot_recall" and body["lot_number"] == world["bad"].lot_number
    notices = {n["recipient"]: n for n in body["notices"]}
    assert set(notices) == {"lab-a", "lab-b"}
    assert sorted(notices["lab-a"]["vial_barcodes"]) == sorted(world["shipped_a"].allocations.values_list(
        "vial__barcode", flat=True))
    assert notices["lab-b"]["request"] == world["shipped_b"].number
    assert body["signatures"][0]["meaning"] == "recall" and body["signatures"][0]["signer"] == "qa"
    world["bad"].refresh_from_db()
    assert world["bad"].status == "recalled"
    for lab in ("lab_a", "lab_b"):
        note = world[lab].notifications.get(level=Notification.Level.ALARM)
        assert "Mycoplasma positive on re-test" in note.body and world["line"].name in note.subject
    assert users["technician"].notifications.filter(subject__startswith="Recall").exists()


def test_unshipped_vials_are_blocked_and_reservations_replaced(users, world):
    recall = services.recall_lot(world["bad"], actor=users["qa"], password=PASSWORD, reason="Sterility failure")
    reserved = world["reserved"]
    reserved.refresh_from_db()
    assert reserved.status == "approved"
    live = Allocation.objects.filter(request=reserved, released_at__isnull=True).select_related("vial__lot")
    assert {a.vial.lot_id for a in live} == {world["good"].pk} and live.count() == 2
    # every unshipped vial of the recalled lot is back on the shelf but can never be allocated again
    assert set(Vial.objects.filter(lot=world["bad"]).exclude(status="shipped").values_list("status", flat=True)) \
        == {"available"}
    request = submit(users["researcher"], world["line"], vials=1)
    request.vials = 2  # more than the one vial left in the good lot
    request.save(update_fields=["vials"])
    with pytest.raises(Conflict) as refused:
        services.approve_request(request, actor=users["qa"])
    assert refused.value.code == "insufficient_stock" and refused.value.extra["available"] == 1
    assert recall.notices.count() == 2


def test_an_approval_without_replacement_stock_is_withdrawn(users):
    line = make_line()
    lot = add_lot(line, tier="MCB", vials=3)
    reserved = services.approve_request(submit(users["researcher"], line, vials=2), actor=users["qa"])
    services.recall_lot(lot, actor=users["qa"], password=PASSWORD, reason="Karyotype abnormal")
    reserved.refresh_from_db()
    assert reserved.status == "rejected" and "recalled" in reserved.decision_reason
    assert not reserved.allocations.filter(released_at__isnull=True).exists()
    assert set(Vial.objects.values_list("status", flat=True)) == {"available"}
    assert users["researcher"].notifications.filter(subject__contains="can no longer be filled").exists()


def test_recall_needs_a_reason_a_valid_signature_and_a_released_lot(api, users, world):
    client = api(users["qa"])
    url = f"/api/v1/lots/{world['bad'].pk}/recall/"
    assert client.post(url, {"reason": "", "password": PASSWORD}, format="json").status_code == 400
    wrong = client.post(url, {"reason": "Sterility failure", "password": "wrong"}, format="json")
    assert wrong.status_code == 403 and wrong.json()["code"] == "signature_invalid"
    assert AuthEvent.objects.filter(username="qa", kind="signature_failed").exists()
    assert not Recall.objects.exists()
    world["bad"].refresh_from_db()
    assert world["bad"].status == "released"
    quarantined = add_lot(world["line"], tier="MCB", status="quarantine")
    refused = client.post(f"/api/v1/lots/{quarantined.pk}/recall/", {"reason": "x", "password": PASSWORD},
                          format="json")
    assert refused.status_code == 409 and refused.json()["code"] == "invalid_transition"
    assert not Recall.objects.exists() and not RecallNotice.objects.exists()
    assert api(users["technician"]).post(url, {"reason": "x", "password": PASSWORD}, format="json").status_code == 403
    assert api(users["researcher"]).get("/api/v1/recalls/").status_code == 403


def test_recalls_are_listed_for_staff(api, users, world):
    recall = services.recall_lot(world["bad"], actor=users["qa"], password=PASSWORD, reason="Sterility failure")
    listed = api(users["technician"]).get("/api/v1/recalls/").json()
    assert listed["count"] == 1 and listed["results"][0]["id"] == recall.pk
    detail = api(users["qa"]).get(f"/api/v1/recalls/{recall.pk}/").json()
    assert len(detail["notices"]) == 2 and detail["signatures"][0]["matches"] is True
    assert signatures_for(recall).get().meaning == "recall"


def test_consent_withdrawal_recall_lists_the_same_recipients(users, world):
    donor = world["line"].donor
    donor.consent_withdrawn_at = timezone.now()
    donor.save(update_fields=["consent_withdrawn_at"])
    recall = services.consent_withdrawal_recall(donor, actor=users["coordinator"], reason="Donor withdrew consent")
    assert recall.source == "consent_withdrawal" and recall.donor == donor and recall.lot is None
    assert {n.recipient.username for n in recall.notices.all()} == {"lab-a", "lab-b"}
    # every lot of the donor is flagged; reservations released; open requests rejected
    assert all(lot.consent_withdrawn_flagged_at for lot in world["line"].lots.all())
    for key in ("reserved", "waiting"):
        world[key].refresh_from_db()
        assert world[key].status == "rejected" and "withdrew consent" in world[key].decision_reason
    assert not Vial.objects.filter(status="reserved").exists()
    # the message to recipients names the line, never the donor
    note = world["lab_a"].notifications.get(level=Notification.Level.ALARM)
    assert donor.code not in note.subject + note.body and world["line"].name in note.body


def test_consent_withdrawal_recall_is_safe_with_nothing_shipped(users):
    line = make_line()
    add_lot(line)
    recall = services.consent_withdrawal_recall(line.donor, actor=users["coordinator"])
    assert recall.notices.count() == 0 and recall.reason == "donor consent withdrawn"


def test_recall_page_with_signature(client, users, world):
    client.force_login(users["qa"])
    url = f"/distribution/lots/{world['bad'].pk}/recall/"
    page = client.get(url).content.decode()
    assert world["shipped_a"].number in page and 'name="password"' in page
    bad = client.post(url, {"reason": "Sterility failure", "meaning": "recall", "password": "nope"})
    assert bad.status_code == 400 and "password is not correct" in bad.content.decode()
    response = client.post(url, {"reason": "Sterility failure", "meaning": "recall", "password": PASSWORD})
    recall = Recall.objects.get()
    assert response.status_code == 302 and response.url == f"/distribution/recalls/{recall.pk}/"
    detail = client.get(response.url).content.decode()
    assert world["shipped_a"].number in detail and world["lab_a"].email in detail
    assert "Signed" in detail
    technician_view = client.get("/distribution/recalls/")
    assert technician_view.status_code == 200
    client.force_login(users["technician"])
    assert client.get(url).status_code == 403


def test_recall_refuses_forbidden_for_wrong_password_before_anything(users, world):
    with pytest.raises(Forbidden):
        services.recall_lot(world["bad"], actor=users["qa"], password="bad", reason="x")
    world["bad"].refresh_from_db()
    assert world["bad"].status == "released"


# --- a recalled MCB takes the lots made from it along ------------------------------------------------


def test_recalling_an_mcb_recalls_its_wcbs_and_tells_their_recipients(client, users, world):
    mcb = world["bad"].parent_lot
    assert world["good"].parent_lot_id == mcb.pk and mcb.status == "released"
    client.force_login(users["qa"])
    url = f"/distribution/lots/{mcb.pk}/recall/"
    confirm = client.get(url).content.decode()
    # before signing, QA sees which lots go along and whom the shipments of those lots reached
    assert world["bad"].lot_number in confirm and world["good"].lot_number in confirm
    assert world["shipped_a"].number in confirm and world["shipped_b"].number in confirm

    recall = services.recall_lot(mcb, actor=users["qa"], password=PASSWORD, reason="Donor HBV seroconversion")
    for lot in (mcb, world["bad"], world["good"]):
        lot.refresh_from_db()
        assert lot.status == "recalled"
    assert world["bad"].ancestor_recalled_at is not None and mcb.ancestor_recalled_at is None
    assert set(recall.notices.values_list("recipient__username", flat=True)) == {"lab-a", "lab-b"}
    # nothing of the line is left to fill the approved request: it is withdrawn, its vials freed
    world["reserved"].refresh_from_db()
    assert world["reserved"].status == "rejected"
    assert not Allocation.objects.filter(request=world["reserved"], released_at__isnull=True).exists()
    statement = signatures_for(recall)[0].statement
    assert world["bad"].lot_number in statement and world["good"].lot_number in statement
    detail = client.get(f"/distribution/recalls/{recall.pk}/").content.decode()
    assert 'id="recall-derived"' in detail and world["good"].lot_number in detail


def test_a_wcb_made_from_a_recalled_mcb_can_never_be_released(users):
    from qc import services as qc_services
    from qc.queries import release_readiness
    from tests.factories import CellLineFactory, LotFactory
    from tests.qc.factories import enter_panel

    line = CellLineFactory()
    mcb = LotFactory(cell_line=line, tier="MCB", status="released", passage=8)
    wcb = LotFactory(cell_line=line, tier="WCB", parent_lot=mcb, status="quarantine", passage=12)
    held = LotFactory(cell_line=line, tier="WCB", parent_lot=mcb, status="on_hold", passage=12)
    enter_panel(wcb, users["technician"])
    assert release_readiness(wcb).ready

    services.recall_lot(mcb, actor=users["qa"], password=PASSWORD, reason="Donor HBV seroconversion")
    wcb.refresh_from_db()
    held.refresh_from_db()
    assert (wcb.status, held.status) == ("quarantine", "on_hold")  # not released, so nothing to recall
    assert wcb.ancestor_recalled_at is not None and held.ancestor_recalled_at is not None
    readiness = release_readiness(wcb)
    assert [b.code for b in readiness.blockers()] == ["parent_not_released"]
    assert readiness.first_blocker["label"] == "parent lot recalled"
    with pytest.raises(Conflict) as refused:
        qc_services.release_lot(wcb, actor=users["qa"], password=PASSWORD)
    assert refused.value.code == "parent_not_released"
    wcb.refresh_from_db()
    assert wcb.status == "quarantine"
    # nor can a hold on one be lifted, whatever the re-test says
    retest = qc_services.record_qc_result(held, actor=users["technician"], test="viability", value="93",
                                          tested_on=timezone.localdate(), method="trypan blue")
    with pytest.raises(Conflict) as refused:
        qc_services.lift_hold(held, actor=users["qa"], password=PASSWORD, cited_result=retest)
    assert refused.value.code == "parent_not_released"
