"""``manage.py load_scale``: the bank at national scale, loaded set-based (issue 13).

Each app contributes a ``scale.py`` step (``load(ctx)``) that writes its rows with ``INSERT … SELECT
generate_series`` or ``COPY`` — never the ORM row by row — using the models' tables and columns from ``_meta``.
This module holds what every step shares: the profile sizes, the ``ScaleContext`` (cursor, reserved id ranges,
users, the temp tables earlier steps left), the column-checked ``insert`` helper, the numbers taken from
``bank.Sequence``, and the last step, which writes the history rows of the main records and links them into
the tamper-evident audit chain (``bank.audit_chain``) exactly as the per-row trigger would, already sealed.

bank imports no app: the steps hand their models in through the context.
"""

from __future__ import annotations

import datetime
import io
import re
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from django.db import models
from django.utils import timezone

SCALE_PREFIX = "SCALE-"
MARKER_PREFIX = "scale:"


@dataclass(frozen=True)
class Profile:
    """Sizes of one profile. ``national`` is the issue's bank; ``ci`` a hundredth of it; ``test`` a few rows."""

    name: str
    units: int              # cord blood units (each: mother, infant donor, consent, screening, collection ...)
    lines: int              # hPSC and MSC lines, each an MCB and ``wcbs`` WCBs
    mcb_vials: int
    wcbs: int
    wcb_vials: int
    storage_units: int
    requests: int
    researchers: int
    years: int = 10         # cord blood collected over this many years, up to yesterday

    @property
    def code(self) -> str:
        return self.name[0].upper()


PROFILES = {
    "national": Profile("national", units=1_000_000, lines=4_000, mcb_vials=100, wcbs=3, wcb_vials=200,
                        storage_units=300, requests=50_000, researchers=200),
    "ci": Profile("ci", units=10_000, lines=40, mcb_vials=100, wcbs=3, wcb_vials=200, storage_units=3,
                  requests=500, researchers=10),
    # For the test suite only: every kind of row, in seconds.
    "test": Profile("test", units=300, lines=8, mcb_vials=100, wcbs=3, wcb_vials=200, storage_units=3,
                    requests=20, researchers=3, years=2),
}


def marker_key(profile: Profile) -> str:
    return f"{MARKER_PREFIX}{profile.name}"


@dataclass
class HistorySpec:
    """Rows ``lo <= id < hi`` of ``model`` get one creation history row ('+') dated by ``date_sql`` (an SQL
    expression over the row ``m``), by ``user_id``, with ``reason``."""

    model: type[models.Model]
    lo: int
    hi: int
    date_sql: str
    user_id: int | None
    reason: str


