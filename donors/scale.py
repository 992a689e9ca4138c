"""load_scale step of donors: mothers and infant donors of the cord blood units, the donors of the hPSC/MSC lines,
their consents, screenings (every required marker negative, inside the window), collections and HLA typings.

Scale donors have no ``DonorIdentity`` (the model allows it; an infant donor never has one). Row ``i`` of a kind
has id ``base + i``; the bases and the time line of the units (temp table ``scale_cb``) go to the context for the
later steps.
"""

from __future__ import annotations

import datetime
import json

from bank.scale import ScaleContext, copy_rows
from donors import hla_frequencies
from donors.choices import MATERNAL_TISSUES, Tissue
from donors.models import (
    Collection,
    Consent,
    Donor,
    EthicsApproval,
    HLATyping,
    Screening,
    ScreeningMarker,
    ScreeningResult,
)

CODE_ALPHABET = "23456789ABCDEFGHJKMNPQRSTUVWXYZ"  # donors.services.registry
CODE_SPACE = len(CODE_ALPHABET) ** 8
# A bijection n -> (n * MULTIPLIER + OFFSET) mod 31^8 turns the numbers of the ``scale:donor-code`` family into
# codes that look random, are never the same twice, and are the same on every run.
MULTIPLIER = 387_420_489  # 3^18, prime to 31
OFFSET = 104_729_000_003

# hPSC and MSC lines: the cell type of line j is LINE_TYPES[j % 10] (iPSC 20 %, ESC 10 %, MSC 70 %).
LINE_TYPES = ["iPSC", "UC-MSC", "ESC", "AD-MSC", "BM-MSC", "iPSC", "UC-MSC", "DP-MSC", "P-MSC", "UC-MSC"]
LINE_TISSUE = {"iPSC": Tissue.SKIN, "ESC": Tissue.EMBRYO, "UC-MSC": Tissue.UMBILICAL_CORD, "AD-MSC": Tissue.ADIPOSE,
               "BM-MSC": Tissue.BONE_MARROW, "DP-MSC": Tissue.DENTAL_PULP, "P-MSC": Tissue.PLACENTA}
CB_SCOPES = ["research", "clinical", "genetic_analysis", "data_sharing"]
LINE_SCOPES = ["research", "clinical", "commercial", "genetic_analysis", "data_sharing"]


def _code_sql(n_sql: str, prefix: str) -> str:
    x = f"(({n_sql})::bigint * {MULTIPLIER} + {OFFSET}) % {CODE_SPACE}"
    chars = " || ".join(f"substr('{CODE_ALPHABET}', (({x}) / {31 ** k} % 31)::int + 1, 1)" for k in range(7, -1, -1))
    return f"'{prefix}' || {chars}"


