"""Pages of the qc app: QA dashboard, results entry, release review, deviations, re-checks, specifications.

Views parse the form, check the permission, call one service and render; refusals come back from
the service as messages (``bank.web.call_service``), never as a 500.
"""

from __future__ import annotations

from collections import defaultdict

from django.conf import settings
from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.http import HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods, require_POST

from bank import tally
from bank.audit import history_entries
from bank.errors import DomainError
from bank.exports import exportable
from bank.roles import QA, has_role
from bank.web import call_service, perms_required
from lots.choices import LotStatus
from lots.models import Lot
from lots.queries import lot_for_scan
from qc import services
from qc.certificate import certificate_pdf
from qc.choices import (
    CERTIFIABLE_LOT_STATUSES,
    OPEN_RECHECK,
    PLANNED_LOT_STATUSES,
    Decision,
    DeviationStatus,
    RecheckStatus,
)
from qc.exports import deviation_queryset, deviation_state, recheck_state
from qc.forms import (
    CloseDeviationForm,
    CriterionFormSet,
    DeviationForm,
    LiftHoldForm,
    PublishForm,
    QCTestForm,
    RecheckResultForm,
    RejectForm,
    ReleaseForm,
    ResultForm,
    StabilityPlanForm,
)
from qc.models import (
    Deviation,
    LotDecision,
    QCResult,
    QCTest,
    Recheck,
    Specification,
    StabilityPlan,
    format_number,
)
from qc.queries import (
    BRIEF_RELATED,
    awaiting_release,
    criteria_prefetch,
    deviation_by_number,
    hold_relief,
    latest_decision,
    qa_dashboard,
    readiness_for,
    recheck_list,
    segregation_conflict,
    specs_in_force,
    takes_stability_plan,
)


def _lot(pk: int) -> Lot:
    return get_object_or_404(Lot.objects.select_related("cell_line__collection", "cell_line__donor",
                                                        "parent_lot"), pk=pk)


def _can_sign(user) -> bool:
    return user.has_perm("qc.release_lot") and has_role(user, QA)


# --- QA dashboard -----------------------------------------------------------------------------------


@perms_required("qc.release_lot")
@exportable("qc.release_board")
def dashboard(request):
    # The board's lots awaiting release (qa_dashboard) and its export (qc/exports.py) read qc.queries.awaiting_release.
    return render(request, "qc/dashboard.html", {"board": qa_dashboard()})


# --- results entry (technicians) ----------------------------------------------------------------------


@perms_required("qc.add_qcresult")
@exportable("qc.worklist")
def results_home(request):
    """Scan a lot (or one of its vials) to enter its results; below, the lots still waiting for results."""
    code = (request.GET.get("code") or "").strip()
    if code:
        lot = lot_for_scan(code)
        if lot is not None:
            return redirect("qc:lot-results", lot.pk)
        messages.error(request, _("No lot found for %(code)s. Scan the lot label or a vial of the lot.")
                       % {"code": code})
    lots = list(awaiting_release()[:50])  # the page and its export (qc/exports.py) list the same lots
    readiness = readiness_for(lots, BRIEF_RELATED)
    worklist = [readiness[lot.pk] for lot in lots]
    return render(request, "qc/results_home.html", {"code": code, "worklist": worklist})


def _result_rows(readiness, bound: dict | None = None):
    """One form per test; the cursor starts in the first test still missing (or in the row with errors)."""
    rows = []
    focus_set = bool(bound)
    for row in readiness.rows:
        form = (bound or {}).get(row.test.code) or ResultForm(test=row.test)
        if not focus_set and row.latest is None:
            first = next(iter(form.fields))
            form.fields[first].widget.attrs["autofocus"] = True
            focus_set = True
        rows.append({"row": row, "form": form})
    return rows


