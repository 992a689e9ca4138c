"""Every write and state change of the qc app: specifications, results, deviations, QA decisions,
stability plans and re-checks.

Decisions are electronic signatures (21 CFR Part 11): the password is re-checked *outside* the
transaction (so a failed attempt is recorded even though nothing else is), then the decision, the
lot's status change and the signature commit together. Lot statuses move only through
``lots.services.change_lot_status``; a thawed vial leaves through ``change_vial_status`` and
``storage.services.remove_from_storage``.
"""

from __future__ import annotations

import datetime
from decimal import Decimal, InvalidOperation

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import IntegrityError, connection, transaction
from django.db.models import Exists, OuterRef, Subquery
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from bank.audit import acting, current_actor, current_reason
from bank.errors import Conflict, Forbidden
from bank.models import BarcodeSequence, SignatureMeaning
from bank.notifications import notify_role
from bank.parsing import whole_number
from bank.roles import QA, TECHNICIAN, has_role
from bank.signatures import record_signature, verify_password
from lots.choices import LotStatus, ReprogrammingMethod, VialStatus
from lots.models import Lot, Vial
from lots.services import change_lot_status, change_vial_status
from qc.choices import Decision, DeviationStatus, RecheckStatus, TestKind
from qc.models import (
    Criterion,
    Deviation,
    LotDecision,
    LotSpecification,
    QCResult,
    QCTest,
    Recheck,
    Specification,
    StabilityPlan,
    format_number,
)
from qc.queries import (
    OPEN_RECHECK,
    ancestor_recalled_conflict,
    latest_decision,
    overdue_cutoff,
    readiness_for,
    spec_in_force,
)
from storage.services import remove_from_storage

# The viability limit of a plan whose specification has none (the commonest limit of QC_SPECS.md).
DEFAULT_MIN_VIABILITY = Decimal("70")
MAX_INTERVAL_DAYS = 3650


# --- helpers -------------------------------------------------------------------------------------


def _require_perm(actor, perm: str) -> None:
    if actor is None or not actor.has_perm(perm):
        raise Forbidden(_("Your role does not allow this action."), code="permission_denied")


def _require_qa_signer(actor, perm: str = "qc.release_lot") -> None:
    """QA decisions are signed by a QA officer only (an admin account must also hold the qa role)."""
    if actor is None or not actor.has_perm(perm) or not has_role(actor, QA):
        raise Forbidden(_("Only a QA officer may sign this decision."), code="permission_denied")


def _require_meaning(meaning: str) -> str:
    meaning = (meaning or "").strip()
    if not meaning:
        raise ValidationError({"meaning": [_("Give the meaning of your signature.")]})
    return meaning[:200]


def _today() -> datetime.date:
    return timezone.localdate()


def _check_tested_on(tested_on, errors: dict) -> None:
    if tested_on in (None, ""):
        errors["tested_on"] = [_("Enter the date the test was done.")]
    elif not isinstance(tested_on, datetime.date):
        errors["tested_on"] = [_("Enter a date as YYYY-MM-DD.")]
    elif tested_on > _today():
        errors["tested_on"] = [_("The test date %(date)s is in the future: enter the day the test was done.")
                               % {"date": tested_on.isoformat()}]


def _decimal(value, field: str, errors: dict) -> Decimal | None:
    if value in (None, ""):
        return None
    try:
        number = value if isinstance(value, Decimal) else Decimal(str(value).strip())
    except (InvalidOperation, ValueError):
        errors[field] = [_("Enter a number.")]
        return None
    if not number.is_finite():
        errors[field] = [_("Enter a number.")]
        return None
    return number


def _lock_lot(lot: Lot) -> Lot:
    return Lot.objects.select_for_update(of=("self",)).select_related("cell_line").get(pk=lot.pk)


def _link(name: str, *args) -> str:
    return reverse(name, args=args)


