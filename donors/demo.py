"""Demo bank, donors step: donors registered, consented, screened, typed and collected through the services.

ctx in: ``users``. ctx out: ``donors`` / ``collections`` (label → object), ``ethics`` (EthicsApproval in force).
Labels with a collection: ipsc, ipsc_patient, uc_msc, cord_blood (the lots step derives lines from these),
incomplete (two markers missing, transport over the limit), ineligible (HBsAg positive).
Donors without a collection: awaiting (registered, no consent yet), withdrawn (consent withdrawn).

Issue 15: the approvals are dated from today (the main one covers every demo collection, an older one expired);
the umbilical cord was collected under a pilot approval the committee later withdrew, so the line the lots step
derives from it is flagged for QA on the dashboard. The cord blood collection has its chain of custody; the
umbilical cord's courier leg ran warm (outside the tissue's 2–8 °C): qc has a deviation for it.
"""

from __future__ import annotations

import datetime

from django.utils import timezone

from donors import services
from donors.choices import MATERNAL_TISSUES, ConsentScope
from donors.models import ScreeningMarker

ALL_SCOPES = list(ConsentScope.values)
FIELDS = ["A", "B", "C", "DRB1", "DQB1"]
DONORS = [
    # label, sex, birth year, type, diagnosis, name, national id, tissue, scopes, panel, hla (A A B B C C DRB1 ...)
    ("ipsc", "F", 1988, "healthy", "", "王丽", "110101198803150021", "skin", ALL_SCOPES, "negative",
     ["A*02:07", "A*02:07", "B*46:01", "B*46:01", "C*01:02", "C*01:02", "DRB1*09:01", "DRB1*09:01",
      "DQB1*03:03", "DQB1*03:03"]),
    ("ipsc_patient", "M", 1975, "patient", "Parkinson's disease", "刘强", "310101197506220013",
     "peripheral_blood", ["research", "genetic_analysis", "recontact"], "corrected",
     ["A*11:01", "A*24:02", "B*40:01", "B*15:01", "C*07:02", "C*03:04", "DRB1*04:05", "DRB1*15:01",
      "DQB1*04:01", "DQB1*06:02"]),
    ("uc_msc", "M", 2026, "healthy", "", "陈小宝", "440301202603010035", "umbilical_cord", ALL_SCOPES, "negative",
     None),
    ("cord_blood", "F", 2026, "healthy", "", "赵安安", "510104202604110048", "cord_blood",
     ["research", "clinical", "data_sharing"], "negative",
     ["A*33:03", "A*33:03", "B*58:01", "B*58:01", "C*03:02", "C*03:02", "DRB1*03:01", "DRB1*03:01",
      "DQB1*02:01", "DQB1*02:01"]),
    ("incomplete", "F", 1992, "healthy", "", "孙梅", "320102199207080026", "adipose", ["research"], "missing",
     ["A*24", "A*02", "B*51", "B*35", "C*14", "C*03", "DRB1*08", "DRB1*12", "DQB1*06", "DQB1*03"]),
    ("ineligible", "M", 1969, "healthy", "", "周军", "420106196911300057", "bone_marrow", ALL_SCOPES, "positive",
     None),
]


def _hla(values: list[str]) -> dict[str, list[str]]:
    return {locus: values[i * 2:i * 2 + 2] for i, locus in enumerate(FIELDS)}


