"""Exact row counts kept by the database: ``bank_tally`` (key, n), one row per counted group.

A count over a table of a million rows (lots by status, donors, cord blood units) costs a scan on every
dashboard or list page; a kept count costs one index lookup. An app defines what it counts with ``define``
(in its ``AppConfig.ready``): the table, a key expression over the row's own columns and which rows count.
Triggers keep the counts, whoever writes (the services, another app, a fixture, a bulk SQL load):

- PostgreSQL: statement-level triggers with transition tables add each statement's per-key difference with
  ``INSERT … ON CONFLICT DO UPDATE SET n = n + d`` (the upsert takes the key's row lock: concurrent writers
  queue on it and none is lost). An update that leaves a row's key as it was writes nothing.
- SQLite (the embedded ``make run`` bank): row-level triggers.

A count is a hot row: two transactions that change the same count take turns on it until the first commits.
The counted events (a lot's status, a donor registered, a first consent) are a few a minute in the busiest bank,
so this costs nothing measurable; a count of something written hundreds of times a second would want per-writer
delta rows summed on read instead.

The triggers are (re)installed and every count re-checked after each ``migrate``; ``recount()`` repairs and
reports any drift (there should be none). ``bank`` imports no app: the definitions arrive through ``define``.
"""

# The SQL is built from the apps' own definitions (constants in code; no input ever reaches it).
# ruff: noqa: S608
from __future__ import annotations

import re
from dataclasses import dataclass

from bank.parsing import whole_number

_NAME = re.compile(r"^[a-z][a-z0-9_.]*$")
TRIGGER_PREFIX = "bank_tally_"


@dataclass(frozen=True)
class TallyDef:
    """Rows of ``table`` for which ``where`` holds, counted per ``key`` (SQL over the row, its alias ``{r}``)."""

    name: str
    table: str
    key: str
    where: str = "TRUE"

    def slug(self) -> str:
        return self.name.replace(".", "_")

    def sql(self, template: str, alias: str) -> str:
        return template.format(r=alias)


_DEFS: dict[str, TallyDef] = {}


def define(name: str, table: str, key: str, where: str = "TRUE") -> TallyDef:
    """Count the rows of ``table`` (where ``where``) per ``key``; read them with ``counts(name)``."""
    if not _NAME.match(name):
        raise ValueError(f"tally name {name!r}: lower case letters, digits, _ and .")
    tally = TallyDef(name, table, key, where)
    _DEFS[name] = tally
    return tally


def definitions() -> list[TallyDef]:
    return list(_DEFS.values())


def trigger_names() -> set[str]:
    """Every trigger ``install`` creates (PostgreSQL names)."""
    return {f"{TRIGGER_PREFIX}{t.slug()}_{op}" for t in _DEFS.values() for op in ("ins", "del", "upd")}


def _rows(prefix: str) -> list[tuple[str, int]]:
    from bank.models import Tally

    return list(Tally.objects.filter(key__startswith=prefix).values_list("key", "n"))


def counts(name: str) -> dict[str, int]:
    """``{key: n}`` of one tally (keys with no row counted are absent). One query; while a page is answered
    (a GET: ``bank.memo``) every tally is read once, so a dashboard's panels share one small read."""
    from bank import memo

    prefix = f"{name}:"
    rows = memo.memoized(("bank.tally",), lambda: _rows("")) if memo.active() else _rows(prefix)
    return {key[len(prefix):]: n for key, n in rows if n and key.startswith(prefix)}


def total(name: str) -> int:
    return sum(counts(name).values())


# --- PostgreSQL -------------------------------------------------------------------------------------------


def _pg(t: TallyDef) -> list[str]:
    key = f"'{t.name}:' || ({t.sql(t.key, 'r')})"
    where = t.sql(t.where, "r")
    upsert = ("INSERT INTO bank_tally AS s (key, n) {select} "
              "ON CONFLICT (key) DO UPDATE SET n = s.n + EXCLUDED.n")
    selects = {
        "ins": f"SELECT {key}, count(*) FROM bank_tally_new r WHERE {where} GROUP BY 1 ORDER BY 1",
        "del": f"SELECT {key}, -count(*) FROM bank_tally_old r WHERE {where} GROUP BY 1 ORDER BY 1",
        "upd": (f"SELECT k, sum(d) FROM (SELECT {key} AS k, 1 AS d FROM bank_tally_new r WHERE {where} "
                f"UNION ALL SELECT {key}, -1 FROM bank_tally_old r WHERE {where}) c "
                "GROUP BY k HAVING sum(d) <> 0 ORDER BY k"),
    }
    tables = {
        "ins": "REFERENCING NEW TABLE AS bank_tally_new",
        "del": "REFERENCING OLD TABLE AS bank_tally_old",
        "upd": "REFERENCING OLD TABLE AS bank_tally_old NEW TABLE AS bank_tally_new",
    }
    events = {"ins": "INSERT", "del": "DELETE", "upd": "UPDATE"}
    statements = []
    for op, select in selects.items():
        name = f"{TRIGGER_PREFIX}{t.slug()}_{op}"
        statements += [
            f"CREATE OR REPLACE FUNCTION {name}() RETURNS trigger AS $$ BEGIN "
            f"{upsert.format(select=select)}; RETURN NULL; END $$ LANGUAGE plpgsql",
            f"DROP TRIGGER IF EXISTS {name} ON {t.table}",
            f"CREATE TRIGGER {name} AFTER {events[op]} ON {t.table} {tables[op]} "
            f"FOR EACH STATEMENT EXECUTE FUNCTION {name}()",
        ]
    return statements


