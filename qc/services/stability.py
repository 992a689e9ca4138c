"""The stability programme: plans, the daily task that opens due re-checks and marks overdue ones,
and re-check results (a failure puts the lot on hold)."""

from __future__ import annotations

import datetime
from decimal import Decimal

from django.core.exceptions import ValidationError
from django.db import connection, transaction
from django.db.models import Exists, OuterRef, Subquery
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from bank.audit import acting, current_actor, current_reason
from bank.errors import Conflict
from bank.notifications import notify_role
from bank.roles import QA, TECHNICIAN
from lots.choices import LotStatus, VialKind, VialStatus
from lots.models import Lot, Vial
from lots.queries import sample_kinds, sample_vials_q
from lots.services import change_lot_status
from qc.choices import OPEN_RECHECK, PLANNED_LOT_STATUSES, Decision, RecheckStatus
from qc.models import Criterion, LotDecision, LotSpecification, QCResult, QCTest, Recheck, StabilityPlan, format_number
from qc.queries import latest_decision, overdue_cutoff, takes_stability_plan

from ._common import _check_tested_on, _decimal, _link, _lock_lot, _require_perm, _today
from .deviations import _open_deviation
from .results import _resolve_vial, _thaw

MAX_INTERVAL_DAYS = 3650


# --- stability programme -------------------------------------------------------------------------------


def _plan_anchor(lot: Lot) -> datetime.date:
    """The date the next interval counts from: the last re-check done, else the release."""
    last = (Recheck.objects.filter(lot=lot, status=RecheckStatus.DONE, result__isnull=False)
            .select_related("result").order_by("-result__tested_on", "-id").first())
    if last is not None:
        return last.result.tested_on
    release = latest_decision(lot, Decision.RELEASE)
    return timezone.localdate(release.decided_at) if release else _today()


def set_stability_plan(lot: Lot, *, actor, interval_days, min_viability_pct) -> StabilityPlan:
    """QA sets a released lot's re-check interval and minimum viability."""
    _require_perm(actor, "qc.change_stabilityplan")
    errors: dict[str, list] = {}
    try:
        interval = int(interval_days)
        if not 1 <= interval <= MAX_INTERVAL_DAYS:
            raise ValueError
    except (TypeError, ValueError):
        errors["interval_days"] = [_("Enter a whole number of days from 1 to %(max)s.") % {"max": MAX_INTERVAL_DAYS}]
        interval = 0
    minimum = _decimal(min_viability_pct, "min_viability_pct", errors)
    if "min_viability_pct" not in errors and (minimum is None or not Decimal(0) <= minimum <= Decimal(100)):
        errors["min_viability_pct"] = [_("Enter a viability from 0 to 100 %.")]
    if errors:
        raise ValidationError(errors)
    with transaction.atomic(), acting(actor, _("stability plan changed")):
        locked = _lock_lot(lot)
        if locked.status not in PLANNED_LOT_STATUSES:
            raise Conflict(_("Lot %(lot)s is %(status)s: only released lots have a stability plan.")
                           % {"lot": locked.lot_number, "status": LotStatus(locked.status).label},
                           code="lot_not_released")
        if not takes_stability_plan(locked):
            raise Conflict(_("Lot %(lot)s is a cord blood unit without segments or reference vials of cells: it has "
                             "no stability plan, because a re-check would thaw its only bag.")
                           % {"lot": locked.lot_number}, code="last_vial")
        next_due = _plan_anchor(locked) + datetime.timedelta(days=interval)
        plan = StabilityPlan.objects.select_for_update().filter(lot=locked).first()
        if plan is None:
            plan = StabilityPlan.objects.create(lot=locked, interval_days=interval,
                                                min_viability_pct=minimum.quantize(Decimal("0.01")),
                                                next_due_on=next_due)
        else:
            plan.interval_days, plan.min_viability_pct, plan.next_due_on = (
                interval, minimum.quantize(Decimal("0.01")), next_due)
            plan.save(update_fields=["interval_days", "min_viability_pct", "next_due_on"])
    return plan


