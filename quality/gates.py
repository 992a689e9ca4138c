"""The gates on bench work (issue 16): the ``activity_gate`` receiver (bank.registry).

Upstream services (donors: collection receipt; lots: passage, freeze, thaw; qc: QC result; storage: storage move;
distribution: ship) announce ``activity_gate`` once, inside their transaction, after their record exists. The gate
refuses, in this order:

1. ``training_required`` (409, with ``sop``): an approved SOP version in force on the activity's date governs the
   activity, and the actor has no training on that version valid that day (a new version needs retraining);
2. ``equipment_not_calibrated`` (409, with ``equipment``): the cited instrument is past its calibration due date on
   that day, or its last calibration failed, or it is retired;
3. ``material_not_released`` / ``material_expired`` (409, with ``materials``): a cited material lot is not released
   by QA, or expired before the date of use.

Adoption step by step: a gate applies only where its governing record exists — no SOP governs the activity, no
instrument or material is cited: allowed — unless a setting makes it required (``QUALITY_REQUIRE_SOP_FOR``,
``QUALITY_REQUIRE_INSTRUMENT``, ``QUALITY_REQUIRE_MATERIALS``). An instrument that names no equipment is refused
with 400 on a freeze (which keeps no instrument text of its own) and kept as text on a QC result; an unknown
material id is a 400. What passes is recorded (``InstrumentUse``, ``MaterialUse``) for the forward trace.
"""

from __future__ import annotations

import datetime
from collections.abc import Iterable
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext as _

from bank.audit import bulk_create_audited
from bank.errors import Conflict
from bank.parsing import whole_number
from quality.choices import Activity, MaterialStatus
from quality.models import (
    Cleanroom,
    Equipment,
    InstrumentUse,
    Material,
    MaterialUse,
    RoomUse,
    SOPVersion,
    Training,
)

# Activities that may cite an instrument / material lots (API.md "Quality management").
INSTRUMENT_ACTIVITIES = (Activity.QC_RESULT, Activity.FREEZE)
MATERIAL_ACTIVITIES = (Activity.PASSAGE, Activity.FREEZE)


def _day(on: Any) -> datetime.date:
    if isinstance(on, datetime.datetime):
        return timezone.localtime(on).date() if timezone.is_aware(on) else on.date()
    if isinstance(on, datetime.date):
        return on
    return timezone.localdate()


def versions_in_force(activity: str, day: datetime.date) -> list[SOPVersion]:
    """The SOP versions governing ``activity`` on ``day``: of every SOP, the latest version effective by then, when
    it names the activity. One query over the versions effective by that day (a bank's SOPs number in the hundreds;
    read in Python so the embedded SQLite answers the same: no JSON containment or DISTINCT ON)."""
    from quality.queries import versions_in_force_today

    return [version for version in versions_in_force_today(day) if activity in (version.activities or [])]


def missing_trainings(user, activity: str, day: datetime.date) -> list[SOPVersion]:
    """The versions in force for ``activity`` on ``day`` on which ``user`` has no training valid that day."""
    governing = versions_in_force(activity, day)
    if not governing:
        return []
    trained = set(Training.objects.filter(user=user, sop_version__in=governing, trained_on__lte=day)
                  .filter(Q(expires_on__isnull=True) | Q(expires_on__gte=day))
                  .values_list("sop_version_id", flat=True))
    return [version for version in governing if version.pk not in trained]


def check_training(actor, activity: str, day: datetime.date) -> None:
    label = Activity(activity).label if activity in Activity.values else activity
    if actor is None or not getattr(actor, "pk", None):
        return  # a system job (a beat task) is no person to train
    missing = missing_trainings(actor, activity, day)
    if missing:
        version = missing[0]
        raise Conflict(
            _("%(user)s has no current training on %(sop)s version %(version)s, which governs %(activity)s on "
              "%(day)s. Record the training (or retraining on the new version) before doing this work.")
            % {"user": actor.get_username(), "sop": version.sop.code, "version": version.version,
               "activity": str(label).lower(), "day": day.isoformat()},
            code="training_required", sop=version.sop.code, version=version.version,
            sops=[f"{v.sop.code} v{v.version}" for v in missing])
    required = getattr(settings, "QUALITY_REQUIRE_SOP_FOR", ())
    if activity in required and not versions_in_force(activity, day):
        raise Conflict(_("No approved SOP governs %(activity)s on %(day)s, and this bank requires one: QA must "
                         "approve the SOP first.") % {"activity": str(label).lower(), "day": day.isoformat()},
                       code="training_required", sop=None)


def cited_equipment(instrument: str, activity: str) -> Equipment | None:
    code = (instrument or "").strip()
    equipment = Equipment.objects.filter(code=code).first() if code else None
    if equipment is None:
        if code and activity != Activity.QC_RESULT:
            raise ValidationError({"instrument": [_("No equipment %(code)s in the register.") % {"code": code}]})
        if getattr(settings, "QUALITY_REQUIRE_INSTRUMENT", False):
            raise ValidationError({"instrument": [_("Cite the instrument used: its code in the equipment register.")]})
    return equipment


def check_equipment(equipment: Equipment, day: datetime.date) -> None:
    if equipment.usable_on(day):
        return
    if equipment.retired:
        why = _("it is retired")
    elif equipment.last_calibration_passed is False:
        why = _("its last calibration failed")
    else:
        why = _("its calibration was due on %(due)s") % {"due": equipment.calibration_due_on.isoformat()}
    raise Conflict(_("Instrument %(code)s may not be used on %(day)s: %(why)s. Use a calibrated instrument, or "
                     "record its calibration first.") % {"code": equipment.code, "day": day.isoformat(), "why": why},
                   code="equipment_not_calibrated", equipment=equipment.code,
                   calibration_due_on=equipment.calibration_due_on.isoformat())


