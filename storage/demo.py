"""Demo bank, storage step: tanks, racks and boxes laid out, every lot put away, a day of readings.

ctx in: ``users``, ``lots``. ctx out: ``units`` and ``boxes`` (name → object).

Everything goes through the storage services, as at the bench. Lots still in quarantine when this
step runs go to the quarantine tank LN2-Q1, filled box after box (the first boxes full, the last one
partly free; the tank ends just past the capacity warning level). The two masters QA released in the
lots step go to a main tank; the QC step moves the lots it releases out of quarantine with
``storage.services.relocate_lot`` (all but one, left for a technician to move).
Readings cover the last 24 hours: LN2-Q1 had an excursion
(acknowledged and signed by QA), FRZ-80-01 is out of range now and LN2-02's sensor went silent.
"""

from __future__ import annotations

import datetime
import math
import random
from decimal import Decimal

from django.utils import timezone

from bank.demo import DEMO_USERS
from lots.models import Vial
from storage import services
from storage.choices import STORABLE_VIAL_STATUSES, lot_needs_quarantine
from storage.models import Alarm, Box
from storage.queries import find_space

MAIN_UNITS = [
    # name, kind, site, room, racks, boxes per rack, silent minutes
    ("LN2-01", "ln2_vapor", "Main site", "Cryo room 101", 4, 6, None),
    ("LN2-02", "ln2_vapor", "Mirror site", "Cryo room 201", 2, 4, 60),
    ("FRZ-80-01", "freezer_minus80", "Main site", "Lab 105", 2, 3, 15),
]
QUARANTINE_UNIT = ("LN2-Q1", "ln2_vapor", "Main site", "Quarantine room 103")
RANGES = {"ln2_vapor": (Decimal("-196"), Decimal("-150")), "freezer_minus80": (Decimal("-90"), Decimal("-70"))}
# The quarantine tank is sized so its fill ends a little past the warning level.
QUARANTINE_TARGET_FILL = 0.93
DEMO_PASSWORDS = {username: password for username, _role, _name, password in DEMO_USERS}


def _preset(r: int, b: int, kind: str) -> str:
    if kind == "freezer_minus80":
        return "5x5" if b == 3 else "9x9"
    return "9x9" if (r + b) % 2 else "10x10"


def _layout(name, kind, site, room, *, quarantine, admin, silent=None):
    low, high = RANGES[kind]
    return services.create_unit(actor=admin, name=name, kind=kind, site=site, room=room, quarantine=quarantine,
                                min_temperature_c=low, max_temperature_c=high, sensor_silent_minutes=silent,
                                reason="demo bank: storage layout")


def _readings(unit, *, start, end, every: datetime.timedelta, base: float, spread: float, rng, bumps=()):
    """A sensor's trace: a slow sine around ``base`` with noise, plus ``bumps`` (at, minutes, value)."""
    values, at = [], start
    while at <= end:
        value = base + spread * math.sin(at.timestamp() / 5400.0) + rng.uniform(-spread / 3, spread / 3)
        for bump_at, minutes, bump_value in bumps:
            if bump_at <= at < bump_at + datetime.timedelta(minutes=minutes):
                value = bump_value + rng.uniform(-1.5, 1.5)
        values.append((Decimal(f"{value:.2f}"), at))
        at += every
    return values


RACK_SCAN_BOX = "LN2-01-TR1"


def _rack_scan_demo(unit, *, admin, technician, boxes: dict) -> None:
    """A 96-tube rack (8 × 12) in LN2-01 holding twelve vials of a released master bank, racked there with one batch
    move: ``storage/samples/rackscan_demo_fluidx.csv`` is a scan of it to upload on the rack-scan page (two tubes
    swapped, one missing, one unreadable, one tube of another box and one the bank does not know)."""
    rack = unit.racks.order_by("position", "name").first()
    box = services.create_box(rack, actor=admin, name=RACK_SCAN_BOX, preset="custom", rows=8, cols=12,
                              reason="demo bank: a 2D-barcoded tube rack")
    boxes[box.name] = box
    vials = list(Vial.objects.filter(box__rack__unit=unit, status__in=STORABLE_VIAL_STATUSES)
                 .exclude(box=box).order_by("lot_id", "number")[:12])
    if vials:
        services.batch_move(vials, box, actor=technician, reason="demo bank: racked for the 2D rack scanner")


