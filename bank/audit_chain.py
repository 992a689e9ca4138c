"""The tamper-evident audit chain (21 CFR 11.10(c), (e)): history that a database superuser cannot rewrite unseen.

The append-only triggers of ``bank.audit`` stop every page, endpoint and script, but a superuser can disable
them. So every history row also gets a **link** (``bank.AuditLink``), written by a PostgreSQL trigger in the
same transaction as the row: the row's table, id and ``row_hash`` — the SHA-256 of its canonical JSON. The
**sealer** (``seal()``: a beat task every minute, and the commands) then chains the links in id order:
``chain_hash = sha256(previous chain_hash || row_hash)``. A daily **checkpoint** (``checkpoint()``) stores the
chain's head with an HMAC-SHA256 keyed by ``AUDIT_CHAIN_KEY``, a secret held outside the database.

``verify()`` recomputes every row hash from the history rows as they are now, the chain, and the checkpoints'
HMACs, and names the first broken link: a row changed (its hash differs), a row deleted (its link has no
row), a row without a link (inserted with the triggers off), a chain that does not follow, a chain re-hashed to
hide a change (a keyed checkpoint no longer matches), a forged checkpoint. Verification streams the chain in
batches; ``since_checkpoint`` verifies from the last good checkpoint only.

PostgreSQL only: the embedded SQLite demo has no triggers, hence no chain — ``verify()`` says so
(``supported=False``) rather than calling an unchained bank clean.

Canonical row form: ``to_jsonb(row)`` with empty values left out (null, "", false, 0, [] and {}) and rendered
in UTC, so a migration that adds a column with an empty default keeps old rows verifiable; a change from one
empty value to another is not seen as a change. Dropping or renaming a history column changes old rows'
hashes: take a checkpoint and record the migration before such a change.
"""

from __future__ import annotations

import datetime
import functools
import hashlib
import hmac
import logging
import os
import secrets
import time
from collections import defaultdict
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.db import connection, connections, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from bank.audit import _TRIGGER_FUNCTION as _APPEND_ONLY_FUNCTION
from bank.audit import audited_models
from bank.models import AuditCheckpoint, AuditLink

log = logging.getLogger(__name__)

GENESIS = "0" * 64
# pg advisory lock keys (arbitrary, fixed): writers hold LINK_LOCK shared while they may still add links;
# one sealer at a time holds SEAL_LOCK.
LINK_LOCK = 7_011_511_001  # also written in _LINK_FUNCTION
SEAL_LOCK = 7_011_511_002
# The migration that links a bank's existing history also seals it when it is at most this many rows.
BACKFILL_SEAL_LIMIT = 100_000
LINK_TABLE = AuditLink._meta.db_table
CHECKPOINT_TABLE = AuditCheckpoint._meta.db_table


# --- the key held outside the database ------------------------------------------------------------------


def _key_id(key: bytes) -> str:
    return hashlib.sha256(b"stembank audit chain key id\0" + key).hexdigest()[:16]


def _demo_key_file() -> Path:
    return Path(settings.VAR_DIR) / "audit-chain.key"


def chain_key() -> bytes:
    """The checkpoint key: ``AUDIT_CHAIN_KEY`` (or ``AUDIT_CHAIN_KEY_FILE``). Outside production a key file under
    VAR_DIR is generated on first use; production refuses to run without a configured key."""
    configured = getattr(settings, "AUDIT_CHAIN_KEY", "")
    if configured:
        return configured.encode("utf-8")
    if getattr(settings, "PRODUCTION", False):
        raise ImproperlyConfigured("AUDIT_CHAIN_KEY (or AUDIT_CHAIN_KEY_FILE) is required in production.")
    path = _demo_key_file()
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            pass  # another process made it first: read theirs
        else:
            with os.fdopen(fd, "w", encoding="utf-8") as handle:
                handle.write(secrets.token_hex(32) + "\n")
    return path.read_text(encoding="utf-8").strip().encode("utf-8")


def known_keys() -> dict[str, bytes]:
    """``{key id: key}``: the current key and ``AUDIT_CHAIN_PREVIOUS_KEYS`` (checkpoints made before a rotation)."""
    keys = [chain_key()] + [k.encode("utf-8") for k in getattr(settings, "AUDIT_CHAIN_PREVIOUS_KEYS", []) if k]
    return {_key_id(key): key for key in keys}


