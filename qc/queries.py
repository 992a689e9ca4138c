"""Reads of the qc app shared by pages, the API and the services.

``readiness_for(lots)`` is the one place that decides whether a lot may be released: the services
refuse with its first blocker and the review page shows all of them, so the page can never offer
a signature the service would refuse. It runs a constant number of queries for any number of lots.
"""

from __future__ import annotations

import datetime
import threading
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from decimal import Decimal

from django.conf import settings
from django.db import router
from django.db.models import Count, Prefetch, Q, QuerySet
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from bank.errors import Conflict, DomainError, Forbidden
from bank.identifiers import first_match, scannable
from bank.memo import memoized, recall
from bank.registry import announce
from donors.choices import ConsentState, Eligibility
from donors.queries import EligibilityResult, collection_eligibility
from lots.choices import LotStatus, Tier, VialStatus
from lots.models import Lot, Vial
from lots.queries import sample_kinds
from qc.choices import OPEN_RECHECK, Decision, DeviationStatus
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

# Short names of the release refusals for lists (the full message is in the blocker's detail).
BLOCKER_LABELS = {
    "no_specification": gettext_lazy("no specification"),
    "qc_incomplete": gettext_lazy("QC incomplete"),
    "qc_failed": gettext_lazy("QC failed"),
    "open_deviation": gettext_lazy("open deviation"),
    "donor_not_eligible": gettext_lazy("donor not eligible"),
    "consent_withdrawn": gettext_lazy("consent withdrawn"),
    "parent_not_released": gettext_lazy("parent lot recalled"),
    "hla_discordant": gettext_lazy("HLA discordant"),
}


def takes_stability_plan(lot: Lot) -> bool:
    """Whether a released lot is re-checked by thawing its vials. A cord blood unit is re-checked on its
    segments and reference vials of cells, never its bag: it gets a plan once it has such a test sample
    (a unit frozen as a single container has none)."""
    if lot.tier != Tier.UNIT:
        return True
    return Vial.objects.filter(lot=lot, status=VialStatus.AVAILABLE, kind__in=sample_kinds(lot.tier)).exists()


def ancestor_recalled_conflict(lot: Lot) -> Conflict:
    return Conflict(_("Lot %(lot)s was made from a recalled lot: it can never be released.") % {"lot": lot.lot_number},
                    code="parent_not_released")


def segregation_conflict(lot: Lot, user, *, cited_result: QCResult | None = None) -> Forbidden | None:
    """Segregation of duties: a QA decision on a lot is signed by someone independent of making and testing it.

    The signer may not be the lot's operator (who froze it), nor have entered a result for it — for lifting a
    hold, the cited re-test. The one rule for release, rejection, lifting a hold and the review page.
    """
    if user is None:
        return None
    if lot.operator_id == user.pk:
        return Forbidden(_("You froze lot %(lot)s: another QA officer must sign its decision (segregation of "
                           "duties).") % {"lot": lot.lot_number}, code="segregation_of_duties")
    if cited_result is not None:
        if cited_result.entered_by_id == user.pk:
            return Forbidden(_("You entered the cited re-test: another QA officer must lift the hold "
                               "(segregation of duties)."), code="segregation_of_duties")
    elif QCResult.objects.filter(lot=lot, entered_by=user).exists():
        return Forbidden(_("You entered QC results for lot %(lot)s: another QA officer must sign its decision "
                           "(segregation of duties).") % {"lot": lot.lot_number}, code="segregation_of_duties")
    return None


def deviation_by_number(code: str) -> Deviation | None:
    """A deviation by its number (DEV-2026-0001), on the unique index."""
    code = scannable(code)
    return first_match(Deviation.objects.filter(number=code)) if code else None


def _criteria_in_order() -> QuerySet[Criterion]:
    """Criteria with their tests, in the order a specification lists them (every reader of criteria)."""
    return Criterion.objects.select_related("test").order_by("test__order", "id")


def criteria_prefetch() -> Prefetch:
    return Prefetch("criteria", queryset=_criteria_in_order())


