"""Donor pages: list, intake, donor page with tabs, consent and withdrawal, screening, HLA,
collections, ethics approvals, the screening panel and CSV import.

Views check the role, parse a form, call one service and render. The donor's identity is read only
through ``queries.identity_for`` (coordinators and admins); no other page ever loads it.
"""

from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import ValidationError as DjangoValidationError
from django.core.paginator import Paginator
from django.http import HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods

from bank import tally
from bank.errors import DomainError
from bank.exports import exportable
from bank.parsing import whole_number
from bank.web import call_service, perms_required
from donors import services
from donors.choices import ALL_HLA_LOCI, MATERNAL_TISSUES, ConsentScope, ScreeningOutcome, Tissue
from donors.exports import collection_queryset, donor_search, marker_tissues, screening_markers
from donors.forms import (
    CollectionForm,
    ConsentForm,
    CorrectionForm,
    DonorEditForm,
    DonorForm,
    EraseIdentityForm,
    EthicsApprovalEditForm,
    EthicsApprovalForm,
    EthicsWithdrawForm,
    HandoverForm,
    HLAForm,
    ImportForm,
    MarkerForm,
    ScreeningForm,
    WindowForm,
    WithdrawForm,
)
from donors.models import (
    Collection,
    Consent,
    Donor,
    EthicsApproval,
    HLATyping,
    ScreeningMarker,
    ScreeningResult,
    ScreeningWindow,
)
from donors.queries import (
    PanelConfig,
    active_consent,
    can_view_identity,
    collection_by_code,
    consent_state,
    derived_lots,
    donor_by_code,
    donor_detail_queryset,
    donor_list,
    eligibility_for,
    eligibility_of,
    hla_versions,
    identity_for,
    identity_key_problem,
    lapsed_approvals,
    lines_under_approvals,
)

TAB_KEYS = ("consent", "screening", "hla", "collections", "history")


def _hla_or_none(donor: Donor) -> HLATyping | None:
    try:
        return donor.hla
    except HLATyping.DoesNotExist:
        return None


# --- list and intake ------------------------------------------------------------------------------


@perms_required("donors.view_donor")
@exportable("donors")
def donor_list_page(request):
    """Donors by code with type, eligibility and consent state. Constant queries whatever the page size."""
    q = donor_search(request.GET)
    page = tally.page_with_count(donor_list(q), 50, request.GET.get("page"),
                                 count=None if q else tally.total("donors.donor"))
    donors = list(page.object_list)
    eligibility = eligibility_of(donors)
    rows = [{"donor": d, "eligibility": eligibility[d.pk], "consent": consent_state(d)} for d in donors]
    return render(request, "donors/donor_list.html", {"page": page, "rows": rows, "q": q})


@perms_required("donors.add_donor", "donors.add_donoridentity")
@require_http_methods(["GET", "POST"])
def donor_create(request):
    form = DonorForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        donor, ok = call_service(request, form, services.register_donor, actor=request.user,
                                 identity=form.identity_data(), **form.donor_data())
        if ok:
            messages.success(request, _("Donor %(code)s registered. Record the signed consent next.") % {
                "code": donor.code})
            return redirect(reverse("donors:consent-create", args=[donor.pk]))
    key_problem = identity_key_problem() if request.method == "GET" else ""  # a POST shows it as the form's error
    return render(request, "donors/donor_form.html", {"form": form, "key_problem": key_problem})


@perms_required("donors.change_donor")
@require_http_methods(["GET", "POST"])
def donor_edit(request, pk: int):
    donor = get_object_or_404(Donor, pk=pk)
    with_identity = request.user.has_perm("donors.change_donoridentity") and can_view_identity(request.user)
    identity = identity_for(donor, request.user) if with_identity else None
    if identity is not None and not identity.readable:
        # An erased identity cannot be entered again; one that cannot be opened now cannot be corrected now.
        with_identity = False
        if identity.problem and request.method == "GET":
            messages.error(request, identity.problem)
    initial = {name: getattr(donor, name) for name in services.DONOR_FIELDS}
    if identity is not None and with_identity:
        initial.update({name: getattr(identity, name) for name in services.IDENTITY_FIELDS})
    form = DonorEditForm(request.POST or None, initial=initial, with_identity=with_identity)
    if request.method == "POST" and form.is_valid():
        identity_data = form.identity_data() if with_identity else None
        _donor, ok = call_service(request, form, services.update_donor, donor, actor=request.user,
                                  reason=form.cleaned_data["reason"], identity=identity_data, **form.donor_data())
        if ok:
            messages.success(request, _("Donor %(code)s updated.") % {"code": donor.code})
            return redirect(donor_url(donor))
    return render(request, "donors/donor_form.html", {"form": form, "donor": donor, "identity": identity})