def _checkpoint_message(last_link_id: int, chain_hash: str, at: datetime.datetime) -> bytes:
    stamp = at.astimezone(datetime.UTC).isoformat(timespec="microseconds")
    return f"stembank-audit-checkpoint/v1|{last_link_id}|{chain_hash}|{stamp}".encode()


def checkpoint_signature(last_link_id: int, chain_hash: str, at: datetime.datetime, key: bytes) -> str:
    return hmac.new(key, _checkpoint_message(last_link_id, chain_hash, at), hashlib.sha256).hexdigest()


def chain_step(previous: str, row_hash: str) -> str:
    """``sha256(previous chain_hash || row_hash)`` over the hex strings."""
    return hashlib.sha256((previous + row_hash).encode("ascii")).hexdigest()


# --- PostgreSQL: functions and triggers installed after every migrate ------------------------------------

# Settings pinned for the duration of the hash so the canonical text never depends on the session
# (a psql session in another time zone, float output digits).
_ROW_HASH_FUNCTION = """
CREATE OR REPLACE FUNCTION stembank_audit_row_hash(r anyelement) RETURNS text
LANGUAGE plpgsql STABLE
SET timezone TO 'UTC' SET extra_float_digits TO 1 SET intervalstyle TO 'postgres' SET bytea_output TO 'hex'
AS $$
DECLARE
    v jsonb := to_jsonb(r);
    k text;
    e jsonb;
BEGIN
    FOR k, e IN SELECT * FROM jsonb_each(v) LOOP
        IF e IN ('null'::jsonb, '""'::jsonb, 'false'::jsonb, '0'::jsonb, '[]'::jsonb, '{}'::jsonb) THEN
            v := v - k;
        END IF;
    END LOOP;
    RETURN encode(sha256(convert_to(v::text, 'UTF8')), 'hex');
END;
$$;
"""

_LINK_FUNCTION = """
CREATE OR REPLACE FUNCTION stembank_audit_link() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    -- Held until this transaction ends: the sealer chains only links no running writer can still precede.
    PERFORM pg_advisory_xact_lock_shared(7011511001);  -- LINK_LOCK
    INSERT INTO "bank_auditlink" ("table", history_id, row_hash, chain_hash, recorded_at)
    VALUES (TG_TABLE_NAME, NEW.history_id, stembank_audit_row_hash(NEW), '', now());
    RETURN NULL;
END;
$$;
"""

# A link may only be sealed once (chain_hash '' -> a hash); nothing else about it changes and none is deleted.
_LINK_GUARD_FUNCTION = """
CREATE OR REPLACE FUNCTION stembank_audit_link_guard() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'UPDATE' AND OLD.chain_hash = '' AND NEW.chain_hash <> '' AND NEW.id = OLD.id
       AND NEW."table" = OLD."table" AND NEW.history_id = OLD.history_id AND NEW.row_hash = OLD.row_hash
       AND NEW.recorded_at = OLD.recorded_at THEN
        RETURN NEW;
    END IF;
    RAISE EXCEPTION 'the audit chain is append-only (% on %)', TG_OP, TG_TABLE_NAME
        USING ERRCODE = 'insufficient_privilege';
END;
$$;
"""


def history_tables() -> dict[str, type]:
    """``{history table: model}`` for every audited model of the project (read once per process)."""
    return dict(_history_tables())


@functools.cache
def _history_tables() -> dict[str, type]:
    return {model.history.model._meta.db_table: model for model in audited_models().values()}


def chain_supported(using: str = "default") -> bool:
    return connections[using].vendor == "postgresql"


def _trigger_name(table: str) -> str:
    return f"{table}_audit_link"[:63]


