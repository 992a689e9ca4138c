"""Demo bank, quality step (last): each dimension of quality management, with something to act on.

- SOPs approved by QA: culture (passage, freeze; version 2 in force since 20 days, version 1 superseded), QC testing
  (QC results) and shipping (ship). The demo's technician and QA are trained on the versions in force, so the demo
  bank keeps working; technician2's QC training has **expired** and qa2 was trained on the culture SOP's version 1
  only (**retraining** needed).
- Equipment: a cell counter and a controlled-rate freezer calibrated, a biosafety cabinet due soon, a flow cytometer
  **overdue**, the first storage unit's record.
- Environment: a grade B culture room (CR-2) and a grade A zone; results within limits, an alert, and today's
  **action excursion** in CR-2, which opens a deviation on the lots of the culture passaged there today.
- Materials: a medium and a cryoprotectant released, a vitronectin lot **expired**, a dissociation reagent in
  quarantine. The medium is cited by a passage recorded here and by a shipped lot (back-filled), so its forward trace
  reaches a researcher.

ctx in: ``users``. ctx out: ``quality`` with ``sops``, ``equipment`` and ``materials``.
"""

from __future__ import annotations

import datetime

from django.utils import timezone

from lots.choices import VialStatus
from lots.models import Culture, Vial
from lots.services import record_passage
from quality import gates, services
from quality.models import Material
from storage.models import StorageUnit

PASSWORDS = {"qa": "demo-qa"}


def _day(n: int) -> datetime.date:
    return timezone.localdate() + datetime.timedelta(days=n)


