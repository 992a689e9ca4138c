"""Issue 15, collection custody: the hand-overs from collection to receipt (who, when, where, temperature), checked
against the tissue's transport limits (COLLECTION_TRANSPORT_LIMITS); outside them qc opens a deviation for QA."""

import datetime
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError
from django.utils import timezone

from bank.models import Notification
from donors import services
from donors.choices import Tissue
from donors.models import CustodyHandover
from qc.models import Deviation
from tests.factories import CollectionFactory, ConsentFactory, EthicsApprovalFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def collection():
    """A skin biopsy (2–8 °C) collected 30 h ago, received 6 h later."""
    collected = timezone.now() - datetime.timedelta(hours=30)
    return CollectionFactory(tissue="skin", collected_at=collected, received_at=collected + datetime.timedelta(hours=6))


def leg(collection, hours: float, **overrides) -> dict:
    data = {"handed_by": "Dr. Hu (dermatology)", "received_by": "Courier Ma", "location": "Clinic 4",
            "at": collection.collected_at + datetime.timedelta(hours=hours), "temperature_c": "4.5", "note": ""}
    data.update(overrides)
    return data


def test_the_new_tissues_are_stored_as_named():
    assert {"amnion", "endometrium", "menstrual_blood", "neural_tissue", "muscle", "skin"} <= set(Tissue.values)


def test_a_hand_over_within_limits_is_recorded_with_its_history(users, collection):
    handover = services.record_handover(collection, actor=users["technician"], **leg(collection, 1))
    assert handover.within_limits and handover.limit_problem == ""
    assert (handover.handed_by, handover.received_by, handover.location) == (
        "Dr. Hu (dermatology)", "Courier Ma", "Clinic 4")
    assert handover.temperature_c == Decimal("4.5") and handover.recorded_by == users["technician"]
    history = handover.history.get()
    assert history.history_user == users["technician"] and history.history_change_reason
    collection.refresh_from_db()
    assert not collection.transport_out_of_limits
    assert not Deviation.objects.exists()


def test_a_warm_hand_over_opens_a_deviation_on_the_collection(users, collection):
    handover = services.record_handover(collection, actor=users["technician"],
                                        **leg(collection, 5, temperature_c="11.5", location="Goods-in"))
    assert not handover.within_limits and "11.5 °C" in handover.limit_problem and "2 to 8" in handover.limit_problem
    collection.refresh_from_db()
    assert collection.transport_out_of_limits
    deviation = Deviation.objects.get()
    assert deviation.collection == collection and deviation.lot is None and deviation.status == "open"
    assert collection.code in deviation.summary and "Goods-in" in deviation.summary
    notice = Notification.objects.get(recipient=users["qa"])
    assert deviation.number in notice.subject and collection.code in notice.subject


def test_a_hand_over_past_the_tissues_time_limit_opens_a_deviation(users, settings):
    settings.COLLECTION_TRANSPORT_LIMITS = {"neural_tissue": {"min_c": 2, "max_c": 8, "max_hours": 24}}
    collected = timezone.now() - datetime.timedelta(hours=40)
    late = CollectionFactory(tissue="neural_tissue", collected_at=collected,
                             received_at=collected + datetime.timedelta(hours=30))
    on_time = services.record_handover(late, actor=users["technician"], **leg(late, 23))
    assert on_time.within_limits
    overdue = services.record_handover(late, actor=users["technician"], **leg(late, 25, temperature_c=None))
    assert not overdue.within_limits and "limit 24 h" in overdue.limit_problem
    assert Deviation.objects.get().collection == late


def test_a_tissue_without_limits_of_its_own_falls_back_to_the_bank_wide_hours(users, settings):
    settings.COLLECTION_TRANSPORT_LIMITS = {}
    settings.COLLECTION_TRANSPORT_LIMIT_HOURS = 10
    assert services.transport_limits("skin") == {"min_c": None, "max_c": None, "max_hours": 10}
    collected = timezone.now() - datetime.timedelta(hours=20)
    collection = CollectionFactory(collected_at=collected, received_at=collected + datetime.timedelta(hours=12))
    cold = services.record_handover(collection, actor=users["technician"], **leg(collection, 2, temperature_c="-80"))
    assert cold.within_limits  # no temperature limit for the tissue
    assert not services.record_handover(collection, actor=users["technician"], **leg(collection, 11)).within_limits


def test_receipt_outside_the_limits_opens_a_deviation(users):
    consent = ConsentFactory()
    EthicsApprovalFactory(valid_from=timezone.localdate() - datetime.timedelta(days=30),
                          valid_to=timezone.localdate() + datetime.timedelta(days=30))
    collected = timezone.now() - datetime.timedelta(days=1)
    warm = services.record_collection(actor=users["technician"], donor=consent.donor, tissue="umbilical_cord",
                                      collected_at=collected, received_at=collected + datetime.timedelta(hours=3),
                                      transport_temperature_c="15")
    assert warm.transport_out_of_limits and not warm.transport_delay_flagged
    assert Deviation.objects.get().collection == warm
    fine = services.record_collection(actor=users["technician"], donor=consent.donor, tissue="cord_blood",
                                      collected_at=collected, received_at=collected + datetime.timedelta(hours=3),
                                      transport_temperature_c="15")  # cord blood: 2–25 °C
    assert not fine.transport_out_of_limits and Deviation.objects.count() == 1


@pytest.mark.parametrize("overrides,field", [
    ({"handed_by": ""}, "handed_by"),
    ({"received_by": "  "}, "received_by"),
    ({"location": ""}, "location"),
    ({"at": "yesterday"}, "at"),
    ({"temperature_c": "cold"}, "temperature_c"),
    ({"temperature_c": "-300"}, "temperature_c"),
])
def test_bad_input_names_the_field_and_saves_nothing(users, collection, overrides, field):
    with pytest.raises(ValidationError) as exc:
        services.record_handover(collection, actor=users["technician"], **leg(collection, 1, **overrides))
    assert field in exc.value.message_dict
    assert not CustodyHandover.objects.exists()


