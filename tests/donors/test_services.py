"""Every rule of the donors app through its services (the donors/services package)."""

import datetime
import re

import pytest
from django.core.exceptions import ValidationError
from django.test import override_settings
from django.utils import timezone

from bank.errors import Conflict
from bank.models import Notification
from donors import services
from donors.models import (
    Collection,
    Consent,
    Donor,
    DonorIdentity,
    EthicsApproval,
    HLATyping,
    Screening,
    ScreeningMarker,
    ScreeningResult,
    ScreeningWindow,
)
from donors.queries import active_consent, consent_state, eligibility_for
from donors.services import registry
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


@pytest.fixture(autouse=True)
def _ethics_in_force(db):
    """Issue 15: collections need an ethics approval in force (REQUIRE_ETHICS_APPROVAL); the bank has one."""
    from tests.factories import ethics_in_force

    ethics_in_force()

IDENTITY = {"full_name": "Li Na", "national_id": "110101199001010021", "phone": "+86 138 0000 1111"}
ALLELES = {"A": ["A*24:02", "A*24:02"], "B": ["B*52:01", "B*07:02"], "C": ["C*12:02", "C*07:02"],
           "DRB1": ["DRB1*15:02", "DRB1*15:02"], "DQB1": ["DQB1*06:01", "DQB1*06:02"]}


def register(users, **overrides):
    data = {"sex": "F", "birth_year": 1990, "donor_type": "healthy", "population": "Han Chinese",
            "identity": dict(IDENTITY)}
    data.update(overrides)
    return services.register_donor(actor=users["coordinator"], **data)


def field_errors(exc_info) -> dict:
    return exc_info.value.message_dict


# --- registration -------------------------------------------------------------------------------


def test_register_donor_generates_a_random_pseudonymous_code_and_keeps_identity_apart(users):
    donor = register(users)
    assert re.fullmatch(r"SBD-[23456789ABCDEFGHJKMNPQRSTUVWXYZ]{8}", donor.code)
    assert donor.registered_by == users["coordinator"]
    identity = DonorIdentity.objects.get(donor=donor)
    assert (identity.full_name, identity.national_id) == ("Li Na", "110101199001010021")
    history = donor.history.first()
    assert history.history_user == users["coordinator"] and history.history_change_reason == "donor registered"


def test_donor_codes_are_unique_and_not_sequential():
    codes = services.new_donor_codes(300)
    assert len(set(codes)) == 300
    suffixes = sorted(c.removeprefix("SBD-") for c in codes)
    # Random draws over a 31^8 space: consecutive codes differ in more than the last character.
    assert sum(a[:-1] == b[:-1] for a, b in zip(suffixes, suffixes[1:], strict=False)) < 3


def test_new_codes_skip_codes_in_use(monkeypatch):
    taken = DonorFactory(code="SBD-AAAAAAAA")
    draws = iter("A" * 8 + "B" * 8)
    monkeypatch.setattr(registry.secrets, "choice", lambda alphabet: next(draws))
    assert services.new_donor_codes(1) == ["SBD-BBBBBBBB"]
    assert taken.code == "SBD-AAAAAAAA"


def test_future_birth_year_is_refused_and_nothing_saved(users):
    with pytest.raises(ValidationError) as exc:
        register(users, birth_year=timezone.localdate().year + 1)
    assert "future" in field_errors(exc)["birth_year"][0]
    assert not Donor.objects.exists() and not DonorIdentity.objects.exists()


def test_duplicate_national_id_is_refused_naming_the_existing_donor(users):
    first = register(users)
    with pytest.raises(ValidationError) as exc:
        register(users, identity={**IDENTITY, "national_id": " 110101 199001010021 ", "full_name": "Other"})
    assert first.code in field_errors(exc)["national_id"][0]
    assert Donor.objects.count() == 1 and DonorIdentity.objects.count() == 1


