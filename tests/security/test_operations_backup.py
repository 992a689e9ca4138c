"""Backups (issue 11, operations): manage.py backup → manage.py restore into a fresh PostgreSQL database gives
the same rows; a damaged backup or a database that is not empty is refused; keys stay out; old backups go."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from pathlib import Path

import psycopg2
import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection

from bank import backup
from bank.notifications import notify
from lots.models import Vial
from tests.factories import LotFactory, UserFactory

ROOT = Path(__file__).resolve().parents[2]


def _admin_connection():
    db = connection.settings_dict
    conn = psycopg2.connect(dbname="postgres", user=db["USER"] or None, password=db["PASSWORD"] or None,
                            host=db["HOST"] or None, port=db["PORT"] or None)
    conn.autocommit = True
    return conn


@pytest.fixture
def fresh_database():
    """An empty database beside the test database, dropped afterwards; yields its DATABASES-style entry."""
    name = f"{connection.settings_dict['NAME']}_restore"[:63]
    admin = _admin_connection()
    with admin.cursor() as cursor:
        cursor.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        cursor.execute(f'CREATE DATABASE "{name}"')
    db = {**connection.settings_dict, "NAME": name}
    try:
        yield db
    finally:
        with admin.cursor() as cursor:
            cursor.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.close()


def url_of(db: dict) -> str:
    auth = db["USER"] + (f":{db['PASSWORD']}" if db["PASSWORD"] else "") + "@" if db["USER"] else ""
    return f"postgres://{auth}{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"


def counts_of(db: dict) -> dict[str, int]:
    conn = backup.connect(db)
    try:
        with conn.cursor() as cursor:
            return backup.row_counts(cursor)
    finally:
        conn.close()


def test_backup_then_restore_into_a_fresh_database_gives_the_same_rows(transactional_db, fresh_database, tmp_path,
                                                                       settings):
    LotFactory(status="released", vial_count=12)
    notify([UserFactory(username="restorer", role="qa")], subject="Restore drill")  # a row and its history row
    media = tmp_path / "media"
    (media / "mta").mkdir(parents=True)
    (media / "mta" / "agreement.txt").write_text("MTA 2027-1")
    key = media / "identity.key"
    key.write_text("secret master key")
    settings.MEDIA_ROOT = str(media)
    settings.SAMPLE_SIGNING_KEY_FILE = str(key)  # any setting ending in KEY_FILE names a key

    out = io.StringIO()
    call_command("backup", "--dir", str(tmp_path / "backups"), stdout=out)
    [made] = backup.backups(tmp_path / "backups")
    assert str(made) in out.getvalue()
    assert sorted(p.name for p in made.iterdir()) == ["database.dump", "files.tar.gz", "manifest.json"]
    assert oct(made.stat().st_mode & 0o777) == "0o700"
    manifest = json.loads((made / "manifest.json").read_text())
    source = counts_of(connection.settings_dict)
    assert manifest["row_counts"] == source
    assert manifest["row_counts"]["public.lots_vial"] == Vial.objects.count() == 12
    assert manifest["row_counts"]["public.bank_historicalnotification"] == 1
    assert manifest["files"]["database.dump"]["sha256"] == backup.sha256(made / "database.dump")
    assert manifest["stored_files"]["count"] == 1  # the agreement; never the key
    import tarfile

    with tarfile.open(made / "files.tar.gz") as archive:
        assert archive.getnames() == ["mta/agreement.txt"]

    restored_files = tmp_path / "restored-media"
    out = io.StringIO()
    call_command("restore", str(made), "--database-url", url_of(fresh_database), "--files-to", str(restored_files),
                 stdout=out)
    assert "row counts match the manifest" in out.getvalue()
    assert counts_of(fresh_database) == source
    assert (restored_files / "mta" / "agreement.txt").read_text() == "MTA 2027-1"
    assert not (restored_files / "identity.key").exists()

    # The restored database is the bank's: its history is still append-only there.
    conn = backup.connect(fresh_database)
    try:
        with conn.cursor() as cursor, pytest.raises(psycopg2.Error, match="append-only"):
            cursor.execute("UPDATE bank_historicalnotification SET subject = 'rewritten'")
    finally:
        conn.close()

    # The tamper-evident audit chain verifies on the restored copy too.
    env = {**os.environ, "DATABASE_URL": url_of(fresh_database)}
    done = subprocess.run([sys.executable, "manage.py", "verify_audit"], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr

    # A second restore into the same, now full, database is refused before anything is touched.
    with pytest.raises(CommandError, match="not empty"):
        call_command("restore", str(made), "--database-url", url_of(fresh_database), stdout=io.StringIO())


def test_a_damaged_backup_is_refused_before_the_database_is_touched(transactional_db, fresh_database, tmp_path):
    LotFactory(vial_count=2)
    result = backup.backup(connection.settings_dict, tmp_path)
    dump = result.path / "database.dump"
    data = bytearray(dump.read_bytes())
    data[len(data) // 2] ^= 0xFF
    dump.write_bytes(bytes(data))
    with pytest.raises(CommandError, match="checksum"):
        call_command("restore", str(result.path), "--database-url", url_of(fresh_database), "--verify-only")
    with pytest.raises(CommandError, match="checksum"):
        call_command("restore", str(result.path), "--database-url", url_of(fresh_database))
    assert backup.is_empty(fresh_database)
    (result.path / "database.dump").unlink()
    with pytest.raises(backup.BackupError, match="missing"):
        backup.verify(result.path)
    with pytest.raises(backup.BackupError, match="not a StemBank backup"):
        backup.verify(tmp_path)


def test_old_backups_are_pruned_keeping_the_newest(tmp_path):
    for stamp in ("20260101T020000Z", "20260102T020000Z", "20260103T020000Z", "20260104T020000Z"):
        made = tmp_path / f"stembank-{stamp}"
        made.mkdir()
        (made / "manifest.json").write_text("{}")
    (tmp_path / "unrelated").mkdir()
    fresh_partial = tmp_path / "stembank-20260105T020000Z.partial"  # a backup being written right now
    fresh_partial.mkdir()
    removed = backup.prune(tmp_path, keep=2)
    assert [p.name for p in removed] == ["stembank-20260101T020000Z", "stembank-20260102T020000Z"]
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "stembank-20260103T020000Z", "stembank-20260104T020000Z", "stembank-20260105T020000Z.partial", "unrelated"]
    with pytest.raises(backup.BackupError):
        backup.prune(tmp_path, keep=0)


def test_key_files_are_copied_apart_and_never_next_to_the_backups(tmp_path, settings):
    key = tmp_path / "keys-live" / "audit.key"
    key.parent.mkdir()
    key.write_text("k")
    settings.AUDIT_CHAIN_KEY_FILE = str(key)
    assert key.resolve() in backup.key_files()
    with pytest.raises(backup.BackupError, match="outside"):
        backup.copy_key_files(tmp_path / "backups" / "keys", tmp_path / "backups")
    copied = {p.name: p for p in backup.copy_key_files(tmp_path / "safe", tmp_path / "backups")}
    assert copied["audit.key"].read_text() == "k" and oct(copied["audit.key"].stat().st_mode & 0o777) == "0o600"


def test_backup_needs_postgresql():
    with pytest.raises(backup.BackupError, match="PostgreSQL"):
        backup.backup({"ENGINE": "django.db.backends.sqlite3", "NAME": "x"}, Path("/nonexistent"))
