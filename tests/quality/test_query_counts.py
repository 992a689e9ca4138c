"""The quality lists run a constant number of queries whatever their size."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from quality import queries
from tests.factories import UserFactory
from tests.quality.helpers import approve, instrument, material, train

pytestmark = pytest.mark.django_db


def count(func) -> int:
    with CaptureQueriesContext(connection) as captured:
        func()
    return len(captured)


def test_the_training_matrix_reads_a_constant_number_of_queries(users):
    versions = [approve(f"SOP-{i}", "1", ["passage"]) for i in range(3)]
    people = [UserFactory(username=f"t{i}", role="technician") for i in range(3)]
    for person in people:
        for version in versions:
            train(person, version)

    def build():
        shown = queries.versions_in_force_today()
        rows = queries.training_matrix(list(queries.matrix_users()[:50]), shown)
        assert rows and all(len(r.cells) == len(shown) for r in rows)

    small = count(build)
    more = [UserFactory(username=f"u{i}", role="technician") for i in range(6)]
    for person in more:
        train(person, versions[0])
    approve("SOP-X", "1", ["ship"])
    # users (1, with their groups filtered in SQL), the versions in force (1), the trainings of the page (1)
    assert count(build) == small == 3


def test_the_material_and_equipment_api_lists_are_constant(users, api):
    client = api(users["qa"])
    for i in range(2):
        material(f"M-{i}")
        instrument(f"E-{i}")
    client.get("/api/v1/quality/materials/")  # the user's permissions are read once, then cached on the user
    # materials: the page (1), the page's signatures (1); equipment: the page (1) — a short page needs no count
    small = (count(lambda: client.get("/api/v1/quality/materials/")),
             count(lambda: client.get("/api/v1/quality/equipment/")))
    for i in range(2, 8):
        material(f"M-{i}")
        instrument(f"E-{i}")
    assert (count(lambda: client.get("/api/v1/quality/materials/")),
            count(lambda: client.get("/api/v1/quality/equipment/"))) == small == (2, 1)
