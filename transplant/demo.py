"""The transplant part of the demo bank (issue 12), last step.

ctx in: ``users`` (the ``clinician`` and ``director`` demo users among them), the cord blood step's units when
it made some (``cord_blood_units``), else the released public units listed available in the database.
ctx out: ``transplant`` (centre, patients, typing request, reservation, shipped order, adverse event).

It shows a qualified centre with the ``clinician`` linked to it, three patients, a pending confirmatory typing,
a reserved unit, and a shipped unit with its thaw report, a follow-up due and an adverse event reported.
Everything goes through the transplant services. When the cord blood step left fewer than three available
units, the demo freezes its own (``_demo_units``: the smallest records a released, listed unit needs), so this
step never depends on tests.
"""

from __future__ import annotations

import datetime
import logging
from decimal import Decimal

from django.utils import timezone

from bank.demo import DEMO_USERS
from cordblood.choices import ListingStatus, Ownership
from cordblood.models import CordBloodUnit
from lots.choices import LotStatus
from transplant import services
from transplant.choices import AdverseEventKind, AdverseEventSeverity, DocumentItem
from transplant.services import safety

log = logging.getLogger(__name__)

PATIENT_HLA = {
    "TC01-0001": {"A": ["A*24:02", "A*11:01"], "B": ["B*52:01", "B*40:01"], "C": ["C*12:02", "C*07:02"],
                  "DRB1": ["DRB1*15:02", "DRB1*09:01"], "DQB1": ["DQB1*06:01", "DQB1*03:03"]},
    "TC01-0002": {"A": ["A*02:01", "A*11:01"], "B": ["B*46:01", "B*40:01"], "C": ["C*01:02", "C*07:02"],
                  "DRB1": ["DRB1*09:01", "DRB1*12:02"], "DQB1": ["DQB1*03:03", "DQB1*03:01"]},
    "TC01-0003": {"A": ["A*33:03", "A*02:07"], "B": ["B*58:01", "B*46:01"], "C": ["C*03:02", "C*01:02"],
                  "DRB1": ["DRB1*03:01", "DRB1*09:01"], "DQB1": ["DQB1*02:01", "DQB1*03:03"]},
}


def _available_units(ctx: dict) -> list[CordBloodUnit]:
    given = [u for u in ctx.get("cord_blood_units", {}).values() if isinstance(u, CordBloodUnit)] \
        if isinstance(ctx.get("cord_blood_units"), dict) else []
    pks = [u.pk for u in given]
    qs = CordBloodUnit.objects.filter(ownership=Ownership.PUBLIC, listing_status=ListingStatus.AVAILABLE,
                                      lot__status=LotStatus.RELEASED).select_related("lot")
    units = list(qs.filter(pk__in=pks).order_by("pk")) + list(qs.exclude(pk__in=pks).order_by("pk"))
    return [u for u in units if u.lot.vials.filter(kind="bag", status="available").exists()]


