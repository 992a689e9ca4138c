"""The qc pages: who may open them, what they show, forms that call the services, constant queries."""

import datetime

import pytest
from django.template import Context, Template
from django.utils import timezone

from qc import services
from qc.models import Deviation, QCResult, Recheck, Specification
from qc.queries import qa_dashboard
from tests.qc.factories import enter_panel, qc_lot
from tests.qc.test_stability import TODAY, released_lot

pytestmark = pytest.mark.django_db


def test_pages_need_login_and_the_right_role(client, users):
    lot = qc_lot()
    urls = ["/qc/", "/qc/results/", f"/qc/lots/{lot.pk}/results/", f"/qc/lots/{lot.pk}/review/", "/qc/deviations/",
            "/qc/rechecks/", "/qc/specifications/"]
    for url in urls:
        response = client.get(url)
        assert response.status_code == 302 and "/accounts/login/" in response.url, url
    client.force_login(users["researcher"])
    for url in urls:
        assert client.get(url).status_code == 403, url
    client.force_login(users["technician"])
    assert client.get("/qc/").status_code == 403  # the QA dashboard is QA's
    for url in urls[1:]:
        assert client.get(url).status_code == 200, url
    client.force_login(users["qa"])
    for url in urls:
        assert client.get(url).status_code == 200, url


def test_qa_dashboard_runs_a_constant_number_of_queries(users, password, django_assert_num_queries):
    def build(n):
        for _ in range(n):
            lot = qc_lot()
            enter_panel(lot, users["technician"], skip=("karyotype",), override={"viability": {"value": "50"}})
            qc_lot(line_cell_type="UC-MSC", line_reprogramming_method="")  # no result yet: judged by the spec in force
            held = released_lot(users, password, due_in_days=-1)
            services.open_due_rechecks(today=TODAY)
            services.record_recheck_result(Recheck.objects.get(lot=held), actor=users["technician"],
                                           viability_pct="20", tested_on=timezone.localdate())
        released_lot(users, password, due_in_days=-1)
        services.open_due_rechecks(today=TODAY)

    build(1)
    qa_dashboard()  # keeps the specifications' criteria (qc.queries.spec_criteria), as a running server has
    # Queries: awaiting lots (1) and their count (1); readiness: assigned specs (1), versions in force (2), results
    # (1), deviations (1), collections with donors (1) + consents and current results (2), panel and windows (2);
    # open deviations (1) and their count (1); re-checks (1) and counts (1); lots on hold (1) and their holds (1).
    with django_assert_num_queries(18):
        board = qa_dashboard()
    assert board.awaiting_count == 2 and board.deviation_count == 2 and board.recheck_counts["due"] == 1
    assert len(board.on_hold) == 1
    build(2)
    with django_assert_num_queries(18):
        board = qa_dashboard()
    assert board.awaiting_count == 6 and board.deviation_count == 6 and board.recheck_counts["due"] == 2
    assert len(board.on_hold) == 3 and all(board.hold_reasons[lot.pk].reason for lot in board.on_hold)
    first = board.awaiting[0]
    assert first.first_blocker["code"] == "qc_incomplete" and first.failed == ["viability"]


def test_dashboard_page_lists_what_waits_for_qa(client, users, password):
    waiting = qc_lot()
    enter_panel(waiting, users["technician"])
    held = released_lot(users, password, due_in_days=0)
    services.open_due_rechecks(today=TODAY)
    recheck = Recheck.objects.get(lot=held)
    services.record_recheck_result(recheck, actor=users["technician"], viability_pct="40",
                                   tested_on=timezone.localdate())
    client.force_login(users["qa"])
    html = client.get("/qc/").content.decode()
    assert waiting.lot_number in html and "ready to sign" in html
    assert held.lot_number in html and "below the minimum" in html  # on hold, with its reason
    assert Deviation.objects.get(lot=held).number in html
    home = client.get("/").content.decode()
    assert 'id="panel-qc"' in home and "Open the QA dashboard" in home