def _next_deviation_number(today: datetime.date) -> str:
    """DEV-2026-0001: one locked sequence per year, so two OOS results never share a number."""
    kind = f"deviation:{today.year}"
    with transaction.atomic():
        sequence, _created = BarcodeSequence.objects.select_for_update().get_or_create(kind=kind)
        sequence.last_value += 1
        # Like bank.barcodes.issue: the sequence's state is derivable from the numbers it issued.
        BarcodeSequence.objects.filter(pk=kind).update(last_value=sequence.last_value)
    return f"DEV-{today.year}-{sequence.last_value:04d}"


def _open_deviation(lot: Lot, *, actor, summary: str, result: QCResult | None = None) -> Deviation:
    deviation = Deviation.objects.create(
        number=_next_deviation_number(_today()), lot=lot, result=result, opened_by=actor, summary=summary[:300],
    )
    notify_role(
        QA,
        subject=_("Deviation %(number)s opened on lot %(lot)s") % {"number": deviation.number, "lot": lot.lot_number},
        body=summary, link=_link("qc:deviation", deviation.pk), level="warning",
    )
    return deviation


# --- specifications ------------------------------------------------------------------------------


def _clean_criteria(criteria: list[dict]) -> list[dict]:
    tests = {t.code: t for t in QCTest.objects.all()}
    methods = {m for m in ReprogrammingMethod.values if m}
    errors: list[str] = []
    seen: set[str] = set()
    cleaned = []
    if not criteria:
        raise ValidationError({"criteria": [_("A specification needs at least one criterion.")]})
    for index, row in enumerate(criteria, start=1):
        code = str(row.get("test") or "").strip()
        test = tests.get(code)
        where = _("criterion %(n)s (%(test)s)") % {"n": index, "test": code or "—"}
        if test is None:
            errors.append(_("%(where)s: unknown test code. Use one of: %(codes)s.")
                          % {"where": where, "codes": ", ".join(tests)})
            continue
        if code in seen:
            errors.append(_("%(where)s: the test is listed twice.") % {"where": where})
            continue
        seen.add(code)
        row_errors: dict = {}
        low = _decimal(row.get("min"), "min", row_errors)
        high = _decimal(row.get("max"), "max", row_errors)
        expected = str(row.get("expected") or "").strip()
        only_for = str(row.get("only_for_reprogramming") or "").strip()
        if row_errors:
            errors.append(_("%(where)s: minimum and maximum must be numbers.") % {"where": where})
            continue
        if test.kind == TestKind.NUMERIC:
            if expected:
                errors.append(_("%(where)s: a numeric test takes a minimum and/or maximum, not an expected outcome.")
                              % {"where": where})
            if low is None and high is None:
                errors.append(_("%(where)s: give a minimum, a maximum or both.") % {"where": where})
            if low is not None and high is not None and low > high:
                errors.append(_("%(where)s: the minimum is above the maximum.") % {"where": where})
        else:
            if low is not None or high is not None:
                errors.append(_("%(where)s: an outcome test takes an expected outcome, not limits.")
                              % {"where": where})
            if expected not in (test.outcomes or []):
                errors.append(_("%(where)s: the expected outcome must be one of: %(outcomes)s.")
                              % {"where": where, "outcomes": ", ".join(test.outcomes or [])})
        if only_for and only_for not in methods:
            errors.append(_("%(where)s: unknown reprogramming method %(method)s.")
                          % {"where": where, "method": only_for})
        cleaned.append({
            "test": test, "min_value": low, "max_value": high, "expected": expected,
            "unit": (str(row.get("unit") or "").strip() or test.unit)[:30] if test.kind == TestKind.NUMERIC else "",
            "blocking": bool(row.get("blocking", True)), "only_for_reprogramming": only_for,
        })
    if errors:
        raise ValidationError({"criteria": errors})
    return cleaned


