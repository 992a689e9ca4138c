"""Storage work that runs as jobs in the worker (bank.jobs): evacuating a tank.

A full LN2 tank holds thousands of boxes and 100,000 vials; moving them writes a box row and a chain-of-custody
record for each, which takes far longer than a web request may. The evacuation page hands a unit with
``STORAGE_EVACUATE_JOB_BOXES`` boxes or more to the worker and shows the job's progress bar; the service is the
same (``storage.services.evacuate_unit``), in one transaction, all or nothing.

An excursion's list of the vials that were in the unit is a job too (``storage.excursion_snapshot``, below): the
sensor gets its answer at once and the alarm page shows the listing's progress.
"""

from __future__ import annotations

from django.conf import settings
from django.db.models import Count
from django.urls import reverse
from django.utils.translation import gettext as _

from bank.jobs import JobFailed, Progress, start_job
from bank.models import Job
from storage.models import Box, StorageUnit

EVACUATE = "storage.evacuate"


def evacuation_needs_job(unit: StorageUnit, *, boxes: int | None = None) -> bool:
    """Whether evacuating ``unit`` goes to the worker: it holds ``STORAGE_EVACUATE_JOB_BOXES`` boxes or more
    (``boxes``: the count when the caller has read it already)."""
    if boxes is None:
        boxes = Box.objects.filter(rack__unit=unit).aggregate(n=Count("id"))["n"]
    return boxes >= settings.STORAGE_EVACUATE_JOB_BOXES


def start_evacuation(unit: StorageUnit, target: StorageUnit, *, actor, reason: str) -> Job:
    """Hand the evacuation of ``unit`` into ``target`` to the worker; the rules run there (``evacuate_unit``), but
    a target that cannot be right is refused here first (400, ``check_evacuation_target``)."""
    from storage.services import check_evacuation_target

    check_evacuation_target(unit, target)
    return start_job(EVACUATE, user=actor, params={"unit": unit.pk, "target": target.pk, "reason": reason},
                     title=_("Evacuate %(unit)s into %(target)s") % {"unit": unit.name, "target": target.name})


def run_evacuation(job: Job, progress: Progress) -> dict:
    """The runner of ``storage.evacuate`` jobs: ``evacuate_unit`` with its progress reported on the job."""
    from storage.services import evacuate_unit

    units = StorageUnit.objects.in_bulk([job.params.get("unit"), job.params.get("target")])
    unit, target = units.get(job.params.get("unit")), units.get(job.params.get("target"))
    if unit is None or target is None:
        raise JobFailed(_("The storage unit to evacuate (or the one to move into) no longer exists."))

    def report(done: int, total: int, message: str = "") -> None:
        progress.update(done, total, message=message)

    result = evacuate_unit(unit, target, actor=job.user, reason=job.params.get("reason", ""), progress=report)
    summary = [[_("Boxes moved"), len(result.boxes)], [_("Vials"), result.vials],
               [_("From"), unit.name], [_("Into"), target.name]]
    if result.mirror_broken:
        summary.append([_("Master cell banks now in one unit only: split them again"),
                        ", ".join(result.mirror_broken)])
    return {"unit": unit.pk, "unit_name": unit.name, "target": target.pk, "target_name": target.name,
            "boxes": [b.pk for b in result.boxes], "vials": result.vials, "mirror_broken": result.mirror_broken,
            "summary": summary,
            "link": {"url": reverse("storage:unit", args=[target.pk]),
                     "label": _("Open %(unit)s") % {"unit": target.name}}}


# --- excursion snapshots -----------------------------------------------------------------------------------

EXCURSION_SNAPSHOT = "storage.excursion_snapshot"


def start_excursion_snapshot(alarm, *, user) -> Job:
    """Hand the listing of the vials then in an excursion's unit to the worker (in the transaction raising it).

    The job's user is whoever posted the reading that raised the alarm, usually the tank's sensor account: the
    snapshot is that reading's consequence, so its AlarmVial rows are audited under that account, and admins see
    the job in everyone's jobs (``bank.jobs.sees_all_jobs``). Technicians and QA, who handle alarms, would see only
    their own jobs, so they follow the snapshot where they work, on the alarm page (``storage.views.alarm_detail``),
    which shows this job's progress to anyone who may see the alarm, whoever the job belongs to.
    """
    from django.utils import timezone

    return start_job(EXCURSION_SNAPSHOT, user=user, params={"alarm": alarm.pk},
                     title=_("Vials in %(unit)s at the excursion of %(at)s") % {
                         "unit": alarm.unit.name,
                         "at": timezone.localtime(alarm.raised_at).strftime("%Y-%m-%d %H:%M")})


def run_excursion_snapshot(job: Job, progress: Progress) -> dict:
    """The runner of ``storage.excursion_snapshot`` jobs: ``record_alarm_vials`` box by box, with its progress.

    Idempotent: the vials are claimed by a conditional UPDATE in the transaction that lists them, so a job handed
    out again by beat's ``sweep_jobs`` (or the older task ``storage.tasks.record_alarm_vials``) never lists twice;
    the result counts what the alarm holds, whichever run listed it."""
    from storage.models import Alarm, AlarmVial
    from storage.services.alarms import record_alarm_vials

    alarm = Alarm.objects.select_related("unit").filter(pk=job.params.get("alarm")).first()
    if alarm is None:
        raise JobFailed(_("The excursion whose vials this job was to list no longer exists."))

    def report(done: int, total: int) -> None:
        progress.update(done, total, message=_("Listing the vials of %(unit)s box by box") % {"unit": alarm.unit.name})

    record_alarm_vials(alarm.pk, progress=report)
    counts = AlarmVial.objects.filter(alarm=alarm).aggregate(vials=Count("id"), boxes=Count("box", distinct=True))
    return {"alarm": alarm.pk, "unit": alarm.unit_id, "unit_name": alarm.unit.name,
            "vials": counts["vials"], "boxes": counts["boxes"],
            "summary": [[_("Vials in the unit"), counts["vials"]], [_("Boxes"), counts["boxes"]],
                        [_("Unit"), alarm.unit.name]],
            "link": {"url": reverse("storage:alarm", args=[alarm.pk]), "label": _("Open the alarm")}}
