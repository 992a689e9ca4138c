"""Writes of the quality app: SOP versions (QA-approved by e-signature), training records, the equipment register
and its calibrations, material lots (received in quarantine, released by QA's e-signature).

Every write runs in ``transaction.atomic`` with its ``actor`` and a reason for the history. Input errors are 400
(``ValidationError`` with field messages); refusals are ``bank.errors`` with a ``code``. The gates on bench work
(``training_required``, ``equipment_not_calibrated``, ``material_not_released``, ``material_expired``) live in
``quality.gates``.
"""

from __future__ import annotations

import datetime
import hashlib
from typing import Any

from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from bank.audit import acting, save_changed
from bank.errors import Conflict, Forbidden
from bank.models import SignatureMeaning
from bank.parsing import whole_number
from bank.roles import QA, has_role
from bank.signatures import record_signature, verify_password
from quality.choices import (
    LIMITS,
    Activity,
    Assessment,
    CalibrationKind,
    EnvironmentLevel,
    EnvironmentParameter,
    EquipmentKind,
    GMPGrade,
    MaterialKind,
    MaterialStatus,
)
from quality.models import (
    SOP,
    Calibration,
    Cleanroom,
    EnvironmentResult,
    Equipment,
    Material,
    SOPVersion,
    Training,
)

MAX_DOCUMENT_BYTES = 20 * 1024 * 1024


def _text(value: Any) -> str:
    return "" if value is None else str(value).strip()


def _require_perm(actor, perm: str) -> None:
    if actor is None or not actor.has_perm(perm):
        raise Forbidden(_("Your role does not allow this action."), code="permission_denied")


def _require_qa_signer(actor, perm: str) -> None:
    """Quality approvals are signed by a QA officer (an admin account must also hold the qa role)."""
    if actor is None or not actor.has_perm(perm) or not has_role(actor, QA):
        raise Forbidden(_("Only a QA officer may sign this approval."), code="permission_denied")


def _date(value: Any, field: str, errors: dict, *, required: bool = True) -> datetime.date | None:
    if value in (None, ""):
        if required:
            errors[field] = [_("Enter a date (YYYY-MM-DD).")]
        return None
    if isinstance(value, datetime.datetime):
        return timezone.localtime(value).date() if timezone.is_aware(value) else value.date()
    if isinstance(value, datetime.date):
        return value
    try:
        return datetime.date.fromisoformat(str(value).strip())
    except ValueError:
        errors[field] = [_("Enter a date as YYYY-MM-DD.")]
        return None


def _required(value: Any, field: str, errors: dict, message: str, max_length: int) -> str:
    text = _text(value)
    if not text:
        errors[field] = [message]
    elif len(text) > max_length:
        errors[field] = [_("Keep it under %(max)d characters.") % {"max": max_length}]
    return text


# --- SOPs --------------------------------------------------------------------------------------------------------


def clean_activities(activities: Any, errors: dict) -> list[str]:
    if activities in (None, ""):
        return []
    if isinstance(activities, str):
        activities = [a for a in activities.replace(",", " ").split() if a]
    if not isinstance(activities, list | tuple):
        errors["activities"] = [_("Give a list of activities.")]
        return []
    cleaned = []
    for item in activities:
        value = _text(item)
        if value not in Activity.values:
            errors["activities"] = [_("Unknown activity “%(value)s”. Use any of: %(choices)s.")
                                    % {"value": value, "choices": ", ".join(Activity.values)}]
            return []
        if value not in cleaned:
            cleaned.append(value)
    return cleaned


