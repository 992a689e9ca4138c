"""The qc app's list exports (issue 17): the QA release board, the QC results worklist, deviations, stability
re-checks, specifications in force, the test catalog and a lot's results, with the filters of their pages
(``bank.exports``)."""

from __future__ import annotations

from collections import defaultdict

from django.core.exceptions import ValidationError
from django.utils.translation import gettext_lazy as _

from bank.exports import Column, Prepared, person, register_export
from bank.parsing import whole_number
from lots.models import Lot
from qc.choices import DeviationStatus, RecheckStatus
from qc.models import Deviation, QCResult, QCTest, Specification
from qc.queries import BRIEF_RELATED, awaiting_release, readiness_for, recheck_list, specs_in_force

# --- lots awaiting release: the QA release board and the QC results worklist ---------------------------------


def _readiness_rows(lots):
    """Each lot of a chunk with its release readiness (``readiness_for``: a constant number of queries a chunk)."""
    readiness = readiness_for(lots, BRIEF_RELATED)  # the lists show each result's test and figures
    return [readiness[lot.pk] for lot in lots]


def _first_blocker(r, key):
    blocker = r.first_blocker
    return str(blocker[key]) if blocker else ""


AWAITING_COLUMNS = [
    Column(_("Lot"), "lot.lot_number"),
    Column(_("Cell line"), "lot.cell_line.name"),
    Column(_("Tier"), "lot.tier"),
    Column(_("Frozen on"), "lot.frozen_on"),
    Column(_("Results entered"), lambda r: len(r.counted_results)),
    Column(_("Tests in the specification"), lambda r: len(r.rows)),
]

RELEASE_BOARD_COLUMNS = [
    *AWAITING_COLUMNS,
    Column(_("Failed"), "failed"),
    Column(_("Donor eligibility"), "eligibility_label"),
    Column(_("Consent withdrawn"), "consent_withdrawn"),
    Column(_("Ready to sign"), "ready"),
    Column(_("What stands in the way"), lambda r: _first_blocker(r, "label")),
    Column(_("Details"), lambda r: _first_blocker(r, "detail")),
]


@register_export("qc.release_board", url="qc:dashboard", perms=("qc.release_lot",), title=_("Lots awaiting release"),
                 filename="awaiting-release")
def release_board(user, params):
    """Every lot awaiting QA's decision with its QC progress and what stands in the way, as the QA release board
    lists them (the board shows the oldest 50; the export has them all)."""
    return Prepared(awaiting_release(), _readiness_rows), RELEASE_BOARD_COLUMNS


WORKLIST_COLUMNS = [
    *AWAITING_COLUMNS,
    Column(_("Still missing"), "missing"),
]


@register_export("qc.worklist", url="qc:results", perms=("qc.add_qcresult",), title=_("Lots in quarantine"),
                 filename="qc-worklist")
def worklist(user, params):
    """Every lot waiting for QC results with the tests still missing, as the QC results page lists them."""
    return Prepared(awaiting_release(), _readiness_rows), WORKLIST_COLUMNS


# --- deviations, re-checks, specifications, the test catalog, a lot's results -------------------------------


def deviation_state(params) -> str:
    return params.get("status", "open")


def deviation_queryset(state: str):
    """The deviations page's rows: open (the default), closed, or all (any other ``status``)."""
    qs = Deviation.objects.select_related("lot", "collection", "opened_by", "closed_by").order_by("-opened_at", "-id")
    if state in (DeviationStatus.OPEN, DeviationStatus.CLOSED):
        qs = qs.filter(status=state)
    return qs


DEVIATION_COLUMNS = [
    Column(_("Number"), "number"),
    Column(_("Lot"), "lot.lot_number"),
    Column(_("Collection"), "collection.code"),
    Column(_("Status"), "get_status_display"),
    Column(_("Summary"), "summary"),
    Column(_("Opened"), "opened_at"),
    Column(_("Opened by"), lambda d: person(d.opened_by)),
    Column(_("Root cause"), "root_cause"),
    Column(_("Corrective and preventive actions"), "capa"),
    Column(_("Closed"), "closed_at"),
    Column(_("Closed by"), lambda d: person(d.closed_by)),
]


@register_export("qc.deviations", url="qc:deviations", perms=("qc.view_deviation",), title=_("Deviations"),
                 filename="deviations")
def deviations(user, params):
    return deviation_queryset(deviation_state(params)), DEVIATION_COLUMNS


