"""The researcher catalog: released lines with distributable stock, QC summary, HLA only when shareable."""

import pytest
from django.core.exceptions import ValidationError

from distribution import queries
from lots.models import CellLine
from lots.services import change_lot_status, change_vial_status
from tests.distribution.factories import add_lot, add_result, make_line, stocked_line

pytestmark = pytest.mark.django_db


def _names(response):
    return [row["name"] for row in response.json()["results"]]


def test_only_released_lines_with_available_vials_are_listed(api, users):
    listed, lot = stocked_line(vials=3)
    add_lot(listed, tier="MCB", vials=2, days_ago=40)
    quarantined = make_line()
    add_lot(quarantined, status="quarantine")
    empty = make_line()
    empty_lot = add_lot(empty, vials=1)
    change_vial_status(list(empty_lot.vials.all()), "reserved", actor=users["qa"])
    recalled = make_line()
    change_lot_status(add_lot(recalled), "recalled", actor=users["qa"])
    response = api(users["researcher"]).get("/api/v1/catalog/")
    assert response.status_code == 200
    assert _names(response) == [listed.name]
    row = response.json()["results"][0]
    assert row["id"] == listed.pk and row["available_vials"] == 5
    assert row["cell_type"] == "iPSC" and row["grade"] == "research"
    assert row["passage"] == lot.passage and row["tiers"] == ["MCB", "WCB"]


def test_withdrawn_consent_hides_the_line(api, users):
    line, lot = stocked_line()
    flagged, flagged_lot = stocked_line()
    flagged_lot.consent_withdrawn_flagged_at = flagged_lot.created_at
    flagged_lot.save(update_fields=["consent_withdrawn_flagged_at"])
    withdrawn, _lot = stocked_line()
    # The withdrawal flags every lot of the donor in its own transaction: the line has no stock left, which is how
    # the catalog (no join to the donors) leaves it out.
    from donors.services import withdraw_consent
    from lots.models import LineStock

    withdraw_consent(withdrawn.donor.consents.get(), actor=users["coordinator"], reason="donor's request")
    assert not LineStock.objects.filter(cell_line=withdrawn, other__gt=0).exists()
    assert _names(api(users["researcher"]).get("/api/v1/catalog/")) == [line.name]
    assert api(users["researcher"]).get(f"/api/v1/catalog/{withdrawn.pk}/").status_code == 404


def test_min_mcb_stock_is_never_offered(api, users, settings):
    line = make_line()
    add_lot(line, tier="MCB", vials=5)
    settings.MIN_MCB_STOCK = 3
    assert api(users["researcher"]).get("/api/v1/catalog/").json()["results"][0]["available_vials"] == 2
    settings.MIN_MCB_STOCK = 5
    assert api(users["researcher"]).get("/api/v1/catalog/").json()["count"] == 0


def test_hla_only_where_the_donor_consented_to_data_sharing(api, users):
    shared = make_line(hla=True)
    add_lot(shared)
    private = make_line(hla=True, scopes=["research", "clinical"])
    add_lot(private)
    rows = {r["name"]: r for r in api(users["researcher"]).get("/api/v1/catalog/").json()["results"]}
    assert rows[shared.name]["hla"]["alleles"]["A"] == ["A*24:02", "A*24:02"]
    assert rows[shared.name]["hla"]["homozygous_loci"] == ["A", "B", "C", "DRB1", "DQB1"]
    assert rows[private.name]["hla"] is None


def test_filters_cell_type_grade_search_and_hla(api, users):
    ipsc = make_line(hla=True, description="dopaminergic neuron studies")
    add_lot(ipsc)
    msc = make_line(cell_type="UC-MSC", grade="clinical")
    add_lot(msc)
    private = make_line(hla=True, scopes=["research"])  # same HLA, not shareable: never found by HLA
    add_lot(private)
    client = api(users["researcher"])
    assert _names(client.get("/api/v1/catalog/", {"cell_type": "UC-MSC"})) == [msc.name]
    assert _names(client.get("/api/v1/catalog/", {"grade": "clinical"})) == [msc.name]
    assert _names(client.get("/api/v1/catalog/", {"q": "dopaminergic"})) == [ipsc.name]
    assert _names(client.get("/api/v1/catalog/", {"hla": "A*24:02"})) == [ipsc.name]
    assert _names(client.get("/api/v1/catalog/", {"hla": "a*24"})) == [ipsc.name]
    assert _names(client.get("/api/v1/catalog/", {"hla": "A*02"})) == []
    assert _names(client.get("/api/v1/catalog/", {"hla": "B*52:01"})) == [ipsc.name]
    # the donor code is not a search key for researchers
    assert _names(client.get("/api/v1/catalog/", {"q": ipsc.donor.code})) == []


