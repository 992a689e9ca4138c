"""Box occupancy kept by the database: ``storage_box.occupied`` = vials whose ``box_id`` is that box.

Counting a million vials for the storage overview, the dashboard's capacity warnings or "find space"
takes the better part of a second; summing ~10,000 box counters takes milliseconds. The counter is
derived data kept fresh by triggers on ``lots_vial`` (statement-level with transition tables on
PostgreSQL, so a bulk load or ``bulk_update`` adjusts each box once per statement; row-level on the
embedded SQLite), so it holds whoever writes a position: the storage services, another app, a
fixture or a bulk SQL load. The triggers are (re)installed and every counter re-checked after each
``migrate`` (a SQLite table rebuild drops triggers; the recount repairs anything missed meanwhile).
"""

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
    with connection.cursor() as cursor:
        for statement in statements:
            cursor.execute(statement)
        cursor.execute(recount)


def install_occupancy_triggers(sender=None, using: str = "default", **kwargs) -> None:
    """post_migrate receiver (storage app)."""
    from django.db import connections

    install(connections[using or "default"])


def recount() -> None:
    from django.db import connection

    install(connection)
