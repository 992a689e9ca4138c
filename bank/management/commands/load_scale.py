"""manage.py load_scale --profile national|ci|test — the bank at scale, set-based (issue 13). See bank/scale.py."""

from __future__ import annotations

import importlib
import time

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.db import connection, transaction

from bank.scale import (
    PROFILES,
    ScaleContext,
    Timer,
    can_bypass_triggers,
    ensure_users,
    marker_key,
    validate_foreign_keys,
)

# Each app contributes its steps, in the order the data needs them (the storage layout first: the lots step
# places every vial as it creates it; the cord blood plan before the lots: a unit's lot carries its DIN).
STEPS = [
    "storage.scale:layout",
    "donors.scale:load",
    "donors.scale:hla_keys",  # the match search's lookup keys of every typing (haplobank)
    "cordblood.scale:plan",
    "lots.scale:load",
    "storage.scale:custody",
    "qc.scale:load",
    "distribution.scale:load",
    "cordblood.scale:load",
    "haplobank.scale:load",  # a population's tables: coverage and planning measured on every homozygous line
    "bank.scale:write_history",
]
# The triggers that are not history's, and what stands in for them when a superuser loads with the session's
# triggers off (``session_replication_role = replica``): each counter is recounted after the steps, set-wise.
# History's own triggers: ``*_audit_link`` is what ``bank.scale.write_history`` writes set-wise; ``*_append_only``
# and ``bank_auditlink_guard`` refuse updates and deletes, which the load never does. A test fails when the
# database has a trigger this list does not name.
RECOUNTS = {
    "lots.stock:recount": ("lots_vial_linestock_ins", "lots_vial_linestock_del", "lots_vial_linestock_upd",
                           "lots_lot_linestock", "lots_linestock_copy", "lots_cellline_linestock",
                           "lots_hlatyping_linestock", "lots_consent_linestock", "lots_donor_linestock"),
    "storage.occupancy:recount": ("storage_vial_occupied_ins", "storage_vial_occupied_del",
                                  "storage_vial_occupied_upd", "storage_box_unit_occupancy_ins",
                                  "storage_box_unit_occupancy_del", "storage_box_unit_occupancy_upd",
                                  "storage_rack_unit_occupancy"),
    "bank.tally:recount": ("bank_tally_*",),  # the apps' kept counts (bank/tally.py)
    # The catalog's kept entries (their versions were not bumped): dropped, shaped again on the next reads.
    "distribution.catalog_cache:reset": ("distribution_catalog_*",),
}
HISTORY_TRIGGER_SUFFIXES = ("_audit_link", "_append_only")
GUARD_TRIGGERS = ("bank_auditlink_guard",)
# Serialises two loads started at once (the second finds the first's marker).
LOAD_LOCK = 7_011_511_013


def _call(step: str, ctx: ScaleContext, with_ctx: bool = True) -> None:
    module_name, _sep, function = step.partition(":")
    module = importlib.import_module(module_name)
    with Timer(ctx, step):
        getattr(module, function or "load")(*([ctx] if with_ctx else []))


class Command(BaseCommand):
    help = ("Load a bank at scale (national: 1,000,000 cord blood units, 4,000 lines, 3.8 M vials; ci: a hundredth) "
            "with set-based SQL. Idempotent. PostgreSQL only; refused with DEBUG off unless --force.")

    def add_arguments(self, parser):
        parser.add_argument("--profile", choices=sorted(PROFILES), default="ci")
        parser.add_argument("--trace", type=float, default=0.0, metavar="SECONDS",
                            help="print every statement that takes at least this long")
        parser.add_argument("--force", action="store_true", help="load even with DEBUG off (a production set-up)")

    def handle(self, *args, profile="ci", force=False, trace=0.0, **options):
        if connection.vendor != "postgresql":
            raise CommandError("load_scale needs PostgreSQL (set DATABASE_URL=postgres://...): it loads with "
                               "PostgreSQL's COPY and INSERT … SELECT, and the audit chain is PostgreSQL's.")
        if not settings.DEBUG and not force:
            raise CommandError("DEBUG is off: this looks like a production bank. load_scale writes millions of "
                               "synthetic records into it; give --force if that is really what you want.")
        chosen = PROFILES[profile]
        from bank.models import Sequence

        if Sequence.objects.filter(key=marker_key(chosen)).exists():
            self.stdout.write(f"The {chosen.name} scale profile is already loaded: nothing to do.")
            return
        started = time.perf_counter()
        users, names, researchers = ensure_users(chosen)
        self.stdout.write(f"Loading the {chosen.name} profile ({chosen.units:,} cord blood units, {chosen.lines:,} "
                          f"lines, {chosen.requests:,} requests) ...")
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute("SET LOCAL synchronous_commit = off")
            # Sorts and hashes of millions of rows (history in id order, per-lot aggregates) stay in memory.
            cursor.execute("SET LOCAL work_mem = '256MB'")
            cursor.execute("SET LOCAL max_parallel_workers_per_gather = 2")  # the web's connections run without
            cursor.execute("SET LOCAL maintenance_work_mem = '1GB'")
            cursor.execute("SELECT pg_advisory_xact_lock(%s)", [LOAD_LOCK])
            # Zero-padded numbers as Python's {n:0Nd} writes them: padded, never cut (lpad cuts).
            cursor.execute("CREATE OR REPLACE FUNCTION pg_temp.zpad(text, int) RETURNS text LANGUAGE sql IMMUTABLE "
                           "AS $$ SELECT lpad($1, greatest($2, length($1)), '0') $$")
            if Sequence.objects.filter(key=marker_key(chosen)).exists():
                self.stdout.write(f"The {chosen.name} scale profile was loaded meanwhile: nothing to do.")
                return
            ctx = ScaleContext(profile=chosen, cursor=cursor, stdout=self.stdout, users=users, names=names,
                               researchers=researchers, trace=trace)
            fast = can_bypass_triggers(ctx)
            if fast:
                # Per-row triggers off for this transaction: no deferred foreign-key check per row, no counter
                # update per statement. What they would have done is done once at the end (below).
                cursor.execute("SET LOCAL session_replication_role = replica")
            else:
                self.stdout.write("  not a superuser: the triggers stay on (foreign keys checked at COMMIT)")
            for step in STEPS:
                _call(step, ctx)
            if fast:
                cursor.execute("SET LOCAL session_replication_role = origin")
                with Timer(ctx, "foreign keys"):
                    checked = validate_foreign_keys(ctx)
                self.stdout.write(f"  foreign keys checked: {checked}")
                for recount in RECOUNTS:
                    _call(recount, ctx, with_ctx=False)
            cursor.execute(f'INSERT INTO "{Sequence._meta.db_table}" (key, last_value) VALUES (%s, 1)',  # noqa: S608
                           [marker_key(chosen)])
        with Timer(ctx, "analyze"), connection.cursor() as cursor:
            # Every table, as autovacuum would after the load (counters the triggers filled too: the catalog's plan
            # starts from the few stocked lines only when the planner knows they are few).
            cursor.execute("ANALYZE")
        total = time.perf_counter() - started
        for label, count in sorted(ctx.counts.items()):
            self.stdout.write(f"  {label}: {count:,}")
        self.stdout.write(self.style.SUCCESS(f"Loaded the {chosen.name} profile in {total:.1f} s "
                                             f"({total / 60:.1f} min)."))
