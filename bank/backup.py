"""Backups of the bank's PostgreSQL database (and stored files), and their restore into an empty database.

A backup is a directory ``BACKUP_DIR/stembank-YYYYMMDDTHHMMSSZ/`` holding

- ``database.dump`` — ``pg_dump --format=custom`` of the whole database;
- ``files.tar.gz`` — the stored files (``MEDIA_ROOT``), when the bank has any;
- ``manifest.json`` — when, from which database, the SHA-256 and size of each file, and the row count of
  every table.

The row counts are taken in the very snapshot ``pg_dump`` reads (``pg_export_snapshot`` / ``--snapshot``), so
a restore can prove it brought back exactly what was dumped even though the bank kept working during the
backup. A backup is written under a ``.partial`` name and renamed when complete: an interrupted one never
looks usable.

Keys never go into a backup: a file named by any setting ending in ``KEY_FILE`` (the donor identity master
key, the audit chain key, ...) is left out of ``files.tar.gz``, and ``copy_key_files`` copies them to a
separate place (another medium) on request. A restore without the keys gives encrypted identities and
checkpoints nobody can read or verify: keep the keys, separately.

``restore`` refuses a database that has any table, checks every checksum before touching it, restores in one
transaction (nothing is left half-restored) and compares every table's row count with the manifest.
"""

from __future__ import annotations

import datetime
import hashlib
import json
import os
import shutil
import subprocess
import tarfile
from dataclasses import dataclass
from pathlib import Path

from django.conf import settings

FORMAT = 1
DUMP_NAME = "database.dump"
FILES_NAME = "files.tar.gz"
MANIFEST_NAME = "manifest.json"
PREFIX = "stembank-"
PARTIAL = ".partial"

_USER_TABLES = """
    SELECT n.nspname, c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
    WHERE c.relkind IN ('r', 'p') AND NOT c.relispartition
      AND n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg_toast%%'
    ORDER BY 1, 2
"""


class BackupError(Exception):
    """A backup or restore that cannot go on; the message says why."""


# --- connections -----------------------------------------------------------------------------------------


def _require_postgresql(db: dict) -> None:
    if db.get("ENGINE") != "django.db.backends.postgresql":
        raise BackupError("Backups need PostgreSQL (DATABASE_URL=postgres://...); the embedded SQLite demo is "
                          "backed up by copying its file while the bank is stopped.")


def _libpq_env(db: dict) -> dict[str, str]:
    """The environment pg_dump/pg_restore connect with: the password never appears on a command line."""
    env = dict(os.environ)
    for key, name in (("HOST", "PGHOST"), ("PORT", "PGPORT"), ("USER", "PGUSER"), ("PASSWORD", "PGPASSWORD"),
                      ("NAME", "PGDATABASE")):
        if db.get(key):
            env[name] = str(db[key])
        else:
            env.pop(name, None)
    options = db.get("OPTIONS") or {}
    for option, name in (("sslmode", "PGSSLMODE"), ("sslrootcert", "PGSSLROOTCERT"), ("sslcert", "PGSSLCERT"),
                         ("sslkey", "PGSSLKEY")):
        if options.get(option):
            env[name] = str(options[option])
    return env


def connect(db: dict):
    import psycopg2

    options = {k: v for k, v in (db.get("OPTIONS") or {}).items() if k.startswith("ssl") or k == "connect_timeout"}
    return psycopg2.connect(dbname=db["NAME"], user=db.get("USER") or None, password=db.get("PASSWORD") or None,
                            host=db.get("HOST") or None, port=db.get("PORT") or None, **options)


def _run(command: list[str], env: dict) -> None:
    binary = shutil.which(command[0])
    if binary is None:
        raise BackupError(f"{command[0]} is not installed (PostgreSQL client tools, e.g. apt-get install "
                          "postgresql-client).")
    done = subprocess.run([binary, *command[1:]], env=env, capture_output=True, text=True, check=False)  # noqa: S603
    if done.returncode != 0:
        raise BackupError(f"{command[0]} failed ({done.returncode}): {done.stderr.strip()[-2000:]}")


def _tool_version(name: str) -> str:
    binary = shutil.which(name)
    if binary is None:
        return ""
    return subprocess.run([binary, "--version"], capture_output=True, text=True, check=False).stdout.strip()  # noqa: S603


def row_counts(cursor) -> dict[str, int]:
    """Exact row counts of every user table, as ``schema.table``."""
    cursor.execute(_USER_TABLES)
    tables = cursor.fetchall()
    counts = {}
    for schema, table in tables:
        cursor.execute(f'SELECT count(*) FROM "{schema}"."{table}"')  # noqa: S608 — names from pg_class
        counts[f"{schema}.{table}"] = cursor.fetchone()[0]
    return counts


# --- files and keys --------------------------------------------------------------------------------------