def approve_sop_version(*, actor, code: str, version: str, effective_on, activities, password: str,
                        title: str = "", document=None, summary: str = "") -> SOPVersion:
    """Record an SOP version approved by QA's e-signature (the password signs it). A new code creates the SOP
    (``title`` required); a known code adds a version, which governs its activities from ``effective_on`` and
    supersedes the earlier versions from that day (they are kept). Trainings on earlier versions no longer count
    once it is effective: its users need retraining."""
    _require_qa_signer(actor, "quality.add_sopversion")
    errors: dict[str, list[str]] = {}
    code = _required(code, "code", errors, _("Enter the SOP's code, e.g. SOP-CUL-001."), 40)
    version = _required(version, "version", errors, _("Enter the version, e.g. 2 or 2.1."), 20)
    effective = _date(effective_on, "effective_on", errors)
    cleaned = clean_activities(activities, errors)
    title = _text(title)
    if len(title) > 200:
        errors["title"] = [_("Keep it under 200 characters.")]
    existing = SOP.objects.filter(code=code).first() if code else None
    if existing is None and code and not title:
        errors["title"] = [_("A new SOP needs a title.")]
    if existing is not None and version and existing.versions.filter(version=version).exists():
        errors["version"] = [_("%(code)s already has a version %(version)s: give the new version another number.")
                             % {"code": code, "version": version}]
    if document is not None and getattr(document, "size", 0) > MAX_DOCUMENT_BYTES:
        errors["document"] = [_("The document is larger than 20 MB.")]
    if errors:
        raise ValidationError(errors)
    verify_password(actor, password)  # outside the transaction: a failed attempt stays recorded
    reason = _("SOP %(code)s v%(version)s approved") % {"code": code, "version": version}
    try:
        with transaction.atomic(), acting(actor, reason):
            sop = SOP.objects.select_for_update().filter(code=code).first()
            if sop is None:
                sop = SOP.objects.create(code=code, title=title, created_by=actor)
            elif title and title != sop.title:
                save_changed(sop, {"title": title})
            sop_version = SOPVersion(sop=sop, version=version, effective_on=effective, activities=cleaned,
                                     summary=_text(summary), approved_by=actor)
            if document is not None:
                digest = hashlib.sha256()
                for chunk in document.chunks():
                    digest.update(chunk)
                sop_version.document_sha256 = digest.hexdigest()
                document.seek(0)
                sop_version.document.save(getattr(document, "name", "document") or "document", document, save=False)
            sop_version.save()
            record_signature(sop_version, signer=actor, meaning=SignatureMeaning.APPROVAL,
                             statement=_("SOP %(code)s version %(version)s is approved, effective %(day)s.")
                             % {"code": code, "version": version, "day": effective.isoformat()})
    except IntegrityError:  # the same version recorded at the same moment
        raise ValidationError({"version": [_("%(code)s already has a version %(version)s.")
                                           % {"code": code, "version": version}]})
    return sop_version


def _user(value: Any, errors: dict):
    User = get_user_model()
    if isinstance(value, User):
        return value
    text = _text(value)
    found = User.objects.filter(username=text).first() if text else None
    if found is None and whole_number(text) is not None:
        found = User.objects.filter(pk=whole_number(text)).first()
    if found is None:
        errors["user"] = [_("No user “%(user)s”.") % {"user": text or "—"}]
    return found


def _sop(value: Any, errors: dict) -> SOP | None:
    if isinstance(value, SOP):
        return value
    text = _text(value)
    found = SOP.objects.filter(code=text).first() if text else None
    if found is None and whole_number(text) is not None:
        found = SOP.objects.filter(pk=whole_number(text)).first()
    if found is None:
        errors["sop"] = [_("No SOP “%(sop)s”.") % {"sop": text or "—"}]
    return found


