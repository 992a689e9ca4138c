"""ISBT 128 DINs and the EU Single European Code (bank/coding.py), and every door that takes them: clinical-grade
lots get a DIN, the vial scan API and the header scan field find a lot by DIN or SEC, and a mistyped DIN is refused
with a clear message (400), never a silent "not found"."""

from __future__ import annotations

import datetime
import re

import pytest
from django.test import Client

from bank import coding
from lots import labels, queries, services
from lots.models import Lot
from tests.factories import CollectionFactory
from tests.lots.conftest import lot_kwargs

# Published ISO/IEC 7064 MOD 37-2 check characters, each checked by more than one independent implementation:
# - "G123489654321" → "Y": python-stdnum's doctest (stdnum/iso7064/mod_37_2.py, Arthur de Jong) and the Java,
#   OCaml and C# ISO 7064 libraries' tests that repeat it;
# - "A999915000001" → "M": a DIN-shaped example (facility A9999, year 15, sequence 000001) in the tests of
#   konfirm/node-iso7064 (MOD 37-2) and jacoelho/go-iso7064 (TestModulo37Radix2);
# - "ABCDE27000069" → "C": the "ISBT128_Checksum" function's sample (briandunning.com/cf/2878, written to ICCBBA's
#   ST-001 technical specification);
# - the two long strings → "*" and "P": go-iso7064's TestModulo37Radix2 (the "*" case exercises value 36).
PUBLISHED = [
    ("G123489654321", "Y"),
    ("A999915000001", "M"),
    ("ABCDE27000069", "C"),
    ("LMOSBYFCTRSSJCB3X6U9DUBLKNIH03FO6X963TGXYAHG", "*"),
    ("G7N286AL39FFQNU6BH8SMJB5VGMBCB6WPGMWJK800VU7K", "P"),
]


@pytest.mark.parametrize(("data", "check"), PUBLISHED)
def test_check_characters_match_the_published_iso_7064_mod_37_2_examples(data, check):
    assert coding.check_character(data) == check


def test_the_din_check_character_covers_the_13_characters_and_never_the_flags():
    assert coding.din_check_character("A999915000001") == "M"
    assert coding.parse_din("A999915000001" + "00" + "M") == coding.Din("A999915000001", "00", "M")
    with pytest.raises(coding.CodeError):
        coding.din_check_character("A99991500000")  # 12 characters: not a DIN


def test_every_single_character_typo_changes_the_check_character():
    """What MOD 37-2 is for: a mistyped character never passes its check."""
    din = "W000026000042"
    check = coding.din_check_character(din)
    for i in range(len(din)):
        for replacement in "0123456789" if i else "ABCDEFGHJKLMNPQRSTUVWXYZ":
            typo = din[:i] + replacement + din[i + 1:]
            if typo != din:
                assert coding.din_check_character(typo) != check, typo


def test_cord_blood_uses_the_one_rule():
    from cordblood.services import din_check_character

    assert din_check_character is coding.din_check_character


def test_din_forms_a_scanner_or_a_person_gives():
    body = "W000026000042"
    check = coding.din_check_character(body)
    assert coding.parse_din(body).din == body
    assert coding.parse_din(body + check).check == check
    assert coding.parse_din(f"W0000 26 000042 00 {check}") == coding.Din(body, "00", check)
    assert coding.parse_din("=" + body + "00") == coding.Din(body, "00", "")  # the barcode's data structure 001
    assert coding.parse_din("w000026000042").din == body  # a keyboard in lower case
    for other in ("SBV00000042", "MCB-SCBi001-A-2026-0001", "SCBi001-A", "", "O000026000042", "W00002600004"):
        assert coding.parse_din(other) is None, other


def test_a_wrong_check_character_is_refused_with_the_reason():
    body = "W000026000042"
    wrong = next(c for c in "0123456789" if c != coding.din_check_character(body))
    with pytest.raises(coding.CodeError, match="check character .* is wrong"):
        coding.parse_din(body + wrong)


def test_build_din_and_its_limits():
    assert coding.build_din("W0000", 2026, 42) == "W000026000042"
    with pytest.raises(coding.CodeError):
        coding.build_din("W000", 2026, 1)
    with pytest.raises(coding.CodeError):
        coding.build_din("W0000", 2026, 1_000_000)


# --- SEC ------------------------------------------------------------------------------------------------------


