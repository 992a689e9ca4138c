"""The database roles of docker-compose.yml (deploy/postgres/roles.sql), run against the local PostgreSQL: the
owner role migrates; the application role reads and writes rows but can neither switch a history table's
append-only trigger off, nor rewrite or empty a history table, nor change the schema."""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
from pathlib import Path

import psycopg2
import pytest
import yaml
from django.db import connection

ROOT = Path(__file__).resolve().parents[2]
SQL = ROOT / "deploy" / "postgres" / "roles.sql"


def compose() -> dict:
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text())


def test_compose_runs_the_bank_as_the_application_role_and_migrates_as_the_owner():
    services = compose()["services"]
    for name in ("web", "worker", "beat"):
        url = services[name]["environment"]["DATABASE_URL"]
        assert url.startswith("postgres://stembank_app:"), (name, url)
        assert services[name]["depends_on"]["migrate"]["condition"] == "service_completed_successfully"
    for name in ("migrate", "backup"):
        assert services[name]["environment"]["DATABASE_URL"].startswith("postgres://stembank_owner:"), name
    db = services["db"]
    assert db["environment"]["POSTGRES_USER"] == "postgres"  # the superuser is nobody the bank connects as
    mounts = db["volumes"]
    assert "./deploy/postgres/10-stembank-roles.sh:/docker-entrypoint-initdb.d/10-stembank-roles.sh:ro" in mounts
    assert "./deploy/postgres/roles.sql:/stembank/roles.sql:ro" in mounts
    init = (ROOT / "deploy" / "postgres" / "10-stembank-roles.sh").read_text()
    assert "-f /stembank/roles.sql" in init and os.access(ROOT / "deploy/postgres/10-stembank-roles.sh", os.X_OK)
    assert services["beat"]["healthcheck"]["test"] == ["CMD", "python", "manage.py", "health", "--check", "beat"]


def _superuser(dbname: str):
    db = connection.settings_dict
    conn = psycopg2.connect(dbname=dbname, user=db["USER"] or None, password=db["PASSWORD"] or None,
                            host=db["HOST"] or "127.0.0.1", port=db["PORT"] or 5432)
    conn.autocommit = True
    return conn


@pytest.fixture
def scratch():
    """A scratch database and two uniquely named roles (roles are cluster-wide), all dropped afterwards."""
    tag = secrets.token_hex(4)
    names = {"db_name": f"stembank_roles_{tag}", "owner_role": f"sb_owner_{tag}", "app_role": f"sb_app_{tag}",
             "owner_password": secrets.token_urlsafe(16), "app_password": secrets.token_urlsafe(16)}
    admin = _superuser("postgres")
    with admin.cursor() as cursor:
        cursor.execute(f'CREATE DATABASE "{names["db_name"]}"')
    try:
        yield names
    finally:
        with admin.cursor() as cursor:
            cursor.execute(f'DROP DATABASE IF EXISTS "{names["db_name"]}" WITH (FORCE)')
            for role in ("app_role", "owner_role"):
                cursor.execute(f'DROP ROLE IF EXISTS "{names[role]}"')
        admin.close()


def _psql(names: dict, *extra: str) -> subprocess.CompletedProcess:
    db = connection.settings_dict
    variables = [arg for key, value in names.items() for arg in ("-v", f"{key}={value}")]
    env = {**os.environ, "PGPASSWORD": db["PASSWORD"] or ""}
    return subprocess.run(
        ["psql", "-X", "-q", "-h", db["HOST"] or "127.0.0.1", "-p", str(db["PORT"] or 5432), "-U", db["USER"],
         "-d", names["db_name"], *variables, *extra],
        env=env, capture_output=True, text=True, timeout=120,
    )


def _as(names: dict, role: str):
    db = connection.settings_dict
    conn = psycopg2.connect(dbname=names["db_name"], user=names[f"{role}_role"], password=names[f"{role}_password"],
                            host=db["HOST"] or "127.0.0.1", port=db["PORT"] or 5432)
    conn.autocommit = True
    return conn