def test_a_hand_over_happens_between_collection_and_receipt(users, collection):
    for hours, words in ((-1, "before the collection"), (7, "ends at the bank's receipt")):
        with pytest.raises(ValidationError) as exc:
            services.record_handover(collection, actor=users["technician"], **leg(collection, hours))
        assert words in exc.value.message_dict["at"][0]
    assert not CustodyHandover.objects.exists()


# --- API --------------------------------------------------------------------------------------------------------


def test_api_records_and_lists_the_chain_in_time_order(api, users, collection):
    client = api(users["technician"])
    url = f"/api/v1/collections/{collection.pk}/handovers/"
    second = leg(collection, 5, handed_by="Courier Ma", received_by="Reception", temperature_c="12")
    first = leg(collection, 1)
    for body in (second, first):
        body["at"] = body["at"].isoformat()
        response = client.post(url, body, format="json")
        assert response.status_code == 201, response.json()
    assert response.json()["within_limits"] is True
    listed = client.get(url).json()
    assert [h["handed_by"] for h in listed] == ["Dr. Hu (dermatology)", "Courier Ma"]
    assert [h["within_limits"] for h in listed] == [True, False]
    detail = client.get(f"/api/v1/collections/{collection.pk}/").json()
    assert detail["transport_out_of_limits"] is True


def test_api_bad_input_is_400_and_unknown_collection_404(api, users, collection):
    client = api(users["technician"])
    response = client.post(f"/api/v1/collections/{collection.pk}/handovers/", {"handed_by": "x"}, format="json")
    assert response.status_code == 400 and {"received_by", "at", "location"} <= set(response.json())
    assert client.post("/api/v1/collections/999999/handovers/", leg(collection, 1), format="json").status_code in (
        400, 404)
    assert client.get("/api/v1/collections/999999/handovers/").status_code == 404
    assert not CustodyHandover.objects.exists()


@pytest.mark.parametrize("role,get,post", [("technician", 200, 201), ("coordinator", 200, 201), ("qa", 200, 403),
                                           ("researcher", 403, 403), ("admin", 200, 201)])
def test_who_reads_and_records_hand_overs(api, users, collection, role, get, post):
    client = api(users[role])
    url = f"/api/v1/collections/{collection.pk}/handovers/"
    assert client.get(url).status_code == get
    body = leg(collection, 1)
    body["at"] = body["at"].isoformat()
    assert client.post(url, body, format="json").status_code == post


def test_the_endpoints_are_in_the_schema(api, users):
    schema = api(users["admin"]).get("/api/v1/schema/?format=json").json()
    assert "post" in schema["paths"]["/api/v1/collections/{id}/handovers/"]
    assert "get" in schema["paths"]["/api/v1/collections/{id}/handovers/"]
    assert "post" in schema["paths"]["/api/v1/ethics-approvals/{id}/withdraw/"]


# --- the collection page ----------------------------------------------------------------------------------------


def test_the_collection_page_shows_and_records_the_chain(client, users, collection):
    client.force_login(users["technician"])
    url = f"/donors/collections/{collection.pk}/"
    html = client.get(url).content.decode()
    assert 'id="custody"' in html and 'id="handover-form"' in html and "2 to 8 °C" in html
    at = timezone.localtime(collection.collected_at + datetime.timedelta(hours=2)).strftime("%Y-%m-%dT%H:%M")
    response = client.post(f"/donors/collections/{collection.pk}/handovers/new/", {
        "handed_by": "Dr. Hu", "received_by": "Courier Ma", "at": at, "location": "Clinic 4", "temperature_c": "14"})
    assert response.status_code == 302 and response["Location"].endswith("#custody")
    html = client.get(url).content.decode()
    assert "Courier Ma" in html and 'id="limits-flag"' in html and "outside the limits" in html
    bad = client.post(f"/donors/collections/{collection.pk}/handovers/new/", {
        "handed_by": "", "received_by": "Courier Ma", "at": at, "location": "Clinic 4"})
    assert bad.status_code == 200 and 'id="form-errors"' in bad.content.decode()
    assert CustodyHandover.objects.count() == 1


def test_qa_sees_the_collection_deviation(client, users, collection):
    services.record_handover(collection, actor=users["technician"], **leg(collection, 2, temperature_c="20"))
    deviation = Deviation.objects.get()
    client.force_login(users["qa"])
    page = client.get(f"/qc/deviations/{deviation.pk}/")
    assert page.status_code == 200 and collection.code in page.content.decode()
    listing = client.get("/qc/deviations/")
    assert listing.status_code == 200 and collection.code in listing.content.decode()
    assert client.get("/qc/").status_code == 200
    api_body = client.get(f"/api/v1/qc/deviations/{deviation.pk}/").json()
    assert api_body["collection_code"] == collection.code and api_body["lot_number"] is None


def test_qa_investigates_and_closes_a_collection_deviation(users, collection, password):
    from qc import services as qc_services

    services.record_handover(collection, actor=users["technician"], **leg(collection, 2, temperature_c="20"))
    deviation = Deviation.objects.get()
    qc_services.update_deviation(deviation, actor=users["qa"], investigation="Cool box lid unlatched",
                                 root_cause="Worn latch", capa="Latches replaced; courier briefed")
    closed = qc_services.close_deviation(deviation, actor=users["qa"], password=password)
    assert closed.status == "closed" and closed.closed_by == users["qa"] and closed.collection == collection
