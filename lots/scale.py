"""load_scale step of lots: the CB-HSC line, unit lot and bag of every cord blood unit, and the hPSC/MSC lines with
their MCB and WCBs and vials — named and numbered as ``lots.services`` names them (hPSCreg names, bank names,
``LOT_NUMBER_PATTERN``, barcodes from ``bank.Sequence``), released (QA's decisions are the qc step's), every vial
placed in the box the storage layout gave it.

The cord blood plan (temp table ``scale_cbplan``: DIN, processing counts, volumes) comes from the cordblood plan
step; this step reads it without importing cordblood.
"""

from __future__ import annotations

import re
import string

from django.conf import settings
from django.core.management.base import CommandError

from bank.scale import ScaleContext
from lots import naming
from lots.models import CellLine, Lot, Vial


class _Spec:
    def __format__(self, spec: str) -> str:
        return f"\x00{spec}\x00"


def _pattern_parts(tier: str, year: int) -> tuple[str, str, str, str]:
    """``(sequence key, prefix, zero-padded width or "", suffix)`` of the lot numbers of ``tier`` frozen in ``year``."""
    pattern = settings.LOT_NUMBER_PATTERN
    fields = {name for _t, name, _s, _c in string.Formatter().parse(pattern) if name}
    if "line" in fields:
        raise CommandError("load_scale numbers lots per tier and year: a LOT_NUMBER_PATTERN with {line} is not "
                           "supported.")
    parts = {"tier": tier, "line": "", "year": year}
    prefix, spec, suffix = pattern.format(seq=_Spec(), **parts).split("\x00")
    width = re.fullmatch(r"0?(\d*)d?", spec)
    if width is None:
        raise CommandError(f"load_scale cannot number lots with the format {{seq:{spec}}}.")
    return naming.lot_number_key(pattern, parts), prefix, width.group(1) if spec.startswith("0") else "", suffix


def _number_table(ctx: ScaleContext, name: str, groups: list[tuple[str, int, int]]) -> None:
    """``name(tier, year, first, prefix, width, suffix)``: one block of lot numbers per (tier, year)."""
    rows = []
    for tier, year, count in groups:
        key, prefix, width, suffix = _pattern_parts(tier, year)
        rows.append((tier, year, ctx.take_numbers(key, count), prefix, width or "0", suffix))
    ctx.temp_table(name, "tier varchar, year int, first bigint, prefix varchar, width int, suffix varchar", rows)


LOT_NUMBER_SQL = ("n.prefix || CASE WHEN n.width > 0 THEN pg_temp.zpad((n.first + {k})::text, n.width) "
                  "ELSE (n.first + {k})::text END || n.suffix")


