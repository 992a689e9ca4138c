"""Donor pages: who sees what, forms turn bad input into errors (nothing saved), constant-query lists."""

import datetime
import re

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from bank.registry import nav_for, register_object_panel, registry
from donors.models import Collection, Consent, Donor, DonorIdentity, EthicsApproval, HLATyping, Screening
from lots.models import Lot
from tests.factories import (
    CollectionFactory,
    ConsentFactory,
    DonorFactory,
    DonorIdentityFactory,
    EthicsApprovalFactory,
    LotFactory,
    full_negative_panel,
)

pytestmark = pytest.mark.django_db

INTAKE = {"sex": "M", "birth_year": "1985", "donor_type": "healthy", "diagnosis": "", "population": "Han Chinese",
          "full_name": "Gao Peng", "national_id": "110101198501010055", "phone": ""}


def login(client, users, role):
    client.force_login(users[role])
    return client


@pytest.mark.parametrize("role,status", [("coordinator", 200), ("technician", 200), ("qa", 200), ("admin", 200),
                                         ("researcher", 403)])
def test_donor_list_access(client, users, role, status):
    assert login(client, users, role).get("/donors/").status_code == status


def test_nav_shows_donors_to_bank_staff_never_to_researchers(users):
    for role in ("coordinator", "technician", "qa", "admin"):
        assert "donors" in [item["key"] for item in nav_for(users[role])], role
    assert "donors" not in [item["key"] for item in nav_for(users["researcher"])]


def test_donor_list_shows_code_type_eligibility_consent_and_searches_by_code(client, users):
    eligible = full_negative_panel(CollectionFactory(tissue="skin")).donor
    other = DonorFactory(donor_type="patient", diagnosis="ALS")
    html = login(client, users, "qa").get("/donors/").content.decode()
    assert f'data-donor="{eligible.code}"' in html and f'data-donor="{other.code}"' in html
    assert 'data-eligibility="eligible"' in html and 'data-consent="active"' in html
    assert 'data-consent="none"' in html and "Patient" in html
    found = client.get("/donors/", {"q": eligible.code[-5:].lower()}).content.decode()
    assert f'data-donor="{eligible.code}"' in found and f'data-donor="{other.code}"' not in found


def test_donor_list_runs_a_constant_number_of_queries(client, users):
    login(client, users, "technician")

    def count():
        with CaptureQueriesContext(connection) as ctx:
            assert client.get("/donors/").status_code == 200
        return len(ctx.captured_queries)

    full_negative_panel(CollectionFactory())
    small = count()
    for _ in range(8):
        ConsentFactory(donor=full_negative_panel(CollectionFactory()).donor)
        DonorFactory()
    # session, user, user perms, group perms, count, donors, consents, markers, windows, current results,
    # newest collections, the user's roles (header), unread notifications
    assert count() == small == 13


def test_register_a_donor_through_the_form(client, users):
    response = login(client, users, "coordinator").post("/donors/new/", INTAKE)
    donor = Donor.objects.get()
    assert response.status_code == 302 and response.url == f"/donors/{donor.pk}/consents/new/"
    assert donor.identity.full_name == "Gao Peng"


@pytest.mark.parametrize("change,field,needle", [
    ({"birth_year": str(timezone.localdate().year + 1)}, "birth_year", "future"),
    ({"national_id": "110101199001010099"}, "national_id", "already registered"),
    ({"donor_type": "patient"}, "diagnosis", "diagnosis"),
])
def test_intake_form_errors_save_nothing(client, users, change, field, needle):
    existing = DonorIdentityFactory(national_id="110101199001010099")
    response = login(client, users, "coordinator").post("/donors/new/", {**INTAKE, **change})
    html = response.content.decode()
    assert response.status_code == 200 and needle in html and 'id="field-' + field in html
    assert 'class="field has-error" id="field-' + field in html
    assert Donor.objects.count() == 1 and DonorIdentity.objects.get() == existing


def test_only_coordinators_register(client, users):
    assert login(client, users, "technician").get("/donors/new/").status_code == 403
    assert login(client, users, "qa").post("/donors/new/", INTAKE).status_code == 403
    assert not Donor.objects.exists()