@perms_required("qc.add_qcresult")
@require_http_methods(["GET", "POST"])
@exportable("qc.results")
def lot_results(request, pk: int):
    lot = _lot(pk)
    bound = {}
    if request.method == "POST":
        code = request.POST.get("test", "")
        test = QCTest.objects.filter(code=code).first()
        if test is None:
            messages.error(request, _("Unknown test code %(code)s.") % {"code": code})
            return redirect("qc:lot-results", lot.pk)
        form = ResultForm(request.POST, test=test)
        if form.is_valid():
            data = form.cleaned_data
            result, ok = call_service(
                request, form, services.record_qc_result, lot, actor=request.user, test=test.code,
                value=data.get("value"), outcome=data.get("outcome", ""), tested_on=data["tested_on"],
                method=data["method"], instrument=data["instrument"], vial=data["vial"] or None,
            )
            if ok:
                text = _("%(test)s: %(result)s saved — %(verdict)s.") % {
                    "test": test.code, "result": result.display,
                    "verdict": _("passed") if result.passed else _("OUT OF SPECIFICATION, a deviation was opened")}
                (messages.success if result.passed else messages.warning)(request, text)
                return redirect(reverse("qc:lot-results", args=[lot.pk]) + f"#test-{test.code}")
        bound[test.code] = form
    readiness = readiness_for([lot])[lot.pk]
    return render(request, "qc/lot_results.html", {
        "lot": lot, "readiness": readiness, "rows": _result_rows(readiness, bound),
        "rejected": lot.status == LotStatus.REJECTED,
    })


# --- release review (QA) -------------------------------------------------------------------------------


def _audit_by_result(results: list[QCResult]) -> dict[int, list[dict]]:
    """The audit trail of each counted result, in three queries whatever the number of results."""
    if not results:
        return {}
    records = (QCResult.history.filter(id__in=[r.pk for r in results]).select_related("history_user")
               .order_by("history_date", "history_id"))
    grouped: dict[int, list[dict]] = defaultdict(list)
    for entry in history_entries(records):
        grouped[entry["object_id"]].append(entry)
    return grouped


def _review_context(request, lot: Lot, **forms) -> dict:
    readiness = readiness_for([lot])[lot.pk]
    audit = _audit_by_result(readiness.counted_results)
    rows = [{"row": row, "audit": audit.get(row.latest.pk, []) if row.latest else []} for row in readiness.rows]
    hold = latest_decision(lot, Decision.HOLD) if lot.status == LotStatus.ON_HOLD else None
    plan = StabilityPlan.objects.filter(lot=lot).first()
    user = request.user
    segregation = segregation_conflict(lot, user)
    blockers = readiness.blockers()
    context = {
        "lot": lot, "readiness": readiness, "rows": rows, "blockers": blockers,
        "decisions": list(LotDecision.objects.filter(lot=lot).select_related("decided_by", "cited_result__test")
                          .order_by("-decided_at", "-id")),
        "deviations": list(Deviation.objects.filter(lot=lot).select_related("opened_by", "closed_by")
                           .order_by("-opened_at", "-id")),
        "plan": plan,
        "rechecks": list(Recheck.objects.filter(lot=lot).select_related("vial", "result").order_by("-due_on")[:10]),
        "hold": hold,
        "can_sign": _can_sign(user),
        "segregation": segregation,
        "release_form": forms.get("release_form") or ReleaseForm(),
        "reject_form": forms.get("reject_form") or RejectForm(),
        "plan_form": forms.get("plan_form") or StabilityPlanForm(initial={
            "interval_days": plan.interval_days, "min_viability_pct": plan.min_viability_pct} if plan else {
            "interval_days": settings.STABILITY_INTERVAL_DAYS}),
        "can_plan": user.has_perm("qc.change_stabilityplan") and lot.status in PLANNED_LOT_STATUSES
        and takes_stability_plan(lot),
        "certificate": lot.status in CERTIFIABLE_LOT_STATUSES,
    }
    if lot.status == LotStatus.ON_HOLD:
        context["lift_form"] = forms.get("lift_form") or LiftHoldForm(retests=list(hold_relief(lot).retests[:20]))
    return context


@perms_required("qc.view_qcresult")
def review(request, pk: int):
    lot = _lot(pk)
    return render(request, "qc/review.html", _review_context(request, lot))


def _sign(request, pk: int, form_class, form_key: str, func, extra=None, form_kwargs=None):
    lot = _lot(pk)
    form = form_class(request.POST, **(form_kwargs or {}))
    if form.is_valid():
        data = dict(form.cleaned_data)
        kwargs = {"actor": request.user, "password": data.pop("password"), "meaning": data.pop("meaning")}
        kwargs.update(extra(data) if extra else {})
        _result, ok = call_service(request, form, func, lot, **kwargs)
        if ok:
            return None, lot
    response = render(request, "qc/review.html", _review_context(request, lot, **{form_key: form}))
    return response, lot


