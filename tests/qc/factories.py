"""Helpers of the qc tests: lots ready for QC, passing panels, released lots with a stability plan."""

from __future__ import annotations

import datetime
from decimal import Decimal

from django.utils import timezone

from qc import services
from qc.queries import spec_in_force
from storage.models import Box
from tests.factories import BoxFactory, CellLineFactory, LotFactory, RackFactory, StorageUnitFactory

# A passing result for every test of the catalog (QC_SPECS.md version 1).
PASSING = {
    "sterility": {"outcome": "negative"}, "mycoplasma": {"outcome": "negative"},
    "endotoxin": {"value": Decimal("0.2")}, "viability": {"value": Decimal("92")},
    "str_identity": {"outcome": "match"}, "karyotype": {"outcome": "normal"},
    "pluripotency": {"value": Decimal("88")}, "sendai_clearance": {"outcome": "negative"},
    "cd73": {"value": Decimal("98")}, "cd90": {"value": Decimal("99")}, "cd105": {"value": Decimal("97")},
    "negative_markers": {"value": Decimal("0.8")}, "trilineage": {"outcome": "positive"},
    "tnc": {"value": Decimal("8.2")}, "cd34": {"value": Decimal("3.1")}, "cfu": {"outcome": "positive"},
    # cord blood units (issue 12)
    "abo_rh": {"outcome": "o+"}, "haemoglobinopathy": {"outcome": "normal"}, "nrbc": {"value": Decimal("8.5")},
    "cfu_count": {"value": Decimal("20")}, "viable_cd34_post_thaw": {"value": Decimal("85")},
    "viable_cd45_post_thaw": {"value": Decimal("70")}, "cfu_growth": {"outcome": "positive"},
    "identity": {"outcome": "match"},
}


def qc_lot(**kwargs):
    """A quarantine lot of an eligible, consented donor's line (iPSC MCB, Sendai by default)."""
    line_kwargs = {k[5:]: kwargs.pop(k) for k in list(kwargs) if k.startswith("line_")}
    kwargs.setdefault("cell_line", CellLineFactory(**line_kwargs))
    return LotFactory(**kwargs)


def panel_codes(lot) -> list[str]:
    spec = spec_in_force(lot.cell_line.cell_type, lot.tier)
    return [c.test.code for c in spec.criteria.all() if c.applies_to(lot.cell_line)]


def enter_panel(lot, actor, *, skip=(), override=None, tested_on=None):
    """Enter a passing result for every applicable test (``override`` replaces some)."""
    override = override or {}
    results = []
    for code in panel_codes(lot):
        if code in skip:
            continue
        data = override.get(code, PASSING[code])
        results.append(services.record_qc_result(
            lot, actor=actor, test=code, tested_on=tested_on or timezone.localdate() - datetime.timedelta(days=2),
            method="standard", **data,
        ))
    return results


def store_vials(lot, box: Box | None = None):
    """Put the lot's vials in a box (row 1, col = vial number), as the storage app would."""
    box = box or BoxFactory(rack=RackFactory(unit=StorageUnitFactory()))
    vials = list(lot.vials.order_by("number"))
    for i, vial in enumerate(vials):
        vial.box, vial.row, vial.col = box, 1 + i // box.cols, 1 + i % box.cols
        vial.save(update_fields=["box", "row", "col"])
    return box