@dataclass
class ScaleContext:
    """What the steps share: the profile, one cursor in the load's transaction, the users and what earlier
    steps made (``data``: id bases, temp table names, counts)."""

    profile: Profile
    cursor: Any
    stdout: Any = None
    seed: int = 20_260_413
    users: dict[str, int] = field(default_factory=dict)
    names: dict[str, str] = field(default_factory=dict)
    researchers: list[int] = field(default_factory=list)
    data: dict[str, Any] = field(default_factory=dict)
    history: list[HistorySpec] = field(default_factory=list)
    counts: dict[str, int] = field(default_factory=dict)
    timings: list[tuple[str, float]] = field(default_factory=list)
    trace: float = 0.0  # print the statements that take at least this many seconds (0: none)
    now: datetime.datetime = field(default_factory=lambda: timezone.now().replace(microsecond=0))

    # --- small SQL helpers -----------------------------------------------------------------------------

    def execute(self, sql: str, params: Sequence | dict | None = None) -> int:
        start = time.perf_counter()
        self.cursor.execute(sql, params)
        elapsed = time.perf_counter() - start
        if self.trace and elapsed >= self.trace:
            self.say(f"    {elapsed:6.2f} s  {' '.join(sql.split())[:110]}")
        return self.cursor.rowcount

    def one(self, sql: str, params: Sequence | dict | None = None):
        self.execute(sql, params)
        return self.cursor.fetchone()

    def all(self, sql: str, params: Sequence | dict | None = None) -> list[tuple]:
        self.execute(sql, params)
        return self.cursor.fetchall()

    def say(self, text: str) -> None:
        if self.stdout is not None:
            self.stdout.write(text)

    @property
    def tz(self) -> str:
        return timezone.get_current_timezone_name()

    def reserve_ids(self, model: type[models.Model], count: int) -> int:
        """The first of ``count`` consecutive primary keys of ``model``'s table, taken from its identity
        sequence (the table is locked by the load: nobody else draws from it meanwhile)."""
        if count <= 0:
            return 0
        table = model._meta.db_table
        # The load's transaction keeps other writers of the table out until it commits (readers go on).
        self.execute(f'LOCK TABLE "{table}" IN EXCLUSIVE MODE')
        sequence = self.one("SELECT pg_get_serial_sequence(%s, %s)", [table, model._meta.pk.column])[0]
        first = self.one("SELECT nextval(%s)", [sequence])[0]
        if count > 1:
            self.execute("SELECT setval(%s, %s)", [sequence, first + count - 1])
        return first

    def take_numbers(self, key: str, count: int) -> int:
        """Advance the ``bank.Sequence`` family ``key`` by ``count``; the first number of the block (the app's
        next number then follows the block, as ``bank.sequences.take`` would have given it)."""
        from bank.models import Sequence
        from bank.sequences import _key

        table = Sequence._meta.db_table
        key = _key(key)
        self.execute(f'INSERT INTO "{table}" (key, last_value) VALUES (%s, 0) ON CONFLICT (key) DO NOTHING', [key])  # noqa: S608
        last = self.one(f'SELECT last_value FROM "{table}" WHERE key = %s FOR UPDATE', [key])[0]  # noqa: S608
        self.execute(f'UPDATE "{table}" SET last_value = %s WHERE key = %s', [last + count, key])  # noqa: S608
        return last + 1

    def take_numbers_by_group(self, rows: Iterable[tuple[Any, str, int]]) -> list[tuple[Any, int]]:
        """``[(group, key, count)]`` → ``[(group, first number)]`` (e.g. one collection-number family per year)."""
        return [(group, self.take_numbers(key, count)) for group, key, count in rows if count]

    def temp_table(self, name: str, columns: str, rows: Iterable[Sequence[Any]] = ()) -> str:
        """A temp table dropped at commit, filled from ``rows`` by COPY."""
        self.execute(f"DROP TABLE IF EXISTS {name}")
        self.execute(f"CREATE TEMP TABLE {name} ({columns}) ON COMMIT DROP")
        rows = list(rows)
        if rows:
            names = [c.strip().split()[0] for c in re.split(r",(?![^()]*\))", columns)]
            copy_rows(self.cursor, name, names, rows)
        return name

    def insert(self, model: type[models.Model], values: dict[str, str], from_sql: str,
               params: Sequence | dict | None = None, *, label: str | None = None) -> int:
        """``INSERT INTO <model's table> (<columns>) SELECT <values> <from_sql>``.

        ``values`` maps field names to SQL expressions. A concrete field left out takes its constant default,
        or NULL when nullable; a NOT NULL field without either is an error here, so a new required column
        shows up as a failing load, not as a silently wrong row.
        """
        columns, exprs = insert_columns(model, values)
        if params is not None:  # a literal % in an expression must not read as a placeholder
            exprs = [re.sub(r"%(?!s)", "%%", e) for e in exprs]
        sql = (f'INSERT INTO "{model._meta.db_table}" ({", ".join(columns)}) '  # noqa: S608
               f'SELECT {", ".join(exprs)} {from_sql}')
        count = self.execute(sql, params)
        key = label or model._meta.label
        self.counts[key] = self.counts.get(key, 0) + count
        return count

    def slot(self, kind: str, k_sql: str) -> dict[str, str]:
        """The box, row and column of the ``k``-th bag or culture vial (``kind`` ``bag`` or ``vial``) as SQL
        expressions, in the boxes the storage layout step made (``data[kind + "_box0"]``, ``_grid``)."""
        box0 = self.data[f"{kind}_box0"]
        rows, cols = self.data[f"{kind}_grid"]
        size = rows * cols
        return {"box_id": f"{box0} + ({k_sql}) / {size}", "row": f"(({k_sql}) % {size}) / {cols} + 1",
                "col": f"({k_sql}) % {cols} + 1"}

    def add_history(self, model: type[models.Model], lo: int, count: int, *, date_sql: str, reason: str,
                    user: str = "technician") -> None:
        """Ask the history step for creation rows of ``count`` rows of ``model`` from id ``lo``."""
        if count > 0 and hasattr(model, "history"):
            self.history.append(HistorySpec(model, lo, lo + count, date_sql, self.users.get(user), reason))