def install_audit_chain(**kwargs) -> None:
    """post_migrate receiver (PostgreSQL): the hash functions, a link trigger on every history table, the guards
    on the chain's own tables, and — for a history table that gets its trigger now and has no link yet (a bank
    migrating to the chain, a new model) — links for the rows it already holds, in history_date/id order.

    Idempotent and cheap when everything is in place (one catalogue query). A table that already has links but
    lost its trigger (dropped by a superuser) gets its trigger back, not links for the rows added meanwhile:
    those stay unlinked and ``verify()`` names them.
    """
    using = kwargs.get("using") or "default"
    conn = connections[using]
    if conn.vendor != "postgresql":
        return
    existing_tables = set(conn.introspection.table_names())
    if LINK_TABLE not in existing_tables:
        return
    wanted = sorted(t for t in history_tables() if t in existing_tables)
    with conn.cursor() as cursor:
        cursor.execute(_APPEND_ONLY_FUNCTION)
        cursor.execute(_ROW_HASH_FUNCTION)
        cursor.execute(_LINK_FUNCTION)
        cursor.execute(_LINK_GUARD_FUNCTION)
        guards = ["bank_auditlink_guard", "bank_auditcheckpoint_append_only"]
        cursor.execute("SELECT t.tgname, t.tgenabled, c.relname FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid "
                       "WHERE NOT t.tgisinternal AND t.tgname = ANY(%s)",
                       [[_trigger_name(t) for t in wanted] + guards])
        found = cursor.fetchall()
        present = {row[0] for row in found}
        for name, enabled, table in found:
            if enabled == "D":  # switched off by hand: back on (what was written meanwhile stays unlinked)
                log.error("audit chain: trigger %s on %s was disabled; enabling it", name, table)
                cursor.execute(f'ALTER TABLE "{table}" ENABLE TRIGGER "{name}"')
        new_tables: list[str] = []
        linked = 0
        for table in wanted:
            name = _trigger_name(table)
            if name in present:
                continue
            cursor.execute(
                f'CREATE TRIGGER "{name}" AFTER INSERT ON "{table}" '
                "FOR EACH ROW EXECUTE FUNCTION stembank_audit_link()"
            )
            new_tables.append(table)
        for table, name, function in ((LINK_TABLE, "bank_auditlink_guard", "stembank_audit_link_guard()"),
                                      (CHECKPOINT_TABLE, "bank_auditcheckpoint_append_only",
                                       "stembank_history_is_append_only()")):
            if name not in present:
                cursor.execute(f'DROP TRIGGER IF EXISTS "{name}" ON "{table}"')
                cursor.execute(f'CREATE TRIGGER "{name}" BEFORE UPDATE OR DELETE ON "{table}" '
                               f"FOR EACH ROW EXECUTE FUNCTION {function}")
        if new_tables:
            linked = _backfill(cursor, new_tables)
            if linked:
                log.info("audit chain: linked %s existing history rows", linked)
    if new_tables and linked:
        if linked <= BACKFILL_SEAL_LIMIT:
            seal(using=using)
        else:  # a large bank: the beat sealer chains them (minutes per million), not the migration
            log.warning("audit chain: %s links wait for the sealer (bank.tasks.seal_audit_chain or "
                        "manage.py audit_checkpoint)", linked)


def _backfill(cursor, tables: list[str]) -> int:
    """Link the rows of ``tables`` that have no link, oldest first across tables; skip tables with links."""
    cursor.execute('SELECT t FROM unnest(%s::varchar[]) AS t WHERE EXISTS '
                   '(SELECT 1 FROM "bank_auditlink" l WHERE l."table" = t)', [tables])
    already = {row[0] for row in cursor.fetchall()}
    if already:
        log.error("audit chain: the link trigger of %s was missing; rows written meanwhile stay unlinked",
                  ", ".join(sorted(already)))
    fresh = [t for t in tables if t not in already]
    if not fresh:
        return 0
    union = " UNION ALL ".join(
        f"SELECT '{t}'::varchar AS tbl, h.history_id, h.history_date, "  # noqa: S608
        f'stembank_audit_row_hash(h) AS row_hash FROM "{t}" h' for t in fresh
    )
    cursor.execute(
        'INSERT INTO "bank_auditlink" ("table", history_id, row_hash, chain_hash, recorded_at) '  # noqa: S608
        f"SELECT tbl, history_id, row_hash, '', now() FROM ({union}) AS rows "
        "ORDER BY history_date, tbl, history_id "
        'ON CONFLICT ("table", history_id) DO NOTHING'
    )
    return cursor.rowcount


