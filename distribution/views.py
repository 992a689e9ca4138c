"""Pages of the distribution app: catalog, requests, review, pick-and-ship, receipt, trace and recall.

Views check the permission, parse a form, call one service and render. Researchers see only the
catalog and their own requests; nothing they can open carries the donor's code or identity.
"""

from __future__ import annotations

import mimetypes

from django.conf import settings
from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.http import FileResponse, Http404, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.http import content_disposition_header
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods, require_POST

from bank import tally
from bank.exports import exportable
from bank.signatures import signatures_for
from bank.web import call_service, perms_required
from distribution import forms, panels, queries, services
from distribution.choices import InstitutionType, RequestStatus
from distribution.countries import ISO_3166_ALPHA2
from distribution.exports import mta_queryset, recall_queryset, request_queryset, request_status
from distribution.models import ExportApproval, InstitutionProfile, Recall
from distribution.quotation import has_quotation, quotation_pdf
from donors.models import Donor
from lots.choices import Grade, LotStatus, lot_can_become
from lots.models import CellLine, Lot
from lots.queries import descendant_lots, line_by_name

VIEW_REQUEST = "distribution.view_distributionrequest"
REVIEW = "distribution.review_request"
SHIP = "distribution.ship_request"
TRACE = "distribution.view_trace"


# --- catalog ------------------------------------------------------------------------------------


@perms_required("distribution.view_catalog")
@exportable("distribution.catalog")
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
    line = CellLine.objects.only("pk", "grade").get(pk=entry.id)
    return render(request, "distribution/catalog_line.html", {
        "entry": entry, "fees": [(label, queries.fee_for(1, institution_type=t, cell_line=line))
                                 for t, label in InstitutionType.choices]})


def _profile_initial(user) -> dict:
    """The researcher's institution profile prefills a new request."""
    profile = InstitutionProfile.objects.filter(user=user).first()
    if profile is None:
        return {"recipient_country": settings.BANK_COUNTRY}
    return {"institution": profile.name, "institution_type": profile.institution_type,
            "recipient_country": profile.country, "shipping_address": profile.address}


def _fee_preview(line: CellLine, data) -> dict:
    """The fee the request form shows before submitting (``queries.fee_for``: the rule the service stores)."""
    institution_type = data.get("institution_type") or ""
    try:
        vials = max(int(data.get("vials") or 1), 1)
    except (TypeError, ValueError):
        vials = 1
    vials = min(vials, 10_000)
    if institution_type not in InstitutionType.values:
        return {"fee": None, "fee_vials": vials, "fee_line_id": line.pk}
    return {"fee": queries.fee_for(vials, institution_type=institution_type, cell_line=line),
            "fee_vials": vials, "fee_enterprise": institution_type == InstitutionType.ENTERPRISE,
            "fee_line_id": line.pk}


@perms_required("distribution.add_distributionrequest")
@require_http_methods(["GET", "POST"])
def request_new(request, pk: int):
    entry = queries.catalog_entry(pk)
    if entry is None:
        raise Http404(_("This line is not in the catalog."))
    line = get_object_or_404(CellLine, pk=pk)
    mta = queries.current_mta()
    initial = {"mta_version": mta.version if mta else "", **_profile_initial(request.user)}
    form = forms.RequestForm(request.POST or None, initial=initial)
    if request.method == "POST" and form.is_valid():
        created, ok = call_service(request, form, services.submit_request, actor=request.user, cell_line=line,
                                   **form.cleaned_data)
        if ok:
            messages.success(request, _("Request %(number)s submitted. QA reviews it; you are notified of the "
                                        "decision.") % {"number": created.number})
            return redirect("distribution:request", created.pk)
    shown = request.POST if request.method == "POST" else {
        "vials": form["vials"].value(), "institution_type": form["institution_type"].value()}
    return render(request, "distribution/request_new.html", {
        "entry": entry, "form": form, "mta": mta, "countries": sorted(ISO_3166_ALPHA2),
        "has_profile": InstitutionProfile.objects.filter(user=request.user).exists(), **_fee_preview(line, shown),
    })


@perms_required("distribution.add_distributionrequest")
def request_fee(request, pk: int):
    """HTMX: the fee line of the request form, again as the vials or the institution type change."""
    line = get_object_or_404(CellLine, pk=pk)
    return render(request, "distribution/partials/fee.html", _fee_preview(line, request.GET))


@perms_required("distribution.add_distributionrequest")
@require_http_methods(["GET", "POST"])
def institution_profile(request):
    """A researcher's institution: it prefills every new request."""
    profile = InstitutionProfile.objects.filter(user=request.user).first()
    initial = ({"name": profile.name, "institution_type": profile.institution_type, "country": profile.country,
                "address": profile.address, "billing_contact": profile.billing_contact,
                "billing_email": profile.billing_email} if profile else {"country": settings.BANK_COUNTRY})
    form = forms.InstitutionProfileForm(request.POST or None, initial=initial)
    if request.method == "POST" and form.is_valid():
        _saved, ok = call_service(request, form, services.save_institution_profile, actor=request.user,
                                  **form.cleaned_data)
        if ok:
            messages.success(request, _("Institution profile saved; your next requests start from it."))
            return redirect("distribution:institution-profile")
    return render(request, "distribution/institution_profile.html", {
        "form": form, "profile": profile, "countries": sorted(ISO_3166_ALPHA2),
    }, status=400 if request.method == "POST" else 200)


# --- QA: MTA versions and fees ------------------------------------------------------------------