def test_sec_is_built_in_the_directive_s_order_and_lengths():
    sec = coding.build_sec(te_code="IT000A12", donation_number="W000026000042", product_code="E0000123", split=7,
                           expires_on=datetime.date(2031, 12, 31))
    # Directive (EU) 2015/565: TE code 2+6, donation number 13, product code 1+7, split 3, expiry YYYYMMDD.
    assert sec.code == "IT" "000A12" "W000026000042" "E" "0000123" "007" "20311231"
    assert len(sec.code) == 40 == coding.SEC_LENGTH
    assert sec.donation_sequence == "IT000A12W000026000042" and sec.product_sequence == "E000012300720311231"
    assert coding.parse_sec(sec.eye_readable) == sec
    assert coding.parse_sec(sec.code).expires_on == datetime.date(2031, 12, 31)


def test_sec_without_expiry_date_reads_eight_zeros():
    sec = coding.build_sec(te_code="IT000A12", donation_number="W000026000042", product_code="A0000001")
    assert sec.expiry == "00000000" and sec.split == "001" and sec.expires_on is None


@pytest.mark.parametrize("bad", [
    "IT000A12W000026000042X000012300120311231",  # coding system X
    "IT000A12W000026000042E000012300120311399",  # no 13th month
    "IT000A12W000026000042E00001230012031123",  # 39 characters: some other code
])
def test_a_malformed_sec_is_refused_or_not_taken_for_one(bad):
    if len(bad) == 40:
        with pytest.raises(coding.CodeError):
            coding.parse_sec(bad)
    else:
        assert coding.parse_sec(bad) is None


def test_split_numbers_stay_three_characters():
    assert [coding.split_number(n) for n in (1, 42, 999, 1000, 1001, 1036)] == \
        ["001", "042", "999", "A00", "A01", "A10"]
    assert all(len(coding.split_number(n)) == 3 for n in range(1, 5001))
    assert len({coding.split_number(n) for n in range(1, 5001)}) == 5000


# --- lots and the doors that take codes ---------------------------------------------------------------------


@pytest.fixture
def make_line(users):
    def make(cell_type="iPSC", grade="research"):
        tissue = {"CB-HSC": "cord_blood"}.get(cell_type, "skin")
        return services.create_cell_line(collection=CollectionFactory(tissue=tissue), cell_type=cell_type,
                                         grade=grade, reprogramming_method="sendai" if cell_type == "iPSC" else "",
                                         actor=users["technician"])

    return make


@pytest.fixture
def make_lot(users):
    def make(line, **overrides):
        return services.create_lot(cell_line=line, actor=users["technician"], **lot_kwargs(**overrides))

    return make


@pytest.fixture
def clinical_lot(db, make_line, make_lot):
    return make_lot(make_line(grade="clinical"))


def test_a_clinical_grade_lot_gets_the_next_din_and_a_research_lot_none(db, make_line, make_lot, settings):
    settings.ISBT_FACILITY_CODE = "A9999"
    first = make_lot(make_line(grade="clinical"))
    second = make_lot(make_line(grade="clinical"))
    research = make_lot(make_line(grade="research"))
    year = f"{first.frozen_on.year % 100:02d}"
    assert re.fullmatch(rf"A9999{year}\d{{6}}", first.din)
    assert int(second.din[7:]) == int(first.din[7:]) + 1
    assert research.din is None


def test_a_cord_blood_unit_lot_carries_the_unit_s_din(db, make_line, make_lot):
    line = make_line(cell_type="CB-HSC", grade="clinical")
    lot = make_lot(line, tier="unit", passage=0, vial_count=1, din="W000026123456")
    assert lot.din == "W000026123456"
    from django.core.exceptions import ValidationError

    with pytest.raises(ValidationError) as info:
        make_lot(make_line(cell_type="CB-HSC", grade="clinical"), tier="unit", passage=0, vial_count=1,
                 din="W000026123456")
    assert "din" in info.value.message_dict
    assert Lot.objects.filter(din="W000026123456").count() == 1


def test_the_vial_scan_api_finds_a_lot_by_din_and_refuses_a_wrong_check_character(api, users, clinical_lot):
    client = api(users["technician"])
    check = coding.din_check_character(clinical_lot.din)
    for code in (clinical_lot.din, clinical_lot.din + check, f"={clinical_lot.din}00"):
        body = client.get("/api/v1/vials/", {"barcode": code}).json()
        assert {v["lot"] for v in body["results"]} == {clinical_lot.pk}, code
        assert len(body["results"]) == clinical_lot.vial_count
    wrong = next(c for c in "0123456789" if c != check)
    response = client.get("/api/v1/vials/", {"barcode": clinical_lot.din + wrong})
    assert response.status_code == 400
    assert "check character" in response.json()["barcode"][0]
    # a plain vial barcode still answers as before
    vial = clinical_lot.vials.first()
    assert [v["id"] for v in client.get("/api/v1/vials/", {"barcode": vial.barcode}).json()["results"]] == [vial.pk]


