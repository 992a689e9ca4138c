"""Migration import of a 100,000-vial inventory (issue 17), CSV and XLSX, on PostgreSQL.

    DATABASE_URL=postgres://... python bench/imports_inventory.py [--vials 100000] [--per-lot 100] [--formats csv,xlsx]

Run it on a scratch database (``createdb`` + ``manage.py migrate``). For each format it
  * lays out a quarantine unit with enough 10 x 10 boxes, and a cell line to freeze the lots of;
  * writes the file (one row per vial, its lot's columns repeated: ``--per-lot`` vials per MCB lot, every vial
    at its own position) with the import template's columns;
  * imports it through ``imports.services`` exactly as the job does (pass 1 validates the whole file, pass 2 writes
    it in one transaction, batch by batch, with the history rows, chain-of-custody moves and external IDs);
  * prints the timings: validate, import, total, rows per second, and the process's peak memory;
  * imports the same file again (every row skipped: idempotent) and times that too.
"""

from __future__ import annotations

import argparse
import csv
import os
import resource
import sys
import tempfile
import time
import uuid
from pathlib import Path

# bench/http.py would shadow the standard library's http package: leave this directory out of the path.
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "bank.settings")
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")

import django  # noqa: E402

django.setup()

from django.core.files import File  # noqa: E402
from django.db import transaction  # noqa: E402

from bank.audit import acting, bulk_create_audited  # noqa: E402
from bank.roles import TECHNICIAN  # noqa: E402
from bank.services import save_user  # noqa: E402
from imports.choices import RunStatus  # noqa: E402
from imports.models import ImportRun  # noqa: E402
from imports.services import SPECS  # noqa: E402
from imports.services.engine import execute  # noqa: E402
from storage.models import Box, Rack, StorageUnit  # noqa: E402

COLUMNS = [c.name for c in SPECS["inventory"].columns]


class Clock:
    """A stand-in for the job's progress: notes when pass 2 (the import) starts."""

    def __init__(self) -> None:
        self.import_started: float | None = None

    def set_total(self, total, message=""):
        pass

    def update(self, done, total=None, message="", *, force=False):
        if self.import_started is None and str(message).startswith("Importing"):
            self.import_started = time.perf_counter()


def setup(tag: str, boxes: int):
    """A technician, a cell line and a quarantine unit with ``boxes`` 10 x 10 boxes (bulk, with their history)."""
    import random

    import factory

    from tests import factories
    from tests.factories import CellLineFactory

    # The test factories number their codes from 0 in each process: start this run's numbers elsewhere.
    offset = random.randrange(10_000, 90_000)
    for value in vars(factories).values():
        if isinstance(value, type) and issubclass(value, factory.Factory) and value is not factory.Factory:
            value.reset_sequence(offset, force=True)

    user = save_user(f"bench-imports-{tag}", roles=[TECHNICIAN], password="bench-imports-pw", full_name="Bench",
                     email=f"bench-{tag}@bank.example", validate=False, reason="bench")
    with transaction.atomic(), acting(user, "bench layout"):
        line = CellLineFactory(name=f"BENCH-{tag}", registry_number=None, subclone="", cell_type="UC-MSC",
                               reprogramming_method="", collection__tissue="umbilical_cord")
        unit = StorageUnit.objects.create(name=f"Bench quarantine {tag}", kind="ln2_vapor", min_temperature_c=-196,
                                          max_temperature_c=-150, quarantine=True)
        racks = bulk_create_audited(Rack, [Rack(unit=unit, name=f"R{i:03d}", position=i + 1)
                                           for i in range(boxes // 50 + 1)])
        bulk_create_audited(Box, [Box(rack=racks[i // 50], name=f"B{i:05d}", barcode=f"BB{tag}{i:05d}", rows=10,
                                      cols=10, position=i % 50 + 1) for i in range(boxes)], batch_size=2000)
    return user, line


def rows(tag: str, line: str, vials: int, per_lot: int):
    for k in range(vials):
        box, slot = divmod(k, 100)
        r, c = divmod(slot, 10)
        yield [f"BENCH-{tag}-{k // per_lot:05d}", line, "MCB", "", "8", "", "1000000", "1.0", "CryoStor CS10",
               "CS10-19", "controlled_rate", "2019-05-14", "quarantine", "", "", "", "", "",
               f"BX{tag}{k:07d}", str(k % per_lot + 1), "available", f"BB{tag}{box:05d}", f"{chr(65 + r)}{c + 1}",
               "", ""]


def write_file(path: Path, fmt: str, tag: str, line: str, vials: int, per_lot: int) -> None:
    assert len(next(rows(tag, line, 1, per_lot))) == len(COLUMNS)
    if fmt == "csv":
        with path.open("w", newline="", encoding="utf-8") as handle:
            writer = csv.writer(handle)
            writer.writerow(COLUMNS)
            writer.writerows(rows(tag, line, vials, per_lot))
        return
    from openpyxl import Workbook

    book = Workbook(write_only=True)
    sheet = book.create_sheet("import")
    sheet.append(COLUMNS)
    for row in rows(tag, line, vials, per_lot):
        sheet.append(row)
    book.save(path)


def run(path: Path, user, fmt: str, source: str) -> dict:
    with path.open("rb") as handle:
        upload = File(handle, name=path.name)
        from imports.services.reader import sha256_of

        imp = ImportRun.objects.create(kind="inventory", source=source, filename=path.name, sha256=sha256_of(upload),
                                       user=user)
        clock = Clock()
        start = time.perf_counter()
        report = execute(SPECS["inventory"], imp, upload, actor=user, progress=clock)
        end = time.perf_counter()
    validated = (clock.import_started or end) - start
    return {"report": report, "validate": validated, "import": end - (clock.import_started or end),
            "total": end - start}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--vials", type=int, default=100_000)
    parser.add_argument("--per-lot", type=int, default=100)
    parser.add_argument("--formats", default="csv,xlsx")
    args = parser.parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="stembank-import-bench-"))
    print(f"Migration import bench: {args.vials:,} vials, {args.per_lot} per lot "
          f"({args.vials // args.per_lot:,} lots), batches of {django.conf.settings.IMPORTS_BATCH_SIZE}")
    for fmt in args.formats.split(","):
        tag = uuid.uuid4().hex[:6].upper()
        t0 = time.perf_counter()
        user, line = setup(tag, (args.vials + 99) // 100)
        path = workdir / f"inventory-{tag}.{fmt}"
        write_file(path, fmt, tag, line.name, args.vials, args.per_lot)
        print(f"\n[{fmt}] layout + file written in {time.perf_counter() - t0:.1f} s "
              f"({path.stat().st_size / 1e6:.1f} MB)")
        first = run(path, user, fmt, source=f"bench-{tag}")
        report = first["report"]
        assert report["status"] == RunStatus.IMPORTED, report["errors"][:5]
        print(f"  created: {report['created']}")
        print(f"  validate: {first['validate']:.1f} s   import: {first['import']:.1f} s   total: {first['total']:.1f} s"
              f"   {report['rows'] / first['total']:,.0f} rows/s")
        again = run(path, user, fmt, source=f"bench-{tag}")
        print(f"  same file again: {again['report']['skipped']:,} rows skipped, nothing created, "
              f"{again['total']:.1f} s")
        print(f"  peak memory (RSS) so far: {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MB")


if __name__ == "__main__":
    main()
