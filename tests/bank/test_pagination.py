"""Lists count only when they must: a first page that holds the whole list is its own count (one query)."""

from urllib.parse import urlsplit

import pytest

from tests.factories import StorageUnitFactory

pytestmark = pytest.mark.django_db


def test_a_list_that_fits_one_page_is_not_counted(api, users, django_assert_num_queries):
    for n in range(3):
        StorageUnitFactory(name=f"PG-{n}")
    client = api(users["qa"])
    client.get("/api/v1/storage/units/")  # warm the permission cache
    with django_assert_num_queries(2):  # the page (no count), the units' occupancy
        body = client.get("/api/v1/storage/units/?page_size=5").json()
    assert body["count"] == 3 and body["next"] is None and len(body["results"]) == 3


def test_a_longer_list_is_counted_exactly_and_pages_on(api, users, django_assert_num_queries):
    for n in range(5):
        StorageUnitFactory(name=f"PG-{n}")
    client = api(users["qa"])
    client.get("/api/v1/storage/units/")
    with django_assert_num_queries(3):  # the page and one row more, the count, the occupancy
        first = client.get("/api/v1/storage/units/?page_size=2").json()
    assert first["count"] == 5 and len(first["results"]) == 2 and "page=2" in first["next"]
    link = urlsplit(first["next"])
    second = client.get(f"{link.path}?{link.query}").json()
    assert second["count"] == 5 and len(second["results"]) == 2 and second["previous"]
    last = client.get("/api/v1/storage/units/?page_size=2&page=3").json()
    assert len(last["results"]) == 1 and last["next"] is None
    names = [u["name"] for u in first["results"] + second["results"] + last["results"]]
    assert len(set(names)) == 5
