"""QC results on a lot (never overwritten: a retest is a new result) and thawing a vial for testing."""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils.translation import gettext as _

from bank.audit import acting
from bank.errors import Conflict
from bank.parsing import whole_number
from bank.registry import announce
from lots.choices import LotStatus, VialKind, VialStatus
from lots.models import Lot, Vial
from lots.services import change_vial_status
from qc.choices import TestKind
from qc.models import Criterion, LotSpecification, QCResult, QCTest, format_number
from qc.queries import spec_in_force
from storage.services import remove_from_storage

from ._common import _check_tested_on, _decimal, _lock_lot, _require_perm
from .deviations import _open_deviation

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
    if fresh.kind == VialKind.BAG:
        # The bag is a cord blood unit's product (the patient's dose): tests thaw its segments or reference vials.
        raise Conflict(_("%(vial)s is a bag, the patient's dose: test a segment or a reference vial instead.")
                       % {"vial": fresh.barcode}, code="bag_not_a_sample")
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
        # issue 16: the quality gate (training_required, equipment_not_calibrated for a registered instrument)
        announce("activity_gate", activity="qc_result", actor=actor, on=tested_on, subject=result,
                 instrument=instrument)
        if not result.passed and criterion.blocking:
            _open_deviation(
                locked, actor=actor, result=result,
                summary=_("Out of specification: %(test)s %(result)s (criterion %(criterion)s, %(spec)s).")
                % {"test": qc_test.code, "result": result.display, "criterion": criterion.describe(),
                   "spec": str(spec)},
            )
    return result
