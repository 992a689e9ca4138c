"""Privacy (issue 11, item 5; PIPL / GDPR): a donor's identity is encrypted at rest under a data key of their
own, wrapped by a master key kept outside the database; duplicates are found through a keyed hash; erasure on
request destroys the data key (crypto-shredding) and leaves the donor, their material and the audit trail.

Everything runs on PostgreSQL and reads the raw tables with SQL where it matters: what an attacker with a copy of
the database (or of its backups) sees, not what the ORM shows.
"""

from __future__ import annotations

import datetime
import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.core.exceptions import ValidationError
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import call_command
from django.db import connection
from django.utils import timezone

from bank.audit import history_entries, object_history
from bank.models import AuthEvent
from donors import crypto, services
from donors.checks import check_identity_key
from donors.models import Consent, Donor, DonorIdentity, DonorKey, IdentityErased
from tests.factories import PASSWORD, CollectionFactory, DonorFactory, LotFactory

pytestmark = pytest.mark.django_db

ROOT = Path(__file__).resolve().parents[2]
NAME, NATIONAL_ID, PHONE = "Shen Mingyue", "PRIVACY-110101199203035511", "+86 137 5555 0199"
NEW_NAME, NEW_PHONE = "Shen Mingyue-Li", "+86 137 5555 0200"
SECRETS = (NAME, NATIONAL_ID, PHONE, NEW_NAME, NEW_PHONE, "Mingyue", "110101199203035511", "5555 0199")
IDENTITY = {"full_name": NAME, "national_id": NATIONAL_ID, "phone": PHONE}
REASON = "Written erasure request of 2026-03-01, received by registered mail"


def leaked(text: str) -> list[str]:
    return [secret for secret in SECRETS if secret.casefold() in text.casefold()]


def database_text(*tables: str, using=None) -> str:
    """Every row of ``tables`` (default: every table of the database) as PostgreSQL prints it."""
    with (using or connection).cursor() as cursor:
        if not tables:
            cursor.execute("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")
            tables = tuple(row[0] for row in cursor.fetchall())
        chunks = []
        for table in tables:
            cursor.execute(f'SELECT t::text FROM "{table}" t')  # noqa: S608 - table names from the catalog
            chunks.extend(row[0] for row in cursor.fetchall())
    return "\n".join(chunks)


def columns(table: str, using=None) -> set[str]:
    using = using or connection
    with using.cursor() as cursor:
        return {c.name for c in using.introspection.get_table_description(cursor, table)}


def register(users, identity=None, **extra):
    data = {"sex": "F", "birth_year": 1992, "donor_type": "healthy", "population": "Han Chinese",
            "identity": dict(identity or IDENTITY)}
    data.update(extra)
    return services.register_donor(actor=users["coordinator"], **data)


@pytest.fixture
def donor(users):
    """A registered donor whose identity was corrected once (two identity history rows), with a consent and a lot."""
    donor = register(users)
    services.update_donor(donor, actor=users["coordinator"], reason="name and phone corrected",
                          identity={"full_name": NEW_NAME, "phone": NEW_PHONE})
    services.record_consent(donor, actor=users["coordinator"], form_version="ICF-v3", scopes=["research"],
                            signed_on=timezone.localdate() - datetime.timedelta(days=5))
    collection = CollectionFactory(donor=donor)
    LotFactory(cell_line__collection=collection, cell_line__donor=donor, vial_count=2)
    return donor


def erase(api, users, donor, role="coordinator", **body):
    return api(users[role]).post(f"/api/v1/donors/{donor.pk}/erase-identity/",
                                 {"reason": REASON, "password": PASSWORD, **body}, format="json")


def demo_key_text(settings) -> str:
    return Path(settings.DONOR_IDENTITY_DEMO_KEY_FILE).read_text(encoding="ascii").strip()


# --- encrypted at rest ---------------------------------------------------------------------------------------


def test_a_coordinator_reads_the_identity_back_on_the_page_and_the_api(users, api, client):
    response = api(users["coordinator"]).post("/api/v1/donors/", {
        "sex": "F", "birth_year": 1992, "donor_type": "healthy", "identity": IDENTITY}, format="json")
    assert response.status_code == 201, response.content
    assert response.json()["identity"] == IDENTITY
    pk = response.json()["id"]
    assert api(users["coordinator"]).get(f"/api/v1/donors/{pk}/").json()["identity"] == IDENTITY
    client.force_login(users["coordinator"])
    page = client.get(f"/donors/{pk}/").content.decode()
    assert NAME in page and NATIONAL_ID in page and PHONE in page
    # the edit form is filled with the clear values and saving it unchanged changes nothing
    form = client.get(f"/donors/{pk}/edit/").content.decode()
    assert f'value="{NAME}"' in form and f'value="{NATIONAL_ID}"' in form
    history_rows = DonorIdentity.history.filter(id=DonorIdentity.objects.get(donor_id=pk).pk).count()
    saved = client.post(f"/donors/{pk}/edit/", {"sex": "F", "birth_year": "1992", "donor_type": "healthy", **IDENTITY,
                                                "population": "", "diagnosis": "", "reason": "re-saved"})
    assert saved.status_code == 302
    assert DonorIdentity.history.filter(donor_id=pk).count() == history_rows