def spec_in_force(cell_type: str, tier: str) -> Specification | None:
    """The highest published version for a cell type and tier, with its criteria."""
    return (
        Specification.objects.filter(cell_type=cell_type, tier=tier)
        .select_related("published_by")
        .prefetch_related(criteria_prefetch())
        .order_by("-version")
        .first()
    )


def specs_in_force(cell_type: str | None = None, tier: str | None = None) -> list[Specification]:
    """The version in force of every (cell type, tier), optionally filtered. Two queries."""
    qs = Specification.objects.all()
    if cell_type:
        qs = qs.filter(cell_type=cell_type)
    if tier:
        qs = qs.filter(tier=tier)
    latest = _latest_versions(qs)
    return list(
        Specification.objects.filter(pk__in=latest).select_related("published_by")
        .prefetch_related(criteria_prefetch()).order_by("cell_type", "tier")
    )


def _latest_versions(qs) -> list[int]:
    """Ids of the highest version per (cell type, tier) among ``qs`` (portable: no DISTINCT ON)."""
    best: dict[tuple[str, str], tuple[int, int]] = {}
    for pk, cell_type, tier, version in qs.values_list("pk", "cell_type", "tier", "version"):
        key = (cell_type, tier)
        if key not in best or version > best[key][0]:
            best[key] = (version, pk)
    return [pk for _version, pk in best.values()]


def lot_specification(lot: Lot) -> tuple[Specification | None, bool]:
    """The version that judges ``lot`` and whether it is assigned (else: the one in force, a preview)."""
    assigned = LotSpecification.objects.filter(lot=lot).select_related("specification").first()
    if assigned is not None:
        spec = Specification.objects.prefetch_related(criteria_prefetch()).get(pk=assigned.specification_id)
        return spec, True
    return spec_in_force(lot.cell_line.cell_type, lot.tier), False


RESULT_RELATED = ("test", "entered_by", "vial", "criterion")
# What a page that shows a result's test and figures only needs (who entered it and on which vial are most of the
# results query's cost): the lot page, the release board, the QA dashboard, the signature manifests.
BRIEF_RELATED = ("test",)


def counted_results(lot_ids: Iterable[int], related: Iterable[str] = RESULT_RELATED,
                    ) -> dict[int, dict[int, list[QCResult]]]:
    """The results that count, ``{lot id: {test id: [result, ...]}}`` newest first (the first one counts).

    Every result entered on the lot counts except stability re-check results: a re-check proves the stored
    lot still works (a failure puts it on hold); it is not part of the release panel. The one rule for
    "which results count" — the release, the review page, the lot API, the CoA and the catalog read it. One query,
    with ``related`` loaded (a reader that shows only the test and the figures asks for ``("test",)``: the joins of
    who entered it and on which vial are most of the query's cost).
    """
    found: dict[int, dict[int, list[QCResult]]] = defaultdict(lambda: defaultdict(list))
    for result in _counted(lot_ids).select_related(*related):
        found[result.lot_id][result.test_id].append(result)
    return found


def _counted(lot_ids: Iterable[int]) -> QuerySet[QCResult]:
    """The results that count (see ``counted_results``), per lot and test in test order, newest first."""
    return (QCResult.objects.filter(lot_id__in=list(lot_ids), recheck__isnull=True)
            .order_by("lot_id", "test__order", "test_id", "-entered_at", "-id"))


@dataclass(frozen=True)
class ResultBrief:
    """The counted result of one test of one lot, as lists of many lots show it (no model instances)."""

    lot_id: int
    test_code: str
    test_name: str
    test_order: int
    value: Decimal | None
    unit: str
    outcome: str
    passed: bool
    tested_on: datetime.date | None

    @property
    def display(self) -> str:
        return result_text(self.value, self.unit, self.outcome)


def result_text(value: Decimal | None, unit: str, outcome: str) -> str:
    """A result as one short text: the value with its unit, or the outcome."""
    if value is not None:
        return f"{value.normalize():f} {unit}".strip()
    return outcome