@perms_required("donors.erase_donoridentity", "donors.view_donoridentity")
@require_http_methods(["GET", "POST"])
def identity_erase(request, pk: int):
    """Erase the donor's identity on their request (crypto-shredding): what stays and what goes, a reason, the
    password again. Only a confirmed POST erases."""
    donor = get_object_or_404(Donor, pk=pk)
    identity = identity_for(donor, request.user)
    if identity is None or identity.is_erased:
        if identity is None:
            messages.error(request, _("Donor %(code)s has no identity on file: there is nothing to erase.") % {
                "code": donor.code})
        else:
            messages.info(request, _("The identity of donor %(code)s was already erased.") % {"code": donor.code})
        return redirect(donor_url(donor))
    form = EraseIdentityForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        _erased, ok = call_service(request, form, services.erase_identity, donor, actor=request.user,
                                   reason=form.cleaned_data["reason"], password=form.cleaned_data["password"])
        if ok:
            messages.success(request, _("The identity of donor %(code)s is erased. The donor code, consents, "
                                        "screening, collections, lots and the audit trail remain.") % {
                "code": donor.code})
            return redirect(donor_url(donor))
    if request.method == "POST" and "reason" not in form.errors:
        # The reason stands: the cursor goes where the correction is typed (most often the password).
        form.fields["reason"].widget.attrs.pop("autofocus", None)
        form.fields["password"].widget.attrs["autofocus"] = True
    return render(request, "donors/identity_erase.html", {
        "donor": donor, "form": form, "lots": list(derived_lots(donor)),
        "consents": donor.consents.count(), "collections": donor.collections.count(),
    })


def donor_url(donor: Donor, tab: str = "") -> str:
    url = reverse("donors:detail", args=[donor.pk])
    return f"{url}?tab={tab}" if tab else url


# --- the donor page ---------------------------------------------------------------------------


@perms_required("donors.view_donor")
def donor_detail(request, pk: int):
    donor = get_object_or_404(donor_detail_queryset(), pk=pk)
    tab = request.GET.get("tab") or "consent"
    if tab not in TAB_KEYS:
        tab = "consent"
    panel = PanelConfig.load()
    eligibility = eligibility_for(donor, panel=panel)
    collections = list(donor.collections.all())
    context = {
        "donor": donor,
        "tab": tab,
        "tabs": [("consent", _("Consent")), ("screening", _("Screening")), ("hla", _("HLA")),
                 ("collections", _("Collections")), ("history", _("History"))],
        "identity": identity_for(donor, request.user),
        "eligibility": eligibility,
        "consent_state": consent_state(donor),
        "active_consent": active_consent(donor),
        "consents": list(donor.consents.all()),
        "hla": _hla_or_none(donor),
        "collections": collections,
        "latest_collection": collections[0] if collections else None,
        "scopes": dict(ConsentScope.choices),
    }
    if tab == "screening":
        context["screenings"] = _screenings_for_page(donor, panel)
    elif tab == "collections":
        context["collection_rows"] = [
            {"collection": c, "eligibility": eligibility_for(donor, c, panel=panel)} for c in collections]
        context["limit_hours"] = services.transport_limit_hours()
    elif tab == "hla" and context["hla"] is not None:
        typing = context["hla"]
        homozygous = set(typing.homozygous_loci())
        context["hla_rows"] = [(locus, pair[0], pair[1], locus in homozygous)
                               for locus, pair in typing.alleles().items()]
        # Earlier versions of the registration typing: a replaced typing is never lost.
        context["hla_earlier"] = hla_versions(typing)[1:]
    elif tab == "history":
        context["timeline"] = _timeline(donor)
    return render(request, "donors/donor_detail.html", context)


