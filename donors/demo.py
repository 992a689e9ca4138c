"""Demo bank, donors step (baseline): donors with identity, consent, screening, HLA and collections.

ctx out: ``donors`` / ``collections`` (label → object), ``ethics`` (EthicsApproval).
Labels: ipsc, ipsc_patient, uc_msc, cord_blood, incomplete, ineligible.
"""

from __future__ import annotations

import datetime

from django.utils import timezone

from donors.choices import MATERNAL_TISSUES, ConsentScope
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
)

ALL_SCOPES = list(ConsentScope.values)
DONORS = [
    # label, code, sex, birth year, type, diagnosis, name, national id, tissue, scopes, panel, hla
    ("ipsc", "SBD-7K3Q9X", "F", 1988, "healthy", "", "王丽", "110101198803150021", "skin", ALL_SCOPES, "negative",
     ["A*02:07", "A*02:07", "B*46:01", "B*46:01", "C*01:02", "C*01:02", "DRB1*09:01", "DRB1*09:01",
      "DQB1*03:03", "DQB1*03:03"]),
    ("ipsc_patient", "SBD-M4R8TD", "M", 1975, "patient", "Parkinson's disease", "刘强", "310101197506220013",
     "peripheral_blood", ["research", "genetic_analysis", "recontact"], "negative",
     ["A*11:01", "A*24:02", "B*40:01", "B*15:01", "C*07:02", "C*03:04", "DRB1*04:05", "DRB1*15:01",
      "DQB1*04:01", "DQB1*06:02"]),
    ("uc_msc", "SBD-H2WV6N", "M", 2026, "healthy", "", "陈小宝", "440301202603010035", "umbilical_cord",
     ALL_SCOPES, "negative", None),
    ("cord_blood", "SBD-P9CJ5E", "F", 2026, "healthy", "", "赵安安", "510104202604110048", "cord_blood",
     ["research", "clinical", "data_sharing"], "negative",
     ["A*33:03", "A*33:03", "B*58:01", "B*58:01", "C*03:02", "C*03:02", "DRB1*03:01", "DRB1*03:01",
      "DQB1*02:01", "DQB1*02:01"]),
    ("incomplete", "SBD-Y6F3KA", "F", 1992, "healthy", "", "孙梅", "320102199207080026", "adipose",
     ["research"], "missing", None),
    ("ineligible", "SBD-B8N2QH", "M", 1969, "healthy", "", "周军", "420106196911300057", "bone_marrow",
     ALL_SCOPES, "positive", None),
]


def load(ctx: dict) -> None:
    coordinator = ctx["users"]["coordinator"]
    technician = ctx["users"]["technician"]
    today = timezone.localdate()
    ethics = EthicsApproval.objects.create(
        committee="Institutional Ethics Committee, Demo University Hospital", approval_number="IEC-2025-017",
        scope="Derivation, banking and distribution of human stem cell lines", valid_from=datetime.date(2025, 1, 1),
        valid_to=datetime.date(2028, 12, 31),
    )
    markers = list(ScreeningMarker.objects.filter(required=True))
    donors, collections = {}, {}
    for index, (label, code, sex, year, kind, diagnosis, name, nid, tissue, scopes, panel, hla) in enumerate(DONORS):
        donor = Donor.objects.create(code=code, sex=sex, birth_year=year, donor_type=kind, diagnosis=diagnosis,
                                     population="Han Chinese", registered_by=coordinator)
        DonorIdentity.objects.create(donor=donor, full_name=name, national_id=nid, phone=f"+86 139 0000 {index:04d}")
        consent = Consent.objects.create(donor=donor, form_version="ICF-2025-v3", scopes=scopes,
                                         signed_on=today - datetime.timedelta(days=120 - index * 10),
                                         recorded_by=coordinator)
        collected = timezone.now() - datetime.timedelta(days=110 - index * 10)
        collection = Collection.objects.create(
            code=f"COL-2026-{index + 1:04d}", donor=donor, consent=consent, ethics_approval=ethics, tissue=tissue,
            collected_at=collected, received_at=collected + datetime.timedelta(hours=5),
            transport_temperature_c=4, received_by=technician,
        )
        screening = Screening.objects.create(donor=donor, sample_drawn_on=collected.date(),
                                             maternal_sample=tissue in MATERNAL_TISSUES,
                                             laboratory="Demo Hospital Clinical Laboratory", recorded_by=coordinator)
        for marker in markers:
            if not marker.required_for(tissue) or (panel == "missing" and marker.code in ("hcv_nat", "syphilis")):
                continue
            result = "positive" if panel == "positive" and marker.code == "hbsag" else "negative"
            ScreeningResult.objects.create(screening=screening, marker=marker.code, result=result,
                                           recorded_by=coordinator)
        if hla:
            fields = ["a_1", "a_2", "b_1", "b_2", "c_1", "c_2", "drb1_1", "drb1_2", "dqb1_1", "dqb1_2"]
            HLATyping.objects.create(donor=donor, method="ngs", resolution="2-field", recorded_by=coordinator,
                                     typed_on=collected.date(), **dict(zip(fields, hla, strict=True)))
        donors[label], collections[label] = donor, collection
    ctx.update(donors=donors, collections=collections, ethics=ethics)