def latest_counted_briefs(lot_ids: Iterable[int]) -> dict[int, list[ResultBrief]]:
    """The result that counts for each test of each lot, ``{lot id: [brief, ...]}`` in test order: one query,
    plain values (the catalog shapes thousands of lots' characterization with it)."""
    out: dict[int, list[ResultBrief]] = defaultdict(list)
    seen: set[tuple[int, int]] = set()
    for lot_id, test_id, code, name, order, test_unit, value, unit, outcome, passed, tested_on in (
        _counted(lot_ids).values_list("lot_id", "test_id", "test__code", "test__name", "test__order", "test__unit",
                                      "value", "unit", "outcome", "passed", "tested_on")
    ):
        if (lot_id, test_id) in seen:
            continue
        seen.add((lot_id, test_id))
        out[lot_id].append(ResultBrief(lot_id, code, name, order, value, unit or test_unit, outcome, passed,
                                       tested_on))
    return out


@dataclass
class PanelRow:
    """One test of a lot's specification with its results, newest first (the first one counts)."""

    criterion: Criterion
    results: list[QCResult] = field(default_factory=list)

    @property
    def test(self) -> QCTest:
        return self.criterion.test

    @property
    def latest(self) -> QCResult | None:
        return self.results[0] if self.results else None

    @property
    def earlier(self) -> list[QCResult]:
        return self.results[1:]

    @property
    def blocking(self) -> bool:
        return self.criterion.blocking

    @property
    def state(self) -> str:
        """``missing``, ``passed`` or ``failed`` — the badge shown beside the test."""
        latest = self.latest
        if latest is None:
            return "missing"
        return "passed" if latest.passed else "failed"


@dataclass
class QCPanel:
    """A lot's QC against the specification that judges it: the one verdict (complete, failed, missing)."""

    lot: Lot
    specification: Specification | None
    assigned: bool
    rows: list[PanelRow]
    extra_results: list[QCResult] = field(default_factory=list)

    @property
    def blocking_rows(self) -> list[PanelRow]:
        return [row for row in self.rows if row.blocking]

    @property
    def reference_rows(self) -> list[PanelRow]:
        return [row for row in self.rows if not row.blocking]

    @property
    def missing(self) -> list[str]:
        """Required tests without a counted result."""
        return [row.test.code for row in self.blocking_rows if row.latest is None]

    @property
    def failed(self) -> list[str]:
        """Required tests whose counted result failed."""
        return [row.test.code for row in self.blocking_rows if row.latest is not None and not row.latest.passed]

    @property
    def complete(self) -> bool:
        return self.specification is not None and not self.missing

    @property
    def counted_results(self) -> list[QCResult]:
        return [row.latest for row in self.rows if row.latest is not None]


# A published specification never changes (a new version is a new row: ``services.publish_specification``; no
# admin, API or service edits criteria or tests), so each process keeps a version's criteria once read, by database
# and id: a lot's panel then reads its specification and its results only. Bounded by the number of versions ever
# published (tens). A data migration that renames a test (qc 0002, 0005, 0008 seed them) shows in processes started
# after it: deployments restart the web and worker processes after ``migrate``.
_CRITERIA: dict[tuple[str, int], tuple[Criterion, ...]] = {}
_CRITERIA_LOCK = threading.Lock()


def spec_criteria(spec_ids: Iterable[int]) -> dict[int, tuple[Criterion, ...]]:
    """``{specification id: its criteria with their tests, in test order}``; one query for the versions this
    process has not read yet, none after. The criteria are shared: read them, never change them."""
    db = router.db_for_read(Criterion)
    wanted = set(spec_ids)
    unknown = {pk for pk in wanted if (db, pk) not in _CRITERIA}
    found: dict[int, list[Criterion]] = defaultdict(list)
    if unknown:
        for criterion in _criteria_in_order().using(db).filter(specification_id__in=unknown):
            found[criterion.specification_id].append(criterion)
        with _CRITERIA_LOCK:
            for pk in unknown:
                if found.get(pk):  # a version being published in an open transaction has none yet: ask again
                    _CRITERIA[(db, pk)] = tuple(found[pk])
    return {pk: _CRITERIA.get((db, pk)) or tuple(found.get(pk, ())) for pk in wanted}


def forget_criteria() -> None:
    """Drop the kept criteria (tests that reuse a database's ids start clean)."""
    with _CRITERIA_LOCK:
        _CRITERIA.clear()