def cited_materials(materials: Iterable[Any] | None) -> list[Material]:
    """The material lots cited by id (the API) or by the lot number printed on the bottle (the passage page). An
    unknown one is a 400; a lot number two suppliers share must be cited by id. Two queries at most."""
    ids, numbers, bad = [], [], []
    for item in materials or []:
        value = item.pk if isinstance(item, Material) else item
        text = "" if isinstance(value, bool) else str(value).strip()
        number = whole_number(text)  # ASCII digits within a bigint ("²" or 20 digits are no id)
        if number is not None:
            ids.append(number)
        elif text:
            numbers.append(text)
        else:
            bad.append(str(value))
    found = {m.pk: m for m in Material.objects.filter(pk__in=ids)} if ids else {}
    bad += [str(pk) for pk in ids if pk not in found]
    by_number: dict[str, list[Material]] = {}
    if numbers:
        wanted = Q()
        for number in numbers:
            wanted |= Q(lot_number__iexact=number)
        for found_material in Material.objects.filter(wanted).order_by("pk"):
            by_number.setdefault(found_material.lot_number.upper(), []).append(found_material)
    ambiguous = []
    for number in numbers:
        matches = by_number.get(number.upper(), [])
        if len(matches) == 1:
            found[matches[0].pk] = matches[0]
            ids.append(matches[0].pk)
        elif matches:
            ambiguous.append(number)
        else:
            bad.append(number)
    if bad:
        raise ValidationError({"materials": [_("No material lot %(ids)s.") % {"ids": ", ".join(bad)}]})
    if ambiguous:
        raise ValidationError({"materials": [_("Several material lots are numbered %(numbers)s: cite the one used "
                                               "by its id.") % {"numbers": ", ".join(ambiguous)}]})
    return [found[pk] for pk in dict.fromkeys(ids)]


def check_materials(materials: list[Material], day: datetime.date) -> None:
    unreleased = [m for m in materials if m.status != MaterialStatus.RELEASED]
    if unreleased:
        raise Conflict(_("Material lot %(lots)s is not released by QA (%(status)s): it may not be used.")
                       % {"lots": ", ".join(f"{m.name} {m.lot_number}" for m in unreleased),
                          "status": ", ".join(str(MaterialStatus(m.status).label).lower() for m in unreleased)},
                       code="material_not_released", materials=[m.pk for m in unreleased])
    expired = [m for m in materials if m.is_expired_on(day)]
    if expired:
        raise Conflict(_("Material lot %(lots)s expired on %(day)s, before its use on %(used)s.")
                       % {"lots": ", ".join(f"{m.name} {m.lot_number}" for m in expired),
                          "day": expired[0].expires_on.isoformat(), "used": day.isoformat()},
                       code="material_expired", materials=[m.pk for m in expired])


def cited_room(room: str) -> Cleanroom | None:
    code = (room or "").strip()
    if not code:
        return None
    found = Cleanroom.objects.filter(code=code).first()
    if found is None:
        raise ValidationError({"room": [_("No cleanroom %(room)s.") % {"room": code}]})
    return found


def on_activity(*, activity: str, actor, on=None, subject=None, instrument: str = "", materials=None, room: str = "",
                **_more: Any) -> None:
    """The ``activity_gate`` receiver (see the module's docstring). Raises; returns nothing."""
    day = _day(on)
    check_training(actor, activity, day)
    equipment = None
    if activity in INSTRUMENT_ACTIVITIES:
        equipment = cited_equipment(instrument, activity)
        if equipment is not None:
            check_equipment(equipment, day)
    cited: list[Material] = []
    if activity in MATERIAL_ACTIVITIES:
        cited = cited_materials(materials)
        if not cited and getattr(settings, "QUALITY_REQUIRE_MATERIALS", False):
            raise ValidationError({"materials": [_("Cite the material lots used (their ids).")]})
        check_materials(cited, day)
    cleanroom = cited_room(room) if activity in MATERIAL_ACTIVITIES else None
    if subject is not None and getattr(actor, "pk", None):
        record_uses(subject, activity=activity, used_on=day, actor=actor, equipment=equipment, materials=cited,
                    room=cleanroom)


def record_uses(subject, *, activity: str, used_on: datetime.date, actor, equipment: Equipment | None = None,
                materials: list[Material] = (), room: Cleanroom | None = None) -> None:
    """Keep what ``subject`` (a passage, a lot or a QC result) cited: the forward trace starts here. Called by the
    gate inside the activity's transaction (and by the demo to back-fill the citations of its older lots)."""
    field = {"lots.passage": "passage", "lots.lot": "lot", "qc.qcresult": "qc_result"}.get(subject._meta.label_lower)
    if equipment is not None and field in ("lot", "qc_result"):
        InstrumentUse.objects.create(equipment=equipment, activity=activity, used_on=used_on, used_by=actor,
                                     **{field: subject})
    if materials and field in ("passage", "lot"):
        bulk_create_audited(MaterialUse, [MaterialUse(material=m, activity=activity, used_on=used_on, used_by=actor,
                                                      **{field: subject}) for m in materials])
    if room is not None and field in ("passage", "lot"):
        RoomUse.objects.create(room=room, activity=activity, used_on=used_on, used_by=actor, **{field: subject})
