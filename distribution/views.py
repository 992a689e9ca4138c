"""Pages of the distribution app: catalog, requests, review, pick-and-ship, receipt, trace and recall.

Views check the permission, parse a form, call one service and render. Researchers see only the
catalog and their own requests; nothing they can open carries the donor's code or identity.
"""

from __future__ import annotations

from django.contrib import messages
from django.core.paginator import Paginator
from django.http import Http404
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods, require_POST

from bank import tally
from bank.signatures import signatures_for
from bank.web import call_service, perms_required
from distribution import forms, panels, queries, services
from distribution.choices import RequestStatus
from distribution.models import Recall
from donors.models import Donor
from lots.choices import LotStatus, lot_can_become
from lots.models import CellLine, Lot
from lots.queries import descendant_lots

VIEW_REQUEST = "distribution.view_distributionrequest"
REVIEW = "distribution.review_request"
SHIP = "distribution.ship_request"
TRACE = "distribution.view_trace"


# --- catalog ------------------------------------------------------------------------------------


@perms_required("distribution.view_catalog")
def catalog(request):
    form = forms.CatalogFilterForm(request.GET or None)
    filters = form.filters if form.is_bound and form.is_valid() else queries.CatalogFilters()
    if form.errors:
        page = Paginator([], 25).get_page(1)
    else:
        page = tally.page_with_count(queries.catalog_lines(filters), 25, request.GET.get("page"),
                                     count=queries.catalog_count(filters))
    query = request.GET.copy()
    query.pop("page", None)
    return render(request, "distribution/catalog.html", {
        "form": form, "entries": queries.catalog_entries(list(page.object_list)), "page": page,
        "query": query.urlencode(), "filtered": any(getattr(filters, f) for f in ("q", "cell_type", "grade", "hla")),
    })


@perms_required("distribution.view_catalog")
def catalog_line(request, pk: int):
    entry = queries.catalog_entry(pk)
    if entry is None:
        raise Http404(_("This line is not in the catalog."))
    return render(request, "distribution/catalog_line.html", {"entry": entry, "fee": queries.fee_for(1)})


@perms_required("distribution.add_distributionrequest")
@require_http_methods(["GET", "POST"])
def request_new(request, pk: int):
    entry = queries.catalog_entry(pk)
    if entry is None:
        raise Http404(_("This line is not in the catalog."))
    mta = queries.current_mta()
    form = forms.RequestForm(request.POST or None, initial={"mta_version": mta.version if mta else ""})
    if request.method == "POST" and form.is_valid():
        line = get_object_or_404(CellLine, pk=pk)
        created, ok = call_service(request, form, services.submit_request, actor=request.user, cell_line=line,
                                   **form.cleaned_data)
        if ok:
            messages.success(request, _("Request %(number)s submitted. QA reviews it; you are notified of the "
                                        "decision.") % {"number": created.number})
            return redirect("distribution:request", created.pk)
    per_vial, currency = queries.fee_for(1)
    return render(request, "distribution/request_new.html", {
        "entry": entry, "form": form, "mta": mta, "fee_per_vial": per_vial, "currency": currency,
    })


# --- requests -----------------------------------------------------------------------------------


@perms_required(VIEW_REQUEST)
def request_list(request):
    status = request.GET.get("status", "")
    if status and status not in RequestStatus.values:
        status = ""
    qs = queries.requests_visible_to(request.user)
    if status:
        qs = qs.filter(status=status)
    sees_all = queries.sees_all_requests(request.user)
    counts = queries.open_request_counts() if sees_all else {}
    known = (counts.get(status, 0) if status else sum(counts.values())) if sees_all else None
    page = tally.page_with_count(qs, 50, request.GET.get("page"), count=known)
    return render(request, "distribution/request_list.html", {
        "page": page, "status": status, "tabs": forms.STATUS_TABS, "sees_all": sees_all, "counts": counts,
    })


def _visible_request(request, pk: int):
    return get_object_or_404(queries.requests_visible_to(request.user), pk=pk)


@perms_required(VIEW_REQUEST)
def request_detail(request, pk: int, *, forms_in: dict | None = None, status: int = 200):
    obj = _visible_request(request, pk)
    user = request.user
    own = obj.researcher_id == user.pk
    allocations = queries.live_allocations([obj]).get(obj.pk, [])
    context = {
        "obj": obj, "own": own, "allocations": allocations,
        "can_review": user.has_perm(REVIEW), "can_ship": user.has_perm(SHIP),
        "review": queries.review_for(obj) if user.has_perm(REVIEW) and obj.status == RequestStatus.SUBMITTED
        else None,
        "approve_form": forms.ApproveForm(), "reject_form": forms.RejectForm(), "receive_form": forms.ReceiveForm(),
        "shipment": getattr(obj, "shipment", None) if obj.status in (RequestStatus.SHIPPED,
                                                                      RequestStatus.RECEIVED) else None,
        "donor": obj.cell_line.donor if user.has_perm(REVIEW) or user.has_perm(TRACE) else None,
    }
    context.update(forms_in or {})
    return render(request, "distribution/request_detail.html", context, status=status)


