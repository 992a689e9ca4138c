"""Registry export (issue 15): a line's hPSCreg / ICSCB record, validated against the README's field lists on the
demo line; the registry IDs recorded back (QA only, in the history); the public catalog feed (no account, no
donor code or identity, throttled)."""

from __future__ import annotations

import csv
import io
import json
import re
from pathlib import Path

import pytest
from django.core.management import call_command
from django.test import Client

from distribution import registry_export
from donors.models import Donor, DonorIdentity
from lots.models import CellLine

pytestmark = pytest.mark.django_db

README = Path(__file__).resolve().parents[2] / "README.md"


def readme_fields(registry: str) -> list[str]:
    """The field names the README lists for ``registry`` (between its markers), in order."""
    text = README.read_text(encoding="utf-8")
    block = re.search(rf"<!-- registry-fields:{registry} -->(.*?)<!-- /registry-fields -->", text, re.S)
    assert block, f"README has no field list for {registry}"
    return re.findall(r"^- `([a-z_]+)`", block.group(1), re.M)


@pytest.fixture
def demo(db):
    call_command("load_demo", stdout=io.StringIO())
    return CellLine.objects.select_related("donor", "collection").get(name="SCBi001-A")


def _donor_secrets(line) -> list[str]:
    secrets = [line.donor.code, line.collection.code]
    identity = DonorIdentity.objects.filter(donor=line.donor).first()
    if identity is not None:
        secrets += [v for v in (getattr(identity, "full_name", ""), getattr(identity, "national_id", "")) if v]
    return secrets


def test_the_readme_lists_the_fields_the_code_exports():
    assert readme_fields("hpscreg") == list(registry_export.HPSCREG_FIELDS)
    assert readme_fields("icscb") == list(registry_export.ICSCB_FIELDS)


def test_the_demo_line_s_export_is_the_readme_s_fields(demo, api, users):
    client = api(users["qa"])
    for registry in ("hpscreg", "icscb"):
        response = client.get(f"/api/v1/cell-lines/{demo.pk}/registry/", {"registry": registry, "format": "json"})
        assert response.status_code == 200, response.content
        record = response.json()["record"]
        assert list(record) == readme_fields(registry)  # same names, same order
        text = json.dumps(record)
        for secret in _donor_secrets(demo):
            assert secret not in text
        csv_response = client.get(f"/api/v1/cell-lines/{demo.pk}/registry/", {"registry": registry, "format": "csv"})
        assert csv_response.status_code == 200 and csv_response["Content-Type"].startswith("text/csv")
        rows = list(csv.reader(io.StringIO(csv_response.content.decode())))
        assert rows[0] == readme_fields(registry) and len(rows) == 2
    hpscreg = client.get(f"/api/v1/cell-lines/{demo.pk}/registry/", {"registry": "hpscreg"}).json()["record"]
    # The demo tells the story: registered, characterised by QC, reprogrammed with Sendai.
    assert hpscreg["name"] == "SCBi001-A" and hpscreg["hpscreg_id"] == "SCBi001-A"
    assert hpscreg["cell_line_type"] == "hiPSC" and hpscreg["reprogramming_method"] == "sendai"
    assert hpscreg["vector_integrating"] is False
    assert hpscreg["karyotype"] and hpscreg["str_identity"] and hpscreg["pluripotency"]
    assert re.fullmatch(r"\d+-\d+", hpscreg["donor_age_range"])
    assert hpscreg["donor_sex"] in ("female", "male")
    # the demo's clinical-grade lots carry ISBT 128 DINs
    from lots.models import Lot

    assert Lot.objects.filter(cell_line=demo).exclude(din=None).count() == Lot.objects.filter(cell_line=demo).count()


def test_hla_only_where_the_donor_consented_to_data_sharing(db):
    from tests.distribution.factories import ALL_SCOPES, add_lot, make_line

    sharing = make_line(hla=True, name="SCBi091-A")
    private = make_line(hla=True, name="SCBi092-A", scopes=[s for s in ALL_SCOPES if s != "data_sharing"])
    for line in (sharing, private):
        add_lot(line, tier="MCB", vials=2)
    shared = registry_export.registry_record(sharing, "hpscreg")
    assert shared["hla"]["alleles"]["A"] and registry_export.registry_record(sharing, "icscb")["hla_typing"]
    assert registry_export.registry_record(private, "hpscreg")["hla"] is None
    assert registry_export.registry_record(private, "icscb")["hla_typing"] is None
    assert "Wang Xiaoli" not in json.dumps(shared)  # the factory's identity never leaks


def test_hpscreg_takes_pluripotent_lines_only(demo, api, users):
    # the demo's own UC-MSC line (the imports demo adds a legacy one after it)
    msc = CellLine.objects.filter(cell_type="UC-MSC").order_by("pk").first()
    client = api(users["technician"])
    response = client.get(f"/api/v1/cell-lines/{msc.pk}/registry/", {"registry": "hpscreg"})
    assert response.status_code == 400 and "pluripotent" in response.json()["registry"][0]
    assert client.get(f"/api/v1/cell-lines/{msc.pk}/registry/", {"registry": "icscb"}).status_code == 200
    assert client.get(f"/api/v1/cell-lines/{msc.pk}/registry/", {"registry": "cellosaurus"}).status_code == 400
    assert api(users["researcher"]).get(f"/api/v1/cell-lines/{msc.pk}/registry/").status_code == 403
    assert api(None).get(f"/api/v1/cell-lines/{msc.pk}/registry/").status_code == 401


