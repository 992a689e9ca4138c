"""Reads of the quality app shared by its pages, API and tasks: the training matrix, the equipment due list, the
materials list and a material lot's forward trace. Every list is bounded (paginated users, a page of rows)."""

from __future__ import annotations

import datetime
from dataclasses import dataclass, field

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db.models import Q, QuerySet
from django.utils import timezone

from bank.roles import COORDINATOR, QA, TECHNICIAN
from distribution.queries import shipments_of_lot
from lots.choices import VialStatus
from lots.models import Lot, Passage
from lots.queries import descendant_lots, vial_status_counts
from quality.choices import EquipmentState, MaterialStatus, TrainingState
from quality.models import SOP, EnvironmentResult, Equipment, Material, MaterialUse, SOPVersion, Training

# Who appears in the training matrix: the staff who do bench work or sign for it.
TRAINED_ROLES = (TECHNICIAN, QA, COORDINATOR)


def reminder_days() -> int:
    return int(getattr(settings, "QUALITY_REMINDER_DAYS", 30))


def versions_in_force_today(day: datetime.date | None = None) -> list[SOPVersion]:
    """Each SOP's version in force on ``day`` (SOPs whose first version is not yet effective: left out). One query
    (the latest per SOP picked in Python: the embedded SQLite has no DISTINCT ON)."""
    day = day or timezone.localdate()
    latest: dict[int, SOPVersion] = {}
    for version in (SOPVersion.objects.filter(effective_on__lte=day).select_related("sop")
                    .order_by("sop_id", "-effective_on", "-id")):
        latest.setdefault(version.sop_id, version)
    return list(latest.values())


def sops_with_versions() -> QuerySet[SOP]:
    return SOP.objects.prefetch_related("versions__approved_by").order_by("code")


def matrix_users() -> QuerySet:
    return (get_user_model().objects.filter(is_active=True, groups__name__in=TRAINED_ROLES).distinct()
            .order_by("username", "pk"))


@dataclass
class MatrixCell:
    state: str
    training: Training | None = None


@dataclass
class MatrixRow:
    user: object
    cells: list[MatrixCell] = field(default_factory=list)


def training_matrix(users: list, versions: list[SOPVersion], day: datetime.date | None = None) -> list[MatrixRow]:
    """Users × SOPs (their versions in force): current, due (expires within the reminder days), expired, retrain
    (trained on an older version only), untrained. One query for the page's trainings."""
    day = day or timezone.localdate()
    soon = day + datetime.timedelta(days=reminder_days())
    sop_ids = [v.sop_id for v in versions]
    best: dict[tuple[int, int], list[Training]] = {}
    for training in (Training.objects.filter(user__in=[u.pk for u in users], sop_version__sop_id__in=sop_ids)
                     .select_related("sop_version").order_by("user_id", "-trained_on", "-id")):
        best.setdefault((training.user_id, training.sop_version.sop_id), []).append(training)
    rows = []
    for user in users:
        row = MatrixRow(user)
        for version in versions:
            trainings = best.get((user.pk, version.sop_id), [])
            on_this = [t for t in trainings if t.sop_version_id == version.pk]
            current = next((t for t in on_this if t.is_current_on(day)), None)
            if current is not None:
                due = current.expires_on is not None and current.expires_on <= soon
                row.cells.append(MatrixCell(TrainingState.DUE if due else TrainingState.CURRENT, current))
            elif on_this:
                row.cells.append(MatrixCell(TrainingState.EXPIRED, on_this[0]))
            elif trainings:
                row.cells.append(MatrixCell(TrainingState.RETRAIN, trainings[0]))
            else:
                row.cells.append(MatrixCell(TrainingState.UNTRAINED))
        rows.append(row)
    return rows


def matrix_summary(day: datetime.date | None = None) -> dict[str, int]:
    """Counts for the QA dashboard over every user and SOP in force (two queries)."""
    versions = versions_in_force_today(day)
    users = list(matrix_users())
    counts = {state: 0 for state in TrainingState.values}
    for row in training_matrix(users, versions, day):
        for cell in row.cells:
            counts[cell.state] += 1
    return counts