def column(model: type[models.Model], name: str) -> str:
    """The quoted column of field ``name`` (a field name or attname) of ``model``."""
    return f'"{model._meta.get_field(name).column}"'


def table(model: type[models.Model]) -> str:
    return f'"{model._meta.db_table}"'


def _literal(value: Any) -> str:
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, list | dict):
        import json

        return "'" + json.dumps(value).replace("'", "''") + "'::jsonb"
    return "'" + str(value).replace("'", "''") + "'"


def insert_columns(model: type[models.Model], values: dict[str, str]) -> tuple[list[str], list[str]]:
    fields = {f.name: f for f in model._meta.concrete_fields}
    fields.update({f.attname: f for f in model._meta.concrete_fields})
    given = {}
    for name, expr in values.items():
        if name not in fields:
            raise ValueError(f"{model._meta.label} has no field {name!r}")
        given[fields[name].attname] = expr
    columns, exprs = [], []
    for f in model._meta.concrete_fields:
        if f.attname in given:
            columns.append(f'"{f.column}"')
            exprs.append(given[f.attname])
        elif f.primary_key:
            continue
        elif f.db_default is not models.NOT_PROVIDED:
            continue
        elif f.has_default() and not callable(f.default):
            columns.append(f'"{f.column}"')
            exprs.append("NULL" if f.default is None else _literal(f.default))
        elif f.has_default() and f.default in (list, dict):
            columns.append(f'"{f.column}"')
            exprs.append("'[]'::jsonb" if f.default is list else "'{}'::jsonb")
        elif f.null:
            continue
        else:
            raise ValueError(f"load_scale: {model._meta.label}.{f.name} is required and was not given")
    return columns, exprs


def _copy_text(value: Any) -> str:
    if value is None:
        return r"\N"
    if isinstance(value, bool):
        return "t" if value else "f"
    if isinstance(value, datetime.datetime | datetime.date):
        return value.isoformat()
    text = str(value)
    return text.replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n").replace("\r", "\\r")


def copy_rows(cursor, table_name: str, columns: Sequence[str], rows: Iterable[Sequence[Any]],
              batch: int = 200_000) -> int:
    """COPY ``rows`` into ``table_name`` (psycopg2 ``copy_expert``), a batch at a time. Returns the count."""
    raw = getattr(cursor, "cursor", cursor)
    while hasattr(raw, "cursor") and not hasattr(raw, "copy_expert"):
        raw = raw.cursor
    sql = f'COPY {table_name} ({", ".join(columns)}) FROM STDIN'
    total = 0
    buffer = io.StringIO()
    pending = 0
    for row in rows:
        buffer.write("\t".join(_copy_text(v) for v in row))
        buffer.write("\n")
        pending += 1
        if pending >= batch:
            buffer.seek(0)
            raw.copy_expert(sql, buffer)
            total += pending
            buffer, pending = io.StringIO(), 0
    if pending:
        buffer.seek(0)
        raw.copy_expert(sql, buffer)
        total += pending
    return total


# --- the bank's own step: the actors of the load --------------------------------------------------------

SCALE_USERS = {
    # role -> (username, full name)
    "technician": ("scale-technician", "Scale Technician"),
    "coordinator": ("scale-coordinator", "Scale Coordinator"),
    "qa": ("scale-qa", "Scale QA Officer"),
    "admin": ("scale-admin", "Scale Admin"),
}


