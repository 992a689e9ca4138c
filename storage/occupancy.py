"""Box occupancy kept by the database: ``storage_box.occupied`` = vials whose ``box_id`` is that box.

Counting a million vials for the storage overview, the dashboard's capacity warnings or "find space"
takes the better part of a second; summing ~10,000 box counters takes milliseconds. The counter is
derived data kept fresh by triggers on ``lots_vial`` (statement-level with transition tables on
PostgreSQL, so a bulk load or ``bulk_update`` adjusts each box once per statement; row-level on the
embedded SQLite), so it holds whoever writes a position: the storage services, another app, a
fixture or a bulk SQL load. The triggers are (re)installed and every counter re-checked after each
``migrate`` (a SQLite table rebuild drops triggers; the recount repairs anything missed meanwhile).

One level up, ``storage_unitoccupancy`` (used, capacity) per unit = the sums over the unit's boxes, kept the same
way by triggers on ``storage_box`` (a box added, removed, resized, moved to another rack, or its counter changed by
the trigger above) and on ``storage_rack`` (a rack moved to another unit): the dashboard and the overview read 300
unit rows, not 68,000 boxes. A unit's row is hot like a box's: two placements in the same tank take turns on it
until the first commits (a bench places a few vials a minute per tank).
"""

# The SQL is built from constants in this module (no input ever reaches it).
# ruff: noqa: S608
from __future__ import annotations

_PG = [
    """
    CREATE OR REPLACE FUNCTION storage_box_occupied_ins() RETURNS trigger AS $$
    BEGIN
        UPDATE storage_box b SET occupied = b.occupied + d.n
        FROM (SELECT box_id, count(*) AS n FROM storage_new_rows WHERE box_id IS NOT NULL GROUP BY box_id) d
        WHERE b.id = d.box_id;
        RETURN NULL;
    END $$ LANGUAGE plpgsql
    """,
    """
    CREATE OR REPLACE FUNCTION storage_box_occupied_del() RETURNS trigger AS $$
    BEGIN
        UPDATE storage_box b SET occupied = b.occupied - d.n
        FROM (SELECT box_id, count(*) AS n FROM storage_old_rows WHERE box_id IS NOT NULL GROUP BY box_id) d
        WHERE b.id = d.box_id;
        RETURN NULL;
    END $$ LANGUAGE plpgsql
    """,
    """
    CREATE OR REPLACE FUNCTION storage_box_occupied_upd() RETURNS trigger AS $$
    BEGIN
        UPDATE storage_box b SET occupied = b.occupied + d.n
        FROM (
            SELECT box_id, sum(n) AS n FROM (
                SELECT nr.box_id, 1 AS n FROM storage_new_rows nr JOIN storage_old_rows o ON o.id = nr.id
                WHERE nr.box_id IS DISTINCT FROM o.box_id AND nr.box_id IS NOT NULL
                UNION ALL
                SELECT o.box_id, -1 FROM storage_new_rows nr JOIN storage_old_rows o ON o.id = nr.id
                WHERE nr.box_id IS DISTINCT FROM o.box_id AND o.box_id IS NOT NULL
            ) moved GROUP BY box_id
        ) d
        WHERE b.id = d.box_id AND d.n <> 0;
        RETURN NULL;
    END $$ LANGUAGE plpgsql
    """,
    "DROP TRIGGER IF EXISTS storage_vial_occupied_ins ON lots_vial",
    "DROP TRIGGER IF EXISTS storage_vial_occupied_del ON lots_vial",
    "DROP TRIGGER IF EXISTS storage_vial_occupied_upd ON lots_vial",
    "CREATE TRIGGER storage_vial_occupied_ins AFTER INSERT ON lots_vial REFERENCING NEW TABLE AS storage_new_rows "
    "FOR EACH STATEMENT EXECUTE FUNCTION storage_box_occupied_ins()",
    "CREATE TRIGGER storage_vial_occupied_del AFTER DELETE ON lots_vial REFERENCING OLD TABLE AS storage_old_rows "
    "FOR EACH STATEMENT EXECUTE FUNCTION storage_box_occupied_del()",
    "CREATE TRIGGER storage_vial_occupied_upd AFTER UPDATE ON lots_vial "
    "REFERENCING OLD TABLE AS storage_old_rows NEW TABLE AS storage_new_rows "
    "FOR EACH STATEMENT EXECUTE FUNCTION storage_box_occupied_upd()",
]