def _demo_units(ctx: dict, count: int) -> list[CordBloodUnit]:
    """Released public units for the demo when the cord blood step made none (demo data only)."""
    from cordblood.models import CollectionSite, InfantDonation
    from donors.models import Collection, Consent, Donor, HLATyping
    from lots.models import CellLine, Lot, Vial

    users = ctx["users"]
    coordinator, technician = users.get("coordinator"), users.get("technician")
    site, _created = CollectionSite.objects.get_or_create(code="HOSP-DEMO",
                                                          defaults={"name": "Demo Maternity Hospital"})
    hlas = [("A*24:02", "A*11:01", "B*52:01", "B*40:01", "DRB1*15:02", "DRB1*09:01"),
            ("A*24:02", "A*02:01", "B*52:01", "B*46:01", "DRB1*15:02", "DRB1*12:02"),
            ("A*02:01", "A*11:01", "B*46:01", "B*40:01", "DRB1*09:01", "DRB1*12:02"),
            ("A*33:03", "A*02:07", "B*58:01", "B*46:01", "DRB1*03:01", "DRB1*09:01")]
    made = []
    now = timezone.now()
    for i in range(count):
        n = CordBloodUnit.objects.count() + 1 + i
        a1, a2, b1, b2, d1, d2 = hlas[i % len(hlas)]
        born = now - datetime.timedelta(days=400 + 90 * i)
        mother = Donor.objects.create(code=f"SBD-TXM{n:04d}", sex="F", birth_year=1993, population="Han Chinese",
                                      donor_type="healthy")
        infant = Donor.objects.create(code=f"SBD-TXI{n:04d}", sex="M" if i % 2 else "F", birth_year=born.year,
                                      population="Han Chinese", donor_type="healthy")
        consent = Consent.objects.create(donor=infant, form_version="ICF-CB-2026", signed_on=born.date(),
                                         scopes=["research", "clinical"], recorded_by=coordinator)
        collection = Collection.objects.create(code=f"COL-TX{n:04d}", donor=infant, consent=consent,
                                               tissue="cord_blood", collected_at=born,
                                               received_at=born + datetime.timedelta(hours=5),
                                               transport_temperature_c=Decimal("20.0"), received_by=technician)
        HLATyping.objects.create(donor=infant, a_1=a1, a_2=a2, b_1=b1, b_2=b2, c_1="C*12:02", c_2="C*07:02",
                                 drb1_1=d1, drb1_2=d2, dqb1_1="DQB1*06:01", dqb1_2="DQB1*03:03", method="ngs",
                                 resolution="2-field", recorded_by=coordinator)
        donation = InfantDonation.objects.create(mother=mother, infant=infant, born_at=born, gestational_age_weeks=39,
                                                 birth_weight_g=3300, delivery_type="vaginal", site=site,
                                                 collection=collection, recorded_by=coordinator)
        tnc = 1_200_000_000 + 400_000_000 * i
        line = CellLine.objects.create(name=f"CBU-TX{n:04d}", collection=collection, donor=infant,
                                       cell_type="CB-HSC", grade="clinical", reprogramming_method="",
                                       subclone="", created_by=technician)
        frozen = born + datetime.timedelta(hours=30)
        lot = Lot.objects.create(cell_line=line, tier="unit", lot_number=f"CBU-TX-{n:04d}", barcode=f"SBCB{n:07d}",
                                 passage=0, vial_count=5, cells_per_vial=tnc, volume_ml=Decimal("25.0"),
                                 cryoprotectant="DMSO/Dextran", cryoprotectant_lot="DX-2025-07",
                                 frozen_on=frozen.date(), operator=technician, status=LotStatus.RELEASED)
        Vial.objects.bulk_create([Vial(lot=lot, number=k, barcode=f"{lot.barcode}-{k:04d}", kind=kind)
                                  for k, kind in enumerate(["bag", "segment", "segment", "reference_cells",
                                                            "reference_dna"], start=1)])
        made.append(CordBloodUnit.objects.create(
            donation=donation, din=f"W0000{timezone.localdate().year % 100:02d}9{n:05d}", ownership=Ownership.PUBLIC,
            collected_volume_ml=Decimal("98.0"), acceptance="accepted", processing_method="HES sedimentation",
            volume_pre_ml=Decimal("98.0"), volume_post_ml=Decimal("25.0"), tnc_pre=int(tnc * 1.25), tnc_post=tnc,
            cd34_post=4_000_000 + 1_000_000 * i, frozen_at=frozen, abo=["O", "A", "B", "O"][i % 4], rh="pos",
            lot=lot, listing_status=ListingStatus.AVAILABLE))
    return made