def load(ctx: dict) -> None:
    users = ctx["users"]
    admin, technician, sensor = users["admin"], users["technician"], users["sensor-tank"]
    units: dict = {}
    boxes: dict = {}
    for name, kind, site, room, racks, per_rack, silent in MAIN_UNITS:
        unit = units[name] = _layout(name, kind, site, room, quarantine=False, admin=admin, silent=silent)
        for r in range(1, racks + 1):
            rack = services.create_rack(unit, actor=admin, name=f"R{r}", capacity=per_rack + 2)
            for b in range(1, per_rack + 1):
                box = services.create_box(rack, actor=admin, name=f"{name}-R{r}-B{b}", preset=_preset(r, b, kind))
                boxes[box.name] = box

    # The quarantine tank: enough boxes for every lot waiting, filling it just past the warning level.
    all_lots = list(ctx.get("lots", {}).values())
    # Masters released by QA before their WCBs were frozen go to the main tanks; the rest wait in quarantine.
    released = [lot for lot in all_lots if not lot_needs_quarantine(lot.status)]
    lots = [lot for lot in all_lots if lot_needs_quarantine(lot.status)]
    waiting = Vial.objects.filter(lot__in=lots, box__isnull=True, status__in=STORABLE_VIAL_STATUSES).count()
    name, kind, site, room = QUARANTINE_UNIT
    q_unit = units[name] = _layout(name, kind, site, room, quarantine=True, admin=admin, silent=20)
    q_boxes, capacity, r = [], 0, 0
    target = max(int(math.ceil(waiting / QUARANTINE_TARGET_FILL)), 81)
    while capacity < target:
        r += 1
        rack = services.create_rack(q_unit, actor=admin, name=f"R{r}", capacity=6)
        for b in range(1, 7):
            left = target - capacity
            if left <= 0:
                break
            if left >= 100:
                box = services.create_box(rack, actor=admin, name=f"{name}-R{r}-B{b}", preset=_preset(r, b, kind))
            else:  # the last box: free-form, just big enough (10 columns, as many rows as needed)
                box = services.create_box(rack, actor=admin, name=f"{name}-R{r}-B{b}", preset="custom",
                                          cols=10, rows=min(max(math.ceil(left / 10), 1), 10))
            q_boxes.append(box)
            boxes[box.name] = box
            capacity += box.capacity
    for lot in lots:
        if Vial.objects.filter(lot=lot, box__isnull=True, status__in=STORABLE_VIAL_STATUSES).exists():
            services.store_lot(lot, q_boxes, actor=technician, reason="demo bank: stored after freezing")
    for lot in released:
        proposal = find_space(lot)
        if proposal.boxes:
            services.store_lot(lot, [item[0] for item in proposal.boxes], actor=technician,
                               reason="demo bank: released master bank stored in the main tank")

    # A few moves, so the chain of custody has more than one step.
    stored = list(Vial.objects.filter(box__in=q_boxes).select_related("box").order_by("box_id", "row", "col")[:3])
    last_box = Box.objects.get(pk=q_boxes[-1].pk)
    free = last_box.free_positions()
    if stored and free:
        vial = stored[0]
        home, row, col = Box.objects.get(pk=vial.box_id), vial.row, vial.col
        services.move_vial(vial, last_box, *free[-1], actor=users["technician2"], reason="Consolidating boxes")
        services.move_vial(vial, home, row, col, actor=technician, reason="Wrong position corrected")

    _rack_scan_demo(units["LN2-01"], admin=admin, technician=technician, boxes=boxes)

    # The tank gateway's account posts for the four monitored units, and only for them (sensor_not_bound).
    monitored = [units["LN2-01"], units["LN2-02"], q_unit, units["FRZ-80-01"]]
    for unit in monitored:
        services.bind_sensors(unit, [sensor.username], actor=admin, reason="demo bank: tank gateway installed")
    # A day of readings: one every 10 minutes per unit.
    rng = random.Random(5)  # noqa: S311 — demo data
    now = timezone.now().replace(second=0, microsecond=0)
    day_ago = now - datetime.timedelta(hours=24)
    every = datetime.timedelta(minutes=10)
    services.record_readings(units["LN2-01"], _readings(units["LN2-01"], start=day_ago, end=now, every=every,
                                                        base=-186.0, spread=2.5, rng=rng), actor=sensor)
    # LN2-02: the sensor stopped two hours ago.
    services.record_readings(units["LN2-02"], _readings(units["LN2-02"], start=day_ago,
                                                        end=now - datetime.timedelta(hours=2), every=every,
                                                        base=-183.0, spread=2.0, rng=rng), actor=sensor)
    # LN2-Q1: the lid stayed open during a top-up five hours ago.
    lid_open = now - datetime.timedelta(hours=5)
    services.record_readings(q_unit, _readings(q_unit, start=day_ago, end=now, every=every, base=-184.0, spread=2.5,
                                               rng=rng, bumps=[(lid_open, 30, -141.0)]), actor=sensor)
    # FRZ-80-01: the door has been ajar for the last half hour.
    freezer = units["FRZ-80-01"]
    services.record_readings(freezer, _readings(freezer, start=day_ago, end=now, every=every, base=-80.0,
                                                spread=2.0, rng=rng,
                                                bumps=[(now - datetime.timedelta(minutes=30), 31, -66.0)]),
                             actor=sensor)
    excursion = Alarm.objects.get(unit=q_unit, kind="excursion")
    services.acknowledge_alarm(
        excursion, actor=users["qa"], password=DEMO_PASSWORDS["qa"],
        reason="Lid left open during the LN2 top-up; back below -150 °C within 30 minutes. Vials stayed in "
               "vapour phase below -130 °C: no impact expected, noted for each lot's release review.",
    )
    services.raise_silent_sensor_alarms(actor=None)
    ctx.update(units=units, boxes=boxes)
