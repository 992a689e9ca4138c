"""The shared defences against input that used to reach a 500 (each case was one, found by fuzzing).

The table-driven sweep over every endpoint and page is tests/bank/test_api_fuzz_regressions.py; these are
the named cases, one per root cause, readable on their own.
"""

from __future__ import annotations

import pytest
from django.core.exceptions import ValidationError
from django.core.files.uploadedfile import SimpleUploadedFile

from bank.parsing import whole_number
from donors.models import Donor
from lots import services as lot_services
from lots.models import Lot
from tests.factories import CellLineFactory, DonorFactory, LotFactory, StorageUnitFactory

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize("text,expected", [
    ("42", 42), (" 7 ", 7), (42, 42), ("²", None), ("١٢", None), ("-1", None), ("1.5", None), ("", None),
    (None, None), (True, None), (str(2**63 - 1), 2**63 - 1), (str(2**63), None), ("9" * 400, None),
])
def test_whole_number_takes_only_ascii_digits_within_bigint(text, expected):
    assert whole_number(text) == expected


def test_lone_surrogate_in_json_is_a_400_not_a_500(users, api):
    # json.loads turns "\ud800" into a str that no database (and not even Django's error page) can encode.
    response = api(users["coordinator"]).post(
        "/api/v1/donors/", b'{"sex": "\\ud800", "birth_year": 1990}', content_type="application/json")
    assert response.status_code == 400
    assert response.json()["code"] == "parse_error"
    assert not Donor.objects.exists()


def test_json_nested_too_deeply_is_a_400(users, api):
    response = api(users["technician"]).post("/api/v1/notifications/read/", b"[" * 100_000,
                                             content_type="application/json")
    assert response.status_code == 400 and response.json()["code"] == "parse_error"


@pytest.mark.parametrize("url,field", [
    ("/api/v1/donors/?code=%00", "code"), ("/api/v1/collections/?code=a%00", "code"),
    ("/api/v1/storage/boxes/?barcode=%00", "barcode"), ("/api/v1/requests/?status=%00", "status"),
])
def test_nul_in_a_query_parameter_is_a_field_error(users, api, url, field):
    response = api(users["admin"]).get(url)
    assert response.status_code == 400
    assert field in response.json()


def test_nul_in_a_path_is_not_found(users, api, client):
    assert api(users["admin"]).get("/api/v1/trace/vials/SBV%00/").status_code == 404
    client.force_login(users["admin"])
    assert client.get("/distribution/trace/vials/SBV%00/").status_code == 404


def test_nul_in_a_page_form_is_a_400(users, client):
    """Views that look a posted value up before the form cleans it (a QC test code, box barcodes)."""
    lot = LotFactory()
    client.force_login(users["technician"])
    response = client.post(f"/qc/lots/{lot.pk}/results/", {"test": "viab\x00ility", "value": "90"})
    assert response.status_code == 400
    response = client.post(f"/storage/lots/{lot.pk}/store/", {"boxes": "SBB\x00"})
    assert response.status_code == 400


@pytest.mark.parametrize("url", ["/api/v1/qc/deviations/?lot=²", "/api/v1/qc/rechecks/?lot=²"])
def test_unicode_digits_in_an_id_parameter_are_a_400(users, api, url):
    # "²".isdigit() is True, int("²") raises.
    response = api(users["qa"]).get(url)
    assert response.status_code == 400 and "lot" in response.json()


def test_impossible_since_on_readings_is_a_400(users, api):
    unit = StorageUnitFactory()
    response = api(users["admin"]).get(f"/api/v1/storage/units/{unit.pk}/readings/", {"since": "2026-02-30T00:00"})
    assert response.status_code == 400 and "since" in response.json()


@pytest.mark.parametrize("value", ["0001-01-01", "0001-01-01T00:00:00+14:00", "9999-12-31T23:59:59-12:00",
                                   "1899-12-31T12:00:00Z", "3000-01-01T00:00:00Z"])
def test_datetimes_outside_the_banks_calendar_are_field_errors(users, api, value):
    # DRF's own DateTimeField raised OverflowError on 0001-01-01 (a 500).
    unit = StorageUnitFactory()
    response = api(users["admin"]).post(f"/api/v1/storage/units/{unit.pk}/readings/",
                                        {"temperature_c": -180, "recorded_at": value}, format="json")
    assert response.status_code == 400
    assert "recorded_at" in response.json()
    assert not unit.readings.exists()


@pytest.mark.parametrize("value", ["0001-01-01", "1899-12-31", "3000-01-01"])
def test_dates_outside_the_banks_calendar_are_field_errors(users, api, value):
    donor = DonorFactory()
    response = api(users["coordinator"]).post(f"/api/v1/donors/{donor.pk}/consents/",
                                              {"form_version": "v1", "signed_on": value, "scopes": ["research"]},
                                              format="json")
    assert response.status_code == 400 and "signed_on" in response.json()
    assert not donor.consents.exists()


def test_cells_per_vial_past_bigint_is_a_field_error(users, api):
    line = CellLineFactory()
    response = api(users["technician"]).post("/api/v1/lots/", {
        "cell_line": line.pk, "tier": "MCB", "passage": 5, "vial_count": 1, "cells_per_vial": 2**63,
        "volume_ml": "1.0", "cryoprotectant": "DMSO", "frozen_on": "2026-01-01"}, format="json")
    assert response.status_code == 400 and "cells_per_vial" in response.json()
    with pytest.raises(ValidationError) as bad:  # the page calls the service with the form's integer
        lot_services.create_lot(cell_line=line, tier="MCB", passage=5, vial_count=1, cells_per_vial=2**63,
                                volume_ml=1, cryoprotectant="DMSO", frozen_on=line.created_at.date(),
                                actor=users["technician"])
    assert "cells_per_vial" in bad.value.message_dict
    assert not Lot.objects.exists()


def test_csv_import_with_a_nul_character_is_refused_whole(users, api):
    content = (b"sex,birth_year,donor_type,full_name,national_id\n"
               b"F,1990,healthy,Li\x00Na,ID-0001\n")
    response = api(users["admin"]).post("/api/v1/donors/import/",
                                        {"file": SimpleUploadedFile("d.csv", content)}, format="multipart")
    assert response.status_code == 400
    assert response.json()["rows"][0]["line"] == 2
    assert not Donor.objects.exists()


def test_options_describes_put_endpoints(users, api):
    """DRF's metadata looks the object up for PUT: views without a queryset raised AssertionError."""
    donor, lot = DonorFactory(), LotFactory()
    client = api(users["admin"])
    assert client.options(f"/api/v1/donors/{donor.pk}/hla/").status_code == 200
    assert client.options(f"/api/v1/lots/{lot.pk}/stability-plan/").status_code == 200