@pytest.mark.parametrize("params, field", [
    ({"cell_type": "hepatocyte"}, "cell_type"), ({"grade": "gmp"}, "grade"), ({"hla": "A24"}, "hla"),
    ({"hla": "X*01:01"}, "hla"),
])
def test_bad_filters_are_400(api, users, params, field):
    response = api(users["researcher"]).get("/api/v1/catalog/", params)
    assert response.status_code == 400 and field in response.json()


def test_characterization_summarizes_the_latest_qc_of_released_lots(api, users):
    line = make_line()
    mcb = add_lot(line, tier="MCB", vials=1, days_ago=60)
    wcb = add_lot(line, tier="WCB", vials=2, parent=mcb, days_ago=30)
    add_result(mcb, "pluripotency", value="96.10", unit="%")
    add_result(mcb, "viability", value="80", unit="%")
    add_result(wcb, "viability", value="88.0", unit="%", passed=False)
    add_result(wcb, "viability", value="92.5", unit="%")  # retest: the latest counts
    add_result(wcb, "mycoplasma", outcome="negative")
    row = api(users["researcher"]).get("/api/v1/catalog/").json()["results"][0]
    by_test = {c["test"]: c for c in row["characterization"]}
    assert by_test["viability"]["result"] == "92.5 %" and by_test["viability"]["lot"] == wcb.lot_number
    assert by_test["pluripotency"]["result"] == "96.1 %" and by_test["pluripotency"]["lot"] == mcb.lot_number
    assert by_test["mycoplasma"]["result"] == "negative" and by_test["mycoplasma"]["passed"] is True
    assert "Post-thaw viability: 92.5 %" in row["characterization_text"]


def test_catalog_runs_a_constant_number_of_queries(api, users, django_assert_num_queries):
    def make(n):
        for _ in range(n):
            line = make_line(hla=True)
            lot = add_lot(line, vials=2)
            add_result(lot, "viability", value="90", unit="%")

    from django.contrib.auth import get_user_model

    def client():  # a fresh user object: its permission cache is empty, as on a real request
        return api(get_user_model().objects.get(pk=users["researcher"].pk))

    make(2)
    # Lines whose entries are not kept yet (distribution/catalog_cache.py): permission check (2: user perms, group
    # perms), stocked lines' counters (1), the page's lines (1), kept entries (1); shaping: the lines' donors (1),
    # HLA typings of donors who share data (1), released lots (1), QC results (1); keeping: savepoint, lock
    # timeout, rows added, release (4).
    # The first page holds every line: no COUNT.
    fresh = client()
    with django_assert_num_queries(13):
        assert fresh.get("/api/v1/catalog/").json()["count"] == 2
    make(5)
    fresh = client()
    with django_assert_num_queries(14):  # and an UPDATE: the two rows added by the first read are built now
        assert fresh.get("/api/v1/catalog/").json()["count"] == 7
    fresh = client()
    with django_assert_num_queries(13):  # the five rows added by the last read are built: an UPDATE only
        assert fresh.get("/api/v1/catalog/").json()["count"] == 7
    fresh = client()
    with django_assert_num_queries(5):  # every entry kept and current: permissions, counters, lines, kept entries
        assert fresh.get("/api/v1/catalog/").json()["count"] == 7


def test_who_may_see_the_catalog(api, users):
    stocked_line()
    assert api().get("/api/v1/catalog/").status_code == 401
    assert api(users["coordinator"]).get("/api/v1/catalog/").status_code == 403
    assert api(users["sensor"]).get("/api/v1/catalog/").status_code == 403
    for role in ("researcher", "qa", "technician", "admin"):
        assert api(users[role]).get("/api/v1/catalog/").status_code == 200, role


def test_catalog_entry_and_mta(api, users):
    line, _lot = stocked_line()
    client = api(users["researcher"])
    assert client.get(f"/api/v1/catalog/{line.pk}/").json()["name"] == line.name
    unreleased = make_line()
    add_lot(unreleased, tier="MCB", status="quarantine")
    assert client.get(f"/api/v1/catalog/{unreleased.pk}/").status_code == 404
    mta = client.get("/api/v1/mta/").json()
    assert mta["version"] == "MTA-2026-1" and "recall" in mta["text"]