@perms_required("qc.release_lot")
@require_POST
def release(request, pk: int):
    response, lot = _sign(request, pk, ReleaseForm, "release_form", services.release_lot)
    if response is None:
        messages.success(request, _("Lot %(lot)s released.") % {"lot": lot.lot_number})
        return redirect("qc:review", lot.pk)
    return response


@perms_required("qc.release_lot")
@require_POST
def reject(request, pk: int):
    response, lot = _sign(request, pk, RejectForm, "reject_form", services.reject_lot,
                          extra=lambda data: {"reason": data["reason"]})
    if response is None:
        messages.success(request, _("Lot %(lot)s rejected.") % {"lot": lot.lot_number})
        return redirect("qc:review", lot.pk)
    return response


@perms_required("qc.release_lot")
@require_POST
def lift_hold(request, pk: int):
    lot = _lot(pk)
    retests = list(hold_relief(lot).retests[:20])
    response, lot = _sign(request, pk, LiftHoldForm, "lift_form", services.lift_hold,
                          extra=lambda data: {"cited_result": data["cited_result"], "reason": data["reason"]},
                          form_kwargs={"retests": retests})
    if response is None:
        messages.success(request, _("Hold on lot %(lot)s lifted.") % {"lot": lot.lot_number})
        return redirect("qc:review", lot.pk)
    return response


@perms_required("qc.change_stabilityplan")
@require_POST
def stability_plan(request, pk: int):
    lot = _lot(pk)
    form = StabilityPlanForm(request.POST)
    if form.is_valid():
        _plan, ok = call_service(request, form, services.set_stability_plan, lot, actor=request.user,
                                 **form.cleaned_data)
        if ok:
            messages.success(request, _("Stability plan saved."))
            return redirect("qc:review", lot.pk)
    return render(request, "qc/review.html", _review_context(request, lot, plan_form=form))


@perms_required("qc.view_qcresult")
def certificate(request, pk: int):
    lot = _lot(pk)
    try:
        pdf = certificate_pdf(lot)
    except DomainError as exc:
        messages.error(request, exc.detail)
        return redirect("qc:review", lot.pk)
    response = HttpResponse(pdf, content_type="application/pdf")
    response["Content-Disposition"] = f'inline; filename="CoA-{lot.lot_number}.pdf"'
    return response


# --- deviations ---------------------------------------------------------------------------------------


@perms_required("qc.view_deviation")
@exportable("qc.deviations")
def deviations(request):
    state = deviation_state(request.GET)
    qs = deviation_queryset(state)  # the page and its export (qc/exports.py) list the same rows
    return render(request, "qc/deviations.html", {"deviations": list(qs[:200]), "state": state})


def _deviation_context(request, deviation, form=None, close_form=None):
    return {
        "deviation": deviation,
        "form": form or DeviationForm(initial={"investigation": deviation.investigation,
                                               "root_cause": deviation.root_cause, "capa": deviation.capa}),
        "close_form": close_form or CloseDeviationForm(),
        "can_edit": request.user.has_perm("qc.change_deviation") and deviation.status == DeviationStatus.OPEN,
        "can_close": _can_sign(request.user) and request.user.has_perm("qc.close_deviation")
        and deviation.status == DeviationStatus.OPEN,
    }


def _deviation(pk: int) -> Deviation:
    return get_object_or_404(Deviation.objects.select_related("lot", "collection", "opened_by", "closed_by",
                                                              "result__test", "result__entered_by"), pk=pk)


@perms_required("qc.view_deviation")
@require_http_methods(["GET", "POST"])
def deviation(request, pk: int):
    dev = _deviation(pk)
    form = None
    if request.method == "POST":
        if not request.user.has_perm("qc.change_deviation"):
            raise PermissionDenied
        form = DeviationForm(request.POST)
        if form.is_valid():
            _dev, ok = call_service(request, form, services.update_deviation, dev, actor=request.user,
                                    **form.cleaned_data)
            if ok:
                messages.success(request, _("Deviation %(number)s saved.") % {"number": dev.number})
                return redirect("qc:deviation", dev.pk)
    return render(request, "qc/deviation.html", _deviation_context(request, dev, form=form))


