"""The line's stock counter (lots.LineStock, kept by database triggers) equals a count of its vials, whatever
writes them: services, bulk SQL, a recall or a consent flag; and under concurrent approvals and a recall."""

import sqlite3
import threading

import pytest
from django.db import connection

from bank.errors import Conflict
from distribution import queries, services
from lots import stock
from lots.choices import LotStatus
from lots.models import LineStock, Lot, Vial
from lots.queries import distributable_lot_q
from tests.distribution.factories import add_lot, make_line, reseed_reference_data, submit


def counter(line) -> tuple[int, int]:
    row = LineStock.objects.filter(cell_line=line).values_list("mcb", "other").first()
    return row or (0, 0)


@pytest.mark.django_db
def test_the_counter_follows_vials_lots_and_consent(users):
    line = make_line()
    wcb = add_lot(line, vials=5)  # and its empty released MCB
    mcb = add_lot(line, tier="MCB", vials=3)
    assert counter(line) == (3, 5)
    Vial.objects.filter(pk=wcb.vials.order_by("pk").first().pk).update(status="reserved")  # bulk SQL, no service
    assert counter(line) == (3, 4)
    Vial.objects.filter(lot=wcb, number=2).update(kind="segment")  # not a research vial
    assert counter(line) == (3, 3)
    Lot.objects.filter(pk=mcb.pk).update(status=LotStatus.ON_HOLD)
    assert counter(line) == (0, 3)
    Lot.objects.filter(pk=mcb.pk).update(status=LotStatus.RELEASED)
    assert counter(line) == (3, 3)
    Lot.objects.filter(pk=wcb.pk).update(consent_withdrawn_flagged_at="2026-01-01T00:00:00Z")
    assert counter(line) == (3, 0)
    quarantined = add_lot(line, vials=4, status="quarantine")
    assert counter(line) == (3, 0)
    Lot.objects.filter(pk=quarantined.pk).update(status=LotStatus.RELEASED)
    assert counter(line) == (3, 4)
    Vial.objects.filter(lot=quarantined, number=1).delete()
    assert counter(line) == (3, 3)
    assert stock.drift(connection) == []
    # The service's own reads agree with the counter (the rule is the same on both sides).
    assert queries.stock_of_line(line.pk)["mcb"] + queries.stock_of_line(line.pk)["other"] == sum(counter(line))


@pytest.mark.django_db
@pytest.mark.parametrize("status", LotStatus.values)
def test_the_sql_rule_is_the_lots_rule(status):
    line = make_line()
    lot = add_lot(line, vials=2, status=status)
    counted = Lot.objects.filter(distributable_lot_q(), pk=lot.pk).exists()
    assert sum(counter(line)) == (2 if counted else 0)


@pytest.mark.django_db
def test_a_recount_repairs_a_counter_written_by_hand():
    line = make_line()
    add_lot(line, vials=3)
    LineStock.objects.filter(cell_line=line).update(other=99)
    assert stock.drift(connection) == [(line.pk, 0, 99, 0, 3)]
    assert stock.recount() == 1
    assert counter(line) == (0, 3) and stock.drift(connection) == []