def publish_specification(*, actor, cell_type: str, tier: str, criteria: list[dict], notes: str = "") -> Specification:
    """Publish the next version of a cell type and tier's specification (old versions stay and keep
    judging the lots whose first result was entered under them)."""
    _require_perm(actor, "qc.add_specification")
    from lots.choices import CellType, Tier

    errors = {}
    if cell_type not in CellType.values:
        errors["cell_type"] = [_("Unknown cell type. Use one of: %(choices)s.")
                               % {"choices": ", ".join(CellType.values)}]
    if tier not in Tier.values:
        errors["tier"] = [_("Unknown tier. Use one of: %(choices)s.") % {"choices": ", ".join(Tier.values)}]
    if errors:
        raise ValidationError(errors)
    cleaned = _clean_criteria(criteria)
    with transaction.atomic(), acting(actor, _("specification published")):
        current = list(
            Specification.objects.select_for_update().filter(cell_type=cell_type, tier=tier).order_by("-version")[:1]
        )
        version = current[0].version + 1 if current else 1
        try:
            with transaction.atomic():
                spec = Specification.objects.create(cell_type=cell_type, tier=tier, version=version,
                                                    published_by=actor, notes=notes or "")
        except IntegrityError:
            raise Conflict(_("Another version was published at the same moment; reload and try again."),
                           code="version_conflict")
        for row in cleaned:
            Criterion.objects.create(specification=spec, **row)
    return spec


# --- results ---------------------------------------------------------------------------------------


def _resolve_vial(lot: Lot, vial) -> Vial | None:
    if vial in (None, ""):
        return None
    if isinstance(vial, Vial):
        found = vial
    else:
        code = str(vial).strip()
        found = Vial.objects.filter(barcode=code).first()
        if found is None and (pk := whole_number(code)) is not None:
            found = Vial.objects.filter(pk=pk).first()
        if found is None:
            raise ValidationError({"vial": [_("No vial has the barcode %(code)s. Scan the vial's label again.")
                                            % {"code": code}]})
    if found.lot_id != lot.pk:
        raise ValidationError({"vial": [_("Vial %(vial)s is not from lot %(lot)s.")
                                        % {"vial": found.barcode, "lot": lot.lot_number}]})
    return found


def _thaw(vial: Vial, *, actor, reason: str) -> None:
    """A vial thawed for testing is used up and leaves its position (several tests may share one)."""
    fresh = Vial.objects.get(pk=vial.pk)
    if fresh.status == VialStatus.USED:
        return
    if fresh.status != VialStatus.AVAILABLE:
        raise Conflict(
            _("Vial %(vial)s is %(status)s and cannot be thawed for testing.")
            % {"vial": fresh.barcode, "status": VialStatus(fresh.status).label},
            code="vial_unavailable",
        )
    change_vial_status([fresh], VialStatus.USED, actor=actor, reason=reason)
    remove_from_storage([fresh], actor=actor, reason=reason)


