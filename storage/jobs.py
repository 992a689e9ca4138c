"""Storage work that runs as jobs in the worker (bank.jobs): evacuating a tank.

A full LN2 tank holds thousands of boxes and 100,000 vials; moving them writes a box row and a chain-of-custody
record for each, which takes far longer than a web request may. The evacuation page hands a unit with
``STORAGE_EVACUATE_JOB_BOXES`` boxes or more to the worker and shows the job's progress bar; the service is the
same (``storage.services.evacuate_unit``), in one transaction, all or nothing.

(An excursion's list of the vials in the unit is already written by the worker, ``storage.tasks.record_alarm_vials``:
one INSERT … SELECT, seconds even for 100,000 vials, not a job a person waits on.)
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


def evacuation_needs_job(unit: StorageUnit) -> bool:
    """Whether evacuating ``unit`` goes to the worker: it holds ``STORAGE_EVACUATE_JOB_BOXES`` boxes or more."""
    limit = settings.STORAGE_EVACUATE_JOB_BOXES
    return Box.objects.filter(rack__unit=unit).aggregate(n=Count("id"))["n"] >= limit


def start_evacuation(unit: StorageUnit, target: StorageUnit, *, actor, reason: str) -> Job:
    """Hand the evacuation of ``unit`` into ``target`` to the worker; the rules run there (``evacuate_unit``)."""
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
