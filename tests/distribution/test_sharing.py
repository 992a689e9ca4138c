"""Sharing (issue 15): public institutions free, enterprises pay; fees per line, per grade or the bank's default;
the fee shown before submitting and stored; the enterprise quotation; institution profiles; MTA versions
published in the browser."""

import io
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError
from django.core.management import call_command

from distribution import queries, services
from distribution.models import DistributionRequest, FeeRate, InstitutionProfile, MaterialTransferAgreement
from distribution.quotation import quotation_content
from tests.distribution.factories import stocked_line, submit
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db


def _payload(line, **overrides):
    data = {"cell_line": line.pk, "vials": 2, "intended_use": "research", "project_title": "Organoids",
            "institution": "Example", "mta_accepted": True, "institution_type": "public"}
    data.update(overrides)
    return data


# --- the fee rule ---------------------------------------------------------------------------------------


def test_public_request_is_free_and_enterprise_pays_with_default_settings(api, users):
    """With the bank's default settings a public institution pays 0 and an enterprise more than 0 (API)."""
    line, _lot = stocked_line(vials=6)
    client = api(users["researcher"])
    public = client.post("/api/v1/requests/", _payload(line), format="json")
    assert public.status_code == 201, public.json()
    assert public.json()["fee_total"] == "0.00" and public.json()["fee_currency"] == "CNY"
    assert public.json()["institution_type"] == "public"
    enterprise = client.post("/api/v1/requests/", _payload(line, institution_type="enterprise"), format="json")
    assert enterprise.status_code == 201, enterprise.json()
    body = enterprise.json()
    assert Decimal(body["fee_total"]) > 0 and body["fee_currency"] == "CNY"
    # two vials at the enterprise default per vial, stored on the request
    per_vial = Decimal(queries.default_fee_per_vial("enterprise"))
    assert Decimal(body["fee_total"]) == per_vial * 2
    stored = DistributionRequest.objects.get(pk=body["id"])
    assert stored.fee_amount == per_vial * 2 and stored.institution_type == "enterprise"


def test_the_line_rate_beats_the_grade_rate_which_beats_the_default(users, settings):
    settings.REQUEST_FEE_ENTERPRISE_PER_VIAL = "500.00"
    settings.REQUEST_FEE_PUBLIC_PER_VIAL = "0"
    line, _lot = stocked_line(vials=6, grade="clinical")
    other, _lot2 = stocked_line(vials=6, grade="clinical")
    qa = users["qa"]

    def fee(cell_line, kind="enterprise", vials=3):
        return queries.fee_for(vials, institution_type=kind, cell_line=cell_line)

    assert (fee(line).per_vial, fee(line).total, fee(line).source) == (Decimal("500.00"), Decimal("1500.00"), "default")
    services.set_fee_rate(actor=qa, institution_type="enterprise", grade="clinical", per_vial="800")
    assert (fee(line).total, fee(line).source, fee(other).total) == (Decimal("2400.00"), "grade", Decimal("2400.00"))
    services.set_fee_rate(actor=qa, institution_type="enterprise", cell_line=line, per_vial="1000.50")
    assert (fee(line).total, fee(line).source) == (Decimal("3001.50"), "line")
    assert fee(other).source == "grade"  # a line's rate is its own
    # a public institution may be charged too, but only where QA says so
    assert fee(line, "public").total == 0
    services.set_fee_rate(actor=qa, institution_type="public", cell_line=line, per_vial="10")
    assert fee(line, "public").total == Decimal("30.00")
    # a submitted request keeps its fee; clearing the line rate gives the grade rate back
    kept = submit(users["researcher"], line, 2, institution_type="enterprise")
    assert kept.fee_amount == Decimal("2001.00")
    services.set_fee_rate(actor=qa, institution_type="enterprise", cell_line=line, per_vial=None)
    assert fee(line).source == "grade"
    kept.refresh_from_db()
    assert kept.fee_amount == Decimal("2001.00")
    rate = FeeRate.objects.get(institution_type="enterprise", cell_line=line)
    assert rate.per_vial is None and rate.history.count() == 2 and rate.history.first().history_user == qa


@pytest.mark.parametrize("kwargs, field", [
    ({"grade": "clinical", "per_vial": "-1"}, "per_vial"),
    ({"grade": "clinical", "per_vial": "lots"}, "per_vial"),
    ({"grade": "clinical", "per_vial": "1e20"}, "per_vial"),
    ({"grade": "cosmetic", "per_vial": "10"}, "grade"),
    ({"grade": "", "per_vial": "10"}, "grade"),
    ({"grade": "clinical", "per_vial": "10", "institution_type": "charity"}, "institution_type"),
])
def test_a_bad_fee_rate_is_refused_and_nothing_saved(users, kwargs, field):
    kwargs = {"institution_type": "enterprise", **kwargs}
    with pytest.raises(ValidationError) as refused:
        services.set_fee_rate(actor=users["qa"], **kwargs)
    assert field in refused.value.message_dict
    assert not FeeRate.objects.exists()


