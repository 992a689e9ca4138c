"""A line's distributable stock kept by the database: ``lots_linestock`` (mcb, other) per cell line.

The catalog answers "how many vials of each line may a researcher receive" for every line on every request.
Counting them from four million vials took 2.9 s (issue 13); reading ~4,000 counters takes milliseconds.
A vial counts when it is ``RESEARCH_KINDS`` (a plain vial: a cord blood bag goes to a patient through a
transplant order, never to a researcher's request), ``available``, and its lot is distributable (released and
not flagged for a withdrawn consent: ``lots.queries.distributable_lot_q``, the ORM face of the same rule).

Kept exact by triggers, whoever writes (the services, another app, a bulk SQL load):
- on ``lots_vial`` (statement level with transition tables on PostgreSQL): the per-lot change of counted
  vials is added to the lot's line, for the lots that are distributable. The lots are read ``FOR SHARE``
  so a concurrent change of the lot's status waits (or is waited for) and is seen: with the lot trigger
  below, allocation, shipment and recall running at once never count a vial twice or miss one.
- on ``lots_lot`` (row level, when status, consent flag, tier or line change): the lot's counted vials move
  in or out of its line's counter (recounted under the lot's row lock).
Increments (``x = x + d``, re-read under the row lock) rather than recounts keep it right under concurrency.
The row also carries copies of its line's ``sort_name`` (lower-case name), ``cell_type`` and ``grade``, filled
when the row is made and kept by a trigger on ``lots_cellline``: the catalog sorts and filters the stocked lines
without reading a million lines. Likewise ``hla``: the donor's alleles at A, B, C, DRB1 and DQB1, upper case, each
between spaces (`` A*02:01 A*24:02 B*07:02 … ``), kept by a trigger on ``donors_hlatyping`` (a typing recorded or
corrected), so an HLA search of the catalog reads no donor or typing except for the lines that match. The copy is
made only while the donor consents to data sharing (``donors.queries.consent_scope_q``'s rule in SQL, ``_shares``;
empty otherwise) and follows the donor's consents and withdrawal (triggers on ``donors_consent`` and
``donors_donor``): the search finds shared alleles only, without checking a consent per match.
The triggers are (re)installed and every counter re-checked after each ``migrate``; ``recount()`` repairs
and reports any drift (there should be none; a test runs allocations and a recall on threads and checks).
"""

# The SQL is built from the app's own choice constants (no input ever reaches it).
# ruff: noqa: S608
from __future__ import annotations

from donors.choices import HLA_LOCI, ConsentScope
from lots.choices import RESEARCH_KINDS, LotStatus, Tier, VialStatus

# The copy of a typing's searchable alleles (the catalog's ``?hla=``: loci A, B, C, DRB1, DQB1), from alias ``h``.
HLA_FIELDS = tuple(f"{locus.lower()}_{i}" for locus in HLA_LOCI for i in (1, 2))
_HLA_TEXT = "(' ' || " + " || ' ' || ".join(f"upper(h.{f})" for f in HLA_FIELDS) + " || ' ')"
# The scope a researcher's HLA search needs, quoted as in the consent's JSON list of codes (the whole code only;
# ``\_``: not LIKE's any-character).
_SHARING_LIKE = "'%\"" + str(ConsentScope.DATA_SHARING).replace("_", "\\_") + "\"%' ESCAPE '\\'"


def _shares(donor: str, vendor: str) -> str:
    """SQL: the donor ``donor`` (an SQL expression) consents to data sharing — ``consent_scope_q``'s rule: not
    withdrawn, and their newest live consent (by signed date, then id) names the scope. A test keeps the two
    in agreement."""
    scopes = "v.scopes::text" if vendor == "postgresql" else "v.scopes"
    return (f"(EXISTS (SELECT 1 FROM donors_donor d WHERE d.id = {donor} AND d.consent_withdrawn_at IS NULL) "
            f"AND EXISTS (SELECT 1 FROM donors_consent v WHERE v.donor_id = {donor} AND v.withdrawn_at IS NULL "
            f"AND {scopes} LIKE {_SHARING_LIKE} AND NOT EXISTS (SELECT 1 FROM donors_consent u "
            f"WHERE u.donor_id = v.donor_id AND u.withdrawn_at IS NULL "
            f"AND (u.signed_on > v.signed_on OR (u.signed_on = v.signed_on AND u.id > v.id)))))")