def test_donor_page_tabs_for_a_technician(client, users):
    collection = CollectionFactory(tissue="skin")
    full_negative_panel(collection)
    donor = collection.donor
    DonorIdentityFactory(donor=donor, full_name="Hidden Person")
    HLATyping.objects.create(donor=donor, a_1="A*24", a_2="A*24", b_1="B*52", b_2="B*07", c_1="C*12", c_2="C*07",
                             drb1_1="DRB1*15", drb1_2="DRB1*15", dqb1_1="DQB1*06", dqb1_2="DQB1*05",
                             resolution="1-field", recorded_by=users["coordinator"])
    login(client, users, "technician")
    base = f"/donors/{donor.pk}/"
    page = client.get(base).content.decode()
    assert donor.code in page and 'data-eligibility="eligible"' in page and "Hidden Person" not in page
    assert 'id="record-collection"' in page and 'id="record-consent"' not in page
    assert 'id="consent-table"' in page
    assert 'data-marker="syphilis"' in client.get(base, {"tab": "screening"}).content.decode()
    hla = client.get(base, {"tab": "hla"}).content.decode()
    assert 'data-locus="A"' in hla and "homozygous" in hla
    assert f'data-collection="{collection.code}"' in client.get(base, {"tab": "collections"}).content.decode()
    history = client.get(base, {"tab": "history"}).content.decode()
    assert 'id="donor-audit-link"' in history and "Collection received" in history
    assert client.get(base, {"tab": "nonsense"}).status_code == 200


def test_donor_page_renders_panels_other_apps_register(client, users):
    donor = DonorFactory()
    register_object_panel("donors.donor", "test-lines", "bank/partials/pager.html",
                          lambda request, obj: {"marker": obj.code}, order=999)
    try:
        html = login(client, users, "qa").get(f"/donors/{donor.pk}/").content.decode()
        assert 'id="panel-test-lines"' in html
    finally:
        registry.object_panels["donors.donor"].pop("test-lines")


def test_consent_form(client, users):
    donor = DonorFactory()
    login(client, users, "coordinator")
    bad = client.post(f"/donors/{donor.pk}/consents/new/", {
        "form_version": "ICF-v3", "signed_on": (timezone.localdate() + datetime.timedelta(days=3)).isoformat(),
        "scopes": ["research"]})
    assert bad.status_code == 200 and "future" in bad.content.decode() and not Consent.objects.exists()
    good = client.post(f"/donors/{donor.pk}/consents/new/", {
        "form_version": "ICF-v3", "signed_on": timezone.localdate().isoformat(), "scopes": ["research", "clinical"]})
    assert good.status_code == 302 and Consent.objects.get().scopes == ["research", "clinical"]


def test_withdrawal_shows_every_lot_first_and_needs_confirmation(client, users):
    lot = LotFactory(vial_count=4)
    sibling = LotFactory(cell_line=lot.cell_line, tier="WCB", parent_lot=lot, vial_count=2)
    consent = lot.cell_line.donor.consents.get()
    url = f"/donors/consents/{consent.pk}/withdraw/"
    login(client, users, "coordinator")
    preview = client.get(url).content.decode()
    assert f'data-lot="{lot.lot_number}"' in preview and f'data-lot="{sibling.lot_number}"' in preview
    assert "2 lots derived from this donor" in preview
    unconfirmed = client.post(url, {"reason": "written request"})
    assert unconfirmed.status_code == 200 and not Consent.objects.get().withdrawn_at
    assert Lot.objects.filter(consent_withdrawn_flagged_at__isnull=False).count() == 0
    done = client.post(url, {"reason": "written request", "confirm": "on"})
    assert done.status_code == 200 and 'id="withdrawal-done"' in done.content.decode()
    assert Lot.objects.filter(consent_withdrawn_flagged_at__isnull=False).count() == 2
    assert client.get(url).status_code == 302  # already withdrawn: back to the donor
    assert login(client, users, "technician").get(url).status_code == 403