def load(ctx: dict) -> None:
    users = ctx["users"]
    qa = users["qa"]
    password = PASSWORDS["qa"]

    def approve(code, title, version, days, activities, summary=""):
        return services.approve_sop_version(actor=qa, code=code, title=title, version=version, effective_on=_day(days),
                                            activities=activities, password=password, summary=summary)

    culture_v1 = approve("SOP-CUL-001", "Passaging and cryopreserving hPSC and MSC", "1", -400, ["passage", "freeze"])
    culture_v2 = approve("SOP-CUL-001", "Passaging and cryopreserving hPSC and MSC", "2", -20, ["passage", "freeze"],
                         summary="Vitronectin replaced by Laminin-521; cooling profile updated.")
    qc_sop = approve("SOP-QC-001", "QC testing of cell lots", "1", -300, ["qc_result"])
    ship_sop = approve("SOP-SHP-001", "Shipping vials on dry ice", "1", -300, ["ship"])

    def train(user, version, trained, expires=None):
        return services.record_training(actor=qa, user=user, sop=version.sop.code, version=version.version,
                                        trained_on=_day(trained), expires_on=_day(expires) if expires else None,
                                        trainer="Wang Fang")

    technician, qa2 = users["technician"], users.get("qa2", qa)
    technician2 = users.get("technician2", technician)
    for user in {technician, qa}:
        train(user, culture_v2, -19, 345)
        train(user, qc_sop, -200, 165)
        train(user, ship_sop, -200, 165)
    train(technician2, culture_v2, -18, 347)
    train(technician2, ship_sop, -100, 14)  # expires within the reminder window: "due"
    train(technician2, qc_sop, -400, -35)  # the expired training
    train(qa2, culture_v1, -390, 300)  # trained on the superseded version only: retraining needed

    def instrument(code, name, kind, due, location, passed=True, unit=None):
        item = services.register_equipment(actor=qa, code=code, name=name, kind=kind, location=location,
                                           calibration_due_on=_day(due), storage_unit=unit)
        services.record_calibration(item, actor=qa, performed_on=_day(due - 365), passed=passed,
                                    next_due_on=_day(due), certificate=f"CAL-{code}-{_day(due - 365).year}")
        return item

    counter = instrument("CC-01", "Countess 3 cell counter", "cell_counter", 120, "Culture room 1")
    freezer = instrument("CRF-01", "CryoMed controlled-rate freezer", "controlled_rate_freezer", 200, "Cryo room")
    instrument("BSC-02", "Class II biosafety cabinet", "biosafety_cabinet", 12, "Culture room 2")
    cytometer = instrument("FC-01", "CytoFLEX flow cytometer", "flow_cytometer", -10, "QC laboratory")  # overdue
    unit = StorageUnit.objects.filter(equipment_record__isnull=True).order_by("pk").first()
    if unit is not None:
        instrument(f"LN2-{unit.pk:02d}", unit.name, "storage_unit", 90, "Cryo room", unit=unit)

    def receive(name, kind, lot, supplier, received, expires, release=True):
        item = services.receive_material(actor=qa, name=name, kind=kind, lot_number=lot, supplier=supplier,
                                         received_on=_day(received), expires_on=_day(expires),
                                         certificate=f"CoA {lot}")
        if release:
            item = services.release_material(item, actor=qa, password=password, inspection="CoA checked; seal intact")
        return item

    medium = receive("mTeSR Plus", "medium", "MT-2231", "STEMCELL Technologies", -60, 120)
    cryo = receive("CryoStor CS10", "cryoprotectant", "CS10-0042", "BioLife Solutions", -90, 300)
    expired = receive("Vitronectin XF", "reagent", "VN-2231", "STEMCELL Technologies", -200, -15)  # expired
    receive("TrypLE Select", "reagent", "TL-8810", "Thermo Fisher", -1, 365, release=False)  # awaits QA

    # Cleanrooms; a passage today in CR-2 citing the medium (through the gate), and the shipped lot's citations
    # back-filled.
    culture_room = services.register_cleanroom(actor=qa, code="CR-2", name="Culture room 2 (biosafety cabinets)",
                                               grade="B")
    services.register_cleanroom(actor=qa, code="CR-1A", name="Aseptic filling zone", grade="A")
    # A culture with a lot frozen from it still in use: the excursion below has a lot to open its deviation on.
    culture = (Culture.objects.filter(cell_line__cell_type__in=["iPSC", "ESC"],
                                      lots__status__in=["quarantine", "released"]).order_by("pk").first()
               or Culture.objects.filter(cell_line__cell_type__in=["iPSC", "ESC"]).order_by("pk").first())
    if culture is not None:
        record_passage(culture, passaged_on=timezone.localdate(), seeded_cells=1_000_000, harvested_cells=5_200_000,
                       viability_pct=95, split_ratio="1:6", medium="mTeSR Plus", medium_lot=medium.lot_number,
                       materials=[medium.pk], room=culture_room.code, actor=technician, reason="demo bank")
    shipped = Vial.objects.filter(status=VialStatus.SHIPPED).select_related("lot").order_by("pk").first()
    if shipped is not None:
        lot = shipped.lot
        gates.record_uses(lot, activity="freeze", used_on=lot.frozen_on, actor=lot.operator,
                          materials=[m for m in (medium, cryo) if m.received_on <= lot.frozen_on] or [medium, cryo],
                          equipment=freezer)
    # Monitoring: within limits last week, an alert, then today's action excursion in CR-2 (a deviation on the lots
    # of the culture passaged there today).
    for n, (parameter, value) in enumerate([("particles_0_5", 120_000), ("settle_plate", 1), ("active_air", 7)]):
        services.record_environment_result(culture_room, actor=qa, parameter=parameter, sampled_on=_day(-7 + n),
                                           value=value, location="BSC-2")
    excursion = services.record_environment_result(culture_room, actor=qa, parameter="settle_plate",
                                                   sampled_on=_day(0), value=8, location="BSC-2 left")
    ctx["quality"] = {"excursion": excursion, "sops": [culture_v2, qc_sop, ship_sop],
                      "equipment": [counter, freezer, cytometer],
                      "materials": list(Material.objects.filter(pk__in=[medium.pk, cryo.pk, expired.pk]))}
