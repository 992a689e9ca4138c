"""load_scale steps of cordblood: ``plan`` (before the lots step) gives each unit its DIN (``next_din``'s format and
number family) and its processing figures in the temp table ``scale_cbplan``; ``load`` writes the collection sites,
collectors, infant donations, the units — accepted, processed, frozen into their lot, listed for search when public
— and the storage contracts of family units.

Each unit is frozen as one bag (the issue's profile), so it has no segment or reference vial to run a verification
typing on: the app records one only on such a sample, so the scale units have none.
"""

from __future__ import annotations

from django.conf import settings

from bank.scale import SCALE_PREFIX, ScaleContext
from cordblood.models import CollectionSite, Collector, CordBloodUnit, FamilyContract, InfantDonation

SITES = {"national": 40, "ci": 5, "test": 2}
COLLECTORS_PER_SITE = 4
FAMILY_SHARE = 3  # in 10: most units of a provincial bank are public here; the rest are family units


def plan(ctx: ScaleContext) -> None:
    n = ctx.profile.units
    facility = settings.ISBT_FACILITY_CODE  # bank.coding.next_din's number family
    years = ctx.all("SELECT year, count(*) FROM scale_cb GROUP BY 1 ORDER BY 1")
    rows = []
    for year, count in years:
        yy = year % 100
        first = ctx.take_numbers(f"din:{facility}:{yy:02d}", count)
        if first + count - 1 > 999_999:
            from django.core.management.base import CommandError

            raise CommandError(f"The DINs of {year} are used up (999,999 a year).")
        rows.append((year, yy, first))
    ctx.temp_table("scale_dinnum", "year int, yy int, first bigint", rows)
    ctx.execute("DROP TABLE IF EXISTS scale_cbplan")
    ctx.execute(
        """CREATE TEMP TABLE scale_cbplan ON COMMIT DROP AS
        SELECT c.i, %s || pg_temp.zpad(d.yy::text, 2) || pg_temp.zpad((d.first + c.i - y.lo)::text, 6) AS din,
               CASE WHEN c.i %% 10 < %s THEN 'family' ELSE 'public' END::varchar AS ownership,
               (80 + (c.i * 37) %% 70)::numeric(6, 1) AS collected_volume_ml,
               (95 + (c.i * 37) %% 70)::numeric(6, 1) AS volume_pre_ml,
               25.0::numeric(6, 1) AS volume_post_ml,
               (900000000::bigint + ((c.i * 7919) %% 1600) * 1000000)::bigint AS tnc_pre,
               ((900000000::bigint + ((c.i * 7919) %% 1600) * 1000000) * 0.8)::bigint AS tnc_post,
               (2000000::bigint + ((c.i::bigint * 104729) %% 6000) * 1000)::bigint AS cd34_post,
               (3 + (c.i %% 50) / 10.0)::numeric(5, 2) AS nrbc_pct,
               (25 + (c.i %% 100) / 10.0)::numeric(5, 2) AS hct_pct,
               (ARRAY['O', 'A', 'B', 'O', 'A', 'AB', 'O', 'B', 'A', 'O'])[(c.i %% 10 + 1)::int]::varchar AS abo,
               CASE WHEN c.i %% 200 = 7 THEN 'neg' ELSE 'pos' END::varchar AS rh
        FROM scale_cb c JOIN scale_dinnum d ON d.year = c.year
        JOIN (SELECT year, min(i) lo FROM scale_cb GROUP BY 1) y ON y.year = c.year""",
        [facility, FAMILY_SHARE])
    ctx.execute("CREATE UNIQUE INDEX ON scale_cbplan (i)")
    ctx.execute("ANALYZE scale_cbplan")
    ctx.data["cb_plan"] = "scale_cbplan"
    assert ctx.one("SELECT count(*) FROM scale_cbplan")[0] == n


