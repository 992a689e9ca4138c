"""QA's e-signed lot decisions: release, rejection and lifting a hold, with segregation of duties.

Each signature covers, besides the decision row, the manifest of what QA reviewed (``LotDecision.
signature_manifest`` → ``qc.queries.decision_manifest``: every counted result, the specification, the deviations,
donor eligibility and consent), built by ``record_signature`` inside the decision's transaction after its changes.
"""

from __future__ import annotations

import datetime
from decimal import Decimal

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils.translation import gettext as _

from bank.audit import acting
from bank.errors import Conflict
from bank.models import SignatureMeaning
from bank.notifications import notify_role
from bank.parsing import whole_number
from bank.roles import TECHNICIAN
from bank.signatures import record_signature, verify_password
from lots.choices import LotStatus
from lots.models import Lot
from lots.services import change_lot_status
from qc.choices import Decision
from qc.models import LotDecision, LotSpecification, QCResult, StabilityPlan, format_number
from qc.queries import DEFAULT_MIN_VIABILITY, hold_relief, readiness_for, segregation_conflict, takes_stability_plan

from ._common import _link, _lock_lot, _require_meaning, _require_qa_signer, _today

# --- release and rejection ----------------------------------------------------------------------------


def _refuse_unless_independent(lot: Lot, actor, *, cited_result: QCResult | None = None) -> None:
    refusal = segregation_conflict(lot, actor, cited_result=cited_result)
    if refusal is not None:
        raise refusal


def _refuse_unless_status(lot: Lot, status: str, to: str) -> None:
    if lot.status != status:
        raise Conflict(
            _("Lot %(lot)s is %(from)s; it cannot become %(to)s.")
            % {"lot": lot.lot_number, "from": LotStatus(lot.status).label, "to": LotStatus(to).label},
            code="invalid_transition", status=lot.status,
        )


def _viability_limit(readiness) -> Decimal:
    """The stability plan's minimum: the viability criterion of the specification that judged the lot (its panel's
    rows are the criteria that apply to the lot's line), else the default."""
    for row in readiness.rows:
        if row.criterion.test.code == "viability" and row.criterion.min_value is not None:
            return row.criterion.min_value
    return DEFAULT_MIN_VIABILITY


def release_lot(lot: Lot, *, actor, password: str, meaning: str = SignatureMeaning.RELEASE) -> LotDecision:
    """QA's e-signed release. Refusals in the order of API.md: role, signature_invalid,
    segregation_of_duties, qc_incomplete, qc_failed, open_deviation, donor_not_eligible, consent_withdrawn."""
    _require_qa_signer(actor)
    meaning = _require_meaning(meaning)
    verify_password(actor, password)  # outside the transaction: a failed attempt stays recorded
    with transaction.atomic(), acting(actor, _("lot released")):
        locked = _lock_lot(lot)
        _refuse_unless_independent(locked, actor)
        _refuse_unless_status(locked, LotStatus.QUARANTINE, LotStatus.RELEASED)
        readiness = readiness_for([locked])[locked.pk]
        blockers = readiness.blockers()
        if blockers:
            raise blockers[0]
        spec = readiness.specification
        decision = LotDecision.objects.create(lot=locked, decision=Decision.RELEASE, decided_by=actor,
                                              specification=spec)
        change_lot_status(locked, LotStatus.RELEASED, actor=actor, reason=_("released by QA"))
        if takes_stability_plan(locked):
            interval = int(settings.STABILITY_INTERVAL_DAYS)
            StabilityPlan.objects.update_or_create(
                lot=locked,
                defaults={"interval_days": interval, "min_viability_pct": _viability_limit(readiness),
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
        _refuse_unless_independent(locked, actor)
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
        _refuse_unless_independent(locked, actor, cited_result=cited)
        _refuse_unless_status(locked, LotStatus.ON_HOLD, LotStatus.RELEASED)
        relief = hold_relief(locked)
        hold = relief.hold
        cited = relief.retests.filter(pk=cited.pk).first()
        if cited is None:
            raise Conflict(
                _("A hold is lifted only citing a passing viability re-test (at least %(limit)s %%) entered "
                  "after the hold.") % {"limit": format_number(relief.limit)},
                code="retest_required",
            )
        # What forbids the lot to be available whatever its results: the same rules the release applies.
        standing = readiness_for([locked])[locked.pk].standing_blockers()
        if standing:
            raise standing[0]
        decision = LotDecision.objects.create(lot=locked, decision=Decision.LIFT_HOLD, decided_by=actor,
                                              reason=(reason or "").strip(), cited_result=cited,
                                              specification_id=hold.specification_id if hold else None)
        change_lot_status(locked, LotStatus.RELEASED, actor=actor, reason=_("hold lifted"))
        record_signature(decision, signer=actor, meaning=meaning,
                         statement=_("Hold on lot %(lot)s lifted on the passing re-test of %(date)s (%(value)s).")
                         % {"lot": locked.lot_number, "date": cited.tested_on.isoformat(), "value": cited.display})
    lot.status = locked.status
    return decision