def test_results_entry_page(client, users, password):
    lot = qc_lot()
    client.force_login(users["technician"])
    assert client.get("/qc/results/", {"code": lot.barcode}).url == f"/qc/lots/{lot.pk}/results/"
    assert client.get("/qc/results/", {"code": lot.vials.first().barcode}).url == f"/qc/lots/{lot.pk}/results/"
    missing = client.get("/qc/results/", {"code": "NOPE"}, follow=True).content.decode()
    assert "No lot found for NOPE" in missing
    url = f"/qc/lots/{lot.pk}/results/"
    page = client.get(url).content.decode()
    assert 'id="test-sendai_clearance"' in page and "≥ 70 %" in page
    today = timezone.localdate().isoformat()
    ok = client.post(url, {"test": "viability", "viability-value": "88.5", "viability-tested_on": today,
                           "viability-method": "trypan blue"})
    assert ok.status_code == 302 and ok.url.endswith("#test-viability")
    assert QCResult.objects.get(lot=lot).value == 88.5
    future = (timezone.localdate() + datetime.timedelta(days=2)).isoformat()
    bad = client.post(url, {"test": "sterility", "sterility-outcome": "negative", "sterility-tested_on": future})
    assert bad.status_code == 200 and "in the future" in bad.content.decode()
    assert QCResult.objects.count() == 1
    oos = client.post(url, {"test": "sterility", "sterility-outcome": "positive", "sterility-tested_on": today},
                      follow=True)
    assert "OUT OF SPECIFICATION" in oos.content.decode()
    services.reject_lot(lot, actor=users["qa"], password=password, reason="Sterility positive")
    refused = client.post(url, {"test": "viability", "viability-value": "90", "viability-tested_on": today})
    assert "was rejected" in refused.content.decode()
    assert QCResult.objects.count() == 2


def test_review_page_refuses_what_is_not_ready_with_the_reason(client, users, password):
    lot = qc_lot()
    enter_panel(lot, users["technician"], skip=("karyotype",))
    client.force_login(users["qa"])
    url = f"/qc/lots/{lot.pk}/review/"
    html = client.get(url).content.decode()
    assert 'data-code="qc_incomplete"' in html and "karyotype" in html
    assert "Sign and release" in html and "disabled" in html
    # the audit trail of each counted result is on the page
    assert html.count("QC result") >= 7
    posted = client.post(f"/qc/lots/{lot.pk}/release/", {"release-meaning": "release", "release-password": password})
    assert posted.status_code == 200 and "QC of lot" in posted.content.decode()
    lot.refresh_from_db()
    assert lot.status == "quarantine"


def test_review_page_release_with_password_shows_the_signature(client, users, password):
    lot = qc_lot()
    enter_panel(lot, users["technician"])
    client.force_login(users["qa"])
    wrong = client.post(f"/qc/lots/{lot.pk}/release/", {"release-meaning": "release", "release-password": "nope"})
    assert "The password is not correct" in wrong.content.decode()
    done = client.post(f"/qc/lots/{lot.pk}/release/", {"release-meaning": "release", "release-password": password},
                       follow=True)
    html = done.content.decode()
    assert "released" in html and users["qa"].get_full_name() in html
    assert "Release: the lot meets its specification" in html and 'class="signature' in html
    assert "Certificate of analysis (PDF)" in html


def test_segregation_is_explained_on_the_review_page(client, users):
    lot = qc_lot()
    services.record_qc_result(lot, actor=users["qa"], test="viability", value="90", tested_on=timezone.localdate())
    client.force_login(users["qa"])
    assert 'id="segregation"' in client.get(f"/qc/lots/{lot.pk}/review/").content.decode()