def qc_panels(lots: list[Lot], related: Iterable[str] = RESULT_RELATED) -> dict[int, QCPanel]:
    """The QC panel of every lot given (each with ``cell_line`` loaded), in a constant number of queries;
    the results with ``related`` loaded (see ``counted_results``).

    Queries: assigned specifications (1); versions in force for the others (2); the criteria of versions this
    process has not read yet (1, see ``spec_criteria``); counted results (1).
    """
    if not lots:
        return {}
    lot_ids = [lot.pk for lot in lots]
    assigned = {ls.lot_id: ls.specification
                for ls in LotSpecification.objects.filter(lot_id__in=lot_ids).select_related("specification")}
    pairs = {(lot.cell_line.cell_type, lot.tier) for lot in lots if lot.pk not in assigned}
    in_force: dict[tuple[str, str], Specification] = {}
    if pairs:
        condition = Q()
        for cell_type, tier in pairs:
            condition |= Q(cell_type=cell_type, tier=tier)
        latest = _latest_versions(Specification.objects.filter(condition))
        for spec in Specification.objects.filter(pk__in=latest):
            in_force[(spec.cell_type, spec.tier)] = spec
    criteria = spec_criteria({spec.pk for spec in [*assigned.values(), *in_force.values()]})
    results = counted_results(lot_ids, related)
    out: dict[int, QCPanel] = {}
    for lot in lots:
        line = lot.cell_line
        spec = assigned.get(lot.pk) or in_force.get((line.cell_type, lot.tier))
        by_test = results.get(lot.pk, {})
        rows = [PanelRow(criterion, by_test.get(criterion.test_id, []))
                for criterion in (criteria[spec.pk] if spec is not None else ()) if criterion.applies_to(line)]
        in_panel = {row.test.pk for row in rows}
        extra = [r for test_id, rs in by_test.items() if test_id not in in_panel for r in rs]
        out[lot.pk] = QCPanel(lot=lot, specification=spec, assigned=lot.pk in assigned, rows=rows,
                              extra_results=extra)
    return out


def _number(value) -> float | None:
    return float(value) if isinstance(value, Decimal) else value


def _result_summary(result: QCResult | None) -> dict | None:
    if result is None:
        return None
    return {"id": result.pk, "value": _number(result.value), "outcome": result.outcome or None,
            "unit": result.unit, "tested_on": result.tested_on, "passed": result.passed}


def qc_summary(lot: Lot) -> dict:
    """``GET /lots/{id}/``'s ``qc_summary``: per test of the lot's specification the counted result and whether
    it passed, then results of tests outside it; ``missing``, ``failed`` and ``complete`` are the panel's
    verdict (the one the release applies). Four or five queries (``lot.cell_line`` loaded)."""
    panel = qc_panels([lot], related=BRIEF_RELATED)[lot.pk]  # the summary shows the test and the figures only
    tests = []
    for row in panel.rows:
        criterion, result = row.criterion, row.latest
        tests.append({
            "test": criterion.test.code, "name": criterion.test.name, "required": criterion.blocking,
            "min": _number(criterion.min_value), "max": _number(criterion.max_value),
            "unit": criterion.unit or criterion.test.unit, "expected": criterion.expected or None,
            "result": _result_summary(result), "passed": result.passed if result is not None else None,
        })
    extra: dict[int, QCResult] = {}
    for result in panel.extra_results:
        extra.setdefault(result.test_id, result)
    for result in sorted(extra.values(), key=lambda r: (r.test.order, r.test.code)):
        tests.append({"test": result.test.code, "name": result.test.name, "required": False, "min": None,
                      "max": None, "unit": result.unit or result.test.unit, "expected": None,
                      "result": _result_summary(result), "passed": result.passed})
    spec = panel.specification
    return {
        "specification": str(spec) if spec else None,
        "specification_id": spec.pk if spec else None,
        "tests": tests,
        "missing": panel.missing,
        "failed": panel.failed,
        "complete": panel.complete,
    }