def _screenings_for_page(donor: Donor, panel: PanelConfig) -> list[dict]:
    names = {m.code: m.name for m in panel.markers}
    order = {m.code: m.order for m in panel.markers}
    out = []
    for screening in donor.screenings.all():
        rows = list(screening.results.all())
        corrected_ids = {r.corrects_id for r in rows if r.corrects_id}
        by_id = {r.pk: r for r in rows}
        for row in rows:
            row.is_corrected = row.pk in corrected_ids
            row.marker_name = names.get(row.marker, row.marker)
            row.corrected_row = by_id.get(row.corrects_id)
        rows.sort(key=lambda r: (order.get(r.marker, 999), r.marker, r.pk))
        out.append({"screening": screening, "results": rows})
    return out


def _timeline(donor: Donor) -> list[dict]:
    """What happened to this donor, newest first, from the records themselves (the audit trail has the rest)."""
    events = [{"at": donor.registered_at, "what": _("Registered"), "detail": donor.code, "record": donor,
               "by": donor.registered_by}]
    for consent in donor.consents.all():
        events.append({"at": consent.recorded_at, "what": _("Consent recorded"),
                       "detail": f"{consent.form_version} · {consent.signed_on:%Y-%m-%d}", "record": consent,
                       "by": consent.recorded_by})
        if consent.withdrawn_at:
            events.append({"at": consent.withdrawn_at, "what": _("Consent withdrawn"),
                           "detail": consent.withdrawal_reason, "record": consent, "by": consent.withdrawn_by})
    for screening in donor.screenings.all():
        results = list(screening.results.all())
        events.append({"at": screening.recorded_at, "what": _("Screening recorded"),
                       "detail": _("sample of %(day)s, %(n)s results") % {
                           "day": f"{screening.sample_drawn_on:%Y-%m-%d}",
                           "n": len([r for r in results if not r.corrects_id])},
                       "record": screening, "by": screening.recorded_by})
        for result in results:
            if result.corrects_id:
                events.append({"at": result.recorded_at, "what": _("Result corrected"),
                               "detail": f"{result.marker} → {result.get_result_display()}: {result.correction_reason}",
                               "record": result, "by": result.recorded_by})
    typing = _hla_or_none(donor)
    if typing is not None:
        events.append({"at": typing.recorded_at, "what": _("HLA typing recorded"),
                       "detail": typing.get_resolution_display(), "record": typing, "by": typing.recorded_by})
    for collection in donor.collections.all():
        events.append({"at": collection.received_at, "what": _("Collection received"),
                       "detail": f"{collection.code} · {collection.get_tissue_display()}", "record": collection,
                       "by": collection.received_by})
    return sorted(events, key=lambda e: e["at"], reverse=True)


# --- consent --------------------------------------------------------------------------------------


@perms_required("donors.add_consent")
@require_http_methods(["GET", "POST"])
def consent_create(request, pk: int):
    donor = get_object_or_404(Donor, pk=pk)
    form = ConsentForm(request.POST or None, initial={"signed_on": timezone.localdate()})
    if request.method == "POST" and form.is_valid():
        _consent, ok = call_service(request, form, services.record_consent, donor, actor=request.user,
                                    **form.cleaned_data)
        if ok:
            messages.success(request, _("Consent recorded for donor %(code)s.") % {"code": donor.code})
            return redirect(donor_url(donor, "consent"))
    return render(request, "donors/consent_form.html", {"form": form, "donor": donor})


@perms_required("donors.withdraw_consent")
@require_http_methods(["GET", "POST"])
def consent_withdraw(request, pk: int):
    """Show every lot a withdrawal will flag; only a confirmed POST withdraws."""
    consent = get_object_or_404(Consent.objects.select_related("donor"), pk=pk)
    donor = consent.donor
    if consent.withdrawn_at is not None:
        messages.error(request, _("This consent was already withdrawn on %(date)s.") % {
            "date": f"{timezone.localtime(consent.withdrawn_at):%Y-%m-%d}"})
        return redirect(donor_url(donor, "consent"))
    form = WithdrawForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        result, ok = call_service(request, form, services.withdraw_consent, consent, actor=request.user,
                                  reason=form.cleaned_data["reason"])
        if ok:
            return render(request, "donors/withdrawal_done.html", {"donor": donor, "result": result})
    lots = list(derived_lots(donor))
    live = list(donor.consents.filter(withdrawn_at__isnull=True).order_by("-signed_on"))
    return render(request, "donors/withdraw_confirm.html", {
        "donor": donor, "consent": consent, "form": form, "lots": lots, "live_consents": live,
        "shipped": sum(lot.vials_shipped for lot in lots),
    })