@perms_required("distribution.view_materialtransferagreement")
@require_http_methods(["GET", "POST"])
@exportable("distribution.mta")
def mta_list(request):
    """MTA versions, newest first; QA publishes a new one (the same service as ``manage.py publish_mta``)."""
    can_publish = request.user.has_perm("distribution.add_materialtransferagreement")
    form = forms.MTAPublishForm(request.POST or None)
    if request.method == "POST":
        if not can_publish:
            raise PermissionDenied
        if form.is_valid():
            mta, ok = call_service(request, form, services.publish_mta, actor=request.user, **form.cleaned_data)
            if ok:
                messages.success(request, _("MTA %(version)s is in force from %(date)s; new requests accept it.") % {
                    "version": mta.version, "date": mta.effective_from})
                return redirect("distribution:mta")
    versions = list(mta_queryset())
    return render(request, "distribution/mta.html", {
        "versions": versions, "form": form, "can_publish": can_publish,
    }, status=400 if request.method == "POST" else 200)


@perms_required("distribution.view_feerate")
@require_http_methods(["GET", "POST"])
@exportable("distribution.fees")
def fees(request):
    """The fee rules: the bank's defaults per institution type, then QA's per-grade and per-line rates."""
    can_set = request.user.has_perm("distribution.change_feerate")
    form = forms.FeeRateForm(request.POST or None)
    if request.method == "POST":
        if not can_set:
            raise PermissionDenied
        if form.is_valid():
            target = form.cleaned_data["target"].strip()
            line = line_by_name(target)
            grade = "" if line else target.lower()
            if line is None and grade not in Grade.values:
                form.add_error("target", _("No line named %(name)s; type a line's name, or research or clinical.")
                               % {"name": target})
            else:
                _rate, ok = call_service(request, form, services.set_fee_rate, actor=request.user,
                                         institution_type=form.cleaned_data["institution_type"],
                                         per_vial=form.cleaned_data["per_vial"], cell_line=line, grade=grade)
                if ok:
                    messages.success(request, _("Fee saved. Requests submitted from now on use it."))
                    return redirect("distribution:fees")
    return render(request, "distribution/fees.html", {
        "table": queries.fee_table(), "form": form, "can_set": can_set, "grade_choices": Grade.choices,
    }, status=400 if request.method == "POST" else 200)


# --- requests -----------------------------------------------------------------------------------


@perms_required(VIEW_REQUEST)
@exportable("distribution.requests")
def request_list(request):
    status = request_status(request.GET)
    qs = request_queryset(request.user, status)  # the page and its export list the same rows
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
        "needs_export_approval": queries.needs_export_approval(obj),
        "export_approvals": [(a, a.valid_on(timezone.localdate())) for a in queries.export_approvals_of(obj)],
        "can_record_export": user.has_perm("distribution.add_exportapproval")
        and obj.status in services.EXPORT_APPROVAL_STATUSES,
        "export_form": forms.ExportApprovalForm(),
        "quoted": has_quotation(obj),
        "today": timezone.localdate(),
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


@perms_required("distribution.add_exportapproval")
@require_POST
def request_export_approval(request, pk: int):
    """QA records the Human Genetic Resources export approval with its scan."""
    obj = _visible_request(request, pk)
    form = forms.ExportApprovalForm(request.POST, request.FILES)
    if form.is_valid():
        approval, ok = call_service(request, form, services.record_export_approval, obj, actor=request.user,
                                    **form.cleaned_data)
        if ok:
            messages.success(request, _("Export approval %(number)s recorded; %(request)s may ship until %(until)s.")
                             % {"number": approval.approval_number, "request": obj.number,
                                "until": approval.expires_on})
            return redirect("distribution:request", pk)
    return request_detail(request, pk, forms_in={"export_form": form}, status=400)


@perms_required(VIEW_REQUEST, "distribution.view_exportapproval")
def export_approval_document(request, pk: int):
    """The scanned export approval, read back through the storage API."""
    approval = get_object_or_404(ExportApproval, pk=pk, request__in=queries.requests_visible_to(request.user))
    if not approval.document:
        raise Http404(_("No scan was uploaded with this approval."))
    name = approval.document_name or approval.document.name.rsplit("/", 1)[-1]
    content_type = mimetypes.guess_type(name)[0] or "application/octet-stream"
    try:
        handle = approval.document.open("rb")
    except OSError:  # the scan's file is gone from storage (a restore without media): say so, never a 500
        raise Http404(_("The scan of this approval is missing from the bank's file storage.")) from None
    response = FileResponse(handle, content_type=content_type)
    response["Content-Disposition"] = content_disposition_header(False, name.replace("\r", " ").replace("\n", " "))
    return response


@perms_required(VIEW_REQUEST)
def request_quotation(request, pk: int):
    obj = _visible_request(request, pk)
    if not has_quotation(obj):
        raise Http404(_("Only an enterprise request is quoted."))
    response = HttpResponse(quotation_pdf(obj), content_type="application/pdf")
    response["Content-Disposition"] = f'inline; filename="Quotation-{obj.number}.pdf"'
    return response


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
    needs_export = queries.needs_export_approval(obj)
    return {
        "obj": obj, "allocations": allocations, "picked": picked, "all_picked": picked == len(allocations) > 0,
        "pick_form": pick_form or forms.PickForm(), "ship_form": ship_form or forms.ShipForm(),
        "scan_error": error, "scan_notice": notice, "needs_export_approval": needs_export,
        "export_approval": queries.export_approval_on(obj, timezone.localdate()) if needs_export else None,
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
@exportable("distribution.recalls")
def recall_list(request):
    qs = recall_queryset()
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