def test_reject_and_lift_hold_pages(client, users, password):
    lot = qc_lot()
    client.force_login(users["qa"])
    empty = client.post(f"/qc/lots/{lot.pk}/reject/", {"reject-meaning": "rejection", "reject-password": password})
    assert empty.status_code == 200 and "This field is required" in empty.content.decode()
    client.post(f"/qc/lots/{lot.pk}/reject/", {"reject-reason": "Karyotype abnormal", "reject-meaning": "rejection",
                                               "reject-password": password})
    lot.refresh_from_db()
    assert lot.status == "rejected"
    held = released_lot(users, password, due_in_days=0)
    services.open_due_rechecks(today=TODAY)
    services.record_recheck_result(Recheck.objects.get(lot=held), actor=users["technician"], viability_pct="30",
                                   tested_on=timezone.localdate())
    from tests.factories import UserFactory

    qa2 = UserFactory(username="qa-page", role="qa")
    client.force_login(qa2)
    assert 'id="no-retest"' in client.get(f"/qc/lots/{held.pk}/review/").content.decode()
    retest = services.record_qc_result(held, actor=users["technician"], test="viability", value="85",
                                       tested_on=timezone.localdate())
    dev = Deviation.objects.get(lot=held, status="open")
    services.update_deviation(dev, actor=qa2, investigation="Counting error", root_cause="Clumps", capa="Filter")
    services.close_deviation(dev, actor=qa2, password=password)
    lifted = client.post(f"/qc/lots/{held.pk}/lift-hold/", {"lift-cited_result": retest.pk, "lift-reason": "ok",
                                                            "lift-meaning": "hold_lifted", "lift-password": password},
                         follow=True)
    assert "Hold on lot" in lifted.content.decode()
    held.refresh_from_db()
    assert held.status == "released"


def test_lot_panel_on_the_lot_page_shows_results_status_and_the_release_signature(rf, users, password):
    """The lots app's lot page renders {% object_panels lot %}; this is the section qc adds to it."""
    lot = qc_lot()
    enter_panel(lot, users["technician"])
    template = Template("{% load bank_tags %}{% object_panels lot %}")

    def render(user):
        request = rf.get("/")
        request.user = user
        return template.render(Context({"request": request, "lot": lot}))

    before = render(users["technician"])
    assert 'id="panel-qc"' in before and "Quarantine" in before and "Release review" in before
    services.release_lot(lot, actor=users["qa"], password=password, meaning="release")
    html = render(users["technician"])
    assert "Released" in html and 'data-decision="release"' in html
    assert users["qa"].get_full_name() in html and "Release: the lot meets its specification" in html
    assert f"/qc/lots/{lot.pk}/certificate.pdf" in html and f"/qc/lots/{lot.pk}/review/" in html
    assert 'data-test="karyotype"' in html
    assert 'id="panel-qc"' not in render(users["researcher"])


def test_deviation_pages(client, users, password):
    lot = qc_lot()
    result = services.record_qc_result(lot, actor=users["technician"], test="sterility", outcome="positive",
                                       tested_on=timezone.localdate())
    dev = Deviation.objects.get(result=result)
    client.force_login(users["technician"])
    assert client.get(f"/scan/?code={dev.number}").url == f"/qc/deviations/{dev.pk}/"
    assert client.post(f"/qc/deviations/{dev.pk}/", {"capa": "x"}).status_code == 403
    client.force_login(users["qa"])
    assert dev.number in client.get("/qc/deviations/").content.decode()
    early = client.post(f"/qc/deviations/{dev.pk}/close/", {"close-meaning": "closure", "close-password": password})
    assert "before closing it" in early.content.decode()
    client.post(f"/qc/deviations/{dev.pk}/", {"investigation": "Both bottles positive", "root_cause": "Harvest",
                                              "capa": "Retrain"})
    closed = client.post(f"/qc/deviations/{dev.pk}/close/", {"close-meaning": "closure", "close-password": password},
                         follow=True).content.decode()
    assert "closed" in closed and "Closure" in closed and users["qa"].get_full_name() in closed


def test_recheck_page_enters_a_result(client, users, password):
    lot = released_lot(users, password, due_in_days=0)
    services.open_due_rechecks(today=TODAY)
    recheck = Recheck.objects.get()
    client.force_login(users["technician"])
    html = client.get("/qc/rechecks/").content.decode()
    assert lot.lot_number in html and recheck.vial.barcode in html
    prefix = f"r{recheck.pk}"
    bad = client.post(f"/qc/rechecks/{recheck.pk}/result/", {f"{prefix}-viability_pct": "150",
                                                             f"{prefix}-tested_on": timezone.localdate()})
    assert bad.status_code == 200 and not Recheck.objects.filter(status="done").exists()
    done = client.post(f"/qc/rechecks/{recheck.pk}/result/", {f"{prefix}-viability_pct": "45",
                                                              f"{prefix}-tested_on": timezone.localdate()},
                       follow=True)
    assert "is now on hold" in done.content.decode()