def uninstall_audit_chain(using: str = "default") -> None:
    """Remove the chain's triggers and functions (the links stay). The reverse of ``install_audit_chain``."""
    conn = connections[using]
    if conn.vendor != "postgresql":
        return
    with conn.cursor() as cursor:
        for table in history_tables():
            cursor.execute(f'DROP TRIGGER IF EXISTS "{_trigger_name(table)}" ON "{table}"')
        cursor.execute('DROP TRIGGER IF EXISTS "bank_auditlink_guard" ON "bank_auditlink"')
        cursor.execute('DROP TRIGGER IF EXISTS "bank_auditcheckpoint_append_only" ON "bank_auditcheckpoint"')
        cursor.execute("DROP FUNCTION IF EXISTS stembank_audit_link()")
        cursor.execute("DROP FUNCTION IF EXISTS stembank_audit_link_guard()")
        cursor.execute("DROP FUNCTION IF EXISTS stembank_audit_row_hash(anyelement)")


# --- sealing ---------------------------------------------------------------------------------------------


def _sealing_horizon(cursor, wait_seconds: float) -> int | None:
    """The highest link id that no running transaction can still precede, or None when writers kept the
    chain busy for ``wait_seconds``.

    Link ids come from a sequence as rows are inserted, but transactions commit in any order: link 101 may
    be visible while 100 is still uncommitted. Every writer holds LINK_LOCK shared from its first link until it
    ends. Read the sequence first, then take LINK_LOCK exclusively for an instant: when that succeeds, every
    transaction that drew an id up to what was read has ended (committed or rolled back).
    """
    cursor.execute("SELECT pg_get_serial_sequence(%s, 'id')", [LINK_TABLE])
    sequence = cursor.fetchone()[0]
    deadline = time.monotonic() + wait_seconds
    while True:
        cursor.execute(f"SELECT last_value, is_called FROM {sequence}")  # noqa: S608
        last_value, is_called = cursor.fetchone()
        cursor.execute("SELECT pg_try_advisory_lock(%s)", [LINK_LOCK])
        if cursor.fetchone()[0]:
            cursor.execute("SELECT pg_advisory_unlock(%s)", [LINK_LOCK])
            return last_value if is_called else 0
        if time.monotonic() >= deadline:
            return None
        time.sleep(0.05)


def _last_sealed(cursor) -> tuple[int, str]:
    cursor.execute('SELECT id, chain_hash FROM "bank_auditlink" WHERE chain_hash <> \'\' ORDER BY id DESC LIMIT 1')
    row = cursor.fetchone()
    return (row[0], row[1]) if row else (0, GENESIS)


def seal(*, batch_size: int | None = None, wait_seconds: float = 5.0, using: str = "default") -> int:
    """Chain the unsealed links in id order; returns how many were sealed. One sealer at a time (a second call
    returns 0 at once); each batch commits on its own. A no-op without PostgreSQL."""
    conn = connections[using]
    if conn.vendor != "postgresql":
        return 0
    batch_size = batch_size or settings.AUDIT_SEAL_BATCH
    sealed = 0
    with conn.cursor() as cursor:
        cursor.execute("SELECT pg_try_advisory_lock(%s)", [SEAL_LOCK])
        if not cursor.fetchone()[0]:
            return 0
        try:
            horizon = _sealing_horizon(cursor, wait_seconds)
            if horizon is None:
                log.info("audit chain: writers busy, sealing deferred")
                return 0
            last_id, previous = _last_sealed(cursor)
            while True:
                with transaction.atomic(using=using):
                    cursor.execute(
                        'SELECT id, row_hash FROM "bank_auditlink" WHERE chain_hash = \'\' AND id > %s AND id <= %s '
                        "ORDER BY id LIMIT %s", [last_id, horizon, batch_size])
                    rows = cursor.fetchall()
                    if not rows:
                        break
                    ids, hashes = [], []
                    for link_id, row_hash in rows:
                        previous = chain_step(previous, row_hash)
                        ids.append(link_id)
                        hashes.append(previous)
                    cursor.execute(
                        'UPDATE "bank_auditlink" AS l SET chain_hash = v.h '
                        "FROM unnest(%s::bigint[], %s::varchar[]) AS v(id, h) WHERE l.id = v.id", [ids, hashes])
                    last_id = ids[-1]
                    sealed += len(ids)
                if len(rows) < batch_size:
                    break
        finally:
            cursor.execute("SELECT pg_advisory_unlock(%s)", [SEAL_LOCK])
    return sealed


