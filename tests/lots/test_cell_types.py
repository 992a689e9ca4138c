"""Issue 15's cell types (every bank type of the seed review's Table 1): each comes from its tissue, gets a bank
name, the specification defaults of its family, and works through the API, the lines list and the catalog filter."""

from __future__ import annotations

import pytest
from django.core.exceptions import ValidationError
from django.test import Client

from donors.choices import Tissue
from lots import naming, services
from lots.choices import MSC_TYPES, CellType
from lots.services import SOURCE_TISSUES
from qc.queries import spec_in_force
from tests.factories import CollectionFactory

pytestmark = pytest.mark.django_db

NEW = {  # cell type: (its tissue, a tissue it never comes from, the bank name's code)
    "AM-MSC": ("amnion", "adipose", "AMMSC"),
    "EN-MSC": ("endometrium", "skin", "ENMSC"),
    "MB-MSC": ("menstrual_blood", "bone_marrow", "MBMSC"),
    "MuSC": ("muscle", "placenta", "MUSC"),
    "SkSC": ("skin", "muscle", "SKSC"),
    "NSC": ("neural_tissue", "adipose", "NSC"),
}


def test_the_api_lists_grow_and_nothing_is_renamed():
    assert {"iPSC", "ESC", "UC-MSC", "AD-MSC", "BM-MSC", "DP-MSC", "P-MSC", "CB-HSC", "NSC", "other"} \
        < set(CellType.values)
    assert set(NEW) <= set(CellType.values)
    for tissue, _wrong, _code in NEW.values():
        assert tissue in Tissue.values  # the donors app's tissues
    assert all(len(value) <= 10 for value in CellType.values)  # the cell_type columns


@pytest.mark.parametrize("cell_type", sorted(NEW))
def test_each_new_type_comes_from_its_tissue_only(cell_type, tech):
    tissue, wrong, code = NEW[cell_type]
    assert SOURCE_TISSUES[cell_type] == (tissue,)
    line = services.create_cell_line(collection=CollectionFactory(tissue=tissue), cell_type=cell_type,
                                     grade="research", actor=tech)
    assert line.name == f"{naming.institute_code()}-{code}-001"
    other = services.create_cell_line(collection=CollectionFactory(tissue="other"), cell_type=cell_type,
                                      grade="research", actor=tech)
    assert other.name.endswith("-002")  # "other" tissue is accepted for every type
    with pytest.raises(ValidationError) as info:
        services.create_cell_line(collection=CollectionFactory(tissue=wrong), cell_type=cell_type, grade="research",
                                  actor=tech)
    assert "collection" in info.value.message_dict


@pytest.mark.parametrize("cell_type", ["AM-MSC", "EN-MSC", "MB-MSC"])
def test_the_new_mscs_get_the_msc_specification_defaults(cell_type):
    assert cell_type in MSC_TYPES
    reference = {tier: {(c.test.code, c.min_value, c.max_value, c.expected) for c in
                        spec_in_force("UC-MSC", tier).criteria.all()} for tier in ("MCB", "WCB")}
    for tier in ("MCB", "WCB"):
        spec = spec_in_force(cell_type, tier)
        assert spec is not None and spec.version == 1
        assert {(c.test.code, c.min_value, c.max_value, c.expected) for c in spec.criteria.all()} == reference[tier]
    assert {"cd73", "cd90", "cd105", "negative_markers", "trilineage"} <= {
        c.test.code for c in spec_in_force(cell_type, "MCB").criteria.all()}


@pytest.mark.parametrize("cell_type", ["MuSC", "SkSC"])
def test_muscle_and_skin_stem_cells_get_the_basic_defaults(cell_type):
    for tier in ("MCB", "WCB"):
        spec = spec_in_force(cell_type, tier)
        assert {c.test.code for c in spec.criteria.all()} == {"sterility", "mycoplasma", "viability"}


def test_a_new_type_through_the_api_and_the_filters(api, users):
    collection = CollectionFactory(tissue="menstrual_blood")
    client = api(users["technician"])
    response = client.post("/api/v1/cell-lines/", {"collection": collection.pk, "cell_type": "MB-MSC",
                                                    "grade": "research"}, format="json")
    assert response.status_code == 201, response.content
    assert response.json()["name"].endswith("-MBMSC-001")
    listed = client.get("/api/v1/cell-lines/", {"cell_type": "MB-MSC"}).json()["results"]
    assert [line["cell_type"] for line in listed] == ["MB-MSC"]
    wrong = client.post("/api/v1/cell-lines/", {"collection": CollectionFactory(tissue="muscle").pk,
                                                 "cell_type": "EN-MSC", "grade": "research"}, format="json")
    assert wrong.status_code == 400 and "collection" in wrong.json()
    page = Client()
    page.force_login(users["technician"])
    html = page.get("/lots/lines/", {"cell_type": "MB-MSC"}).content.decode()
    assert 'value="MB-MSC"' in html and response.json()["name"] in html
    researcher = Client()
    researcher.force_login(users["researcher"])
    assert researcher.get("/distribution/catalog/", {"cell_type": "SkSC"}).status_code == 200
