"""The HLA lookup keys of ``donors.HLAKey``: one row per typed donor, kept from the donor's registration typing.

Why: a match search over a national cord blood bank (a million typed units) must find the few units compatible
with a patient without computing mismatches for every unit. A donor with no host-versus-graft mismatch at a
locus carries there only alleles the patient has, so their unordered genotype at that locus is one of a handful of
values known in advance (for patient ``p1/p2``: ``p1/p1``, ``p1/p2``, ``p2/p2``, and the 1-field forms of those
alleles). Stored as one text key per locus (``"A*02:01/A*24:02"``) with a b-tree index each, that search is a few
exact index lookups per locus, intersected across loci (PostgreSQL's BitmapAnd); the group keys
(``"A*02/A*24"``) serve a patient typed at one field. ``haplotype`` / ``haplotype_group`` name the A~B~DRB1
haplotype of donors homozygous at those three loci (coverage, recruitment), under a partial index.

The keys are written here only:

* ``refresh(typing)`` after every save of an ``HLATyping`` (``set_hla``, and any other write through the ORM: the
  receiver is connected in ``DonorsConfig.ready()``; keeping derived data fresh is what a signal may do);
* ``fill_hla_keys(cursor)`` — one ``INSERT … SELECT`` over ``donors_hlatyping`` — for bulk loads that write typings
  in SQL (``manage.py load_scale``: its ``donors.scale:hla_keys`` step) and for the migration that created the
  table. It writes exactly what ``keys_for`` computes (a test holds the two together).

Alleles are compared as stored (``A*24:02``; ``set_hla`` normalises them), in code-point order (``COLLATE "C"`` on
PostgreSQL), so Python and SQL sort a pair the same way whatever the database's collation.
"""

from __future__ import annotations

from collections.abc import Iterable

KEY_LOCI = ("A", "B", "C", "DRB1", "DQB1")
HAPLOTYPE_LOCI = ("A", "B", "DRB1")
SEPARATOR = "/"
HAPLOTYPE_SEPARATOR = "~"


def group_of(allele: str) -> str:
    """``"A*24:02"`` → ``"A*24"`` (the allele group, the first field); a 1-field allele is its own group."""
    return str(allele or "").split(":", 1)[0]


def genotype_key(first: str, second: str) -> str:
    """The unordered pair as one key: ``genotype_key("A*24:02", "A*02:01") == "A*02:01/A*24:02"``."""
    low, high = sorted((str(first or ""), str(second or "")))
    return f"{low}{SEPARATOR}{high}"


def key_fields(locus: str) -> tuple[str, str]:
    """``("a_key", "a_group")``: the two columns of ``locus``."""
    name = locus.lower()
    return f"{name}_key", f"{name}_group"


def _pair(typing, locus: str) -> tuple[str, str]:
    name = locus.lower()
    return str(getattr(typing, f"{name}_1", "") or ""), str(getattr(typing, f"{name}_2", "") or "")


def homozygous_haplotype(pairs: dict[str, tuple[str, str]], *, groups: bool) -> str:
    """The A~B~DRB1 haplotype of a donor homozygous at the three loci, at two fields (``groups=False``: both
    alleles identical and typed at two fields) or at the allele-group level (``groups=True``); else ``""``."""
    alleles = []
    for locus in HAPLOTYPE_LOCI:
        first, second = pairs[locus]
        if groups:
            first, second = group_of(first), group_of(second)
        elif ":" not in first or ":" not in second:
            return ""
        if not first or first != second:
            return ""
        alleles.append(first)
    return HAPLOTYPE_SEPARATOR.join(alleles)


def keys_for(typing) -> dict[str, str]:
    """The ``HLAKey`` columns of one typing (anything with ``a_1``, ``a_2``, ... attributes)."""
    pairs = {locus: _pair(typing, locus) for locus in KEY_LOCI}
    values: dict[str, str] = {}
    for locus, (first, second) in pairs.items():
        key, group = key_fields(locus)
        values[key] = genotype_key(first, second)
        values[group] = genotype_key(group_of(first), group_of(second))
    values["haplotype"] = homozygous_haplotype(pairs, groups=False)
    values["haplotype_group"] = homozygous_haplotype(pairs, groups=True)
    return values