def test_a_rate_on_a_line_and_a_grade_at_once_is_refused(users):
    line, _lot = stocked_line()
    with pytest.raises(ValidationError) as refused:
        services.set_fee_rate(actor=users["qa"], institution_type="enterprise", cell_line=line, grade="research",
                              per_vial="5")
    assert "grade" in refused.value.message_dict and not FeeRate.objects.exists()


def test_recipient_country_defaults_to_the_bank_and_is_validated(api, users, settings):
    settings.BANK_COUNTRY = "CN"
    line, _lot = stocked_line(vials=6)
    client = api(users["researcher"])
    home = client.post("/api/v1/requests/", _payload(line), format="json").json()
    assert home["recipient_country"] == "CN" and home["export_approval_required"] is False
    abroad = client.post("/api/v1/requests/", _payload(line, recipient_country="de"), format="json").json()
    assert abroad["recipient_country"] == "DE" and abroad["export_approval_required"] is True
    refused = client.post("/api/v1/requests/", _payload(line, recipient_country="ZZ"), format="json")
    assert refused.status_code == 400 and "recipient_country" in refused.json()
    missing = _payload(line)
    del missing["institution_type"]
    refused = client.post("/api/v1/requests/", missing, format="json")
    assert refused.status_code == 400 and "institution_type" in refused.json()
    assert DistributionRequest.objects.count() == 2


# --- the request form shows the fee -----------------------------------------------------------------------


def test_the_request_form_shows_the_fee_before_submitting(client, users, settings):
    settings.REQUEST_FEE_ENTERPRISE_PER_VIAL = "450.00"
    line, _lot = stocked_line(vials=6)
    client.force_login(users["researcher"])
    url = f"/distribution/catalog/{line.pk}/request/"
    assert "Choose your institution type to see the fee" in client.get(url).content.decode()
    enterprise = client.get(url + "fee/", {"vials": 3, "institution_type": "enterprise"}).content.decode()
    assert 'data-total="1350.00"' in enterprise and "Fee: 1350.00 CNY" in enterprise
    assert "quotation" in enterprise
    public = client.get(url + "fee/", {"vials": 3, "institution_type": "public"}).content.decode()
    assert 'data-total="0.00"' in public and "Free of charge" in public
    nonsense = client.get(url + "fee/", {"vials": "many", "institution_type": "enterprise"})
    assert nonsense.status_code == 200 and 'data-total="450.00"' in nonsense.content.decode()
    # the page that submits stores the same fee
    response = client.post(url, {"vials": 3, "intended_use": "research", "project_title": "Screen",
                                 "institution_type": "enterprise", "mta_accepted": "on", "mta_version": "MTA-2026-1"})
    assert response.status_code == 302
    request = DistributionRequest.objects.get()
    assert request.fee_amount == Decimal("1350.00")
    page = client.get(f"/distribution/requests/{request.pk}/").content.decode()
    assert "1350.00 CNY" in page and "Quotation (PDF)" in page and "MTA-2026-1" in page


def test_the_catalog_line_lists_the_fee_of_each_institution_type(client, users, settings):
    settings.REQUEST_FEE_ENTERPRISE_PER_VIAL = "300.00"
    line, _lot = stocked_line(vials=2)
    client.force_login(users["researcher"])
    html = client.get(f"/distribution/catalog/{line.pk}/").content.decode()
    assert "300.00 CNY per vial" in html and "free of charge" in html


# --- the quotation ------------------------------------------------------------------------------------------


def test_an_enterprise_request_has_a_quotation_and_a_public_one_none(api, users, settings):
    settings.REQUEST_FEE_ENTERPRISE_PER_VIAL = "500.00"
    line, _lot = stocked_line(vials=6)
    researcher = users["researcher"]
    services.save_institution_profile(actor=researcher, name="CardioScreen Ltd", institution_type="enterprise",
                                      country="CN", billing_contact="Accounts", billing_email="ap@cardio.example")
    paid = submit(researcher, line, 3, institution_type="enterprise", institution="CardioScreen Ltd")
    free = submit(researcher, line, 1)
    content = quotation_content(paid)
    assert content["item"]["total"] == Decimal("1500.00") and content["item"]["per_vial"] == Decimal("500.00")
    assert content["number"] == f"Q-{paid.number}" and content["valid_until"] > content["issued"]
    assert ("Billing contact", "Accounts <ap@cardio.example>") in content["recipient"]
    client = api(researcher)
    pdf = client.get(f"/api/v1/requests/{paid.pk}/quotation.pdf")
    assert pdf.status_code == 200 and pdf["Content-Type"] == "application/pdf"
    assert pdf.content.startswith(b"%PDF") and len(pdf.content) > 1000
    assert client.get(f"/api/v1/requests/{free.pk}/quotation.pdf").status_code == 404
    # QA sees it; another researcher does not
    assert api(users["qa"]).get(f"/api/v1/requests/{paid.pk}/quotation.pdf").status_code == 200
    other = UserFactory(username="other-lab", role="researcher")
    assert api(other).get(f"/api/v1/requests/{paid.pk}/quotation.pdf").status_code == 404