def ensure_users(profile: Profile) -> tuple[dict[str, int], dict[str, str], list[int]]:
    """The scale load's accounts (created once, through the app's ``save_user``): one per bank role and
    ``profile.researchers`` researchers. Returns ``({role: id}, {role: printed name}, [researcher ids])``."""
    from django.contrib.auth import get_user_model

    from bank.services import save_user

    User = get_user_model()
    users, names = {}, {}
    for role, (username, full_name) in SCALE_USERS.items():
        user = User.objects.filter(username=username).first() or save_user(
            username, roles=[role], password=None, full_name=full_name, reason="scale load")
        users[role] = user.pk
        names[role] = user.get_full_name() or user.get_username()
    researchers = []
    for n in range(1, profile.researchers + 1):
        username = f"scale-researcher-{n:03d}"
        user = User.objects.filter(username=username).first() or save_user(
            username, roles=["researcher"], password=None, full_name=f"Scale Researcher {n:03d}",
            email=f"{username}@example.org", reason="scale load")
        researchers.append(user.pk)
    return users, names, researchers


# --- the last step: history rows and their links in the audit chain ---------------------------------------

# The row hash of bank.audit_chain (stembank_audit_row_hash: to_jsonb of the row without its empty values, as
# text, under pinned settings) written as one SQL expression per table: each column made NULL when empty for its
# type, jsonb_build_object + jsonb_strip_nulls. Same canonical text, without a PL/pgSQL loop per row;
# verify_audit recomputes every hash with the function itself.
_EMPTY_BY_TYPE = {
    "character varying": "NULLIF({c}, '')", "text": "NULLIF({c}, '')", "character": "NULLIF({c}, '')",
    "boolean": "NULLIF({c}, false)", "smallint": "NULLIF({c}, 0)", "integer": "NULLIF({c}, 0)",
    "bigint": "NULLIF({c}, 0)", "numeric": "NULLIF({c}, 0)", "double precision": "NULLIF({c}, 0)",
    "real": "NULLIF({c}, 0)",
}


def row_hash_sql(ctx: ScaleContext, table_name: str, alias: str = "h") -> str:
    columns = ctx.all("SELECT column_name, data_type FROM information_schema.columns WHERE table_schema = "
                      "current_schema() AND table_name = %s ORDER BY ordinal_position", [table_name])
    if any(data_type == "json" for _c, data_type in columns):
        raise ValueError(f"load_scale cannot hash {table_name}: a json (not jsonb) column")
    pairs, nested = [], []
    for name, data_type in columns:
        ref = f'{alias}."{name}"'
        if data_type == "jsonb":
            # jsonb_strip_nulls is recursive: a JSON column's own nulls must stay, so it joins on its own.
            nested.append(f"CASE WHEN {ref} IS NULL OR {ref} IN ('null'::jsonb, '\"\"'::jsonb, 'false'::jsonb, "
                          f"'0'::jsonb, '[]'::jsonb, '{{}}'::jsonb) THEN '{{}}'::jsonb "
                          f"ELSE jsonb_build_object('{name}', {ref}) END")
        else:
            pairs.append(f"'{name}', " + _EMPTY_BY_TYPE.get(data_type, "{c}").format(c=ref))
    # jsonb_build_object takes at most 100 arguments: objects of 50 pairs, joined.
    chunks = [pairs[i:i + 50] for i in range(0, len(pairs), 50)]
    obj = " || ".join([f"jsonb_strip_nulls(jsonb_build_object({', '.join(chunk)}))" for chunk in chunks] + nested)
    return f"encode(sha256(convert_to(({obj})::text, 'UTF8')), 'hex')"


_HASH_SETTINGS = {"timezone": "UTC", "extra_float_digits": "1", "intervalstyle": "postgres", "bytea_output": "hex"}


def _history_columns(model: type[models.Model], spec: HistorySpec) -> tuple[list[str], list[str]]:
    history = model.history.model
    source = {f.attname: f for f in model._meta.concrete_fields}
    columns, exprs = [], []
    for f in history._meta.concrete_fields:
        if f.name == "history_id":
            continue
        columns.append(f'"{f.column}"')
        if f.name == "history_date":
            exprs.append(spec.date_sql)
        elif f.name == "history_change_reason":
            exprs.append(_literal(spec.reason[:100]))
        elif f.name == "history_type":
            exprs.append("'+'")
        elif f.attname == "history_user_id":
            exprs.append("NULL" if spec.user_id is None else str(int(spec.user_id)))
        elif f.attname in source:
            exprs.append(f'm."{source[f.attname].column}"')
        else:
            raise ValueError(f"load_scale: history column {history._meta.label}.{f.name} has no source")
    return columns, exprs