@dataclass(kw_only=True)
class Readiness(QCPanel):
    """Everything QA weighs before signing a lot's release, and what still stands in the way."""

    open_deviations: list[Deviation]
    # Every deviation of the lot, open or closed, in number order (a decision's manifest lists them all).
    deviations: list[Deviation] = field(default_factory=list)
    eligibility: EligibilityResult
    consent: str
    consent_withdrawn: bool
    # Refusals downstream apps add through the ``release_blockers`` hook (a cord blood unit's discordant typing).
    other_blockers: list[DomainError] = field(default_factory=list)

    def blockers(self) -> list[DomainError]:
        """The refusals that apply, in the order of API.md (after role, signature and segregation)."""
        found: list[DomainError] = []
        lot = self.lot.lot_number
        if self.specification is None:
            found.append(Conflict(
                _("There is no specification for %(cell_type)s %(tier)s: QA must publish one first.")
                % {"cell_type": self.lot.cell_line.cell_type, "tier": self.lot.tier},
                code="no_specification",
            ))
            return found
        if self.missing:
            found.append(Conflict(
                _("QC of lot %(lot)s is incomplete: no result yet for %(tests)s.")
                % {"lot": lot, "tests": ", ".join(self.missing)},
                code="qc_incomplete", missing=self.missing,
            ))
        if self.failed:
            found.append(Conflict(
                _("Lot %(lot)s failed %(tests)s (the latest result of each required test counts).")
                % {"lot": lot, "tests": ", ".join(self.failed)},
                code="qc_failed", failed=self.failed,
            ))
        found.extend(self.standing_blockers())
        return found

    def standing_blockers(self) -> list[DomainError]:
        """What forbids a lot ever to be (or stay) available, whatever its results: open deviations, the donor's
        eligibility and consent, a recalled ancestor. Release checks them after the panel; lifting a hold
        checks them alone (the hold is lifted on a passing re-test, not on the release panel)."""
        found: list[DomainError] = []
        lot = self.lot.lot_number
        if self.open_deviations:
            numbers = [d.number for d in self.open_deviations]
            found.append(Conflict(
                _("Lot %(lot)s has open deviations (%(numbers)s): QA must close them first.")
                % {"lot": lot, "numbers": ", ".join(numbers)},
                code="open_deviation", deviations=numbers,
            ))
        if self.eligibility.status != Eligibility.ELIGIBLE:
            found.append(Conflict(
                _("The donor is not found eligible (%(status)s%(markers)s): the lot stays in quarantine.")
                % {"status": Eligibility(self.eligibility.status).label,
                   "markers": (": " + ", ".join(self.eligibility.missing_markers + self.eligibility.positive))
                   if (self.eligibility.missing_markers or self.eligibility.positive) else ""},
                code="donor_not_eligible", eligibility=self.eligibility.status,
                missing_markers=self.eligibility.missing_markers,
            ))
        if self.consent_withdrawn:
            found.append(Conflict(
                _("The donor withdrew consent: nothing derived from them may be released."),
                code="consent_withdrawn",
            ))
        if self.lot.ancestor_recalled_at is not None:
            found.append(ancestor_recalled_conflict(self.lot))
        found.extend(self.other_blockers)
        return found

    @property
    def ready(self) -> bool:
        return not self.blockers()

    @property
    def first_blocker(self) -> dict | None:
        """The refusal QA would get first, with a short label for lists."""
        blockers = self.blockers()
        if not blockers:
            return None
        first = blockers[0]
        return {"code": first.code, "label": BLOCKER_LABELS.get(first.code, first.code), "detail": first.detail}

    @property
    def eligibility_label(self) -> str:
        return str(Eligibility(self.eligibility.status).label)

    @property
    def consent_label(self) -> str:
        return str(ConsentState(self.consent).label)


def readiness_for(lots: list[Lot], related: tuple[str, ...] = RESULT_RELATED) -> dict[int, Readiness]:
    """Readiness of every lot given (each with ``cell_line`` loaded), in a constant number of queries; the
    counted results with ``related`` loaded (a page that shows only the tests and figures asks for ``("test",)``).

    Queries: the QC panels (see ``qc_panels``: up to 5); deviations (1, open and closed); the eligibility of the
    lines' collections with the donors' consents (see ``donors.queries.collection_eligibility``).
    """
    if not lots:
        return {}
    # The lot page's QC panel and its decisions' signature manifests ask for the same lots: one answer per request.
    return memoized(_readiness_key([lot.pk for lot in lots], related), lambda: _readiness_for(lots, related))


