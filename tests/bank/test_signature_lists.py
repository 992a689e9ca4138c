"""Lists that show electronic signatures read them for the whole page at once (bank.signatures.signatures_by_record):
the deviation and recall lists cost the same number of queries for 2 rows as for 20."""

from __future__ import annotations

import pytest

from bank.signatures import record_signature, signatures_by_record, signatures_for
from distribution.models import Recall
from qc.models import Deviation
from tests.factories import LotFactory

pytestmark = pytest.mark.django_db


def _deviations(qa, n: int) -> None:
    lot = LotFactory()
    for i in range(n):
        deviation = Deviation.objects.create(number=f"DEV-T-{Deviation.objects.count() + 1:04d}", lot=lot,
                                             opened_by=qa, summary=f"event {i}")
        record_signature(deviation, signer=qa, meaning="review")
        record_signature(deviation, signer=qa, meaning="closure")


def _recalls(qa, n: int) -> None:
    lot = LotFactory(status="recalled")
    for i in range(n):
        recall = Recall.objects.create(source="lot_recall", lot=lot, reason=f"recall {i}", initiated_by=qa)
        record_signature(recall, signer=qa, meaning="recall")


@pytest.mark.parametrize("rows", [2, 20])
def test_deviation_list_reads_signatures_once_per_page(users, api, django_assert_num_queries, rows):
    _deviations(users["qa"], rows)
    client = api(users["qa"])
    client.get("/api/v1/qc/deviations/")  # warm the permission and content type caches
    # Queries: the page with lot, opener and closer joined (1; it fits one page, so no count), the signatures of
    # the page's deviations with their signers (1) — whatever the number of rows.
    with django_assert_num_queries(2):
        body = client.get("/api/v1/qc/deviations/").json()
    assert body["count"] == rows
    for row in body["results"]:
        assert [s["meaning"] for s in row["signatures"]] == ["closure", "review"]  # newest first
        assert all(s["matches"] and s["signer"] == "qa" for s in row["signatures"])


@pytest.mark.parametrize("rows", [2, 20])
def test_recall_list_reads_signatures_once_per_page(users, api, django_assert_num_queries, rows):
    _recalls(users["qa"], rows)
    client = api(users["qa"])
    client.get("/api/v1/recalls/")  # warm the permission and content type caches
    # Queries: the page with lot and initiator joined (1; it fits one page, so no count), the notices of the page
    # with request and recipient (1), the signatures of the page's recalls with their signers (1).
    with django_assert_num_queries(3):
        body = client.get("/api/v1/recalls/").json()
    assert body["count"] == rows
    assert all([s["meaning"] for s in row["signatures"]] == ["recall"] for row in body["results"])


def test_list_and_detail_show_the_same_signatures_and_a_changed_record(users, api):
    _deviations(users["qa"], 2)
    changed = Deviation.objects.order_by("pk").first()
    Deviation.objects.filter(pk=changed.pk).update(summary="edited after signing")
    client = api(users["qa"])
    listed = {row["id"]: row["signatures"] for row in client.get("/api/v1/qc/deviations/").json()["results"]}
    for pk, signatures in listed.items():
        detail = client.get(f"/api/v1/qc/deviations/{pk}/").json()["signatures"]  # the per-record read
        assert detail == signatures
        assert all(s["matches"] is (pk != changed.pk) for s in signatures)


def test_signatures_by_record_files_every_record(users, django_assert_num_queries):
    _deviations(users["qa"], 3)
    _recalls(users["qa"], 2)
    unsigned = Deviation.objects.create(number="DEV-T-9999", lot=LotFactory(), opened_by=users["qa"])
    deviations = list(Deviation.objects.order_by("pk"))
    recalls = list(Recall.objects.order_by("pk"))
    signatures_by_record(deviations[:1])  # the content types are cached after their first use
    signatures_by_record(recalls[:1])
    with django_assert_num_queries(2):  # one per model
        found = signatures_by_record(deviations + recalls)
    assert found[("qc.deviation", unsigned.pk)] == []
    for record in deviations + recalls:
        assert found[(record._meta.label_lower, record.pk)] == list(signatures_for(record))
    with django_assert_num_queries(0):
        assert signatures_by_record([]) == {}
