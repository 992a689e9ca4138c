"""The catalog's kept entries (distribution/catalog_cache.py): served while current, shaped again after any change
the entry shows — whoever writes — and never kept when a change lands while a read is shaping."""

import datetime

import pytest
from django.db import connection

from distribution import catalog_cache, queries
from distribution.models import KeptCatalogEntry
from donors.services import record_consent, set_hla
from lots.services import change_lot_status, change_vial_status
from qc.models import QCTest
from tests.distribution.factories import add_lot, add_result, make_line

pytestmark = pytest.mark.django_db

ALLELES = {"A": ["A*02:01", "A*24:02"], "B": ["B*40:01", "B*46:01"], "C": ["C*01:02", "C*03:04"],
           "DRB1": ["DRB1*09:01", "DRB1*15:01"], "DQB1": ["DQB1*03:03", "DQB1*06:02"]}


def served(line):
    return {k: v for k, v in vars(queries.catalog_entry(line.pk)).items()}


def fresh(line):
    """The entry shaped from the tables now, without the kept rows."""
    entry = queries.catalog_entry(line.pk)
    entry_fresh = vars(entry) | queries.shape_entries([line.pk])[line.pk]
    return entry_fresh


def kept(line):
    row = KeptCatalogEntry.objects.filter(cell_line=line).values_list("version", "built_version").first()
    return row


def warm(line):
    """Two reads: the first adds the line's row, the second shapes and keeps it."""
    queries.catalog_entry(line.pk)
    queries.catalog_entry(line.pk)
    version, built = kept(line)
    assert version == built


@pytest.fixture
def line(users):
    line = make_line(hla=True)
    lot = add_lot(line, vials=4)
    add_result(lot, "viability", value="91", unit="%")
    add_lot(line, tier="MCB", vials=12, days_ago=60, passage=6)
    add_lot(line, vials=2, days_ago=5, passage=12)
    return line


def test_every_change_the_entry_shows_is_seen(users, line):
    assert connection.vendor == "postgresql" and catalog_cache.enabled()
    warm(line)
    assert served(line) == fresh(line)
    wcb, wcb2 = line.lots.filter(tier="WCB").order_by("passage")
    changes = [
        lambda: add_result(wcb, "sterility", outcome="negative"),                       # a QC result
        lambda: change_vial_status(list(wcb.vials.all()), "reserved", actor=users["qa"]),  # stocked lots
        lambda: set_hla(line.donor, actor=users["coordinator"], alleles={**ALLELES, "A": ["A*11:01", "A*11:01"]},
                        resolution="2-field"),                                          # the shared typing
        lambda: record_consent(line.donor, actor=users["coordinator"], form_version="v3",
                               signed_on=datetime.date.today(), scopes=["research"]),  # no more data sharing
        lambda: QCTest.objects.filter(code="viability").update(name="Viable cells"),   # a test renamed
        lambda: change_lot_status(wcb2, "on_hold", actor=users["qa"]),  # a lot held
    ]
    for change in changes:
        before = served(line)
        change()
        version, built = kept(line)
        assert version > built  # bumped by the database
        after = served(line)
        assert after == fresh(line) and after != before
        warm(line)
        assert served(line) == fresh(line)


def test_a_change_while_shaping_keeps_nothing(users, line):
    warm(line)
    wcb = line.lots.filter(tier="WCB").order_by("passage").first()
    add_result(wcb, "sterility", outcome="negative")
    version, _built = kept(line)

    def shaping_while_a_result_lands(ids):
        parts = queries.shape_entries(ids)
        add_result(wcb, "mycoplasma", outcome="negative")  # committed "meanwhile": bumps the version
        return parts

    catalog_cache.kept_parts([line.pk], shaping_while_a_result_lands)
    now, built = kept(line)
    assert now == version + 1 and built < version  # the shaped (older) entry was not kept
    names = [c["test"] for c in served(line)["characterization"]]
    assert "mycoplasma" in names


def test_a_current_catalog_page_reads_the_kept_rows(api, users, django_assert_num_queries):
    lines = []
    for _ in range(3):
        line = make_line(hla=True)
        add_result(add_lot(line, vials=2), "viability", value="90", unit="%")
        lines.append(line)
    from django.contrib.auth import get_user_model

    def client():  # a fresh user object: its permission cache is empty, as on a real request
        return api(get_user_model().objects.get(pk=users["researcher"].pk))

    client().get("/api/v1/catalog/")
    client().get("/api/v1/catalog/")
    fresh_client = client()
    # permission check (2), stocked lines' counters (1), their lines (1), kept entries (1): no typing, lot or
    # result read.
    with django_assert_num_queries(5):
        rows = fresh_client.get("/api/v1/catalog/").json()["results"]
    assert len(rows) == 3 and all(row["characterization"] for row in rows)
    assert all(row["hla"] for row in rows)