def record_training(*, actor, user, sop, version: str | None, trained_on, expires_on=None, trainer: str = "",
                    assessment: str = Assessment.PASSED) -> Training:
    """Record that ``user`` was trained on ``version`` of ``sop`` (an SOP's id or code; no version: the latest)."""
    _require_perm(actor, "quality.add_training")
    errors: dict[str, list[str]] = {}
    the_user = _user(user, errors)
    the_sop = _sop(sop, errors)
    trained = _date(trained_on, "trained_on", errors)
    expires = _date(expires_on, "expires_on", errors, required=False)
    if trained and trained > timezone.localdate():
        errors["trained_on"] = [_("The training date is in the future.")]
    if trained and expires and expires < trained:
        errors["expires_on"] = [_("The training cannot expire before it took place.")]
    if assessment not in Assessment.values:
        errors["assessment"] = [_("Choose the assessment: %(choices)s.") % {"choices": ", ".join(Assessment.values)}]
    sop_version = None
    if the_sop is not None:
        version = _text(version)
        versions = the_sop.versions.order_by("-effective_on", "-id")
        # No version named: the one in force on the training day (never a version not yet effective), else the
        # first to come (a training ahead of a new SOP's effective date).
        in_force = versions.filter(effective_on__lte=trained or timezone.localdate())
        sop_version = (versions.filter(version=version).first() if version
                       else in_force.first() or versions.order_by("effective_on", "id").first())
        if sop_version is None:
            errors["version"] = [_("%(code)s has no version %(version)s.") % {"code": the_sop.code,
                                                                             "version": version or "—"}]
    if the_user is not None and not the_user.is_active:
        errors["user"] = [_("This account is deactivated.")]
    if errors:
        raise ValidationError(errors)
    with transaction.atomic(), acting(actor, _("training recorded")):
        return Training.objects.create(user=the_user, sop_version=sop_version, trained_on=trained, expires_on=expires,
                                       trainer=_text(trainer)[:150] or (actor.get_full_name() or actor.username),
                                       assessment=assessment, recorded_by=actor)


# --- equipment ---------------------------------------------------------------------------------------------------


def register_equipment(*, actor, code: str, name: str, kind: str, calibration_due_on, location: str = "",
                       storage_unit=None) -> Equipment:
    """Add an instrument to the register, with the date its (first) calibration is due."""
    _require_perm(actor, "quality.add_equipment")
    errors: dict[str, list[str]] = {}
    code = _required(code, "code", errors, _("Enter the equipment code on its label, e.g. CC-01."), 40)
    name = _required(name, "name", errors, _("Name the instrument."), 200)
    kind = _text(kind)
    if kind not in EquipmentKind.values:
        errors["kind"] = [_("Choose the kind: %(choices)s.") % {"choices": ", ".join(EquipmentKind.values)}]
    due = _date(calibration_due_on, "calibration_due_on", errors)
    taken = _("Equipment %(equipment)s is already in the register.") % {"equipment": code}
    if code and Equipment.objects.filter(code=code).exists():
        errors["code"] = [taken]
    if storage_unit is not None and Equipment.objects.filter(storage_unit=storage_unit).exists():
        errors["storage_unit"] = [_("This storage unit already has its equipment record.")]
    if errors:
        raise ValidationError(errors)
    try:
        with transaction.atomic(), acting(actor, _("equipment registered")):
            return Equipment.objects.create(code=code, name=name, kind=kind, calibration_due_on=due,
                                            location=_text(location)[:120], storage_unit=storage_unit,
                                            created_by=actor)
    except IntegrityError:
        raise ValidationError({"code": [taken]})


def record_calibration(equipment: Equipment, *, actor, performed_on, passed, next_due_on, certificate: str = "",
                       kind: str = CalibrationKind.CALIBRATION, notes: str = "") -> Calibration:
    """Record a calibration (or maintenance) of ``equipment``. The latest calibration sets the instrument's verdict
    and next due date (an older one entered late changes neither)."""
    _require_perm(actor, "quality.add_calibration")
    errors: dict[str, list[str]] = {}
    performed = _date(performed_on, "performed_on", errors)
    due = _date(next_due_on, "next_due_on", errors)
    if not isinstance(passed, bool):
        errors["passed"] = [_("Say whether the calibration passed (true or false).")]
    if performed and performed > timezone.localdate():
        errors["performed_on"] = [_("The date is in the future.")]
    if performed and due and due < performed:
        errors["next_due_on"] = [_("The next due date cannot be before the calibration.")]
    if kind not in CalibrationKind.values:
        errors["kind"] = [_("Choose calibration or maintenance.")]
    if errors:
        raise ValidationError(errors)
    with transaction.atomic(), acting(actor, _("calibration recorded")):
        locked = Equipment.objects.select_for_update().get(pk=equipment.pk)
        latest = locked.calibrations.filter(kind=kind).order_by("-performed_on", "-id").first()
        calibration = Calibration.objects.create(equipment=locked, kind=kind, performed_on=performed, passed=passed,
                                                 next_due_on=due, certificate=_text(certificate)[:200],
                                                 notes=_text(notes), recorded_by=actor)
        if kind == CalibrationKind.CALIBRATION and (latest is None or performed >= latest.performed_on):
            save_changed(locked, {"calibration_due_on": due, "last_calibration_passed": passed, "reminded_on": None})
        elif kind == CalibrationKind.MAINTENANCE and not passed:
            save_changed(locked, {"last_calibration_passed": False})
    equipment.refresh_from_db()
    return calibration