def _readiness_key(lot_ids, related: tuple[str, ...]) -> tuple:
    return ("qc.readiness_for", tuple(sorted(lot_ids)), tuple(related))


def weighed_readiness(lot_ids) -> dict[int, Readiness] | None:
    """The readiness of these lots if this request weighed them already (with any results' relations), else None."""
    return recall(_readiness_key(lot_ids, BRIEF_RELATED)) or recall(_readiness_key(lot_ids, RESULT_RELATED))


def _readiness_for(lots: list[Lot], related: tuple[str, ...]) -> dict[int, Readiness]:
    panels = qc_panels(lots, related)
    lot_ids = [lot.pk for lot in lots]
    deviations: dict[int, list[Deviation]] = defaultdict(list)
    for dev in Deviation.objects.filter(lot_id__in=lot_ids).order_by("number"):
        deviations[dev.lot_id].append(dev)
    donors = collection_eligibility({lot.cell_line.collection_id for lot in lots})
    others = announce("release_blockers", lots=lots)
    out: dict[int, Readiness] = {}
    for lot in lots:
        panel = panels[lot.pk]
        donor = donors[lot.cell_line.collection_id]
        out[lot.pk] = Readiness(
            lot=lot, specification=panel.specification, assigned=panel.assigned, rows=panel.rows,
            extra_results=panel.extra_results, deviations=deviations.get(lot.pk, []),
            open_deviations=sorted((d for d in deviations.get(lot.pk, []) if d.status == DeviationStatus.OPEN),
                                   key=lambda d: (d.opened_at, d.pk)),
            eligibility=donor.eligibility, consent=donor.consent,
            consent_withdrawn=donor.consent == ConsentState.WITHDRAWN or lot.consent_withdrawn_flagged_at is not None,
            other_blockers=list(others.get(lot.pk) or []),
        )
    return out


def release_readiness(lot: Lot) -> Readiness:
    lot = Lot.objects.select_related("cell_line").get(pk=lot.pk)
    return readiness_for([lot])[lot.pk]


DECISION_RELATED = ("decided_by", "cited_result", "specification")


def latest_decision(lot: Lot, decision: str | None = None,
                    related: tuple[str, ...] = DECISION_RELATED) -> LotDecision | None:
    """The newest decision on ``lot`` (of one kind if given), with ``related`` loaded (the lot page's QC section shows
    the decision and its signatures only: ``()``)."""
    qs = LotDecision.objects.filter(lot=lot)
    if related:  # select_related() with no names would follow every foreign key
        qs = qs.select_related(*related)
    if decision:
        qs = qs.filter(decision=decision)
    return qs.order_by("-decided_at", "-id").first()


# The viability limit of a plan whose specification has none (the commonest limit of QC_SPECS.md).
DEFAULT_MIN_VIABILITY = Decimal("70")


@dataclass
class HoldRelief:
    """What a hold may be lifted on: passing viability re-tests entered after the hold (``retests``, a
    queryset newest first), at least ``limit`` %."""

    hold: LotDecision | None
    limit: Decimal
    retests: QuerySet[QCResult]


def hold_relief(lot: Lot) -> HoldRelief:
    """The results QA may cite to lift ``lot``'s hold: viability results at or above the plan's minimum,
    entered after the hold. The one rule the lift-hold form offers and the service checks."""
    hold = latest_decision(lot, Decision.HOLD)
    plan = StabilityPlan.objects.filter(lot=lot).first()
    minimum = plan.min_viability_pct if plan else DEFAULT_MIN_VIABILITY
    qs = QCResult.objects.filter(lot=lot, test__code="viability", value__gte=minimum).select_related(
        "entered_by", "test")
    if hold is not None:
        qs = qs.filter(entered_at__gt=hold.decided_at)
    return HoldRelief(hold=hold, limit=minimum, retests=qs.order_by("-entered_at", "-id"))


def recheck_list(status: str | None = None):
    """Re-checks with everything a row shows: lot, line, the vial to thaw and where it is, the result."""
    qs = Recheck.objects.select_related(
        "lot__cell_line", "plan", "vial__box__rack__unit", "result", "completed_by"
    ).order_by("due_on", "id")
    if status == "open":
        qs = qs.filter(status__in=OPEN_RECHECK)
    elif status:
        qs = qs.filter(status=status)
    return qs