# --- SQLite ---------------------------------------------------------------------------------------------


def _sqlite(t: TallyDef) -> list[str]:
    def add(row: str, sign: str) -> str:
        key = f"'{t.name}:' || ({t.sql(t.key, row)})"
        return (f"INSERT OR IGNORE INTO bank_tally (key, n) SELECT {key}, 0 WHERE {t.sql(t.where, row)}; "
                f"UPDATE bank_tally SET n = n {sign} 1 WHERE key = {key} AND ({t.sql(t.where, row)});")

    base = f"{TRIGGER_PREFIX}{t.slug()}"
    return [
        f"DROP TRIGGER IF EXISTS {base}_ins", f"DROP TRIGGER IF EXISTS {base}_del",
        f"DROP TRIGGER IF EXISTS {base}_upd",
        f"CREATE TRIGGER {base}_ins AFTER INSERT ON {t.table} BEGIN {add('NEW', '+')} END",
        f"CREATE TRIGGER {base}_del AFTER DELETE ON {t.table} BEGIN {add('OLD', '-')} END",
        f"CREATE TRIGGER {base}_upd AFTER UPDATE ON {t.table} BEGIN {add('OLD', '-')} {add('NEW', '+')} END",
    ]


# --- install, drift, recount ------------------------------------------------------------------------------


def _true_counts_sql(t: TallyDef) -> str:
    return (f"SELECT '{t.name}:' || ({t.sql(t.key, 'r')}) AS key, count(*) AS n FROM {t.table} r "
            f"WHERE {t.sql(t.where, 'r')} GROUP BY 1")


def drift(connection) -> list[tuple[str, int, int]]:
    """Keys whose kept count differs from a count of the rows: ``(key, kept, true)``. Scans every counted
    table: for checks, not for pages."""
    wrong = []
    tables = set(connection.introspection.table_names())
    with connection.cursor() as cursor:
        for t in _DEFS.values():
            if t.table not in tables:
                continue
            cursor.execute(f"""
                SELECT coalesce(s.key, c.key), coalesce(s.n, 0), coalesce(c.n, 0)
                FROM (SELECT key, n FROM bank_tally WHERE key LIKE %s) s
                FULL OUTER JOIN ({_true_counts_sql(t)}) c ON c.key = s.key
                WHERE coalesce(s.n, 0) <> coalesce(c.n, 0) ORDER BY 1""", [f"{t.name}:%"])
            wrong += [tuple(row) for row in cursor.fetchall()]
    return wrong


def _recount(connection) -> int:
    wrong = drift(connection)
    with connection.cursor() as cursor:
        for key, _kept, true in wrong:
            cursor.execute("UPDATE bank_tally SET n = %s WHERE key = %s", [true, key])
            if cursor.rowcount == 0:
                cursor.execute("INSERT INTO bank_tally (key, n) VALUES (%s, %s)", [key, true])
    return len(wrong)


def install(connection) -> None:
    """Create every tally's triggers on ``connection`` and bring every count in line with its rows."""
    tables = set(connection.introspection.table_names())
    if "bank_tally" not in tables:
        return
    with connection.cursor() as cursor:
        for t in _DEFS.values():
            if t.table not in tables:
                continue
            if connection.vendor == "postgresql":
                statements = _pg(t)
            elif connection.vendor == "sqlite":
                statements = _sqlite(t)
            else:  # pragma: no cover - the bank runs on PostgreSQL or the embedded SQLite
                return
            for statement in statements:
                cursor.execute(statement)
    _recount(connection)


def install_tally_triggers(sender=None, using: str = "default", **kwargs) -> None:
    """post_migrate receiver (bank app; the apps' definitions are in by then)."""
    from django.db import connections

    install(connections[using or "default"])


def recount() -> int:
    """Repair any drift (there should be none) and say how many keys were wrong."""
    from django.db import connection

    return _recount(connection)


WINDOW_TOTAL = "window_total"


def with_window_total(qs):
    """``qs`` whose every row carries the total of the list (``COUNT(*) OVER ()``, as ``window_total``): a page read
    with it is its own count, for filtered lists no kept count covers (the database finds and sorts every match for
    the page anyway; a separate COUNT would find them all again)."""
    from django.db.models import Count, Window

    return qs.annotate(**{WINDOW_TOTAL: Window(Count("*"))})


def page_with_count(qs, size: int, number, count: int | None = None):
    """``Paginator(qs, size).get_page(number)``, with the total taken from a tally when the caller has it (an
    unfiltered list: no ``COUNT(*)`` over a million rows), or from the page's own rows when ``qs`` carries
    ``window_total`` (``with_window_total``)."""
    from django.core.paginator import Paginator

    paginator = Paginator(qs, size)
    if count is not None:
        paginator.count = count  # a cached_property: the kept count stands in for the query
    elif WINDOW_TOTAL in getattr(getattr(qs, "query", None), "annotations", {}):
        # A page past any offset the database takes ("?page=" with 20 digits) is the first page, never a 500.
        wanted = max(whole_number(number or 1, max_value=2**31) or 1, 1)
        rows = list(qs[(wanted - 1) * size:wanted * size])
        if rows:
            paginator.count = getattr(rows[0], WINDOW_TOTAL)
            page = paginator.page(wanted)
            page.object_list = rows
            return page
    return paginator.get_page(number)
