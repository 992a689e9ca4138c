"""Catalog entries kept ready (issue 13): ``distribution_keptcatalogentry`` holds each line's shaped entry — its
characterization (the counted QC results of its distributable lots), the passages and tiers of its stocked lots
and its shared HLA typing — so a catalog page reads 50 rows instead of shaping them from ~200 lots and ~1,600
results on every request.

Freshness is the database's job, as for the stock counters: statement-level triggers bump a line's ``version``
whenever anything its entry shows may have changed, whoever writes (the services, another app, a bulk SQL load):

- ``lots_linestock`` (its available vials changed: which lots are stocked), ``lots_lot`` (status, consent flag,
  passage, tier, line), ``lots_cellline`` (the line itself), ``qc_qcresult`` (a result entered, corrected or
  made a re-check), ``qc_qctest`` (a test renamed or reordered: every entry), ``donors_hlatyping`` and
  ``donors_consent`` (the shared HLA of the donor's lines).

A read serves the entries whose ``built_version`` equals ``version`` and shapes the others
(``distribution.queries.shape_entries``), then stores them **only if the version it read before shaping is still
the row's version** (a change committed meanwhile leaves the entry for the next read to shape). Rows another
transaction holds are skipped, never waited for. Live values (name, description, available vials, the labels in
the reader's language) are never kept: they come from the line and its stock counter on each read.

PostgreSQL only: the embedded SQLite bank shapes every read (``enabled()``). ``reset()`` drops every kept entry
(``load_scale`` after loading with the triggers off; the entries come back on the next reads).
"""

# The SQL is built from constants in this module (no input ever reaches it).
# ruff: noqa: S608
from __future__ import annotations

import datetime
from collections.abc import Callable, Iterable

from django.db import DatabaseError, connection, connections, transaction

TABLE = "distribution_keptcatalogentry"
PREFIX = "distribution_catalog_"

# A change bumps the version of the lines' kept rows (a line with no row has nothing kept to invalidate).
_BUMP = (f"UPDATE {TABLE} SET version = version + 1 WHERE cell_line_id IN ({{lines}})")

# (trigger, table, operations, the lines a statement touched: SQL over the transition tables n (new) / o (old))
_SOURCES = [
    ("stock", "lots_linestock", ("INSERT", "UPDATE"), "SELECT cell_line_id AS line_id FROM n"),
    ("lot", "lots_lot", ("INSERT", "UPDATE"),
     "SELECT cell_line_id AS line_id FROM n UNION SELECT cell_line_id FROM o"),
    ("line", "lots_cellline", ("UPDATE",), "SELECT id AS line_id FROM n"),
    ("result", "qc_qcresult", ("INSERT", "UPDATE", "DELETE"),
     "SELECT l.cell_line_id AS line_id FROM lots_lot l "
     "WHERE l.id IN (SELECT lot_id FROM n UNION SELECT lot_id FROM o)"),
    ("typing", "donors_hlatyping", ("INSERT", "UPDATE"),
     "SELECT c.id AS line_id FROM lots_cellline c WHERE c.donor_id IN (SELECT donor_id FROM n UNION "
     "SELECT donor_id FROM o)"),
    ("consent", "donors_consent", ("INSERT", "UPDATE"),
     "SELECT c.id AS line_id FROM lots_cellline c WHERE c.donor_id IN (SELECT donor_id FROM n UNION "
     "SELECT donor_id FROM o)"),
]


def _pg() -> list[str]:
    statements = []
    for name, table, operations, lines in _SOURCES:
        for op in operations:
            suffix = op[:3].lower()
            # A transition table that an operation lacks is an empty one of the same shape.
            new = "catalog_new" if op != "DELETE" else None
            old = "catalog_old" if op != "INSERT" else None
            ctes = [f"n AS (SELECT * FROM {new})" if new else f"n AS (SELECT * FROM {table} WHERE FALSE)",
                    f"o AS (SELECT * FROM {old})" if old else f"o AS (SELECT * FROM {table} WHERE FALSE)"]
            body = f"WITH {', '.join(ctes)} " + _BUMP.format(lines=lines)
            function = f"{PREFIX}{name}_{suffix}"
            referencing = " ".join(filter(None, [f"OLD TABLE AS {old}" if old else "",
                                                 f"NEW TABLE AS {new}" if new else ""]))
            statements += [
                f"CREATE OR REPLACE FUNCTION {function}() RETURNS trigger AS $$ BEGIN {body}; RETURN NULL; END $$ "
                "LANGUAGE plpgsql",
                f"DROP TRIGGER IF EXISTS {function} ON {table}",
                f"CREATE TRIGGER {function} AFTER {op} ON {table} REFERENCING {referencing} "
                f"FOR EACH STATEMENT EXECUTE FUNCTION {function}()",
            ]
    statements += [
        f"CREATE OR REPLACE FUNCTION {PREFIX}test_upd() RETURNS trigger AS $$ BEGIN "
        f"UPDATE {TABLE} SET version = version + 1; RETURN NULL; END $$ LANGUAGE plpgsql",
        f"DROP TRIGGER IF EXISTS {PREFIX}test_upd ON qc_qctest",
        f"CREATE TRIGGER {PREFIX}test_upd AFTER UPDATE ON qc_qctest FOR EACH STATEMENT "
        f"EXECUTE FUNCTION {PREFIX}test_upd()",
    ]
    return statements


