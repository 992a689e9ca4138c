"""Part 11 integrity (issue 11): a QA decision's e-signature covers a manifest of what QA reviewed, so a result
corrected after release (or a deviation, eligibility or consent that changed) shows the signature as no longer
matching — in the API, on the lot page, the review page and the CoA; and the audit trail exports (CSV, PDF) for
inspectors, with permissions and CSV-injection safety."""

from __future__ import annotations

import csv
import datetime
import io

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from bank import audit_chain
from bank.audit import acting
from bank.models import Notification, Signature
from bank.notifications import notify
from bank.signatures import check, current_manifests, signatures_for
from donors.services import withdraw_consent
from lots.models import Lot
from qc import services
from qc.certificate import certificate_content, certificate_pdf
from qc.models import Deviation, LotDecision
from tests.factories import PASSWORD, DonorIdentityFactory, UserFactory
from tests.qc.factories import enter_panel, qc_lot, store_vials

pytestmark = pytest.mark.django_db
TODAY = timezone.localdate


def released(users, password, **kwargs):
    lot = qc_lot(**kwargs)
    enter_panel(lot, users["technician"])
    decision = services.release_lot(lot, actor=users["qa"], password=password, meaning="release")
    lot.refresh_from_db()
    return lot, decision


def api_signature(client, lot, decision: str = "release") -> dict:
    body = client.get(f"/api/v1/lots/{lot.pk}/decisions/").json()
    return next(d for d in body["results"] if d["decision"] == decision)["signatures"][0]


def correct_viability(lot, technician, value="75"):
    """A correction is never an overwrite: a new result for the same test, which then counts."""
    return services.record_qc_result(lot, actor=technician, test="viability", value=value,
                                     tested_on=TODAY() - datetime.timedelta(days=1), method="trypan blue, repeated")


# --- the manifest ----------------------------------------------------------------------------------------------


def test_a_release_signature_covers_what_qa_reviewed(users, password):
    lot, decision = released(users, password)
    signature = signatures_for(decision).get()
    manifest = signature.manifest
    assert signature.manifest_hash and len(signature.manifest_hash) == 64
    assert manifest["decision"] == "release" and manifest["lot"]["lot_number"] == lot.lot_number
    assert manifest["specification"]["version"] == 1 and manifest["specification"]["cell_type"] == "iPSC"
    viability = manifest["results"]["viability"]
    assert (viability["value"], viability["unit"], viability["passed"]) == ("92", "%", True)
    assert viability["result"] == lot.qc_results.get(test__code="viability").pk and viability["tested_on"]
    assert manifest["results"]["sterility"]["outcome"] == "negative"
    assert manifest["deviations"] == {}
    assert manifest["donor"]["eligibility"] == "eligible" and manifest["donor"]["consent"] == "active"
    assert manifest["donor"]["missing_markers"] == [] and manifest["donor"]["positive_markers"] == []
    assert check(signature).matches


def test_correcting_a_reviewed_result_after_release_breaks_the_signature_and_nothing_else_does(
        users, password, api, client):
    lot, decision = released(users, password)
    qa = api(users["qa"])
    shown = api_signature(qa, lot)
    assert shown["matches"] is True and shown["manifest_matches"] is True and shown["differences"] == []
    assert shown["manifest"]["results"]["viability"]["value"] == "92"

    # Unrelated changes: another lot's results, the lot's notes and storage, a notification.
    other = qc_lot()
    enter_panel(other, users["technician"])
    Lot.objects.get(pk=lot.pk).save()  # a save that changes nothing
    lot.notes = "Moved to the day-to-day tank"
    lot.save(update_fields=["notes"])
    store_vials(lot)
    notify([users["qa"]], subject="unrelated")
    assert api_signature(qa, lot)["matches"] is True
    client.force_login(users["qa"])
    page = client.get(f"/lots/{lot.pk}/").content.decode()
    assert 'data-matches="true"' in page and "no longer matches" not in page

    corrected = correct_viability(lot, users["technician"])
    shown = api_signature(qa, lot)
    assert shown["matches"] is False and shown["content_matches"] is True and shown["manifest_matches"] is False
    changed = {d["path"]: (d["signed"], d["now"]) for d in shown["differences"]}
    assert changed["results.viability.value"] == ("92", "75")
    assert changed["results.viability.result"][1] == corrected.pk
    assert all(path.startswith("results.viability.") for path in changed)

    page = client.get(f"/lots/{lot.pk}/").content.decode()
    assert 'data-matches="false"' in page and "data-manifest-broken" in page
    assert "What the signer reviewed has changed since: this signature no longer matches it." in page
    assert "results.viability.value" in page
    review = client.get(f"/qc/lots/{lot.pk}/review/").content.decode()
    assert "data-manifest-broken" in review

    coa = certificate_content(lot)["signature"]
    assert coa["matches"] is False and coa["manifest_matches"] is False
    assert any(path["path"] == "results.viability.value" for path in coa["differences"])
    assert ("Results reviewed", coa["reviewed"][1][1]) == coa["reviewed"][1] and "viability" in coa["reviewed"][1][1]
    assert certificate_pdf(lot).startswith(b"%PDF")