def test_screening_form_saves_every_marker_in_one_go(client, users):
    collection = CollectionFactory(tissue="cord_blood")
    login(client, users, "coordinator")
    url = f"/donors/{collection.donor_id}/screenings/new/"
    form = client.get(url).content.decode()
    assert form.count("data-marker=") == 10 and 'data-enter-submits' in form
    assert re.search(r'name="maternal_sample"[^>]* checked', form)  # cord blood: the birth mother is tested
    data = {"sample_drawn_on": collection.collected_at.date().isoformat(), "maternal_sample": "on"}
    for code in ("hiv_ab", "hiv_nat", "hbsag", "anti_hbc", "hcv_ab", "hcv_nat", "syphilis", "htlv_ab", "cmv"):
        data[f"marker_{code}"] = "negative"
    response = client.post(url, data)
    assert response.status_code == 302
    screening = Screening.objects.get()
    assert screening.maternal_sample and screening.results.count() == 9
    assert 'data-eligibility="eligible"' in client.get(f"/donors/{collection.donor_id}/").content.decode()


def test_screening_form_errors(client, users):
    donor = DonorFactory()
    login(client, users, "coordinator")
    url = f"/donors/{donor.pk}/screenings/new/"
    nothing = client.post(url, {"sample_drawn_on": timezone.localdate().isoformat()})
    assert "at least one marker" in nothing.content.decode()
    future = client.post(url, {"sample_drawn_on": (timezone.localdate() + datetime.timedelta(days=1)).isoformat(),
                               "marker_hiv_ab": "negative"})
    assert "future" in future.content.decode()
    bad = client.post(url, {"sample_drawn_on": timezone.localdate().isoformat(), "marker_hiv_ab": "reactive"})
    assert bad.status_code == 200 and "errorlist" in bad.content.decode()
    assert not Screening.objects.exists()


def test_correct_a_result_from_the_page(client, users):
    screening = full_negative_panel(CollectionFactory(tissue="skin"))
    original = screening.results.get(marker="hcv_ab")
    login(client, users, "coordinator")
    url = f"/donors/results/{original.pk}/correct/"
    assert "reason" in client.post(url, {"result": "positive"}).content.decode().lower()
    assert client.post(url, {"result": "positive", "reason": "re-test"}).status_code == 302
    page = client.get(f"/donors/{screening.donor_id}/", {"tab": "screening"}).content.decode()
    assert 'class="corrected"' in page and "re-test" in page


def test_hla_form_errors_sit_by_the_locus_and_save_nothing(client, users):
    donor = DonorFactory()
    login(client, users, "coordinator")
    data = {"a_1": "A*24:02", "a_2": "A*2402", "b_1": "B*52:01", "b_2": "B*52:01", "c_1": "C*12:02",
            "c_2": "C*12:02", "drb1_1": "DRB1*15:02", "drb1_2": "DRB1*15:02", "dqb1_1": "DQB1*06:01",
            "dqb1_2": "B*06:01", "method": "ngs"}
    response = client.post(f"/donors/{donor.pk}/hla/", data)
    html = response.content.decode()
    assert response.status_code == 200 and "A*2402" in html and "HLA-B allele" in html
    assert not HLATyping.objects.exists()
    data.update(a_2="A*24:02", dqb1_2="DQB1*06:01")
    assert client.post(f"/donors/{donor.pk}/hla/", data).status_code == 302
    assert HLATyping.objects.get().homozygous_loci() == ["A", "B", "C", "DRB1", "DQB1"]


def test_collection_form_for_a_technician(client, users):
    consent = ConsentFactory()
    approval = EthicsApprovalFactory(valid_from=datetime.date(2020, 1, 1), valid_to=datetime.date(2099, 1, 1))
    expired = EthicsApprovalFactory(valid_from=datetime.date(2020, 1, 1), valid_to=datetime.date(2020, 2, 1))
    login(client, users, "technician")
    collected = timezone.localtime() - datetime.timedelta(days=3)
    data = {"donor_code": consent.donor.code.lower(), "tissue": "skin",
            "collected_at": collected.strftime("%Y-%m-%dT%H:%M"),
            "received_at": (collected + datetime.timedelta(hours=60)).strftime("%Y-%m-%dT%H:%M"),
            "transport_temperature_c": "4", "ethics_approval": expired.pk}
    form = client.get(f"/donors/collections/new/?donor={consent.donor_id}").content.decode()
    assert consent.donor.code in form and "data-scan-target" in form
    refused = client.post("/donors/collections/new/", data).content.decode()
    assert expired.approval_number in refused and not Collection.objects.exists()
    unknown = client.post("/donors/collections/new/", {**data, "donor_code": "SBD-NOPE"}).content.decode()
    assert "No donor has the code" in unknown
    data["ethics_approval"] = approval.pk
    response = client.post("/donors/collections/new/", data, follow=True)
    collection = Collection.objects.get()
    assert collection.transport_delay_flagged and collection.received_by == users["technician"]
    assert 'id="transport-flag"' in response.content.decode()
    assert collection.code in client.get("/donors/collections/").content.decode()