def equipment_list(state: str = "") -> QuerySet[Equipment]:
    """The register, the most urgent first (due date), optionally only what needs attention."""
    qs = Equipment.objects.select_related("storage_unit").order_by("retired", "calibration_due_on", "code")
    today = timezone.localdate()
    if state == "attention":
        soon = today + datetime.timedelta(days=reminder_days())
        qs = qs.filter(retired=False).filter(Q(calibration_due_on__lte=soon) | Q(last_calibration_passed=False))
    elif state == EquipmentState.OVERDUE:
        qs = qs.filter(retired=False, calibration_due_on__lt=today)
    return qs


def equipment_attention_counts(day: datetime.date | None = None) -> dict[str, int]:
    day = day or timezone.localdate()
    soon = day + datetime.timedelta(days=reminder_days())
    live = Equipment.objects.filter(retired=False)
    return {
        "overdue": live.filter(calibration_due_on__lt=day).count(),
        "due_soon": live.filter(calibration_due_on__gte=day, calibration_due_on__lte=soon).count(),
        "failed": live.filter(last_calibration_passed=False).count(),
    }


def material_list(status: str = "", q: str = "") -> QuerySet[Material]:
    qs = Material.objects.select_related("released_by").order_by("-received_on", "-id")
    if status == "expired":
        qs = qs.filter(expires_on__lt=timezone.localdate())
    elif status in MaterialStatus.values:
        qs = qs.filter(status=status)
    if q:
        qs = qs.filter(Q(lot_number__iexact=q.strip()) | Q(name__icontains=q.strip()))
    return qs


def material_attention_counts(day: datetime.date | None = None) -> dict[str, int]:
    day = day or timezone.localdate()
    return {
        "quarantine": Material.objects.filter(status=MaterialStatus.QUARANTINE).count(),
        "expired_released": Material.objects.filter(status=MaterialStatus.RELEASED, expires_on__lt=day).count(),
    }


def recent_excursions(days: int = 30) -> list[EnvironmentResult]:
    """Action-limit excursions of the last ``days`` days, newest first (at most 5: the dashboard's list)."""
    since = timezone.localdate() - datetime.timedelta(days=days)
    return list(EnvironmentResult.objects.filter(level="action", sampled_on__gte=since).select_related("room")
                .order_by("-sampled_on", "-id")[:5])


def forward_trace(material: Material) -> dict:
    """Every culture, lot, vial and recipient a material lot touched: the passages and lots that cited it, the lots
    frozen from those cultures and every lot made from them (WCBs), their vials by status and the shipments that
    carried them. Queries: the uses (1), the lots (1), one per lot for its descendants, the vial counts (1) and the
    shipments (1)."""
    uses = list(MaterialUse.objects.filter(material=material)
                .select_related("passage__culture__cell_line", "lot__cell_line", "used_by")
                .order_by("used_on", "id"))
    passages: list[Passage] = [u.passage for u in uses if u.passage_id]
    culture_ids = {p.culture_id for p in passages}
    cultures = {p.culture_id: p.culture for p in passages}
    direct = {u.lot_id for u in uses if u.lot_id}
    lots = {lot.pk: lot for lot in Lot.objects.filter(Q(pk__in=direct) | Q(culture_id__in=culture_ids))
            .select_related("cell_line").order_by("frozen_on", "pk")}
    for lot in list(lots.values()):
        for child in descendant_lots(lot):
            lots.setdefault(child.pk, child)
    ordered = sorted(lots.values(), key=lambda x: (x.frozen_on, x.pk))
    counts = vial_status_counts(lots.keys()) if lots else {}
    shipments, reserved = shipments_of_lot(ordered[0], ordered[1:]) if ordered else ([], 0)
    return {
        "material": material,
        "uses": uses,
        "cultures": sorted(cultures.values(), key=lambda c: c.pk),
        "lots": [{"lot": lot, "vials": counts.get(lot.pk, {}), "vial_total": sum(counts.get(lot.pk, {}).values()),
                  "vial_labels": [(VialStatus(status).label if status in VialStatus.values else status, n)
                                  for status, n in sorted(counts.get(lot.pk, {}).items())]}
                 for lot in ordered],
        "shipments": shipments,
        "reserved_vials": reserved,
    }
