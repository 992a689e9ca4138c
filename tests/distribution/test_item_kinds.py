"""Item kinds (issue 12): only vials (to researchers) and bags (to patients, through transplant orders) leave the
bank; segments, reference vials and maternal samples are
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


def _mixed_lot(line):
    """A released lot of ``line`` holding two plain vials beside a segment and a reference vial."""
    lot = add_lot(line, tier="WCB", vials=4)
    for vial, kind in zip(lot.vials.order_by("number"), ["vial", "segment", "vial", "reference_cells"], strict=True):
        vial.kind = kind
        vial.save(update_fields=["kind"])
    return lot


def test_a_segment_cannot_be_allocated(api, users):
    """Must show (issue 12): asking for more than the plain vials refuses; only plain vials are ever reserved."""
    line = make_line()
    lot = _mixed_lot(line)
    with pytest.raises(Conflict) as refused:
        submit(users["researcher"], line, vials=3)
    assert refused.value.code == "insufficient_stock" and refused.value.extra["available"] == 2
    first = submit(users["researcher"], line, vials=2)
    second = submit(users["researcher"], line, vials=1)
    one = services.approve_request(first, actor=users["qa"])
    assert sorted(one.allocated_barcodes) == sorted(lot.vials.filter(kind="vial").values_list("barcode", flat=True))
    # The vials are taken: the segment and the reference vial are still available, neither may go.
    response = api(users["qa"]).post(f"/api/v1/requests/{second.pk}/approve/", {}, format="json")
    assert response.status_code == 409 and response.json()["code"] == "insufficient_stock"
    assert set(Vial.objects.filter(status="reserved").values_list("kind", flat=True)) == {"vial"}
    assert lot.vials.filter(status="available").count() == 2
    assert not queries.allocatable_vials(line.pk).exists()


def test_a_cord_blood_bag_goes_to_a_patient_never_to_a_researchers_request(api, users):
    """Only the bag of a unit leaves the bank, and only through a transplant centre's order: a researcher's
    request finds no stock in a unit, and the catalog does not list it."""
    line = make_line(cell_type="CB-HSC", grade="clinical")
    _unit_like_lot(line)
    assert queries.stock_of_line(line.pk)["available"] == 0
    with pytest.raises(Conflict) as refused:
        submit(users["researcher"], line, vials=1)
    assert refused.value.code == "insufficient_stock"
    assert not queries.allocatable_vials(line.pk).exists()
    response = api(users["researcher"]).get("/api/v1/catalog/")
    assert line.pk not in [r["id"] for r in response.json()["results"]]


def test_a_segment_is_not_stock_in_the_catalog(api, users):
    line = make_line()
    _mixed_lot(line)
    assert queries.stock_of_line(line.pk)["available"] == 2
    response = api(users["researcher"]).get("/api/v1/catalog/")
    row = next(r for r in response.json()["results"] if r["id"] == line.pk)
    assert row["available_vials"] == 2


def test_the_trace_names_each_containers_kind(users):
    line = make_line(cell_type="CB-HSC", grade="clinical")
    lot = _unit_like_lot(line)
    segment = lot.vials.filter(kind="segment").first()
    assert queries.trace_vial(segment.barcode)["vial"]["kind"] == "segment"