@perms_required("qc.close_deviation")
@require_POST
def close_deviation(request, pk: int):
    dev = _deviation(pk)
    form = CloseDeviationForm(request.POST)
    if form.is_valid():
        _dev, ok = call_service(request, form, services.close_deviation, dev, actor=request.user,
                                password=form.cleaned_data["password"], meaning=form.cleaned_data["meaning"])
        if ok:
            messages.success(request, _("Deviation %(number)s closed.") % {"number": dev.number})
            return redirect("qc:deviation", dev.pk)
    return render(request, "qc/deviation.html", _deviation_context(request, dev, close_form=form))


# --- stability re-checks ------------------------------------------------------------------------------


def _recheck_page(request, bound: dict | None = None, status: int = 200):
    state = request.GET.get("status", "open")
    rechecks = list(recheck_list(recheck_state(request.GET))[:200])
    rows = [{"recheck": r, "form": (bound or {}).get(r.pk) or RecheckResultForm(recheck=r)} for r in rechecks]
    return render(request, "qc/rechecks.html", {"rows": rows, "state": state,
                                                "can_enter": request.user.has_perm("qc.change_recheck")},
                  status=status)


@perms_required("qc.view_recheck")
@exportable("qc.rechecks")
def rechecks(request):
    return _recheck_page(request)


@perms_required("qc.change_recheck")
@require_POST
def recheck_result(request, pk: int):
    recheck = get_object_or_404(Recheck.objects.select_related("lot", "vial"), pk=pk)
    form = RecheckResultForm(request.POST, recheck=recheck)
    if form.is_valid():
        data = form.cleaned_data
        done, ok = call_service(request, form, services.record_recheck_result, recheck, actor=request.user,
                                viability_pct=data["viability_pct"], tested_on=data["tested_on"],
                                vial=data["vial"] or None, method=data["method"])
        if ok:
            done.refresh_from_db()
            lot = done.lot
            if lot.status == LotStatus.ON_HOLD and not done.result.passed:
                messages.warning(request, _("Lot %(lot)s failed its re-check and is now on hold; QA was told.")
                                 % {"lot": lot.lot_number})
            else:
                messages.success(request, _("Re-check of lot %(lot)s saved.") % {"lot": lot.lot_number})
            return redirect("qc:rechecks")
    return _recheck_page(request, bound={recheck.pk: form})


# --- specifications -----------------------------------------------------------------------------------


@perms_required("qc.view_specification")
@exportable("qc.specifications")
def specifications(request):
    specs = specs_in_force()
    versions = defaultdict(int)
    for cell_type, tier in Specification.objects.values_list("cell_type", "tier"):
        versions[(cell_type, tier)] += 1
    rows = [{"spec": spec, "versions": versions[(spec.cell_type, spec.tier)]} for spec in specs]
    return render(request, "qc/specifications.html", {"rows": rows,
                                                      "can_publish": request.user.has_perm("qc.add_specification")})


@perms_required("qc.view_qctest")
@require_http_methods(["GET", "POST"])
@exportable("qc.tests")
def catalog_tests(request):
    """The test catalog, and the form QA uses to add a test (a new assay, a bank's own test)."""
    can_add = request.user.has_perm("qc.add_specification")
    form = QCTestForm(request.POST or None)
    if request.method == "POST":
        if not can_add:
            raise PermissionDenied
        if form.is_valid():
            test, ok = call_service(request, form, services.add_test, actor=request.user, **form.cleaned_data)
            if ok:
                messages.success(request, _("Test %(code)s added to the catalog; publish a specification version "
                                            "that names it.") % {"code": test.code})
                return redirect("qc:tests")
    return render(request, "qc/tests.html", {"tests": QCTest.objects.order_by("order", "code"), "form": form,
                                             "can_add": can_add})


@perms_required("qc.view_specification")
def specification(request, pk: int):
    spec = get_object_or_404(Specification.objects.select_related("published_by")
                             .prefetch_related(criteria_prefetch()), pk=pk)
    others = list(Specification.objects.filter(cell_type=spec.cell_type, tier=spec.tier)
                  .select_related("published_by").order_by("-version"))
    return render(request, "qc/specification.html", {
        "spec": spec, "versions": others, "in_force": others[0].pk == spec.pk,
        "can_publish": request.user.has_perm("qc.add_specification"),
    })