def checkpoint(*, using: str = "default") -> AuditCheckpoint | None:
    """Seal, then store the chain's head with its HMAC (None: no chain, or nothing sealed yet)."""
    if not chain_supported(using):
        return None
    key = chain_key()
    seal(using=using)
    with connections[using].cursor() as cursor:
        last_id, head = _last_sealed(cursor)
    if not last_id:
        return None
    at = timezone.now()
    return AuditCheckpoint.objects.using(using).create(
        at=at, last_link_id=last_id, chain_hash=head, signature=checkpoint_signature(last_id, head, at, key),
        key_id=_key_id(key))


# --- verification ----------------------------------------------------------------------------------------

def kind_label(kind: str) -> str:
    labels = {
        "row_changed": _("row changed after it was written"),
        "row_deleted": _("row deleted"),
        "link_missing": _("link missing: row written with the triggers off"),
        "chain_broken": _("chain broken: the link does not follow from the one before"),
        "not_sealed": _("link left out of the chain"),
        "chain_rewritten": _("chain re-hashed: no longer matches a keyed checkpoint"),
        "checkpoint_forged": _("checkpoint forged: its keyed hash does not verify"),
    }
    return str(labels.get(kind, kind))


@dataclass
class Problem:
    """One break in the chain, with what a reader needs to find the record."""

    kind: str
    table: str = ""
    history_id: int | None = None
    link_id: int | None = None
    object_type: str = ""
    object_id: Any = None
    at: datetime.datetime | None = None
    detail: str = ""

    @property
    def label(self) -> str:
        return kind_label(self.kind)

    def as_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "label": self.label, "table": self.table, "history_id": self.history_id,
                "link_id": self.link_id, "object_type": self.object_type, "object_id": self.object_id,
                "at": self.at.isoformat() if self.at else None, "detail": self.detail}


@dataclass
class Verification:
    """The outcome of ``verify()``."""

    supported: bool
    mode: str = "full"
    started_at: datetime.datetime | None = None
    seconds: float = 0.0
    from_link_id: int = 0
    head_link_id: int = 0
    links_checked: int = 0
    rows_checked: int = 0
    checkpoints_checked: int = 0
    checkpoint_used: int | None = None
    unsealed: int = 0
    problem_count: int = 0
    problems: list[Problem] = field(default_factory=list)

    @property
    def clean(self) -> bool:
        return self.supported and self.problem_count == 0

    @property
    def first(self) -> Problem | None:
        return self.problems[0] if self.problems else None

    def as_dict(self) -> dict[str, Any]:
        return {
            "supported": self.supported, "clean": self.clean, "mode": self.mode,
            "started_at": self.started_at.isoformat() if self.started_at else None, "seconds": round(self.seconds, 3),
            "from_link_id": self.from_link_id, "head_link_id": self.head_link_id,
            "links_checked": self.links_checked, "rows_checked": self.rows_checked,
            "checkpoints_checked": self.checkpoints_checked, "checkpoint_used": self.checkpoint_used,
            "unsealed": self.unsealed, "problem_count": self.problem_count,
            "first": self.first.as_dict() if self.first else None,
            "problems": [p.as_dict() for p in self.problems],
        }


class _Collector:
    def __init__(self, limit: int):
        self.limit = limit
        self.items: list[Problem] = []
        self.count = 0

    def add(self, problem: Problem) -> None:
        self.count += 1
        if len(self.items) < self.limit:
            self.items.append(problem)


def _row_hashes(cursor, table: str, model, history_ids: list[int]) -> dict[int, tuple[str, Any, Any]]:
    """``{history_id: (row hash now, history_date, record id)}`` of the rows that still exist."""
    pk = model._meta.pk.attname
    cursor.execute(
        f'SELECT h.history_id, stembank_audit_row_hash(h), h.history_date, h."{pk}" FROM "{table}" h '  # noqa: S608
        "WHERE h.history_id = ANY(%s)", [history_ids])
    return {row[0]: (row[1], row[2], row[3]) for row in cursor.fetchall()}


def _good_checkpoints(collector: _Collector) -> tuple[list[AuditCheckpoint], int]:
    keys = known_keys()
    good, checked = [], 0
    for cp in AuditCheckpoint.objects.order_by("last_link_id", "id").iterator(chunk_size=2000):
        checked += 1
        key = keys.get(cp.key_id)
        expected = checkpoint_signature(cp.last_link_id, cp.chain_hash, cp.at, key) if key else None
        if expected is None or not hmac.compare_digest(expected, cp.signature):
            detail = (_("checkpoint #%(id)s of %(at)s at link %(link)s") % {"id": cp.pk, "at": cp.at.isoformat(),
                                                                            "link": cp.last_link_id})
            if key is None:
                detail += " — " + _("signed with a key this bank does not hold (key id %(key)s)") % {"key": cp.key_id}
            collector.add(Problem("checkpoint_forged", link_id=cp.last_link_id, at=cp.at, detail=detail))
            continue
        good.append(cp)
    return good, checked