def test_no_table_and_no_history_row_holds_the_identity_in_clear(users, donor):
    identity = DonorIdentity.objects.get(donor=donor)
    assert identity.reveal().full_name == NEW_NAME and identity.phone == NEW_PHONE  # it really is stored
    everything = database_text()
    assert not leaked(everything), leaked(everything)
    # the identity tables hold ciphertext, and the history keeps every version — as ciphertext
    assert identity.full_name_encrypted.startswith("v1:") and identity.full_name_encrypted in everything
    rows = database_text("donors_historicaldonoridentity").splitlines()
    assert len(rows) == 2 and all("v1:" in row for row in rows)
    # neither the keyed national-ID hash nor the wrapped data key is ever copied into a history table
    assert "national_id_index" not in columns("donors_historicaldonoridentity")
    assert "wrapped_key" not in columns("donors_historicaldonorkey")
    assert identity.national_id_index not in database_text("donors_historicaldonoridentity")
    # the same name sealed twice gives two ciphertexts (own key, random nonce): equal values cannot be spotted
    other = register(users, identity={**IDENTITY, "national_id": "PRIVACY-OTHER-0001"})
    first_version = DonorIdentity.history.filter(id=identity.pk).earliest("history_id")
    assert first_version.instance.reveal().full_name == other.identity.full_name == NAME
    assert first_version.full_name_encrypted != other.identity.full_name_encrypted


def test_a_ciphertext_moved_to_another_donor_does_not_open(users, donor, client, api):
    victim = register(users, identity={"full_name": "Other Person", "national_id": "PRIVACY-OTHER-0002"})
    with connection.cursor() as cursor:
        cursor.execute("UPDATE donors_donoridentity SET full_name_encrypted = %s WHERE donor_id = %s",
                       [donor.identity.full_name_encrypted, victim.pk])
    response = api(users["coordinator"]).get(f"/api/v1/donors/{victim.pk}/")
    assert response.status_code == 503 and response.json()["code"] == "identity_key_unavailable"
    client.force_login(users["coordinator"])
    page = client.get(f"/donors/{victim.pk}/")
    assert page.status_code == 200 and "was altered" in page.content.decode() and not leaked(page.content.decode())


def test_the_audit_trail_says_what_changed_never_the_values(users, donor, api, client):
    identity = DonorIdentity.objects.get(donor=donor)
    response = api(users["coordinator"]).get("/api/v1/audit/", {"object_type": "donoridentity",
                                                                "object_id": identity.pk})
    assert response.status_code == 200 and not leaked(response.content.decode())
    corrected, created = response.json()["results"]
    assert corrected["reason"] == "name and phone corrected"
    assert corrected["changes"] == {"full_name_encrypted": ["(encrypted)", "(encrypted)"],
                                    "phone_encrypted": ["(encrypted)", "(encrypted)"]}
    assert created["changes"]["national_id_encrypted"] == [None, "(encrypted)"]
    client.force_login(users["coordinator"])
    page = client.get(f"/audit/donoridentity/{identity.pk}/")
    assert page.status_code == 200 and "(encrypted)" in page.content.decode()
    assert not leaked(page.content.decode())