def test_national_id_is_normalised_case_and_spaces(users):
    donor = register(users, identity={**IDENTITY, "national_id": "11010119900101002x"})
    assert donor.identity.national_id == "11010119900101002X"
    with pytest.raises(ValidationError):
        register(users, identity={**IDENTITY, "national_id": "11010119900101002X"})


@pytest.mark.parametrize("overrides,field", [
    ({"sex": "X"}, "sex"),
    ({"birth_year": "nineteen"}, "birth_year"),
    ({"birth_year": 1850}, "birth_year"),
    ({"donor_type": "volunteer"}, "donor_type"),
    ({"donor_type": "patient", "diagnosis": ""}, "diagnosis"),
    ({"identity": {"full_name": "", "national_id": "1101"}}, "full_name"),
    ({"identity": {"full_name": "A", "national_id": "11 0$"}}, "national_id"),
    ({"identity": {"full_name": "A", "national_id": "110101", "phone": "call me"}}, "phone"),
    ({"identity": None}, "national_id"),
])
def test_bad_donor_input_names_the_field_and_saves_nothing(users, overrides, field):
    with pytest.raises(ValidationError) as exc:
        register(users, **overrides)
    assert field in field_errors(exc)
    assert not Donor.objects.exists()


def test_update_donor_needs_a_reason_and_records_it(users):
    donor = register(users)
    with pytest.raises(ValidationError) as exc:
        services.update_donor(donor, actor=users["coordinator"], reason=" ", birth_year=1991)
    assert "reason" in field_errors(exc)
    services.update_donor(donor, actor=users["coordinator"], reason="typo at intake", birth_year=1991,
                          identity={"phone": "+86 138 0000 2222"})
    donor.refresh_from_db()
    assert donor.birth_year == 1991 and donor.identity.phone == "+86 138 0000 2222"
    assert donor.history.first().history_change_reason == "typo at intake"
    assert donor.identity.history.first().history_change_reason == "typo at intake"


def test_update_donor_refuses_a_national_id_of_another_donor(users):
    other = DonorIdentityFactory(national_id="A1234567")
    donor = register(users)
    with pytest.raises(ValidationError) as exc:
        services.update_donor(donor, actor=users["coordinator"], reason="x", identity={"national_id": "a1234567"})
    assert other.donor.code in field_errors(exc)["national_id"][0]
    assert DonorIdentity.objects.get(donor=donor).national_id == IDENTITY["national_id"]


def test_update_donor_cannot_change_the_code(users):
    donor = register(users)
    with pytest.raises(ValidationError):
        services.update_donor(donor, actor=users["coordinator"], reason="x", code="SBD-MINE0001")
    assert Donor.objects.get(pk=donor.pk).code == donor.code


# --- consent --------------------------------------------------------------------------------------


def test_record_consent_validates_scopes_and_orders_them(users):
    donor = DonorFactory()
    consent = services.record_consent(donor, actor=users["coordinator"], form_version="ICF-v3",
                                      signed_on=timezone.localdate(), scopes=["recontact", "research", "research"])
    assert consent.scopes == ["research", "recontact"] and consent.recorded_by == users["coordinator"]
    assert consent_state(Donor.objects.get(pk=donor.pk)) == "active"


@pytest.mark.parametrize("data,field", [
    ({"scopes": []}, "scopes"),
    ({"scopes": ["research", "marketing"]}, "scopes"),
    ({"signed_on": "2026-13-01"}, "signed_on"),
    ({"form_version": ""}, "form_version"),
])
def test_bad_consent_input_saves_nothing(users, data, field):
    donor = DonorFactory()
    kwargs = {"form_version": "ICF-v3", "signed_on": timezone.localdate(), "scopes": ["research"], **data}
    with pytest.raises(ValidationError) as exc:
        services.record_consent(donor, actor=users["coordinator"], **kwargs)
    assert field in field_errors(exc)
    assert not Consent.objects.exists()


def test_signed_date_in_the_future_is_refused(users):
    donor = DonorFactory()
    with pytest.raises(ValidationError) as exc:
        services.record_consent(donor, actor=users["coordinator"], form_version="v1", scopes=["research"],
                                signed_on=timezone.localdate() + datetime.timedelta(days=1))
    assert "future" in field_errors(exc)["signed_on"][0]
    assert not Consent.objects.exists()