def verify(*, since_checkpoint: bool = False, since: datetime.date | None = None, batch_size: int | None = None,
           limit: int = 100, progress: Callable[[int, int], None] | None = None) -> Verification:
    """Verify the chain (see the module docstring). ``since_checkpoint``: from the newest checkpoint whose HMAC
    verifies; ``since``: from the newest good checkpoint made on or before that date. Without either, the whole
    chain. Links newer than the last sealed one are counted (``unsealed``), not verified yet."""
    started = timezone.now()
    clock = time.monotonic()
    if not chain_supported():
        return Verification(supported=False, started_at=started)
    batch_size = batch_size or settings.AUDIT_VERIFY_BATCH
    tables = history_tables()
    collector = _Collector(limit)
    result = Verification(supported=True, started_at=started,
                          mode="incremental" if (since_checkpoint or since) else "full")
    good, result.checkpoints_checked = _good_checkpoints(collector)
    with connection.cursor() as cursor:
        head_id, _head_hash = _last_sealed(cursor)
        cursor.execute('SELECT count(*) FROM "bank_auditlink" WHERE chain_hash = \'\' AND id > %s', [head_id])
        result.unsealed = cursor.fetchone()[0]
    result.head_link_id = head_id
    start_id, previous, rows_since = 0, GENESIS, None
    if result.mode == "incremental":
        candidates = [cp for cp in good if cp.last_link_id <= head_id]
        if since is not None:
            candidates = [cp for cp in candidates if timezone.localtime(cp.at).date() <= since]
        if candidates:
            anchor = max(candidates, key=lambda cp: (cp.last_link_id, cp.at))
            result.checkpoint_used = anchor.pk
            start_id, previous = anchor.last_link_id, anchor.chain_hash
            # Rows committed after the checkpoint may carry an earlier history_date (a long transaction): a day
            # of margin for the rows-without-links check.
            rows_since = anchor.at - datetime.timedelta(days=1)
            stored = AuditLink.objects.filter(pk=anchor.last_link_id).values_list("chain_hash", flat=True).first()
            if stored != anchor.chain_hash:
                collector.add(Problem(
                    "chain_rewritten", link_id=anchor.last_link_id, at=anchor.at,
                    detail=_("the link of checkpoint #%(id)s is missing or was re-hashed") % {"id": anchor.pk}))
        else:
            result.mode = "full"
    result.from_link_id = start_id
    expected_at: dict[int, list[AuditCheckpoint]] = defaultdict(list)
    for cp in good:
        if start_id < cp.last_link_id <= head_id:
            expected_at[cp.last_link_id].append(cp)
    for batch in _link_batches(start_id, head_id, batch_size):
        by_table: dict[str, list[int]] = defaultdict(list)
        for link in batch:
            by_table[link[1]].append(link[2])
        now_rows: dict[tuple[str, int], tuple[str, Any, Any]] = {}
        with connection.cursor() as cursor:
            for table, ids in by_table.items():
                model = tables.get(table)
                if model is None:
                    continue
                for history_id, values in _row_hashes(cursor, table, model, ids).items():
                    now_rows[(table, history_id)] = values
        for link_id, table, history_id, row_hash, chain_hash, recorded_at in batch:
            result.links_checked += 1
            model = tables.get(table)
            object_type = model._meta.model_name if model is not None else ""
            now = now_rows.get((table, history_id))
            if now is None:
                collector.add(Problem("row_deleted", table, history_id, link_id, object_type, None, recorded_at,
                                      _("no row %(id)s in %(table)s") % {"id": history_id, "table": table}))
            else:
                result.rows_checked += 1
                if now[0] != row_hash:
                    collector.add(Problem("row_changed", table, history_id, link_id, object_type, now[2], now[1],
                                          _("the row's hash is %(now)s; when written it was %(then)s")
                                          % {"now": now[0][:16], "then": row_hash[:16]}))
            if not chain_hash:
                collector.add(Problem("not_sealed", table, history_id, link_id, object_type,
                                      now[2] if now else None, recorded_at,
                                      _("unsealed although later links are sealed")))
                continue
            if chain_step(previous, row_hash) != chain_hash:
                collector.add(Problem("chain_broken", table, history_id, link_id, object_type,
                                      now[2] if now else None, recorded_at,
                                      _("a link before it was removed, or this link's hashes were edited")))
            previous = chain_hash  # carry on from what is stored: one break is reported once
            for cp in expected_at.pop(link_id, []):
                if cp.chain_hash != chain_hash:
                    collector.add(Problem(
                        "chain_rewritten", table, history_id, link_id, object_type, now[2] if now else None, cp.at,
                        _("checkpoint #%(id)s of %(at)s recorded another chain hash at this link: a history row "
                          "up to this link was changed and the chain re-hashed to hide it (after link %(after)s, "
                          "the previous good checkpoint)")
                        % {"id": cp.pk, "at": cp.at.isoformat(), "after": _previous_anchor(good, link_id)}))
        if progress is not None:
            progress(result.links_checked, head_id)
    for link_id, cps in sorted(expected_at.items()):
        for cp in cps:
            collector.add(Problem("chain_rewritten", link_id=link_id, at=cp.at,
                                  detail=_("the link of checkpoint #%(id)s is missing") % {"id": cp.pk}))
    _rows_without_links(tables, rows_since, collector)
    collector.items.sort(key=_problem_order)
    result.problems = collector.items
    result.problem_count = collector.count
    result.seconds = time.monotonic() - clock
    return result