# Unit sums: the per-unit difference of a box statement (new rows counted in, old rows out), by the rack's unit.
_UNIT_UPSERT = ("INSERT INTO storage_unitoccupancy AS s (unit_id, used, capacity) {select} "
                "ON CONFLICT (unit_id) DO UPDATE SET used = s.used + EXCLUDED.used, "
                "capacity = s.capacity + EXCLUDED.capacity")
_BOX_SUMS = ("SELECT r.unit_id, {sign}b.occupied AS used, {sign}(b.rows::int * b.cols::int) AS capacity "
             "FROM {table} b JOIN storage_rack r ON r.id = b.rack_id")
_BOTH_UNITS = ("SELECT * FROM (VALUES (LEAST(OLD.unit_id, NEW.unit_id), 0::bigint, 0::bigint), "
               "(GREATEST(OLD.unit_id, NEW.unit_id), 0::bigint, 0::bigint)) v(unit_id, used, capacity)")
_PG += [
    f"""
    CREATE OR REPLACE FUNCTION storage_unit_occupancy_box() RETURNS trigger AS $$
    BEGIN
        IF TG_OP = 'INSERT' THEN
            {_UNIT_UPSERT.format(select="SELECT unit_id, sum(used), sum(capacity) FROM (" + _BOX_SUMS.format(
                sign="", table="storage_box_new") + ") d GROUP BY unit_id ORDER BY unit_id")};
        ELSIF TG_OP = 'DELETE' THEN
            {_UNIT_UPSERT.format(select="SELECT unit_id, sum(used), sum(capacity) FROM (" + _BOX_SUMS.format(
                sign="-", table="storage_box_old") + ") d GROUP BY unit_id ORDER BY unit_id")};
        ELSE
            {_UNIT_UPSERT.format(select="SELECT unit_id, sum(used), sum(capacity) FROM (" + _BOX_SUMS.format(
                sign="", table="storage_box_new") + " UNION ALL " + _BOX_SUMS.format(
                sign="-", table="storage_box_old") + ") d GROUP BY unit_id "
                "HAVING sum(used) <> 0 OR sum(capacity) <> 0 ORDER BY unit_id")};
        END IF;
        RETURN NULL;
    END $$ LANGUAGE plpgsql
    """,
    f"""
    CREATE OR REPLACE FUNCTION storage_unit_occupancy_rack() RETURNS trigger AS $$
    DECLARE
        u bigint;
        c bigint;
    BEGIN
        IF OLD.unit_id = NEW.unit_id THEN
            RETURN NULL;
        END IF;
        SELECT coalesce(sum(occupied), 0), coalesce(sum(rows::int * cols::int), 0) INTO u, c
        FROM storage_box WHERE rack_id = NEW.id;
        IF u = 0 AND c = 0 THEN
            RETURN NULL;
        END IF;
        -- both units' rows exist and are locked in id order before the sums move
        {_UNIT_UPSERT.format(select=_BOTH_UNITS)};
        UPDATE storage_unitoccupancy SET used = used - u, capacity = capacity - c WHERE unit_id = OLD.unit_id;
        UPDATE storage_unitoccupancy SET used = used + u, capacity = capacity + c WHERE unit_id = NEW.unit_id;
        RETURN NULL;
    END $$ LANGUAGE plpgsql
    """,
    "DROP TRIGGER IF EXISTS storage_box_unit_occupancy_ins ON storage_box",
    "DROP TRIGGER IF EXISTS storage_box_unit_occupancy_del ON storage_box",
    "DROP TRIGGER IF EXISTS storage_box_unit_occupancy_upd ON storage_box",
    "DROP TRIGGER IF EXISTS storage_rack_unit_occupancy ON storage_rack",
    "CREATE TRIGGER storage_box_unit_occupancy_ins AFTER INSERT ON storage_box REFERENCING NEW TABLE AS "
    "storage_box_new FOR EACH STATEMENT EXECUTE FUNCTION storage_unit_occupancy_box()",
    "CREATE TRIGGER storage_box_unit_occupancy_del AFTER DELETE ON storage_box REFERENCING OLD TABLE AS "
    "storage_box_old FOR EACH STATEMENT EXECUTE FUNCTION storage_unit_occupancy_box()",
    "CREATE TRIGGER storage_box_unit_occupancy_upd AFTER UPDATE ON storage_box REFERENCING OLD TABLE AS "
    "storage_box_old NEW TABLE AS storage_box_new FOR EACH STATEMENT EXECUTE FUNCTION storage_unit_occupancy_box()",
    "CREATE TRIGGER storage_rack_unit_occupancy AFTER UPDATE OF unit_id ON storage_rack FOR EACH ROW "
    "EXECUTE FUNCTION storage_unit_occupancy_rack()",
]