def hla_text(donor: str, vendor: str) -> str:
    """SQL: the copy of the typing ``h`` of donor ``donor``, NULL unless the donor shares data."""
    return f"(CASE WHEN {_shares(donor, vendor)} THEN {_HLA_TEXT} END)"


def _line_hla(line_id: str, vendor: str) -> str:
    """SQL: the copy for the line ``line_id`` (an SQL expression), '' when its donor has no typing or does not
    share data."""
    return (f"coalesce((SELECT {hla_text('h.donor_id', vendor)} FROM donors_hlatyping h "
            f"JOIN lots_cellline c ON c.donor_id = h.donor_id WHERE c.id = {line_id}), '')")


def _donor_hla(donor: str, vendor: str) -> str:
    """SQL: the copy for the lines of donor ``donor``."""
    return f"coalesce((SELECT {hla_text(donor, vendor)} FROM donors_hlatyping h WHERE h.donor_id = {donor}), '')"


def _sql_values() -> dict[str, str]:
    kinds = ", ".join(f"'{str(kind)}'" for kind in RESEARCH_KINDS)
    return {
        "counted": f"status = '{VialStatus.AVAILABLE}' AND kind IN ({kinds})",
        "kinds": kinds,
        "available": str(VialStatus.AVAILABLE),
        "released": str(LotStatus.RELEASED),
        "mcb": str(Tier.MCB),
    }