@perms_required(REVIEW)
@require_POST
def request_approve(request, pk: int):
    obj = _visible_request(request, pk)
    form = forms.ApproveForm(request.POST)
    if form.is_valid():
        approved, ok = call_service(request, form, services.approve_request, obj, actor=request.user,
                                    reason=form.cleaned_data["reason"])
        if ok:
            messages.success(request, _("%(number)s approved: %(n)s vials reserved (%(vials)s).") % {
                "number": approved.number, "n": len(approved.allocated_barcodes),
                "vials": ", ".join(approved.allocated_barcodes)})
            return redirect("distribution:request", pk)
    return request_detail(request, pk, forms_in={"approve_form": form}, status=409)


@perms_required(REVIEW)
@require_POST
def request_reject(request, pk: int):
    obj = _visible_request(request, pk)
    form = forms.RejectForm(request.POST)
    if form.is_valid():
        _rejected, ok = call_service(request, form, services.reject_request, obj, actor=request.user,
                                     reason=form.cleaned_data["reason"])
        if ok:
            messages.success(request, _("%(number)s rejected; the researcher was told why.") % {"number": obj.number})
            return redirect("distribution:request", pk)
    return request_detail(request, pk, forms_in={"reject_form": form}, status=400)


@perms_required(VIEW_REQUEST)
@require_POST
def request_cancel(request, pk: int):
    obj = _visible_request(request, pk)
    _cancelled, ok = call_service(request, None, services.cancel_request, obj, actor=request.user)
    if ok:
        messages.success(request, _("%(number)s cancelled.") % {"number": obj.number})
    return redirect("distribution:request", pk)


@perms_required(VIEW_REQUEST)
@require_POST
def request_receive(request, pk: int):
    obj = _visible_request(request, pk)
    form = forms.ReceiveForm(request.POST)
    if form.is_valid():
        _received, ok = call_service(request, form, services.receive_request, obj, actor=request.user,
                                     condition=form.cleaned_data["condition"], notes=form.cleaned_data["notes"])
        if ok:
            messages.success(request, _("Receipt of %(number)s confirmed. Thank you.") % {"number": obj.number})
            return redirect("distribution:request", pk)
    return request_detail(request, pk, forms_in={"receive_form": form}, status=400)


# --- pick and ship ------------------------------------------------------------------------------


def _pick_context(obj, *, pick_form=None, ship_form=None, error: str = "", notice: str = ""):
    allocations = queries.pick_list(obj)
    picked = sum(1 for a in allocations if a.picked_at)
    return {
        "obj": obj, "allocations": allocations, "picked": picked, "all_picked": picked == len(allocations) > 0,
        "pick_form": pick_form or forms.PickForm(), "ship_form": ship_form or forms.ShipForm(),
        "scan_error": error, "scan_notice": notice,
    }


@perms_required(SHIP)
@require_http_methods(["GET", "POST"])
def pick(request, pk: int):
    """The pick list: walk to each position, scan the vial taken out; a wrong vial is refused at once."""
    obj = _visible_request(request, pk)
    error = notice = ""
    if request.method == "POST":
        form = forms.PickForm(request.POST)
        if form.is_valid():
            barcode = form.cleaned_data["barcode"].strip()
            _picked, ok = call_service(request, form, services.confirm_pick, obj, barcode, actor=request.user)
            if ok:
                notice = _("%(barcode)s picked.") % {"barcode": barcode}
        error = " ".join(str(m) for errors in form.errors.values() for m in errors)
        if not request.htmx:
            if notice:
                messages.success(request, notice)
            elif error:
                messages.error(request, error)
            return redirect("distribution:pick", pk)
        context = _pick_context(obj, error=error, notice=notice)
        return render(request, "distribution/partials/pick_panel.html", context, status=200)
    return render(request, "distribution/pick.html", _pick_context(obj))


@perms_required(SHIP)
@require_POST
def ship(request, pk: int):
    obj = _visible_request(request, pk)
    form = forms.ShipForm(request.POST)
    if form.is_valid():
        _shipped, ok = call_service(request, form, services.ship_request, obj, actor=request.user,
                                    require_all_picked=True, **form.cleaned_data)
        if ok:
            messages.success(request, _("%(number)s shipped; the researcher was notified.") % {"number": obj.number})
            return redirect("distribution:request", pk)
    return render(request, "distribution/pick.html", _pick_context(obj, ship_form=form), status=400)


# --- trace --------------------------------------------------------------------------------------