def test_reconsent_keeps_the_earlier_consent_and_the_newest_is_active(users):
    donor = DonorFactory()
    old = services.record_consent(donor, actor=users["coordinator"], form_version="v1", scopes=["research"],
                                  signed_on=timezone.localdate() - datetime.timedelta(days=400))
    new = services.record_consent(donor, actor=users["coordinator"], form_version="v2",
                                  scopes=["research", "clinical"], signed_on=timezone.localdate())
    assert active_consent(Donor.objects.get(pk=donor.pk)) == new
    assert Consent.objects.filter(pk=old.pk).exists()


def test_withdraw_consent_flags_every_derived_lot_and_deletes_nothing(users):
    lot = LotFactory(vial_count=2)
    donor = lot.cell_line.donor
    child = LotFactory(cell_line=lot.cell_line, tier="WCB", parent_lot=lot, vial_count=1)
    unrelated = LotFactory(vial_count=1)
    consent = donor.consents.get()
    second = ConsentFactory(donor=donor, form_version="v2")

    result = services.withdraw_consent(consent, actor=users["coordinator"], reason="written request of 2026-03-01")

    assert sorted(lot.pk for lot in result.affected_lots) == sorted([lot.pk, child.pk])
    # distribution lists and tells everyone who received anything derived (issue 7)
    assert result.distribution_recall.source == "consent_withdrawal"
    assert result.distribution_recall.donor == donor
    donor.refresh_from_db()
    assert donor.consent_withdrawn_at is not None and consent_state(donor) == "withdrawn"
    for item in Consent.objects.filter(pk__in=[consent.pk, second.pk]):
        assert item.withdrawn_at == donor.consent_withdrawn_at
        assert item.withdrawn_by == users["coordinator"] and item.withdrawal_reason == "written request of 2026-03-01"
    assert Lot.objects.get(pk=lot.pk).consent_withdrawn_flagged_at is not None
    assert Lot.objects.get(pk=child.pk).consent_withdrawn_flagged_at is not None
    assert Lot.objects.get(pk=unrelated.pk).consent_withdrawn_flagged_at is None
    assert Lot.objects.count() == 3 and lot.vials.count() == 2 and donor.consents.count() == 2
    assert active_consent(donor) is None
    # (distribution's recall notice to QA names the line, never the donor)
    qa_note = Notification.objects.get(recipient=users["qa"], subject__contains=donor.code)
    assert donor.code in qa_note.subject and lot.lot_number in qa_note.body
    assert consent.history.first().history_change_reason == "written request of 2026-03-01"


def test_withdrawal_needs_a_reason_and_happens_once(users):
    consent = ConsentFactory()
    with pytest.raises(ValidationError):
        services.withdraw_consent(consent, actor=users["coordinator"], reason="")
    assert Consent.objects.get(pk=consent.pk).withdrawn_at is None
    services.withdraw_consent(consent, actor=users["coordinator"], reason="request")
    with pytest.raises(Conflict) as exc:
        services.withdraw_consent(consent, actor=users["coordinator"], reason="again")
    assert exc.value.code == "already_withdrawn"


def test_no_consent_after_withdrawal(users):
    consent = ConsentFactory()
    services.withdraw_consent(consent, actor=users["coordinator"], reason="request")
    with pytest.raises(Conflict) as exc:
        services.record_consent(consent.donor, actor=users["coordinator"], form_version="v9", scopes=["research"],
                                signed_on=timezone.localdate())
    assert exc.value.code == "consent_withdrawn"
    assert Consent.objects.count() == 1


# --- ethics approvals -----------------------------------------------------------------------------


