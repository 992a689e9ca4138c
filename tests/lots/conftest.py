"""Shared set-up of the lots tests: lines, cultures and lots made through the services."""

from __future__ import annotations

import datetime
from decimal import Decimal

import pytest
from django.utils import timezone

from lots import services
from tests.factories import CollectionFactory, eligible_collection


@pytest.fixture
def tech(users):
    return users["technician"]


@pytest.fixture
def collection(db):
    return eligible_collection()


@pytest.fixture
def make_line(tech):
    def make(collection=None, cell_type="iPSC", grade="research", method=None, **kwargs):
        if collection is None:
            tissue = {"UC-MSC": "umbilical_cord", "CB-HSC": "cord_blood", "ESC": "embryo"}.get(cell_type, "skin")
            collection = CollectionFactory(tissue=tissue)
        if method is None:
            method = "sendai" if cell_type == "iPSC" else ""
        return services.create_cell_line(collection=collection, cell_type=cell_type, grade=grade,
                                         reprogramming_method=method, actor=kwargs.pop("actor", None) or tech,
                                         **kwargs)

    return make


@pytest.fixture
def line(make_line, collection):
    return make_line(collection)


def lot_kwargs(**overrides) -> dict:
    values = dict(tier="MCB", passage=12, vial_count=5, cells_per_vial=1_000_000, volume_ml=Decimal("1.0"),
                  cryoprotectant="CryoStor CS10", cryoprotectant_lot="CS10-0042",
                  frozen_on=timezone.localdate() - datetime.timedelta(days=2))
    values.update(overrides)
    return values


@pytest.fixture
def make_lot(tech):
    def make(line, actor=None, **overrides):
        return services.create_lot(cell_line=line, actor=actor or tech, **lot_kwargs(**overrides))

    return make


@pytest.fixture
def released_mcb(line, make_lot, users):
    lot = make_lot(line, vial_count=4)
    return services.change_lot_status(lot, "released", actor=users["qa"], reason="QC passed")