@perms_required("qc.add_specification")
@require_http_methods(["GET", "POST"])
def publish(request, pk: int):
    """Publish a new version: start from a copy of this one's criteria, edit, add, remove."""
    base = get_object_or_404(Specification.objects.prefetch_related(criteria_prefetch()), pk=pk)
    tests = list(QCTest.objects.order_by("order", "code"))
    if request.method == "POST":
        formset = CriterionFormSet(request.POST, tests=tests, prefix="c")
        form = PublishForm(request.POST)
        if formset.is_valid() and form.is_valid():
            criteria = [
                {k: v for k, v in f.cleaned_data.items() if k != "DELETE"}
                for f in formset.forms if f.cleaned_data and not f.cleaned_data.get("DELETE")
            ]
            spec, ok = call_service(request, form, services.publish_specification, actor=request.user,
                                    cell_type=base.cell_type, tier=base.tier, criteria=criteria,
                                    notes=form.cleaned_data["notes"])
            if ok:
                messages.success(request, _("Version %(version)s of %(cell_type)s %(tier)s is now in force.")
                                 % {"version": spec.version, "cell_type": spec.cell_type, "tier": spec.tier})
                return redirect("qc:specification", spec.pk)
    else:
        initial = [{"test": c.test.code, "min": format_number(c.min_value) or None,
                    "max": format_number(c.max_value) or None, "unit": c.unit,
                    "expected": c.expected, "blocking": c.blocking, "stage": c.stage,
                    "only_for_reprogramming": c.only_for_reprogramming} for c in base.criteria.all()]
        formset = CriterionFormSet(initial=initial, tests=tests, prefix="c")
        form = PublishForm()
    return render(request, "qc/publish.html", {"base": base, "formset": formset, "form": form, "tests": tests})


# --- panels other pages show ---------------------------------------------------------------------------


def lot_panel_context(request, lot) -> dict | None:
    """The QC and release section of the lot page: results, status, the release signature, links."""
    if "cell_line" not in lot._state.fields_cache:  # the lot page hands over its lot with the line loaded
        lot = Lot.objects.select_related("cell_line").get(pk=lot.pk)
    readiness = readiness_for([lot], BRIEF_RELATED)[lot.pk]  # the panel shows each result's test and figures
    decision = latest_decision(lot, related=())  # shown with its signatures (their own read), not who or what
    return {
        "lot": lot, "readiness": readiness, "decision": decision,
        "blockers": readiness.blockers() if lot.status == LotStatus.QUARANTINE else [],
        "certificate": lot.status in CERTIFIABLE_LOT_STATUSES,
        "can_enter": request.user.has_perm("qc.add_qcresult") and lot.status != LotStatus.REJECTED,
    }


def qa_panel_context(request) -> dict | None:
    """Dashboard card for QA: what waits for a decision. Lots by status are kept counts (bank/tally.py, read once
    per page); three count queries."""
    lots = tally.counts("lots.status")
    return {
        "awaiting": lots.get(LotStatus.QUARANTINE, 0),
        "deviations": Deviation.objects.filter(status=DeviationStatus.OPEN).count(),
        "rechecks": Recheck.objects.filter(status__in=OPEN_RECHECK).count(),
        "overdue": Recheck.objects.filter(status=RecheckStatus.OVERDUE).count(),
        "on_hold": lots.get(LotStatus.ON_HOLD, 0),
    }


def bench_panel_context(request) -> dict | None:
    """Dashboard card for technicians: re-checks to thaw and lots waiting for results."""
    from bank.roles import TECHNICIAN

    if not has_role(request.user, TECHNICIAN):
        return None
    return {
        "rechecks": list(recheck_list("open")[:5]),
        "recheck_count": Recheck.objects.filter(status__in=OPEN_RECHECK).count(),
        "quarantine": tally.counts("lots.status").get(LotStatus.QUARANTINE, 0),
    }


def resolve_scan(code: str, user) -> str | None:
    """The header scan field opens a deviation by its number (DEV-2026-0001)."""
    if not code.upper().startswith("DEV-") or not user.has_perm("qc.view_deviation"):
        return None
    dev = deviation_by_number(code)
    return reverse("qc:deviation", args=[dev.pk]) if dev else None