def key_files() -> list[Path]:
    """Files holding keys (settings ending in ``KEY_FILE``): never inside a backup of the data they protect."""
    found = []
    for name in dir(settings):
        if name.isupper() and name.endswith("KEY_FILE"):
            value = getattr(settings, name, "")
            if value and Path(value).is_file():
                found.append(Path(value).resolve())
    for name in ("SECRET_KEY_FILE", "DONOR_IDENTITY_KEY_FILE", "AUDIT_CHAIN_KEY_FILE"):  # given as *_FILE variables
        value = os.environ.get(name)
        if value and Path(value).is_file():
            found.append(Path(value).resolve())
    return sorted(set(found))


def stored_files_root() -> Path | None:
    """Where the bank keeps uploaded or generated files (``MEDIA_ROOT``), if it keeps any."""
    root = str(getattr(settings, "MEDIA_ROOT", "") or "")
    if not root or not Path(root).is_dir():
        return None
    return Path(root).resolve()


def _archive_files(root: Path, target: Path, exclude: set[Path]) -> int:
    count = 0
    with tarfile.open(target, "w:gz") as archive:
        for path in sorted(root.rglob("*")):
            if path.is_file() and not path.is_symlink() and path.resolve() not in exclude:
                archive.add(path, arcname=str(path.relative_to(root)), recursive=False)
                count += 1
    return count


def copy_key_files(destination: Path, backup_dir: Path) -> list[Path]:
    """Copy the key files to ``destination`` (meant for another medium), never under ``backup_dir``."""
    destination = destination.resolve()
    if destination == backup_dir.resolve() or backup_dir.resolve() in destination.parents:
        raise BackupError("Keys must not be kept with the backups they unlock: choose a directory outside "
                          f"{backup_dir}.")
    destination.mkdir(parents=True, exist_ok=True)
    copied = []
    for key in key_files():
        target = destination / key.name
        shutil.copy2(key, target)
        target.chmod(0o600)
        copied.append(target)
    return copied


def sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


# --- backup ----------------------------------------------------------------------------------------------


@dataclass
class BackupResult:
    path: Path
    manifest: dict
    pruned: list[Path]


def backup(db: dict, backup_dir: Path | None = None, *, keep: int | None = None,
           now: datetime.datetime | None = None) -> BackupResult:
    """Back up the database ``db`` (a ``DATABASES`` entry) and the stored files into a new directory."""
    _require_postgresql(db)
    backup_dir = Path(backup_dir or settings.BACKUP_DIR)
    now = now or datetime.datetime.now(datetime.UTC)
    name = f"{PREFIX}{now:%Y%m%dT%H%M%SZ}"
    final = backup_dir / name
    if final.exists():
        raise BackupError(f"{final} exists already.")
    work = backup_dir / (name + PARTIAL)
    backup_dir.mkdir(parents=True, exist_ok=True)
    work.mkdir(mode=0o700)  # the bank's data: readable by the account that makes backups only
    try:
        manifest = _write_backup(db, work, now)
        for file in work.iterdir():
            file.chmod(0o600)
        work.rename(final)
    except BaseException:
        shutil.rmtree(work, ignore_errors=True)
        raise
    pruned = prune(backup_dir, keep) if keep else []
    return BackupResult(final, manifest, pruned)


def _write_backup(db: dict, work: Path, now: datetime.datetime) -> dict:
    import psycopg2.extensions

    conn = connect(db)
    try:
        conn.set_session(isolation_level=psycopg2.extensions.ISOLATION_LEVEL_REPEATABLE_READ, readonly=True)
        with conn.cursor() as cursor:
            cursor.execute("SELECT pg_export_snapshot(), current_setting('server_version')")
            snapshot, server_version = cursor.fetchone()
            counts = row_counts(cursor)
            # pg_dump reads the snapshot of this transaction, still open: the counts describe the dump.
            _run(["pg_dump", "--format=custom", f"--snapshot={snapshot}", f"--file={work / DUMP_NAME}"],
                 _libpq_env(db))
            cursor.execute("SELECT app, max(name) FROM django_migrations GROUP BY app ORDER BY app")
            migrations = dict(cursor.fetchall())
        conn.rollback()
    finally:
        conn.close()
    files = {DUMP_NAME: work / DUMP_NAME}
    stored = {"root": None, "count": 0}
    root = stored_files_root()
    if root is not None:
        excluded = set(key_files())
        stored = {"root": str(root), "count": _archive_files(root, work / FILES_NAME, excluded)}
        files[FILES_NAME] = work / FILES_NAME
    manifest = {
        "format": FORMAT,
        "created_at": now.isoformat(),
        "database": {"name": db["NAME"], "server_version": server_version, "pg_dump": _tool_version("pg_dump")},
        "migrations": migrations,
        "files": {name: {"sha256": sha256(path), "bytes": path.stat().st_size} for name, path in files.items()},
        "stored_files": stored,
        "keys": "not included: key files are kept apart from backups (manage.py backup --keys-to DIR)",
        "row_counts": counts,
    }
    (work / MANIFEST_NAME).write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    return manifest