def can_bypass_triggers(ctx: ScaleContext) -> bool:
    """Superusers may switch the session to ``replica`` (per-row triggers off) for the history inserts."""
    return bool(ctx.one("SELECT rolsuper FROM pg_roles WHERE rolname = current_user")[0])


def write_history(ctx: ScaleContext) -> None:
    """One creation row per main record, then its link in the audit chain, sealed.

    The link trigger (``stembank_audit_link``) would hash and link each row one at a time; here the rows are
    inserted with the session's per-row triggers off (``session_replication_role = replica``, superuser only,
    this transaction only) and the links are written set-wise with the same table, history id and row hash,
    and their chain hashes computed in id order from the last sealed link — what the sealer would compute.
    Every history table written is locked first, so no other writer's row can slip between them. Without
    superuser rights the triggers stay on and the links wait for the sealer (``audit_checkpoint``).
    """
    from bank import audit_chain

    specs = ctx.history
    if not specs:
        return
    fast = can_bypass_triggers(ctx)
    tables = sorted({spec.model.history.model._meta.db_table for spec in specs})
    ctx.execute("LOCK TABLE " + ", ".join(f'"{t}"' for t in [*tables, audit_chain.LINK_TABLE])
                + " IN EXCLUSIVE MODE")
    # Hold the link lock: the sealer waits, and no writer adds a link between ours.
    ctx.execute("SELECT pg_advisory_xact_lock(%s)", [audit_chain.LINK_LOCK])
    first_ids: dict[str, int] = {}
    for t in tables:
        first_ids[t] = ctx.one(f'SELECT coalesce(max(history_id), 0) FROM "{t}"')[0]  # noqa: S608
    if fast:
        ctx.execute("SET LOCAL session_replication_role = replica")
    written = 0
    for spec in specs:
        columns, exprs = _history_columns(spec.model, spec)
        history_table = spec.model.history.model._meta.db_table
        pk = spec.model._meta.pk.column
        written += ctx.execute(
            f'INSERT INTO "{history_table}" ({", ".join(columns)}) '  # noqa: S608
            f'SELECT {", ".join(exprs)} FROM "{spec.model._meta.db_table}" m '
            f'WHERE m."{pk}" >= %s AND m."{pk}" < %s ORDER BY m."{pk}"', [spec.lo, spec.hi])
    ctx.counts["history rows"] = ctx.counts.get("history rows", 0) + written
    if not fast:
        ctx.say("  history: not a superuser; the link trigger linked each row (the sealer chains them)")
        return
    ctx.execute("SET LOCAL session_replication_role = origin")
    _link_and_seal(ctx, tables, first_ids)


def _link_and_seal(ctx: ScaleContext, tables: list[str], first_ids: dict[str, int]) -> None:
    from bank import audit_chain

    cursor = ctx.cursor
    # Links written before ours and not sealed yet (accounts just created ...) are chained first, in order.
    last_id, previous = audit_chain._last_sealed(cursor)
    pending = ctx.all(f'SELECT id, row_hash FROM "{audit_chain.LINK_TABLE}" WHERE chain_hash = \'\' AND id > %s '  # noqa: S608
                      "ORDER BY id", [last_id])
    if pending:
        ids, hashes = [], []
        for link_id, row_hash in pending:
            previous = audit_chain.chain_step(previous, row_hash)
            ids.append(link_id)
            hashes.append(previous)
        ctx.execute(f'UPDATE "{audit_chain.LINK_TABLE}" AS l SET chain_hash = v.h '  # noqa: S608
                    "FROM unnest(%s::bigint[], %s::varchar[]) AS v(id, h) WHERE l.id = v.id", [ids, hashes])
    saved = {name: ctx.one(f"SELECT current_setting('{name}')")[0] for name in _HASH_SETTINGS}
    for name, value in _HASH_SETTINGS.items():
        ctx.execute(f"SET LOCAL {name} TO '{value}'")
    recorded_at = ctx.now
    link_table = audit_chain.LINK_TABLE
    sequence = ctx.one("SELECT pg_get_serial_sequence(%s, 'id')", [link_table])[0]
    total = 0
    for t in tables:
        count = ctx.one(f'SELECT count(*) FROM "{t}" WHERE history_id > %s', [first_ids[t]])[0]  # noqa: S608
        if not count:
            continue
        first_link = ctx.one("SELECT nextval(%s)", [sequence])[0]
        if count > 1:
            ctx.execute("SELECT setval(%s, %s)", [sequence, first_link + count - 1])
        hash_sql = row_hash_sql(ctx, t)
        link_id = first_link
        # One pass over the new rows with a server-side cursor; the links go in by COPY a batch at a time.
        reader = cursor.connection.cursor(name=f"scale_links_{t}"[:63])
        reader.itersize = 50_000
        reader.execute(f'SELECT h.history_id, {hash_sql} FROM "{t}" h WHERE h.history_id > %s '  # noqa: S608
                       "ORDER BY h.history_id", [first_ids[t]])
        while True:
            rows = reader.fetchmany(50_000)
            if not rows:
                break
            out = []
            for history_id, row_hash in rows:
                previous = audit_chain.chain_step(previous, row_hash)
                out.append((link_id, t, history_id, row_hash, previous, recorded_at))
                link_id += 1
            copy_rows(cursor, f'"{link_table}"', ["id", '"table"', "history_id", "row_hash", "chain_hash",
                                                  "recorded_at"], out)
            total += len(out)
        reader.close()
    for name, value in saved.items():
        ctx.execute(f"SET LOCAL {name} TO %s", [value])
    ctx.counts["audit links"] = ctx.counts.get("audit links", 0) + total