def recheck_state(params) -> str:
    state = params.get("status", "open")
    return state if state in (*RecheckStatus.values, "open") else "open"


def _vial_place(r):
    vial = r.vial
    if vial is None or vial.box_id is None:
        return ""
    box = vial.box
    return f"{box.rack.unit.name} / {box.rack.name} / {box.name} · {box.position_label(vial.row, vial.col)}"


RECHECK_COLUMNS = [
    Column(_("Lot"), "lot.lot_number"),
    Column(_("Line"), "lot.cell_line.name"),
    Column(_("Due on"), "due_on"),
    Column(_("Status"), "get_status_display"),
    Column(_("Vial to thaw"), "vial.barcode"),
    Column(_("Place"), _vial_place),
    Column(_("Minimum viability (%)"), "plan.min_viability_pct"),
    Column(_("Result"), "result.display"),
    Column(_("Tested on"), "result.tested_on"),
    Column(_("Passed"), lambda r: r.result.passed if r.result_id else None),
    Column(_("Completed by"), lambda r: person(r.completed_by)),
]


@register_export("qc.rechecks", url="qc:rechecks", perms=("qc.view_recheck",), title=_("Stability re-checks"),
                 filename="rechecks")
def rechecks(user, params):
    return recheck_list(recheck_state(params)), RECHECK_COLUMNS


def _spec_rows(specs):
    versions = defaultdict(int)
    for cell_type, tier in Specification.objects.values_list("cell_type", "tier"):
        versions[(cell_type, tier)] += 1
    return [{"spec": spec, "versions": versions[(spec.cell_type, spec.tier)]} for spec in specs]


SPEC_COLUMNS = [
    Column(_("Cell type"), "spec.get_cell_type_display"),
    Column(_("Tier"), "spec.tier"),
    Column(_("Version"), "spec.version"),
    Column(_("Versions"), "versions"),
    Column(_("Tests"), lambda r: [c.test.code for c in r["spec"].criteria.all()]),
    Column(_("Criteria"), lambda r: "; ".join(f"{c.test.code}: {c.describe()}" for c in r["spec"].criteria.all())),
    Column(_("Published"), "spec.published_at"),
    Column(_("Published by"), lambda r: person(r["spec"].published_by)),
]


@register_export("qc.specifications", url="qc:specifications", perms=("qc.view_specification",),
                 title=_("Specifications"), filename="specifications")
def specifications(user, params):
    # One row per (cell type, tier): a handful, read whole as the page does.
    return _spec_rows(specs_in_force()), SPEC_COLUMNS


TEST_COLUMNS = [
    Column(_("Code"), "code"),
    Column(_("Name"), "name"),
    Column(_("Kind"), "get_kind_display"),
    Column(_("Unit"), "unit"),
    Column(_("Outcomes"), "outcomes"),
    Column(_("Stage"), "get_stage_display"),
    Column(_("Typical method"), "typical_method"),
]


@register_export("qc.tests", url="qc:tests", perms=("qc.view_qctest",), title=_("Test catalog"),
                 filename="qc-tests")
def tests(user, params):
    return QCTest.objects.order_by("order", "code"), TEST_COLUMNS


RESULT_COLUMNS = [
    Column(_("Test"), "test.code"),
    Column(_("Name"), "test.name"),
    Column(_("Result"), "display"),
    Column(_("Value"), "value"),
    Column(_("Unit"), "unit"),
    Column(_("Outcome"), "outcome"),
    Column(_("Passed"), "passed"),
    Column(_("Tested on"), "tested_on"),
    Column(_("Method"), "method"),
    Column(_("Instrument or kit lot"), "instrument"),
    Column(_("Vial"), "vial.barcode"),
    Column(_("Retest of"), "retest_of_id"),
    Column(_("Entered by"), lambda r: person(r.entered_by)),
    Column(_("Entered at"), "entered_at"),
    Column(_("Notes"), "notes"),
]


@register_export("qc.results", url="qc:lot-results", perms=("qc.add_qcresult",), title=_("QC results of a lot"),
                 filename="qc-results")
def lot_results(user, params):
    """Every QC result recorded for one lot (retests and corrections included), as the results page lists them."""
    lot = Lot.objects.filter(pk=whole_number(params.get("pk")) or 0).first()
    if lot is None:
        raise ValidationError({"pk": [_("No such lot.")]})
    return QCResult.objects.filter(lot=lot).select_related("test", "vial", "entered_by"), RESULT_COLUMNS