def record_qc_result(lot: Lot, *, actor, test: str, tested_on, value=None, outcome: str = "", method: str = "",
                     instrument: str = "", vial=None, notes: str = "") -> QCResult:
    """Enter a test result on a lot. Never overwrites: a retest is a new result (``retest_of``).

    The lot's specification is fixed at its first result (the version in force then). Pass/fail is
    computed by the criterion; an out-of-specification result on a blocking test opens a deviation.
    """
    _require_perm(actor, "qc.add_qcresult")
    errors: dict[str, list] = {}
    code = str(test or "").strip()
    qc_test = QCTest.objects.filter(code=code).first()
    if qc_test is None:
        errors["test"] = [_("Unknown test code %(code)s. Use one of: %(codes)s.")
                          % {"code": code or "—", "codes": ", ".join(QCTest.objects.values_list("code", flat=True))}]
    number = _decimal(value, "value", errors)
    outcome = str(outcome or "").strip().lower()
    if qc_test is not None and "value" not in errors:
        if qc_test.kind == TestKind.NUMERIC:
            if outcome:
                errors["outcome"] = [_("%(test)s is a numeric test: give a value in %(unit)s, not an outcome.")
                                     % {"test": qc_test.code, "unit": qc_test.unit or "-"}]
            elif number is None:
                errors["value"] = [_("Enter the value of %(test)s in %(unit)s.")
                                   % {"test": qc_test.code, "unit": qc_test.unit or "-"}]
            elif number < 0 or (qc_test.unit.startswith("%") and number > 100):
                errors["value"] = [_("%(value)s is not a possible value of %(test)s.")
                                   % {"value": format_number(number), "test": qc_test.code}]
        else:
            choices = ", ".join(qc_test.outcomes or [])
            if number is not None:
                errors["value"] = [_("%(test)s is an outcome test: give an outcome (%(choices)s), not a value.")
                                   % {"test": qc_test.code, "choices": choices}]
            elif not outcome:
                errors["outcome"] = [_("Choose the outcome of %(test)s: %(choices)s.")
                                     % {"test": qc_test.code, "choices": choices}]
            elif outcome not in (qc_test.outcomes or []):
                errors["outcome"] = [_("%(outcome)s is not an outcome of %(test)s. Use one of: %(choices)s.")
                                     % {"outcome": outcome, "test": qc_test.code, "choices": choices}]
    _check_tested_on(tested_on, errors)
    if errors:
        raise ValidationError(errors)

    reason = _("QC result %(test)s") % {"test": qc_test.code}
    with transaction.atomic(), acting(actor, reason):
        locked = _lock_lot(lot)
        if locked.status == LotStatus.REJECTED:
            raise Conflict(_("Lot %(lot)s was rejected: no more results can be entered on it.")
                           % {"lot": locked.lot_number}, code="lot_rejected")
        assignment = LotSpecification.objects.filter(lot=locked).select_related("specification").first()
        if assignment is None:
            spec = spec_in_force(locked.cell_line.cell_type, locked.tier)
            if spec is None:
                raise Conflict(_("There is no specification for %(cell_type)s %(tier)s: QA must publish one first.")
                               % {"cell_type": locked.cell_line.cell_type, "tier": locked.tier},
                               code="no_specification")
            # The first result fixes the version that will judge this lot for good.
            LotSpecification.objects.create(lot=locked, specification=spec)
        else:
            spec = assignment.specification
        criterion = Criterion.objects.filter(specification=spec, test=qc_test).select_related("test").first()
        if criterion is None or not criterion.applies_to(locked.cell_line):
            raise ValidationError({"test": [
                _("%(test)s is not part of specification %(spec)s that judges lot %(lot)s.")
                % {"test": qc_test.code, "spec": str(spec), "lot": locked.lot_number}]})
        the_vial = _resolve_vial(locked, vial)
        if the_vial is not None:
            _thaw(the_vial, actor=actor, reason=_("thawed for QC (%(test)s)") % {"test": qc_test.code})
        previous = (QCResult.objects.filter(lot=locked, test=qc_test, recheck__isnull=True)
                    .order_by("-entered_at", "-id").first())
        result = QCResult.objects.create(
            lot=locked, test=qc_test, criterion=criterion, vial=the_vial, value=number, outcome=outcome,
            unit=qc_test.unit if number is not None else "", method=(method or "").strip()[:200],
            instrument=(instrument or "").strip()[:120], tested_on=tested_on,
            passed=criterion.judge(number, outcome), retest_of=previous, entered_by=actor, notes=notes or "",
        )
        if not result.passed and criterion.blocking:
            _open_deviation(
                locked, actor=actor, result=result,
                summary=_("Out of specification: %(test)s %(result)s (criterion %(criterion)s, %(spec)s).")
                % {"test": qc_test.code, "result": result.display, "criterion": criterion.describe(),
                   "spec": str(spec)},
            )
    return result


# --- deviations ------------------------------------------------------------------------------------


def open_deviation(lot: Lot, *, actor, summary: str) -> Deviation:
    """Open a deviation by hand (a process event not tied to one result)."""
    _require_perm(actor, "qc.add_deviation")
    summary = (summary or "").strip()
    if not summary:
        raise ValidationError({"summary": [_("Describe what happened.")]})
    with transaction.atomic(), acting(actor, _("deviation opened")):
        locked = _lock_lot(lot)
        return _open_deviation(locked, actor=actor, summary=summary)