# --- after a load with the triggers off: what the triggers would have done ------------------------------------

def validate_foreign_keys(ctx: ScaleContext) -> int:
    """Check every foreign key of every table this transaction wrote, one anti-join per constraint.

    With ``session_replication_role = replica`` PostgreSQL skips the per-row foreign-key triggers; a load of
    tens of millions of rows would otherwise queue one deferred check per row and spend a quarter of an hour in
    COMMIT. One hash anti-join per constraint checks the same thing in seconds. A dangling reference raises
    ``ValueError`` (the load rolls back). Returns the number of constraints checked."""
    constraints = ctx.all("""
        SELECT c.conname, c.conrelid::regclass::text, c.confrelid::regclass::text,
               array(SELECT quote_ident(a.attname) FROM unnest(c.conkey) WITH ORDINALITY k(num, i)
                     JOIN pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = k.num ORDER BY k.i),
               array(SELECT quote_ident(a.attname) FROM unnest(c.confkey) WITH ORDINALITY k(num, i)
                     JOIN pg_attribute a ON a.attrelid = c.confrelid AND a.attnum = k.num ORDER BY k.i)
        FROM pg_constraint c
        JOIN pg_stat_xact_user_tables t ON t.relid = c.conrelid
        WHERE c.contype = 'f' AND (t.n_tup_ins > 0 OR t.n_tup_upd > 0)
        ORDER BY 2, 1""")
    broken = []
    for name, child, parent, child_cols, parent_cols in constraints:
        present = " AND ".join(f"c.{col} IS NOT NULL" for col in child_cols)
        match = " AND ".join(f"p.{pc} = c.{cc}" for cc, pc in zip(child_cols, parent_cols, strict=True))
        dangling = ctx.one(f"SELECT count(*) FROM {child} c WHERE {present} "  # noqa: S608
                           f"AND NOT EXISTS (SELECT 1 FROM {parent} p WHERE {match})")[0]
        if dangling:
            broken.append(f"{name} ({child} → {parent}: {dangling:,} rows)")
    if broken:
        raise ValueError("load_scale wrote references to rows that do not exist: " + "; ".join(broken))
    return len(constraints)


# --- timing ---------------------------------------------------------------------------------------------------

class Timer:
    """``with Timer(ctx, "donors"):`` appends the step's wall time to ``ctx.timings`` and prints it."""

    def __init__(self, ctx: ScaleContext, label: str):
        self.ctx, self.label = ctx, label

    def __enter__(self):
        self.start = time.perf_counter()
        return self

    def __exit__(self, *exc):
        elapsed = time.perf_counter() - self.start
        self.ctx.timings.append((self.label, elapsed))
        self.ctx.say(f"  {self.label}: {elapsed:.1f} s")
        return False