def test_collection_form_without_consent_says_what_to_do(client, users):
    donor = DonorFactory()
    login(client, users, "technician")
    collected = timezone.localtime() - datetime.timedelta(hours=5)
    response = client.post("/donors/collections/new/", {
        "donor_code": donor.code, "tissue": "skin", "collected_at": collected.strftime("%Y-%m-%dT%H:%M"),
        "received_at": collected.strftime("%Y-%m-%dT%H:%M")})
    assert "Record the signed consent" in response.content.decode() and not Collection.objects.exists()


def test_ethics_pages(client, users):
    login(client, users, "coordinator")
    response = client.post("/donors/ethics/new/", {"committee": "IEC", "approval_number": "IEC-77",
                                                   "valid_from": "2026-01-01", "valid_to": "2025-01-01"})
    assert response.status_code == 200 and not EthicsApproval.objects.exists()
    client.post("/donors/ethics/new/", {"committee": "IEC", "approval_number": "IEC-77",
                                        "valid_from": "2026-01-01", "valid_to": "2027-01-01"})
    approval = EthicsApproval.objects.get()
    assert 'data-approval="IEC-77"' in client.get("/donors/ethics/").content.decode()
    edited = client.post(f"/donors/ethics/{approval.pk}/edit/", {
        "committee": "IEC", "approval_number": "IEC-77", "valid_from": "2026-01-01", "valid_to": "2028-01-01",
        "reason": "renewed"})
    assert edited.status_code == 302 and EthicsApproval.objects.get().valid_to == datetime.date(2028, 1, 1)
    assert login(client, users, "technician").get("/donors/ethics/new/").status_code == 403


def test_panel_page_and_admin_configuration(client, users):
    html = login(client, users, "qa").get("/donors/panel/").content.decode()
    assert 'data-marker="cmv"' in html and "Change" not in html
    assert client.get("/donors/panel/markers/1/").status_code == 403
    login(client, users, "admin")
    from donors.models import ScreeningMarker

    hbv = ScreeningMarker.objects.get(code="hbv_nat")
    response = client.post(f"/donors/panel/markers/{hbv.pk}/", {"required": "on", "reason": "SOP v5"})
    assert response.status_code == 302 and ScreeningMarker.objects.get(pk=hbv.pk).required
    response = client.post("/donors/panel/windows/", {"tissue": "skin", "days_before": "3", "days_after": "3",
                                                      "reason": "SOP v5"})
    assert response.status_code == 302


def test_scan_opens_donors_and_collections_for_staff_only(client, users):
    collection = CollectionFactory()
    login(client, users, "technician")
    response = client.get("/scan/", {"code": f" {collection.donor.code.lower()} "})
    assert response.status_code == 302 and response.url == f"/donors/{collection.donor_id}/"
    response = client.get("/scan/", {"code": collection.code})
    assert response.status_code == 302 and response.url == f"/donors/collections/{collection.pk}/"
    login(client, users, "researcher")
    assert client.get("/scan/", {"code": collection.donor.code}).status_code == 404


def test_dashboard_panel(client, users):
    ConsentFactory()
    DonorFactory()
    html = login(client, users, "coordinator").get("/").content.decode()
    assert 'id="dashboard-donors"' in html
    assert 'id="dashboard-donors"' not in login(client, users, "researcher").get("/").content.decode()


def test_edit_donor_page(client, users):
    donor = DonorIdentityFactory(full_name="Old Name").donor
    login(client, users, "coordinator")
    form = client.get(f"/donors/{donor.pk}/edit/").content.decode()
    assert "Old Name" in form
    data = {"sex": "F", "birth_year": "1990", "donor_type": "healthy", "full_name": "New Name",
            "national_id": donor.identity.national_id, "phone": "", "reason": ""}
    assert client.post(f"/donors/{donor.pk}/edit/", data).status_code == 200  # reason missing
    data["reason"] = "married name"
    assert client.post(f"/donors/{donor.pk}/edit/", data).status_code == 302
    assert DonorIdentity.objects.get(donor=donor).full_name == "New Name"