def backups(backup_dir: Path) -> list[Path]:
    """Complete backups under ``backup_dir``, oldest first."""
    if not backup_dir.is_dir():
        return []
    return sorted(p for p in backup_dir.iterdir()
                  if p.is_dir() and p.name.startswith(PREFIX) and not p.name.endswith(PARTIAL)
                  and (p / MANIFEST_NAME).is_file())


def prune(backup_dir: Path, keep: int) -> list[Path]:
    """Delete all but the newest ``keep`` backups (and partial ones an interrupted run left a day ago or more)."""
    if keep < 1:
        raise BackupError("Keep at least one backup.")
    complete = backups(backup_dir)
    doomed = complete[:-keep]
    if backup_dir.is_dir():
        day_ago = datetime.datetime.now().timestamp() - 86400
        doomed += [p for p in backup_dir.iterdir() if p.is_dir() and p.name.startswith(PREFIX)
                   and p.name.endswith(PARTIAL) and p.stat().st_mtime < day_ago]
    for path in doomed:
        shutil.rmtree(path)
    return doomed


# --- restore ---------------------------------------------------------------------------------------------


def read_manifest(path: Path) -> dict:
    manifest_path = path / MANIFEST_NAME
    if not manifest_path.is_file():
        raise BackupError(f"{path} is not a StemBank backup (no {MANIFEST_NAME}).")
    try:
        manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
    except ValueError as exc:
        raise BackupError(f"{manifest_path} is not valid JSON: {exc}")
    if manifest.get("format") != FORMAT:
        raise BackupError(f"Unknown backup format {manifest.get('format')!r} (this StemBank reads {FORMAT}).")
    return manifest


def verify(path: Path) -> dict:
    """The manifest, once every file it lists is present with its size and SHA-256 (else ``BackupError``)."""
    manifest = read_manifest(path)
    files = manifest.get("files") or {}
    if DUMP_NAME not in files:
        raise BackupError("The manifest lists no database dump.")
    for name, expected in files.items():
        file = path / name
        if Path(name).name != name or not file.is_file():
            raise BackupError(f"{name} is missing from {path}.")
        if file.stat().st_size != expected["bytes"] or sha256(file) != expected["sha256"]:
            raise BackupError(f"{name} does not match its checksum in the manifest: the backup is damaged.")
    return manifest


def is_empty(db: dict) -> bool:
    conn = connect(db)
    try:
        with conn.cursor() as cursor:
            cursor.execute(_USER_TABLES)
            return cursor.fetchone() is None
    finally:
        conn.close()


def restore(path: Path, db: dict, *, acl: bool = True, files_to: Path | None = None) -> dict:
    """Restore the backup at ``path`` into the empty database ``db``; returns the manifest.

    Checksums first, then the emptiness of the target, then ``pg_restore`` in one transaction, then every
    table's row count against the manifest. ``acl=False`` leaves out the grants (for a server without the
    bank's database roles).
    """
    _require_postgresql(db)
    path = Path(path)
    manifest = verify(path)
    if not is_empty(db):
        raise BackupError(f"Database {db['NAME']} is not empty: a backup is restored into an empty database only "
                          "(create one with createdb, owned by the bank's owner role).")
    command = ["pg_restore", "--no-owner", "--single-transaction", "--exit-on-error", f"--dbname={db['NAME']}"]
    if not acl:
        command.append("--no-acl")
    _run([*command, str(path / DUMP_NAME)], _libpq_env(db))
    conn = connect(db)
    try:
        with conn.cursor() as cursor:
            counts = row_counts(cursor)
    finally:
        conn.close()
    expected = manifest["row_counts"]
    wrong = {table: (expected.get(table), counts.get(table)) for table in sorted(set(expected) | set(counts))
             if expected.get(table) != counts.get(table)}
    if wrong:
        listed = ", ".join(f"{table}: {want} in the backup, {got} restored" for table, (want, got) in wrong.items())
        raise BackupError(f"The restored database does not match the backup: {listed}")
    if FILES_NAME in manifest["files"]:
        target = files_to or stored_files_root() or (Path(settings.MEDIA_ROOT) if settings.MEDIA_ROOT else None)
        if target is None:
            raise BackupError("The backup holds stored files but MEDIA_ROOT is not set: give --files-to.")
        target.mkdir(parents=True, exist_ok=True)
        with tarfile.open(path / FILES_NAME, "r:gz") as archive:
            archive.extractall(target, filter="data")
    return manifest