def test_ethics_approval_range_and_unique_number(users):
    approval = services.create_ethics_approval(actor=users["coordinator"], committee="IEC", approval_number="IEC-1",
                                               valid_from="2026-01-01", valid_to="2026-12-31")
    assert approval.is_valid_on(datetime.date(2026, 6, 1))
    with pytest.raises(ValidationError) as exc:
        services.create_ethics_approval(actor=users["coordinator"], committee="IEC", approval_number="iec-1",
                                        valid_from="2026-01-01", valid_to="2025-12-31")
    assert set(field_errors(exc)) == {"approval_number", "valid_to"}
    assert EthicsApproval.objects.exclude(approval_number="IEC-TESTS").count() == 1  # the module's own aside


def test_an_approval_cannot_be_narrowed_past_a_collection_citing_it(users):
    approval = EthicsApprovalFactory(valid_from=datetime.date(2020, 1, 1), valid_to=datetime.date(2030, 12, 31))
    collection = CollectionFactory(ethics_approval=approval)
    day = timezone.localtime(collection.collected_at).date()
    with pytest.raises(ValidationError) as exc:
        services.update_ethics_approval(approval, actor=users["coordinator"], reason="renewal",
                                        valid_to=day - datetime.timedelta(days=1))
    assert collection.code in field_errors(exc)["valid_to"][0]
    services.update_ethics_approval(approval, actor=users["coordinator"], reason="extended", valid_to="2031-12-31")
    assert EthicsApproval.objects.get(pk=approval.pk).valid_to == datetime.date(2031, 12, 31)


# --- screening ------------------------------------------------------------------------------------


def negative_panel(codes=("hiv_ab", "hiv_nat", "hbsag", "anti_hbc", "hcv_ab", "hcv_nat", "syphilis")):
    return [{"marker": code, "result": "negative"} for code in codes]


def test_record_screening_stores_every_result(users):
    donor = CollectionFactory(tissue="skin").donor
    screening = services.record_screening(donor, actor=users["coordinator"], sample_drawn_on=timezone.localdate()
                                          - datetime.timedelta(days=10), results=negative_panel(), laboratory="Lab")
    assert screening.results.count() == 7 and not screening.maternal_sample
    assert screening.results.first().recorded_by == users["coordinator"]
    assert eligibility_for(Donor.objects.get(pk=donor.pk)).status == "eligible"


def test_unknown_marker_is_refused_and_nothing_saved(users):
    donor = DonorFactory()
    with pytest.raises(ValidationError) as exc:
        services.record_screening(donor, actor=users["coordinator"], sample_drawn_on=timezone.localdate(),
                                  results=[*negative_panel(), {"marker": "zika_nat", "result": "negative"}])
    assert "zika_nat" in field_errors(exc)["results"][0]
    assert not Screening.objects.exists() and not ScreeningResult.objects.exists()


@pytest.mark.parametrize("results,date_shift,field", [
    ([{"marker": "hiv_ab", "result": "reactive"}], 0, "results"),
    ([{"marker": "hiv_ab", "result": "negative"}, {"marker": "HIV_AB", "result": "positive"}], 0, "results"),
    ([{"marker": "hiv_ab", "result": ""}], 0, "results"),
    ("hiv_ab=negative", 0, "results"),
    ([{"marker": "hiv_ab", "result": "negative"}], 1, "sample_drawn_on"),
])
def test_bad_screening_input_saves_nothing(users, results, date_shift, field):
    donor = DonorFactory()
    with pytest.raises(ValidationError) as exc:
        services.record_screening(donor, actor=users["coordinator"], results=results,
                                  sample_drawn_on=timezone.localdate() + datetime.timedelta(days=date_shift))
    assert field in field_errors(exc)
    assert not Screening.objects.exists()


def test_maternal_flag_defaults_from_the_latest_collection(users):
    cord = CollectionFactory(tissue="cord_blood").donor
    skin = CollectionFactory(tissue="skin").donor
    day = timezone.localdate()
    assert services.record_screening(cord, actor=users["coordinator"], sample_drawn_on=day,
                                     results=negative_panel()).maternal_sample is True
    assert services.record_screening(skin, actor=users["coordinator"], sample_drawn_on=day,
                                     results=negative_panel()).maternal_sample is False
    assert services.record_screening(cord, actor=users["coordinator"], sample_drawn_on=day, maternal_sample=False,
                                     results=negative_panel()).maternal_sample is False


