"""Item kinds (issue 12): only vials and bags leave the bank; segments, reference vials and maternal samples are
kept for testing — never allocated, never counted as stock in the catalog, never on a pick list."""

import pytest

from bank.errors import Conflict
from distribution import queries, services
from lots.models import Vial
from tests.distribution.factories import add_lot, make_line, submit

pytestmark = pytest.mark.django_db


def _unit_like_lot(line):
    """A released unit lot of ``line``: one bag, two segments, reference vials, a maternal sample (stored)."""
    lot = add_lot(line, tier="unit", vials=7, passage=0)
    kinds = ["bag", "segment", "segment", "reference_cells", "reference_plasma", "reference_dna", "maternal_sample"]
    for vial, kind in zip(lot.vials.order_by("number"), kinds, strict=True):
        vial.kind = kind
        vial.save(update_fields=["kind"])
    return lot


def test_a_segment_cannot_be_allocated(api, users):
    """Must show (issue 12): asking for more than the bag refuses, and nothing but the bag is ever reserved."""
    line = make_line(cell_type="CB-HSC", grade="clinical")
    lot = _unit_like_lot(line)
    with pytest.raises(Conflict) as refused:
        submit(users["researcher"], line, vials=2)
    assert refused.value.code == "insufficient_stock" and refused.value.extra["available"] == 1
    first = submit(users["researcher"], line, vials=1)
    second = submit(users["researcher"], line, vials=1)
    one = services.approve_request(first, actor=users["qa"])
    bag = lot.vials.get(kind="bag")
    assert one.allocated_barcodes == [bag.barcode]
    # The bag is taken: six segments, reference vials and samples are still available, none may go.
    response = api(users["qa"]).post(f"/api/v1/requests/{second.pk}/approve/", {}, format="json")
    assert response.status_code == 409 and response.json()["code"] == "insufficient_stock"
    assert list(Vial.objects.filter(status="reserved").values_list("kind", flat=True)) == ["bag"]
    assert lot.vials.filter(status="available").count() == 6
    assert not queries.allocatable_vials(line.pk).exists()  # the segments are left: none may go


def test_a_segment_is_not_stock_in_the_catalog(api, users):
    line = make_line(cell_type="CB-HSC", grade="clinical")
    _unit_like_lot(line)
    assert queries.stock_of_line(line.pk)["available"] == 1
    response = api(users["researcher"]).get("/api/v1/catalog/")
    row = next(r for r in response.json()["results"] if r["id"] == line.pk)
    assert row["available_vials"] == 1
    only_samples = make_line(cell_type="CB-HSC", grade="clinical")
    samples = _unit_like_lot(only_samples)
    samples.vials.filter(kind="bag").update(status="shipped")
    response = api(users["researcher"]).get("/api/v1/catalog/")
    assert only_samples.pk not in [r["id"] for r in response.json()["results"]]


def test_the_trace_names_each_containers_kind(users):
    line = make_line(cell_type="CB-HSC", grade="clinical")
    lot = _unit_like_lot(line)
    segment = lot.vials.filter(kind="segment").first()
    assert queries.trace_vial(segment.barcode)["vial"]["kind"] == "segment"