def load(ctx: dict) -> None:
    coordinator = ctx["users"]["coordinator"]
    technician = ctx["users"]["technician"]
    today = timezone.localdate()
    # Dated from today, so every demo collection (the cord blood step's go back about two years) is covered.
    services.create_ethics_approval(
        actor=coordinator, committee="Institutional Ethics Committee, Demo University Hospital",
        approval_number="IEC-2022-004", scope="Banking of umbilical cord and cord blood (expired)",
        valid_from=datetime.date(today.year - 5, 1, 1), valid_to=datetime.date(today.year - 3, 12, 31),
    )
    ethics = services.create_ethics_approval(
        actor=coordinator, committee="Institutional Ethics Committee, Demo University Hospital",
        approval_number="IEC-2025-017", scope="Derivation, banking and distribution of human stem cell lines",
        valid_from=datetime.date(today.year - 2, 1, 1), valid_to=datetime.date(today.year + 2, 12, 31),
    )
    pilot = services.create_ethics_approval(
        actor=coordinator, committee="Institutional Ethics Committee, Demo University Hospital",
        approval_number="IEC-2025-031", scope="Pilot: umbilical cord MSC derivation from caesarean deliveries",
        valid_from=datetime.date(today.year - 1, 1, 1), valid_to=datetime.date(today.year + 1, 12, 31),
    )
    markers = list(ScreeningMarker.objects.filter(required=True))
    donors, collections = {}, {}
    for index, (label, sex, year, kind, diagnosis, name, nid, tissue, scopes, panel, hla) in enumerate(DONORS):
        donor = services.register_donor(
            actor=coordinator, sex=sex, birth_year=year, donor_type=kind, diagnosis=diagnosis,
            population="Han Chinese", identity={"full_name": name, "national_id": nid,
                                                "phone": f"+86 139 0000 {index:04d}"})
        services.record_consent(donor, actor=coordinator, form_version="ICF-2025-v3", scopes=scopes,
                                signed_on=today - datetime.timedelta(days=120 - index * 10))
        collected = timezone.now() - datetime.timedelta(days=110 - index * 10)
        # The adipose sample waited over a weekend: received past the transport limit, flagged for QA.
        hours = 52 if label == "incomplete" else 5
        collection = services.record_collection(
            actor=technician, donor=donor, tissue=tissue, collected_at=collected,
            received_at=collected + datetime.timedelta(hours=hours), transport_temperature_c=4,
            ethics_approval=pilot if label == "uc_msc" else ethics,
        )
        _custody(label, collection, technician)
        results = []
        for marker in markers:
            if not marker.required_for(tissue) or (panel == "missing" and marker.code in ("hcv_nat", "syphilis")):
                continue
            positive = (panel == "positive" and marker.code == "hbsag") or (
                panel == "corrected" and marker.code == "hcv_ab")
            results.append({"marker": marker.code, "result": "positive" if positive else "negative"})
        screening = services.record_screening(
            donor, actor=coordinator, sample_drawn_on=collected.date(), maternal_sample=tissue in MATERNAL_TISSUES,
            laboratory="Demo Hospital Clinical Laboratory", results=results)
        if panel == "corrected":
            wrong = screening.results.get(marker="hcv_ab")
            services.correct_result(wrong, actor=coordinator, result="negative",
                                    reason="Transcription error: laboratory report HCV-2026-0412 reads non-reactive")
        if hla:
            services.set_hla(donor, actor=coordinator, alleles=_hla(hla), method="ngs" if ":" in hla[0] else "sso",
                             typed_on=collected.date())
        donors[label], collections[label] = donor, collection

    donors["awaiting"] = services.register_donor(
        actor=coordinator, sex="F", birth_year=1996, donor_type="healthy", population="Hui",
        identity={"full_name": "马晓燕", "national_id": "640104199605200044", "phone": "+86 139 0000 0100"})
    withdrawn = services.register_donor(
        actor=coordinator, sex="M", birth_year=1983, donor_type="healthy", population="Han Chinese",
        identity={"full_name": "黄建国", "national_id": "350102198309090031", "phone": "+86 139 0000 0101"})
    consent = services.record_consent(withdrawn, actor=coordinator, form_version="ICF-2025-v3", scopes=ALL_SCOPES,
                                      signed_on=today - datetime.timedelta(days=60))
    services.withdraw_consent(consent, actor=coordinator,
                              reason="Donor's written request of " + f"{today - datetime.timedelta(days=5):%Y-%m-%d}")
    donors["withdrawn"] = withdrawn
    # The committee withdrew the pilot after the umbilical cord was collected under it: QA reviews the line.
    services.withdraw_ethics_approval(
        pilot, actor=coordinator, withdrawn_on=today - datetime.timedelta(days=10),
        reason="Committee letter IEC-2025-031/W of " + f"{today - datetime.timedelta(days=12):%Y-%m-%d}"
               + ": pilot closed early, annual progress report not filed")
    ctx.update(donors=donors, collections=collections, ethics=ethics)


def _custody(label: str, collection, technician) -> None:
    """The hand-overs of two collections, as typed from their transport forms."""
    at = collection.collected_at
    if label == "cord_blood":
        legs = [("Midwife Zhou Li", "Courier Wu Gang (Demo Cold Chain)", 0.5,
                 "Delivery room 3, Demo Maternity Hospital", "18.5", "Bag sealed, sample tubes attached"),
                ("Courier Wu Gang (Demo Cold Chain)", "Reception, Demo Stem Cell Bank", 4.5, "Bank goods-in dock",
                 "16.0", "")]
    elif label == "uc_msc":
        legs = [("Dr. Hu Ping (obstetrics)", "Courier Ma Jun (Demo Cold Chain)", 0.4, "Operating theatre 2",
                 "4.0", "In transport medium, cool box with ice packs"),
                ("Courier Ma Jun (Demo Cold Chain)", "Reception, Demo Stem Cell Bank", 4.6, "Bank goods-in dock",
                 "11.5", "Cool box lid found unlatched on arrival")]
    else:
        return
    for handed_by, received_by, hours, location, temperature, note in legs:
        services.record_handover(collection, actor=technician, handed_by=handed_by, received_by=received_by,
                                 at=at + datetime.timedelta(hours=hours), location=location,
                                 temperature_c=temperature, note=note)