def update_deviation(deviation: Deviation, *, actor, investigation: str | None = None,
                     root_cause: str | None = None, capa: str | None = None) -> Deviation:
    """Record the investigation, root cause and CAPA of an open deviation."""
    _require_perm(actor, "qc.change_deviation")
    with transaction.atomic(), acting(actor, _("deviation investigation")):
        locked = Deviation.objects.select_for_update().get(pk=deviation.pk)
        if locked.status != DeviationStatus.OPEN:
            raise Conflict(_("Deviation %(number)s is closed and can no longer change.") % {"number": locked.number},
                           code="deviation_closed")
        changed = []
        for name, text in (("investigation", investigation), ("root_cause", root_cause), ("capa", capa)):
            if text is not None and text != getattr(locked, name):
                setattr(locked, name, text)
                changed.append(name)
        if changed:
            locked.save(update_fields=changed)
    return locked


def close_deviation(deviation: Deviation, *, actor, password: str,
                    meaning: str = SignatureMeaning.CLOSURE) -> Deviation:
    """QA closes a deviation once investigation, root cause and CAPA are written, with an e-signature."""
    _require_qa_signer(actor, "qc.close_deviation")
    meaning = _require_meaning(meaning)
    verify_password(actor, password)
    with transaction.atomic(), acting(actor, _("deviation closed")):
        locked = Deviation.objects.select_for_update().select_related("lot").get(pk=deviation.pk)
        if locked.status != DeviationStatus.OPEN:
            raise Conflict(_("Deviation %(number)s is already closed.") % {"number": locked.number},
                           code="deviation_closed")
        missing = [name for name in ("investigation", "root_cause", "capa") if not getattr(locked, name).strip()]
        if missing:
            raise Conflict(
                _("Write the %(fields)s of deviation %(number)s before closing it.")
                % {"fields": ", ".join(str(Deviation._meta.get_field(n).verbose_name) for n in missing),
                   "number": locked.number},
                code="deviation_incomplete", missing=missing,
            )
        locked.status = DeviationStatus.CLOSED
        locked.closed_at = timezone.now()
        locked.closed_by = actor
        locked.save(update_fields=["status", "closed_at", "closed_by"])
        record_signature(locked, signer=actor, meaning=meaning,
                         statement=_("Investigation, root cause and CAPA of %(number)s reviewed; deviation closed.")
                         % {"number": locked.number})
    return locked


# --- release and rejection ----------------------------------------------------------------------------


def _refuse_if_signer_entered_results(lot: Lot, actor) -> None:
    if QCResult.objects.filter(lot=lot, entered_by=actor).exists():
        raise Forbidden(
            _("You entered QC results for lot %(lot)s: another QA officer must sign its decision "
              "(segregation of duties).") % {"lot": lot.lot_number},
            code="segregation_of_duties",
        )


def _refuse_unless_status(lot: Lot, status: str, to: str) -> None:
    if lot.status != status:
        raise Conflict(
            _("Lot %(lot)s is %(from)s; it cannot become %(to)s.")
            % {"lot": lot.lot_number, "from": LotStatus(lot.status).label, "to": LotStatus(to).label},
            code="invalid_transition", status=lot.status,
        )


def _viability_limit(spec: Specification | None, line) -> Decimal:
    if spec is not None:
        for criterion in spec.criteria.all():
            if criterion.test.code == "viability" and criterion.min_value is not None and criterion.applies_to(line):
                return criterion.min_value
    return DEFAULT_MIN_VIABILITY


