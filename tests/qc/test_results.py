"""QC results: pass/fail by the criterion, never overwritten, deviations on OOS, bad input refused."""

import datetime
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError
from django.utils import timezone

from bank.errors import Conflict, Forbidden
from bank.models import Notification
from qc import services
from qc.models import Deviation, LotSpecification, QCResult
from tests.factories import LotFactory
from tests.qc.factories import enter_panel, qc_lot, store_vials

pytestmark = pytest.mark.django_db

TODAY = timezone.localdate


def record(lot, user, test, **kwargs):
    kwargs.setdefault("tested_on", TODAY())
    return services.record_qc_result(lot, actor=user, test=test, **kwargs)


@pytest.mark.parametrize(("test", "kwargs", "passed"), [
    ("viability", {"value": "70"}, True),  # inclusive minimum
    ("viability", {"value": "69.99"}, False),
    ("endotoxin", {"value": "5"}, True),  # inclusive maximum
    ("endotoxin", {"value": "5.01"}, False),
    ("sterility", {"outcome": "negative"}, True),
    ("sterility", {"outcome": "Positive"}, False),  # outcomes are matched without case
    ("str_identity", {"outcome": "mismatch"}, False),
])
def test_passed_is_computed_by_the_criterion(users, test, kwargs, passed):
    lot = qc_lot()
    result = record(lot, users["technician"], test, **kwargs)
    assert result.passed is passed
    assert result.criterion.test.code == test
    assert Deviation.objects.filter(result=result).exists() is (not passed)


def test_first_result_fixes_the_specification_and_a_retest_is_a_new_result(users):
    lot = qc_lot()
    first = record(lot, users["technician"], "viability", value="65", method="trypan blue", instrument="Countess 3")
    assert LotSpecification.objects.get(lot=lot).specification.version == 1
    second = record(lot, users["technician"], "viability", value="88")
    assert second.retest_of == first and QCResult.objects.filter(lot=lot).count() == 2
    first.refresh_from_db()
    assert first.value == Decimal("65") and first.passed is False  # never overwritten
    assert (first.method, first.instrument, first.unit) == ("trypan blue", "Countess 3", "%")
    assert first.history.get().history_user == users["technician"]


def test_an_oos_result_opens_a_numbered_deviation_and_tells_qa(users):
    lot = qc_lot()
    result = record(lot, users["technician"], "mycoplasma", outcome="positive")
    dev = Deviation.objects.get(result=result)
    year = timezone.localdate().year
    assert dev.number == f"DEV-{year}-0001" and dev.status == "open" and dev.opened_by == users["technician"]
    assert "mycoplasma" in dev.summary
    assert Notification.objects.filter(recipient=users["qa"], subject__contains=dev.number).exists()
    other = record(qc_lot(), users["technician"], "sterility", outcome="positive")
    assert Deviation.objects.get(result=other).number == f"DEV-{year}-0002"


def test_a_named_vial_is_thawed_once_and_leaves_storage(users):
    lot = qc_lot()
    store_vials(lot)
    vial = lot.vials.order_by("number").last()
    record(lot, users["technician"], "sterility", outcome="negative", vial=vial.barcode)
    record(lot, users["technician"], "viability", value="91", vial=vial.barcode)  # same thawed vial
    vial.refresh_from_db()
    assert (vial.status, vial.box_id) == ("used", None)
    assert vial.moves.count() == 1


def test_a_vial_of_another_lot_or_not_available_is_refused(users):
    from lots.services import change_vial_status

    lot = qc_lot()
    other = LotFactory()
    with pytest.raises(ValidationError) as wrong:
        record(lot, users["technician"], "sterility", outcome="negative", vial=other.vials.first().barcode)
    assert "vial" in wrong.value.message_dict
    reserved = lot.vials.first()
    change_vial_status([reserved], "reserved", actor=users["qa"], reason="REQ-9")
    with pytest.raises(Conflict) as unavailable:
        record(lot, users["technician"], "sterility", outcome="negative", vial=reserved.barcode)
    assert unavailable.value.code == "vial_unavailable"
    assert not QCResult.objects.exists() and not LotSpecification.objects.exists()


BAD_INPUT = [
    ("value for an outcome test", {"test": "sterility", "value": "1"}, "value"),
    ("outcome for a numeric test", {"test": "viability", "outcome": "negative"}, "outcome"),
    ("unknown test code", {"test": "potency", "value": "1"}, "test"),
    ("unknown outcome", {"test": "sterility", "outcome": "maybe"}, "outcome"),
    ("no value", {"test": "viability"}, "value"),
    ("impossible percentage", {"test": "viability", "value": "130"}, "value"),
    ("negative value", {"test": "endotoxin", "value": "-1"}, "value"),
    ("test not in the lot's spec", {"test": "cd34", "value": "2"}, "test"),
]


@pytest.mark.parametrize(("case", "kwargs", "field"), BAD_INPUT, ids=[c[0] for c in BAD_INPUT])
def test_bad_input_is_a_field_error_and_nothing_is_saved(users, case, kwargs, field):
    lot = qc_lot()
    with pytest.raises(ValidationError) as error:
        record(lot, users["technician"], **kwargs)
    assert field in error.value.message_dict
    assert not QCResult.objects.exists() and not LotSpecification.objects.exists()
    assert not Deviation.objects.exists()