def test_a_positive_result_tells_qa(users):
    donor = DonorFactory()
    services.record_screening(donor, actor=users["coordinator"], sample_drawn_on=timezone.localdate(),
                              results=[{"marker": "hbsag", "result": "positive"}])
    note = Notification.objects.get(recipient=users["qa"])
    assert donor.code in note.subject and "hbsag" in note.subject and note.level == "warning"


def test_a_later_negative_sample_does_not_hide_a_positive(users):
    collection = CollectionFactory(tissue="skin")
    full_negative_panel(collection)
    donor = collection.donor
    services.record_screening(donor, actor=users["coordinator"], results=[{"marker": "hcv_ab", "result": "positive"}],
                              sample_drawn_on=timezone.localdate() - datetime.timedelta(days=12))
    services.record_screening(donor, actor=users["coordinator"], results=negative_panel(),
                              sample_drawn_on=timezone.localdate() - datetime.timedelta(days=9))
    assert eligibility_for(Donor.objects.get(pk=donor.pk), collection).status == "ineligible"


def test_correct_result_adds_a_new_row_with_its_reason_and_keeps_the_original(users):
    collection = CollectionFactory(tissue="skin")
    screening = full_negative_panel(collection, skip=("syphilis",))
    donor = collection.donor
    wrong = ScreeningResult.objects.create(screening=screening, marker="syphilis", result="positive",
                                           recorded_by=users["coordinator"])
    assert eligibility_for(Donor.objects.get(pk=donor.pk), collection).status == "ineligible"

    fixed = services.correct_result(wrong, actor=users["coordinator"], result="negative",
                                    reason="transcription error, lab report SY-22")
    assert (fixed.corrects, fixed.marker, fixed.result) == (wrong, "syphilis", "negative")
    assert fixed.correction_reason == "transcription error, lab report SY-22"
    assert ScreeningResult.objects.get(pk=wrong.pk).result == "positive"  # never overwritten
    assert eligibility_for(Donor.objects.get(pk=donor.pk), collection).status == "eligible"
    assert "syphilis" in Notification.objects.get(recipient=users["qa"]).subject


def test_correction_needs_a_reason_a_change_and_the_newest_result(users):
    screening = full_negative_panel(CollectionFactory(tissue="skin"))
    original = screening.results.get(marker="hiv_ab")
    with pytest.raises(ValidationError) as exc:
        services.correct_result(original, actor=users["coordinator"], result="positive", reason="")
    assert "reason" in field_errors(exc)
    with pytest.raises(ValidationError) as exc:
        services.correct_result(original, actor=users["coordinator"], result="negative", reason="same")
    assert "result" in field_errors(exc)
    services.correct_result(original, actor=users["coordinator"], result="indeterminate", reason="lab recall")
    with pytest.raises(Conflict) as conflict:
        services.correct_result(original, actor=users["coordinator"], result="positive", reason="again")
    assert conflict.value.code == "already_corrected"
    assert screening.results.filter(marker="hiv_ab").count() == 2


def test_the_panel_is_configurable(users):
    hbv = ScreeningMarker.objects.get(code="hbv_nat")
    services.configure_marker(hbv, actor=users["admin"], required=True, tissues=["cord_blood"], reason="SOP v4")
    collection = CollectionFactory(tissue="cord_blood")
    full_negative_panel(collection, skip=("hbv_nat",))
    result = eligibility_for(Donor.objects.get(pk=collection.donor_id), collection)
    assert result.status == "incomplete" and result.missing_markers == ["hbv_nat"]
    services.configure_window("skin", actor=users["admin"], days_before=3, days_after=3, reason="SOP v4")
    assert ScreeningWindow.objects.get(tissue="skin").days_before == 3
    with pytest.raises(ValidationError):
        services.configure_window("skin", actor=users["admin"], days_before=-1, days_after=3, reason="x")
    with pytest.raises(ValidationError):
        services.configure_marker(hbv, actor=users["admin"], required=True, tissues=["moon_rock"], reason="x")
    added = services.add_marker(actor=users["admin"], code="zika_nat", name="Zika NAT", required=False)
    assert added.order > hbv.order
    with pytest.raises(ValidationError):
        services.add_marker(actor=users["admin"], code="Zika NAT!", name="Zika")


