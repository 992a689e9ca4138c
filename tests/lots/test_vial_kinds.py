"""A cord blood unit's containers say what they are (issue 12): the vial API's ``kind`` and the lot page."""

import pytest
from django.urls import reverse

from tests import cordblood_factories as cb
from tests.factories import LotFactory

pytestmark = pytest.mark.django_db


def test_the_vial_api_names_each_kind_and_filters_by_it(api, users):
    unit = cb.unit()
    client = api(users["technician"])
    rows = client.get("/api/v1/vials/", {"lot": unit.lot.pk}).json()["results"]
    assert [r["kind"] for r in sorted(rows, key=lambda r: r["number"])] == [str(k) for k in cb.UNIT_CONTAINERS]
    segments = client.get("/api/v1/vials/", {"lot": unit.lot.pk, "kind": "segment"}).json()["results"]
    assert len(segments) == 2 and {r["kind"] for r in segments} == {"segment"}
    one = client.get(f"/api/v1/vials/{segments[0]['id']}/").json()
    assert one["kind"] == "segment"


def test_the_lot_page_shows_kinds_for_a_unit_only(client, users):
    client.force_login(users["technician"])
    unit = cb.unit()
    page = client.get(reverse("lots:lot_detail", args=[unit.lot.pk])).content.decode()
    assert 'data-kind="bag"' in page and 'data-kind="segment"' in page
    plain = LotFactory(vial_count=2)
    page = client.get(reverse("lots:lot_detail", args=[plain.pk])).content.decode()
    assert "data-kind=" not in page


def test_a_culture_never_starts_from_plasma_dna_or_a_maternal_sample(users):
    from django.core.exceptions import ValidationError

    from lots.services import start_culture

    unit = cb.unit()
    line = unit.lot.cell_line
    for kind in ("reference_plasma", "reference_dna", "maternal_sample"):
        with pytest.raises(ValidationError) as invalid:
            start_culture(line, source_vial=unit.lot.vials.get(kind=kind), actor=users["technician"])
        assert "source_vial" in invalid.value.message_dict
    culture = start_culture(line, source_vial=unit.lot.vials.get(kind="reference_cells"), actor=users["technician"])
    assert culture.source_vial.kind == "reference_cells"
