"""load_scale step of distribution: researchers' requests for the scale lines over the last year, approved by QA,
their vials allocated from the lines' WCBs, and — for all but every fiftieth, still waiting to ship with its
vials reserved in their boxes — shipped (vials shipped and removed from storage with a ``removed`` move, as
``ship_request`` does) and mostly received.
"""

from __future__ import annotations

from bank.scale import ScaleContext
from distribution.models import Allocation, DistributionRequest, MaterialTransferAgreement, Shipment
from lots.models import Vial
from storage.models import Box, VialMove


def load(ctx: ScaleContext) -> None:
    p = ctx.profile
    r_count, lines = p.requests, p.lines
    if not r_count or not lines or not ctx.researchers:
        return
    tech, qa = str(ctx.users["technician"]), str(ctx.users["qa"])
    mta = MaterialTransferAgreement.objects.filter(active=True).order_by("-effective_from", "-id").first()
    per_line_vials = p.mcb_vials + p.wcbs * p.wcb_vials
    researchers = "ARRAY[" + ", ".join(str(r) for r in ctx.researchers) + "]::int[]"
    ctx.execute("DROP TABLE IF EXISTS scale_req")
    ctx.execute(
        f"""CREATE TEMP TABLE scale_req ON COMMIT DROP AS
        SELECT r, (r * 7) %% %(lines)s AS j, 1 + r %% 2 AS vials,
               CASE WHEN r %% 50 = 49 THEN 'approved' WHEN r %% 5 = 4 THEN 'shipped' ELSE 'received' END::varchar
                 AS status,
               t.submitted_at, extract(year FROM t.submitted_at AT TIME ZONE %(tz)s)::int AS year,
               ({researchers})[(r %% {len(ctx.researchers)} + 1)::int] AS researcher
        FROM generate_series(0::bigint, %(n)s - 1) r,
             LATERAL (SELECT date_trunc('second', %(now)s::timestamptz - interval '365 days'
                      + (r::float8 / %(n)s) * interval '355 days') AS submitted_at) t""",  # noqa: S608
        {"lines": lines, "tz": ctx.tz, "n": r_count, "now": ctx.now})
    ctx.execute("ALTER TABLE scale_req ADD COLUMN seq int, ADD COLUMN first_vial int")
    ctx.execute("UPDATE scale_req s SET seq = x.seq, first_vial = x.first_vial FROM (SELECT r, "
                "row_number() OVER (PARTITION BY year ORDER BY r) - 1 AS seq, "
                "coalesce(sum(vials) OVER (PARTITION BY j ORDER BY r ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING),"
                " 0) AS first_vial FROM scale_req) x WHERE x.r = s.r")
    most = ctx.one("SELECT max(first_vial + vials) FROM scale_req")[0]
    if most > p.wcbs * p.wcb_vials:
        raise ValueError("more vials requested per line than its WCBs hold")
    numbers = ctx.take_numbers_by_group(
        (year, f"request:{year}", count) for year, count in ctx.all("SELECT year, count(*) FROM scale_req GROUP BY 1"))
    ctx.temp_table("scale_reqnum", "year int, first bigint", numbers)
    ctx.execute("CREATE UNIQUE INDEX ON scale_req (r)")

    request0 = ctx.reserve_ids(DistributionRequest, r_count)
    ctx.insert(DistributionRequest, {
        "id": f"{request0} + s.r", "number": "'REQ-' || s.year || '-' || pg_temp.zpad((k.first + s.seq)::text, 5)",
        "researcher_id": "s.researcher", "cell_line_id": f"{ctx.data['line0']} + s.j", "vials": "s.vials",
        "intended_use": "'research'", "project_title": "'Scale study ' || (s.r + 1)",
        "project_summary": "'Disease modelling and differentiation.'", "institution": "'Scale University'",
        "shipping_address": "'1 Science Road, Guangzhou'", "mta_id": str(mta.pk),
        "mta_accepted_at": "s.submitted_at", "fee_amount": "1500.00", "fee_currency": "'CNY'",
        "status": "s.status", "submitted_at": "s.submitted_at", "decided_at": "s.submitted_at + interval '2 days'",
        "decided_by_id": qa, "decision_reason": "''"},
        "FROM scale_req s JOIN scale_reqnum k ON k.year = s.year")
    ctx.add_history(DistributionRequest, request0, r_count, date_sql='m."submitted_at"', reason="request submitted",
                    user="qa")

    # The x-th vial a line gives out is vial x of its WCBs (after its MCB's vials), first WCB first.
    vial_id = (f"{ctx.data['culture_vial0']} + s.j * {per_line_vials} + {p.mcb_vials} + s.first_vial + x")
    ctx.execute("DROP TABLE IF EXISTS scale_alloc")
    ctx.execute(
        f"""CREATE TEMP TABLE scale_alloc ON COMMIT DROP AS
        SELECT s.r, s.status, {vial_id} AS vial_id, s.submitted_at + interval '2 days' AS allocated_at,
               s.submitted_at + interval '5 days' AS shipped_at
        FROM scale_req s CROSS JOIN LATERAL generate_series(0, s.vials - 1) x""")  # noqa: S608
    alloc_count = ctx.one("SELECT count(*) FROM scale_alloc")[0]
    alloc0 = ctx.reserve_ids(Allocation, alloc_count)
    ctx.insert(Allocation, {
        "id": f"{alloc0} + row_number() OVER (ORDER BY a.r, a.vial_id) - 1", "request_id": f"{request0} + a.r",
        "vial_id": "a.vial_id", "allocated_at": "a.allocated_at",
        "picked_at": "CASE WHEN a.status = 'approved' THEN NULL ELSE a.shipped_at - interval '1 hour' END",
        "picked_by_id": f"CASE WHEN a.status = 'approved' THEN NULL ELSE {tech} END"},
        "FROM scale_alloc a")
    ctx.add_history(Allocation, alloc0, alloc_count, date_sql='m."allocated_at"', reason="vials allocated", user="qa")

    vial, box = Vial._meta.db_table, Box._meta.db_table
    ctx.insert(VialMove, {
        "vial_id": "v.id", "kind": "'removed'", "from_box_id": "v.box_id", "from_row": 'v."row"',
        "from_col": "v.col", "from_rack_id": "b.rack_id", "moved_at": "a.shipped_at", "moved_by_id": tech,
        "reason": "'shipped ' || rq.number"},
        f'FROM scale_alloc a JOIN "{vial}" v ON v.id = a.vial_id JOIN "{box}" b ON b.id = v.box_id '
        f'JOIN "{DistributionRequest._meta.db_table}" rq ON rq.id = {request0} + a.r WHERE a.status <> \'approved\'')
    ctx.execute(
        f'UPDATE "{vial}" v SET status = CASE WHEN a.status = \'approved\' THEN \'reserved\' ELSE \'shipped\' END, '  # noqa: S608
        "status_changed_at = CASE WHEN a.status = 'approved' THEN a.allocated_at ELSE a.shipped_at END, "
        "box_id = CASE WHEN a.status = 'approved' THEN v.box_id END, "
        '"row" = CASE WHEN a.status = \'approved\' THEN v."row" END, '
        "col = CASE WHEN a.status = 'approved' THEN v.col END "
        "FROM scale_alloc a WHERE v.id = a.vial_id")

    shipped = ctx.one("SELECT count(*) FROM scale_req WHERE status <> 'approved'")[0]
    shipment0 = ctx.reserve_ids(Shipment, shipped)
    ctx.insert(Shipment, {
        "id": f"{shipment0} + row_number() OVER (ORDER BY s.r) - 1", "request_id": f"{request0} + s.r",
        "courier": "'SF Express'", "tracking_number": "'SF' || pg_temp.zpad((1000000 + s.r)::text, 12)",
        "shipper_type": "'dry_shipper'",
        "shipped_on": "((s.submitted_at + interval '5 days') AT TIME ZONE %s)::date", "shipped_by_id": tech,
        "received_at": "CASE WHEN s.status = 'received' THEN s.submitted_at + interval '7 days' END",
        "received_by_id": "CASE WHEN s.status = 'received' THEN s.researcher END",
        "arrival_condition": "CASE WHEN s.status = 'received' THEN 'good' ELSE '' END", "receipt_notes": "''"},
        "FROM scale_req s WHERE s.status <> 'approved'", [ctx.tz])
    ctx.add_history(Shipment, shipment0, shipped, date_sql="(SELECT submitted_at + interval '5 days' FROM "  # noqa: S608
                    f"\"{DistributionRequest._meta.db_table}\" q WHERE q.id = m.request_id)",
                    reason="shipped", user="technician")