# --- screening ------------------------------------------------------------------------------------


@perms_required("donors.add_screening", "donors.add_screeningresult")
@require_http_methods(["GET", "POST"])
def screening_create(request, pk: int):
    donor = get_object_or_404(Donor, pk=pk)
    latest = donor.collections.order_by("-collected_at", "-id").first()
    markers = list(ScreeningMarker.objects.order_by("order", "code"))
    tissue = latest.tissue if latest else None
    initial = {"maternal_sample": services.default_maternal_sample(donor),
               "sample_drawn_on": latest.collected_at.date() if latest else timezone.localdate()}
    form = ScreeningForm(request.POST or None, markers=markers, initial=initial)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        _screening, ok = call_service(
            request, form, services.record_screening, donor, actor=request.user,
            sample_drawn_on=data["sample_drawn_on"], maternal_sample=data["maternal_sample"],
            laboratory=data["laboratory"], results=form.results())
        if ok:
            messages.success(request, _("Screening recorded for donor %(code)s.") % {"code": donor.code})
            return redirect(donor_url(donor, "screening"))
    required = {m.code for m in markers if m.required_for(tissue)}
    return render(request, "donors/screening_form.html", {
        "form": form, "donor": donor, "required": required, "latest_collection": latest,
        "outcomes": ScreeningOutcome.choices,
    })


@perms_required("donors.add_screeningresult")
@require_http_methods(["GET", "POST"])
def result_correct(request, pk: int):
    original = get_object_or_404(ScreeningResult.objects.select_related("screening__donor"), pk=pk)
    donor = original.screening.donor
    form = CorrectionForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        _correction, ok = call_service(request, form, services.correct_result, original, actor=request.user,
                                       **form.cleaned_data)
        if ok:
            messages.success(request, _("Result corrected; the original stays on record."))
            return redirect(donor_url(donor, "screening"))
    return render(request, "donors/result_correct.html", {"form": form, "donor": donor, "original": original})


# --- HLA ------------------------------------------------------------------------------------------


@perms_required("donors.add_hlatyping", "donors.change_hlatyping")
@require_http_methods(["GET", "POST"])
def hla_edit(request, pk: int):
    donor = get_object_or_404(Donor, pk=pk)
    typing = HLATyping.objects.filter(donor=donor).first()
    initial = {}
    if typing is not None:
        for locus, (first, second) in typing.alleles().items():
            initial[HLAForm.field_name(locus, 1)], initial[HLAForm.field_name(locus, 2)] = first, second
        initial.update(method=typing.method, resolution=typing.resolution, typed_on=typing.typed_on,
                       laboratory=typing.laboratory)
    form = HLAForm(request.POST or None, initial=initial)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            services.set_hla(donor, actor=request.user, alleles=form.alleles(), method=data["method"],
                             resolution=data["resolution"] or None, typed_on=data["typed_on"],
                             laboratory=data["laboratory"], reason=data["reason"])
            ok = True
        except DjangoValidationError as exc:
            ok = False
            for key, errors in exc.message_dict.items():
                # A locus's errors go under its first allele field, beside the pair they concern.
                target = HLAForm.field_name(key, 1) if key in ALL_HLA_LOCI else (key if key in form.fields else None)
                for error in errors:
                    form.add_error(target, error)
        if ok:
            messages.success(request, _("HLA typing saved for donor %(code)s.") % {"code": donor.code})
            return redirect(donor_url(donor, "hla"))
    return render(request, "donors/hla_form.html", {"form": form, "donor": donor, "typing": typing,
                                                    "loci": ALL_HLA_LOCI})


# --- collections ----------------------------------------------------------------------------------


@perms_required("donors.view_collection")
@exportable("donors.collections")
def collection_list(request):
    q = (request.GET.get("q") or "").strip()
    qs = collection_queryset(request.GET)
    page = Paginator(qs, 50).get_page(request.GET.get("page"))
    return render(request, "donors/collection_list.html", {"page": page, "q": q,
                                                           "limit_hours": services.transport_limit_hours()})


