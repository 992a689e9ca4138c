"""A cord blood unit's containers are told apart on the box map: the bag, its segments, reference vials and
maternal samples each carry a mark and their full name; plain vials carry none."""

import pytest
from django.urls import reverse

from storage.queries import box_grid, box_map
from storage.services import store_lot
from tests import cordblood_factories as cb
from tests.factories import BoxFactory, UserFactory

pytestmark = pytest.mark.django_db


def test_the_map_marks_each_container_kind_of_a_unit(client):
    unit = cb.unit()
    box = BoxFactory()
    store_lot(unit.lot, [box], actor=UserFactory(username="tech-kinds", role="technician"))
    kinds = {c["vial"]["kind"] for c in box_map(box)["cells"] if c["vial"]}
    assert "bag" in kinds and "segment" in kinds
    marks = {c["vial"]["kind"]: str(c["vial"]["kind_mark"]) for row in box_grid(box) for c in row if c["vial"]}
    assert marks["bag"] == "BAG" and marks["segment"] == "SEG"
    client.force_login(UserFactory(username="qa-kinds", role="qa"))
    page = client.get(reverse("storage:box", args=[box.pk])).content.decode()
    assert '<span class="kind k-bag">BAG</span>' in page
    assert "· Segment" in page  # the full name in the cell's tooltip
