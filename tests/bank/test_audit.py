"""Audit trail: every model keeps history, the acting user is recorded for API, web, tasks and commands,
and history is append-only."""

import pytest
from django.apps import apps
from django.db import DatabaseError, connection, transaction

from bank.audit import PROJECT_APPS, acting, audited_models
from bank.models import Notification
from bank.notifications import notify

pytestmark = pytest.mark.django_db


# Models that are deliberately not audited records (issue 11): the audit chain's own ledger (a trigger writes its
# links; a history of it would chain itself) and operational rows of the outbox and the heartbeats; derived data
# kept like an index (issue 13): a line's stock counter and the kept counts (database triggers), and the readings'
# hourly and daily summaries (rebuilt from the audited readings at will); the HLA lookup keys of the match
# search (issue 14, derived from the audited typings); issue 17: jobs (operational rows like the outbox's: what a job
# writes is audited where it writes) and an import's external-ID map (an index of the audited records it maps,
# written with them in the same transaction).
WITHOUT_HISTORY = {"bank.AuditLink", "bank.AuditCheckpoint", "bank.OutboxMessage", "bank.Heartbeat",
                   "lots.LineStock", "bank.Tally", "storage.ReadingRollup", "donors.HLAKey",
                   "storage.UnitOccupancy", "distribution.KeptCatalogEntry", "bank.Job", "imports.ExternalRef"}


def test_every_project_model_keeps_history():
    missing = [
        model._meta.label
        for app in PROJECT_APPS
        for model in apps.get_app_config(app).get_models()
        if not model.__name__.startswith("Historical") and not hasattr(model, "history")
        and model._meta.label not in WITHOUT_HISTORY
    ]
    assert missing == []


def test_every_project_model_has_a_docstring():
    bare = [
        model._meta.label
        for app in PROJECT_APPS
        for model in apps.get_app_config(app).get_models()
        if not model.__name__.startswith("Historical")
        and (not model.__doc__ or model.__doc__.startswith(model.__name__ + "("))
    ]
    assert bare == []


def test_every_constraint_is_named_by_convention():
    bad = []
    for app in PROJECT_APPS:
        for model in apps.get_app_config(app).get_models():
            for constraint in model._meta.constraints:
                if not constraint.name.startswith(f"{model._meta.app_label}_{model._meta.model_name}_"):
                    bad.append(constraint.name)
    assert bad == []


def test_api_change_names_the_user(users, api):
    note = notify([users["technician"]], subject="Box B-12 is almost full")[0]
    response = api(users["technician"]).post("/api/v1/notifications/read/", {"ids": [note.pk]})
    assert response.status_code == 200 and response.json() == {"marked": 1}
    latest = note.history.first()
    assert latest.history_user == users["technician"]

    audit = api(users["admin"]).get("/api/v1/audit/", {"object_type": "notification", "object_id": note.pk})
    assert audit.status_code == 200
    body = audit.json()
    assert body["count"] == 2
    newest, created = body["results"]
    assert newest["user"] == "technician" and newest["action"] == "updated"
    assert newest["changes"]["read_at"][0] is None and newest["changes"]["read_at"][1]
    assert created["action"] == "created" and created["changes"]["subject"] == [None, "Box B-12 is almost full"]
    assert set(newest) >= {"at", "user", "action", "changes", "reason"}


def test_acting_context_records_user_and_reason(users):
    with acting(users["qa"], reason="deviation DEV-7 follow-up"):
        note = notify([users["technician"]], subject="Re-check due")[0]
    record = note.history.first()
    assert record.history_user == users["qa"]
    assert record.history_change_reason == "deviation DEV-7 follow-up"


def test_audit_api_refuses_roles_without_the_trail(users, api):
    response = api(users["researcher"]).get("/api/v1/audit/", {"object_type": "notification"})
    assert response.status_code == 403
    assert response.json()["code"] == "permission_denied"


def test_audit_api_bad_input_is_400(users, api):
    client = api(users["admin"])
    assert client.get("/api/v1/audit/", {"object_type": "spaceship"}).status_code == 400
    assert client.get("/api/v1/audit/").status_code == 400
    assert client.get("/api/v1/audit/", {"object_type": "notification", "object_id": "x1"}).status_code == 400


def test_audit_api_has_no_write_methods(users, api):
    client = api(users["admin"])
    for method in ("post", "put", "patch", "delete"):
        assert getattr(client, method)("/api/v1/audit/?object_type=notification").status_code == 405


def test_user_history_never_copies_password(users):
    history_model = audited_models()["user"].history.model
    assert "password" not in {f.name for f in history_model._meta.fields}


def test_history_is_append_only_in_the_database(users):
    note = notify([users["technician"]], subject="x")[0]
    table = Notification.history.model._meta.db_table
    for sql in (f'UPDATE "{table}" SET subject = %s', f'DELETE FROM "{table}"'):
        with pytest.raises(DatabaseError, match="append-only"), transaction.atomic():
            with connection.cursor() as cursor:
                cursor.execute(sql, ["forged"] if "UPDATE" in sql else None)
    assert note.history.count() == 1


def test_audit_page_lists_changes(client, users):
    note = notify([users["technician"]], subject="Tank 3 excursion")[0]
    client.force_login(users["admin"])
    page = client.get(f"/audit/notification/{note.pk}/")
    assert page.status_code == 200
    assert "Tank 3 excursion" in page.content.decode()
    client.force_login(users["researcher"])
    assert client.get(f"/audit/notification/{note.pk}/").status_code == 403


def test_web_change_names_the_user(client, users, password):
    """A change made through a page (no service context) is attributed by the request middleware."""
    client.force_login(users["qa"])
    response = client.post("/accounts/password/", {
        "old_password": password, "new_password1": "another-long-pass-31", "new_password2": "another-long-pass-31"})
    assert response.status_code == 302
    assert users["qa"].history.first().history_user == users["qa"]


@pytest.mark.django_db
def test_audit_page_of_a_seeded_record_says_it_has_no_change_and_an_unknown_one_is_404(client, users):
    """A record a data migration seeded (the bank's first MTA) has no history row: its audit page says so instead
    of a dead link from the page that lists it; a record that does not exist is still a 404."""
    import datetime

    from distribution.models import MaterialTransferAgreement

    (seeded,) = MaterialTransferAgreement.objects.bulk_create([MaterialTransferAgreement(
        version="MTA-SEEDED", title="Seeded", text="1. Research only.", effective_from=datetime.date(2026, 1, 1))])
    assert not seeded.history.exists()
    client.force_login(users["qa"])
    response = client.get(f"/audit/materialtransferagreement/{seeded.pk}/")
    assert response.status_code == 200 and "data-no-history" in response.content.decode()
    assert client.get(f"/audit/materialtransferagreement/{seeded.pk + 1000}/").status_code == 404
