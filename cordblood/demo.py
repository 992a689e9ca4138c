"""The cordblood part of the demo bank (issue 12), every record made through the services.

ctx in: ``users``. ctx out: ``cordblood`` with ``available`` (4 released public units listed available, each
infant HLA-typed: the transplant step reserves and ships some of them), ``temporarily_unavailable``,
``family`` (units with contracts), ``twins``, ``discarded``, ``pending``, ``accepted``, ``quarantine``.

What the demo shows:
- two collection sites with their collectors;
- mothers with their identity, one with twins, one with a second child two years after her first;
- public units released and listed, one temporarily unavailable, one destroyed, one still in quarantine;
- family units under contract (one paid and renewed, one whose owner asked for its release);
- collections discarded (clotted, low volume), one diverted to research, one awaiting acceptance, one
  accepted and processed, waiting to be frozen.
"""

from __future__ import annotations

import datetime
import itertools

from django.conf import settings
from django.utils import timezone

from bank.errors import DomainError
from cordblood import services
from donors.models import ScreeningMarker
from donors.services import record_consent, set_hla

HLA = [
    # The first three match the transplant step's demo patients (TC01-0001 … 0003): it reserves and ships them.
    {"A": ["A*24:02", "A*11:01"], "B": ["B*52:01", "B*40:01"], "C": ["C*12:02", "C*07:02"],
     "DRB1": ["DRB1*15:02", "DRB1*09:01"], "DQB1": ["DQB1*06:01", "DQB1*03:03"]},
    {"A": ["A*02:01", "A*11:01"], "B": ["B*46:01", "B*40:01"], "C": ["C*01:02", "C*07:02"],
     "DRB1": ["DRB1*09:01", "DRB1*12:02"], "DQB1": ["DQB1*03:03", "DQB1*03:01"]},
    {"A": ["A*33:03", "A*02:07"], "B": ["B*58:01", "B*46:01"], "C": ["C*03:02", "C*01:02"],
     "DRB1": ["DRB1*03:01", "DRB1*09:01"], "DQB1": ["DQB1*02:01", "DQB1*03:03"]},
    {"A": ["A*02:01", "A*24:02"], "B": ["B*46:01", "B*40:01"], "C": ["C*01:02", "C*03:04"],
     "DRB1": ["DRB1*09:01", "DRB1*15:01"], "DQB1": ["DQB1*03:03", "DQB1*06:02"]},
    {"A": ["A*11:01", "A*33:03"], "B": ["B*58:01", "B*13:01"], "C": ["C*03:02", "C*07:02"],
     "DRB1": ["DRB1*03:01", "DRB1*12:02"], "DQB1": ["DQB1*02:01", "DQB1*03:01"]},
    {"A": ["A*24:02", "A*11:01"], "B": ["B*15:01", "B*51:01"], "C": ["C*04:01", "C*14:02"],
     "DRB1": ["DRB1*04:05", "DRB1*08:03"], "DQB1": ["DQB1*04:01", "DQB1*06:01"]},
    {"A": ["A*02:07", "A*30:01"], "B": ["B*46:01", "B*13:02"], "C": ["C*01:02", "C*06:02"],
     "DRB1": ["DRB1*07:01", "DRB1*09:01"], "DQB1": ["DQB1*02:02", "DQB1*03:03"]},
    {"A": ["A*02:01", "A*11:01"], "B": ["B*40:01", "B*54:01"], "C": ["C*01:02", "C*07:02"],
     "DRB1": ["DRB1*15:01", "DRB1*04:06"], "DQB1": ["DQB1*06:02", "DQB1*03:02"]},
    {"A": ["A*33:03", "A*02:03"], "B": ["B*58:01", "B*38:02"], "C": ["C*03:02", "C*07:02"],
     "DRB1": ["DRB1*03:01", "DRB1*16:02"], "DQB1": ["DQB1*02:01", "DQB1*05:02"]},
]


def _required_markers() -> list[str]:
    return [m.code for m in ScreeningMarker.objects.filter(required=True) if m.required_for("cord_blood")]