def test_a_deviation_opened_or_closed_afterwards_breaks_the_signature(users, password, api):
    lot, _decision = released(users, password)
    deviation = services.open_deviation(lot, actor=users["qa"], summary="Cryo log gap found at audit")
    shown = api_signature(api(users["qa"]), lot)
    assert shown["matches"] is False
    assert f"deviations.{deviation.number}.status" in {d["path"] for d in shown["differences"]}


def test_a_closed_deviation_reviewed_at_release_is_covered_with_its_state(users, password):
    lot = qc_lot()
    enter_panel(lot, users["technician"])
    deviation = services.open_deviation(lot, actor=users["qa"], summary="Late transfer")
    services.update_deviation(deviation, actor=users["qa"], investigation="i", root_cause="r", capa="c")
    services.close_deviation(deviation, actor=users["qa"], password=password)
    qa2 = UserFactory(username="qa-two", role="qa")
    decision = services.release_lot(lot, actor=qa2, password=password, meaning="release")
    signature = signatures_for(decision).get()
    assert signature.manifest["deviations"][deviation.number]["status"] == "closed"
    assert check(signature).matches


def test_consent_withdrawn_afterwards_breaks_the_signature(users, password):
    lot, decision = released(users, password)
    consent = lot.cell_line.collection.donor.consents.get()
    withdraw_consent(consent, actor=users["coordinator"], reason="The donor asked us to stop")
    state = check(signatures_for(decision).get())
    assert not state.matches
    paths = {d["path"] for d in state.differences}
    assert {"donor.consent", "donor.consent_withdrawn", "lot.consent_withdrawn_flagged"} <= paths


def test_rejection_and_lifting_a_hold_are_signed_with_a_manifest(users, password):
    lot = qc_lot()
    enter_panel(lot, users["technician"], override={"viability": {"value": "40"}})
    rejection = services.reject_lot(lot, actor=users["qa"], password=password, reason="Viability 40 %")
    manifest = signatures_for(rejection).get().manifest
    assert manifest["decision"] == "reject" and manifest["results"]["viability"]["passed"] is False

    from tests.qc.test_stability import fail_a_recheck

    held, _recheck = fail_a_recheck(users, password)
    retest = services.record_qc_result(held, actor=users["technician"], test="viability", value="88",
                                       tested_on=TODAY())
    for dev in Deviation.objects.filter(lot=held, status="open"):
        services.update_deviation(dev, actor=users["qa"], investigation="i", root_cause="r", capa="c")
        services.close_deviation(dev, actor=users["qa"], password=password)
    qa2 = UserFactory(username="qa-lift", role="qa")
    lift = services.lift_hold(held, actor=qa2, password=password, cited_result=retest.pk, reason="Retest passed")
    signed = signatures_for(lift).get()
    assert signed.manifest["decision"] == "lift_hold"
    assert signed.manifest["cited_result"] == {"test": "viability", "result": retest.pk, "value": "88",
                                               "outcome": None, "unit": "%", "tested_on": TODAY().isoformat(),
                                               "passed": True}
    assert check(signed).matches
    # The release signature of that lot reviewed other results and no deviation: it no longer matches.
    release = LotDecision.objects.get(lot=held, decision="release")
    assert not check(signatures_for(release).get()).matches