def load(ctx: dict) -> None:
    users = ctx["users"]
    clinician, director = users.get("clinician"), users.get("director")
    tech, qa = users["technician"], users["qa"]
    if clinician is None or director is None:
        log.warning("transplant demo: the clinician and director demo users are missing; skipped")
        return
    passwords = {username: password for username, _role, _name, password in DEMO_USERS}
    today = timezone.localdate()

    centre = services.save_centre(actor=qa, code="TC-01", name="Shanghai Children's Transplant Centre",
                                  city="Shanghai", accreditation_until=today + datetime.timedelta(days=540))
    services.link_clinician(clinician, centre, actor=qa)
    shipper = services.save_dry_shipper(actor=qa, code="DS-0007", description="MVE CryoShipper XC 20/3V",
                                        validated_until=today + datetime.timedelta(days=200))
    patients = {}
    for (code, hla), (diagnosis, weight) in zip(PATIENT_HLA.items(), [
            ("Acute lymphoblastic leukaemia", "18.5"), ("β-thalassaemia major", "24.0"),
            ("Severe aplastic anaemia", "41.0")], strict=True):
        patients[code] = services.register_patient(actor=clinician, code=code, diagnosis=diagnosis, weight_kg=weight,
                                                   abo="O", rh="pos", hla=hla)

    units = _available_units(ctx)
    if len(units) < 3:
        units += _demo_units(ctx, 4 - len(units))
    shipped_unit, reserved_unit, ct_unit = units[0], units[1], units[2]

    # A shipped, infused unit with its thaw report and the day-100 follow-up due (infused 90 days ago).
    first = patients["TC01-0001"]
    ct = services.request_typing(shipped_unit, first, actor=clinician)
    services.complete_typing(ct, alleles=_registration(shipped_unit), laboratory="Bank HLA lab", actor=tech)
    reservation = services.reserve_unit(shipped_unit, first, until=today + datetime.timedelta(days=30),
                                        actor=clinician)
    order = services.place_order(reservation, infusion_date=today, actor=clinician)
    services.release_order(order, actor=director, password=passwords["director"])
    order = services.ship_order(order, actor=tech, bag_barcode=order.bag.barcode, dry_shipper=shipper.code,
                                documents=list(DocumentItem.values), logger_name="DS-0007-logger.csv",
                                logger_content=b"time,celsius\n08:00,-186.1\n14:00,-184.7\n20:00,-183.2\n",
                                courier="World Courier")
    services.receive_order(order, actor=clinician, notes="Shipper at -184 °C on arrival.")
    infused = today - datetime.timedelta(days=90)
    services.record_thaw_report(order, actor=clinician, thawed_at=timezone.now() - datetime.timedelta(days=90),
                                viable_cd34_pct="86.5", viable_cd45_pct="71.0", cfu_growth=True,
                                identity_confirmed=True, infused_on=infused, adverse_events="")
    # The centre reports an adverse event after the infusion: QA and the director are alerted and decide on a
    # look-back or a recall of the unit's lot (then link the event to it on the order page).
    event = safety.report_adverse_event(
        order, actor=clinician, kind=AdverseEventKind.SUSPECTED_INFECTION, severity=AdverseEventSeverity.MODERATE,
        occurred_on=today, description="CMV reactivation at the day-90 review; maternal CMV IgG on file was "
                                       "negative. Asking the bank to culture a reference vial.")

    # A unit reserved for the second patient; a confirmatory typing pending for the third.
    second_reservation = services.reserve_unit(reserved_unit, patients["TC01-0002"],
                                               until=today + datetime.timedelta(days=21), actor=clinician)
    pending = services.request_typing(ct_unit, patients["TC01-0003"], actor=clinician)
    ctx["transplant"] = {"centre": centre, "patients": patients, "typing_request": pending,
                         "reservation": second_reservation, "shipped_order": order, "adverse_event": event}


def _registration(unit: CordBloodUnit) -> dict:
    typing = unit.donation.infant.hla
    return {locus: pair for locus, pair in typing.alleles().items() if all(pair)}