def _previous_anchor(good: list[AuditCheckpoint], link_id: int) -> int:
    before = [cp.last_link_id for cp in good if cp.last_link_id < link_id]
    return max(before) if before else 0


def _problem_order(problem: Problem):
    # Links in chain order first (the first broken link), then rows without a link by date, then checkpoints.
    if problem.link_id is not None and problem.kind != "checkpoint_forged":
        return (0, problem.link_id, 0)
    if problem.kind == "link_missing":
        return (1, problem.at.timestamp() if problem.at else 0, problem.history_id or 0)
    return (2, problem.link_id or 0, 0)


def _link_batches(after_id: int, up_to_id: int, batch_size: int) -> Iterator[list[tuple]]:
    """The links (id, table, history_id, row_hash, chain_hash, recorded_at) in id order, a batch at a time
    (keyset pages on the primary key: no long transaction, constant memory)."""
    last = after_id
    while last < up_to_id:
        with connection.cursor() as cursor:
            cursor.execute(
                'SELECT id, "table", history_id, row_hash, chain_hash, recorded_at FROM "bank_auditlink" '
                "WHERE id > %s AND id <= %s ORDER BY id LIMIT %s", [last, up_to_id, batch_size])
            rows = cursor.fetchall()
        if not rows:
            return
        yield rows
        last = rows[-1][0]


def _rows_without_links(tables: dict[str, type], since: datetime.datetime | None, collector: _Collector) -> None:
    """History rows that have no link at all (written while the trigger was disabled or dropped)."""
    with connection.cursor() as cursor:
        for table, model in sorted(tables.items()):
            pk = model._meta.pk.attname
            params: list[Any] = [table]
            condition = ""
            if since is not None:
                condition = "AND h.history_date >= %s "
                params.append(since)
            cursor.execute(
                f'SELECT h.history_id, h.history_date, h."{pk}" FROM "{table}" h WHERE NOT EXISTS '  # noqa: S608
                '(SELECT 1 FROM "bank_auditlink" l WHERE l."table" = %s AND l.history_id = h.history_id) '
                f"{condition}ORDER BY h.history_date, h.history_id LIMIT %s", [*params, collector.limit + 1])
            for history_id, history_date, object_id in cursor.fetchall():
                collector.add(Problem("link_missing", table, history_id, None, model._meta.model_name, object_id,
                                      history_date, _("no link for row %(id)s of %(table)s")
                                      % {"id": history_id, "table": table}))


# --- status for pages and the API ---------------------------------------------------------------------------