def test_signatures_without_a_manifest_are_judged_on_their_record_alone(users, password, api):
    lot, decision = released(users, password)
    Signature.objects.filter(object_id=decision.pk, content_type__model="lotdecision").update(manifest={},
                                                                                             manifest_hash="")
    correct_viability(lot, users["technician"])
    shown = api_signature(api(users["qa"]), lot)
    assert shown["matches"] is True and shown["manifest_matches"] is None and shown["manifest"] is None


def test_manifests_are_built_in_bulk_for_a_list(users, password):
    """A list page rebuilds every manifest at once: the same number of queries for 2 decisions as for 5."""
    few = [released(users, password)[1] for _ in range(2)]
    many = [released(users, password)[1] for _ in range(5)]
    current_manifests(few)  # warm the caches (content types, the screening panel)
    with CaptureQueriesContext(connection) as small:
        current_manifests(few)
    with CaptureQueriesContext(connection) as large:
        built = current_manifests(many)
    assert 0 < len(small.captured_queries) == len(large.captured_queries)
    assert all(built[("qc.lotdecision", d.pk)]["decision"] == "release" for d in many)


def test_the_decision_list_reads_its_page_at_once(users, password, api):
    lot, decision = released(users, password)
    body = api(users["qa"]).get(f"/api/v1/lots/{lot.pk}/decisions/").json()
    assert body["count"] == 1 and body["results"][0]["id"] == decision.pk
    assert api(users["technician"]).get(f"/api/v1/lots/{lot.pk}/decisions/").status_code == 200
    assert api(users["researcher"]).get(f"/api/v1/lots/{lot.pk}/decisions/").status_code == 403
    assert api(users["qa"]).get("/api/v1/lots/999999/decisions/").status_code == 404


def test_other_signed_records_carry_no_manifest(users, password):
    lot = qc_lot()
    deviation = services.open_deviation(lot, actor=users["qa"], summary="x")
    services.update_deviation(deviation, actor=users["qa"], investigation="i", root_cause="r", capa="c")
    services.close_deviation(deviation, actor=users["qa"], password=password)
    signature = signatures_for(deviation).get()
    assert signature.manifest == {} and signature.manifest_hash == ""
    assert check(signature).manifest_matches is None and check(signature).matches


# --- audit exports ------------------------------------------------------------------------------------------


def rows_of(response) -> list[list[str]]:
    text = b"".join(response.streaming_content).decode("utf-8")
    assert text.startswith("\ufeff")
    return list(csv.reader(io.StringIO(text[1:])))


def test_csv_of_one_record_with_who_when_what_why_and_the_chain(users, password, api):
    lot, _decision = released(users, password)
    audit_chain.seal()
    response = api(users["qa"]).get("/api/v1/audit/export.csv", {"object_type": "lot", "object_id": lot.pk})
    assert response.status_code == 200 and response["Content-Type"].startswith("text/csv")
    assert f'filename="audit-lot-{lot.pk}.csv"' in response["Content-Disposition"]
    header, *rows = rows_of(response)
    assert header[:8] == ["time (UTC)", "user", "user name", "action", "record type", "record id", "changes", "reason"]
    assert header[-1] == "chain state"
    assert [r[3] for r in rows] == ["created", "updated"]  # oldest first
    released_row = rows[-1]
    assert released_row[1] == "qa" and released_row[7] == "released by QA" and '"status": ["quarantine", ' \
        '"released"]' in released_row[6]
    assert {r[-1] for r in rows} == {"verified"} and all(r[-2].isdigit() for r in rows)