def load(ctx: ScaleContext) -> None:
    p = ctx.profile
    n, lines = p.units, p.lines
    tech = str(ctx.users["technician"])
    prefix = settings.BARCODE_PREFIX

    # --- cord blood: line, unit lot and bag per unit ---------------------------------------------------------
    cbhsc = naming.bank_name_prefix("CB-HSC")
    line0 = ctx.reserve_ids(CellLine, n + lines)
    ctx.data["cbline0"], ctx.data["line0"] = line0, line0 + n
    name_first = ctx.take_numbers(f"name:{cbhsc}", n)
    ctx.insert(CellLine, {
        "id": f"{line0} + g", "name": f"'{cbhsc}' || pg_temp.zpad(({name_first} + g)::text, 3)",
        "collection_id": f"{ctx.data['collection0']} + g", "donor_id": f"{ctx.data['infant0']} + g",
        "cell_type": "'CB-HSC'", "grade": "'clinical'", "reprogramming_method": "''", "subclone": "''",
        "description": "'Cord blood unit ' || u.din", "established_on": "(c.frozen_at AT TIME ZONE %s)::date",
        "created_by_id": tech, "created_at": "c.frozen_at"},
        "FROM generate_series(0::bigint, %s - 1) g JOIN scale_cb c ON c.i = g JOIN scale_cbplan u ON u.i = g",
        [ctx.tz, n])

    lot_total = n + lines * (1 + p.wcbs)
    lot0 = ctx.reserve_ids(Lot, lot_total)
    ctx.data["unitlot0"], ctx.data["lot0"], ctx.data["lot_end"] = lot0, lot0 + n, lot0 + lot_total
    lot_barcode = ctx.take_numbers("barcode:lot", lot_total)
    ctx.execute("ALTER TABLE scale_cb ADD COLUMN frozen_on date, ADD COLUMN frozen_year int")
    ctx.execute("UPDATE scale_cb SET frozen_on = (frozen_at AT TIME ZONE %s)::date", [ctx.tz])
    ctx.execute("UPDATE scale_cb SET frozen_year = extract(year FROM frozen_on)::int")
    groups = [("unit", year, count) for year, count in
              ctx.all("SELECT frozen_year, count(*) FROM scale_cb GROUP BY 1 ORDER BY 1")]
    _number_table(ctx, "scale_unitnum", groups)
    ctx.insert(Lot, {
        "id": f"{lot0} + g", "lot_number": LOT_NUMBER_SQL.format(k="g - y.lo"),
        "barcode": f"'{prefix}L' || pg_temp.zpad(({lot_barcode} + g)::text, 8)", "cell_line_id": f"{line0} + g",
        "din": "u.din", "tier": "'unit'", "passage": "0", "vial_count": "1", "cells_per_vial": "u.tnc_post",
        "volume_ml": "u.volume_post_ml", "cryoprotectant": "'DMSO 10 % / Dextran 40'",
        "cryoprotectant_lot": "'DX-' || c.frozen_year", "freezing_program": "'controlled_rate'",
        "freezing_profile": "'CB standard'", "frozen_on": "c.frozen_on", "operator_id": tech,
        "status": "'released'", "status_changed_at": "c.released_at", "notes": "'Cord blood unit ' || u.din",
        "created_at": "c.frozen_at"},
        "FROM generate_series(0::bigint, %s - 1) g JOIN scale_cb c ON c.i = g JOIN scale_cbplan u ON u.i = g "
        "JOIN (SELECT frozen_year, min(i) lo FROM scale_cb GROUP BY 1) y ON y.frozen_year = c.frozen_year "
        "JOIN scale_unitnum n ON n.tier = 'unit' AND n.year = c.frozen_year", [n])

    vial_total = n + lines * (p.mcb_vials + p.wcbs * p.wcb_vials)
    vial0 = ctx.reserve_ids(Vial, vial_total)
    ctx.data["bag0"], ctx.data["vial0"], ctx.data["vial_end"] = vial0, vial0, vial0 + vial_total
    ctx.data["culture_vial0"] = vial0 + n
    vial_barcode = ctx.take_numbers("barcode:vial", vial_total)
    bag = ctx.slot("bag", "g")
    ctx.insert(Vial, {
        "id": f"{vial0} + g", "lot_id": f"{lot0} + g", "number": "1",
        "barcode": f"'{prefix}V' || pg_temp.zpad(({vial_barcode} + g)::text, 8)", "kind": "'bag'",
        "status": "'available'", "status_changed_at": "c.frozen_at", **bag},
        "FROM generate_series(0::bigint, %s - 1) g JOIN scale_cb c ON c.i = g", [n])

    # --- hPSC and MSC lines: an MCB and its WCBs each ---------------------------------------------------------
    types = dict(ctx.all("SELECT j, cell_type FROM scale_ln ORDER BY j"))
    rows, counters = [], {}
    institute = naming.institute_code()
    for j in range(lines):
        counters.setdefault(types[j], []).append(j)
    for cell_type, js in sorted(counters.items()):
        if cell_type in naming.HPSCREG_KIND:
            key = f"name:{institute}{naming.HPSCREG_KIND[cell_type]}"
            first = ctx.take_numbers(key, len(js))
            if first + len(js) - 1 > naming.HPSCREG_MAX_NUMBER:
                raise CommandError(f"{len(js)} more {cell_type} lines do not fit the hPSCreg numbers of {institute} "
                                   f"(up to {naming.HPSCREG_MAX_NUMBER}).")
            for offset, j in enumerate(js):
                number = first + offset
                rows.append((j, naming.hpscreg_name(institute, cell_type, number, "A"), number, "A"))
        else:
            bank_prefix = naming.bank_name_prefix(cell_type)
            first = ctx.take_numbers(f"name:{bank_prefix}", len(js))
            rows.extend((j, f"{bank_prefix}{first + offset:03d}", None, "") for offset, j in enumerate(js))
    ctx.temp_table("scale_linename", "j int, name varchar, registry_number int, subclone varchar", rows)
    ctx.insert(CellLine, {
        "id": f"{line0 + n} + l.j", "name": "ln.name", "collection_id": f"{ctx.data['collection0'] + n} + l.j",
        "donor_id": f"{ctx.data['ldonor0']} + l.j", "cell_type": "l.cell_type",
        "grade": "CASE WHEN l.cell_type = 'UC-MSC' THEN 'clinical' ELSE 'research' END",
        "reprogramming_method": "CASE WHEN l.cell_type = 'iPSC' THEN 'episomal' ELSE '' END",
        "registry_number": "ln.registry_number", "subclone": "ln.subclone",
        "description": "'Scale ' || l.cell_type || ' line'", "established_on": "l.collected_on + 30",
        "created_by_id": tech, "created_at": "l.collected_at + interval '30 days'"},
        "FROM scale_ln l JOIN scale_linename ln ON ln.j = l.j")
    ctx.add_history(CellLine, line0, n + lines, date_sql='m."created_at"', reason="cell line registered")

    # Lot k of the lines: line j = k / (1 + wcbs), t = k % (1 + wcbs): 0 the MCB, then the WCBs made from it.
    per_line = 1 + p.wcbs
    per_line_vials = p.mcb_vials + p.wcbs * p.wcb_vials
    ctx.execute("DROP TABLE IF EXISTS scale_lot")
    ctx.execute(
        """CREATE TEMP TABLE scale_lot ON COMMIT DROP AS
        SELECT k, k / %(per)s AS j, k %% %(per)s AS t,
               CASE WHEN k %% %(per)s = 0 THEN 'MCB' ELSE 'WCB' END::varchar AS tier,
               l.collected_on + (60 + 60 * (k %% %(per)s))::int AS frozen_on, l.cell_type,
               CASE WHEN k %% %(per)s = 0 THEN %(mcb)s ELSE %(wcb)s END AS vial_count,
               (k / %(per)s) * %(line_vials)s
                 + CASE WHEN k %% %(per)s = 0 THEN 0 ELSE %(mcb)s + (k %% %(per)s - 1) * %(wcb)s END AS vial_start
        FROM generate_series(0::bigint, %(lots)s - 1) k JOIN scale_ln l ON l.j = k / %(per)s""",
        {"per": per_line, "mcb": p.mcb_vials, "wcb": p.wcb_vials, "line_vials": per_line_vials,
         "lots": lines * per_line})
    ctx.execute("ALTER TABLE scale_lot ADD COLUMN year int, ADD COLUMN seq int")
    ctx.execute("UPDATE scale_lot s SET year = extract(year FROM frozen_on)::int")
    ctx.execute("UPDATE scale_lot s SET seq = r.seq FROM (SELECT k, row_number() OVER (PARTITION BY tier, year "
                "ORDER BY k) - 1 AS seq FROM scale_lot) r WHERE r.k = s.k")
    groups = ctx.all("SELECT tier, year, count(*) FROM scale_lot GROUP BY 1, 2 ORDER BY 1, 2")
    _number_table(ctx, "scale_lotnum", groups)
    clot0 = lot0 + n
    msc = "l.cell_type NOT IN ('iPSC', 'ESC')"
    ctx.insert(Lot, {
        "id": f"{clot0} + l.k", "lot_number": LOT_NUMBER_SQL.format(k="l.seq"),
        "barcode": f"'{prefix}L' || pg_temp.zpad(({lot_barcode + n} + l.k)::text, 8)",
        "cell_line_id": f"{line0 + n} + l.j", "tier": "l.tier",
        "parent_lot_id": f"CASE WHEN l.t = 0 THEN NULL ELSE {clot0} + l.j * {per_line} END",
        "passage": f"CASE WHEN {msc} THEN 3 ELSE 8 END + 3 * l.t",
        "population_doublings": f"CASE WHEN {msc} THEN 9.5 ELSE 14.0 END + 6.5 * l.t",
        "vial_count": "l.vial_count", "cells_per_vial": f"CASE WHEN {msc} THEN 2000000 ELSE 1000000 END",
        "volume_ml": "1.00", "cryoprotectant": "'CryoStor CS10'", "cryoprotectant_lot": "'CS10-' || l.year",
        "freezing_program": "'controlled_rate'", "freezing_profile": "'hPSC slow'", "frozen_on": "l.frozen_on",
        "operator_id": tech, "status": "'released'",
        "status_changed_at": f"(l.frozen_on + 45)::timestamp AT TIME ZONE '{ctx.tz}' + interval '10 hours'",
        "notes": "''", "created_at": f"l.frozen_on::timestamp AT TIME ZONE '{ctx.tz}' + interval '9 hours'"},
        "FROM scale_lot l JOIN scale_lotnum n ON n.tier = l.tier AND n.year = l.year")
    ctx.add_history(Lot, lot0, lot_total, date_sql='m."created_at"', reason="lot frozen")

    slot = ctx.slot("vial", "l.vial_start + v - 1")
    ctx.insert(Vial, {
        "id": f"{vial0 + n} + l.vial_start + v - 1", "lot_id": f"{clot0} + l.k", "number": "v",
        "barcode": f"'{prefix}V' || pg_temp.zpad(({vial_barcode + n} + l.vial_start + v - 1)::text, 8)",
        "kind": "'vial'", "status": "'available'",
        "status_changed_at": f"l.frozen_on::timestamp AT TIME ZONE '{ctx.tz}' + interval '9 hours'", **slot},
        "FROM scale_lot l CROSS JOIN LATERAL generate_series(1, l.vial_count) v")
    ctx.add_history(Vial, vial0, vial_total, date_sql='m."status_changed_at"', reason="lot frozen")