def _sqlite_unit(unit: str, used: str, capacity: str) -> str:
    return (f"INSERT INTO storage_unitoccupancy (unit_id, used, capacity) SELECT {unit}, {used}, {capacity} "
            f"WHERE {unit} IS NOT NULL ON CONFLICT (unit_id) DO UPDATE SET used = used + excluded.used, "
            "capacity = capacity + excluded.capacity;")


_RACK_UNIT = "(SELECT unit_id FROM storage_rack WHERE id = {row}.rack_id)"
_SQLITE_UNITS = [
    "DROP TRIGGER IF EXISTS storage_box_unit_occupancy_ins",
    "DROP TRIGGER IF EXISTS storage_box_unit_occupancy_del",
    "DROP TRIGGER IF EXISTS storage_box_unit_occupancy_upd",
    "DROP TRIGGER IF EXISTS storage_rack_unit_occupancy",
    "CREATE TRIGGER storage_box_unit_occupancy_ins AFTER INSERT ON storage_box BEGIN "
    + _sqlite_unit(_RACK_UNIT.format(row="NEW"), "NEW.occupied", "NEW.rows * NEW.cols") + " END",
    "CREATE TRIGGER storage_box_unit_occupancy_del AFTER DELETE ON storage_box BEGIN "
    + _sqlite_unit(_RACK_UNIT.format(row="OLD"), "-OLD.occupied", "-(OLD.rows * OLD.cols)") + " END",
    "CREATE TRIGGER storage_box_unit_occupancy_upd AFTER UPDATE OF occupied, rows, cols, rack_id ON storage_box "
    "BEGIN " + _sqlite_unit(_RACK_UNIT.format(row="OLD"), "-OLD.occupied", "-(OLD.rows * OLD.cols)") + " "
    + _sqlite_unit(_RACK_UNIT.format(row="NEW"), "NEW.occupied", "NEW.rows * NEW.cols") + " END",
    "CREATE TRIGGER storage_rack_unit_occupancy AFTER UPDATE OF unit_id ON storage_rack "
    "WHEN OLD.unit_id IS NOT NEW.unit_id BEGIN "
    + _sqlite_unit("OLD.unit_id", "-(SELECT coalesce(sum(occupied), 0) FROM storage_box WHERE rack_id = NEW.id)",
                   "-(SELECT coalesce(sum(rows * cols), 0) FROM storage_box WHERE rack_id = NEW.id)") + " "
    + _sqlite_unit("NEW.unit_id", "(SELECT coalesce(sum(occupied), 0) FROM storage_box WHERE rack_id = NEW.id)",
                   "(SELECT coalesce(sum(rows * cols), 0) FROM storage_box WHERE rack_id = NEW.id)") + " END",
]

# Every unit's sums from its boxes (after the box counters are right); rows only where they differ.
_UNIT_TRUE = ("SELECT r.unit_id AS unit_id, sum(b.occupied) AS used, sum(b.rows * b.cols) AS capacity "
              "FROM storage_box b JOIN storage_rack r ON r.id = b.rack_id GROUP BY r.unit_id")
_UNIT_DRIFT = (f"SELECT coalesce(s.unit_id, t.unit_id), coalesce(t.used, 0), coalesce(t.capacity, 0) "
               f"FROM storage_unitoccupancy s FULL OUTER JOIN ({_UNIT_TRUE}) t ON t.unit_id = s.unit_id "
               "WHERE coalesce(s.used, 0) <> coalesce(t.used, 0) "
               "OR coalesce(s.capacity, 0) <> coalesce(t.capacity, 0)")