def _pg() -> list[str]:
    v = _sql_values()
    per_lot = {
        "ins": "SELECT lot_id, count(*) AS n FROM lots_stock_new WHERE {counted} GROUP BY lot_id",
        "del": "SELECT lot_id, -count(*) AS n FROM lots_stock_old WHERE {counted} GROUP BY lot_id",
        "upd": ("SELECT lot_id, sum(n) AS n FROM ("
                "SELECT lot_id, 1 AS n FROM lots_stock_new WHERE {counted} "
                "UNION ALL SELECT lot_id, -1 FROM lots_stock_old WHERE {counted}) c GROUP BY lot_id"),
    }
    statements = []
    for op, select in per_lot.items():
        statements.append(f"""
        CREATE OR REPLACE FUNCTION lots_linestock_vials_{op}() RETURNS trigger AS $$
        BEGIN
            WITH per_lot AS ({select.format(**v)}),
            lots AS (
                SELECT l.id, l.cell_line_id, l.tier FROM lots_lot l
                WHERE l.id IN (SELECT lot_id FROM per_lot WHERE n <> 0)
                  AND l.status = '{v["released"]}' AND l.consent_withdrawn_flagged_at IS NULL
                ORDER BY l.id FOR SHARE
            )
            INSERT INTO lots_linestock AS s (cell_line_id, mcb, other)
            SELECT lots.cell_line_id,
                   sum(CASE WHEN lots.tier = '{v["mcb"]}' THEN p.n ELSE 0 END),
                   sum(CASE WHEN lots.tier = '{v["mcb"]}' THEN 0 ELSE p.n END)
            FROM lots JOIN per_lot p ON p.lot_id = lots.id
            GROUP BY lots.cell_line_id ORDER BY lots.cell_line_id
            ON CONFLICT (cell_line_id) DO UPDATE SET mcb = s.mcb + EXCLUDED.mcb, other = s.other + EXCLUDED.other;
            RETURN NULL;
        END $$ LANGUAGE plpgsql
        """)
    statements.append(f"""
        CREATE OR REPLACE FUNCTION lots_linestock_lot() RETURNS trigger AS $$
        DECLARE
            was boolean := OLD.status = '{v["released"]}' AND OLD.consent_withdrawn_flagged_at IS NULL;
            now_ boolean := NEW.status = '{v["released"]}' AND NEW.consent_withdrawn_flagged_at IS NULL;
            n bigint;
        BEGIN
            IF was = now_ AND OLD.tier = NEW.tier AND OLD.cell_line_id = NEW.cell_line_id THEN
                RETURN NULL;
            END IF;
            IF NOT was AND NOT now_ THEN
                RETURN NULL;
            END IF;
            SELECT count(*) INTO n FROM lots_vial WHERE lot_id = NEW.id AND {v["counted"]};
            IF n = 0 THEN
                RETURN NULL;
            END IF;
            IF was THEN
                INSERT INTO lots_linestock AS s (cell_line_id, mcb, other)
                VALUES (OLD.cell_line_id, CASE WHEN OLD.tier = '{v["mcb"]}' THEN -n ELSE 0 END,
                        CASE WHEN OLD.tier = '{v["mcb"]}' THEN 0 ELSE -n END)
                ON CONFLICT (cell_line_id) DO UPDATE SET mcb = s.mcb + EXCLUDED.mcb, other = s.other + EXCLUDED.other;
            END IF;
            IF now_ THEN
                INSERT INTO lots_linestock AS s (cell_line_id, mcb, other)
                VALUES (NEW.cell_line_id, CASE WHEN NEW.tier = '{v["mcb"]}' THEN n ELSE 0 END,
                        CASE WHEN NEW.tier = '{v["mcb"]}' THEN 0 ELSE n END)
                ON CONFLICT (cell_line_id) DO UPDATE SET mcb = s.mcb + EXCLUDED.mcb, other = s.other + EXCLUDED.other;
            END IF;
            RETURN NULL;
        END $$ LANGUAGE plpgsql
        """)
    for op, when, tables in (
        ("ins", "INSERT", "NEW TABLE AS lots_stock_new"),
        ("del", "DELETE", "OLD TABLE AS lots_stock_old"),
        ("upd", "UPDATE", "OLD TABLE AS lots_stock_old NEW TABLE AS lots_stock_new"),
    ):
        statements += [
            f"DROP TRIGGER IF EXISTS lots_vial_linestock_{op} ON lots_vial",
            f"CREATE TRIGGER lots_vial_linestock_{op} AFTER {when} ON lots_vial REFERENCING {tables} "
            f"FOR EACH STATEMENT EXECUTE FUNCTION lots_linestock_vials_{op}()",
        ]
    statements += [
        # The line's fields the catalog sorts and filters by, copied when a counter row is made and when they change.
        f"""
        CREATE OR REPLACE FUNCTION lots_linestock_copy() RETURNS trigger AS $$
        BEGIN
            SELECT lower(c.name), c.cell_type, c.grade INTO NEW.sort_name, NEW.cell_type, NEW.grade
            FROM lots_cellline c WHERE c.id = NEW.cell_line_id;
            NEW.hla := {_line_hla("NEW.cell_line_id", "postgresql")};
            RETURN NEW;
        END $$ LANGUAGE plpgsql
        """,
        f"""
        CREATE OR REPLACE FUNCTION lots_cellline_linestock() RETURNS trigger AS $$
        BEGIN
            UPDATE lots_linestock SET sort_name = lower(NEW.name), cell_type = NEW.cell_type, grade = NEW.grade,
                   hla = {_line_hla("NEW.id", "postgresql")}
            WHERE cell_line_id = NEW.id;
            RETURN NULL;
        END $$ LANGUAGE plpgsql
        """,
        # A typing recorded, corrected or removed, a consent given, changed or withdrawn (their rows have a donor_id):
        # every line of the donor gets the new copy.
        f"""
        CREATE OR REPLACE FUNCTION lots_hlatyping_linestock() RETURNS trigger AS $$
        DECLARE
            the_donor bigint := CASE WHEN TG_OP = 'DELETE' THEN OLD.donor_id ELSE NEW.donor_id END;
        BEGIN
            UPDATE lots_linestock s SET hla = {_donor_hla("the_donor", "postgresql")}
             WHERE s.cell_line_id IN (SELECT c.id FROM lots_cellline c WHERE c.donor_id = the_donor);
            RETURN NULL;
        END $$ LANGUAGE plpgsql
        """,
        # The donor's own withdrawal (or its correction).
        f"""
        CREATE OR REPLACE FUNCTION lots_donor_linestock() RETURNS trigger AS $$
        BEGIN
            UPDATE lots_linestock s SET hla = {_donor_hla("NEW.id", "postgresql")}
             WHERE s.cell_line_id IN (SELECT c.id FROM lots_cellline c WHERE c.donor_id = NEW.id);
            RETURN NULL;
        END $$ LANGUAGE plpgsql
        """,
        "DROP TRIGGER IF EXISTS lots_linestock_copy ON lots_linestock",
        "CREATE TRIGGER lots_linestock_copy BEFORE INSERT ON lots_linestock FOR EACH ROW "
        "EXECUTE FUNCTION lots_linestock_copy()",
        "DROP TRIGGER IF EXISTS lots_cellline_linestock ON lots_cellline",
        "CREATE TRIGGER lots_cellline_linestock AFTER UPDATE OF name, cell_type, grade, donor_id ON lots_cellline "
        "FOR EACH ROW WHEN (OLD.name IS DISTINCT FROM NEW.name OR OLD.cell_type IS DISTINCT FROM NEW.cell_type "
        "OR OLD.grade IS DISTINCT FROM NEW.grade OR OLD.donor_id IS DISTINCT FROM NEW.donor_id) "
        "EXECUTE FUNCTION lots_cellline_linestock()",
        "DROP TRIGGER IF EXISTS lots_hlatyping_linestock ON donors_hlatyping",
        "CREATE TRIGGER lots_hlatyping_linestock AFTER INSERT OR UPDATE OR DELETE ON donors_hlatyping "
        "FOR EACH ROW EXECUTE FUNCTION lots_hlatyping_linestock()",
        "DROP TRIGGER IF EXISTS lots_consent_linestock ON donors_consent",
        "CREATE TRIGGER lots_consent_linestock AFTER INSERT OR UPDATE OR DELETE ON donors_consent "
        "FOR EACH ROW EXECUTE FUNCTION lots_hlatyping_linestock()",
        "DROP TRIGGER IF EXISTS lots_donor_linestock ON donors_donor",
        "CREATE TRIGGER lots_donor_linestock AFTER UPDATE OF consent_withdrawn_at ON donors_donor FOR EACH ROW "
        "WHEN (OLD.consent_withdrawn_at IS DISTINCT FROM NEW.consent_withdrawn_at) "
        "EXECUTE FUNCTION lots_donor_linestock()",
        "DROP TRIGGER IF EXISTS lots_lot_linestock ON lots_lot",
        "CREATE TRIGGER lots_lot_linestock AFTER UPDATE OF status, consent_withdrawn_flagged_at, tier, cell_line_id "
        "ON lots_lot FOR EACH ROW EXECUTE FUNCTION lots_linestock_lot()",
    ]
    return statements


