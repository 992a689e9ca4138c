"""load_scale step of qc: each scale lot judged by the specification in force (``LotSpecification``), a passing
result for every required test, QA's release (``LotDecision``) with its e-signature, and a stability plan for the
lots the app re-checks.

The signature is what ``release_lot`` → ``bank.signatures.record_signature`` stores: the SHA-256 of the decision's
content and of the manifest of what QA reviewed (``qc.queries.lot_manifest``), both in the canonical JSON of
``bank.signatures`` (sorted keys, no spaces), built here in SQL for every lot at once; ``bank.signatures.check``
finds them matching (the load's test checks a sample).
"""

from __future__ import annotations

import json
from decimal import Decimal

from django.contrib.contenttypes.models import ContentType

from bank.models import Signature
from bank.scale import ScaleContext
from lots.models import Lot
from qc.choices import ANY_OUTCOME
from qc.models import LotDecision, LotSpecification, QCResult, StabilityPlan, format_number
from qc.queries import DEFAULT_MIN_VIABILITY, MANIFEST_VERSION, specs_in_force


def _j(value) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def _sql_text(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def _result_value(criterion) -> tuple[Decimal | None, str]:
    """A passing value or outcome for ``criterion`` (numbers inside the limits, comfortably)."""
    if criterion.expected == ANY_OUTCOME:
        outcomes = criterion.test.outcomes or ["recorded"]
        return None, outcomes[0]
    if criterion.expected:
        return None, criterion.expected
    low, high = criterion.min_value, criterion.max_value
    if low is not None and high is not None:
        return ((low + high) / 2).quantize(Decimal("0.01")), ""
    if low is not None:
        return (low * Decimal("1.15") + Decimal("1")).quantize(Decimal("0.1")), ""
    return (high * Decimal("0.4")).quantize(Decimal("0.01")), ""


# Per-unit figures the cord blood plan already holds (so the QC panel agrees with the unit's processing record).
CB_VALUES = {
    "tnc": "round(u.tnc_post / 100000000.0, 2)",
    "cd34": "round(u.cd34_post / 1000000.0, 2)",
    "nrbc": "u.nrbc_pct",
}
CB_OUTCOMES = {"abo_rh": "lower(u.abo) || CASE WHEN u.rh = 'pos' THEN '+' ELSE '-' END"}


def _num_text(sql: str) -> str:
    """SQL: ``format_number`` of a numeric (trailing zeros dropped) as JSON text."""
    return (f"CASE WHEN ({sql}) IS NULL THEN 'null' WHEN ({sql}) = 0 THEN '\"0\"' ELSE "
            f"'\"' || rtrim(rtrim(({sql})::numeric(12, 4)::text, '0'), '.') || '\"' END")


def load(ctx: ScaleContext) -> None:
    lo, hi = ctx.data["unitlot0"], ctx.data["lot_end"]
    tech, qa = str(ctx.users["technician"]), ctx.users["qa"]
    specs = {(s.cell_type, s.tier): s for s in specs_in_force()}
    pairs = ctx.all("SELECT DISTINCT cl.cell_type, l.tier, cl.reprogramming_method FROM lots_lot l "
                    "JOIN lots_cellline cl ON cl.id = l.cell_line_id WHERE l.id >= %s AND l.id < %s", [lo, hi])
    crit_rows, spec_rows = [], []
    for cell_type, tier, method in pairs:
        spec = specs[(cell_type, tier)]
        viability = DEFAULT_MIN_VIABILITY
        for c in spec.criteria.all():
            if c.only_for_reprogramming and c.only_for_reprogramming != method:
                continue
            if c.test.code == "viability" and c.min_value is not None:
                viability = c.min_value
            value, outcome = _result_value(c)
            unit = c.test.unit if value is not None else ""
            crit_rows.append((spec.pk, cell_type, tier, method, c.pk, c.test_id, c.test.code, c.blocking,
                              value, outcome, unit, _j(c.describe()), _j(format_number(value) if value is not None
                                                                          else None)))
        spec_rows.append((cell_type, tier, method, spec.pk, spec.version, str(spec), viability))
    ctx.temp_table("scale_crit", "spec_id int, cell_type varchar, tier varchar, method varchar, criterion_id int, "
                   "test_id int, code varchar, blocking bool, value numeric(12, 4), outcome varchar, unit varchar, "
                   "describe_json text, value_json text", crit_rows)
    ctx.temp_table("scale_spec", "cell_type varchar, tier varchar, method varchar, spec_id int, version int, "
                   "label varchar, min_viability numeric(5, 2)", spec_rows)
    ctx.execute("DROP TABLE IF EXISTS scale_qlot")
    # Every scale lot with what judges it: its spec, when it was tested and released, its unit's row (if any).
    ctx.execute(
        f"""CREATE TEMP TABLE scale_qlot ON COMMIT DROP AS
        SELECT l.id AS lot_id, l.id - %s AS k, l.frozen_on, l.status_changed_at AS released_at, l.tier,
               cl.cell_type, cl.reprogramming_method AS method, s.spec_id, s.label, s.min_viability,
               CASE WHEN l.tier = 'unit' THEN l.id - %s END AS i
        FROM "{Lot._meta.db_table}" l JOIN lots_cellline cl ON cl.id = l.cell_line_id
        JOIN scale_spec s ON s.cell_type = cl.cell_type AND s.tier = l.tier AND s.method = cl.reprogramming_method
        WHERE l.id >= %s AND l.id < %s""", [lo, lo, lo, hi])  # noqa: S608
    ctx.execute("CREATE UNIQUE INDEX ON scale_qlot (lot_id)")
    ctx.execute("ANALYZE scale_qlot")
    lots = hi - lo

    ctx.insert(LotSpecification, {
        "lot_id": "q.lot_id", "specification_id": "q.spec_id",
        "assigned_at": f"q.frozen_on::timestamp AT TIME ZONE '{ctx.tz}' + interval '3 days'"},
        "FROM scale_qlot q ORDER BY q.lot_id")

    plan = ctx.data.get("cb_plan")
    value = "c.value"
    outcome = "c.outcome"
    if plan:
        value = "CASE " + " ".join(f"WHEN q.tier = 'unit' AND c.code = '{code}' THEN {sql}"
                                   for code, sql in CB_VALUES.items()) + " ELSE c.value END"
        outcome = "CASE " + " ".join(f"WHEN q.tier = 'unit' AND c.code = '{code}' THEN {sql}"
                                     for code, sql in CB_OUTCOMES.items()) + " ELSE c.outcome END"
    join_plan = f"LEFT JOIN {plan} u ON u.i = q.i" if plan else ""
    ctx.insert(QCResult, {
        "lot_id": "q.lot_id", "test_id": "c.test_id", "criterion_id": "c.criterion_id", "value": value,
        "outcome": f"coalesce({outcome}, '')", "unit": "c.unit", "method": "''", "instrument": "''",
        "tested_on": "q.frozen_on + 7 + (c.test_id % 5)", "passed": "TRUE", "entered_by_id": tech,
        "entered_at": f"(q.frozen_on + 14)::timestamp AT TIME ZONE '{ctx.tz}' + interval '10 hours' "
                      "+ c.test_id * interval '1 minute'", "notes": "''"},
        f"FROM scale_qlot q JOIN scale_crit c ON c.spec_id = q.spec_id AND c.method = q.method AND c.blocking "
        f"{join_plan} ORDER BY q.lot_id, c.test_id")

    decision0 = ctx.reserve_ids(LotDecision, lots)
    ctx.insert(LotDecision, {
        "id": f"{decision0} + q.k", "lot_id": "q.lot_id", "decision": "'release'",
        "decided_at": "date_trunc('second', q.released_at)", "decided_by_id": str(qa), "reason": "''",
        "specification_id": "q.spec_id"},
        "FROM scale_qlot q")
    ctx.add_history(LotDecision, decision0, lots, date_sql='m."decided_at"', reason="lot released", user="qa")
    _signatures(ctx, decision0, lots)

    culture = ctx.one("SELECT count(*) FROM scale_qlot WHERE tier <> 'unit'")[0]
    ctx.insert(StabilityPlan, {
        "lot_id": "q.lot_id", "interval_days": "365", "min_viability_pct": "q.min_viability",
        "next_due_on": "%s::date + 1 + ((q.k * 7) % 365)::int", "active": "TRUE"},
        "FROM scale_qlot q WHERE q.tier <> 'unit' ORDER BY q.lot_id", [ctx.now.date()])
    ctx.counts["culture lots with a stability plan"] = culture


def _signatures(ctx: ScaleContext, decision0: int, count: int) -> None:
    """The release signatures: canonical JSON of the decision and of its manifest, hashed, as ``record_signature``
    stores them (keys sorted, no spaces, non-ASCII as is)."""
    ct = ContentType.objects.get_for_model(LotDecision, for_concrete_model=True)
    qa = ctx.users["qa"]
    # One JSON fragment per counted result (keys sorted: criterion, outcome, passed, required, result, tested_on,
    # unit, value) and per reference criterion without a result (criterion, required, result).
    frag = ("to_json(c.code)::text || ':{\"criterion\":' || c.describe_json || ',\"outcome\":' || "
            "CASE WHEN r.outcome = '' THEN 'null' ELSE to_json(r.outcome)::text END || "
            "',\"passed\":true,\"required\":' || CASE WHEN c.blocking THEN 'true' ELSE 'false' END || "
            "',\"result\":' || r.id || ',\"tested_on\":\"' || r.tested_on || '\",\"unit\":' || "
            "CASE WHEN r.unit = '' THEN 'null' ELSE to_json(r.unit)::text END || ',\"value\":' || "
            + _num_text("r.value") + " || '}'")
    empty = ("to_json(c.code)::text || ':{\"criterion\":' || c.describe_json || ',\"required\":' || "
             "CASE WHEN c.blocking THEN 'true' ELSE 'false' END || ',\"result\":null}'")
    ctx.execute("DROP TABLE IF EXISTS scale_results")
    ctx.execute(
        f"""CREATE TEMP TABLE scale_results ON COMMIT DROP AS
        SELECT lot_id, '{{' || string_agg(f, ',' ORDER BY code) || '}}' AS results FROM (
            SELECT r.lot_id, c.code, {frag} AS f
            FROM "{QCResult._meta.db_table}" r JOIN scale_qlot q ON q.lot_id = r.lot_id
            JOIN scale_crit c ON c.criterion_id = r.criterion_id AND c.method = q.method
            UNION ALL
            SELECT q.lot_id, c.code, {empty}
            FROM scale_qlot q JOIN scale_crit c ON c.spec_id = q.spec_id AND c.method = q.method AND NOT c.blocking
        ) x GROUP BY lot_id""")  # noqa: S608
    ctx.execute("CREATE UNIQUE INDEX ON scale_results (lot_id)")
    lot_json = (
        "'{\"ancestor_recalled\":false,\"cell_line\":' || to_json(cl.name)::text || ',\"cell_type\":' || "
        "to_json(cl.cell_type)::text || ',\"cells_per_vial\":' || l.cells_per_vial || "
        "',\"consent_withdrawn_flagged\":false,\"cryoprotectant\":' || to_json(l.cryoprotectant)::text || "
        "',\"cryoprotectant_lot\":' || CASE WHEN l.cryoprotectant_lot = '' THEN 'null' "
        "ELSE to_json(l.cryoprotectant_lot)::text END || ',\"frozen_on\":\"' || l.frozen_on || '\",\"grade\":' || "
        "to_json(cl.grade)::text || ',\"id\":' || l.id || ',\"lot_number\":' || to_json(l.lot_number)::text || "
        "',\"operator\":' || l.operator_id || ',\"parent_lot\":' || coalesce(l.parent_lot_id::text, 'null') || "
        "',\"passage\":' || l.passage || ',\"population_doublings\":' || "
        + _num_text("l.population_doublings") + " || ',\"reprogramming_method\":' || "
        "to_json(cl.reprogramming_method)::text || ',\"tier\":' || to_json(l.tier)::text || ',\"vial_count\":' || "
        "l.vial_count || ',\"volume_ml\":' || " + _num_text("l.volume_ml") + " || '}'")
    manifest = (
        "'{\"decision\":\"release\",\"deviations\":{},\"donor\":{\"collection\":' || cl.collection_id || "
        "',\"consent\":\"active\",\"consent_withdrawn\":false,\"eligibility\":\"eligible\",\"missing_markers\":[],"
        "\"positive_markers\":[]},\"lot\":' || " + lot_json + " || ',\"other_results\":{},\"results\":' || "
        "coalesce(sr.results, '{}') || ',\"specification\":{\"cell_type\":' || to_json(s.cell_type)::text || "
        "',\"id\":' || s.spec_id || ',\"tier\":' || to_json(s.tier)::text || ',\"version\":' || s.version || "
        f"'}},\"version\":{MANIFEST_VERSION}}}'")
    content = (
        "'{\"content\":{\"cited_result_id\":null,\"decided_at\":\"' || "
        "to_char(d.decided_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS') || '+00:00\",\"decided_by_id\":' || "
        "d.decided_by_id || ',\"decision\":\"release\",\"id\":' || d.id || ',\"lot_id\":' || d.lot_id || "
        "',\"reason\":\"\",\"specification_id\":' || d.specification_id || "
        f"'}},\"model\":\"{LotDecision._meta.label_lower}\",\"pk\":' || d.id || '}}'")
    printed = ctx.names["qa"]
    signature0 = ctx.reserve_ids(Signature, count)
    ctx.insert(Signature, {
        "id": f"{signature0} + d.id - {decision0}", "signer_id": str(qa), "printed_name": _sql_text(printed),
        "signed_at": "d.decided_at", "meaning": "'release'",
        "statement": "'Lot ' || l.lot_number || ' meets specification ' || s.label || '.'",
        "content_type_id": str(ct.pk), "object_id": "d.id",
        "content_hash": "encode(sha256(convert_to(x.content, 'UTF8')), 'hex')",
        "manifest": "x.manifest::jsonb",
        "manifest_hash": "encode(sha256(convert_to(x.manifest, 'UTF8')), 'hex')"},
        f"""FROM "{LotDecision._meta.db_table}" d JOIN "{Lot._meta.db_table}" l ON l.id = d.lot_id
        JOIN lots_cellline cl ON cl.id = l.cell_line_id JOIN scale_qlot q ON q.lot_id = l.id
        JOIN scale_spec s ON s.spec_id = q.spec_id AND s.method = q.method
        LEFT JOIN scale_results sr ON sr.lot_id = l.id,
        LATERAL (SELECT {manifest} AS manifest, {content} AS content OFFSET 0) x
        WHERE d.id >= %s AND d.id < %s""", [decision0, decision0 + count])
    ctx.add_history(Signature, signature0, count, date_sql='m."signed_at"', reason="e-signature: release", user="qa")