def test_the_quotation_page_link(client, users):
    line, _lot = stocked_line(vials=4)
    paid = submit(users["researcher"], line, 2, institution_type="enterprise")
    free = submit(users["researcher"], line, 1)
    client.force_login(users["researcher"])
    response = client.get(f"/distribution/requests/{paid.pk}/quotation.pdf")
    assert response.status_code == 200 and response.content.startswith(b"%PDF")
    assert client.get(f"/distribution/requests/{free.pk}/quotation.pdf").status_code == 404
    assert "Quotation (PDF)" not in client.get(f"/distribution/requests/{free.pk}/").content.decode()


# --- institution profile ------------------------------------------------------------------------------------


def test_the_institution_profile_prefills_the_request_form(client, users):
    line, _lot = stocked_line(vials=4)
    client.force_login(users["researcher"])
    bad = client.post("/distribution/institution/", {"name": "Charité", "institution_type": "public",
                                                      "country": "Deutschland"})
    assert bad.status_code == 400 and "ISO 3166-1" in bad.content.decode()
    assert not InstitutionProfile.objects.exists()
    saved = client.post("/distribution/institution/", {
        "name": "Charité Berlin", "institution_type": "public", "country": "de", "address": "Charitéplatz 1, Berlin",
        "billing_contact": "Finance", "billing_email": "finance@charite.example"})
    assert saved.status_code == 302
    profile = InstitutionProfile.objects.get(user=users["researcher"])
    assert profile.country == "DE" and profile.history.first().history_user == users["researcher"]
    form = client.get(f"/distribution/catalog/{line.pk}/request/").content.decode()
    assert 'value="Charité Berlin"' in form and 'value="DE"' in form and "Charitéplatz 1, Berlin" in form
    assert 'value="public" required id="id_institution_type_0" checked' in form


def test_the_institution_profile_api(api, users):
    client = api(users["researcher"])
    assert client.get("/api/v1/institution-profile/").status_code == 404
    assert client.options("/api/v1/institution-profile/").status_code == 200  # DRF's metadata looks the profile up
    bad = client.put("/api/v1/institution-profile/", {"name": "X", "institution_type": "public", "country": "QQ"},
                     format="json")
    assert bad.status_code == 400 and "country" in bad.json()
    ok = client.put("/api/v1/institution-profile/", {"name": "BioCo", "institution_type": "enterprise",
                                                     "country": "cn", "billing_email": "pay@bioco.example"},
                    format="json")
    assert ok.status_code == 200 and ok.json()["country"] == "CN"
    assert client.get("/api/v1/institution-profile/").json()["name"] == "BioCo"
    assert api(users["technician"]).get("/api/v1/institution-profile/").status_code == 403


# --- MTA versions in the browser ----------------------------------------------------------------------------


def test_qa_publishes_an_mta_version_in_the_browser_and_requests_keep_theirs(client, users, tmp_path):
    line, _lot = stocked_line(vials=4)
    before = submit(users["researcher"], line)
    client.force_login(users["researcher"])
    assert client.post("/distribution/mta/", {"version": "MTA-X", "text": "t"}).status_code == 403
    client.force_login(users["qa"])
    page = client.get("/distribution/mta/").content.decode()
    assert "MTA-2026-1" in page and "Publish a new version" in page
    duplicate = client.post("/distribution/mta/", {"version": "MTA-2026-1", "text": "Same again."})
    assert duplicate.status_code == 400 and "exists already" in duplicate.content.decode()
    empty = client.post("/distribution/mta/", {"version": "MTA-2027-1", "text": ""})
    assert empty.status_code == 400
    published = client.post("/distribution/mta/", {"version": "MTA-2027-1", "title": "MTA 2027",
                                                    "text": "1. New terms."})
    assert published.status_code == 302
    assert list(MaterialTransferAgreement.objects.filter(active=True).values_list("version", flat=True)) == [
        "MTA-2027-1"]
    new = MaterialTransferAgreement.objects.get(version="MTA-2027-1")
    assert new.history.first().history_user == users["qa"]
    after = submit(users["researcher"], line)
    before.refresh_from_db()
    assert before.mta.version == "MTA-2026-1" and after.mta.version == "MTA-2027-1"
    shown = client.get(f"/distribution/requests/{before.pk}/").content.decode()
    assert "MTA-2026-1, accepted" in shown
    # the command calls the same service
    text = io.StringIO()
    path = tmp_path / "mta.txt"
    path.write_text("2. Newer terms.", encoding="utf-8")
    call_command("publish_mta", "MTA-2027-2", "--file", str(path), stdout=text)
    assert MaterialTransferAgreement.objects.get(active=True).version == "MTA-2027-2"


