"""Cleanroom environmental monitoring: results judged against the grade's alert and action limits; an action
excursion opens a deviation on every lot processed in the room that day; passages record their room."""

from __future__ import annotations

import pytest
from django.test import Client
from django.urls import reverse

from lots import services as lot_services
from qc.models import Deviation
from quality import services
from quality.models import EnvironmentResult, RoomUse
from tests.factories import CultureFactory
from tests.quality.helpers import days, today

pytestmark = pytest.mark.django_db


def room(qa, code="CR-2", grade="B"):
    return services.register_cleanroom(actor=qa, code=code, name="Culture room 2", grade=grade)


def test_a_passage_records_its_room_and_an_unknown_room_is_a_400(users, api):
    the_room = room(users["qa"])
    culture = CultureFactory()
    client = api(users["technician"])
    url = f"/api/v1/cultures/{culture.pk}/passages/"
    bad = client.post(url, {"passaged_on": today().isoformat(), "room": "NOPE"}, format="json")
    assert bad.status_code == 400 and "room" in bad.json()
    ok = client.post(url, {"passaged_on": today().isoformat(), "room": "CR-2"}, format="json")
    assert ok.status_code == 201
    assert RoomUse.objects.get(room=the_room).passage_id == ok.json()["id"]


@pytest.mark.parametrize("grade,parameter,value,level", [
    ("B", "settle_plate", "2", "within"), ("B", "settle_plate", "4", "alert"), ("B", "settle_plate", "6", "action"),
    ("A", "active_air", "1", "action"), ("A", "active_air", "0", "within"),
    ("C", "particles_0_5", "3600000", "action"), ("D", "contact_plate", "30", "alert")])
def test_results_are_judged_against_the_grade_limits(users, api, grade, parameter, value, level):
    the_room = room(users["qa"], grade=grade)
    response = api(users["qa"]).post(f"/api/v1/quality/cleanrooms/{the_room.pk}/results/", {
        "parameter": parameter, "sampled_on": today().isoformat(), "value": value}, format="json")
    assert response.status_code == 201, response.json()
    assert response.json()["level"] == level


def test_an_action_excursion_opens_a_deviation_on_the_lots_processed_that_day(users, api):
    the_room = room(users["qa"])
    tech = users["technician"]
    in_room = CultureFactory()
    elsewhere = CultureFactory()
    lot_services.record_passage(in_room, passaged_on=today(), room="CR-2", actor=tech)
    lot_services.record_passage(elsewhere, passaged_on=today(), actor=tech)
    lot_services.record_passage(CultureFactory(), passaged_on=days(-1), room="CR-2", actor=tech)  # another day

    def freeze(culture):
        return lot_services.create_lot(cell_line=culture.cell_line, tier="MCB", passage=5, vial_count=1,
                                       cells_per_vial=10**6, volume_ml="1.0", cryoprotectant="CS10",
                                       frozen_on=today(), culture=culture, actor=tech)

    affected, spared = freeze(in_room), freeze(elsewhere)
    response = api(users["qa"]).post(f"/api/v1/quality/cleanrooms/{the_room.pk}/results/", {
        "parameter": "settle_plate", "sampled_on": today().isoformat(), "value": "9", "location": "BSC-2 left"},
        format="json")
    body = response.json()
    assert response.status_code == 201 and body["level"] == "action", body
    assert body["lots"] == [affected.lot_number] and len(body["deviations"]) == 1
    deviation = Deviation.objects.get(number=body["deviations"][0])
    assert deviation.lot_id == affected.pk and "CR-2" in deviation.summary
    assert not Deviation.objects.filter(lot=spared).exists()


def test_bad_results_are_a_400_and_only_qa_records(users, api):
    the_room = room(users["qa"])
    url = f"/api/v1/quality/cleanrooms/{the_room.pk}/results/"
    bad = api(users["qa"]).post(url, {"parameter": "settle_plate", "sampled_on": days(3).isoformat(), "value": "1"},
                                format="json")
    assert bad.status_code == 400 and "sampled_on" in bad.json()
    assert api(users["technician"]).post(url, {"parameter": "settle_plate", "sampled_on": today().isoformat(),
                                               "value": "1"}, format="json").status_code == 403
    assert not EnvironmentResult.objects.exists()


def test_the_environment_page(users):
    room(users["qa"])
    client = Client()
    client.force_login(users["qa"])
    room_id = str(services.register_cleanroom(actor=users["qa"], code="CR-A", name="Filling", grade="A").pk)
    response = client.post(reverse("quality:environment"), {
        "form": "result", "result-room": room_id, "result-parameter": "active_air",
        "result-sampled_on": today().isoformat(), "result-value": "2"})
    assert response.status_code == 302
    page = client.get(reverse("quality:environment")).content.decode()
    assert 'data-level="action"' in page and "No lot processed that day" in page
    reader = Client()
    reader.force_login(users["technician"])
    assert reader.get(reverse("quality:environment")).status_code == 200
    assert reader.post(reverse("quality:environment"), {"form": "room", "room-code": "X", "room-name": "X",
                                                        "room-grade": "C"}).status_code == 403