# --- HLA ------------------------------------------------------------------------------------------


def test_set_hla_stores_alleles_method_resolution_and_homozygous_loci(users):
    donor = DonorFactory()
    typing = services.set_hla(donor, actor=users["coordinator"], alleles=ALLELES, method="ngs",
                              typed_on=timezone.localdate())
    assert typing.resolution == "2-field" and typing.method == "ngs"
    assert typing.homozygous_loci() == ["A", "DRB1"]
    assert typing.alleles()["B"] == ["B*52:01", "B*07:02"]


def test_one_field_typing_and_normalisation(users):
    donor = DonorFactory()
    alleles = {locus: [f"hla-{locus.lower()}*02", f"{locus}*02"] for locus in ALLELES}
    typing = services.set_hla(donor, actor=users["coordinator"], alleles=alleles, method="sso")
    assert typing.resolution == "1-field" and typing.a_1 == "A*02" and typing.homozygous_loci() == list(ALLELES)


@pytest.mark.parametrize("locus,value", [
    ("A", "A*2402"), ("A", "A24:02"), ("A", "A*24:02:01"), ("A", "A*24:02N"), ("A", "B*24:02"),
    ("DRB1", "DRB1*1"), ("DQB1", "DQB1*06:1"), ("C", "Cw*07"), ("B", ""), ("B", "B*5A:01"),
])
def test_malformed_alleles_are_refused_and_nothing_saved(users, locus, value):
    donor = DonorFactory()
    alleles = {k: list(v) for k, v in ALLELES.items()}
    alleles[locus][0] = value
    with pytest.raises(ValidationError) as exc:
        services.set_hla(donor, actor=users["coordinator"], alleles=alleles)
    assert locus in field_errors(exc)
    assert not HLATyping.objects.exists()


def test_locus_prefix_must_match(users):
    alleles = {k: list(v) for k, v in ALLELES.items()}
    alleles["C"] = ["B*07:02", "C*07:02"]
    with pytest.raises(ValidationError) as exc:
        services.set_hla(DonorFactory(), actor=users["coordinator"], alleles=alleles)
    assert "HLA-B allele" in field_errors(exc)["C"][0]


def test_hla_needs_every_locus_two_alleles_and_a_consistent_resolution(users):
    donor = DonorFactory()
    with pytest.raises(ValidationError) as exc:
        services.set_hla(donor, actor=users["coordinator"], alleles={"A": ["A*24:02"]})
    assert {"A", "B", "C", "DRB1", "DQB1"} <= set(field_errors(exc))
    with pytest.raises(ValidationError) as exc:
        services.set_hla(donor, actor=users["coordinator"], alleles=ALLELES, resolution="1-field")
    assert "resolution" in field_errors(exc)
    with pytest.raises(ValidationError) as exc:
        services.set_hla(donor, actor=users["coordinator"], alleles=ALLELES, method="telepathy",
                         typed_on=timezone.localdate() + datetime.timedelta(days=2))
    assert {"method", "typed_on"} <= set(field_errors(exc))
    assert not HLATyping.objects.exists()


def test_retyping_replaces_the_typing_and_keeps_history(users):
    donor = DonorFactory()
    services.set_hla(donor, actor=users["coordinator"], alleles={k: [v[0][:-3]] * 2 for k, v in ALLELES.items()})
    typing = services.set_hla(donor, actor=users["coordinator"], alleles=ALLELES, reason="high-resolution retype")
    assert HLATyping.objects.count() == 1 and typing.resolution == "2-field"
    assert typing.history.count() == 2 and typing.history.first().history_change_reason == "high-resolution retype"