def test_the_application_role_cannot_switch_the_history_triggers_off(scratch, tmp_path):
    done = _psql(scratch, "-v", "ON_ERROR_STOP=1", "-f", str(SQL))
    assert done.returncode == 0, done.stderr
    again = _psql(scratch, "-v", "ON_ERROR_STOP=1", "-f", str(SQL))  # re-runnable (upgrades, restores)
    assert again.returncode == 0, again.stderr

    db = connection.settings_dict
    host, port = db["HOST"] or "127.0.0.1", db["PORT"] or 5432
    env = {k: v for k, v in os.environ.items() if k not in {"DATABASE_URL"}}
    env.update(STEMBANK_VAR_DIR=str(tmp_path),
               DATABASE_URL=f"postgres://{scratch['owner_role']}:{scratch['owner_password']}@{host}:{port}/"
                            f"{scratch['db_name']}")
    migrated = subprocess.run([sys.executable, "manage.py", "migrate", "--noinput", "-v", "0"], cwd=ROOT, env=env,
                              capture_output=True, text=True, timeout=900)
    assert migrated.returncode == 0, migrated.stdout + migrated.stderr

    app = _as(scratch, "app")
    try:
        with app.cursor() as cursor:
            # Rows: read, write, change, delete.
            cursor.execute("INSERT INTO bank_heartbeat (name, seen_at, detail) VALUES ('worker', now(), 'test')")
            cursor.execute("UPDATE bank_heartbeat SET detail = 'changed' WHERE name = 'worker'")
            cursor.execute("SELECT detail FROM bank_heartbeat")
            assert cursor.fetchall() == [("changed",)]
            cursor.execute("DELETE FROM bank_heartbeat")
            # History rows can be written (that is how history is kept) ...
            cursor.execute(
                "INSERT INTO bank_historicalnotification (id, recipient_id, level, subject, body, link, created_at, "
                "history_date, history_type) VALUES (1, NULL, 'info', 's', '', '', now(), now(), '+')")
            # ... but never changed, nor emptied, nor freed of their trigger.
            for statement, refusal in (
                ("UPDATE bank_historicalnotification SET subject = 'rewritten'", "append-only"),
                ("DELETE FROM bank_historicalnotification", "append-only"),
                ("TRUNCATE bank_historicalnotification", "permission denied"),
                ("ALTER TABLE bank_historicalnotification DISABLE TRIGGER ALL", "must be owner"),
                ("ALTER TABLE bank_historicalnotification DISABLE TRIGGER USER", "must be owner"),
                ("DROP TRIGGER bank_historicalnotification_append_only ON bank_historicalnotification",
                 "must be owner"),
                ("SET session_replication_role = replica", "permission denied"),
                ("CREATE TABLE stray (id int)", "permission denied"),
                ("ALTER ROLE CURRENT_USER SUPERUSER", "must be superuser"),
            ):
                with pytest.raises(psycopg2.Error) as refused:
                    cursor.execute(statement)
                assert refusal in str(refused.value), (statement, str(refused.value))
            cursor.execute("SELECT count(*), min(subject) FROM bank_historicalnotification")
            assert cursor.fetchone() == (1, "s")
    finally:
        app.close()

    owner = _as(scratch, "owner")
    try:
        with owner.cursor() as cursor:  # the owner (migrations) still can: that is why the bank never runs as it
            cursor.execute("ALTER TABLE bank_heartbeat DISABLE TRIGGER USER")
            cursor.execute("ALTER TABLE bank_heartbeat ENABLE TRIGGER USER")
    finally:
        owner.close()


def test_running_the_script_again_hands_an_older_installation_to_the_owner_role(scratch):
    """Before these roles the superuser owned everything: the script, run again, hands it over."""
    su = _superuser(scratch["db_name"])
    try:
        with su.cursor() as cursor:
            cursor.execute("CREATE TABLE legacy_history (id serial PRIMARY KEY, note text)")
            cursor.execute("CREATE SEQUENCE legacy_numbers")
            cursor.execute("CREATE FUNCTION legacy_guard() RETURNS trigger LANGUAGE plpgsql AS "
                           "$$ BEGIN RAISE EXCEPTION 'append-only'; END $$")
            cursor.execute("CREATE TRIGGER legacy_guard BEFORE UPDATE ON legacy_history "
                           "FOR EACH ROW EXECUTE FUNCTION legacy_guard()")
        done = _psql(scratch, "-v", "ON_ERROR_STOP=1", "-f", str(SQL))
        assert done.returncode == 0, done.stderr
        with su.cursor() as cursor:
            cursor.execute("SELECT tableowner FROM pg_tables WHERE tablename = 'legacy_history'")
            assert cursor.fetchone()[0] == scratch["owner_role"]
            cursor.execute("SELECT pg_get_userbyid(relowner) FROM pg_class WHERE relname IN "
                           "('legacy_numbers', 'legacy_history_id_seq')")
            assert {row[0] for row in cursor.fetchall()} == {scratch["owner_role"]}
            cursor.execute("SELECT pg_get_userbyid(proowner) FROM pg_proc WHERE proname = 'legacy_guard'")
            assert cursor.fetchone()[0] == scratch["owner_role"]
    finally:
        su.close()
    app = _as(scratch, "app")
    try:
        with app.cursor() as cursor:
            cursor.execute("INSERT INTO legacy_history (note) VALUES ('kept') RETURNING id")
            assert cursor.fetchone()[0] == 1
            with pytest.raises(psycopg2.Error, match="append-only"):
                cursor.execute("UPDATE legacy_history SET note = 'rewritten'")
            with pytest.raises(psycopg2.Error, match="must be owner"):
                cursor.execute("ALTER TABLE legacy_history DISABLE TRIGGER legacy_guard")
    finally:
        app.close()
