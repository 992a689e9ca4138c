"""Helpers of the imports tests: files built as CSV or XLSX from rows, and a small bank to import into."""

from __future__ import annotations

import csv
import io

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from imports.services import SPECS
from tests.factories import BoxFactory, CellLineFactory, RackFactory, StorageUnitFactory


def build_file(kind: str, rows: list[dict], fmt: str = "csv", columns: list[str] | None = None,
               name: str = "legacy") -> SimpleUploadedFile:
    """A file of ``kind``'s template columns (or ``columns``) holding ``rows``."""
    columns = columns or [c.name for c in SPECS[kind].columns]
    if fmt == "csv":
        buffer = io.StringIO()
        writer = csv.writer(buffer)
        writer.writerow(columns)
        for row in rows:
            writer.writerow([row.get(c, "") for c in columns])
        return SimpleUploadedFile(f"{name}.csv", buffer.getvalue().encode("utf-8"), content_type="text/csv")
    from openpyxl import Workbook

    book = Workbook()
    sheet = book.active
    sheet.append(columns)
    for row in rows:
        sheet.append([row.get(c, None) for c in columns])
    out = io.BytesIO()
    book.save(out)
    return SimpleUploadedFile(f"{name}.xlsx", out.getvalue(),
                              content_type="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet")


@pytest.fixture
def place(db):
    """A cell line, a box in a quarantine unit and a box in a unit for released material."""
    line = CellLineFactory(name="ABCi001-A", registry_number=1)
    q_unit = StorageUnitFactory(name="Quarantine tank", quarantine=True)
    r_unit = StorageUnitFactory(name="Main tank", quarantine=False)
    q_box = BoxFactory(rack=RackFactory(unit=q_unit, name="QR1"), name="QB1", barcode="QBOX1", rows=9, cols=9)
    r_box = BoxFactory(rack=RackFactory(unit=r_unit, name="R1"), name="B1", barcode="RBOX1", rows=9, cols=9)
    return {"line": line, "q_box": q_box, "r_box": r_box}


def vial_rows(line: str, lot: str, box: str, n: int, *, start: int = 1, tier: str = "MCB", parent: str = "",
              status: str = "", prefix: str = "LEG", **extra) -> list[dict]:
    rows = []
    for i in range(start, start + n):
        r, c = divmod(i - 1, 9)
        rows.append({"lot_number": lot, "cell_line": line, "tier": tier, "parent_lot": parent, "passage": "10",
                     "cells_per_vial": "1000000", "volume_ml": "1.0", "cryoprotectant": "CryoStor CS10",
                     "frozen_on": "2020-05-14", "lot_status": status, "vial_barcode": f"{prefix}-{lot}-{i:04d}",
                     "box": box, "position": f"{chr(65 + r)}{c + 1}", **extra})
    return rows


@pytest.fixture(autouse=True)
def media(tmp_path, settings):
    """Uploaded job files and CSVs of bad rows go to a temporary directory."""
    settings.STORAGES = {**settings.STORAGES,
                         "default": {"BACKEND": "django.core.files.storage.FileSystemStorage",
                                     "OPTIONS": {"location": str(tmp_path)}}}
    return tmp_path
