import datetime

import pytest
from django.test import Client
from django.utils import timezone

from cordblood.models import CordBloodUnit, InfantDonation
from tests import cordblood_factories as cb
from tests.cordblood import helpers as h
from tests.factories import PASSWORD

pytestmark = pytest.mark.django_db


def client_for(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def local(moment) -> str:
    return timezone.localtime(moment).strftime("%Y-%m-%dT%H:%M")


def test_coordinator_registers_a_mother_then_twins_in_the_browser_pages():
    client = client_for(h.coordinator())
    site, collector = h.site_and_collector()
    response = client.post("/cordblood/mothers/new/", {"full_name": "Zhang Min", "national_id": "330106199001011234",
                                                       "birth_year": 1990, "population": "Han"})
    assert response.status_code == 302, response.content[:3000]
    mother_url = response["Location"]
    assert "/mothers/" in mother_url and not mother_url.endswith("/new/"), mother_url
    mother_pk = int(mother_url.rstrip("/").split("/")[-1])
    born = timezone.now() - datetime.timedelta(hours=3)
    form = {"sex": "M", "born_at": local(born), "birth_order": 1, "gestational_age_weeks": 36, "birth_weight_g": 2500,
            "delivery_type": "caesarean", "site": site.pk, "collector": collector.pk, "ownership": "family",
            "consent_form_version": "CB-ICF-v1", "consent_scopes": ["clinical"],
            **{f"q_{code}": "no" for code in ("maternal_infection_in_pregnancy", "maternal_transfusion_last_year",
                                              "family_blood_disease", "family_immune_disease",
                                              "family_genetic_disease", "infant_congenital_anomaly")}}
    assert client.post(f"/cordblood/mothers/{mother_pk}/donations/new/", form).status_code == 302
    response = client.post(f"/cordblood/mothers/{mother_pk}/donations/new/", form)
    assert response.status_code == 400 and b"birth order" in response.content.lower()
    assert client.post(f"/cordblood/mothers/{mother_pk}/donations/new/", {**form, "birth_order": 2}).status_code == 302
    assert InfantDonation.objects.filter(mother_id=mother_pk).count() == 2
    page = client.get(mother_url)
    assert page.status_code == 200 and page.content.count(b"/cordblood/units/") == 2
    # a form error is shown, not a 500
    response = client.post(f"/cordblood/mothers/{mother_pk}/donations/new/", {**form, "birth_weight_g": ""})
    assert response.status_code == 400 and b"errorlist" in response.content


def test_technician_accepts_processes_and_freezes_on_the_unit_page():
    donation = h.donate()
    unit = donation.unit
    client = client_for(h.technician())
    page = client.get(f"/cordblood/units/{unit.pk}/")
    assert page.status_code == 200 and b'id="accept-form"' in page.content
    response = client.post(f"/cordblood/units/{unit.pk}/accept/", {"collected_volume_ml": "20", "tnc": "5"})
    assert response.status_code == 400 and b"acceptance criteria" in response.content
    assert client.post(f"/cordblood/units/{unit.pk}/accept/", {"collected_volume_ml": "95", "tnc": "1500000000",
                                                               "bag_intact": "on"}).status_code == 302
    collected = donation.collection.collected_at
    response = client.post(f"/cordblood/units/{unit.pk}/processing/", {
        "method": "HES", "started_at": local(collected + datetime.timedelta(hours=2)),
        "ended_at": local(collected + datetime.timedelta(hours=4)), "volume_pre_ml": "95", "volume_post_ml": "25",
        "tnc_pre": "1500000000", "tnc_post": "1200000000", "reagent_lots": "HES 6 %: H2231\nDMSO: D9"})
    assert response.status_code == 302
    unit.refresh_from_db()
    assert unit.reagent_lots == [{"name": "HES 6 %", "lot": "H2231"}, {"name": "DMSO", "lot": "D9"}]
    assert client.post(f"/cordblood/units/{unit.pk}/freeze/", {
        "segments": 2, "reference_cells": 1, "reference_plasma": 1, "reference_dna": 1, "maternal_samples": 1,
        "cryoprotectant": "DMSO"}).status_code == 302
    page = client.get(f"/cordblood/units/{unit.pk}/")
    assert b'id="containers"' in page.content
    assert page.content.count(b"<td>Segment</td>") == 2 and page.content.count(b"<td>Bag</td>") == 1


def test_unit_list_pages_have_constant_queries_and_discards_page(django_assert_max_num_queries):
    for _i in range(4):
        cb.unit()
    h.donate()
    client = client_for(h.qa())
    client.get("/cordblood/")  # warm the session and the nav registry
    # session, user, groups/perms, count, the page of units with donation/infant/mother/site/lot, notifications…
    with django_assert_max_num_queries(14):
        response = client.get("/cordblood/")
    assert response.status_code == 200 and response.content.count(b"/cordblood/units/") == 5
    for _i in range(5):
        cb.unit()
    with django_assert_max_num_queries(14):
        assert client.get("/cordblood/?ownership=public").status_code == 200
    assert client.get("/cordblood/discards/").status_code == 200
    assert client.get("/cordblood/donations/").status_code == 200
    assert client.get("/cordblood/sites/").status_code == 200


def test_qa_lists_a_released_unit_and_sees_refusals_as_form_errors():
    unit = cb.unit(listing_status="not_listed")
    client = client_for(h.qa())
    assert client.post(f"/cordblood/units/{unit.pk}/listing/", {"status": "available"}).status_code == 302
    assert CordBloodUnit.objects.get(pk=unit.pk).listing_status == "available"
    response = client.post(f"/cordblood/units/{unit.pk}/listing/", {"status": "temporarily_unavailable"})
    assert response.status_code == 400 and b"reason and the end date" in response.content


def test_family_contract_on_the_unit_page_and_sites_pages():
    unit = cb.unit(ownership="family")
    client = client_for(h.coordinator())
    today = timezone.localdate()
    assert client.post(f"/cordblood/units/{unit.pk}/contract/", {
        "number": "FS-9", "signed_on": today.isoformat(), "paid_until": today.isoformat(), "initial_fee": "0",
        "annual_fee": "600", "currency": "CNY"}).status_code == 302
    page = client.get(f"/cordblood/units/{unit.pk}/")
    assert b"FS-9" in page.content and b'id="payment-form"' in page.content
    assert client.post("/cordblood/sites/", {"code": "H-2", "name": "South"}).status_code == 302
    assert client_for(h.technician()).post("/cordblood/sites/", {"code": "H-3", "name": "X"}).status_code == 302


def test_pages_need_the_role():
    unit = cb.unit()
    researcher = client_for(h.UserFactory(username="cb-res", role="researcher"))
    assert researcher.get("/cordblood/").status_code == 403
    assert researcher.get(f"/cordblood/units/{unit.pk}/").status_code == 403
    assert client_for(h.qa()).post(f"/cordblood/units/{unit.pk}/accept/", {}).status_code == 403
    assert PASSWORD


@pytest.mark.parametrize("language", ["en", "zh-hans"])
def test_unit_report_pdf_in_english_and_chinese(language):
    from django.utils import translation

    from cordblood.report import report_content, report_pdf

    unit = cb.unit(hla={"a_1": "A*02:01", "a_2": "A*24:02"})
    content = report_content(unit)
    assert ("A", "A*02:01 / A*24:02") in content["hla"] and len(content["containers"]) == 7
    assert content["maternal"]
    with translation.override(language):
        pdf = report_pdf(unit)
    assert pdf.startswith(b"%PDF") and len(pdf) > 2000
    response = client_for(h.qa()).get(f"/cordblood/units/{unit.pk}/report.pdf")
    assert response.status_code == 200 and response["Content-Type"] == "application/pdf"


def test_discards_and_the_unit_page_speak_words_not_codes():
    donation = h.donate()
    from cordblood import services

    services.discard_unit(donation.unit, actor=h.technician(), reason="clotted")
    client = client_for(h.qa())
    page = client.get("/cordblood/discards/").content.decode()
    assert "Awaiting acceptance" in page and "Discarded</a>: 1" in page and ">discarded<" not in page
    page = client.get(f"/cordblood/units/{donation.unit.pk}/").content.decode()
    assert "Discarded: Clots in the bag" in page and "Discarded: clotted" not in page
    # the maternal screening badge is donors' own (its label, not the stored value)
    assert 'data-eligibility="incomplete">Incomplete<' in page


def test_accepted_unit_page_reads_as_one_sentence():
    donation = h.donate()
    from cordblood import services

    services.accept_unit(donation.unit, actor=h.technician(), collected_volume_ml="95", tnc=1_500_000_000)
    page = client_for(h.technician()).get(f"/cordblood/units/{donation.unit.pk}/").content.decode()
    assert "Accepted with 95.0 mL, TNC 1.50e+09." in page


def test_a_scanned_din_with_a_wrong_check_character_opens_nothing():
    from cordblood.services import din_check_character
    from cordblood.views import unit_url_for_scan

    unit = cb.unit()
    good = din_check_character(unit.din)
    wrong = next(c for c in "0123456789" if c != good)
    assert unit_url_for_scan(unit.din, h.qa()) == f"/cordblood/units/{unit.pk}/"
    assert unit_url_for_scan(unit.din + good, h.qa()) == f"/cordblood/units/{unit.pk}/"
    assert unit_url_for_scan(unit.din + wrong, h.qa()) is None


def test_the_listing_form_offers_only_what_qa_sets_and_refusals_are_form_errors():
    unit = cb.unit()
    client = client_for(h.qa())
    page = client.get(f"/cordblood/units/{unit.pk}/").content.decode()
    form = page[page.index('id="listing-form"'):]
    form = form[:form.index("</form>")]
    assert 'value="destroyed"' in form and 'value="reserved"' not in form and 'value="distributed"' not in form
    reserved = cb.unit(listing_status="reserved")
    response = client.post(f"/cordblood/units/{reserved.pk}/listing/", {"status": "available"})
    assert response.status_code == 400
    assert CordBloodUnit.objects.get(pk=reserved.pk).listing_status == "reserved"


def test_the_donation_page_shows_the_services_limits():
    client = client_for(h.coordinator())
    site, _collector = h.site_and_collector()
    mum = h.mother()
    form = {"sex": "F", "born_at": local(timezone.now() - datetime.timedelta(hours=3)), "birth_order": 1,
            "gestational_age_weeks": 50, "birth_weight_g": 3000, "delivery_type": "vaginal", "site": site.pk,
            "ownership": "public", "consent_form_version": "CB-ICF-v1",
            **{f"q_{code}": "no" for code in ("maternal_infection_in_pregnancy", "maternal_transfusion_last_year",
                                              "family_blood_disease", "family_immune_disease",
                                              "family_genetic_disease", "infant_congenital_anomaly")}}
    response = client.post(f"/cordblood/mothers/{mum.pk}/donations/new/", form)
    assert response.status_code == 400 and b"Enter a whole number from 22 to 45." in response.content
    assert not InfantDonation.objects.filter(mother=mum).exists()