def test_publish_page_copies_and_edits_criteria(client, users):
    base = Specification.objects.get(cell_type="NSC", tier="WCB", version=1)
    client.force_login(users["technician"])
    assert client.get(f"/qc/specifications/{base.pk}/publish/").status_code == 403
    client.force_login(users["qa"])
    page = client.get(f"/qc/specifications/{base.pk}/publish/").content.decode()
    assert 'value="sterility" selected' in page
    data = {"c-TOTAL_FORMS": "5", "c-INITIAL_FORMS": "3", "c-MIN_NUM_FORMS": "0", "c-MAX_NUM_FORMS": "1000",
            "notes": "Viability raised; karyotype added as reference"}
    rows = [("sterility", "", "", "", "negative", "on"), ("mycoplasma", "", "", "", "negative", "on"),
            ("viability", "75", "", "%", "", "on"), ("karyotype", "", "", "", "normal", ""), ("", "", "", "", "", "on")]
    for i, (test, low, high, unit, expected, blocking) in enumerate(rows):
        data.update({f"c-{i}-test": test, f"c-{i}-min": low, f"c-{i}-max": high, f"c-{i}-unit": unit,
                     f"c-{i}-expected": expected, f"c-{i}-only_for_reprogramming": ""})
        if blocking:
            data[f"c-{i}-blocking"] = blocking
    response = client.post(f"/qc/specifications/{base.pk}/publish/", data)
    assert response.status_code == 302, response.content.decode()[:2000]
    new = Specification.objects.get(cell_type="NSC", tier="WCB", version=2)
    assert {c.test.code: (c.describe(), c.blocking) for c in new.criteria.all()} == {
        "sterility": ("negative", True), "mycoplasma": ("negative", True), "viability": ("≥ 75 %", True),
        "karyotype": ("normal", False)}
    data["c-2-min"] = ""
    refused = client.post(f"/qc/specifications/{new.pk}/publish/", data)
    assert refused.status_code == 200 and "give a minimum" in refused.content.decode()
    assert Specification.objects.filter(cell_type="NSC", tier="WCB").count() == 2


def test_lot_page_with_every_section_asks_each_question_once(client, users, password, django_assert_num_queries):
    """The lot page's sections share their reads: the QC section's readiness is the one the release signature's
    manifest is checked against, the storage section's "waiting for a place" comes from the page's own count of
    the lot's vials, and no section fetches the lot again. Adding a section's query must be a decision."""
    lot = released_lot(users, password)
    client.force_login(users["qa"])
    client.get(f"/lots/{lot.pk}/")  # warm the per-process caches (content types, the ledger's translations)
    # The page (an MCB without a culture: no lineage or passages): 1 session, 2 user, 3 roles, 4-5 permissions,
    # 6 the lot, 7 its vials counted by status and place, 8 a page of vials, 9 child lots, 10 status timeline,
    # 11 unread notifications. Storage: 12 positions, 13 their boxes (what waits for a place: from 7), 14
    # excursions. QC (the lot of the page, not fetched again): 15 assigned specification (its criteria kept since
    # the first request), 16 counted results, 17 every deviation, 18-19 screening panel and windows, 20-22 the
    # donor's standing (collection with donor, consents, current results), 23 latest decision; distribution: 24
    # allocations; 25 the decision's signatures, its manifest rebuilt from the readiness of 15-22 (no query).
    with django_assert_num_queries(25):
        response = client.get(f"/lots/{lot.pk}/")
    html = response.content.decode()
    assert response.status_code == 200 and "QC and release" in html
    # The release signature still matches what QA reviewed (the manifest rebuilt from the shared readiness).
    assert 'data-matches="true"' in html and "data-manifest-broken" not in html