def test_a_future_test_date_is_refused(users):
    lot = qc_lot()
    with pytest.raises(ValidationError) as error:
        record(lot, users["technician"], "viability", value="90", tested_on=TODAY() + datetime.timedelta(days=1))
    assert "future" in error.value.message_dict["tested_on"][0]
    assert not QCResult.objects.exists()


def test_sendai_clearance_is_not_in_an_episomal_lines_spec(users):
    lot = qc_lot(line_reprogramming_method="episomal")
    with pytest.raises(ValidationError):
        record(lot, users["technician"], "sendai_clearance", outcome="negative")


def test_no_result_on_a_rejected_lot(users, password):
    lot = qc_lot()
    services.reject_lot(lot, actor=users["qa"], password=password, reason="Contaminated")
    with pytest.raises(Conflict) as refused:
        record(lot, users["technician"], "viability", value="90")
    assert refused.value.code == "lot_rejected"
    assert not QCResult.objects.exists()


def test_only_technicians_and_qa_enter_results(users):
    lot = qc_lot()
    for role in ("researcher", "coordinator"):
        with pytest.raises(Forbidden):
            record(lot, users[role], "viability", value="90")
    record(lot, users["qa"], "viability", value="90")


# --- API ----------------------------------------------------------------------------------------------


def test_api_post_result_returns_201_with_passed(users, api):
    lot = qc_lot()
    store_vials(lot)
    vial = lot.vials.first()
    url = f"/api/v1/lots/{lot.pk}/qc-results/"
    body = {"test": "endotoxin", "value": 7.2, "tested_on": TODAY().isoformat(), "method": "LAL kinetic",
            "instrument": "Endosafe nexgen-PTS, cartridge 2291", "vial": vial.barcode}
    response = api(users["technician"]).post(url, body)
    assert response.status_code == 201, response.json()
    data = response.json()
    assert data["passed"] is False and data["value"] == 7.2 and data["unit"] == "EU/mL"
    assert data["criterion"] == "≤ 5 EU/mL" and data["deviation"].startswith("DEV-")
    assert data["vial"] == vial.barcode and data["entered_by"] == "technician"
    ok = api(users["technician"]).post(url, {"test": "sterility", "outcome": "negative",
                                             "tested_on": TODAY().isoformat()})
    assert ok.status_code == 201 and ok.json()["passed"] is True and ok.json()["value"] is None


@pytest.mark.parametrize(("case", "kwargs", "field"), BAD_INPUT, ids=[c[0] for c in BAD_INPUT])
def test_api_bad_input_is_400_with_the_field_and_nothing_saved(users, api, case, kwargs, field):
    lot = qc_lot()
    response = api(users["technician"]).post(f"/api/v1/lots/{lot.pk}/qc-results/",
                                             {**kwargs, "tested_on": TODAY().isoformat()})
    assert response.status_code == 400 and field in response.json(), response.json()
    assert not QCResult.objects.exists() and not LotSpecification.objects.exists()


def test_api_more_bad_input_and_refusals(users, api, password):
    lot = qc_lot()
    url = f"/api/v1/lots/{lot.pk}/qc-results/"
    tech = api(users["technician"])
    future = tech.post(url, {"test": "viability", "value": 90,
                             "tested_on": (TODAY() + datetime.timedelta(days=3)).isoformat()})
    assert future.status_code == 400 and "tested_on" in future.json()
    assert tech.post(url, {"test": "viability", "value": 90, "tested_on": "03/01/2026"}).status_code == 400
    assert tech.post(url, {"test": "viability", "value": "ninety", "tested_on": TODAY().isoformat()}).status_code \
        == 400
    assert tech.post(url, {"test": "viability", "value": 90.123456, "tested_on": TODAY().isoformat()}).status_code \
        == 400
    assert tech.post(url, "garbage", content_type="application/json").status_code == 400
    assert tech.post("/api/v1/lots/999999/qc-results/", {"test": "viability", "value": 90,
                                                          "tested_on": TODAY().isoformat()}).status_code == 404
    assert api(users["researcher"]).post(url, {"test": "viability", "value": 90,
                                               "tested_on": TODAY().isoformat()}).status_code == 403
    assert api().get(url).status_code == 401
    services.reject_lot(lot, actor=users["qa"], password=password, reason="Karyotype abnormal")
    rejected = tech.post(url, {"test": "viability", "value": 90, "tested_on": TODAY().isoformat()})
    assert (rejected.status_code, rejected.json()["code"]) == (409, "lot_rejected")
    assert not QCResult.objects.exists()


def test_api_list_results_in_constant_queries(users, api, django_assert_num_queries):
    lot = qc_lot()
    enter_panel(lot, users["technician"], override={"viability": {"value": "40"}})
    client = api(users["qa"])
    client.get(f"/api/v1/lots/{lot.pk}/qc-results/")  # warm the permission cache
    # Queries: the lot (1), the page with lot, test, vial, user and criterion joined (1; one page: no count),
    # the deviations of the page's results (1) — whatever the number of results.
    with django_assert_num_queries(3):
        data = client.get(f"/api/v1/lots/{lot.pk}/qc-results/").json()
    assert data["count"] == 8
    assert {r["test"]: r["passed"] for r in data["results"]}["viability"] is False