def chain_status() -> dict[str, Any]:
    """Counts and the last checkpoint, for the integrity page (a few index reads, no scan)."""
    if not chain_supported():
        return {"supported": False}
    with connection.cursor() as cursor:
        head_id, head_hash = _last_sealed(cursor)
        cursor.execute('SELECT count(*), min(recorded_at) FROM "bank_auditlink" WHERE chain_hash = \'\'')
        unsealed, oldest_unsealed = cursor.fetchone()
        cursor.execute('SELECT max(id) FROM "bank_auditlink"')
        last_id = cursor.fetchone()[0] or 0
        tables = sorted(history_tables())
        cursor.execute("SELECT c.relname FROM pg_class c WHERE c.relkind = 'r' AND c.relname = ANY(%s) AND NOT EXISTS "
                       "(SELECT 1 FROM pg_trigger t WHERE t.tgrelid = c.oid AND t.tgname = c.relname || '_audit_link' "
                       "AND t.tgenabled <> 'D')", [tables])
        unguarded = sorted(row[0] for row in cursor.fetchall())
    latest = AuditCheckpoint.objects.order_by("-last_link_id", "-id").first()
    return {
        "supported": True, "head_link_id": head_id, "head_hash": head_hash if head_id else "",
        "unguarded_tables": unguarded,
        "last_link_id": last_id, "unsealed": unsealed, "oldest_unsealed": oldest_unsealed,
        "checkpoints": AuditCheckpoint.objects.count(),
        "last_checkpoint": ({"id": latest.pk, "at": latest.at, "last_link_id": latest.last_link_id,
                             "chain_hash": latest.chain_hash, "key_id": latest.key_id} if latest else None),
    }


def link_states(table: str, model, history_ids: list[int]) -> dict[int, dict[str, Any]]:
    """The chain state of some rows of one history table, for exports: ``{history_id: {"link", "state"}}`` where
    state is ``verified`` (row hash matches its link, sealed, and the link follows from the one before it),
    ``unsealed`` (written less than a sealing run ago), ``row_changed``, ``chain_broken`` or ``link_missing``.
    Three queries whatever the number of rows. Empty without PostgreSQL."""
    if not history_ids or not chain_supported():
        return {}
    with connection.cursor() as cursor:
        cursor.execute(
            'SELECT l.history_id, l.id, l.row_hash, l.chain_hash, (SELECT p.chain_hash FROM "bank_auditlink" p '
            'WHERE p.id < l.id ORDER BY p.id DESC LIMIT 1) FROM "bank_auditlink" l '
            'WHERE l."table" = %s AND l.history_id = ANY(%s)', [table, history_ids])
        links = {row[0]: row[1:] for row in cursor.fetchall()}
        now = _row_hashes(cursor, table, model, history_ids)
    states: dict[int, dict[str, Any]] = {}
    for history_id in history_ids:
        link = links.get(history_id)
        if link is None:
            states[history_id] = {"link": None, "state": "link_missing"}
            continue
        link_id, row_hash, chain_hash, previous = link
        current = now.get(history_id)
        if current is not None and current[0] != row_hash:
            state = "row_changed"
        elif not chain_hash:
            state = "unsealed"
        elif chain_step(previous or GENESIS, row_hash) != chain_hash:
            state = "chain_broken"
        else:
            state = "verified"
        states[history_id] = {"link": link_id, "state": state}
    return states


def daily_checkpoint() -> dict[str, Any]:
    """What the daily beat task and ``manage.py audit_checkpoint --verify`` do: seal, verify since the last good
    checkpoint, store a new keyed checkpoint, and tell admins and QA (in-app and by e-mail) when the
    verification found a break. Returns a summary."""
    if not chain_supported():
        return {"supported": False}
    seal()
    result = verify(since_checkpoint=True)
    made = checkpoint()
    if not result.clean:
        from django.urls import reverse

        from bank.notifications import notify_role
        from bank.roles import ADMIN, QA

        first = result.first
        notify_role(
            ADMIN, QA,
            subject=_("The audit trail failed its integrity check: %(what)s") % {"what": first.label},
            body=_("%(count)s problem(s); the first: %(table)s row %(row)s (%(type)s %(id)s) — %(detail)s")
            % {"count": result.problem_count, "table": first.table or "—", "row": first.history_id or "—",
               "type": first.object_type or "—", "id": first.object_id or "—", "detail": first.detail},
            link=reverse("audit-integrity"), level="alarm",
        )
    return {"supported": True, "clean": result.clean, "problem_count": result.problem_count,
            "checkpoint": made.pk if made else None, "head_link_id": made.last_link_id if made else None}