# --- collections ----------------------------------------------------------------------------------


def collect(users, donor, **overrides):
    collected = timezone.now() - datetime.timedelta(days=2)
    data = {"tissue": "skin", "collected_at": collected, "received_at": collected + datetime.timedelta(hours=3),
            "transport_temperature_c": "4"}
    data.update(overrides)
    return services.record_collection(actor=users["technician"], donor=donor, **data)


def test_record_collection_under_the_active_consent(users):
    consent = ConsentFactory()
    collection = collect(users, consent.donor)
    assert collection.consent == consent and collection.received_by == users["technician"]
    assert not collection.transport_delay_flagged
    year = timezone.localtime(collection.collected_at).year
    assert collection.code == f"COL-{year}-0001"
    assert collect(users, consent.donor).code == f"COL-{year}-0002"


def test_no_active_consent_is_409_and_nothing_saved(users):
    donor = DonorFactory()
    with pytest.raises(Conflict) as exc:
        collect(users, donor)
    assert exc.value.code == "no_active_consent"
    consent = ConsentFactory(donor=donor)
    services.withdraw_consent(consent, actor=users["coordinator"], reason="request")
    with pytest.raises(Conflict) as exc:
        collect(users, donor)
    assert exc.value.code == "no_active_consent" and "withdrew" in exc.value.detail
    assert not Collection.objects.exists()


def test_ethics_approval_must_be_valid_on_the_collection_date(users):
    consent = ConsentFactory()
    expired = EthicsApprovalFactory(valid_from=datetime.date(2020, 1, 1), valid_to=datetime.date(2021, 12, 31))
    with pytest.raises(ValidationError) as exc:
        collect(users, consent.donor, ethics_approval=expired)
    message = field_errors(exc)["ethics_approval"][0]
    assert expired.approval_number in message and "2021-12-31" in message
    current = EthicsApprovalFactory(valid_from=datetime.date(2020, 1, 1), valid_to=datetime.date(2099, 1, 1))
    assert collect(users, consent.donor, ethics_approval=current).ethics_approval == current
    assert Collection.objects.count() == 1


@override_settings(COLLECTION_TRANSPORT_LIMIT_HOURS=24)
def test_transport_over_the_limit_is_flagged_and_qa_told(users):
    consent = ConsentFactory()
    collected = timezone.now() - datetime.timedelta(days=3)
    late = collect(users, consent.donor, collected_at=collected, received_at=collected + datetime.timedelta(hours=25))
    on_time = collect(users, consent.donor, collected_at=collected,
                      received_at=collected + datetime.timedelta(hours=24))
    assert late.transport_delay_flagged and not on_time.transport_delay_flagged
    assert late.code in Notification.objects.get(recipient=users["qa"]).subject


@pytest.mark.parametrize("overrides,field", [
    ({"tissue": "liver"}, "tissue"),
    ({"received_at": timezone.now() - datetime.timedelta(days=3)}, "received_at"),
    ({"collected_at": timezone.now() + datetime.timedelta(hours=2),
      "received_at": timezone.now() + datetime.timedelta(hours=3)}, "collected_at"),
    ({"transport_temperature_c": "warm"}, "transport_temperature_c"),
    ({"transport_temperature_c": "-273"}, "transport_temperature_c"),
    ({"collected_at": "yesterday"}, "collected_at"),
])
def test_bad_collection_input_saves_nothing(users, overrides, field):
    consent = ConsentFactory()
    with pytest.raises(ValidationError) as exc:
        collect(users, consent.donor, **overrides)
    assert field in field_errors(exc)
    assert not Collection.objects.exists()


def test_collection_before_the_consent_was_signed_is_refused(users):
    consent = ConsentFactory(signed_on=timezone.localdate())
    with pytest.raises(ValidationError) as exc:
        collect(users, consent.donor, collected_at=timezone.now() - datetime.timedelta(days=5),
                received_at=timezone.now() - datetime.timedelta(days=5, hours=-2))
    assert "collected_at" in field_errors(exc)