@perms_required("donors.add_collection")
@require_http_methods(["GET", "POST"])
def collection_create(request):
    initial = {}
    donor = None
    if request.GET.get("donor"):
        pk = whole_number(request.GET["donor"])
        donor = Donor.objects.filter(pk=pk).first() if pk is not None else None
        if donor is not None:
            initial["donor_code"] = donor.code
    form = CollectionForm(request.POST or None, initial=initial)
    if request.method == "POST" and form.is_valid():
        data = dict(form.cleaned_data)
        code = data.pop("donor_code").strip().upper()
        donor = Donor.objects.filter(code=code).first()
        if donor is None:
            form.add_error("donor_code", _("No donor has the code %(code)s. Scan the code on the donor's tube or "
                                           "form again.") % {"code": code})
        else:
            collection, ok = call_service(request, form, services.record_collection, actor=request.user,
                                          donor=donor, **data)
            if ok:
                if collection.transport_delay_flagged:
                    messages.warning(request, _(
                        "Collection %(code)s recorded. Transport took %(hours)s h, over the %(limit)s h limit: it is "
                        "flagged and QA has been told.") % {"code": collection.code,
                                                             "hours": f"{collection.transport_hours:.1f}",
                                                             "limit": services.transport_limit_hours()})
                else:
                    messages.success(request, _("Collection %(code)s recorded.") % {"code": collection.code})
                return redirect(reverse("donors:collection", args=[collection.pk]))
    today = timezone.localdate()
    return render(request, "donors/collection_form.html", {
        "form": form, "donor": donor, "limit_hours": services.transport_limit_hours(),
        "today": today, "ethics_required": services.ethics_required(),
        "in_force_today": EthicsApproval.valid_on(today).count(),
    })


@perms_required("donors.view_collection")
def collection_detail(request, pk: int, handover_form: HandoverForm | None = None):
    collection = get_object_or_404(
        Collection.objects.select_related("donor", "consent", "ethics_approval", "received_by"), pk=pk)
    donor = get_object_or_404(donor_detail_queryset(), pk=collection.donor_id)
    eligibility = eligibility_for(donor, next(c for c in donor.collections.all() if c.pk == collection.pk))
    can_add = request.user.has_perm("donors.add_custodyhandover")
    if handover_form is None and can_add:
        handover_form = HandoverForm(initial={"at": timezone.localtime(collection.received_at).strftime(
            "%Y-%m-%dT%H:%M")})
    approval = collection.ethics_approval
    return render(request, "donors/collection_detail.html", {
        "collection": collection, "donor": donor, "eligibility": eligibility,
        "limit_hours": services.transport_limit_hours(collection.tissue),
        "limits": services.transport_limits(collection.tissue), "maternal": collection.tissue in MATERNAL_TISSUES,
        "handovers": list(collection.handovers.order_by("at", "id")) if request.user.has_perm(
            "donors.view_custodyhandover") else None,
        "handover_form": handover_form if can_add else None,
        "approval_lapsed_on": approval.lapsed_on(timezone.localdate()) if approval else None,
    })


@perms_required("donors.add_custodyhandover")
@require_http_methods(["POST"])
def handover_create(request, pk: int):
    """Record one hand-over from the collection page's custody section; errors stay on that page."""
    collection = get_object_or_404(Collection, pk=pk)
    form = HandoverForm(request.POST)
    if form.is_valid():
        handover, ok = call_service(request, form, services.record_handover, collection, actor=request.user,
                                    **form.cleaned_data)
        if ok:
            if handover.within_limits:
                messages.success(request, _("Hand-over recorded: %(by)s → %(to)s.") % {
                    "by": handover.handed_by, "to": handover.received_by})
            else:
                messages.warning(request, _("Hand-over recorded outside the transport limits (%(problem)s): QA has "
                                            "a deviation for collection %(code)s.") % {
                    "problem": handover.limit_problem, "code": collection.code})
            return redirect(reverse("donors:collection", args=[collection.pk]) + "#custody")
    first = next((name for name in form.fields if name in form.errors), "handed_by")
    form.fields[first].widget.attrs["autofocus"] = True  # the correction is typed where the error is
    return collection_detail(request, pk, handover_form=form)


# --- ethics approvals -----------------------------------------------------------------------------


@perms_required("donors.view_ethicsapproval")
@exportable("donors.ethics")
def ethics_list(request):
    today = timezone.localdate()
    approvals = list(EthicsApproval.objects.order_by("-valid_from", "-id"))
    for approval in approvals:
        approval.current = approval.is_valid_on(today)
        approval.lapsed = approval.lapsed_on(today)
    return render(request, "donors/ethics_list.html", {"approvals": approvals, "today": today,
                                                       "ethics_required": services.ethics_required()})