def _insert_rechecks(rows: list[tuple], now) -> list[Recheck]:
    """INSERT ... ON CONFLICT DO NOTHING RETURNING: only the rows this worker created come back."""
    if not rows:
        return []
    ops, qn = connection.ops, connection.ops.quote_name
    table = qn(Recheck._meta.db_table)
    opened_at = ops.adapt_datetimefield_value(now)
    params: list = []
    for plan_id, lot_id, due_on, vial_id in rows:
        params += [plan_id, lot_id, ops.adapt_datefield_value(due_on), RecheckStatus.DUE.value, vial_id, opened_at]
    values = ", ".join(["(%s, %s, %s, %s, %s, %s)"] * len(rows))
    # Only quoted identifiers and placeholders are interpolated; every value is a bound parameter.
    columns = ", ".join(qn(c) for c in ("plan_id", "lot_id", "due_on", "status", "vial_id", "opened_at"))
    conflict = f"{qn('plan_id')}, {qn('due_on')}"
    sql = f"INSERT INTO {table} ({columns}) VALUES {values} ON CONFLICT ({conflict}) DO NOTHING RETURNING id, plan_id"  # noqa: S608
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        created = dict((plan_id, pk) for pk, plan_id in cursor.fetchall())
    return [
        Recheck(pk=created[plan_id], plan_id=plan_id, lot_id=lot_id, due_on=due_on, status=RecheckStatus.DUE,
                vial_id=vial_id, opened_at=now)
        for plan_id, lot_id, due_on, vial_id in rows if plan_id in created
    ]


def _copy_to_history(ids: list[int], *, history_type: str, actor, reason: str) -> None:
    """Write the audit rows of many re-checks in one INSERT ... SELECT from the table itself.

    The rows are exactly those simple_history would write (same tracked columns, user, reason, type),
    without building thousands of Python objects: the daily task stays set-based at bank scale.
    """
    if not ids:
        return
    ops, qn = connection.ops, connection.ops.quote_name
    history = Recheck.history.model
    columns = [history._meta.get_field(f.name).column for f in history.tracked_fields]
    tracked = ", ".join(qn(c) for c in columns)
    extra = ", ".join(qn(c) for c in ("history_date", "history_change_reason", "history_type", "history_user_id"))
    where = ", ".join(["%s"] * len(ids))
    sql = (f"INSERT INTO {qn(history._meta.db_table)} ({tracked}, {extra}) "  # noqa: S608 (identifiers only)
           f"SELECT {tracked}, %s, %s, %s, %s FROM {qn(Recheck._meta.db_table)} WHERE {qn('id')} IN ({where})")
    params = [ops.adapt_datetimefield_value(timezone.now()), reason or None, history_type,
              getattr(actor, "pk", None), *ids]
    with connection.cursor() as cursor:
        cursor.execute(sql, params)


def _spare_vials():
    """Available test samples of the plan's lot that are not its last one: a re-check never thaws a lot's last
    vial, nor a cord blood unit's bag or its last segment or reference vial of cells (``lots.queries.sample_kinds``
    says what a re-check may thaw)."""
    samples = Vial.objects.filter(sample_vials_q(), status=VialStatus.AVAILABLE)
    lower = samples.filter(lot=OuterRef("lot_id"), number__lt=OuterRef("number"))
    return samples.filter(lot=OuterRef("lot_id")).filter(Exists(lower))


def _due_plans(today: datetime.date, after_pk: int, limit: int):
    """A batch of plans due for a re-check, locked (others' locked rows are skipped), with the vial to thaw:
    the highest-numbered available test sample of the lot that is in storage (never a bag). A lot with a single
    available test sample is not re-checked (its last vial is never thawed for a re-check)."""
    vial = (Vial.objects.filter(sample_vials_q(), lot=OuterRef("lot_id"), status=VialStatus.AVAILABLE,
                                box__isnull=False)
            .order_by("-number").values("pk")[:1])
    open_recheck = Recheck.objects.filter(plan=OuterRef("pk"), status__in=OPEN_RECHECK)
    same_due = Recheck.objects.filter(plan=OuterRef("pk"), due_on=OuterRef("next_due_on"))
    return list(
        StabilityPlan.objects.filter(active=True, next_due_on__lte=today, lot__status=LotStatus.RELEASED,
                                     pk__gt=after_pk)
        .filter(~Exists(open_recheck), ~Exists(same_due), Exists(_spare_vials()))
        .annotate(chosen_vial=Subquery(vial))
        .order_by("pk")
        .select_for_update(skip_locked=True, of=("self",))
        .values_list("pk", "lot_id", "next_due_on", "chosen_vial")[:limit]
    )