def test_csv_of_a_date_range_across_the_bank_leaves_out_what_the_reader_may_not_see(users, password, api):
    lot, _decision = released(users, password)
    identity = DonorIdentityFactory(full_name="Li Xiaoming")
    today = TODAY().isoformat()
    tech = rows_of(api(users["technician"]).get("/api/v1/audit/export.csv", {"from": today, "to": today}))
    types = {r[4] for r in tech[1:]}
    assert {"lot", "qcresult", "lotdecision", "signature"} <= types
    assert "donoridentity" not in types and "user" not in types
    assert "Li Xiaoming" not in str(tech) and identity.national_id not in str(tech)
    times = [r[0] for r in tech[1:]]
    assert times == sorted(times)
    coordinator = rows_of(api(users["coordinator"]).get("/api/v1/audit/export.csv", {"from": today, "to": today}))
    assert "donoridentity" in {r[4] for r in coordinator[1:]}
    # a day with nothing: just the header
    old = (TODAY() - datetime.timedelta(days=400)).isoformat()
    assert len(rows_of(api(users["qa"]).get("/api/v1/audit/export.csv", {"from": old, "to": old}))) == 1


def test_csv_cells_that_look_like_formulas_are_neutralised(users, api):
    evil = UserFactory(username="evil", role="technician", first_name="=HYPERLINK(\"http://x\",\"y\")", last_name="")
    with acting(evil, reason="+cmd|' /C calc'!A0"):
        note = notify([users["qa"]], subject="-2+3")[0]
    with acting(evil, reason="@SUM(1+1)"):
        Notification.objects.get(pk=note.pk).save()
    response = api(users["admin"]).get("/api/v1/audit/export.csv", {"object_type": "notification",
                                                                    "object_id": note.pk})
    rows = rows_of(response)[1:]
    cells = [cell for row in rows for cell in row]
    assert not [c for c in cells if c[:1] in ("=", "+", "-", "@", "\t", "\r")]
    assert "'=HYPERLINK(\"http://x\",\"y\")" in cells and "'+cmd|' /C calc'!A0" in cells and "'@SUM(1+1)" in cells


def test_pdf_of_a_record_and_of_a_range(users, password, api, settings):
    from bank.audit_export import parse_scope, pdf_content

    lot, _decision = released(users, password)
    with acting(users["qa"], reason="放行复核"):  # Chinese text in the trail
        lot.notes = "液氮罐 3 号"
        lot.save(update_fields=["notes"])
    response = api(users["qa"]).get("/api/v1/audit/export.pdf", {"object_type": "lot", "object_id": lot.pk})
    assert response.status_code == 200 and response["Content-Type"] == "application/pdf"
    assert response.content.startswith(b"%PDF") and b"STSong-Light" in response.content
    content = pdf_content(parse_scope({"object_type": "lot", "object_id": str(lot.pk)}, users["qa"]), users["qa"])
    assert [r["action"] for r in content["rows"]] == ["created", "updated", "updated"]
    assert content["rows"][-1]["reason"] == "放行复核" and "液氮罐 3 号" in content["rows"][-1]["changes"]
    assert dict(content["facts"])["Exported by"].endswith("(qa)")

    today = TODAY().isoformat()
    ranged = api(users["qa"]).get("/api/v1/audit/export.pdf", {"from": today, "to": today})
    assert ranged.status_code == 200 and ranged.content.startswith(b"%PDF")
    settings.AUDIT_EXPORT_PDF_MAX_ENTRIES = 10
    too_many = api(users["qa"]).get("/api/v1/audit/export.pdf", {"from": today, "to": today})
    assert too_many.status_code == 400 and "narrow the range" in too_many.json()["to"][0]


def test_exports_show_a_row_changed_behind_the_triggers(users, api):
    note = notify([users["technician"]], subject="genuine")[0]
    audit_chain.seal()
    table = Notification.history.model._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
        cursor.execute(f'ALTER TABLE "{table}" DISABLE TRIGGER ALL')
        cursor.execute(f'UPDATE "{table}" SET subject = %s', ["forged"])
        cursor.execute(f'ALTER TABLE "{table}" ENABLE TRIGGER ALL')
    rows = rows_of(api(users["admin"]).get("/api/v1/audit/export.csv", {"object_type": "notification",
                                                                        "object_id": note.pk}))
    assert rows[1][-1] == "ROW CHANGED"


