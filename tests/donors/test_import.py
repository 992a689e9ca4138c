"""CSV import of donors with screening results: the whole file is checked, every bad line reported, all or none."""

import datetime

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils import timezone

from donors import services
from donors.crypto import national_id_digest
from donors.models import Consent, Donor, DonorIdentity, Screening, ScreeningResult
from donors.queries import eligibility_for
from tests.factories import DonorIdentityFactory

pytestmark = pytest.mark.django_db

DAY = (timezone.localdate() - datetime.timedelta(days=3)).isoformat()
HEADER = ("sex,birth_year,donor_type,diagnosis,full_name,national_id,phone,sample_drawn_on,maternal_sample,"
          "consent_form_version,consent_signed_on,consent_scopes,hiv_ab,hiv_nat,hbsag,anti_hbc,hcv_ab,hcv_nat,syphilis")
NEG7 = ",".join(["negative"] * 7)


def row(national_id, *, sex="F", year="1990", kind="healthy", diagnosis="", name="Wang Fang", day=DAY,
        maternal="no", consent=("ICF-v3", DAY, "research;data_sharing"), results=NEG7):
    return ",".join([sex, year, kind, diagnosis, name, national_id, "+86 138 0000 0000", day, maternal, *consent,
                     results])


def csv_text(*rows):
    return "\n".join([HEADER, *rows]) + "\n"


def test_a_good_file_imports_every_donor_with_identity_consent_and_screening(users):
    text = csv_text(row("110101199001010011"), row("110101199001010012", kind="patient", diagnosis="ALS"),
                    row("110101199001010013", consent=("", "", ""), results=",,,,,,", day=""))
    result = services.import_donors_csv(text.encode("utf-8-sig"), actor=users["coordinator"], filename="batch.csv")
    assert len(result.donors) == 3 and result.screenings == 2 and result.results == 14 and result.consents == 2
    assert Donor.objects.count() == 3 and DonorIdentity.objects.count() == 3
    # Issue 11: the national ID is stored encrypted; it is found through its keyed hash.
    first = Donor.objects.get(identity__national_id_index=national_id_digest("110101199001010011"))
    assert first.identity.national_id == "110101199001010011"
    assert first.registered_by == users["coordinator"] and first.code.startswith("SBD-")
    assert Consent.objects.get(donor=first).scopes == ["research", "data_sharing"]
    assert eligibility_for(first).status == "eligible"
    assert first.history.get().history_change_reason == "CSV import batch.csv"
    assert len({d.code for d in result.donors}) == 3


def test_every_bad_line_is_reported_by_number_and_nothing_is_imported(users):
    DonorIdentityFactory(national_id="110101199001010099")
    future = str(timezone.localdate().year + 1)
    text = csv_text(
        row("110101199001010011"),                                   # line 2: fine
        row("110101199001010012", year=future),                      # line 3: future birth year
        row("110101199001010011", name="Copy"),                      # line 4: same national ID as line 2
        row("110101199001010014", results=NEG7.replace("negative", "reactive", 1)),  # line 5: bad result
        row("110101199001010099"),                                   # line 6: already registered
        row("110101199001010016", consent=("ICF-v3", "2999-01-01", "research")),     # line 7: consent in future
        "F,1990,healthy",                                            # line 8: too few values
        row("110101199001010018", kind="patient"),                   # line 9: patient without diagnosis
    )
    with pytest.raises(services.ImportRejected) as exc:
        services.import_donors_csv(text, actor=users["coordinator"])
    lines = {r["line"]: " ".join(r["errors"]) for r in exc.value.rows}
    assert sorted(lines) == [3, 4, 5, 6, 7, 8, 9]
    assert "birth_year" in lines[3] and "future" in lines[3]
    assert "line 2" in lines[4]
    assert "reactive" in lines[5]
    assert "already registered" in lines[6]
    assert "consent_signed_on" in lines[7]
    assert "values" in lines[8]
    assert "diagnosis" in lines[9]
    assert DonorIdentity.objects.count() == 1 and Donor.objects.count() == 1
    assert not Screening.objects.exists() and not ScreeningResult.objects.exists() and not Consent.objects.exists()