def test_lists_never_decrypt(users, donor, api, client, monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError("a list decrypted an identity")

    monkeypatch.setattr(crypto, "unseal", refuse)
    monkeypatch.setattr(crypto, "unwrap_data_key", refuse)
    client.force_login(users["coordinator"])
    for path in ("/donors/", f"/donors/?q={donor.code}", "/donors/collections/", "/"):
        assert client.get(path).status_code == 200, path
    for path in ("/api/v1/donors/", f"/api/v1/donors/?code={donor.code}", "/api/v1/collections/"):
        assert api(users["coordinator"]).get(path).status_code == 200, path


# --- duplicates through the keyed hash ---------------------------------------------------------------------


def test_a_duplicate_national_id_is_refused_by_the_service_the_api_and_the_import(users, donor, api):
    with pytest.raises(ValidationError) as exc:
        register(users, identity={"full_name": "Someone Else", "national_id": f" {NATIONAL_ID.lower()} "})
    assert donor.code in exc.value.message_dict["national_id"][0]

    response = api(users["coordinator"]).post("/api/v1/donors/", {
        "sex": "M", "birth_year": 1980, "donor_type": "healthy",
        "identity": {"full_name": "Someone Else", "national_id": NATIONAL_ID}}, format="json")
    assert response.status_code == 400
    assert f"already registered for donor {donor.code}" in response.json()["identity"]["national_id"][0]

    text = ("sex,birth_year,donor_type,full_name,national_id\n"
            "M,1980,healthy,Fresh Person,PRIVACY-FRESH-0001\n"
            f"F,1992,healthy,Someone Else,{NATIONAL_ID}\n")
    with pytest.raises(services.ImportRejected) as rejected:
        services.import_donors_csv(text, actor=users["coordinator"])
    assert rejected.value.rows == [{"line": 3, "errors": [
        f"national_id: This national ID is already registered for donor {donor.code}. Open that donor instead of "
        "registering the person twice."]}]
    upload = SimpleUploadedFile("donors.csv", text.encode(), content_type="text/csv")
    response = api(users["coordinator"]).post("/api/v1/donors/import/", {"file": upload}, format="multipart")
    assert response.status_code == 400 and response.json()["rows"][0]["line"] == 3
    assert Donor.objects.count() == 1


def test_changing_a_national_id_to_a_taken_one_is_refused(users, donor):
    other = register(users, identity={"full_name": "Other Person", "national_id": "PRIVACY-OTHER-0003"})
    with pytest.raises(ValidationError) as exc:
        services.update_donor(other, actor=users["coordinator"], reason="typo", identity={"national_id": NATIONAL_ID})
    assert donor.code in exc.value.message_dict["national_id"][0]
    services.update_donor(other, actor=users["coordinator"], reason="typo",
                          identity={"national_id": "PRIVACY-OTHER-0004"})
    assert DonorIdentity.objects.get(donor=other).national_id == "PRIVACY-OTHER-0004"
    with pytest.raises(ValidationError):
        register(users, identity={"full_name": "Third", "national_id": "PRIVACY-OTHER-0004"})
    register(users, identity={"full_name": "Third", "national_id": "PRIVACY-OTHER-0003"})  # freed by the change


def test_the_import_of_a_thousand_donors_seals_each_identity_under_its_own_key(users):
    rows = "\n".join(f"F,1990,healthy,Bulk Person {n},PRIVACY-BULK-{n:05d}" for n in range(1000))
    result = services.import_donors_csv("sex,birth_year,donor_type,full_name,national_id\n" + rows + "\n",
                                        actor=users["coordinator"])
    assert len(result.donors) == 1000
    assert DonorKey.objects.count() == 1000 and len(set(DonorKey.objects.values_list("wrapped_key", flat=True))) == 1000
    assert "Bulk Person" not in database_text("donors_donoridentity", "donors_historicaldonoridentity")
    sample = DonorIdentity.objects.get(donor=result.donors[123])
    assert sample.national_id == f"PRIVACY-BULK-{123:05d}" and sample.full_name == "Bulk Person 123"


# --- erasure (crypto-shredding) ------------------------------------------------------------------------------


def test_erasure_makes_the_identity_unreadable_everywhere_and_keeps_everything_else(users, donor, api, client):
    identity = DonorIdentity.objects.get(donor=donor)
    history_before = list(DonorIdentity.history.filter(id=identity.pk).order_by("history_id")
                          .values_list("history_id", "full_name_encrypted", "national_id_encrypted"))
    assert [row.instance.reveal().full_name for row in DonorIdentity.history.filter(id=identity.pk)
            .order_by("history_id")] == [NAME, NEW_NAME]  # the history rows do open before the erasure
    wrapped = bytes(DonorKey.objects.get(donor=donor).wrapped_key)
    audit_rows = {model: model.history.count() for model in (Donor, Consent)}

    response = erase(api, users, donor)
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["donor_code"] == donor.code and body["erased_by"] == "coordinator" and body["reason"] == REASON

    # the key is gone: not in its table, not in any history table, nowhere in the database
    key = DonorKey.objects.get(donor=donor)
    assert key.wrapped_key is None and key.destroyed_at is not None
    assert wrapped.hex() not in database_text()
    # every earlier version in the history is still there, unchanged, and can no longer be opened
    rows = list(DonorIdentity.history.filter(id=identity.pk).order_by("history_id"))
    assert [(r.history_id, r.full_name_encrypted, r.national_id_encrypted) for r in rows[:2]] == history_before
    for row in rows[:2]:
        with pytest.raises(crypto.IdentityKeyUnavailable):
            row.instance.reveal()
    with pytest.raises(IdentityErased):
        rows[2].instance.reveal()
    # the live row keeps only the tombstone; the national-ID hash is gone too
    identity.refresh_from_db()
    assert (identity.full_name_encrypted, identity.national_id_encrypted, identity.national_id_index) == ("", "", None)
    assert identity.erased_by == users["coordinator"] and identity.erasure_reason == REASON
    # the page and the API say who erased it, when and why, and nothing else
    detail = api(users["coordinator"]).get(f"/api/v1/donors/{donor.pk}/").json()
    assert detail["identity"] is None and detail["code"] == donor.code
    assert detail["identity_erased"]["erased_by"] == "coordinator" and detail["identity_erased"]["reason"] == REASON
    assert len(detail["consents"]) == 1
    client.force_login(users["coordinator"])
    page = client.get(f"/donors/{donor.pk}/").content.decode()
    assert f"Erased on {timezone.localdate():%Y-%m-%d} by {users['coordinator'].get_full_name()}" in page
    assert REASON in page and not leaked(page)
    edit = client.get(f"/donors/{donor.pk}/edit/").content.decode()
    assert 'name="full_name"' not in edit and "cannot be entered again" in edit
    # the pseudonymous donor, consent, lot and the whole audit trail remain
    donor.refresh_from_db()
    assert donor.code == body["donor_code"] and donor.consents.count() == 1 and donor.collections.count() == 1
    assert donor.cell_lines.get().lots.count() == 1
    assert {model: model.history.count() for model in (Donor, Consent)} == audit_rows
    assert DonorKey.history.filter(donor_id=donor.pk).count() == 2  # made, destroyed
    assert not leaked(database_text())


def test_the_erasure_is_audited_with_who_when_and_why_and_without_the_values(users, donor, api, client):
    identity = DonorIdentity.objects.get(donor=donor)
    assert erase(api, users, donor).status_code == 200
    response = api(users["admin"]).get("/api/v1/audit/", {"object_type": "donoridentity", "object_id": identity.pk})
    assert response.status_code == 200 and not leaked(response.content.decode())
    erasure = response.json()["results"][0]
    assert erasure["user"] == "coordinator" and erasure["reason"] == REASON[:100]
    assert erasure["changes"]["full_name_encrypted"] == ["(encrypted)", ""]
    assert erasure["changes"]["erasure_reason"] == ["", REASON]
    assert {"erased_at", "erased_by"} <= set(erasure["changes"])
    key_audit = api(users["admin"]).get("/api/v1/audit/", {"object_type": "donorkey",
                                                           "object_id": DonorKey.objects.get(donor=donor).pk})
    destroyed, made = key_audit.json()["results"]
    assert set(destroyed["changes"]) == {"destroyed_at"} and "wrapped_key" not in made["changes"]
    client.force_login(users["admin"])
    page = client.get(f"/audit/donoridentity/{identity.pk}/").content.decode()
    assert REASON[:40] in page and not leaked(page)
    entries = history_entries(object_history(DonorIdentity, identity.pk))
    assert len(entries) == 3 and not leaked(repr(entries))


def test_the_reason_must_not_name_the_person(users, donor, api):
    for reason in (f"request of {NEW_NAME.upper()}", f"ID {NATIONAL_ID.lower()}", "call back on 137-5555-0200"):
        response = erase(api, users, donor, reason=reason)
        assert response.status_code == 400 and "reason" in response.json(), reason
    assert erase(api, users, donor, reason=" ").status_code == 400
    assert DonorIdentity.objects.get(donor=donor).erased_at is None


def test_erasure_takes_the_password_again(users, donor, api):
    response = erase(api, users, donor, password="not-my-password")
    assert response.status_code == 403 and response.json()["code"] == "signature_invalid"
    assert DonorIdentity.objects.get(donor=donor).erased_at is None
    assert DonorKey.objects.get(donor=donor).wrapped_key is not None
    assert AuthEvent.objects.filter(username="coordinator").exists()  # the failure counts towards lockout


def test_an_erased_identity_cannot_be_erased_again_nor_changed(users, donor, api):
    assert erase(api, users, donor).status_code == 200
    again = erase(api, users, donor)
    assert again.status_code == 409 and again.json()["code"] == "identity_erased"
    patch = api(users["coordinator"]).patch(f"/api/v1/donors/{donor.pk}/", {
        "reason": "re-entered", "identity": {"full_name": NAME}}, format="json")
    assert patch.status_code == 409 and patch.json()["code"] == "identity_erased"
    # the donor's own facts can still be corrected
    fixed = api(users["coordinator"]).patch(f"/api/v1/donors/{donor.pk}/", {"reason": "typo", "birth_year": 1993},
                                            format="json")
    assert fixed.status_code == 200 and fixed.json()["birth_year"] == 1993 and fixed.json()["identity"] is None


def test_a_donor_without_identity_has_nothing_to_erase(users, api):
    bare = DonorFactory()
    response = erase(api, users, bare)
    assert response.status_code == 409 and response.json()["code"] == "no_identity"


def test_the_same_person_can_be_registered_again_after_erasure(users, donor, api):
    assert erase(api, users, donor).status_code == 200
    text = f"sex,birth_year,donor_type,full_name,national_id\nF,1992,healthy,{NAME},{NATIONAL_ID}\n"
    [again] = services.import_donors_csv(text, actor=users["coordinator"]).donors
    assert again.code != donor.code and again.identity.national_id == NATIONAL_ID
    with pytest.raises(ValidationError) as exc:  # and from then on it is the new donor's national ID
        register(users)
    assert again.code in exc.value.message_dict["national_id"][0]


def test_the_erasure_page_confirms_signs_and_reports(users, donor, client):
    client.force_login(users["coordinator"])
    detail = client.get(f"/donors/{donor.pk}/").content.decode()
    assert f"/donors/{donor.pk}/erase-identity/" in detail
    page = client.get(f"/donors/{donor.pk}/erase-identity/")
    text = page.content.decode()
    assert page.status_code == 200 and "This cannot be undone." in text
    assert donor.cell_lines.get().lots.get().lot_number in text  # what stays is listed
    assert not leaked(text)
    data = {"reason": REASON, "confirm": "on", "password": PASSWORD}
    unconfirmed = client.post(f"/donors/{donor.pk}/erase-identity/", {**data, "confirm": ""})
    assert unconfirmed.status_code == 200 and DonorIdentity.objects.get(donor=donor).erased_at is None
    wrong = client.post(f"/donors/{donor.pk}/erase-identity/", {**data, "password": "wrong-password"})
    assert "password is not correct" in wrong.content.decode()
    assert DonorIdentity.objects.get(donor=donor).erased_at is None
    done = client.post(f"/donors/{donor.pk}/erase-identity/", data, follow=True)
    body = done.content.decode()
    assert done.redirect_chain[-1][0] == f"/donors/{donor.pk}/" and "is erased" in body and "Erased on" in body
    assert not leaked(body)
    assert client.get(f"/donors/{donor.pk}/erase-identity/").status_code == 302  # nothing left to erase


def test_erasure_works_in_chinese_too(users, donor, client):
    client.force_login(users["coordinator"])
    page = client.get(f"/donors/{donor.pk}/erase-identity/", HTTP_ACCEPT_LANGUAGE="zh-hans")
    assert page.status_code == 200
    done = client.post(f"/donors/{donor.pk}/erase-identity/",
                       {"reason": REASON, "confirm": "on", "password": PASSWORD}, HTTP_ACCEPT_LANGUAGE="zh-hans")
    assert done.status_code == 302 and DonorIdentity.objects.get(donor=donor).erased_at is not None


@pytest.mark.parametrize("role", ["technician", "qa", "researcher"])
def test_other_roles_can_neither_read_nor_erase_an_identity(role, users, donor, api, client):
    assert erase(api, users, donor, role=role).status_code == 403
    client.force_login(users[role])
    assert client.post(f"/donors/{donor.pk}/erase-identity/",
                       {"reason": REASON, "confirm": "on", "password": PASSWORD}).status_code == 403
    assert client.get(f"/donors/{donor.pk}/erase-identity/").status_code == 403
    detail = api(users[role]).get(f"/api/v1/donors/{donor.pk}/")
    if role == "researcher":
        assert detail.status_code == 403
    else:
        assert detail.status_code == 200
        assert "identity" not in detail.json() and "identity_erased" not in detail.json()
        page = client.get(f"/donors/{donor.pk}/").content.decode()
        assert not leaked(page) and "erase-identity" not in page
    assert DonorIdentity.objects.get(donor=donor).erased_at is None
    # and an erased identity's tombstone (its reason) is not theirs to read either
    assert erase(api, users, donor).status_code == 200
    if role != "researcher":
        assert "identity_erased" not in api(users[role]).get(f"/api/v1/donors/{donor.pk}/").json()
        assert REASON not in client.get(f"/donors/{donor.pk}/").content.decode()


# --- the key: missing, wrong, rotated -----------------------------------------------------------------------


def test_without_a_key_only_what_needs_the_identity_fails_and_says_why(users, donor, api, client, settings):
    settings.DONOR_IDENTITY_KEY = ""
    settings.DONOR_IDENTITY_DEMO_KEY_FILE = ""
    coordinator, technician = api(users["coordinator"]), api(users["technician"])
    for path in ("/api/v1/donors/", f"/api/v1/donors/{donor.pk}/consents/", "/api/v1/collections/"):
        assert coordinator.get(path).status_code == 200, path
    assert technician.get(f"/api/v1/donors/{donor.pk}/").status_code == 200
    refused = coordinator.get(f"/api/v1/donors/{donor.pk}/")
    assert refused.status_code == 503 and refused.json()["code"] == "identity_key_unavailable"
    assert "DONOR_IDENTITY_KEY" in refused.json()["detail"]
    new = coordinator.post("/api/v1/donors/", {"sex": "F", "birth_year": 1990, "donor_type": "healthy",
                                               "identity": {"full_name": "New One", "national_id": "PRIV-NEW-1"}},
                           format="json")
    assert new.status_code == 503 and new.json()["code"] == "identity_key_unavailable"
    upload = SimpleUploadedFile("d.csv", b"sex,birth_year,donor_type,full_name,national_id\nF,1990,healthy,A,PRIV-N2\n")
    assert coordinator.post("/api/v1/donors/import/", {"file": upload}, format="multipart").status_code == 503
    patch = coordinator.patch(f"/api/v1/donors/{donor.pk}/", {"reason": "typo", "birth_year": 1991}, format="json")
    assert patch.status_code == 503 and Donor.objects.get(pk=donor.pk).birth_year == 1992  # said before changing
    assert Donor.objects.count() == 1

    client.force_login(users["technician"])
    for path in ("/donors/", f"/donors/{donor.pk}/", f"/donors/{donor.pk}/?tab=history", "/"):
        assert client.get(path).status_code == 200, path
    client.force_login(users["coordinator"])
    page = client.get(f"/donors/{donor.pk}/")
    assert page.status_code == 200 and "no identity key is configured" in page.content.decode()
    assert client.get("/donors/").status_code == 200
    assert "no identity key is configured" in client.get("/donors/new/").content.decode()
    edit = client.get(f"/donors/{donor.pk}/edit/")
    assert edit.status_code == 200 and 'name="full_name"' not in edit.content.decode()
    posted = client.post("/donors/new/", {"sex": "F", "birth_year": "1990", "donor_type": "healthy",
                                          "full_name": "New One", "national_id": "PRIV-NEW-1"})
    assert posted.status_code == 200 and "no identity key is configured" in posted.content.decode()
    upload = SimpleUploadedFile("d.csv", b"sex,birth_year,donor_type,full_name,national_id\nF,1990,healthy,A,PRIV-N2\n")
    imported = client.post("/donors/import/", {"file": upload})
    assert imported.status_code == 200 and "no identity key is configured" in imported.content.decode()
    identity = DonorIdentity.objects.get(donor=donor)
    assert client.get(f"/audit/donoridentity/{identity.pk}/").status_code == 200
    # erasure needs no key: destroying the donor's data key is always possible
    assert erase(api, users, donor).status_code == 200


def test_a_wrong_key_names_the_key_the_identity_needs_and_a_retired_key_still_opens_it(users, donor, api, settings):
    old_key = demo_key_text(settings)
    old_id = crypto.MasterKey.from_text(old_key).key_id
    settings.DONOR_IDENTITY_KEY = crypto.generate_key()
    refused = api(users["coordinator"]).get(f"/api/v1/donors/{donor.pk}/")
    assert refused.status_code == 503 and old_id in refused.json()["detail"]
    settings.DONOR_IDENTITY_RETIRED_KEYS = [old_key]
    assert api(users["coordinator"]).get(f"/api/v1/donors/{donor.pk}/").json()["identity"]["full_name"] == NEW_NAME
    # before the rotation a duplicate indexed under the retired key is still found
    with pytest.raises(ValidationError):
        register(users, identity={"full_name": "Dup", "national_id": NATIONAL_ID})
    # a donor registered now is sealed under the new key
    fresh = register(users, identity={"full_name": "Fresh", "national_id": "PRIVACY-FRESH-0009"})
    assert DonorKey.objects.get(donor=fresh).key_id == crypto.keyring().current.key_id != old_id


def test_rotation_rewraps_every_data_key_and_the_old_key_can_go(users, donor, api, settings, capsys):
    old_key = demo_key_text(settings)
    identity = DonorIdentity.objects.get(donor=donor)
    sealed_before = identity.full_name_encrypted
    new_key = crypto.generate_key()
    settings.DONOR_IDENTITY_KEY, settings.DONOR_IDENTITY_RETIRED_KEYS = new_key, [old_key]
    call_command("rotate_identity_key", "--batch-size", "1")
    assert "1 data keys re-wrapped and 1 national IDs re-indexed" in capsys.readouterr().out
    settings.DONOR_IDENTITY_RETIRED_KEYS = []
    assert api(users["coordinator"]).get(f"/api/v1/donors/{donor.pk}/").json()["identity"]["phone"] == NEW_PHONE
    identity.refresh_from_db()
    assert identity.full_name_encrypted == sealed_before  # only the wrapping changed, not the ciphertexts
    with pytest.raises(ValidationError):  # re-indexed under the new key
        register(users, identity={"full_name": "Dup", "national_id": NATIONAL_ID})
    assert DonorKey.history.filter(donor_id=donor.pk).first().history_change_reason.startswith(
        "identity key rotated to")
    call_command("rotate_identity_key")  # nothing left to do
    assert "0 data keys re-wrapped" in capsys.readouterr().out
    call_command("rotate_identity_key", "--new-key")
    assert len(crypto.parse_key(capsys.readouterr().out.strip())) == 32


def test_the_system_check_names_the_setting_to_set(settings):
    settings.DONOR_IDENTITY_KEY, settings.DONOR_IDENTITY_DEMO_KEY_FILE = "", ""
    [error] = check_identity_key()
    assert error.id == "donors.E001" and "DONOR_IDENTITY_KEY is not set" in error.msg
    assert "DONOR_IDENTITY_KEY_FILE" in error.hint and "rotate_identity_key --new-key" in error.hint
    settings.DONOR_IDENTITY_KEY = "not-a-key"
    assert [e.id for e in check_identity_key()] == ["donors.E002"]
    settings.DONOR_IDENTITY_KEY, settings.DONOR_IDENTITY_RETIRED_KEYS = crypto.generate_key(), ["short"]
    assert [e.id for e in check_identity_key()] == ["donors.E003"]
    settings.DONOR_IDENTITY_RETIRED_KEYS = []
    assert check_identity_key() == []


def test_production_refuses_to_run_without_the_identity_key(tmp_path):
    env = {k: v for k, v in os.environ.items()
           if k not in {"DATABASE_URL", "REDIS_URL", "DEBUG", "SECRET_KEY", "DONOR_IDENTITY_KEY",
                        "DONOR_IDENTITY_KEY_FILE", "DJANGO_ALLOW_ASYNC_UNSAFE"}}
    env.update(STEMBANK_VAR_DIR=str(tmp_path), DEBUG="false", ALLOWED_HOSTS="bank.example",
               SECRET_KEY="a-real-production-secret-of-sufficient-length-0123456789-abcdef")
    out = subprocess.run([sys.executable, "manage.py", "check", "--deploy"], cwd=ROOT, env=env,
                         capture_output=True, text=True, timeout=180)
    assert out.returncode != 0
    assert "donors.E001" in out.stderr and "DONOR_IDENTITY_KEY is not set" in out.stderr
    assert not (tmp_path / "donor-identity.key").exists()  # production never generates a key


def test_the_demo_key_file_is_made_once_and_kept_private(tmp_path, settings):
    path = tmp_path / "keys" / "donor-identity.key"
    settings.DONOR_IDENTITY_KEY, settings.DONOR_IDENTITY_DEMO_KEY_FILE = "", str(path)
    first = crypto.keyring().current.key_id
    assert path.exists() and (path.stat().st_mode & 0o777) == 0o600
    settings.DONOR_IDENTITY_DEMO_KEY_FILE = str(path) + "-"  # another configuration, then back: same file, same key
    crypto.keyring()
    settings.DONOR_IDENTITY_DEMO_KEY_FILE = str(path)
    assert crypto.keyring().current.key_id == first
    assert len(crypto.parse_key(path.read_text())) == 32


# --- the upgrade: identities already on file ---------------------------------------------------------------


class ScratchRouter:
    """Every read, write and migration of the upgrade test goes to its scratch database (the data keys too)."""

    def db_for_read(self, model, **hints):
        return "upgrade"

    db_for_write = db_for_read

    def allow_relation(self, obj1, obj2, **hints):
        return True

    def allow_migrate(self, db, app_label, **hints):
        return db == "upgrade"


@pytest.fixture
def upgrade_db(settings):
    """A scratch database beside the test database, reachable as the ``upgrade`` alias, dropped afterwards.

    The upgrade is replayed there along the donors app's own migrations (they depend on nothing but the user model),
    so the test database is never rolled back and every other app is never migrated twice."""
    from django.db import connections
    from django.db.utils import load_backend

    alias, settings_dict = "upgrade", dict(connection.settings_dict)
    name = f"{settings_dict['NAME']}_upgrade"[:63]

    def admin(sql: str) -> None:
        with connection._nodb_cursor() as cursor:
            cursor.execute(sql)

    admin(f'DROP DATABASE IF EXISTS "{name}"')
    admin(f'CREATE DATABASE "{name}"')
    settings.DATABASE_ROUTERS = [f"{__name__}.ScratchRouter"]  # the replica router migrates "default" only
    # Registered as a connection but not in the settings: Django's test case treats it as created on the fly.
    scratch = load_backend(settings_dict["ENGINE"]).DatabaseWrapper({**settings_dict, "NAME": name}, alias)
    connections[alias] = scratch
    try:
        yield scratch
    finally:
        scratch.close()
        del connections[alias]
        admin(f'DROP DATABASE IF EXISTS "{name}"')


def test_the_migration_encrypts_the_identities_on_file_and_drops_every_plaintext_column(upgrade_db):
    from django.db.migrations.executor import MigrationExecutor

    alias = upgrade_db.alias
    before = [("donors", "0002_screening_panel")]
    executor = MigrationExecutor(upgrade_db)
    latest = executor.loader.graph.leaf_nodes("donors")  # 0005 drops the plaintext; then on to the newest
    executor.migrate(before)
    old = MigrationExecutor(upgrade_db).loader.project_state(before).apps
    now = timezone.now()
    for n, (name, national_id, phone) in enumerate([(NAME, NATIONAL_ID, PHONE), ("王旧名", "OLD-0002", "")]):
        donor = old.get_model("donors", "Donor").objects.using(alias).create(
            code=f"SBD-UPGRADE{n}", sex="F", birth_year=1990, donor_type="healthy")
        identity = old.get_model("donors", "DonorIdentity").objects.using(alias).create(
            donor=donor, full_name=name, national_id=national_id, phone=phone)
        old.get_model("donors", "HistoricalDonorIdentity").objects.using(alias).create(
            id=identity.pk, donor_id=donor.pk, full_name=name, national_id=national_id, phone=phone,
            history_date=now, history_type="+", history_change_reason="donor registered")
    # the plaintext the upgrade must remove
    assert NAME in database_text("donors_historicaldonoridentity", using=upgrade_db)
    MigrationExecutor(upgrade_db).migrate(latest)

    identities = DonorIdentity.objects.using(alias)
    upgraded = identities.get(donor__code="SBD-UPGRADE0")
    assert (upgraded.full_name, upgraded.national_id, upgraded.phone) == (NAME, NATIONAL_ID, PHONE)
    assert identities.get(donor__code="SBD-UPGRADE1").full_name == "王旧名"
    text = database_text(using=upgrade_db)
    assert not leaked(text) and "王旧名" not in text
    assert not {"full_name", "national_id", "phone"} & columns("donors_historicaldonoridentity", using=upgrade_db)
    # each identity keeps its original history row and gains one saying it was encrypted (ciphertext only)
    rows = list(DonorIdentity.history.using(alias).filter(id=upgraded.pk).order_by("history_id"))
    assert [r.history_change_reason for r in rows] == ["donor registered", "identity encrypted at rest (issue 11)"]
    assert rows[1].instance.reveal().national_id == NATIONAL_ID
    # indexed: the lookup registration uses to refuse a duplicate finds the migrated identity
    assert identities.filter(national_id_index__in=crypto.national_id_digests(NATIONAL_ID)).count() == 1


# --- in the browser --------------------------------------------------------------------------------------------


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_a_coordinator_erases_an_identity_in_the_browser(page, login):
    from tests.factories import UserFactory

    coordinator = UserFactory(username="coord-erase", role="coordinator")
    donor = services.register_donor(actor=coordinator, sex="F", birth_year=1992, donor_type="healthy",
                                    identity=dict(IDENTITY))
    login(coordinator)
    page.goto(page.base_url + f"/donors/{donor.pk}/")
    assert NAME in page.inner_text("#donor-identity")
    page.click("#erase-identity")
    page.wait_for_url(f"**/donors/{donor.pk}/erase-identity/")
    page.wait_for_load_state("load")
    assert page.evaluate("document.activeElement.id") == "id_reason"  # the cursor is where the reason goes
    page.keyboard.type(REASON)
    page.check("#id_confirm")
    page.fill("#id_password", "not-my-password")
    page.press("#id_password", "Enter")
    page.wait_for_selector("#form-errors")
    page.wait_for_load_state("load")
    assert page.evaluate("document.activeElement.id") == "id_password"  # only the password is left to correct
    page.keyboard.type(PASSWORD)
    page.check("#id_confirm")
    page.press("#id_password", "Enter")
    page.wait_for_url(f"**/donors/{donor.pk}/")
    card = page.inner_text("#donor-identity")
    assert "Erased on" in card and REASON in card and not leaked(card)
    assert not leaked(page.content())