@pytest.mark.parametrize("role,params,status", [
    ("researcher", {"object_type": "lot", "object_id": "1"}, 403),
    ("researcher", {"from": "2026-01-01", "to": "2026-01-31"}, 403),
    ("sensor", {"from": "2026-01-01", "to": "2026-01-31"}, 403),
    ("technician", {"object_type": "donoridentity", "object_id": "1"}, 403),
    ("technician", {"object_type": "user", "object_id": "1"}, 403),
    ("qa", {"object_type": "spaceship", "object_id": "1"}, 400),
    ("qa", {"object_id": "1"}, 400),
    ("qa", {"object_type": "lot", "object_id": "x1"}, 400),
    ("qa", {"object_type": "lot", "object_id": "²"}, 400),
    ("qa", {"from": "2026-02-01", "to": "2026-01-01"}, 400),
    ("qa", {"from": "yesterday", "to": "2026-01-01"}, 400),
    ("qa", {}, 400),
    ("qa", {"object_type": "lot"}, 400),
])
@pytest.mark.parametrize("fmt", ["csv", "pdf"])
def test_export_refusals(users, api, role, params, status, fmt):
    response = api(users[role]).get(f"/api/v1/audit/export.{fmt}", params)
    assert response.status_code == status, response.content[:300]
    body = response.json()
    if status == 403:
        assert body["code"] == "permission_denied"


def test_export_needs_a_login(api):
    assert api(None).get("/api/v1/audit/export.csv", {"from": "2026-01-01", "to": "2026-01-02"}).status_code == 401


def test_export_pages(users, password, client):
    lot, _decision = released(users, password)
    client.force_login(users["qa"])
    trail = client.get(f"/audit/lot/{lot.pk}/").content.decode()
    assert f"/audit/lot/{lot.pk}/export.csv" in trail and "/audit/integrity/" in trail
    csv_page = client.get(f"/audit/lot/{lot.pk}/export.csv")
    assert csv_page.status_code == 200 and len(rows_of(csv_page)) == 3
    assert client.get(f"/audit/lot/{lot.pk}/export.pdf").content.startswith(b"%PDF")
    index = client.get("/audit/")
    assert index.status_code == 200 and 'id="audit-export-form"' in index.content.decode()
    today = TODAY().isoformat()
    ranged = client.get("/audit/", {"date_from": today, "date_to": today, "format": "csv"})
    assert ranged.status_code == 200 and len(rows_of(ranged)) > 3
    bad = client.get("/audit/", {"date_from": today, "date_to": "2020-01-01", "format": "csv"})
    assert bad.status_code == 400 and "The end of the range is before its start." in bad.content.decode()
    client.force_login(users["technician"])
    assert client.get("/audit/").status_code == 200
    assert client.get("/audit/donoridentity/1/export.csv").status_code == 403
    assert client.get("/audit/integrity/").status_code == 403
    client.force_login(users["researcher"])
    assert client.get("/audit/").status_code == 403
    assert client.get(f"/audit/lot/{lot.pk}/export.csv").status_code == 403


# --- the integrity page and API ------------------------------------------------------------------------------