def trigger_names() -> set[str]:
    names = {f"{PREFIX}{name}_{op[:3].lower()}" for name, _t, operations, _l in _SOURCES for op in operations}
    return names | {f"{PREFIX}test_upd"}


def install(conn) -> None:
    """Create the triggers (PostgreSQL) and drop every kept entry (they are shaped again on the next reads)."""
    if conn.vendor != "postgresql":
        return
    tables = set(conn.introspection.table_names())
    if not {TABLE, "lots_linestock", "lots_lot", "qc_qcresult", "donors_consent"} <= tables:
        return
    with conn.cursor() as cursor:
        for statement in _pg():
            cursor.execute(statement)
        cursor.execute(f"DELETE FROM {TABLE}")


def install_catalog_triggers(sender=None, using: str = "default", **kwargs) -> None:
    """post_migrate receiver (distribution app)."""
    install(connections[using or "default"])


def reset() -> None:
    """Drop every kept entry (after a load with the triggers off)."""
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute(f"DELETE FROM {TABLE}")


def enabled() -> bool:
    return connection.vendor == "postgresql"


# --- reading ---------------------------------------------------------------------------------------------------


def _dump(parts: dict) -> dict:
    chars = [{**c, "tested_on": c["tested_on"].isoformat() if c["tested_on"] else None}
             for c in parts["characterization"]]
    return {**parts, "characterization": chars}


def _load(data: dict) -> dict:
    chars = [{**c, "tested_on": datetime.date.fromisoformat(c["tested_on"]) if c["tested_on"] else None}
             for c in data["characterization"]]
    return {**data, "characterization": chars}


def kept_parts(line_ids: Iterable[int], shape: Callable[[list[int]], dict[int, dict]]) -> dict[int, dict]:
    """``{line id: parts}`` for these lines: kept entries where current, ``shape(ids)`` for the rest. One query
    when every entry is current.

    A stale row is shaped and kept under the version read before shaping (a change committed meanwhile bumped it:
    the update finds no row at that version and keeps nothing). A line with no row yet gets one at version 1,
    unbuilt: the next read shapes and keeps it (a change between this read and that one bumps it first)."""
    from distribution.models import KeptCatalogEntry

    ids = list(dict.fromkeys(line_ids))
    if not enabled():
        return shape(ids)
    versions: dict[int, int] = {}
    out: dict[int, dict] = {}
    for line_id, version, built, data in KeptCatalogEntry.objects.using("default").filter(
            cell_line_id__in=ids).values_list("cell_line_id", "version", "built_version", "data"):
        if built == version:
            out[line_id] = _load(data)
        else:
            versions[line_id] = version
    missing = [pk for pk in ids if pk not in out]
    if not missing:
        return out
    shaped = shape(missing)
    out.update(shaped)
    _store({pk: shaped[pk] for pk in versions if pk in shaped}, versions,
           new=[pk for pk in missing if pk not in versions])
    return out


def _store(shaped: dict[int, dict], versions: dict[int, int], new: list[int]) -> None:
    """Keep what was shaped where the row is still at the version read; add unbuilt rows for ``new`` lines. Never
    waits for a writer: locked rows are skipped, and a conflicting insert gives up after 50 ms."""
    import json

    try:
        with transaction.atomic(using="default"), connections["default"].cursor() as cursor:
            cursor.execute("SET LOCAL lock_timeout = '50ms'")
            if new:
                cursor.execute(f"INSERT INTO {TABLE} (cell_line_id, version, built_version, data) "
                               "SELECT unnest(%s::bigint[]), 1, 0, '{}'::jsonb ON CONFLICT DO NOTHING", [new])
            if shaped:
                ids = list(shaped)
                cursor.execute(
                    f"UPDATE {TABLE} e SET built_version = v.version, data = v.data::jsonb "
                    "FROM unnest(%s::bigint[], %s::bigint[], %s::text[]) AS v(id, version, data) "
                    "WHERE e.cell_line_id = v.id AND e.version = v.version AND e.cell_line_id IN "
                    f"(SELECT cell_line_id FROM {TABLE} WHERE cell_line_id = ANY(%s::bigint[]) FOR UPDATE SKIP LOCKED)",
                    [ids, [versions[pk] for pk in ids], [json.dumps(_dump(shaped[pk])) for pk in ids], ids])
    except DatabaseError:  # keeping is an optimisation: a lock timeout (or a read-only database) costs a reshape
        return