# --- materials ---------------------------------------------------------------------------------------------------


def receive_material(*, actor, name: str, kind: str, lot_number: str, supplier: str, expires_on, received_on,
                     certificate: str = "", inspection: str = "") -> Material:
    """Receive a lot of a medium, reagent, cryoprotectant or consumable: it waits in quarantine for QA's release."""
    _require_perm(actor, "quality.add_material")
    errors: dict[str, list[str]] = {}
    name = _required(name, "name", errors, _("Name the material, e.g. mTeSR Plus."), 200)
    lot_number = _required(lot_number, "lot_number", errors, _("Enter the supplier's lot number."), 80)
    supplier = _required(supplier, "supplier", errors, _("Name the supplier."), 200)
    kind = _text(kind)
    if kind not in MaterialKind.values:
        errors["kind"] = [_("Choose the kind: %(choices)s.") % {"choices": ", ".join(MaterialKind.values)}]
    expires = _date(expires_on, "expires_on", errors)
    received = _date(received_on, "received_on", errors)
    if received and received > timezone.localdate():
        errors["received_on"] = [_("The date is in the future.")]
    if received and expires and expires < received:
        errors["expires_on"] = [_("The lot expired before it was received.")]
    if not errors and Material.objects.filter(supplier=supplier, name=name, lot_number=lot_number).exists():
        errors["lot_number"] = [_("Lot %(lot)s of %(name)s from %(supplier)s was received already.")
                                % {"lot": lot_number, "name": name, "supplier": supplier}]
    if errors:
        raise ValidationError(errors)
    try:
        with transaction.atomic(), acting(actor, _("material received")):
            return Material.objects.create(name=name, kind=kind, lot_number=lot_number, supplier=supplier,
                                           expires_on=expires, received_on=received,
                                           certificate=_text(certificate)[:200], inspection=_text(inspection),
                                           created_by=actor)
    except IntegrityError:
        raise ValidationError({"lot_number": [_("This lot was received already.")]})


def release_material(material: Material, *, actor, password: str, inspection: str = "") -> Material:
    """QA releases a quarantined material lot after incoming inspection, with an e-signature. A lot that is not in
    quarantine → 409 ``invalid_transition``."""
    _require_qa_signer(actor, "quality.release_material")
    verify_password(actor, password)
    with transaction.atomic(), acting(actor, _("material released")):
        locked = Material.objects.select_for_update().get(pk=material.pk)
        if locked.status != MaterialStatus.QUARANTINE:
            raise Conflict(_("Material lot %(lot)s is %(status)s: only a lot in quarantine can be released.")
                           % {"lot": locked.lot_number, "status": MaterialStatus(locked.status).label},
                           code="invalid_transition", status=locked.status)
        values = {"status": MaterialStatus.RELEASED, "released_by": actor, "released_at": timezone.now()}
        if _text(inspection):
            values["inspection"] = _text(inspection)
        save_changed(locked, values)
        record_signature(locked, signer=actor, meaning=SignatureMeaning.RELEASE,
                         statement=_("Material lot %(lot)s of %(name)s passed incoming inspection and is released.")
                         % {"lot": locked.lot_number, "name": locked.name})
    return locked


