"""Kept counts (bank/tally.py): exact whoever writes, on PostgreSQL's statement triggers."""

import pytest
from django.db import connection, transaction

from bank import tally
from lots.models import Lot
from tests.factories import ConsentFactory, DonorFactory, LotFactory

pytestmark = pytest.mark.django_db


def test_lot_status_counts_follow_inserts_updates_bulk_writes_and_deletes():
    assert tally.counts("lots.status") == {}
    lots = [LotFactory(vials=False) for _ in range(3)]
    status = lots[0].status
    assert tally.counts("lots.status") == {status: 3}
    Lot.objects.filter(pk=lots[0].pk).update(status="on_hold")
    assert tally.counts("lots.status") == {status: 2, "on_hold": 1}
    Lot.objects.filter(pk__in=[lot.pk for lot in lots]).update(status="released")  # one statement, three rows
    assert tally.counts("lots.status") == {"released": 3}
    Lot.objects.filter(pk__in=[lot.pk for lot in lots]).update(notes="same status: the counts stay")
    assert tally.counts("lots.status") == {"released": 3}
    with connection.cursor() as cursor:  # below the app (lots are never deleted by it): a raw delete counts too
        cursor.execute("DELETE FROM lots_lot WHERE id = %s", [lots[2].pk])
    assert tally.counts("lots.status") == {"released": 2}
    assert tally.drift(connection) == []


def test_donor_counts_and_donors_with_a_consent():
    a, b, c = DonorFactory(), DonorFactory(), DonorFactory()
    ConsentFactory(donor=a)
    ConsentFactory(donor=a)  # a second consent of the same donor: still one donor with consent
    ConsentFactory(donor=b)
    assert tally.counts("donors.donor") == {"live": 3}
    assert tally.total("donors.consented") == 2
    type(c).objects.filter(pk=c.pk).update(consent_withdrawn_at="2026-01-01T00:00:00Z")
    assert tally.counts("donors.donor") == {"live": 2, "withdrawn": 1}
    assert tally.drift(connection) == []


def test_recount_repairs_drift_and_says_so():
    LotFactory()
    with connection.cursor() as cursor:
        cursor.execute("UPDATE bank_tally SET n = n + 5 WHERE key LIKE 'lots.status:%%'")
    assert tally.drift(connection)
    assert tally.recount() == 1
    assert tally.drift(connection) == []


def test_every_definition_has_its_triggers():
    with connection.cursor() as cursor:
        cursor.execute("SELECT tgname FROM pg_trigger WHERE tgname LIKE 'bank_tally_%%'")
        installed = {name for (name,) in cursor.fetchall()}
    assert tally.trigger_names() <= installed
    assert {"lots.status", "donors.donor", "donors.consented"} <= {t.name for t in tally.definitions()}


@pytest.mark.django_db(transaction=True)
def test_concurrent_writers_lose_no_count():
    """Sixteen transactions on their own connections each move a lot to another status and freeze a new lot,
    at once (all of them upsert the same keys): afterwards each count equals a count of the rows."""
    import threading

    lots = [LotFactory(vials=False) for _ in range(16)]
    barrier = threading.Barrier(len(lots))
    errors = []

    def move(lot, k):
        try:
            barrier.wait()
            with transaction.atomic():
                Lot.objects.filter(pk=lot.pk).update(status="released" if k % 2 else "on_hold")
                LotFactory(vials=False, cell_line=lot.cell_line, status="rejected")
        except Exception as exc:  # noqa: BLE001 - the test fails on any crash
            errors.append(repr(exc))
        finally:
            connection.close()

    threads = [threading.Thread(target=move, args=(lot, k)) for k, lot in enumerate(lots)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert errors == []
    assert tally.counts("lots.status") == {"released": 8, "on_hold": 8, "rejected": 16}
    assert tally.drift(connection) == []


def test_the_embedded_sqlite_triggers_count_the_same():
    """``make run`` uses SQLite: its row triggers keep the same counts."""
    import sqlite3

    db = sqlite3.connect(":memory:")
    db.executescript("""
        CREATE TABLE bank_tally (key TEXT PRIMARY KEY, n INTEGER NOT NULL DEFAULT 0);
        CREATE TABLE t (id INTEGER PRIMARY KEY, status TEXT, gone TEXT);
    """)
    for statement in tally._sqlite(tally.TallyDef("t.status", "t", "{r}.status", where="{r}.gone IS NULL")):
        db.execute(statement)
    db.executemany("INSERT INTO t (status) VALUES (?)", [("a",), ("a",), ("b",)])

    def counts():
        return dict(db.execute("SELECT key, n FROM bank_tally WHERE n <> 0").fetchall())

    assert counts() == {"t.status:a": 2, "t.status:b": 1}
    db.execute("UPDATE t SET status = 'b' WHERE id = 1")
    assert counts() == {"t.status:a": 1, "t.status:b": 2}
    db.execute("UPDATE t SET gone = 'yes' WHERE id = 2")  # leaves the counted rows
    assert counts() == {"t.status:b": 2}
    db.execute("DELETE FROM t WHERE id = 3")
    assert counts() == {"t.status:b": 1}