def release_lot(lot: Lot, *, actor, password: str, meaning: str = SignatureMeaning.RELEASE) -> LotDecision:
    """QA's e-signed release. Refusals in the order of API.md: role, signature_invalid,
    segregation_of_duties, qc_incomplete, qc_failed, open_deviation, donor_not_eligible, consent_withdrawn."""
    _require_qa_signer(actor)
    meaning = _require_meaning(meaning)
    verify_password(actor, password)  # outside the transaction: a failed attempt stays recorded
    with transaction.atomic(), acting(actor, _("lot released")):
        locked = _lock_lot(lot)
        _refuse_if_signer_entered_results(locked, actor)
        _refuse_unless_status(locked, LotStatus.QUARANTINE, LotStatus.RELEASED)
        readiness = readiness_for([locked])[locked.pk]
        blockers = readiness.blockers()
        if blockers:
            raise blockers[0]
        spec = readiness.specification
        decision = LotDecision.objects.create(lot=locked, decision=Decision.RELEASE, decided_by=actor,
                                              specification=spec)
        change_lot_status(locked, LotStatus.RELEASED, actor=actor, reason=_("released by QA"))
        interval = int(settings.STABILITY_INTERVAL_DAYS)
        StabilityPlan.objects.update_or_create(
            lot=locked,
            defaults={"interval_days": interval, "min_viability_pct": _viability_limit(spec, locked.cell_line),
                      "next_due_on": _today() + datetime.timedelta(days=interval), "active": True},
        )
        record_signature(decision, signer=actor, meaning=meaning,
                         statement=_("Lot %(lot)s meets specification %(spec)s.")
                         % {"lot": locked.lot_number, "spec": str(spec)})
        notify_role(
            TECHNICIAN,
            subject=_("Lot %(lot)s released: move its vials out of the quarantine tank")
            % {"lot": locked.lot_number},
            link=_link("storage:relocate_lot", locked.pk),
        )
    lot.status = locked.status
    return decision


def reject_lot(lot: Lot, *, actor, password: str, reason: str,
               meaning: str = SignatureMeaning.REJECTION) -> LotDecision:
    """QA's e-signed rejection (role, signature, segregation of duties, then the lot must be in quarantine)."""
    _require_qa_signer(actor)
    reason = (reason or "").strip()
    if not reason:
        raise ValidationError({"reason": [_("Give the reason for the rejection.")]})
    meaning = _require_meaning(meaning)
    verify_password(actor, password)
    with transaction.atomic(), acting(actor, _("lot rejected")):
        locked = _lock_lot(lot)
        _refuse_if_signer_entered_results(locked, actor)
        _refuse_unless_status(locked, LotStatus.QUARANTINE, LotStatus.REJECTED)
        assignment = LotSpecification.objects.filter(lot=locked).first()
        decision = LotDecision.objects.create(
            lot=locked, decision=Decision.REJECT, decided_by=actor, reason=reason,
            specification_id=assignment.specification_id if assignment else None,
        )
        change_lot_status(locked, LotStatus.REJECTED, actor=actor, reason=reason[:100])
        record_signature(decision, signer=actor, meaning=meaning,
                         statement=_("Lot %(lot)s rejected: %(reason)s") % {"lot": locked.lot_number, "reason": reason})
        notify_role(
            TECHNICIAN,
            subject=_("Lot %(lot)s rejected: its vials must not be used") % {"lot": locked.lot_number},
            body=reason, link=_link("qc:review", locked.pk),
        )
    lot.status = locked.status
    return decision


