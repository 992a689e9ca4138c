"""The tamper-evident audit chain at bank scale (issue 11): link, seal and verify 1,000,000 history rows.

    DATABASE_URL=postgres://... python bench/audit_chain.py [--rows 1000000] [--batch 10000] [--keep]

Run it on a scratch database (it needs the owner's rights to clean up). It
  * writes ``--rows`` history rows (copies of one notification's history row, INSERT … SELECT generate_series),
    each hashed and linked by the chain's trigger, and — for comparison — as many rows into a temporary table
    of the same shape without the trigger;
  * seals them (``bank.audit_chain.seal``) and stores a keyed checkpoint;
  * verifies the whole chain (``verify()``: every row hash recomputed from the rows, the chain, the checkpoints,
    and the rows without a link);
  * writes 10,000 more rows and verifies from the checkpoint (``verify(since_checkpoint=True)``);
  * changes one row with the triggers off, as a superuser would, and verifies again (it must name that row);
  * then removes its rows, their links and its checkpoints (``--keep`` leaves them).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "bank.settings")
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")

import django  # noqa: E402

django.setup()

from django.contrib.auth import get_user_model  # noqa: E402
from django.db import connection  # noqa: E402

from bank import audit_chain  # noqa: E402
from bank.models import AuditCheckpoint, AuditLink, Notification  # noqa: E402
from bank.notifications import notify  # noqa: E402

TABLE = Notification.history.model._meta.db_table
MARK = "bench-chain row "


def timed(label: str, func, *args, **kwargs):
    start = time.perf_counter()
    result = func(*args, **kwargs)
    print(f"  {label}: {time.perf_counter() - start:.1f} s")
    return result


def copy_rows(template_id: int, n: int, into: str = TABLE) -> None:
    columns = [f.column for f in Notification.history.model._meta.concrete_fields if f.column != "history_id"]
    names = ", ".join(f'"{c}"' for c in columns)
    values = ", ".join("subject || g::text" if c == "subject" else f'"{c}"' for c in columns)
    with connection.cursor() as cursor:
        cursor.execute(f'INSERT INTO "{into}" ({names}) SELECT {values} FROM "{TABLE}", '  # noqa: S608
                       "generate_series(1, %s) AS g WHERE history_id = %s", [n, template_id])


def vacuum() -> None:
    with connection.cursor() as cursor:
        cursor.execute(f'VACUUM ANALYZE "{TABLE}"')
        cursor.execute('VACUUM ANALYZE "bank_auditlink"')


def cleanup(first_checkpoint: int) -> None:
    with connection.cursor() as cursor:
        for table in (TABLE, "bank_auditlink", "bank_auditcheckpoint"):
            cursor.execute(f'ALTER TABLE "{table}" DISABLE TRIGGER USER')
        cursor.execute(f'DELETE FROM "bank_auditlink" l USING "{TABLE}" h '  # noqa: S608
                       'WHERE l."table" = %s AND l.history_id = h.history_id AND h.subject LIKE %s',
                       [TABLE, MARK + "%"])
        cursor.execute(f'DELETE FROM "{TABLE}" WHERE subject LIKE %s', [MARK + "%"])  # noqa: S608
        cursor.execute('DELETE FROM "bank_auditcheckpoint" WHERE id >= %s', [first_checkpoint])
        for table in (TABLE, "bank_auditlink", "bank_auditcheckpoint"):
            cursor.execute(f'ALTER TABLE "{table}" ENABLE TRIGGER USER')


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--batch", type=int, default=10_000, help="links read per verification batch")
    parser.add_argument("--keep", action="store_true", help="leave the bench rows in place")
    args = parser.parse_args()
    if not audit_chain.chain_supported():
        sys.exit("The audit chain needs PostgreSQL: set DATABASE_URL=postgres://... (a scratch database).")
    print(f"Audit chain bench: {args.rows:,} history rows in {TABLE}")
    user, _ = get_user_model().objects.get_or_create(username="bench-chain")
    template = notify([user], subject=MARK, email=False)[0].history.get().history_id
    audit_chain.seal()
    first_checkpoint = (AuditCheckpoint.objects.order_by("-id").values_list("id", flat=True).first() or 0) + 1
    try:
        timed(f"write {args.rows:,} rows, each hashed and linked by the trigger", copy_rows, template, args.rows)
        with connection.cursor() as cursor:
            cursor.execute(f'CREATE TEMP TABLE bench_plain (LIKE "{TABLE}" INCLUDING ALL)')
        timed(f"write {args.rows:,} rows into a table without the trigger (comparison)", copy_rows, template,
              args.rows, into="bench_plain")
        vacuum()
        sealed = timed("seal", audit_chain.seal, wait_seconds=60)
        print(f"    {sealed:,} links sealed ({AuditLink.objects.count():,} links in the chain)")
        vacuum()
        timed("checkpoint", audit_chain.checkpoint)
        result = timed(f"verify the whole chain (batches of {args.batch:,})", audit_chain.verify, batch_size=args.batch)
        print(f"    clean={result.clean}, {result.links_checked:,} links and rows, "
              f"{result.links_checked / max(result.seconds, 1e-9):,.0f} links/s")
        copy_rows(template, 10_000)
        audit_chain.seal()
        result = timed("verify since the checkpoint (10,000 new rows)", audit_chain.verify, since_checkpoint=True,
                       batch_size=args.batch)
        print(f"    clean={result.clean}, {result.links_checked:,} links")
        with connection.cursor() as cursor:
            cursor.execute(f'SELECT history_id FROM "{TABLE}" WHERE subject LIKE %s ORDER BY history_id '  # noqa: S608
                           "OFFSET %s LIMIT 1", [MARK + "%", args.rows // 2])
            victim = cursor.fetchone()[0]
            cursor.execute(f'ALTER TABLE "{TABLE}" DISABLE TRIGGER ALL')
            cursor.execute(f'UPDATE "{TABLE}" SET body = %s WHERE history_id = %s', ["forged", victim])  # noqa: S608
            cursor.execute(f'ALTER TABLE "{TABLE}" ENABLE TRIGGER ALL')
        result = timed("verify the whole chain after a superuser changed one row", audit_chain.verify,
                       batch_size=args.batch)
        first = result.first
        print(f"    clean={result.clean}, first: {first.kind} {first.table} history_id={first.history_id} "
              f"(the row changed: {victim})")
    finally:
        if not args.keep:
            cleanup(first_checkpoint)
            print("Bench rows, their links and checkpoints removed.")


if __name__ == "__main__":
    main()