def test_quoted_values_keep_their_line_numbers(users):
    text = (HEADER + "\n" + row("110101199001010011", name='"Wang, Fang"') + "\n"
            + row("110101199001010012", sex="Q") + "\n")
    with pytest.raises(services.ImportRejected) as exc:
        services.import_donors_csv(text, actor=users["coordinator"])
    assert [r["line"] for r in exc.value.rows] == [3]


@pytest.mark.parametrize("text,needle", [
    ("", "empty"),
    (HEADER + "\n", "no donor rows"),
    (HEADER.replace("hiv_ab", "hiv_abx") + "\n" + row("110101199001010011"), "hiv_abx"),
    (HEADER.replace("national_id,", "") + "\n", "national_id"),
    (HEADER + ",sex\n", "twice"),
])
def test_header_problems_are_line_1(users, text, needle):
    with pytest.raises(services.ImportRejected) as exc:
        services.import_donors_csv(text, actor=users["coordinator"])
    assert exc.value.rows[0]["line"] == 1 and needle in " ".join(exc.value.rows[0]["errors"])
    assert not Donor.objects.exists()


def test_results_need_a_sample_date_and_a_known_value(users):
    text = csv_text(row("110101199001010011", day=""), row("110101199001010012", maternal="perhaps"))
    with pytest.raises(services.ImportRejected) as exc:
        services.import_donors_csv(text, actor=users["coordinator"])
    lines = {r["line"]: " ".join(r["errors"]) for r in exc.value.rows}
    assert "sample_drawn_on" in lines[2] and "maternal_sample" in lines[3]


def test_not_utf8_is_rejected(users):
    with pytest.raises(services.ImportRejected) as exc:
        services.import_donors_csv(csv_text(row("110101199001010011", name="王芳")).encode("gbk"),
                                   actor=users["coordinator"])
    assert "UTF-8" in exc.value.rows[0]["errors"][0]


def test_import_page_lists_bad_lines_and_imports_nothing(client, users):
    client.force_login(users["coordinator"])
    bad = csv_text(row("110101199001010011"), row("110101199001010012", sex="?"))
    response = client.post("/donors/import/", {"file": SimpleUploadedFile("d.csv", bad.encode(), "text/csv")})
    html = response.content.decode()
    assert response.status_code == 200 and 'data-line="3"' in html and "Nothing was imported" in html
    assert not Donor.objects.exists()
    good = csv_text(row("110101199001010011"))
    response = client.post("/donors/import/", {"file": SimpleUploadedFile("d.csv", good.encode(), "text/csv")})
    assert "1 donor imported" in response.content.decode() and Donor.objects.count() == 1


def test_import_template_round_trips(client, users):
    client.force_login(users["coordinator"])
    template = client.get("/donors/import/template.csv")
    assert template.status_code == 200 and template["Content-Type"].startswith("text/csv")
    result = services.import_donors_csv(template.content, actor=users["coordinator"])
    assert len(result.donors) == 1


def test_import_api(api, users):
    good = csv_text(row("110101199001010011"))
    response = api(users["coordinator"]).post(
        "/api/v1/donors/import/", {"file": SimpleUploadedFile("d.csv", good.encode(), "text/csv")}, format="multipart")
    assert response.status_code == 201 and response.json()["imported"] == 1
    bad = csv_text(row("110101199001010012", year="abc"))
    response = api(users["coordinator"]).post(
        "/api/v1/donors/import/", {"file": SimpleUploadedFile("d.csv", bad.encode(), "text/csv")}, format="multipart")
    assert response.status_code == 400 and response.json()["rows"][0]["line"] == 2
    assert api(users["technician"]).post(
        "/api/v1/donors/import/", {"file": SimpleUploadedFile("d.csv", good.encode(), "text/csv")},
        format="multipart").status_code == 403
    assert Donor.objects.count() == 1