def lift_hold(lot: Lot, *, actor, password: str, cited_result, reason: str = "",
              meaning: str = SignatureMeaning.HOLD_LIFTED) -> LotDecision:
    """QA lifts a hold with an e-signed decision citing a passing viability re-test entered after the hold."""
    _require_qa_signer(actor)
    meaning = _require_meaning(meaning)
    cited = cited_result if isinstance(cited_result, QCResult) else (
        QCResult.objects.filter(pk=pk).first() if (pk := whole_number(cited_result)) is not None else None)
    if cited is None or cited.lot_id != lot.pk:
        raise ValidationError({"cited_result": [_("Cite a re-test result of this lot.")]})
    verify_password(actor, password)
    with transaction.atomic(), acting(actor, _("hold lifted")):
        locked = _lock_lot(lot)
        if cited.entered_by_id == actor.pk:
            raise Forbidden(_("You entered the cited re-test: another QA officer must lift the hold "
                              "(segregation of duties)."), code="segregation_of_duties")
        _refuse_unless_status(locked, LotStatus.ON_HOLD, LotStatus.RELEASED)
        hold = latest_decision(locked, Decision.HOLD)
        plan = StabilityPlan.objects.filter(lot=locked).first()
        limit = plan.min_viability_pct if plan else DEFAULT_MIN_VIABILITY
        cited = QCResult.objects.select_related("test").get(pk=cited.pk)
        if (cited.test.code != "viability" or cited.value is None or cited.value < limit
                or (hold is not None and cited.entered_at <= hold.decided_at)):
            raise Conflict(
                _("A hold is lifted only citing a passing viability re-test (at least %(limit)s %%) entered "
                  "after the hold.") % {"limit": format_number(limit)},
                code="retest_required",
            )
        open_devs = list(Deviation.objects.filter(lot=locked, status=DeviationStatus.OPEN)
                         .values_list("number", flat=True))
        if open_devs:
            raise Conflict(_("Lot %(lot)s has open deviations (%(numbers)s): QA must close them first.")
                           % {"lot": locked.lot_number, "numbers": ", ".join(open_devs)},
                           code="open_deviation", deviations=open_devs)
        donor = locked.cell_line.donor
        if donor.consent_withdrawn_at is not None or locked.consent_withdrawn_flagged_at is not None:
            raise Conflict(_("The donor withdrew consent: nothing derived from them may be released."),
                           code="consent_withdrawn")
        if locked.ancestor_recalled_at is not None:
            raise ancestor_recalled_conflict(locked)
        decision = LotDecision.objects.create(lot=locked, decision=Decision.LIFT_HOLD, decided_by=actor,
                                              reason=(reason or "").strip(), cited_result=cited,
                                              specification_id=hold.specification_id if hold else None)
        change_lot_status(locked, LotStatus.RELEASED, actor=actor, reason=_("hold lifted"))
        record_signature(decision, signer=actor, meaning=meaning,
                         statement=_("Hold on lot %(lot)s lifted on the passing re-test of %(date)s (%(value)s).")
                         % {"lot": locked.lot_number, "date": cited.tested_on.isoformat(), "value": cited.display})
    lot.status = locked.status
    return decision


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
        if locked.status not in (LotStatus.RELEASED, LotStatus.ON_HOLD):
            raise Conflict(_("Lot %(lot)s is %(status)s: only released lots have a stability plan.")
                           % {"lot": locked.lot_number, "status": LotStatus(locked.status).label},
                           code="lot_not_released")
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


def _due_plans(today: datetime.date, after_pk: int, limit: int):
    """A batch of plans due for a re-check, locked (others' locked rows are skipped), with the vial to thaw:
    the highest-numbered available vial of the lot that is in storage."""
    vial = (Vial.objects.filter(lot=OuterRef("lot_id"), status=VialStatus.AVAILABLE, box__isnull=False)
            .order_by("-number").values("pk")[:1])
    open_recheck = Recheck.objects.filter(plan=OuterRef("pk"), status__in=OPEN_RECHECK)
    same_due = Recheck.objects.filter(plan=OuterRef("pk"), due_on=OuterRef("next_due_on"))
    return list(
        StabilityPlan.objects.filter(active=True, next_due_on__lte=today, lot__status=LotStatus.RELEASED,
                                     pk__gt=after_pk)
        .filter(~Exists(open_recheck), ~Exists(same_due))
        .annotate(chosen_vial=Subquery(vial))
        .order_by("pk")
        .select_for_update(skip_locked=True, of=("self",))
        .values_list("pk", "lot_id", "next_due_on", "chosen_vial")[:limit]
    )


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