def load(ctx: ScaleContext) -> None:
    from django.conf import settings

    p = ctx.profile
    n, lines = p.units, p.lines
    tz = ctx.tz
    # The units' time line: born evenly over ``years`` up to yesterday; everything else follows from the birth.
    start = ctx.now - datetime.timedelta(days=p.years * 365 + 42)
    span = p.years * 365 * 86400.0
    ctx.execute("DROP TABLE IF EXISTS scale_cb")
    ctx.execute(
        """CREATE TEMP TABLE scale_cb ON COMMIT DROP AS
        SELECT g AS i, t.born_at,
               t.born_at + interval '10 minutes' AS collected_at,
               t.born_at + interval '6 hours' AS received_at,
               t.born_at + interval '20 hours' AS processing_started_at,
               t.born_at + interval '23 hours' AS processing_ended_at,
               t.born_at + interval '26 hours' AS frozen_at,
               t.born_at + interval '40 days' AS released_at,
               (t.born_at AT TIME ZONE %s)::date AS born_on,
               extract(year FROM t.born_at AT TIME ZONE %s)::int AS year
        FROM generate_series(0::bigint, %s - 1) g,
             LATERAL (SELECT date_trunc('second', %s::timestamptz + g * %s * interval '1 second') AS born_at) t""",
        [tz, tz, n, start, span / max(n, 1)])
    ctx.execute("CREATE UNIQUE INDEX ON scale_cb (i)")
    ctx.execute("ANALYZE scale_cb")
    # The lines' time line: collected over eight years, the last one more than a year ago.
    ctx.execute("DROP TABLE IF EXISTS scale_ln")
    ctx.execute(
        f"""CREATE TEMP TABLE scale_ln ON COMMIT DROP AS
        SELECT g AS j, (ARRAY{LINE_TYPES!r})[(g %% 10 + 1)::int]::varchar AS cell_type, t.collected_at,
               (t.collected_at AT TIME ZONE %s)::date AS collected_on,
               extract(year FROM t.collected_at AT TIME ZONE %s)::int AS year
        FROM generate_series(0::bigint, %s - 1) g,
             LATERAL (SELECT date_trunc('second', %s::timestamptz - interval '8 years'
                      + (g::float8 / %s) * interval '6 years') AS collected_at) t""",  # noqa: S608
        [tz, tz, lines, ctx.now, max(lines, 1)])
    ctx.execute("ALTER TABLE scale_ln ADD COLUMN tissue varchar")
    ctx.execute("UPDATE scale_ln SET tissue = (%s::jsonb ->> cell_type)", [json.dumps(LINE_TISSUE)])
    ctx.execute("CREATE UNIQUE INDEX ON scale_ln (j)")

    tech, coord = ctx.users["technician"], ctx.users["coordinator"]
    population = "Han Chinese"
    prefix = f"{settings.BARCODE_PREFIX}D-"
    donors_total = 2 * n + lines
    code0 = ctx.take_numbers("scale:donor-code", donors_total)
    donor0 = ctx.reserve_ids(Donor, donors_total)
    mother0, infant0, ldonor0 = donor0, donor0 + n, donor0 + 2 * n
    ctx.data.update(mother0=mother0, infant0=infant0, ldonor0=ldonor0)

    # Mothers (women of 22 to 40 at the birth), then their babies, then the line donors.
    ctx.insert(Donor, {
        "id": f"{mother0} + g", "code": _code_sql(f"{code0} + g", prefix), "sex": "'F'",
        "birth_year": "c.year - 22 - (g * 7919) % 19", "population": f"'{population}'", "donor_type": "'healthy'",
        "diagnosis": "''", "registered_at": "c.born_at - interval '30 days'", "registered_by_id": str(coord)},
        "FROM generate_series(0::bigint, %s - 1) g JOIN scale_cb c ON c.i = g", [n])
    ctx.insert(Donor, {
        "id": f"{infant0} + g", "code": _code_sql(f"{code0} + {n} + g", prefix),
        "sex": "CASE WHEN g % 2 = 0 THEN 'F' ELSE 'M' END", "birth_year": "c.year",
        "population": f"'{population}'", "donor_type": "'healthy'", "diagnosis": "''",
        "registered_at": "c.received_at", "registered_by_id": str(coord)},
        "FROM generate_series(0::bigint, %s - 1) g JOIN scale_cb c ON c.i = g", [n])
    ctx.insert(Donor, {
        "id": f"{ldonor0} + g", "code": _code_sql(f"{code0} + {2 * n} + g", prefix),
        "sex": "CASE WHEN g % 3 = 0 THEN 'M' ELSE 'F' END",
        "birth_year": "CASE WHEN l.cell_type = 'ESC' THEN l.year ELSE l.year - 20 - (g * 13) % 40 END",
        "population": f"'{population}'", "donor_type": "CASE WHEN g % 7 = 3 THEN 'patient' ELSE 'healthy' END",
        "diagnosis": "CASE WHEN g % 7 = 3 THEN 'Parkinson disease' ELSE '' END",
        "registered_at": "l.collected_at - interval '2 days'", "registered_by_id": str(coord)},
        "FROM generate_series(0::bigint, %s - 1) g JOIN scale_ln l ON l.j = g", [lines])
    ctx.add_history(Donor, donor0, donors_total, date_sql='m."registered_at"', reason="donor registered",
                    user="coordinator")

    # Consents: the mother signs for her baby on the day of the birth; line donors before their collection.
    consent0 = ctx.reserve_ids(Consent, n + lines)
    ctx.data["consent0"] = consent0
    ctx.insert(Consent, {
        "id": f"{consent0} + g", "donor_id": f"{infant0} + g", "form_version": "'CB-2.1'",
        "signed_on": "c.born_on", "scopes": f"'{json.dumps(CB_SCOPES)}'::jsonb",
        "recorded_by_id": str(coord), "recorded_at": "c.received_at", "withdrawal_reason": "''"},
        "FROM generate_series(0::bigint, %s - 1) g JOIN scale_cb c ON c.i = g", [n])
    ctx.insert(Consent, {
        "id": f"{consent0 + n} + g", "donor_id": f"{ldonor0} + g", "form_version": "'LINE-3.0'",
        "signed_on": "l.collected_on - 1", "scopes": f"'{json.dumps(LINE_SCOPES)}'::jsonb",
        "recorded_by_id": str(coord), "recorded_at": "l.collected_at - interval '1 day'",
        "withdrawal_reason": "''"},
        "FROM generate_series(0::bigint, %s - 1) g JOIN scale_ln l ON l.j = g", [lines])

    # Issue 15: every collection cites the bank's ethics approval, in force over the whole time line.
    first_day = min(start, ctx.now - datetime.timedelta(days=8 * 366)).date() - datetime.timedelta(days=1)
    approval = ctx.reserve_ids(EthicsApproval, 1)
    ctx.data["ethics_approval"] = approval
    ctx.insert(EthicsApproval, {
        "id": str(approval), "committee": "'Institutional Ethics Committee (scale bank)'",
        "approval_number": f"'IEC-SCALE-{approval}'", "scope": "'Collection, derivation, banking and distribution'",
        "valid_from": "%s::date", "valid_to": "%s::date", "withdrawal_reason": "''"},
        "", [first_day, ctx.now.date() + datetime.timedelta(days=2 * 366)])
    ctx.add_history(EthicsApproval, approval, 1, date_sql=f"'{ctx.now.isoformat()}'::timestamptz",
                    reason="ethics approval recorded", user="coordinator")
    # Collections: COL-<year>-<nnnn>, one number family per year (bank.sequences), in time order.
    collection0 = ctx.reserve_ids(Collection, n + lines)
    ctx.data["collection0"] = collection0
    years = ctx.all("SELECT year, sum(c) FROM (SELECT year, count(*) c FROM scale_cb GROUP BY year UNION ALL "
                    "SELECT year, count(*) FROM scale_ln GROUP BY year) y GROUP BY year ORDER BY year")
    firsts = ctx.take_numbers_by_group((year, f"collection:{year}", count) for year, count in years)
    ctx.temp_table("scale_colnum", "year int, first bigint, cb bigint", [])
    cb_counts = dict(ctx.all("SELECT year, count(*) FROM scale_cb GROUP BY year"))
    copy_rows(ctx.cursor, "scale_colnum", ["year", "first", "cb"],
              [(year, first, cb_counts.get(year, 0)) for year, first in firsts])
    ctx.insert(Collection, {
        "id": f"{collection0} + g", "donor_id": f"{infant0} + g", "consent_id": f"{consent0} + g",
        "code": "'COL-' || c.year || '-' || pg_temp.zpad((k.first + c.i - y.lo)::text, 4)",
        "tissue": "'cord_blood'", "collected_at": "c.collected_at", "received_at": "c.received_at",
        "transport_temperature_c": "22.0", "received_by_id": str(tech), "transport_delay_flagged": "FALSE",
        "transport_out_of_limits": "FALSE", "ethics_approval_id": str(approval), "notes": "''"},
        "FROM generate_series(0::bigint, %s - 1) g JOIN scale_cb c ON c.i = g "
        "JOIN (SELECT year, min(i) lo FROM scale_cb GROUP BY year) y ON y.year = c.year "
        "JOIN scale_colnum k ON k.year = c.year", [n])
    ctx.insert(Collection, {
        "id": f"{collection0 + n} + g", "donor_id": f"{ldonor0} + g", "consent_id": f"{consent0 + n} + g",
        "code": "'COL-' || l.year || '-' || pg_temp.zpad((k.first + k.cb + l.j - y.lo)::text, 4)",
        "tissue": "l.tissue", "collected_at": "l.collected_at", "received_at": "l.collected_at + interval '3 hours'",
        "transport_temperature_c": "4.0", "received_by_id": str(tech), "transport_delay_flagged": "FALSE",
        "transport_out_of_limits": "FALSE", "ethics_approval_id": str(approval), "notes": "''"},
        "FROM generate_series(0::bigint, %s - 1) g JOIN scale_ln l ON l.j = g "
        "JOIN (SELECT year, min(j) lo FROM scale_ln GROUP BY year) y ON y.year = l.year "
        "JOIN scale_colnum k ON k.year = l.year", [lines])
    ctx.add_history(Collection, collection0, n + lines, date_sql='m."received_at"', reason="collection received")

    # Screening: the maternal sample of the birth (cord blood) or the donor's own, drawn on the collection day,
    # every marker the panel requires for the tissue negative.
    screening0 = ctx.reserve_ids(Screening, n + lines)
    ctx.data["screening0"] = screening0
    ctx.insert(Screening, {
        "id": f"{screening0} + g", "donor_id": f"{infant0} + g", "sample_drawn_on": "c.born_on",
        "maternal_sample": "TRUE", "laboratory": "'Scale Provincial Blood Centre'", "recorded_by_id": str(coord),
        "recorded_at": "c.received_at + interval '2 days'"},
        "FROM generate_series(0::bigint, %s - 1) g JOIN scale_cb c ON c.i = g", [n])
    maternal = "(" + ", ".join(f"'{t}'" for t in MATERNAL_TISSUES) + ")"
    ctx.insert(Screening, {
        "id": f"{screening0 + n} + g", "donor_id": f"{ldonor0} + g", "sample_drawn_on": "l.collected_on",
        "maternal_sample": f"l.tissue IN {maternal}", "laboratory": "'Scale Provincial Blood Centre'",
        "recorded_by_id": str(coord), "recorded_at": "l.collected_at + interval '2 days'"},
        "FROM generate_series(0::bigint, %s - 1) g JOIN scale_ln l ON l.j = g", [lines])
    markers = list(ScreeningMarker.objects.filter(required=True).order_by("order", "code"))
    tissues = {"cord_blood", *LINE_TISSUE.values()}
    ctx.temp_table("scale_marker", "tissue varchar, marker varchar",
                   [(t, m.code) for t in sorted(tissues) for m in markers if m.required_for(t)])
    ctx.insert(ScreeningResult, {
        "screening_id": f"{screening0} + g", "marker": "mk.marker", "result": "'negative'",
        "correction_reason": "''", "recorded_by_id": str(coord), "recorded_at": "c.received_at + interval '2 days'"},
        "FROM generate_series(0::bigint, %s - 1) g JOIN scale_cb c ON c.i = g "
        "CROSS JOIN (SELECT marker FROM scale_marker WHERE tissue = 'cord_blood') mk", [n])
    ctx.insert(ScreeningResult, {
        "screening_id": f"{screening0 + n} + g", "marker": "mk.marker", "result": "'negative'",
        "correction_reason": "''", "recorded_by_id": str(coord),
        "recorded_at": "l.collected_at + interval '2 days'"},
        "FROM generate_series(0::bigint, %s - 1) g JOIN scale_ln l ON l.j = g "
        "JOIN scale_marker mk ON mk.tissue = l.tissue",
        [lines])

    # HLA: the infant's registration typing and each line donor's, 2-field, from the synthetic frequencies.
    typings = hla_frequencies.typings(n + lines, ctx.seed)
    loci = ["a_1", "a_2", "c_1", "c_2", "b_1", "b_2", "drb1_1", "drb1_2", "dqb1_1", "dqb1_2"]
    ctx.temp_table("scale_hla", "k int, " + ", ".join(f"{c} varchar" for c in loci), [])
    copy_rows(ctx.cursor, "scale_hla", ["k", *loci], ((k, *row) for k, row in enumerate(typings)))
    ctx.execute("CREATE UNIQUE INDEX ON scale_hla (k)")
    hla0 = ctx.reserve_ids(HLATyping, n + lines)
    ctx.data["hla0"] = hla0
    alleles = {c: f"h.{c}" for c in loci}
    common = {"dpb1_1": "''", "dpb1_2": "''", "resolution": "'2-field'", "recorded_by_id": str(coord)}
    ctx.insert(HLATyping, {
        "id": f"{hla0} + g", "donor_id": f"{infant0} + g", **alleles, **common, "method": "'ngs'",
        "typed_on": "c.born_on + 14", "laboratory": "'Scale HLA Laboratory'",
        "recorded_at": "c.received_at + interval '15 days'"},
        "FROM generate_series(0::bigint, %s - 1) g JOIN scale_cb c ON c.i = g JOIN scale_hla h ON h.k = g", [n])
    ctx.insert(HLATyping, {
        "id": f"{hla0 + n} + g", "donor_id": f"{ldonor0} + g", **alleles, **common, "method": "'sbt'",
        "typed_on": "l.collected_on + 20", "laboratory": "'Scale HLA Laboratory'",
        "recorded_at": "l.collected_at + interval '21 days'"},
        f"FROM generate_series(0::bigint, %s - 1) g JOIN scale_ln l ON l.j = g JOIN scale_hla h ON h.k = {n} + g",
        [lines])
    homozygous = ctx.one(f"SELECT count(*) FROM {HLATyping._meta.db_table} WHERE id >= %s AND a_1 = a_2 "  # noqa: S608
                         "AND b_1 = b_2 AND drb1_1 = drb1_2", [hla0])[0]
    ctx.counts["HLA-A/B/DRB1 homozygous donors"] = homozygous


def hla_keys(ctx: ScaleContext) -> None:
    """load_scale step (after ``donors.scale:load``): the HLA lookup keys of every typing just written, in one
    ``INSERT … SELECT`` (``donors.hla_index.fill_hla_keys``): the match search and coverage read them."""
    from donors.hla_index import fill_hla_keys

    ctx.counts["HLA lookup keys"] = fill_hla_keys(ctx.cursor)