class _Demo:
    def __init__(self, ctx: dict) -> None:
        users = ctx["users"]
        self.coordinator, self.tech, self.tech2 = users["coordinator"], users["technician"], users["technician2"]
        self.qa, self.qa2 = users["qa"], users["qa2"]
        self.markers = _required_markers()
        self.hla = itertools.cycle(HLA)
        self.ids = iter(range(1, 100))

    def mother(self, name: str, birth_year: int):
        mother = services.register_mother(actor=self.coordinator, birth_year=birth_year, population="Han Chinese",
                                          identity={"full_name": name, "national_id":
                                                    f"3301061{birth_year}0315{next(self.ids):03d}"})
        record_consent(mother, actor=self.coordinator, form_version="CB-MATERNAL-v2",
                       signed_on=timezone.localdate() - datetime.timedelta(days=800),
                       scopes=["clinical", "data_sharing"])
        return mother

    def donate(self, mother, site, *, days_ago: float, order: int = 1, sex: str = "F", ownership: str = "public",
               scopes=("clinical", "data_sharing", "research"), volume: str = "96.0", screen: bool = True):
        born = timezone.now() - datetime.timedelta(days=days_ago)
        donation = services.register_infant_donation(
            mother, actor=self.coordinator, sex=sex, born_at=born, gestational_age_weeks=39 if order == 1 else 37,
            birth_weight_g=3350 if order == 1 else 2650, delivery_type="vaginal" if order == 1 else "caesarean",
            site=site, collector=site.collectors.first(), birth_order=order,
            questionnaire={"maternal_infection_in_pregnancy": "no", "family_blood_disease": "no",
                           "family_immune_disease": "no", "family_genetic_disease": "no"},
            consent_form_version="CB-ICF-2025-v3", consent_scopes=list(scopes),
            received_at=born + datetime.timedelta(hours=4), ownership=ownership, collected_volume_ml=volume)
        if screen and order == 1:
            services.record_maternal_screening(donation, actor=self.coordinator,
                                               sample_drawn_on=timezone.localtime(born).date(),
                                               results={m: "negative" for m in self.markers},
                                               laboratory="Provincial maternal screening lab")
        return donation

    def typed(self, donation):
        set_hla(donation.infant, actor=self.coordinator, alleles=next(self.hla), method="ngs", resolution="2-field",
                typed_on=timezone.localtime(donation.born_at).date() + datetime.timedelta(days=10),
                laboratory="Bank HLA laboratory")

    def accepted(self, donation, tnc: int = 1_650_000_000):
        volume = donation.unit.collected_volume_ml or "96.0"
        return services.accept_unit(donation.unit, actor=self.tech, collected_volume_ml=volume, tnc=tnc)

    def processed(self, unit, *, tnc_post: int = 1_380_000_000, abo: str = "O", rh: str = "pos"):
        collected = unit.donation.collection.collected_at
        return services.record_processing(
            unit, actor=self.tech, method="HES sedimentation (Sepax 2)",
            started_at=collected + datetime.timedelta(hours=6), ended_at=collected + datetime.timedelta(hours=8),
            volume_pre_ml=unit.collected_volume_ml, volume_post_ml="25.0", tnc_pre=unit.tnc_pre, tnc_post=tnc_post,
            cd34_post=tnc_post // 300, nrbc_pct="6.8", hct_pct="56.0", equipment="Sepax 2 S-100 #2",
            reagent_lots=[{"name": "HES 6 %", "lot": "HES-2509"}, {"name": "DMSO/Dextran 40", "lot": "CP-2511"}],
            abo=abo, rh=rh)

    def frozen(self, donation, **kwargs):
        tnc_post = kwargs.get("tnc_post", 1_380_000_000)
        unit = self.processed(self.accepted(donation, tnc=tnc_post * 6 // 5), **kwargs)
        return services.freeze_unit(unit, actor=self.tech2, frozen_at=donation.collection.collected_at
                                    + datetime.timedelta(hours=20), cryoprotectant_lot="CP-2511")

    def released(self, unit):
        """QC results entered by a technician, the lot released by QA (qc's own demo helpers)."""
        from qc.demo import _enter_panel, _release

        try:
            _enter_panel(unit.lot, self.tech, thaw=False)
            _release(unit.lot, self.qa)
        except (DomainError, KeyError):
            return unit  # the QC panel of units changed: left in quarantine for QA
        unit.refresh_from_db()
        unit.lot.refresh_from_db()
        return unit

    def listed(self, unit):
        if unit.lot.status == "released":
            return services.set_listing(unit, "available", actor=self.qa2)
        return unit


def _store_units(admin, technician) -> None:
    """Two cord blood tanks (quarantine and release) with canisters of 5 x 5 boxes; every frozen unit's bag,
    segments, reference vials and maternal samples are stored through storage's own service, so the box map
    shows what each container is."""
    from lots.choices import LotStatus
    from lots.models import Lot
    from storage import services as storage

    low, high = -196, -150
    tanks = {}
    for name, quarantine in (("CB-Q1", True), ("CB-01", False)):
        unit = storage.create_unit(actor=admin, name=name, kind="ln2_vapor", min_temperature_c=low,
                                   max_temperature_c=high, quarantine=quarantine, site="Cord blood bank",
                                   room="B1-02", reason="demo bank: cord blood tanks")
        rack = storage.create_rack(unit, actor=admin, name=f"{name}-C1", reason="demo bank: cord blood tanks")
        tanks[quarantine] = [storage.create_box(rack, actor=admin, name=f"{name}-C1-B{b}", preset="5x5",
                                                reason="demo bank: cord blood tanks") for b in range(1, 5)]
        now = timezone.now()
        storage.record_readings(unit, [(-187 + (i % 3) * 0.4, now - datetime.timedelta(minutes=5 * i))
                                       for i in range(12, 0, -1)], actor=admin)
    for lot in Lot.objects.filter(tier="unit", vials__box__isnull=True).distinct().order_by("pk"):
        if lot.status not in (LotStatus.QUARANTINE, LotStatus.RELEASED):
            continue
        try:
            storage.store_lot(lot, tanks[lot.status == LotStatus.QUARANTINE], actor=technician,
                              reason="demo bank: unit stored after freezing")
        except DomainError:
            continue  # a full demo tank: the unit waits for space, as on a busy day


def load(ctx: dict) -> None:
    demo = _Demo(ctx)
    coordinator = demo.coordinator
    north = services.create_site(actor=coordinator, code="HOSP-01", name="Zhejiang Provincial Maternity Hospital",
                                 city="Hangzhou", agreement_until=timezone.localdate() + datetime.timedelta(days=700))
    south = services.create_site(actor=coordinator, code="HOSP-02", name="Ningbo Women and Children's Hospital",
                                 city="Ningbo", agreement_until=timezone.localdate() + datetime.timedelta(days=300))
    services.add_collector(north, actor=coordinator, name="Midwife Chen Li",
                           trained_on=timezone.localdate() - datetime.timedelta(days=900))
    services.add_collector(north, actor=coordinator, name="Nurse Xu Ting",
                           trained_on=timezone.localdate() - datetime.timedelta(days=400))
    services.add_collector(south, actor=coordinator, name="Midwife Ma Yan",
                           trained_on=timezone.localdate() - datetime.timedelta(days=600))

    out: dict = {"available": [], "family": [], "twins": [], "discarded": []}
    # Public units, released and listed; their infants are HLA-typed (the transplant step searches them).
    mothers = [demo.mother(name, year) for name, year in (
        ("Wang Xiaoli", 1991), ("Zhao Min", 1994), ("Sun Yue", 1989), ("He Jia", 1996))]
    for i, mother in enumerate(mothers):
        donation = demo.donate(mother, north if i % 2 == 0 else south, days_ago=60 + 10 * i)
        demo.typed(donation)
        unit = demo.listed(demo.released(demo.frozen(donation, tnc_post=1_300_000_000 + 150_000_000 * i,
                                                     abo="OABO"[i] if i < 3 else "AB", rh="pos")))
        out["available"].append(unit)
    # Mother 1's second child, two years later (a later pregnancy), also public.
    later = demo.donate(mothers[0], north, days_ago=20)
    demo.typed(later)
    out["later_pregnancy"] = demo.released(demo.frozen(later))
    # Twins of one mother: both frozen, one released and temporarily unavailable (re-testing).
    twin_mother = demo.mother("Lin Na", 1992)
    first = demo.donate(twin_mother, south, days_ago=40, order=1, sex="M")
    second = demo.donate(twin_mother, south, days_ago=40 - 0.01, order=2, sex="F")
    for twin in (first, second):
        demo.typed(twin)
    first_unit = demo.released(demo.frozen(first, tnc_post=950_000_000))
    second_unit = demo.frozen(second, tnc_post=900_000_000)
    if first_unit.lot.status == "released":
        first_unit = services.set_listing(first_unit, "temporarily_unavailable", reason="Segment re-test of CFU",
                                          until=timezone.localdate() + datetime.timedelta(days=14), actor=demo.qa)
    out["twins"] = [first_unit, second_unit]
    out["temporarily_unavailable"] = first_unit
    out["quarantine"] = second_unit
    # A released unit destroyed after a bag crack was found at a storage audit.
    crack = demo.donate(demo.mother("Guo Hong", 1990), north, days_ago=120)
    cracked = demo.released(demo.frozen(crack))
    if cracked.lot.status == "released":
        cracked = services.set_listing(cracked, "destroyed", reason="Bag crack found at storage audit",
                                       actor=demo.qa)
    out["destroyed"] = cracked

    # Family units under contract.
    today = timezone.localdate()
    family_mother = demo.mother("Xu Jing", 1993)
    family = demo.released(demo.frozen(demo.donate(family_mother, north, days_ago=400, ownership="family",
                                                   scopes=("clinical",))))
    contract = services.create_contract(family, actor=coordinator, number="FS-2025-0001",
                                        signed_on=today - datetime.timedelta(days=420),
                                        paid_until=today - datetime.timedelta(days=55), initial_fee="5800",
                                        annual_fee="680")
    services.record_payment(contract, actor=coordinator, paid_on=today - datetime.timedelta(days=60), amount="680",
                            covers_until=today + datetime.timedelta(days=310), note="annual renewal")
    out["family"].append(family)
    second_family = demo.released(demo.frozen(demo.donate(demo.mother("Tang Li", 1988), south, days_ago=700,
                                                          ownership="family", scopes=("clinical",))))
    contract = services.create_contract(second_family, actor=coordinator, number="FS-2024-0117",
                                        signed_on=today - datetime.timedelta(days=720),
                                        paid_until=today + datetime.timedelta(days=1100), initial_fee="16000",
                                        annual_fee="0")
    services.request_release(contract, actor=coordinator,
                             note="For her elder son's transplant (thalassaemia major) at the provincial centre")
    out["family"].append(second_family)

    # Collections that were not banked.
    clotted = demo.donate(demo.mother("Feng Yu", 1995), south, days_ago=15)
    out["discarded"].append(services.discard_unit(clotted.unit, actor=demo.tech, reason="clotted",
                                                  note="Large clot at the bag port"))
    small = demo.donate(demo.mother("Deng Qian", 1997), north, days_ago=12, volume="38.0")
    out["discarded"].append(services.discard_unit(
        small.unit, actor=demo.tech, reason="low_volume",
        note=f"38 mL, below the {settings.CORDBLOOD_MIN_VOLUME_ML} mL threshold"))
    research = demo.donate(demo.mother("Cao Lan", 1992), north, days_ago=9, volume="45.0")
    out["research"] = services.divert_to_research(research.unit, actor=demo.tech,
                                                  note="Below threshold; consented to research")
    # Today's work: one awaiting acceptance, one accepted and processed, waiting for the freezer.
    pending = demo.donate(demo.mother("Luo Ying", 1994), north, days_ago=0.2)
    out["pending"] = pending.unit
    waiting = demo.donate(demo.mother("Jiang Wen", 1991), south, days_ago=0.5)
    out["accepted"] = demo.processed(demo.accepted(waiting))
    _store_units(ctx["users"]["admin"], demo.tech2)
    ctx["cordblood"] = out
    # What the transplant step looks for: the listed public units, in order.
    ctx["cord_blood_units"] = {f"available_{i}": unit for i, unit in enumerate(out["available"], start=1)}
