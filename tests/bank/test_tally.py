"""Kept counts (bank/tally.py): exact whoever writes, on PostgreSQL's statement triggers."""

import pytest
from django.db import connection

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