def overdue_cutoff(today: datetime.date | None = None) -> datetime.date:
    """A re-check due before this date is overdue."""
    today = today or timezone.localdate()
    return today - datetime.timedelta(days=settings.RECHECK_OVERDUE_DAYS)


def awaiting_release() -> QuerySet[Lot]:
    """Lots waiting for their QC results and QA's decision (in quarantine) with their lines, oldest frozen first:
    the one read of the QA release board, the QC results worklist and their exports (qc/exports.py)."""
    return Lot.objects.filter(status=LotStatus.QUARANTINE).select_related("cell_line").order_by("frozen_on", "id")


@dataclass
class Dashboard:
    awaiting: list[Readiness]
    awaiting_count: int
    deviations: list[Deviation]
    deviation_count: int
    rechecks: list[Recheck]
    recheck_counts: dict[str, int]
    on_hold: list[Lot]
    hold_reasons: dict[int, LotDecision]


def qa_dashboard(limit: int = 50) -> Dashboard:
    """The QA dashboard in a constant number of queries (see tests/qc/test_pages.py for the count).

    Queries: lots awaiting release (1) and their count (1) + readiness (12); open deviations (1) and
    their count (1); open re-checks (1) and counts by status (1); lots on hold (1) and their holds (1).
    """
    awaiting_qs = awaiting_release()
    awaiting_lots = list(awaiting_qs[:limit])
    readiness = readiness_for(awaiting_lots, BRIEF_RELATED)
    open_devs = Deviation.objects.filter(status=DeviationStatus.OPEN)
    counts = dict(
        Recheck.objects.filter(status__in=OPEN_RECHECK).values_list("status").annotate(n=Count("id"))
        .values_list("status", "n")
    )
    on_hold = list(Lot.objects.filter(status=LotStatus.ON_HOLD).select_related("cell_line")
                   .order_by("status_changed_at", "id")[:limit])
    holds: dict[int, LotDecision] = {}
    for decision in (LotDecision.objects.filter(lot__in=on_hold, decision=Decision.HOLD)
                     .select_related("cited_result").order_by("lot_id", "-decided_at", "-id")):
        holds.setdefault(decision.lot_id, decision)
    return Dashboard(
        awaiting=[readiness[lot.pk] for lot in awaiting_lots],
        awaiting_count=awaiting_qs.count(),
        deviations=list(open_devs.select_related("lot", "collection", "opened_by", "result__test")
                        .order_by("opened_at", "id")[:limit]),
        deviation_count=open_devs.count(),
        rechecks=list(recheck_list("open")[:limit]),
        recheck_counts={s: counts.get(s, 0) for s in OPEN_RECHECK},
        on_hold=on_hold,
        hold_reasons=holds,
    )


# --- what a QA decision's signature covers (21 CFR 11.70) -----------------------------------------------

# Decisions whose e-signature covers a manifest of what QA reviewed. A hold is set by a failed re-check
# (unsigned); a recall signs a reason, not the release panel.
MANIFEST_DECISIONS = (Decision.RELEASE, Decision.REJECT, Decision.LIFT_HOLD)
MANIFEST_VERSION = 1


def _utc(value: datetime.datetime | None) -> str | None:
    return value.astimezone(datetime.UTC).isoformat() if value is not None else None


def _manifest_result(result: QCResult) -> dict:
    return {"result": result.pk, "value": format_number(result.value) if result.value is not None else None,
            "outcome": result.outcome or None, "unit": result.unit or None, "tested_on": result.tested_on,
            "passed": result.passed}