def test_integrity_page_and_api_verify_and_name_the_first_broken_link(users, client, api, settings):
    settings.AUDIT_CHAIN_KEY = "test-audit-chain-key-0123456789-abcdef-0123456789"
    note = notify([users["technician"]], subject="genuine")[0]
    audit_chain.checkpoint()
    client.force_login(users["qa"])
    page = client.get("/audit/integrity/").content.decode()
    assert 'id="chain-head"' in page
    clean = client.post("/audit/integrity/", {"mode": "full"}).content.decode()
    assert 'data-clean="true"' in clean
    assert api(users["admin"]).post("/api/v1/audit/chain/verify/", {"mode": "full"}).json()["clean"] is True
    status = api(users["qa"]).get("/api/v1/audit/chain/").json()
    assert status["supported"] and 0 < status["last_checkpoint"]["last_link_id"] <= status["head_link_id"]

    table = Notification.history.model._meta.db_table
    history_id = note.history.get().history_id
    with connection.cursor() as cursor:
        cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
        cursor.execute(f'ALTER TABLE "{table}" DISABLE TRIGGER ALL')
        cursor.execute(f'UPDATE "{table}" SET subject = %s WHERE history_id = %s', ["forged", history_id])
        cursor.execute(f'ALTER TABLE "{table}" ENABLE TRIGGER ALL')
    broken = client.post("/audit/integrity/", {"mode": "full"}).content.decode()
    assert 'data-clean="false"' in broken and 'id="first-problem"' in broken
    assert table in broken and str(history_id) in broken and "row changed after it was written" in broken
    body = api(users["qa"]).post("/api/v1/audit/chain/verify/", {"mode": "full"}).json()
    assert body["clean"] is False and body["first"]["kind"] == "row_changed"
    assert (body["first"]["table"], body["first"]["history_id"], body["first"]["object_id"]) == (
        table, history_id, note.pk)
    assert api(users["qa"]).post("/api/v1/audit/chain/verify/", {"mode": "everything"}).status_code == 400
    for role in ("technician", "coordinator", "researcher"):
        assert api(users[role]).get("/api/v1/audit/chain/").status_code == 403
        assert api(users[role]).post("/api/v1/audit/chain/verify/", {}).status_code == 403


def test_dashboard_links_the_audit_area(users, client):
    client.force_login(users["qa"])
    home = client.get("/").content.decode()
    assert 'id="panel-audit"' in home and "/audit/integrity/" in home
    client.force_login(users["technician"])
    home = client.get("/").content.decode()
    assert 'id="panel-audit"' in home and "/audit/integrity/" not in home
    client.force_login(users["researcher"])
    assert 'id="panel-audit"' not in client.get("/").content.decode()


# --- in Chromium --------------------------------------------------------------------------------------------


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_in_chromium_qa_sees_the_broken_signature_and_admin_the_broken_link(page, login, settings):
    from playwright.sync_api import expect

    settings.AUDIT_CHAIN_KEY = "test-audit-chain-key-0123456789-abcdef-0123456789"
    tech = UserFactory(username="bench-tech", role="technician", first_name="Wei", last_name="Li")
    qa = UserFactory(username="qa-officer", role="qa", first_name="Fang", last_name="Wang")
    admin = UserFactory(username="chief", role="admin")
    lot = qc_lot()
    enter_panel(lot, tech)
    services.release_lot(lot, actor=qa, password=PASSWORD, meaning="release")
    correct_viability(lot, tech)

    login(qa)
    page.goto(page.base_url + f"/lots/{lot.pk}/")
    signature = page.locator("#panel-qc [data-signature]")
    expect(signature).to_have_attribute("data-matches", "false")
    expect(signature.locator("[data-manifest-broken]")).to_be_visible()
    expect(signature.locator(".changes")).to_contain_text("results.viability.value")

    audit_chain.checkpoint()
    table = lot.history.model._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute(f'ALTER TABLE "{table}" DISABLE TRIGGER ALL')
        cursor.execute(f'UPDATE "{table}" SET notes = %s WHERE history_id = (SELECT min(history_id) FROM "{table}" '
                       "WHERE id = %s)", ["forged", lot.pk])
        cursor.execute(f'ALTER TABLE "{table}" ENABLE TRIGGER ALL')
    page.context.clear_cookies()
    login(admin)
    page.goto(page.base_url + "/")
    page.click("#panel-audit a[href='/audit/integrity/']")
    page.click("#verify-form button[value=full]")
    expect(page.locator("#verification")).to_have_attribute("data-clean", "false")
    first = page.locator("#first-problem")
    expect(first).to_contain_text("row changed after it was written")
    expect(first).to_contain_text(table)
    first.locator(f"a[href='/audit/lot/{lot.pk}/']").click()
    expect(page.locator("#audit-exports")).to_be_visible()