_SQLITE = [
    "DROP TRIGGER IF EXISTS storage_vial_occupied_ins",
    "DROP TRIGGER IF EXISTS storage_vial_occupied_del",
    "DROP TRIGGER IF EXISTS storage_vial_occupied_upd",
    "CREATE TRIGGER storage_vial_occupied_ins AFTER INSERT ON lots_vial WHEN NEW.box_id IS NOT NULL "
    "BEGIN UPDATE storage_box SET occupied = occupied + 1 WHERE id = NEW.box_id; END",
    "CREATE TRIGGER storage_vial_occupied_del AFTER DELETE ON lots_vial WHEN OLD.box_id IS NOT NULL "
    "BEGIN UPDATE storage_box SET occupied = occupied - 1 WHERE id = OLD.box_id; END",
    "CREATE TRIGGER storage_vial_occupied_upd AFTER UPDATE OF box_id ON lots_vial "
    "WHEN OLD.box_id IS NOT NEW.box_id BEGIN "
    "UPDATE storage_box SET occupied = occupied - 1 WHERE id = OLD.box_id; "
    "UPDATE storage_box SET occupied = occupied + 1 WHERE id = NEW.box_id; END",
    *_SQLITE_UNITS,
]

# Only the boxes whose counter is wrong are written.
_RECOUNT_PG = """
    UPDATE storage_box b SET occupied = c.n
    FROM (
        SELECT bx.id, count(v.id) AS n FROM storage_box bx LEFT JOIN lots_vial v ON v.box_id = bx.id GROUP BY bx.id
    ) c
    WHERE b.id = c.id AND b.occupied <> c.n
"""
_RECOUNT_SQLITE = """
    UPDATE storage_box SET occupied = (SELECT count(*) FROM lots_vial v WHERE v.box_id = storage_box.id)
    WHERE occupied <> (SELECT count(*) FROM lots_vial v WHERE v.box_id = storage_box.id)
"""


def install(connection) -> None:
    """Create the triggers on ``connection`` and bring every box's counter in line with its vials."""
    tables = set(connection.introspection.table_names())
    if not {"lots_vial", "storage_box"} <= tables:
        return
    with connection.cursor() as cursor:
        columns = {c.name for c in connection.introspection.get_table_description(cursor, "storage_box")}
    if "occupied" not in columns:  # migrated back before storage 0003: no counter to keep
        return
    if connection.vendor == "postgresql":
        statements, recount = _PG, _RECOUNT_PG
    elif connection.vendor == "sqlite":
        statements, recount = _SQLITE, _RECOUNT_SQLITE
    else:  # pragma: no cover - the bank runs on PostgreSQL or the embedded SQLite
        return
    units = "storage_unitoccupancy" in tables
    if not units:  # migrated back before storage 0007: boxes only
        statements = [st for st in statements if "unit_occupancy" not in st]
    with connection.cursor() as cursor:
        for statement in statements:
            cursor.execute(statement)
        cursor.execute(recount)
        if units:
            _recount_units(cursor)


def _recount_units(cursor) -> int:
    """Bring every unit's sums in line with its boxes; returns how many units were wrong."""
    cursor.execute(_UNIT_DRIFT)
    wrong = cursor.fetchall()
    for unit_id, used, capacity in wrong:
        cursor.execute("UPDATE storage_unitoccupancy SET used = %s, capacity = %s WHERE unit_id = %s",
                       [used, capacity, unit_id])
        if cursor.rowcount == 0:
            cursor.execute("INSERT INTO storage_unitoccupancy (unit_id, used, capacity) VALUES (%s, %s, %s)",
                           [unit_id, used, capacity])
    return len(wrong)


def unit_drift(connection) -> list[tuple[int, int, int]]:
    """Units whose kept sums differ from their boxes': ``(unit id, true used, true capacity)``."""
    with connection.cursor() as cursor:
        cursor.execute(_UNIT_DRIFT)
        return [tuple(row) for row in cursor.fetchall()]


def install_occupancy_triggers(sender=None, using: str = "default", **kwargs) -> None:
    """post_migrate receiver (storage app)."""
    from django.db import connections

    install(connections[using or "default"])


def recount() -> None:
    from django.db import connection

    install(connection)