_SQLITE_COPY = ("UPDATE lots_linestock SET sort_name = (SELECT lower(name) FROM lots_cellline WHERE id = {id}), "
                "cell_type = (SELECT cell_type FROM lots_cellline WHERE id = {id}), "
                "grade = (SELECT grade FROM lots_cellline WHERE id = {id}), "
                "hla = {hla} WHERE cell_line_id = {id};")


def _sqlite_hla(donor: str) -> str:
    return (f"UPDATE lots_linestock SET hla = {_donor_hla(donor, 'sqlite')} "
            f"WHERE cell_line_id IN (SELECT c.id FROM lots_cellline c WHERE c.donor_id = {donor});")


# Rows whose copies differ from their line (a load with the triggers off writes none): set right. Without ``hla``
# when the database was migrated back before lots 0012.
_COPIES_PG = ("UPDATE lots_linestock s SET sort_name = lower(c.name), cell_type = c.cell_type, grade = c.grade"
              "{hla_set} FROM lots_cellline c{hla_join} WHERE c.id = s.cell_line_id AND "
              "(s.sort_name IS DISTINCT FROM lower(c.name) OR s.cell_type IS DISTINCT FROM c.cell_type "
              "OR s.grade IS DISTINCT FROM c.grade{hla_differs})")
_COPIES_PG_HLA = {"hla_set": ", hla = coalesce(" + hla_text("c.donor_id", "postgresql") + ", '')",
                  "hla_join": " LEFT JOIN donors_hlatyping h ON h.donor_id = c.donor_id",
                  "hla_differs": " OR s.hla IS DISTINCT FROM coalesce(" + hla_text("c.donor_id", "postgresql")
                                 + ", '')"}
_COPIES_SQLITE = ("UPDATE lots_linestock SET "
                  "sort_name = (SELECT lower(name) FROM lots_cellline c WHERE c.id = lots_linestock.cell_line_id), "
                  "cell_type = (SELECT cell_type FROM lots_cellline c WHERE c.id = lots_linestock.cell_line_id), "
                  "grade = (SELECT grade FROM lots_cellline c WHERE c.id = lots_linestock.cell_line_id){hla_set}")
_COPIES_SQLITE_HLA = {"hla_set": ", hla = " + _line_hla("lots_linestock.cell_line_id", "sqlite")}


def _copies_sql(vendor: str, with_hla: bool) -> str:
    """The repair of the copies on ``vendor`` (with the HLA copy unless migrated back before it)."""
    keys = _COPIES_PG_HLA if vendor == "postgresql" else _COPIES_SQLITE_HLA
    values = keys if with_hla else dict.fromkeys(keys, "")
    return (_COPIES_PG if vendor == "postgresql" else _COPIES_SQLITE).format(**values)


