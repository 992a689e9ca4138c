"""Builders for distribution tests: a released line with stored vials, QC results, a request through its life."""

from __future__ import annotations

import datetime
from decimal import Decimal

from django.utils import timezone

from distribution import services
from donors.choices import ConsentScope
from lots.models import CellLine, Lot, Vial
from qc.models import QCResult, QCTest
from tests.factories import (
    BoxFactory,
    CellLineFactory,
    ConsentFactory,
    DonorFactory,
    DonorIdentityFactory,
    HLATypingFactory,
    LotFactory,
    UserFactory,
    eligible_collection,
)

ALL_SCOPES = list(ConsentScope.values)


def make_line(*, grade: str = "research", cell_type: str = "iPSC", scopes: list[str] | None = None,
              hla: bool = False, identity: bool = True, **kwargs) -> CellLine:
    """A line from an eligible, consenting donor (with identity on file, to prove it never leaks)."""
    donor = DonorFactory()
    if identity:
        DonorIdentityFactory(donor=donor, full_name="Wang Xiaoli", phone="+86 139 1234 5678")
    ConsentFactory(donor=donor, scopes=ALL_SCOPES if scopes is None else scopes)
    if hla:
        HLATypingFactory(donor=donor)
    collection = eligible_collection(donor=donor)
    return CellLineFactory(collection=collection, donor=donor, grade=grade, cell_type=cell_type, **kwargs)


def place(vials, box=None):
    """Put vials in a box, row by row (the way storage places them)."""
    vials = list(vials)
    box = box or BoxFactory(rows=9, cols=9)
    taken = set(Vial.objects.filter(box=box).values_list("row", "col"))
    free = [(r, c) for r in range(1, box.rows + 1) for c in range(1, box.cols + 1) if (r, c) not in taken]
    for vial, (row, col) in zip(vials, free, strict=False):
        vial.box, vial.row, vial.col = box, row, col
    Vial.objects.bulk_update(vials, ["box", "row", "col"])
    return box


def add_lot(line: CellLine, *, tier: str = "WCB", vials: int = 4, status: str = "released", days_ago: int = 20,
            parent: Lot | None = None, box=None, store: bool = True, passage: int | None = None) -> Lot:
    """A lot of ``line`` with ``vials`` stored vials. A WCB gets an (empty) released MCB parent if none is given."""
    if tier == "WCB" and parent is None:
        parent = LotFactory(cell_line=line, tier="MCB", status="released", vials=False, passage=8,
                            frozen_on=timezone.localdate() - datetime.timedelta(days=days_ago + 30))
    lot = LotFactory(cell_line=line, tier=tier, status=status, parent_lot=parent, vial_count=max(vials, 1),
                     vials=vials > 0, passage=passage or (18 if tier == "WCB" else 10),
                     frozen_on=timezone.localdate() - datetime.timedelta(days=days_ago))
    if store and vials:
        place(lot.vials.order_by("number"), box)
    return lot


def stocked_line(vials: int = 4, **kwargs) -> tuple[CellLine, Lot]:
    line = make_line(**kwargs)
    return line, add_lot(line, vials=vials)


def add_result(lot: Lot, code: str, *, value=None, outcome: str = "", passed: bool | None = True,
               unit: str = "") -> QCResult:
    return QCResult.objects.create(
        lot=lot, test=QCTest.objects.get(code=code), value=Decimal(str(value)) if value is not None else None,
        outcome=outcome, unit=unit, tested_on=timezone.localdate() - datetime.timedelta(days=5), passed=passed,
        method="test method", entered_by=UserFactory(username="qc-tech", role="technician"),
    )


def submit(researcher, line: CellLine, vials: int = 1, use: str = "research", **kwargs):
    return services.submit_request(actor=researcher, cell_line=line, vials=vials, intended_use=use,
                                   project_title=kwargs.pop("project_title", "Neurons"), mta_accepted=True,
                                   institution=kwargs.pop("institution", "Example University"),
                                   institution_type=kwargs.pop("institution_type", "public"), **kwargs)


def shipped_request(researcher, qa, technician, line: CellLine, vials: int = 1):
    """A request submitted, approved, picked and shipped."""
    request = submit(researcher, line, vials)
    request = services.approve_request(request, actor=qa)
    for barcode in request.allocated_barcodes:
        services.confirm_pick(request, barcode, actor=technician)
    return services.ship_request(request, actor=technician, courier="SF Express", tracking_number="SF123",
                                 shipped_on=timezone.localdate(), require_all_picked=True)


def reseed_reference_data() -> None:
    """Put back what the data migrations seed (screening panel, QC catalog, the default MTA: ``bank.seeds``).

    A transactional test (real threads, a live server) starts from a database another transactional
    test may have flushed; serialized rollback cannot help once Playwright runs in the main thread
    (Django's connection objects are then per-context), so the seeds are re-applied (idempotent).
    """
    from bank.seeds import reseed_all

    reseed_all()