def refresh(typing) -> None:
    """Write the keys of ``typing``'s donor (one upsert)."""
    from donors.models import HLAKey

    values = keys_for(typing)
    HLAKey.objects.bulk_create([HLAKey(donor_id=typing.donor_id, **values)], update_conflicts=True,
                               unique_fields=["donor"], update_fields=list(values))


def on_typing_saved(sender, instance, raw=False, **kwargs) -> None:
    """``post_save`` receiver of ``HLATyping`` (fixtures loaded raw included: the keys are derived data)."""
    refresh(instance)


# --- set-based fill (bulk loads, the migration) -----------------------------------------------------------------


def _sql_group(column: str, vendor: str) -> str:
    if vendor == "postgresql":
        return f"split_part({column}, ':', 1)"
    return f"CASE WHEN instr({column}, ':') > 0 THEN substr({column}, 1, instr({column}, ':') - 1) ELSE {column} END"


def _sql_pair_key(first: str, second: str, vendor: str) -> str:
    collate = ' COLLATE "C"' if vendor == "postgresql" else ""
    return (f"CASE WHEN {first}{collate} <= {second}{collate} THEN {first} || '/' || {second} "
            f"ELSE {second} || '/' || {first} END")


def _sql_haplotype(columns: Iterable[tuple[str, str]], *, groups: bool, vendor: str) -> str:
    conditions, parts = [], []
    for first, second in columns:
        if groups:
            first, second = _sql_group(first, vendor), _sql_group(second, vendor)
        else:
            conditions.append(f"{first} LIKE '%%:%%'")
        conditions += [f"{first} <> ''", f"{first} = {second}"]
        parts.append(first)
    joined = " || '~' || ".join(parts)
    return f"CASE WHEN {' AND '.join(conditions)} THEN {joined} ELSE '' END"


def fill_sql(vendor: str = "postgresql", *, where: str = "") -> str:
    """The ``INSERT … SELECT`` that writes the keys of every typing (``where``: an extra condition on ``t``, the
    typing); donors whose keys exist are left as they are, so running it twice is harmless. ``%`` is doubled: run
    it through a DB-API cursor with a parameter list (``cursor.execute(sql, [])``)."""
    from donors.models import HLAKey, HLATyping

    columns, values = ["donor_id"], ["t.donor_id"]
    for locus in KEY_LOCI:
        name = locus.lower()
        first, second = f"coalesce(t.{name}_1, '')", f"coalesce(t.{name}_2, '')"
        key, group = key_fields(locus)
        columns += [key, group]
        values += [_sql_pair_key(first, second, vendor),
                   _sql_pair_key(_sql_group(first, vendor), _sql_group(second, vendor), vendor)]
    pairs = [(f"coalesce(t.{locus.lower()}_1, '')", f"coalesce(t.{locus.lower()}_2, '')") for locus in HAPLOTYPE_LOCI]
    columns += ["haplotype", "haplotype_group"]
    values += [_sql_haplotype(pairs, groups=False, vendor=vendor), _sql_haplotype(pairs, groups=True, vendor=vendor)]
    keys, typings = HLAKey._meta.db_table, HLATyping._meta.db_table
    condition = f" AND ({where})" if where else ""
    # Written in A, B, DRB1 genotype order: a fresh table then holds donors of one genotype side by side, so the
    # few thousand rows a search reads sit on tens of pages rather than thousands.
    order = ", ".join(str(columns.index(key_fields(locus)[0]) + 1) for locus in ("A", "B", "DRB1"))
    return (f"INSERT INTO {keys} ({', '.join(columns)}) "  # noqa: S608 - table and column names are the models'
            f"SELECT {', '.join(values)} FROM {typings} t "
            f"WHERE NOT EXISTS (SELECT 1 FROM {keys} k WHERE k.donor_id = t.donor_id){condition} ORDER BY {order}")


def fill_hla_keys(cursor, *, where: str = "") -> int:
    """Write the keys of every typing that has none, in one statement; returns the number of rows written.

    For ``manage.py load_scale`` (after ``donors.scale:load`` wrote the typings) and the migration. ``cursor`` is a
    Django cursor (``connection.cursor()``, a load's ``ctx.cursor``) on the database to fill."""
    cursor.execute(fill_sql(cursor.db.vendor, where=where), [])
    return cursor.rowcount