@perms_required("donors.withdraw_ethicsapproval")
@require_http_methods(["GET", "POST"])
def ethics_withdraw(request, pk: int):
    """Show the lines derived under the approval; only a confirmed POST records the withdrawal."""
    approval = get_object_or_404(EthicsApproval, pk=pk)
    if approval.is_withdrawn:
        messages.error(request, _("Ethics approval %(number)s was already withdrawn on %(date)s.") % {
            "number": approval.approval_number, "date": approval.withdrawn_on.isoformat()})
        return redirect("donors:ethics")
    form = EthicsWithdrawForm(request.POST or None, initial={"withdrawn_on": timezone.localdate()})
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        _approval, ok = call_service(request, form, services.withdraw_ethics_approval, approval, actor=request.user,
                                     reason=data["reason"], withdrawn_on=data["withdrawn_on"])
        if ok:
            messages.warning(request, _("Ethics approval %(number)s withdrawn. The lines derived under it are "
                                        "flagged for QA on the dashboard.") % {"number": approval.approval_number})
            return redirect("donors:ethics")
    derived = lines_under_approvals([approval.pk], limit=50)
    return render(request, "donors/ethics_withdraw.html", {"approval": approval, "form": form, "derived": derived,
                                                           "collections": approval.collections.count()})


@perms_required("donors.add_ethicsapproval")
@require_http_methods(["GET", "POST"])
def ethics_create(request):
    form = EthicsApprovalForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        approval, ok = call_service(request, form, services.create_ethics_approval, actor=request.user,
                                    **form.cleaned_data)
        if ok:
            messages.success(request, _("Ethics approval %(number)s recorded.") % {"number": approval.approval_number})
            return redirect("donors:ethics")
    return render(request, "donors/ethics_form.html", {"form": form})


@perms_required("donors.change_ethicsapproval")
@require_http_methods(["GET", "POST"])
def ethics_edit(request, pk: int):
    approval = get_object_or_404(EthicsApproval, pk=pk)
    initial = {f: getattr(approval, f) for f in ("committee", "approval_number", "scope", "valid_from", "valid_to")}
    form = EthicsApprovalEditForm(request.POST or None, initial=initial)
    if request.method == "POST" and form.is_valid():
        data = dict(form.cleaned_data)
        reason = data.pop("reason")
        _approval, ok = call_service(request, form, services.update_ethics_approval, approval, actor=request.user,
                                     reason=reason, **data)
        if ok:
            messages.success(request, _("Ethics approval %(number)s updated.") % {"number": data["approval_number"]})
            return redirect("donors:ethics")
    return render(request, "donors/ethics_form.html", {"form": form, "approval": approval})


# --- the screening panel --------------------------------------------------------------------------


@perms_required("donors.view_screeningmarker", "donors.view_screeningwindow")
@exportable("donors.markers")
def panel_page(request):
    tissues = dict(Tissue.choices)
    markers = list(screening_markers())  # the page and its export (donors/exports.py) list the same markers
    for marker in markers:
        marker.tissue_labels = marker_tissues(marker)
    windows = list(ScreeningWindow.objects.order_by("tissue"))
    for window in windows:
        window.label = tissues.get(window.tissue, _("Default (every other tissue)"))
    return render(request, "donors/panel.html", {
        "markers": markers, "windows": windows,
        "can_edit": request.user.has_perm("donors.change_screeningmarker"),
        "can_edit_windows": request.user.has_perm("donors.change_screeningwindow"),
    })


@perms_required("donors.change_screeningmarker")
@require_http_methods(["GET", "POST"])
def marker_edit(request, pk: int):
    marker = get_object_or_404(ScreeningMarker, pk=pk)
    form = MarkerForm(request.POST or None, initial={"required": marker.required, "tissues": marker.tissues})
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        _marker, ok = call_service(request, form, services.configure_marker, marker, actor=request.user,
                                   required=data["required"], tissues=data["tissues"], reason=data["reason"])
        if ok:
            messages.success(request, _("Screening panel updated: %(code)s.") % {"code": marker.code})
            return redirect("donors:panel")
    return render(request, "donors/panel_form.html", {"form": form, "marker": marker})