def reject_material(material: Material, *, actor, password: str, reason: str) -> Material:
    """QA rejects a quarantined material lot that failed incoming inspection, with an e-signature and the reason: it
    can never be cited (``material_not_released``). A lot that is not in quarantine → 409 ``invalid_transition``."""
    _require_qa_signer(actor, "quality.release_material")
    reason = _text(reason)
    if not reason:
        raise ValidationError({"reason": [_("Say why the lot is rejected (the failed inspection).")]})
    verify_password(actor, password)
    with transaction.atomic(), acting(actor, reason):
        locked = Material.objects.select_for_update().get(pk=material.pk)
        if locked.status != MaterialStatus.QUARANTINE:
            raise Conflict(_("Material lot %(lot)s is %(status)s: only a lot in quarantine can be rejected.")
                           % {"lot": locked.lot_number, "status": MaterialStatus(locked.status).label},
                           code="invalid_transition", status=locked.status)
        save_changed(locked, {"status": MaterialStatus.REJECTED, "inspection": reason})
        record_signature(locked, signer=actor, meaning=SignatureMeaning.REJECTION,
                         statement=_("Material lot %(lot)s of %(name)s failed incoming inspection and is rejected: "
                                     "%(reason)s") % {"lot": locked.lot_number, "name": locked.name, "reason": reason})
    return locked


# --- reminders (beat) --------------------------------------------------------------------------------------------


def send_reminders(*, today: datetime.date | None = None) -> dict[str, int]:
    """Tell each trainee whose training on a version in force expires within ``QUALITY_REMINDER_DAYS`` (or has
    expired), and QA of each instrument whose calibration falls due within them (or is overdue). Each record is
    reminded once (``reminded_on``, claimed with a conditional UPDATE, so two workers never send twice); a new
    calibration clears the instrument's mark."""
    from django.urls import reverse

    from bank.notifications import notify, notify_role
    from quality.queries import reminder_days, versions_in_force_today

    today = today or timezone.localdate()
    horizon = today + datetime.timedelta(days=reminder_days())
    in_force = [v.pk for v in versions_in_force_today(today)]
    trainings = 0
    expiring = (Training.objects.filter(sop_version_id__in=in_force, expires_on__isnull=False,
                                        expires_on__lte=horizon, reminded_on__isnull=True)
                .select_related("user", "sop_version__sop").order_by("expires_on", "pk")[:500])
    for training in expiring:
        if not Training.objects.filter(pk=training.pk, reminded_on__isnull=True).update(reminded_on=today):
            continue  # another worker took it
        version = training.sop_version
        notify([training.user], level="warning", link=reverse("quality:matrix"),
               subject=_("Your training on %(sop)s v%(version)s expires on %(day)s: arrange your retraining")
               % {"sop": version.sop.code, "version": version.version, "day": training.expires_on.isoformat()})
        trainings += 1
    equipment = 0
    due = (Equipment.objects.filter(retired=False, calibration_due_on__lte=horizon, reminded_on__isnull=True)
           .order_by("calibration_due_on", "pk")[:500])
    for item in due:
        if not Equipment.objects.filter(pk=item.pk, reminded_on__isnull=True).update(reminded_on=today):
            continue
        notify_role(QA, level="warning", link=reverse("quality:equipment"),
                    subject=_("Calibration of %(code)s (%(name)s) is due on %(day)s")
                    % {"code": item.code, "name": item.name, "day": item.calibration_due_on.isoformat()})
        equipment += 1
    return {"trainings": trainings, "equipment": equipment}


# --- environment -------------------------------------------------------------------------------------------------