def _sqlite() -> list[str]:
    v = _sql_values()

    def add(lot_ref: str, sign: str) -> str:
        # One vial in or out of its lot's line, when the lot is distributable (an upsert on the counter).
        return (f"INSERT INTO lots_linestock (cell_line_id, mcb, other) "
                f"SELECT l.cell_line_id, CASE WHEN l.tier = '{v['mcb']}' THEN {sign}1 ELSE 0 END, "
                f"CASE WHEN l.tier = '{v['mcb']}' THEN 0 ELSE {sign}1 END FROM lots_lot l "
                f"WHERE l.id = {lot_ref} AND l.status = '{v['released']}' AND l.consent_withdrawn_flagged_at IS NULL "
                f"ON CONFLICT (cell_line_id) DO UPDATE SET mcb = mcb + excluded.mcb, other = other + excluded.other;")

    def lot_move(row: str, sign: str) -> str:
        count = (f"(SELECT count(*) FROM lots_vial WHERE lot_id = {row}.id AND status = '{v['available']}' "
                 f"AND kind IN ({v['kinds']}))")
        return (f"INSERT INTO lots_linestock (cell_line_id, mcb, other) "
                f"SELECT {row}.cell_line_id, CASE WHEN {row}.tier = '{v['mcb']}' THEN {sign}{count} ELSE 0 END, "
                f"CASE WHEN {row}.tier = '{v['mcb']}' THEN 0 ELSE {sign}{count} END "
                f"WHERE {row}.status = '{v['released']}' AND {row}.consent_withdrawn_flagged_at IS NULL "
                f"ON CONFLICT (cell_line_id) DO UPDATE SET mcb = mcb + excluded.mcb, other = other + excluded.other;")

    new_counted = f"NEW.status = '{v['available']}' AND NEW.kind IN ({v['kinds']})"
    old_counted = f"OLD.status = '{v['available']}' AND OLD.kind IN ({v['kinds']})"
    return [
        "DROP TRIGGER IF EXISTS lots_vial_linestock_ins",
        "DROP TRIGGER IF EXISTS lots_vial_linestock_del",
        "DROP TRIGGER IF EXISTS lots_vial_linestock_upd_out",
        "DROP TRIGGER IF EXISTS lots_vial_linestock_upd_in",
        "DROP TRIGGER IF EXISTS lots_lot_linestock",
        "DROP TRIGGER IF EXISTS lots_linestock_copy",
        "DROP TRIGGER IF EXISTS lots_cellline_linestock",
        "DROP TRIGGER IF EXISTS lots_hlatyping_linestock_ins",
        "DROP TRIGGER IF EXISTS lots_hlatyping_linestock_upd",
        "DROP TRIGGER IF EXISTS lots_hlatyping_linestock_del",
        "DROP TRIGGER IF EXISTS lots_consent_linestock_ins",
        "DROP TRIGGER IF EXISTS lots_consent_linestock_upd",
        "DROP TRIGGER IF EXISTS lots_consent_linestock_del",
        "DROP TRIGGER IF EXISTS lots_donor_linestock",
        "CREATE TRIGGER lots_linestock_copy AFTER INSERT ON lots_linestock "
        f"BEGIN {_SQLITE_COPY.format(id='NEW.cell_line_id', hla=_line_hla('NEW.cell_line_id', 'sqlite'))} END",
        "CREATE TRIGGER lots_cellline_linestock AFTER UPDATE OF name, cell_type, grade, donor_id ON lots_cellline "
        f"BEGIN {_SQLITE_COPY.format(id='NEW.id', hla=_line_hla('NEW.id', 'sqlite'))} END",
        *(f"CREATE TRIGGER lots_{table}_linestock_{op} AFTER {when} ON donors_{table} "
          f"BEGIN {_sqlite_hla(row + '.donor_id')} END"
          for table in ("hlatyping", "consent")
          for op, when, row in (("ins", "INSERT", "NEW"), ("upd", "UPDATE", "NEW"), ("del", "DELETE", "OLD"))),
        "CREATE TRIGGER lots_donor_linestock AFTER UPDATE OF consent_withdrawn_at ON donors_donor "
        f"BEGIN {_sqlite_hla('NEW.id')} END",
        f"CREATE TRIGGER lots_vial_linestock_ins AFTER INSERT ON lots_vial WHEN {new_counted} "
        f"BEGIN {add('NEW.lot_id', '')} END",
        f"CREATE TRIGGER lots_vial_linestock_del AFTER DELETE ON lots_vial WHEN {old_counted} "
        f"BEGIN {add('OLD.lot_id', '-')} END",
        f"CREATE TRIGGER lots_vial_linestock_upd_out AFTER UPDATE OF status, kind, lot_id ON lots_vial "
        f"WHEN {old_counted} BEGIN {add('OLD.lot_id', '-')} END",
        f"CREATE TRIGGER lots_vial_linestock_upd_in AFTER UPDATE OF status, kind, lot_id ON lots_vial "
        f"WHEN {new_counted} BEGIN {add('NEW.lot_id', '')} END",
        "CREATE TRIGGER lots_lot_linestock AFTER UPDATE OF status, consent_withdrawn_flagged_at, tier, cell_line_id "
        f"ON lots_lot BEGIN {lot_move('OLD', '-')} {lot_move('NEW', '')} END",
    ]