def test_filters_parse_rejects_bad_values():
    with pytest.raises(ValidationError):
        queries.CatalogFilters.parse({"hla": "A*2402"})
    assert queries.CatalogFilters.parse({"hla": " hla-a*24:02 "}).hla == "A*24:02"


def test_the_catalogs_direct_output_is_the_serializers(api, users):
    """The API builds catalog rows without DRF's field-by-field pass (catalog_entry_data); the serializer stays
    the contract: both give the same JSON, with HLA and without, with results and without."""
    from distribution.api.serializers import CatalogEntrySerializer, catalog_entry_data

    shared = make_line(hla=True)
    lot = add_lot(shared, vials=2)
    add_result(lot, "viability", value="90.50", unit="%")
    add_result(lot, "mycoplasma", outcome="negative")
    plain, _lot = stocked_line()
    entries = queries.catalog_entries(list(queries.catalog_lines()))
    assert len(entries) == 2 and any(e.hla for e in entries) and any(e.characterization for e in entries)
    for entry in entries:
        assert catalog_entry_data(entry) == CatalogEntrySerializer(entry).data


def test_the_kept_catalog_count_equals_the_list(settings):
    """``catalog_count`` (the stock counters and their copies of type and grade, no join) is the list's own count: a
    line with only its MCB reserve, a line whose lots are on hold and stocked lines; a text search counts itself."""
    from distribution.queries import CatalogFilters, catalog_count, catalog_lines

    settings.MIN_MCB_STOCK = 3
    stocked_line()
    stocked_line()
    reserve_only = make_line()
    add_lot(reserve_only, tier="MCB", vials=3)
    held = make_line()
    add_lot(held, status="on_hold")
    clinical = stocked_line(grade="clinical")[0]
    assert catalog_count() == catalog_lines().count() == 3
    for filters in (CatalogFilters(grade="research"), CatalogFilters(grade="clinical", cell_type="iPSC"),
                    CatalogFilters(cell_type="MSC")):
        assert catalog_count(filters) == catalog_lines(filters).count()
    assert catalog_count(CatalogFilters(grade="clinical")) == 1
    CellLine.objects.filter(pk=clinical.pk).update(grade="research")  # the stock row's copy follows the line
    clinical_only = CatalogFilters(grade="clinical")
    assert catalog_count(clinical_only) == 0 == catalog_lines(clinical_only).count()
    assert catalog_count(CatalogFilters(q="SCB")) is None


def test_a_text_or_hla_search_is_counted_by_its_own_page(api, users):
    """No kept count covers a text or HLA search: the page's rows carry the list's total (``COUNT(*) OVER ()``), so
    the first page is one query, and the page view and later pages agree with it."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from bank import tally
    from distribution.queries import CatalogFilters, catalog_lines

    lines = [make_line(hla=True, name=f"SCB-WIN-{k}") for k in range(3)]
    for line in lines:
        add_lot(line, vials=1)
    client = api(users["researcher"])
    with CaptureQueriesContext(connection) as ctx:
        body = client.get("/api/v1/catalog/", {"q": "SCB-WIN", "page_size": 2}).json()
    assert body["count"] == 3 and len(body["results"]) == 2 and body["next"]
    assert not [q for q in ctx.captured_queries if q["sql"].startswith("SELECT COUNT(*)")]
    second = client.get("/api/v1/catalog/", {"q": "SCB-WIN", "page_size": 2, "page": 2}).json()
    assert second["count"] == 3 and [r["name"] for r in second["results"]] == ["SCB-WIN-2"]
    page = tally.page_with_count(catalog_lines(CatalogFilters(q="SCB-WIN")), 2, "2")
    assert page.paginator.count == 3 and page.number == 2 and len(page.object_list) == 1
    beyond = tally.page_with_count(catalog_lines(CatalogFilters(q="SCB-WIN")), 2, "9")  # past the end: the last one
    assert beyond.number == 2
    from django.test import Client

    browser = Client()
    browser.force_login(users["researcher"])
    response = browser.get("/distribution/catalog/", {"q": "SCB-WIN"})
    assert response.status_code == 200 and response.context["page"].paginator.count == 3
