"""Electronic signatures: password re-check, manifestation, content hash, lockout."""

import pytest
from django.test import Client, override_settings

from bank.auth import bind_client_ip, is_locked
from bank.errors import Forbidden
from bank.models import AuthEvent, Notification
from bank.notifications import notify
from bank.signatures import manifestation, matches, sign, signatures_for

pytestmark = pytest.mark.django_db


@pytest.fixture
def record(users):
    return notify([users["technician"]], subject="Lot MCB-2026-0001 ready for review")[0]


def test_signature_shows_name_time_and_meaning(users, record, password):
    qa = users["qa"]
    qa.first_name, qa.last_name = "Fang", "Wang"
    qa.save()
    signature = sign(record, signer=qa, password=password, meaning="review")
    shown = manifestation(signature, record)
    assert shown["printed_name"] == "Fang Wang"
    assert shown["signer"] == "qa"
    assert shown["meaning"] == "review" and shown["meaning_display"] == "Review"
    assert shown["signed_at"] is not None
    assert shown["matches"] is True
    assert list(signatures_for(record)) == [signature]
    assert signature.history.first().history_user == qa


def test_wrong_password_is_refused_and_counted(users, record):
    with pytest.raises(Forbidden) as refused:
        sign(record, signer=users["qa"], password="not-my-password", meaning="review")
    assert refused.value.code == "signature_invalid"
    assert not signatures_for(record).exists()
    assert AuthEvent.objects.filter(username="qa", kind=AuthEvent.Kind.SIGNATURE_FAILED).count() == 1


@override_settings(LOGIN_FAILURE_LIMIT=3)
def test_repeated_failures_lock_login_and_signing(users, record, password, client):
    with bind_client_ip("127.0.0.1"):  # signing at the bench PC the test client logs in from
        for _ in range(3):
            with pytest.raises(Forbidden):
                sign(record, signer=users["qa"], password="wrong", meaning="review")
        assert is_locked("qa", "127.0.0.1")
        with pytest.raises(Forbidden) as refused:  # even the right password is refused while locked
            sign(record, signer=users["qa"], password=password, meaning="review")
        assert refused.value.code == "signature_invalid" and "Try again in" in refused.value.detail
    response = client.post("/accounts/login/", {"username": "qa", "password": password})
    assert response.status_code == 200 and "_auth_user_id" not in client.session
    assert "Try again in 15 minutes" in response.content.decode()
    # The lock is for that address: the same officer signs in at another bench.
    assert not is_locked("qa", "127.0.0.2")
    elsewhere = Client(REMOTE_ADDR="127.0.0.2")
    assert elsewhere.post("/accounts/login/", {"username": "qa", "password": password}).status_code == 302


def test_a_later_change_breaks_the_match(users, record, password):
    signature = sign(record, signer=users["qa"], password=password, meaning="approval")
    assert matches(signature)
    Notification.objects.filter(pk=record.pk).update(subject="changed after signing")
    record.refresh_from_db()
    assert not matches(signature, record)
    assert manifestation(signature, record)["matches"] is False


def test_empty_meaning_is_refused(users, record, password):
    with pytest.raises(Forbidden):
        sign(record, signer=users["qa"], password=password, meaning="  ")