def _refuse_last_vial(vial: Vial, lot: Lot) -> None:
    kinds = sample_kinds(lot.tier)
    if vial.kind == VialKind.BAG:
        raise Conflict(_("%(vial)s is the bag of unit %(lot)s, the patient's dose: a re-check thaws a segment or a "
                         "reference vial of cells, never the bag. Leave it in storage.")
                       % {"vial": vial.barcode, "lot": lot.lot_number}, code="bag_not_a_sample")
    if vial.kind not in kinds:
        raise ValidationError({"vial": [_("%(vial)s is a %(kind)s: a stability re-check thaws a segment or a "
                                          "reference vial of cells.")
                                        % {"vial": vial.barcode, "kind": vial.get_kind_display()}]})
    others = Vial.objects.filter(lot=lot, status=VialStatus.AVAILABLE, kind__in=kinds).exclude(pk=vial.pk)
    if vial.status == VialStatus.AVAILABLE and not others.exists():
        raise Conflict(_("Vial %(vial)s is the last available vial of lot %(lot)s: a stability re-check never "
                         "thaws a lot's last vial. Leave it in storage and tell QA.")
                       % {"vial": vial.barcode, "lot": lot.lot_number}, code="last_vial")


def open_due_rechecks(*, actor=None, today: datetime.date | None = None, batch_size: int = 2000) -> dict[str, int]:
    """Open a re-check for every released lot whose plan is due, mark overdue ones, remind the bench.

    Idempotent and safe with several workers: plans are claimed in batches with
    ``SELECT ... FOR UPDATE SKIP LOCKED`` and re-checks are inserted with ``ON CONFLICT DO NOTHING``
    on the named unique constraint ``qc_recheck_unique_due``, so a second run (or a second worker)
    opens nothing twice and only the worker that inserted a row reports it. Queries per batch: the
    due plans with their vial (1), the insert (1), the history rows (1, INSERT ... SELECT).
    """
    today = today or _today()
    actor = actor if actor is not None else current_actor()
    opened: list[Recheck] = []
    with acting(actor, current_reason() or "stability programme"):
        reason = current_reason()[:100]
        after = 0
        while True:
            with transaction.atomic():
                rows = _due_plans(today, after, batch_size)
                if not rows:
                    break
                after = rows[-1][0]
                created = _insert_rechecks(rows, timezone.now())
                _copy_to_history([r.pk for r in created], history_type="+", actor=actor, reason=reason)
                opened.extend(created)
            if len(rows) < batch_size:
                break
        overdue = _mark_overdue(today, actor=actor, reason=reason, batch_size=batch_size)
        with transaction.atomic():
            _remind(opened, overdue)
    return {"opened": len(opened), "overdue": len(overdue)}


def _mark_overdue(today: datetime.date, *, actor, reason: str, batch_size: int) -> list[Recheck]:
    """Due re-checks past the grace period become overdue (a conditional UPDATE claims each once)."""
    cutoff = overdue_cutoff(today)
    marked: list[Recheck] = []
    while True:
        with transaction.atomic():
            # Locked rows are ours until commit; rows another worker holds are skipped, not waited for.
            rows = list(Recheck.objects.filter(status=RecheckStatus.DUE, due_on__lt=cutoff)
                        .select_for_update(skip_locked=True).order_by("pk")[:batch_size])
            if not rows:
                break
            ids = [r.pk for r in rows]
            Recheck.objects.filter(pk__in=ids).update(status=RecheckStatus.OVERDUE)
            _copy_to_history(ids, history_type="~", actor=actor, reason=reason)
            for row in rows:
                row.status = RecheckStatus.OVERDUE
            marked.extend(rows)
        if len(rows) < batch_size:
            break
    return marked


def _remind(opened: list[Recheck], overdue: list[Recheck]) -> None:
    """One summary per person (never one per lot): technicians thaw, QA watches the overdue ones."""
    if not opened and not overdue:
        return
    lot_numbers = dict(Lot.objects.filter(pk__in={r.lot_id for r in opened[:20] + overdue[:20]})
                       .values_list("pk", "lot_number"))
    link = _link("qc:rechecks")
    if opened:
        listed = ", ".join(lot_numbers.get(r.lot_id, "?") for r in opened[:20])
        notify_role(
            TECHNICIAN,
            subject=ngettext("%(n)s stability re-check is due", "%(n)s stability re-checks are due", len(opened))
            % {"n": len(opened)},
            body=_("Thaw the vial named for each lot and enter its viability: %(lots)s%(more)s.")
            % {"lots": listed, "more": " …" if len(opened) > 20 else ""},
            link=link,
        )
    if overdue:
        listed = ", ".join(lot_numbers.get(r.lot_id, "?") for r in overdue[:20])
        notify_role(
            TECHNICIAN, QA,
            subject=ngettext("%(n)s stability re-check is overdue", "%(n)s stability re-checks are overdue",
                             len(overdue)) % {"n": len(overdue)},
            body=_("These lots' re-checks are past due: %(lots)s%(more)s.")
            % {"lots": listed, "more": " …" if len(overdue) > 20 else ""},
            link=link, level="warning",
        )