def lot_manifest(readiness: Readiness, deviations: list[Deviation]) -> dict:
    """What QA reviews before deciding on a lot, as a signature manifest: the lot's facts that bear on its
    release (not its status, which the decision itself sets), the specification that judges it, every counted
    result with its value or outcome, unit, test date and id, every deviation of the lot with its state, and the
    donor's eligibility and consent on the collection the line came from. Built from ``readiness_for`` — the
    same reads as the release and the review page — so a retest that now counts, a deviation opened or closed,
    or a change of eligibility or consent changes it."""
    lot, line = readiness.lot, readiness.lot.cell_line
    spec = readiness.specification if readiness.assigned else None
    results: dict[str, dict] = {}
    if spec is not None:
        for row in readiness.rows:
            entry = {"criterion": row.criterion.describe(), "required": row.blocking}
            if row.latest is not None:
                entry.update(_manifest_result(row.latest))
            else:
                entry["result"] = None
            results[row.test.code] = entry
    other: dict[str, dict] = {}
    for result in readiness.extra_results:  # newest first per test: the first one counts
        other.setdefault(result.test.code, _manifest_result(result))
    eligibility = readiness.eligibility
    manifest = {
        "version": MANIFEST_VERSION,
        "lot": {
            "id": lot.pk, "lot_number": lot.lot_number, "tier": lot.tier, "cell_line": line.name,
            "cell_type": line.cell_type, "grade": line.grade, "reprogramming_method": line.reprogramming_method,
            "parent_lot": lot.parent_lot_id, "passage": lot.passage,
            "population_doublings": format_number(lot.population_doublings) or None,
            "vial_count": lot.vial_count, "cells_per_vial": lot.cells_per_vial,
            "volume_ml": format_number(lot.volume_ml), "cryoprotectant": lot.cryoprotectant,
            "cryoprotectant_lot": lot.cryoprotectant_lot or None, "frozen_on": lot.frozen_on,
            "operator": lot.operator_id, "consent_withdrawn_flagged": lot.consent_withdrawn_flagged_at is not None,
            "ancestor_recalled": lot.ancestor_recalled_at is not None,
        },
        "specification": ({"id": spec.pk, "version": spec.version, "cell_type": spec.cell_type, "tier": spec.tier}
                          if spec is not None else None),
        "results": results,
        "other_results": other,
        "deviations": {d.number: {"id": d.pk, "status": d.status, "result": d.result_id,
                                  "closed_at": _utc(d.closed_at)} for d in deviations},
        "donor": {
            "collection": line.collection_id, "eligibility": eligibility.status,
            "missing_markers": list(eligibility.missing_markers), "positive_markers": sorted(eligibility.positive),
            "consent": readiness.consent, "consent_withdrawn": readiness.consent_withdrawn,
        },
    }
    if readiness.other_blockers:  # only when some stand: manifests signed before the hook keep their digest
        manifest["other_blockers"] = [{"code": b.code, "detail": b.detail, **b.extra}
                                      for b in readiness.other_blockers]
    return manifest


def decision_manifests(decisions: list[LotDecision]) -> dict[int, dict | None]:
    """``{decision id: manifest}`` for release, rejection and lift-hold decisions (None for the others), in a
    constant number of queries whatever their number: the lots (1) and their readiness (see ``readiness_for``,
    with every deviation), unless this request weighed them already, and the cited re-tests (1)."""
    wanted = [d for d in decisions if d.decision in MANIFEST_DECISIONS]
    out: dict[int, dict | None] = {d.pk: None for d in decisions}
    if not wanted:
        return out
    lot_ids = tuple(sorted({d.lot_id for d in wanted}))
    # The lot page's QC panel has weighed these lots already in this request: take its answer as it stands.
    readiness = weighed_readiness(lot_ids) or readiness_for(
        list(Lot.objects.filter(pk__in=lot_ids).select_related("cell_line")), BRIEF_RELATED)
    cited = {r.pk: r for r in QCResult.objects.filter(
        pk__in={d.cited_result_id for d in wanted if d.cited_result_id}).select_related("test")}
    for decision in wanted:
        manifest = lot_manifest(readiness[decision.lot_id], readiness[decision.lot_id].deviations)
        manifest["decision"] = decision.decision
        if decision.decision == Decision.LIFT_HOLD:
            result = cited.get(decision.cited_result_id)
            manifest["cited_result"] = ({"test": result.test.code, **_manifest_result(result)}
                                        if result is not None else None)
        out[decision.pk] = manifest
    return out


def decision_manifest(decision: LotDecision) -> dict | None:
    """The manifest a QA decision's signature covers (see ``lot_manifest``), or None for decisions without one."""
    return decision_manifests([decision])[decision.pk]