def register_cleanroom(*, actor, code: str, name: str, grade: str) -> Cleanroom:
    """Add a cleanroom (or zone) with its EU GMP grade, which sets its limits."""
    _require_perm(actor, "quality.add_cleanroom")
    errors: dict[str, list[str]] = {}
    code = _required(code, "code", errors, _("Enter the room's code, e.g. CR-2."), 40)
    name = _required(name, "name", errors, _("Name the room."), 200)
    grade = _text(grade).upper()
    if grade not in GMPGrade.values:
        errors["grade"] = [_("Choose the GMP grade: A, B, C or D.")]
    taken = _("Cleanroom %(room)s exists already.") % {"room": code}
    if code and Cleanroom.objects.filter(code=code).exists():
        errors["code"] = [taken]
    if errors:
        raise ValidationError(errors)
    try:
        with transaction.atomic(), acting(actor, _("cleanroom registered")):
            return Cleanroom.objects.create(code=code, name=name, grade=grade, created_by=actor)
    except IntegrityError:
        raise ValidationError({"code": [taken]})


def lots_processed_in(room: Cleanroom, day: datetime.date) -> list:
    """Lots still in use whose cells were handled in ``room`` on ``day``: frozen there that day, or frozen (then or
    later) from a culture passaged there that day."""
    from django.db.models import Q

    from lots.choices import LotStatus
    from lots.models import Lot
    from quality.models import RoomUse

    uses = list(RoomUse.objects.filter(room=room, used_on=day).select_related("passage"))
    lot_ids = {u.lot_id for u in uses if u.lot_id}
    culture_ids = {u.passage.culture_id for u in uses if u.passage_id}
    if not lot_ids and not culture_ids:
        return []
    live = (LotStatus.QUARANTINE, LotStatus.RELEASED, LotStatus.ON_HOLD)
    return list(Lot.objects.filter(Q(pk__in=lot_ids) | Q(culture_id__in=culture_ids), status__in=live)
                .order_by("pk"))


def record_environment_result(room: Cleanroom, *, actor, parameter: str, sampled_on, value,
                              location: str = "") -> EnvironmentResult:
    """Record a monitoring result, judged against the room's grade limits. Above the action limit: a QC deviation is
    opened on each lot processed in the room that day (listed on the result), and QA is told."""
    from decimal import Decimal, InvalidOperation

    from bank.notifications import notify_role
    from qc.services import open_deviation

    _require_perm(actor, "quality.add_environmentresult")
    errors: dict[str, list[str]] = {}
    if parameter not in EnvironmentParameter.values:
        errors["parameter"] = [_("Choose the parameter: %(choices)s.")
                               % {"choices": ", ".join(EnvironmentParameter.values)}]
    day = _date(sampled_on, "sampled_on", errors)
    if day and day > timezone.localdate():
        errors["sampled_on"] = [_("The date is in the future.")]
    try:
        number = Decimal(str(value))
        if not number.is_finite() or number < 0 or number >= Decimal("1e10"):
            raise InvalidOperation
        number = number.quantize(Decimal("0.01"))
    except (InvalidOperation, ValueError):
        errors["value"] = [_("Enter a count of zero or more.")]
        number = None
    if errors:
        raise ValidationError(errors)
    alert, action = (Decimal(str(limit)) for limit in LIMITS[room.grade][parameter])
    level = (EnvironmentLevel.ACTION if number > action else EnvironmentLevel.ALERT if number > alert
             else EnvironmentLevel.WITHIN)
    with transaction.atomic(), acting(actor, _("environmental monitoring result")):
        result = EnvironmentResult.objects.create(room=room, parameter=parameter, sampled_on=day,
                                                  location=_text(location)[:120], value=number, alert_limit=alert,
                                                  action_limit=action, level=level, recorded_by=actor)
        if level == EnvironmentLevel.ACTION:
            summary = _("Environmental excursion in %(room)s (grade %(grade)s) on %(day)s: %(parameter)s %(value)s "
                        "above the action limit %(limit)s.") % {
                "room": room.code, "grade": room.grade, "day": day.isoformat(),
                "parameter": EnvironmentParameter(parameter).label, "value": number, "limit": action}
            lots = lots_processed_in(room, day)
            opened = [open_deviation(lot, actor=actor, summary=summary) for lot in lots]
            save_changed(result, {"lots": [lot.lot_number for lot in lots],
                                  "deviations": [d.number for d in opened]})
            if not lots:
                notify_role(QA, subject=summary, level="warning")
    return result
