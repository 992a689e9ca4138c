"""bank.sequences: the one way the bank hands out numbers (barcodes, names, collection, deviation and
request numbers) — never the same number twice, even when many take numbers at the same moment."""

import threading

import pytest
from django.core.exceptions import ValidationError
from django.db import connection, transaction

from bank import sequences
from bank.models import Sequence


@pytest.mark.django_db
def test_numbers_start_at_one_and_follow_on():
    assert sequences.take("test:a", 3) == [1, 2, 3]
    assert sequences.take_one("test:a") == 4
    assert sequences.take_one("test:b") == 1
    assert sequences.take("test:a", 0) == []


@pytest.mark.django_db
def test_taken_numbers_are_skipped_and_a_limit_is_kept():
    assert sequences.take_one("test:names", taken=lambda n: n in (1, 2)) == 3
    assert sequences.take_one("test:names", limit=4) == 4
    with pytest.raises(ValidationError) as used_up:
        sequences.take_one("test:names", limit=4)
    assert used_up.value.code == "numbers_exhausted"
    assert Sequence.objects.get(key="test:names").last_value == 4


@pytest.mark.django_db
def test_numbers_of_a_rolled_back_transaction_are_handed_out_again():
    class Abort(Exception):
        pass

    with pytest.raises(Abort), transaction.atomic():
        assert sequences.take("test:rb", 2) == [1, 2]
        raise Abort
    assert sequences.take_one("test:rb") == 1


@pytest.mark.django_db
def test_a_very_long_family_key_is_shortened_but_stays_apart():
    long_a, long_b = "lot:" + "A" * 200, "lot:" + "A" * 199 + "B"
    assert sequences.take_one(long_a) == 1 and sequences.take_one(long_b) == 1
    assert sequences.take_one(long_a) == 2
    assert all(len(k) <= sequences.KEY_MAX_LENGTH for k in Sequence.objects.values_list("key", flat=True))


@pytest.mark.django_db(transaction=True)
def test_concurrent_takers_of_a_new_family_never_share_a_number():
    """Eight threads start together on a family whose row does not exist yet (the race-free creation) and
    take numbers inside their own transactions, some slowly: every number is handed out exactly once."""
    barrier = threading.Barrier(8)
    results, errors = [], []

    def worker(i):
        try:
            barrier.wait(timeout=10)
            for _round in range(5):
                with transaction.atomic():
                    results.extend(sequences.take("test:race", 1 + i % 3))
                    if i % 2:
                        connection.cursor().execute("SELECT pg_sleep(0.01)")
        except Exception as exc:  # surfaced below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    expected = sum(5 * (1 + i % 3) for i in range(8))
    assert sorted(results) == list(range(1, expected + 1))
    assert Sequence.objects.get(key="test:race").last_value == expected
