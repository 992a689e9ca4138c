"""HLA history (issue 12): DPB1 typed when the laboratory reports it, and a replaced registration typing is never
lost — every version is read back from the API and the donor's HLA tab."""

import pytest

from donors import services
from donors.models import HLATyping
from tests.factories import DonorFactory

pytestmark = pytest.mark.django_db

ALLELES = {"A": ["A*24:02", "A*24:02"], "B": ["B*52:01", "B*07:02"], "C": ["C*12:02", "C*07:02"],
           "DRB1": ["DRB1*15:02", "DRB1*15:02"], "DQB1": ["DQB1*06:01", "DQB1*06:02"]}


def url(donor):
    return f"/api/v1/donors/{donor.pk}/hla/"


def test_the_five_locus_contract_still_holds(api, users):
    donor = DonorFactory()
    response = api(users["coordinator"]).put(url(donor), ALLELES, format="json")
    assert response.status_code == 200, response.json()
    body = response.json()
    assert "DPB1" not in body and body["A"] == ["A*24:02", "A*24:02"]
    assert [v["change"] for v in body["history"]] == ["created"]


def test_dpb1_is_recorded_kept_and_cleared(api, users):
    donor = DonorFactory()
    client = api(users["coordinator"])
    response = client.put(url(donor), {**ALLELES, "DPB1": ["DPB1*04:01", "DPB1*104:01"]}, format="json")
    assert response.status_code == 200, response.json()
    assert response.json()["DPB1"] == ["DPB1*04:01", "DPB1*104:01"]
    # A client that predates DPB1 replaces the five loci and leaves DPB1 as it was.
    again = client.put(url(donor), {**ALLELES, "B": ["B*52:01", "B*52:01"]}, format="json").json()
    assert again["DPB1"] == ["DPB1*04:01", "DPB1*104:01"] and again["B"] == ["B*52:01", "B*52:01"]
    cleared = client.put(url(donor), {**ALLELES, "DPB1": []}, format="json").json()
    assert "DPB1" not in cleared
    typing = HLATyping.objects.get(donor=donor)
    assert (typing.dpb1_1, typing.dpb1_2) == ("", "")


@pytest.mark.parametrize("alleles", [["DPB1*04:01"], ["DPB1*4:01", "DPB1*04:01"], ["DQB1*06:01", "DPB1*04:01"]])
def test_a_malformed_dpb1_is_400(api, users, alleles):
    donor = DonorFactory()
    response = api(users["coordinator"]).put(url(donor), {**ALLELES, "DPB1": alleles}, format="json")
    assert response.status_code == 400 and "DPB1" in response.json()
    assert not HLATyping.objects.exists()


def test_three_digit_groups_are_for_dpb1_only(api, users):
    donor = DonorFactory()
    response = api(users["coordinator"]).put(url(donor), {**ALLELES, "A": ["A*124:01", "A*24:02"]}, format="json")
    assert response.status_code == 400 and "A" in response.json()


def test_a_replaced_typing_is_never_lost(api, users, client):
    donor = DonorFactory()
    services.set_hla(donor, actor=users["coordinator"], alleles=ALLELES, laboratory="Lab one")
    services.set_hla(donor, actor=users["coordinator"], alleles={**ALLELES, "A": ["A*02:01", "A*24:02"]},
                     laboratory="Lab two", reason="re-typed at high resolution")
    body = api(users["qa"]).get(url(donor)).json()
    assert body["A"] == ["A*02:01", "A*24:02"]
    history = body["history"]
    assert [v["change"] for v in history] == ["changed", "created"]
    assert history[1]["alleles"]["A"] == ["A*24:02", "A*24:02"] and history[1]["laboratory"] == "Lab one"
    assert history[0]["reason"] == "re-typed at high resolution" and history[0]["changed_by"] == "coordinator"
    client.force_login(users["coordinator"])
    page = client.get(f"/donors/{donor.pk}/", {"tab": "hla"}).content.decode()
    assert 'id="hla-history"' in page and 'data-version="1"' in page and "Lab one" in page


def test_the_form_takes_dpb1(users, client):
    donor = DonorFactory()
    client.force_login(users["coordinator"])
    data = {f"{locus.lower()}_{i + 1}": pair[i] for locus, pair in ALLELES.items() for i in range(2)}
    data.update(dpb1_1="DPB1*04:01", dpb1_2="DPB1*02:01")
    assert client.post(f"/donors/{donor.pk}/hla/", data).status_code == 302
    assert HLATyping.objects.get(donor=donor).alleles()["DPB1"] == ["DPB1*04:01", "DPB1*02:01"]