@perms_required("donors.change_screeningwindow", "donors.add_screeningwindow")
@require_http_methods(["GET", "POST"])
def window_edit(request):
    tissue = request.GET.get("tissue", "")
    window = ScreeningWindow.objects.filter(tissue=tissue).first()
    initial = {"tissue": tissue, "days_before": window.days_before if window else 7,
               "days_after": window.days_after if window else 7}
    form = WindowForm(request.POST or None, initial=initial)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        _window, ok = call_service(request, form, services.configure_window, data["tissue"], actor=request.user,
                                   days_before=data["days_before"], days_after=data["days_after"],
                                   reason=data["reason"])
        if ok:
            messages.success(request, _("Screening window saved."))
            return redirect("donors:panel")
    return render(request, "donors/panel_form.html", {"form": form, "window": True})


# --- CSV import -----------------------------------------------------------------------------------


IMPORT_PERMS = ("donors.add_donor", "donors.add_donoridentity", "donors.add_consent", "donors.add_screening",
                "donors.add_screeningresult")


@perms_required(*IMPORT_PERMS)
@require_http_methods(["GET", "POST"])
def import_page(request):
    form = ImportForm(request.POST or None, request.FILES or None)
    rejected, result = None, None
    if request.method == "POST" and form.is_valid():
        upload = form.cleaned_data["file"]
        try:
            result = services.import_donors_csv(upload.read(), actor=request.user, filename=upload.name)
        except services.ImportRejected as exc:
            rejected = exc.rows
        except DomainError as exc:
            form.add_error(None, exc.detail)
    return render(request, "donors/import.html", {
        "form": form, "rejected": rejected, "result": result, "columns": services.import_columns(),
        "required_columns": services.IMPORT_REQUIRED, "scopes": ConsentScope.values,
        "key_problem": identity_key_problem() if request.method == "GET" else "",
    })


@perms_required(*IMPORT_PERMS)
def import_template(request):
    columns = services.import_columns()
    example = {"sex": "F", "birth_year": "1990", "donor_type": "healthy", "full_name": "Example Name",
               "national_id": "110101199001010000", "population": "Han Chinese", "sample_drawn_on":
               f"{timezone.localdate():%Y-%m-%d}", "maternal_sample": "no", "consent_form_version": "ICF-2025-v3",
               "consent_signed_on": f"{timezone.localdate():%Y-%m-%d}", "consent_scopes": "research;data_sharing"}
    markers = set(ScreeningMarker.objects.values_list("code", flat=True))
    row = [example.get(c, "negative" if c in markers else "") for c in columns]
    from bank.exports import csv_chunks

    # Two lines, whatever the bank's size: written by the one CSV writer of exports, but not streamed.
    response = HttpResponse("".join(csv_chunks(columns, [row])), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = 'attachment; filename="donor-import-template.csv"'
    return response


# --- scan resolver and dashboard panel ------------------------------------------------------------


def resolve_scan(code: str, user) -> str | None:
    """Donor codes and collection codes open their page, for users who may view donors only."""
    if not user.has_perm("donors.view_donor"):
        return None
    donor = donor_by_code(code)
    if donor is not None:
        return reverse("donors:detail", args=[donor.pk])
    if user.has_perm("donors.view_collection"):
        collection = collection_by_code(code)
        if collection is not None:
            return reverse("donors:collection", args=[collection.pk])
    return None


def dashboard_panel(request):
    since = timezone.now() - timezone.timedelta(days=30)
    donors = tally.counts("donors.donor")  # kept by the database (bank/tally.py): no count over every donor
    total = sum(donors.values())
    counts = {"total": total, "withdrawn": donors.get("withdrawn", 0),
              "without_consent": total - tally.total("donors.consented")}
    flagged = Collection.objects.filter(transport_delay_flagged=True, received_at__gte=since).count()
    return {"counts": counts, "flagged": flagged}


def ethics_panel(request):
    """Lines derived under an ethics approval that expired or was withdrawn, for QA (issue 15). Hidden when none.

    Bounded whatever the bank's size: the lapsed approvals (a handful, ``donors_ethics_*_idx``), then lots' answer
    to ``lines_under_approvals`` (the newest lines and a count that stops at 1000)."""
    approvals = lapsed_approvals(timezone.localdate())
    if not approvals:
        return None
    derived = lines_under_approvals([a.pk for a in approvals], limit=10)
    if not derived["lines"]:
        return None
    return {"approvals": approvals, "lines": derived["lines"], "count": derived["count"],
            "shown": len(derived["lines"])}