def test_the_mta_api_shows_the_version_in_force(api, users, client):
    client.force_login(users["qa"])
    client.post("/distribution/mta/", {"version": "MTA-2028-1", "text": "Terms."})
    assert api(users["researcher"]).get("/api/v1/mta/").json()["version"] == "MTA-2028-1"


# --- fees page ----------------------------------------------------------------------------------------------


def test_qa_sets_fees_per_grade_and_per_line_in_the_browser(client, users):
    line, _lot = stocked_line(vials=4, name="SCBi321-A")
    client.force_login(users["technician"])
    assert client.get("/distribution/fees/").status_code == 200  # staff read the rates
    assert client.post("/distribution/fees/", {"target": "clinical", "institution_type": "enterprise",
                                               "per_vial": "800"}).status_code == 403
    client.force_login(users["researcher"])
    assert client.get("/distribution/fees/").status_code == 403
    client.force_login(users["qa"])
    unknown = client.post("/distribution/fees/", {"target": "SCBi999-Z", "institution_type": "enterprise",
                                                  "per_vial": "800"})
    assert unknown.status_code == 400 and "No line named" in unknown.content.decode()
    negative = client.post("/distribution/fees/", {"target": "clinical", "institution_type": "enterprise",
                                                   "per_vial": "-5"})
    assert negative.status_code == 400 and not FeeRate.objects.exists()
    assert client.post("/distribution/fees/", {"target": "clinical", "institution_type": "enterprise",
                                               "per_vial": "800"}).status_code == 302
    assert client.post("/distribution/fees/", {"target": "scbi321-a", "institution_type": "enterprise",
                                               "per_vial": "1200.00"}).status_code == 302
    page = client.get("/distribution/fees/").content.decode()
    assert 'data-rate="grade-clinical-enterprise"' in page and 'data-rate="line-SCBi321-A-enterprise"' in page
    assert "1200.00 CNY" in page
    assert queries.fee_for(1, institution_type="enterprise", cell_line=line).per_vial == Decimal("1200.00")


# --- the demo bank ------------------------------------------------------------------------------------------


def test_the_demo_bank_shows_a_foreign_request_and_an_enterprise_quotation():
    from distribution.quotation import quotation_pdf

    call_command("load_demo", stdout=io.StringIO())
    foreign = DistributionRequest.objects.get(recipient_country="DE")
    assert foreign.status == "submitted" and queries.needs_export_approval(foreign)
    assert not foreign.export_approvals.exists()
    assert any(c.key == "export_approval" and not c.ok for c in queries.review_for(foreign).checks)
    enterprise = DistributionRequest.objects.get(institution_type="enterprise")
    assert enterprise.fee_amount > 0 and quotation_pdf(enterprise).startswith(b"%PDF")
    assert InstitutionProfile.objects.filter(user__username__in=["researcher", "researcher2"]).count() == 2
    assert set(DistributionRequest.objects.exclude(pk=enterprise.pk).values_list("fee_amount", flat=True)) == {0}


def test_a_fee_past_what_a_request_carries_is_a_400_not_a_500(api, users):
    """A line's rate may be up to 9,999,999,999.99 per vial, the request's total holds as much in all: a typo'd
    rate times the vials is refused with a message, nothing saved."""
    line, _lot = stocked_line(vials=6)
    services.set_fee_rate(actor=users["qa"], institution_type="enterprise", per_vial="9999999999.00", cell_line=line)
    response = api(users["researcher"]).post("/api/v1/requests/", _payload(line, institution_type="enterprise"),
                                             format="json")
    assert response.status_code == 400 and "vials" in response.json(), response.json()
    assert not DistributionRequest.objects.filter(cell_line=line).exists()


def test_a_catalog_search_page_past_any_offset_is_the_first_page(client, users):
    stocked_line(vials=2)
    client.force_login(users["researcher"])
    response = client.get("/distribution/catalog/", {"q": "S", "page": "9" * 20})
    assert response.status_code == 200