@pytest.mark.django_db(transaction=True)
def test_concurrent_approvals_and_a_recall_keep_the_counter_exact(users):
    """Twelve approvals of one vial each and the recall of one of the line's lots, all at once in their own
    threads and connections: afterwards the counter equals a count of the vials."""
    reseed_reference_data()
    line = make_line()
    add_lot(line, vials=8)
    recalled = add_lot(line, vials=8)
    requests = [submit(users["researcher"], line, vials=1) for _ in range(12)]
    barrier = threading.Barrier(len(requests) + 1)
    errors = []

    def approve(request):
        try:
            barrier.wait()
            services.approve_request(request, actor=users["qa"])
        except Conflict:
            pass
        except Exception as exc:  # noqa: BLE001 - the test fails on any crash
            errors.append(repr(exc))
        finally:
            connection.close()

    def recall():
        try:
            barrier.wait()
            Lot.objects.filter(pk=recalled.pk).update(status=LotStatus.RECALLED)
        except Exception as exc:  # noqa: BLE001
            errors.append(repr(exc))
        finally:
            connection.close()

    threads = [threading.Thread(target=approve, args=(r,)) for r in requests] + [threading.Thread(target=recall)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert errors == []
    assert Vial.objects.filter(status="reserved").exists()
    assert stock.drift(connection) == []
    assert counter(line)[1] == Vial.objects.filter(lot__cell_line=line, lot__status="released",
                                                   status="available", kind="vial").count()


def test_the_embedded_sqlite_triggers_count_the_same():
    """``make run`` uses SQLite: its row triggers keep the same counter."""
    db = sqlite3.connect(":memory:")
    db.executescript("""
        CREATE TABLE lots_lot (id INTEGER PRIMARY KEY, cell_line_id INTEGER, tier TEXT, status TEXT,
                               consent_withdrawn_flagged_at TEXT);
        CREATE TABLE lots_vial (id INTEGER PRIMARY KEY, lot_id INTEGER, status TEXT, kind TEXT);
        CREATE TABLE lots_linestock (cell_line_id INTEGER PRIMARY KEY, mcb INTEGER NOT NULL DEFAULT 0,
                                     other INTEGER NOT NULL DEFAULT 0, sort_name TEXT NOT NULL DEFAULT '',
                                     cell_type TEXT NOT NULL DEFAULT '', grade TEXT NOT NULL DEFAULT '',
                                     hla TEXT NOT NULL DEFAULT '');
        CREATE TABLE lots_cellline (id INTEGER PRIMARY KEY, name TEXT, cell_type TEXT, grade TEXT, donor_id INTEGER);
        CREATE TABLE donors_hlatyping (id INTEGER PRIMARY KEY, donor_id INTEGER UNIQUE, a_1 TEXT, a_2 TEXT, b_1 TEXT,
                                       b_2 TEXT, c_1 TEXT, c_2 TEXT, drb1_1 TEXT, drb1_2 TEXT, dqb1_1 TEXT,
                                       dqb1_2 TEXT);
        CREATE TABLE donors_donor (id INTEGER PRIMARY KEY, consent_withdrawn_at TEXT);
        CREATE TABLE donors_consent (id INTEGER PRIMARY KEY, donor_id INTEGER, signed_on TEXT, scopes TEXT,
                                     withdrawn_at TEXT);
        INSERT INTO donors_donor VALUES (70, NULL);
        INSERT INTO donors_consent VALUES (1, 70, '2026-01-05', '["research", "data_sharing"]', NULL);
        INSERT INTO lots_cellline VALUES (7, 'SCBi-ABC', 'iPSC', 'research', 70);
        INSERT INTO donors_hlatyping VALUES (1, 70, 'A*02:01', 'a*24:02', 'B*07:02', 'B*52:01', 'C*07:02', 'C*12:02',
                                             'DRB1*15:01', 'DRB1*15:02', 'DQB1*06:02', 'DQB1*06:01');
    """)
    for statement in stock._sqlite():
        db.execute(statement)
    db.execute("INSERT INTO lots_lot VALUES (1, 7, 'MCB', 'released', NULL), (2, 7, 'WCB', 'quarantine', NULL)")
    db.executemany("INSERT INTO lots_vial (lot_id, status, kind) VALUES (?, ?, ?)",
                   [(1, "available", "vial")] * 3 + [(1, "available", "segment"), (2, "available", "vial")])

    def line():
        return db.execute("SELECT mcb, other FROM lots_linestock WHERE cell_line_id = 7").fetchone()

    assert line() == (3, 0)
    db.execute("UPDATE lots_lot SET status = 'released' WHERE id = 2")
    assert line() == (3, 1)
    db.execute("UPDATE lots_vial SET status = 'reserved' WHERE id = 1")
    assert line() == (2, 1)
    db.execute("UPDATE lots_lot SET consent_withdrawn_flagged_at = 'now' WHERE id = 1")
    assert line() == (0, 1)
    db.execute("DELETE FROM lots_vial WHERE lot_id = 2")
    assert line() == (0, 0)
    # The row carries the catalog's copies of the line's fields, and follows the line.
    assert db.execute("SELECT sort_name, cell_type, grade FROM lots_linestock").fetchone() == (
        "scbi-abc", "iPSC", "research")
    db.execute("UPDATE lots_cellline SET name = 'SCBi-XYZ', grade = 'clinical' WHERE id = 7")
    assert db.execute("SELECT sort_name, grade FROM lots_linestock").fetchone() == ("scbi-xyz", "clinical")
    # ... and the donor's alleles, upper case, each between spaces; a corrected typing follows.
    hla = db.execute("SELECT hla FROM lots_linestock").fetchone()[0]
    assert hla.startswith(" A*02:01 A*24:02 B*07:02 ") and hla.endswith(" DQB1*06:01 ")
    db.execute("UPDATE donors_hlatyping SET a_1 = 'A*11:01' WHERE donor_id = 70")
    assert db.execute("SELECT hla FROM lots_linestock").fetchone()[0].startswith(" A*11:01 A*24:02 ")

    def shared() -> bool:
        return db.execute("SELECT hla FROM lots_linestock").fetchone()[0] != ""

    # Only while the donor shares data: a newer consent without the scope hides the alleles, its withdrawal shows
    # them again (the older one is in force again), the donor's withdrawal hides them.
    db.execute("INSERT INTO donors_consent VALUES (2, 70, '2026-03-01', '[\"research\"]', NULL)")
    assert not shared()
    db.execute("UPDATE donors_consent SET withdrawn_at = 'now' WHERE id = 2")
    assert shared()
    db.execute("INSERT INTO donors_consent VALUES (3, 70, '2026-04-01', '[\"data_sharing_x\"]', NULL)")
    assert not shared()  # the whole code only
    db.execute("DELETE FROM donors_consent WHERE id = 3")
    assert shared()
    db.execute("UPDATE donors_donor SET consent_withdrawn_at = 'now' WHERE id = 70")
    assert not shared()
    db.execute("UPDATE donors_donor SET consent_withdrawn_at = NULL WHERE id = 70")
    assert shared()
    db.execute("DELETE FROM donors_hlatyping")
    assert db.execute("SELECT hla FROM lots_linestock").fetchone()[0] == ""


@pytest.mark.django_db
def test_the_stock_row_copies_its_lines_fields(users):
    """The catalog sorts and filters by the stock row's copies of the line's name, type and grade (PostgreSQL
    triggers): made with the row, following the line, repaired by a recount after a load without triggers."""
    line = make_line(cell_type="iPSC", grade="research")
    add_lot(line, vials=2)
    row = LineStock.objects.get(cell_line=line)
    assert (row.sort_name, row.cell_type, row.grade) == (line.name.lower(), "iPSC", "research")
    from lots.models import CellLine

    CellLine.objects.filter(pk=line.pk).update(name="Zeta-Line", cell_type="ESC", grade="clinical")
    row.refresh_from_db()
    assert (row.sort_name, row.cell_type, row.grade) == ("zeta-line", "ESC", "clinical")
    LineStock.objects.filter(pk=row.pk).update(sort_name="", cell_type="", grade="")
    stock.recount()
    row.refresh_from_db()
    assert (row.sort_name, row.cell_type, row.grade) == ("zeta-line", "ESC", "clinical")


@pytest.mark.django_db
def test_the_stock_row_copies_the_donors_alleles_for_the_catalogs_hla_search(users):
    """The catalog's ``?hla=`` reads the stock row's copy of the donor's alleles (PostgreSQL triggers): made with
    the row, following a corrected typing (``set_hla``), repaired by a recount; the search answers from it."""
    from donors.services import set_hla

    line = make_line(hla=True)
    add_lot(line, vials=2)
    row = LineStock.objects.get(cell_line=line)
    assert " A*24:02 " in row.hla and " B*52:01 " in row.hla and " DQB1*" in row.hla

    def found(allele: str) -> bool:
        return line.pk in {s.cell_line_id for s in queries.catalog_lines(queries.CatalogFilters.parse({"hla": allele}))}

    assert found("A*24:02") and found("A*24") and not found("A*11:01")
    typing = line.donor.hla
    alleles = {locus: [getattr(typing, f"{locus.lower()}_1"), getattr(typing, f"{locus.lower()}_2")]
               for locus in ("A", "B", "C", "DRB1", "DQB1")}
    alleles["A"] = ["A*11:01", "A*24:02"]
    set_hla(line.donor, actor=users["coordinator"], alleles=alleles, reason="typing corrected")
    row.refresh_from_db()
    assert " A*11:01 " in row.hla and found("A*11:01")
    LineStock.objects.filter(pk=row.pk).update(hla="")
    assert not found("A*11:01")
    stock.recount()
    row.refresh_from_db()
    assert " A*11:01 " in row.hla and found("A*11:01") and found("A*24:02")


@pytest.mark.django_db
def test_the_hla_copy_is_kept_only_while_the_donor_shares_data(users):
    """The catalog's HLA search needs no consent read: the stock row's copy of the alleles follows the donor's
    consents and withdrawal (PostgreSQL triggers), always in agreement with ``consent_scope_q``, and a recount
    repairs it by the same rule."""
    import datetime

    from donors.models import Consent, Donor
    from donors.queries import consent_scope_q

    line = make_line(hla=True)
    add_lot(line, vials=2)
    donor = line.donor

    def copied() -> bool:
        return LineStock.objects.get(cell_line=line).hla != ""

    def rule() -> bool:
        return Donor.objects.filter(pk=donor.pk).filter(consent_scope_q("data_sharing")).exists()

    def found() -> bool:
        return line.pk in {s.cell_line_id for s in queries.catalog_lines(queries.CatalogFilters.parse({"hla": "A*24"}))}

    assert copied() == rule() == found() is True
    first = donor.consents.get()
    newer = Consent.objects.create(donor=donor, form_version="v9", signed_on=first.signed_on + datetime.timedelta(1),
                                   scopes=["research"], recorded_by=users["coordinator"])
    assert copied() == rule() == found() is False
    newer.scopes = ["research", "data_sharing"]
    newer.save()
    assert copied() == rule() == found() is True
    Consent.objects.filter(pk=newer.pk).update(scopes=["research"], withdrawn_at=datetime.datetime(2026, 5, 1,
                                                                                                  tzinfo=datetime.UTC))
    assert copied() == rule() is True  # the first consent is in force again
    Donor.objects.filter(pk=donor.pk).update(consent_withdrawn_at=datetime.datetime(2026, 6, 1, tzinfo=datetime.UTC))
    assert copied() == rule() == found() is False
    Donor.objects.filter(pk=donor.pk).update(consent_withdrawn_at=None)
    assert copied() == rule() is True
    LineStock.objects.filter(cell_line=line).update(hla="")
    stock.recount()
    assert copied() is True
