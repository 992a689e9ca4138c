"""Deviations: investigation, root cause and CAPA, closed by QA with an e-signature."""

import pytest
from django.utils import timezone

from bank.errors import Conflict, Forbidden
from bank.signatures import signatures_for
from qc import services
from qc.models import Deviation
from tests.qc.factories import qc_lot

pytestmark = pytest.mark.django_db


@pytest.fixture
def deviation(users):
    lot = qc_lot()
    result = services.record_qc_result(lot, actor=users["technician"], test="sterility", outcome="positive",
                                       tested_on=timezone.localdate())
    return Deviation.objects.get(result=result)


def test_close_needs_investigation_root_cause_and_capa_then_a_qa_signature(users, password, deviation):
    with pytest.raises(Conflict) as incomplete:
        services.close_deviation(deviation, actor=users["qa"], password=password)
    assert incomplete.value.code == "deviation_incomplete"
    assert incomplete.value.extra["missing"] == ["investigation", "root_cause", "capa"]
    services.update_deviation(deviation, actor=users["qa"], investigation="BacT/ALERT bottle positive at 36 h",
                              root_cause="Gram-positive cocci: skin flora introduced at harvest",
                              capa="Retrain on aseptic technique; add settle plates to every harvest")
    with pytest.raises(Forbidden) as wrong:
        services.close_deviation(deviation, actor=users["qa"], password="wrong")
    assert wrong.value.code == "signature_invalid"
    with pytest.raises(Forbidden):
        services.close_deviation(deviation, actor=users["technician"], password=password)
    closed = services.close_deviation(deviation, actor=users["qa"], password=password)
    assert closed.status == "closed" and closed.closed_by == users["qa"]
    sig = signatures_for(closed).get()
    assert sig.meaning == "closure" and sig.signer == users["qa"]
    with pytest.raises(Conflict) as again:
        services.update_deviation(closed, actor=users["qa"], capa="changed")
    assert again.value.code == "deviation_closed"


def test_api_deviations(users, password, api, deviation):
    qa = api(users["qa"])
    listing = qa.get("/api/v1/qc/deviations/", {"status": "open"}).json()
    assert listing["count"] == 1 and listing["results"][0]["number"] == deviation.number
    url = f"/api/v1/qc/deviations/{deviation.pk}/"
    assert api(users["technician"]).patch(url, {"capa": "x"}).status_code == 403
    early = qa.post(url + "close/", {"password": password})
    assert (early.status_code, early.json()["code"]) == (409, "deviation_incomplete")
    patched = qa.patch(url, {"investigation": "Re-test negative", "root_cause": "Sampling", "capa": "Retrain"})
    assert patched.status_code == 200 and patched.json()["capa"] == "Retrain"
    assert qa.post(url + "close/", {"password": "bad"}).json()["code"] == "signature_invalid"
    closed = qa.post(url + "close/", {"password": password})
    assert closed.status_code == 200 and closed.json()["status"] == "closed"
    assert closed.json()["signatures"][0]["meaning"] == "closure"
    manual = api(users["technician"]).post("/api/v1/qc/deviations/", {"lot": deviation.lot_id,
                                                                       "summary": "Freezer door left open 4 min"})
    assert manual.status_code == 201 and manual.json()["number"].startswith("DEV-")
    assert api(users["technician"]).post("/api/v1/qc/deviations/", {"lot": 999999, "summary": "x"}).status_code \
        == 400