def _true_counts_sql() -> str:
    v = _sql_values()
    return (f"SELECT l.cell_line_id AS cell_line_id, "
            f"sum(CASE WHEN l.tier = '{v['mcb']}' THEN 1 ELSE 0 END) AS mcb, "
            f"sum(CASE WHEN l.tier = '{v['mcb']}' THEN 0 ELSE 1 END) AS other "
            f"FROM lots_vial v JOIN lots_lot l ON l.id = v.lot_id "
            f"WHERE v.status = '{v['available']}' AND v.kind IN ({v['kinds']}) "
            f"AND l.status = '{v['released']}' AND l.consent_withdrawn_flagged_at IS NULL "
            f"GROUP BY l.cell_line_id")


def drift(connection) -> list[tuple[int, int, int, int, int]]:
    """Lines whose counter differs from a count of their vials: ``(line id, mcb kept, other kept, mcb true,
    other true)``. One query over every vial (seconds at national scale): for checks, not for pages."""
    with connection.cursor() as cursor:
        cursor.execute(f"""
            SELECT coalesce(s.cell_line_id, t.cell_line_id), coalesce(s.mcb, 0), coalesce(s.other, 0),
                   coalesce(t.mcb, 0), coalesce(t.other, 0)
            FROM lots_linestock s FULL OUTER JOIN ({_true_counts_sql()}) t ON t.cell_line_id = s.cell_line_id
            WHERE coalesce(s.mcb, 0) <> coalesce(t.mcb, 0) OR coalesce(s.other, 0) <> coalesce(t.other, 0)
            ORDER BY 1""")
        return [tuple(row) for row in cursor.fetchall()]


def _recount(connection) -> int:
    """Bring every counter in line with the vials (and the copies of the lines' fields in line with the lines);
    returns how many lines' counters were wrong."""
    with connection.cursor() as cursor:
        columns = {c.name for c in connection.introspection.get_table_description(cursor, "lots_linestock")}
        if "sort_name" in columns:  # migrated back before lots 0011: no copies to keep
            cursor.execute(_copies_sql(connection.vendor, with_hla="hla" in columns))
    wrong = drift(connection)
    if not wrong:
        return 0
    with connection.cursor() as cursor:
        for line_id, _mcb, _other, mcb, other in wrong:
            cursor.execute("UPDATE lots_linestock SET mcb = %s, other = %s WHERE cell_line_id = %s",
                           [mcb, other, line_id])
            if cursor.rowcount == 0:
                cursor.execute("INSERT INTO lots_linestock (cell_line_id, mcb, other) VALUES (%s, %s, %s)",
                               [line_id, mcb, other])
    return len(wrong)


def install(connection) -> None:
    """Create the triggers on ``connection`` and bring every line's counter in line with its vials."""
    tables = set(connection.introspection.table_names())
    if not {"lots_vial", "lots_lot", "lots_linestock", "donors_hlatyping", "donors_consent", "donors_donor"} <= tables:
        return
    if connection.vendor == "postgresql":
        statements = _pg()
    elif connection.vendor == "sqlite":
        statements = _sqlite()
    else:  # pragma: no cover - the bank runs on PostgreSQL or the embedded SQLite
        return
    with connection.cursor() as cursor:
        for statement in statements:
            cursor.execute(statement)
    _recount(connection)


def install_stock_triggers(sender=None, using: str = "default", **kwargs) -> None:
    """post_migrate receiver (lots app)."""
    from django.db import connections

    install(connections[using or "default"])


def recount() -> int:
    """Repair any drift (there should be none) and say how many lines were wrong."""
    from django.db import connection

    return _recount(connection)