def test_csv_cells_never_run_as_formulas():
    out = registry_export.registry_csv([{name: "=cmd()" for name in registry_export.ICSCB_FIELDS}], "icscb")
    assert "'=cmd()" in out and ",=cmd()" not in out


# --- registry IDs ----------------------------------------------------------------------------------------------


def test_qa_records_the_registry_ids_and_the_history_keeps_them(line, api, users):
    url = f"/api/v1/cell-lines/{line.pk}/registry-ids/"
    assert api(users["technician"]).post(url, {"hpscreg_id": "X"}, format="json").status_code == 403
    assert api(users["researcher"]).post(url, {"hpscreg_id": "X"}, format="json").status_code == 403
    client = api(users["qa"])
    response = client.post(url, {"hpscreg_id": line.name, "icscb_id": "ICSCB-7", "reason": "registered"},
                           format="json")
    assert response.status_code == 200 and response.json()["hpscreg_id"] == line.name
    assert response.json()["icscb_id"] == "ICSCB-7"
    last = line.history.order_by("-history_date", "-history_id").first()
    assert last.hpscreg_id == line.name and last.history_change_reason == "registered"
    assert last.history_user == users["qa"]
    # one field only: the other stays; "" clears
    client.post(url, {"icscb_id": ""}, format="json")
    line.refresh_from_db()
    assert line.hpscreg_id == line.name and line.icscb_id == ""
    for bad in ({"hpscreg_id": "has space"}, {"hpscreg_id": "x" * 41}, {}):
        response = client.post(url, bad, format="json")
        assert response.status_code == 400, bad
    line.refresh_from_db()
    assert line.hpscreg_id == line.name


def test_the_line_page_shows_the_exports_and_the_form_to_qa_only(line, users):
    qa, tech = Client(), Client()
    qa.force_login(users["qa"])
    tech.force_login(users["technician"])
    page = qa.get(f"/lots/lines/{line.pk}/").content.decode()
    assert 'id="registry-exports"' in page and "registry=hpscreg" in page and 'id="registry-ids-form"' in page
    assert 'id="registry-ids-form"' not in tech.get(f"/lots/lines/{line.pk}/").content.decode()
    response = qa.post(f"/lots/lines/{line.pk}/registry-ids/", {"hpscreg_id": line.name, "icscb_id": "ICSCB-1"})
    assert response.status_code == 302
    line.refresh_from_db()
    assert (line.hpscreg_id, line.icscb_id) == (line.name, "ICSCB-1")
    assert tech.post(f"/lots/lines/{line.pk}/registry-ids/", {"hpscreg_id": "Z"}).status_code == 403


# --- the public catalog feed -------------------------------------------------------------------------------------


def test_the_public_feed_needs_no_account_and_shows_no_donor(demo):
    client = Client()
    response = client.get("/api/v1/public/catalog/")
    assert response.status_code == 200, response.content
    body = response.json()
    names = [entry["name"] for entry in body["results"]]
    assert "SCBi001-A" in names
    assert set(body) >= {"next", "previous", "results"}
    text = response.content.decode()
    for donor in Donor.objects.all():
        assert donor.code not in text
    for identity in DonorIdentity.objects.all():
        for value in (getattr(identity, "full_name", ""), getattr(identity, "national_id", "")):
            assert not value or value not in text
    for collection_code in CellLine.objects.values_list("collection__code", flat=True):
        assert collection_code not in text
    entry = next(e for e in body["results"] if e["name"] == "SCBi001-A")
    assert entry["hpscreg_id"] == "SCBi001-A"
    assert set(entry) == set(registry_export.PUBLIC_FIELDS)  # no donor, no collection field
    assert all(set(e) == set(registry_export.PUBLIC_FIELDS) for e in body["results"])
    # only released lines with stock: every line listed has a released lot
    from lots.models import Lot

    for e in body["results"]:
        assert Lot.objects.filter(cell_line_id=e["id"], status="released").exists()
    assert client.post("/api/v1/public/catalog/", {}).status_code in (403, 405)


def test_the_public_feed_pages_by_keyset(demo):
    client = Client()
    first = client.get("/api/v1/public/catalog/", {"page_size": 1}).json()
    assert len(first["results"]) == 1
    assert first["next"]  # the demo has more than one released line
    second = client.get(first["next"]).json()
    assert second["results"][0]["id"] != first["results"][0]["id"]


def test_the_public_feed_is_throttled_per_address(db, settings):
    settings.API_THROTTLE_RATES = {**settings.API_THROTTLE_RATES, "public_catalog": "2/min"}
    client = Client()
    codes = [client.get("/api/v1/public/catalog/").status_code for _ in range(3)]
    assert codes == [200, 200, 429]