def load(ctx: ScaleContext) -> None:
    p = ctx.profile
    n = p.units
    tech, coord = str(ctx.users["technician"]), str(ctx.users["coordinator"])
    sites = SITES.get(p.name, 5)
    site0 = ctx.reserve_ids(CollectionSite, sites)
    ctx.insert(CollectionSite, {
        "id": f"{site0} + g", "code": f"'{SCALE_PREFIX}{p.code}' || pg_temp.zpad((g + 1)::text, 2)",
        "name": "'Scale Maternity Hospital ' || (g + 1)", "city": "(ARRAY['Guangzhou', 'Shenzhen', 'Foshan', "
        "'Dongguan', 'Zhuhai'])[(g % 5 + 1)::int]", "agreement_until": "%s::date + 730", "active": "TRUE"},
        "FROM generate_series(0::bigint, %s - 1) g", [ctx.now.date(), sites])
    collector0 = ctx.reserve_ids(Collector, sites * COLLECTORS_PER_SITE)
    ctx.insert(Collector, {
        "id": f"{collector0} + g", "site_id": f"{site0} + g / {COLLECTORS_PER_SITE}",
        "name": "'Scale Midwife ' || (g + 1)", "trained_on": "%s::date - 4000", "active": "TRUE"},
        "FROM generate_series(0::bigint, %s - 1) g", [ctx.now.date(), sites * COLLECTORS_PER_SITE])
    ctx.add_history(CollectionSite, site0, sites, date_sql=f"'{ctx.now.isoformat()}'::timestamptz",
                    reason="collection site added", user="admin")
    ctx.add_history(Collector, collector0, sites * COLLECTORS_PER_SITE,
                    date_sql=f"'{ctx.now.isoformat()}'::timestamptz", reason="collector trained", user="admin")

    donation0 = ctx.reserve_ids(InfantDonation, n)
    collectors = sites * COLLECTORS_PER_SITE
    ctx.insert(InfantDonation, {
        "id": f"{donation0} + g", "mother_id": f"{ctx.data['mother0']} + g", "infant_id": f"{ctx.data['infant0']} + g",
        "birth_order": "1", "born_at": "c.born_at", "gestational_age_weeks": "37 + g % 5",
        "birth_weight_g": "2800 + (g * 131) % 1300", "delivery_type": "CASE WHEN g % 3 = 0 THEN 'caesarean' "
        "ELSE 'vaginal' END", "site_id": f"{site0} + (g % {collectors}) / {COLLECTORS_PER_SITE}",
        "collector_id": f"{collector0} + g % {collectors}", "collection_id": f"{ctx.data['collection0']} + g",
        "questionnaire": "'{\"family_history\": \"none\", \"travel\": \"none\"}'::jsonb",
        "recorded_by_id": coord, "recorded_at": "c.received_at"},
        "FROM generate_series(0::bigint, %s - 1) g JOIN scale_cb c ON c.i = g", [n])

    unit0 = ctx.reserve_ids(CordBloodUnit, n)
    ctx.data["cbu0"] = unit0
    ctx.insert(CordBloodUnit, {
        "id": f"{unit0} + g", "donation_id": f"{donation0} + g", "din": "u.din", "ownership": "u.ownership",
        "collected_volume_ml": "u.collected_volume_ml", "acceptance": "'accepted'", "acceptance_reason": "''",
        "accepted_at": "c.received_at + interval '1 hour'", "accepted_by_id": tech,
        "processing_method": "'AXP automated'", "processing_started_at": "c.processing_started_at",
        "processing_ended_at": "c.processing_ended_at", "volume_pre_ml": "u.volume_pre_ml",
        "volume_post_ml": "u.volume_post_ml", "tnc_pre": "u.tnc_pre", "tnc_post": "u.tnc_post",
        "cd34_post": "u.cd34_post", "nrbc_pct": "u.nrbc_pct", "hct_pct": "u.hct_pct", "equipment": "'AXP II'",
        "reagent_lots": "'[{\"lot\": \"H6-2231\", \"name\": \"HES 6 %\"}]'::jsonb",
        "frozen_at": "c.frozen_at", "processed_by_id": tech, "abo": "u.abo", "rh": "u.rh",
        "lot_id": f"{ctx.data['unitlot0']} + g",
        "listing_status": "CASE WHEN u.ownership = 'public' THEN 'available' ELSE 'not_listed' END",
        "listing_reason": "''", "listing_changed_at": "c.released_at + interval '1 day'",
        "created_at": "c.received_at"},
        "FROM generate_series(0::bigint, %s - 1) g JOIN scale_cb c ON c.i = g JOIN scale_cbplan u ON u.i = g", [n])
    ctx.add_history(CordBloodUnit, unit0, n, date_sql='m."created_at"', reason="unit registered")

    families = ctx.one("SELECT count(*) FROM scale_cbplan WHERE ownership = 'family'")[0]
    contract0 = ctx.reserve_ids(FamilyContract, families)
    ctx.insert(FamilyContract, {
        "id": f"{contract0} + row_number() OVER (ORDER BY u.i) - 1", "unit_id": f"{unit0} + u.i",
        "owner_id": f"{ctx.data['mother0']} + u.i", "number": "'FC-' || u.din", "signed_on": "c.born_on - 30",
        "initial_fee": "5000.00", "annual_fee": "600.00", "currency": "'CNY'",
        "paid_until": "c.born_on + 365 * 18", "status": "'active'", "release_request_note": "''",
        "recorded_by_id": coord, "recorded_at": "c.received_at"},
        "FROM scale_cbplan u JOIN scale_cb c ON c.i = u.i WHERE u.ownership = 'family'")