@perms_required(TRACE)
def trace_search(request):
    form = forms.TraceSearchForm(request.GET or None)
    if form.is_bound and form.is_valid():
        url = queries.resolve_trace_code(form.cleaned_data["code"])
        if url:
            return redirect(url)
        form.add_error("code", _("Nothing found for this code. Scan a vial barcode, or type a lot number or a "
                                 "donor code."))
    recent = Recall.objects.select_related("lot", "initiated_by").order_by("-initiated_at", "-id")[:10]
    return render(request, "distribution/trace_search.html", {"form": form, "recalls": recent},
                  status=404 if form.errors else 200)


@perms_required(TRACE)
def trace_vial(request, barcode: str):
    trace = queries.trace_vial(barcode)
    if trace is None:
        raise Http404(_("No vial with this barcode."))
    return render(request, "distribution/trace_vial.html", {"t": trace})


# The page lists at most this many vials of each lot (those that left storage first); the API's trace has all.
TRACE_PAGE_VIALS = 50


def _listed_on_page(trace: dict) -> dict:
    """Each lot's ``listed`` vials and how many are ``unlisted``: a lot of a few vials shows them all; a bigger
    one the vials that are no longer simply available (reserved, shipped, used, destroyed ...), up to
    ``TRACE_PAGE_VIALS``. A donor's trace holds hundreds of vials: rendering every row took most of a second."""
    for lot in trace["lots"]:
        vials = lot["vials"]
        chosen = vials if len(vials) <= TRACE_PAGE_VIALS else [v for v in vials if v["status"] != "available"]
        lot["listed"] = chosen[:TRACE_PAGE_VIALS]
        lot["unlisted"] = len(vials) - len(lot["listed"])
    return trace


@perms_required(TRACE)
def trace_donor(request, pk: int):
    donor = get_object_or_404(Donor, pk=pk)
    return render(request, "distribution/trace_forward.html", {"t": _listed_on_page(queries.trace_donor(donor)),
                                                               "subject": "donor"})


@perms_required(TRACE)
def trace_lot(request, pk: int):
    lot = get_object_or_404(Lot.objects.select_related("cell_line__donor"), pk=pk)
    return render(request, "distribution/trace_forward.html", {
        "t": _listed_on_page(queries.trace_lot(lot)), "subject": "lot", "lot": lot,
        "can_recall": panels.can_recall(request.user, lot),
    })


# --- recall -------------------------------------------------------------------------------------


@perms_required("distribution.view_recall")
def recall_list(request):
    qs = Recall.objects.select_related("lot__cell_line", "donor", "initiated_by").order_by("-initiated_at", "-id")
    page = Paginator(qs, 50).get_page(request.GET.get("page"))
    return render(request, "distribution/recall_list.html", {"page": page})


@perms_required("distribution.view_recall")
def recall_detail(request, pk: int):
    recall = get_object_or_404(Recall.objects.select_related("lot__cell_line", "donor", "initiated_by"), pk=pk)
    return render(request, "distribution/recall_detail.html", {
        "recall": recall, "notices": queries.recall_notices(recall), "signatures": list(signatures_for(recall)),
        "derived": descendant_lots(recall.lot) if recall.lot else [],
    })


@perms_required("distribution.add_recall")
@require_http_methods(["GET", "POST"])
def lot_recall(request, pk: int):
    lot = get_object_or_404(Lot.objects.select_related("cell_line"), pk=pk)
    form = forms.RecallForm(request.POST or None)
    sign_form = forms.recall_signature_form(request.POST or None)
    if request.method == "POST" and form.is_valid() and sign_form.is_valid():
        recall, ok = call_service(request, form, services.recall_lot, lot, actor=request.user,
                                  password=sign_form.cleaned_data["password"], reason=form.cleaned_data["reason"])
        if ok:
            messages.warning(request, _("Lot %(lot)s recalled; %(n)s recipients notified.") % {
                "lot": lot.lot_number, "n": recall.notices.count()})
            return redirect("distribution:recall", recall.pk)
    derived = descendant_lots(lot)
    shipments, reserved = queries.shipments_of_lot(lot, derived)
    return render(request, "distribution/lot_recall.html", {
        "lot": lot, "form": form, "sign_form": sign_form, "shipments": shipments, "reserved": reserved,
        "derived": derived, "recallable": lot_can_become(lot.status, LotStatus.RECALLED),
    }, status=400 if request.method == "POST" else 200)


def request_url_for_scan(code: str, user) -> str | None:
    """Header scan field: a request number (REQ-2026-00042) opens the request, if the user may see it."""
    if not code.strip().upper().startswith("REQ-") or not user.has_perm(VIEW_REQUEST):
        return None
    found = queries.request_by_number(code, user)
    return reverse("distribution:request", args=[found.pk]) if found else None