def test_the_vial_scan_api_finds_a_lot_by_its_sec(api, users, clinical_lot, settings):
    settings.SEC_TISSUE_ESTABLISHMENT_CODE = "IT000A12"
    settings.SEC_PRODUCT_CODES = {"iPSC": "E0000123"}
    coded = queries.lot_coding(clinical_lot)
    assert coded["sec"] == f"IT000A12{clinical_lot.din}E000012300100000000"
    client = api(users["technician"])
    body = client.get("/api/v1/vials/", {"barcode": coded["sec_eye_readable"]}).json()
    assert {v["lot"] for v in body["results"]} == {clinical_lot.pk}
    other_te = "FR000B34" + coded["sec"][8:]
    assert client.get("/api/v1/vials/", {"barcode": other_te}).json()["results"] == []
    broken = coded["sec"][:32] + "20261399"
    response = client.get("/api/v1/vials/", {"barcode": broken})
    assert response.status_code == 400 and "expiry date" in response.json()["barcode"][0]


def test_the_lot_api_shows_the_din_with_its_check_character(api, users, clinical_lot):
    body = api(users["qa"]).get(f"/api/v1/lots/{clinical_lot.pk}/").json()
    assert body["din"] == clinical_lot.din
    assert body["isbt"]["check_character"] == coding.din_check_character(clinical_lot.din)
    assert body["isbt"]["sec"] is None  # the default bank is no EU tissue establishment


def _client(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def test_the_header_scan_opens_the_lot_of_a_din_and_says_what_is_wrong_with_a_mistyped_one(users, clinical_lot):
    client = _client(users["technician"])
    check = coding.din_check_character(clinical_lot.din)
    response = client.get("/scan/", {"code": clinical_lot.din + check})
    assert response.status_code == 302 and response["Location"] == f"/lots/{clinical_lot.pk}/"
    wrong = next(c for c in "0123456789" if c != check)
    response = client.get("/scan/", {"code": clinical_lot.din + wrong})
    assert response.status_code == 400
    page = response.content.decode()
    assert 'id="scan-code-error"' in page and "check character" in page and 'id="scan-not-found"' not in page


def test_labels_print_the_din_with_its_check_character_boxed(clinical_lot):
    vial = clinical_lot.vials.select_related("lot").first()
    svg = labels.vial_label_svg(vial, clinical_lot)
    check = coding.din_check_character(clinical_lot.din)
    assert 'id="din-check-box"' in svg and 'id="din-check"' in svg
    assert re.search(rf'id="din-check"[^>]*>{re.escape(check)}</text>', svg)
    assert f"DIN {clinical_lot.din[:5]} {clinical_lot.din[5:7]} {clinical_lot.din[7:]} 00" in svg
    zpl = labels.label_zpl(clinical_lot, [vial])
    assert "^GB" in zpl and f"^FD{check}^FS" in zpl.replace("^FH_", "")
    research_svg = labels.vial_label_svg(vial, None)
    assert "din-check" not in research_svg
    pdf = labels.label_pdf(clinical_lot, [vial], layout="roll")
    assert pdf.startswith(b"%PDF")


def test_assign_dins_gives_older_clinical_lots_their_din_once(make_line, make_lot, users):
    import io

    from django.core.management import call_command

    old = make_lot(make_line(grade="clinical"))
    research = make_lot(make_line(grade="research"))
    Lot.objects.filter(pk=old.pk).update(din=None)  # frozen before DINs existed
    out = io.StringIO()
    call_command("assign_dins", "--user", users["qa"].username, stdout=out)
    old.refresh_from_db()
    research.refresh_from_db()
    assert old.din and coding.parse_din(old.din).din == old.din and research.din is None
    assert "1 lot(s) given a DIN." in out.getvalue()
    assert old.history.order_by("-history_date", "-history_id").first().history_user == users["qa"]
    call_command("assign_dins", "--user", users["qa"].username, stdout=(again := io.StringIO()))
    assert "0 lot(s)" in again.getvalue()
