"""Demo bank, imports step: a legacy inventory migrated in. A box in the quarantine tank, the legacy UC-MSC line
brought in through the cell lines import, then ``samples/inventory.csv`` imported (two lots, their vials placed in
that box, two used vials kept for the record) and ``samples/cord_blood.csv`` dry-run. A newcomer can dry-run the
samples again from /imports/: ``inventory.csv`` is skipped row by row (already imported), ``inventory-new.csv``
would create a lot, ``inventory-bad.csv`` shows a report of bad rows."""

from __future__ import annotations

import io
from pathlib import Path

from django.core.files.uploadedfile import SimpleUploadedFile

from imports.services import start_import
from storage import services as storage
from storage.models import StorageUnit

SAMPLES = Path(__file__).resolve().parent / "samples"
SOURCE = "old-spreadsheet"
LINE = "LEG-UCMSC-07"


def sample(name: str) -> SimpleUploadedFile:
    return SimpleUploadedFile(name, (SAMPLES / name).read_bytes(), content_type="text/csv")


def load(ctx: dict) -> None:
    users = ctx["users"]
    admin, technician, coordinator = users["admin"], users["technician"], users["coordinator"]
    unit = StorageUnit.objects.filter(name="LN2-Q1").first()
    collection = ctx.get("collections", {}).get("uc_msc")
    if unit is None or collection is None:
        return  # a partial demo (an app left out): nothing to import into
    rack = storage.create_rack(unit, actor=admin, name="LEGACY", capacity=2)
    storage.create_box(rack, actor=admin, name="LEGACY-B1", preset="10x10")
    lines = io.StringIO()
    lines.write("external_id,name,collection,cell_type,grade,established_on,description\n")
    lines.write(f"LINE-07,{LINE},{collection.code},UC-MSC,clinical,2018-02-20,"
                "UC-MSC line of the old bank (migrated)\n")
    start_import("cell_lines", SimpleUploadedFile("lines.csv", lines.getvalue().encode()), actor=technician,
                 source=SOURCE, sync=True)
    start_import("inventory", sample("inventory.csv"), actor=technician, source=SOURCE, sync=True)
    start_import("cord_blood", sample("cord_blood.csv"), actor=coordinator, source="old-cord-lims", dry_run=True,
                 sync=True)