def record_recheck_result(recheck: Recheck, *, actor, viability_pct, tested_on, vial=None, method: str = "",
                          instrument: str = "", notes: str = "") -> Recheck:
    """Enter the viability of a re-check's thawed vial. Below the plan's minimum the lot goes on hold,
    a deviation opens and QA is told."""
    _require_perm(actor, "qc.change_recheck")
    errors: dict[str, list] = {}
    value = _decimal(viability_pct, "viability_pct", errors)
    if "viability_pct" not in errors and (value is None or not Decimal(0) <= value <= Decimal(100)):
        errors["viability_pct"] = [_("Enter the viability in % (0 to 100).")]
    _check_tested_on(tested_on, errors)
    if errors:
        raise ValidationError(errors)
    with transaction.atomic(), acting(actor, _("stability re-check result")):
        locked = Recheck.objects.select_for_update(of=("self",)).select_related("plan", "vial").get(pk=recheck.pk)
        if locked.status not in OPEN_RECHECK:
            raise Conflict(_("This re-check is already %(status)s.") % {"status": RecheckStatus(locked.status).label},
                           code="recheck_closed")
        lot = _lock_lot(locked.lot)
        the_vial = _resolve_vial(lot, vial) or locked.vial
        if the_vial is None:
            raise ValidationError({"vial": [_("Scan the barcode of the vial you thawed.")]})
        _refuse_last_vial(Vial.objects.get(pk=the_vial.pk), lot)
        _thaw(the_vial, actor=actor, reason=_("thawed for the stability re-check due %(date)s")
              % {"date": locked.due_on.isoformat()})
        plan = locked.plan
        viability = QCTest.objects.get(code="viability")
        assignment = LotSpecification.objects.filter(lot=lot).first()
        criterion = (Criterion.objects.filter(specification_id=assignment.specification_id, test=viability).first()
                     if assignment else None)
        result = QCResult.objects.create(
            lot=lot, test=viability, criterion=criterion, vial=the_vial, value=value, unit=viability.unit,
            method=(method or "").strip()[:200], instrument=(instrument or "").strip()[:120], tested_on=tested_on,
            passed=value >= plan.min_viability_pct, entered_by=actor,
            notes=(notes or _("Stability re-check due %(date)s; minimum %(min)s %%.")
                   % {"date": locked.due_on.isoformat(), "min": format_number(plan.min_viability_pct)}),
        )
        locked.status, locked.result, locked.vial = RecheckStatus.DONE, result, the_vial
        locked.completed_at, locked.completed_by = timezone.now(), actor
        locked.save(update_fields=["status", "result", "vial", "completed_at", "completed_by"])
        plan.next_due_on = tested_on + datetime.timedelta(days=plan.interval_days)
        plan.save(update_fields=["next_due_on"])
        if not result.passed:
            summary = (_("Stability re-check of lot %(lot)s: viability %(value)s %% is below the minimum %(min)s %%.")
                       % {"lot": lot.lot_number, "value": format_number(value),
                          "min": format_number(plan.min_viability_pct)})
            _open_deviation(lot, actor=actor, result=result, summary=summary)
            if lot.status == LotStatus.RELEASED:
                LotDecision.objects.create(lot=lot, decision=Decision.HOLD, decided_by=None, reason=summary,
                                           cited_result=result,
                                           specification_id=assignment.specification_id if assignment else None)
                change_lot_status(lot, LotStatus.ON_HOLD, actor=actor, reason=_("failed stability re-check"))
                notify_role(QA, subject=_("Lot %(lot)s is on hold after a failed re-check") % {"lot": lot.lot_number},
                            body=summary, link=_link("qc:review", lot.pk), level="alarm")
    return locked
