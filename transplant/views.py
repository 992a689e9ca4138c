"""Pages of the transplant app: a centre's patients and the unit search, confirmatory typing, reservations,
orders from release for administration to the thaw report, and the outcome follow-ups.

Views check the permission, parse a form, call one service and render. A clinician sees only their centre's
records (another centre's is 404) and never a donor's code or identity: a unit is its DIN, its
characterisation and its HLA.
"""

from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.http import Http404, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.utils.http import content_disposition_header
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods, require_POST

from bank.exports import exportable
from bank.notifications import users_with_role
from bank.roles import CLINICIAN
from bank.signatures import manifestation, signatures_for
from bank.web import call_service, perms_required
from cordblood.models import CordBloodUnit
from distribution.panels import can_recall
from lots.models import Vial
from transplant import forms, queries, services
from transplant.choices import (
    CANCELLABLE_ORDER_STATUSES,
    UNIT_LEFT_BANK_STATUSES,
    DocumentItem,
    OrderStatus,
    ReleaseException,
    ReservationStatus,
    TypingRequestStatus,
)
from transplant.exports import (
    centre_queryset,
    follow_up_queryset,
    order_queryset,
    patient_queryset,
    typing_queryset,
    typing_status,
)
from transplant.models import CentreClinician, DryShipper, TemperatureLog, TransplantCentre
from transplant.services import safety

PAGE_SIZE = 25


def _page(request, qs, size: int = PAGE_SIZE):
    return Paginator(qs, size).get_page(request.GET.get("page"))


def _get(qs, pk: int):
    obj = qs.filter(pk=pk).first()
    if obj is None:
        raise Http404(_("Not found."))
    return obj


# --- home -----------------------------------------------------------------------------------------------


@perms_required("transplant.view_order")
def index(request):
    user = request.user
    clinician = queries.is_clinician(user)
    context = {
        "clinician": clinician,
        "centre": queries.centre_of(user) if clinician else None,
        "open_typing": list(queries.typing_requests_visible_to(user).filter(status=TypingRequestStatus.REQUESTED)
                            .order_by("due_on", "pk")[:20]),
        "active_reservations": list(queries.reservations_visible_to(user).filter(status=ReservationStatus.ACTIVE)
                                    .order_by("until", "pk")[:20]),
        "open_orders": list(queries.orders_visible_to(user).exclude(
            status__in=[OrderStatus.INFUSED, OrderStatus.CANCELLED]).order_by("infusion_date", "pk")[:20]),
        "follow_ups": list(queries.open_follow_ups(user).order_by("due_on", "pk")[:20]),
        "patients": list(queries.patients_visible_to(user).order_by("-created_at", "-pk")[:10])
        if user.has_perm("transplant.view_patient") else [],
        "look_backs": list(queries.look_backs_visible_to(user).order_by("-created_at", "-pk")[:20]),
        "adverse_events": list(queries.adverse_events_visible_to(user).order_by("-reported_at", "-pk")[:20]),
    }
    return render(request, "transplant/index.html", context)


# --- patients and search --------------------------------------------------------------------------------


@perms_required("transplant.view_patient")
@exportable("transplant.patients")
def patients(request):
    qs = patient_queryset(request.user)
    return render(request, "transplant/patient_list.html", {"page": _page(request, qs)})


@perms_required("transplant.add_patient")
@require_http_methods(["GET", "POST"])
def patient_new(request):
    clinician = queries.is_clinician(request.user)
    centres = None if clinician else TransplantCentre.objects.filter(active=True).order_by("code")
    form = forms.PatientForm(request.POST or None, centres=centres)
    if request.method == "POST" and form.is_valid():
        data = dict(form.cleaned_data)
        hla = forms.hla_from(data)
        values = {k: v for k, v in data.items() if not k.startswith("hla_")}
        patient, ok = call_service(request, form, services.register_patient, actor=request.user, hla=hla, **values)
        if ok:
            messages.success(request, _("Patient %(code)s registered. Search units for them below.") % {
                "code": patient.code})
            return redirect("transplant:patient", patient.pk)
    return render(request, "transplant/patient_new.html", {"form": form},
                  status=400 if request.method == "POST" else 200)


def _patient_context(request, patient, **forms_in) -> dict:
    user = request.user
    search_form = forms.SearchForm(request.GET or None)
    results = None
    page = None
    if user.has_perm("transplant.search_units"):
        filters = queries.SearchFilters()
        if search_form.is_bound and search_form.is_valid():
            filters = queries.SearchFilters(**{k: v for k, v in search_form.cleaned_data.items()
                                               if v not in (None, "")})
        if not search_form.errors:
            page = _page(request, queries.search_units(patient, filters), 20)
            results = [{"unit": unit, "hla": queries.unit_hla(unit), "age": queries.unit_age_years(unit)}
                       for unit in page.object_list]
    query = request.GET.copy()
    query.pop("page", None)
    context = {
        "patient": patient, "search_form": search_form, "results": results, "page": page,
        "query": query.urlencode(), "today": timezone.localdate(),
        "typing_requests": list(queries.typing_requests_visible_to(user).filter(patient=patient)
                                .order_by("-requested_at", "-pk")[:50]),
        "reservations": list(queries.reservations_visible_to(user).filter(patient=patient)
                             .order_by("-reserved_at", "-pk")[:50]),
        "orders": list(queries.orders_visible_to(user).filter(patient=patient).order_by("-ordered_at", "-pk")[:50]),
        "order_form": forms.OrderForm(),
        "can_edit": queries.is_clinician(user) and user.has_perm("transplant.change_patient"),
    }
    context.update(forms_in)
    return context


@perms_required("transplant.view_patient")
@exportable("transplant.search")
def patient(request, pk: int):
    obj = _get(queries.patients_visible_to(request.user), pk)
    return render(request, "transplant/patient_detail.html", _patient_context(request, obj))


@perms_required("transplant.view_patient", "transplant.change_patient")
@require_http_methods(["GET", "POST"])
def patient_edit(request, pk: int):
    obj = _get(queries.patients_visible_to(request.user), pk)
    form = forms.PatientEditForm(request.POST or None, initial=forms.PatientEditForm.initial_for(obj))
    if request.method == "POST" and form.is_valid():
        data = dict(form.cleaned_data)
        hla = forms.hla_from(data)
        values = {k: v for k, v in data.items() if not k.startswith("hla_")}
        _patient, ok = call_service(request, form, services.update_patient, obj, actor=request.user, hla=hla,
                                    **values)
        if ok:
            messages.success(request, _("Patient %(code)s updated.") % {"code": obj.code})
            return redirect("transplant:patient", obj.pk)
    return render(request, "transplant/patient_edit.html", {
        "patient": obj, "form": form, "hla_history": services.patient_hla_history(obj)},
        status=400 if request.method == "POST" else 200)


@perms_required("transplant.add_typingrequest")
@require_POST
def patient_typing(request, pk: int):
    obj = _get(queries.patients_visible_to(request.user), pk)
    form = forms.UnitForm(request.POST)
    if form.is_valid():
        unit = get_object_or_404(CordBloodUnit, pk=form.cleaned_data["unit"])
        ct, ok = call_service(request, None, services.request_typing, unit, obj, actor=request.user)
        if ok:
            messages.success(request, _("Confirmatory typing of unit %(din)s requested; due %(due)s.") % {
                "din": unit.din, "due": ct.due_on.isoformat()})
    return redirect("transplant:patient", pk)


@perms_required("transplant.add_reservation")
@require_POST
def patient_reserve(request, pk: int):
    obj = _get(queries.patients_visible_to(request.user), pk)
    form = forms.ReserveForm(request.POST)
    if form.is_valid():
        unit = get_object_or_404(CordBloodUnit, pk=form.cleaned_data["unit"])
        reservation, ok = call_service(request, None, services.reserve_unit, unit, obj,
                                       until=form.cleaned_data["until"], actor=request.user)
        if ok:
            messages.success(request, _("Unit %(din)s is reserved for %(code)s until %(until)s.") % {
                "din": unit.din, "code": obj.code, "until": reservation.until.isoformat()})
    else:
        messages.error(request, _("Enter the date until which the unit is reserved."))
    return redirect("transplant:patient", pk)


@perms_required("transplant.add_order")
@require_POST
def reservation_order(request, pk: int):
    reservation = _get(queries.reservations_visible_to(request.user), pk)
    form = forms.OrderForm(request.POST)
    if form.is_valid():
        order, ok = call_service(request, form, services.place_order, reservation,
                                 infusion_date=form.cleaned_data["infusion_date"], actor=request.user)
        if ok:
            messages.success(request, _("%(number)s ordered; the medical director is asked to release it.") % {
                "number": order.number})
            return redirect("transplant:order", order.pk)
    context = _patient_context(request, reservation.patient, order_form=form, order_for=reservation.pk)
    return render(request, "transplant/patient_detail.html", context, status=400)


@perms_required("transplant.change_reservation")
@require_POST
def reservation_cancel(request, pk: int):
    reservation = _get(queries.reservations_visible_to(request.user), pk)
    _result, ok = call_service(request, None, services.cancel_reservation, reservation, actor=request.user,
                               reason=request.POST.get("reason", ""))
    if ok:
        messages.success(request, _("Reservation cancelled; unit %(din)s is available again.") % {
            "din": reservation.unit.din})
    return redirect("transplant:patient", reservation.patient_id)


# --- confirmatory typing --------------------------------------------------------------------------------


@perms_required("transplant.view_typingrequest")
@exportable("transplant.typing")
def typing_list(request):
    status = typing_status(request.GET)
    qs = typing_queryset(request.user, status)  # the page and its export list the same rows
    return render(request, "transplant/typing_list.html", {
        "page": _page(request, qs), "status": status, "tabs": [("requested", _("Open")), ("completed", _("Completed")),
                                                               ("", _("All"))]})


def _typing_page(request, ct, form=None, status: int = 200, cancel_form=None):
    samples = []
    if request.user.has_perm("transplant.complete_typingrequest") and ct.unit.lot_id:
        samples = list(queries.typing_samples(ct.unit))
    return render(request, "transplant/typing_detail.html", {
        "ct": ct, "form": form or forms.CompleteTypingForm(), "samples": samples,
        "cancel_form": cancel_form or forms.CancelForm(),
        "can_cancel": ct.status == TypingRequestStatus.REQUESTED
        and request.user.has_perm("transplant.add_typingrequest")}, status=status)


@perms_required("transplant.view_typingrequest")
def typing(request, pk: int):
    return _typing_page(request, _get(queries.typing_requests_visible_to(request.user), pk))


@perms_required("transplant.complete_typingrequest")
@require_POST
def typing_complete(request, pk: int):
    ct = _get(queries.typing_requests_visible_to(request.user), pk)
    form = forms.CompleteTypingForm(request.POST)
    if form.is_valid():
        barcode = form.cleaned_data["sample"].strip()
        sample = Vial.objects.filter(barcode=barcode).first() if barcode else None
        if barcode and sample is None:
            form.add_error("sample", _("No container with this barcode."))
        else:
            alleles = forms.hla_from(form.cleaned_data)
            if not alleles:
                form.add_error(None, _("Enter the alleles typed."))
            else:
                done, ok = call_service(request, form, services.complete_typing, ct, alleles=alleles, sample=sample,
                                        laboratory=form.cleaned_data["laboratory"],
                                        typed_on=form.cleaned_data["typed_on"], actor=request.user)
                if ok:
                    messages.success(request, _("Typing recorded: %(verdict)s.") % {
                        "verdict": _("concordant") if done.typing.concordant else _("DISCORDANT")})
                    return redirect("transplant:typing", pk)
    return _typing_page(request, ct, form, status=400)


@perms_required("transplant.view_typingrequest", "transplant.add_typingrequest")
@require_POST
def typing_cancel(request, pk: int):
    ct = _get(queries.typing_requests_visible_to(request.user), pk)
    form = forms.CancelForm(request.POST)
    if form.is_valid():
        _done, ok = call_service(request, form, services.cancel_typing, ct, actor=request.user,
                                 reason=form.cleaned_data["reason"])
        if ok:
            messages.success(request, _("Confirmatory typing of unit %(din)s cancelled.") % {"din": ct.unit.din})
            return redirect("transplant:typing", pk)
    return _typing_page(request, _get(queries.typing_requests_visible_to(request.user), pk), status=400,
                        cancel_form=form)


# --- orders ---------------------------------------------------------------------------------------------


@perms_required("transplant.view_order")
@exportable("transplant.orders")
def orders(request):
    status = request.GET.get("status", "")
    qs = order_queryset(request.user, status)
    return render(request, "transplant/order_list.html", {
        "page": _page(request, qs), "status": status,
        "tabs": [("", _("All")), *OrderStatus.choices]})


def _labelled(codes) -> list[tuple[str, str]]:
    return [(code, ReleaseException(code).label if code in ReleaseException.values else code) for code in codes]


def _order_page(request, order, status: int = 200, **forms_in):
    user = request.user
    own = queries.is_clinician(user)
    context = {
        "order": order, "own": own,
        "exceptions_now": _labelled(queries.release_exceptions(order)) if order.status == OrderStatus.ORDERED else [],
        "exceptions": _labelled(order.release_exceptions),
        "signatures": [manifestation(sig, order) for sig in signatures_for(order)],
        "thaw_report": getattr(order, "thaw_report", None) if order.status == OrderStatus.INFUSED else None,
        "follow_ups": list(order.follow_ups.order_by("due_on")),
        "logs": list(TemperatureLog.objects.filter(order=order).defer("content").order_by("uploaded_at")),
        "documents": DocumentItem.choices,
        "release_form": forms.ReleaseForm(), "acknowledge_form": forms.AcknowledgeForm(),
        "ship_form": forms.ShipForm(), "receive_form": forms.ReceiveForm(), "thaw_form": forms.ThawReportForm(),
        "cancel_form": forms.CancelForm(),
        "adverse_events": list(queries.adverse_events_visible_to(user).filter(order=order).order_by("reported_at",
                                                                                                   "pk")),
        "look_backs": list(queries.look_backs_visible_to(user).filter(order=order).order_by("created_at", "pk")),
        "adverse_event_form": forms.AdverseEventForm(initial={"occurred_on": timezone.localdate()}),
    }
    recalls = queries.recalls_of_unit(order.unit) if user.has_perm("distribution.add_recall") else None
    context["link_recall_form"] = forms.LinkRecallForm(recalls=recalls) if recalls is not None else None
    context["has_recalls"] = recalls is not None and recalls.exists()
    # distribution's own answer to "may this person recall this lot now" (released or on hold, role allowing)
    context["can_start_recall"] = order.unit.lot is not None and can_recall(user, order.unit.lot)
    status_ = order.status
    awaiting_ack = status_ == OrderStatus.RELEASED and order.is_exceptional and not order.acknowledged_at
    context["can"] = can = {
        "release": status_ == OrderStatus.ORDERED and user.has_perm("transplant.release_order"),
        "acknowledge": awaiting_ack and own,
        "ship": status_ == OrderStatus.RELEASED and user.has_perm("transplant.ship_order"),
        "receive": status_ == OrderStatus.SHIPPED and own,
        "thaw": status_ == OrderStatus.RECEIVED and own,
        "cancel": status_ in CANCELLABLE_ORDER_STATUSES and queries.may_cancel_order(user),
        "report_event": status_ in UNIT_LEFT_BANK_STATUSES and own and user.has_perm("transplant.receive_order"),
    }
    context["has_actions"] = any(can.values())
    context["next_step"] = {
        OrderStatus.ORDERED: _("Waiting for the medical director to release the unit for administration."),
        OrderStatus.RELEASED: _("Waiting for the centre's acknowledgement of the exceptional release.") if awaiting_ack
        else _("Released: the bank ships the bag in a validated dry shipper."),
        OrderStatus.SHIPPED: _("On its way: the centre confirms receipt when it arrives."),
        OrderStatus.RECEIVED: _("Received: the centre reports the thaw and infusion."),
        OrderStatus.INFUSED: _("Infused: the centre records the outcome at day 100 and one year."),
        OrderStatus.CANCELLED: _("Cancelled: the unit was freed."),
    }.get(status_, "")
    context.update(forms_in)
    return render(request, "transplant/order_detail.html", context, status=status)


@perms_required("transplant.view_order")
def order(request, pk: int):
    return _order_page(request, _get(queries.orders_visible_to(request.user), pk))


def _order_action(request, pk, form_class, form_key, service, success, **extra):
    obj = _get(queries.orders_visible_to(request.user), pk)
    form = form_class(request.POST, request.FILES) if form_class is forms.ShipForm else form_class(request.POST)
    if form.is_valid():
        _result, ok = call_service(request, form, service, obj, actor=request.user,
                                   **extra.get("values", lambda data: data)(dict(form.cleaned_data)))
        if ok:
            messages.success(request, success % {"number": obj.number})
            return redirect("transplant:order", pk)
    return _order_page(request, _get(queries.orders_visible_to(request.user), pk), status=400, **{form_key: form})


@perms_required("transplant.release_order")
@require_POST
def order_release(request, pk: int):
    return _order_action(request, pk, forms.ReleaseForm, "release_form", services.release_order,
                         _("%(number)s released for administration and signed."))


@perms_required("transplant.receive_order")
@require_POST
def order_acknowledge(request, pk: int):
    return _order_action(request, pk, forms.AcknowledgeForm, "acknowledge_form", services.acknowledge_release,
                         _("You acknowledged the exceptional release of %(number)s; the bank may ship it."))


def _ship_values(data: dict) -> dict:
    upload = data.pop("temperature_log")
    return {**data, "logger_name": upload.name, "logger_content": upload.read(),
            "logger_content_type": getattr(upload, "content_type", "") or ""}


@perms_required("transplant.ship_order")
@require_POST
def order_ship(request, pk: int):
    return _order_action(request, pk, forms.ShipForm, "ship_form", services.ship_order,
                         _("%(number)s shipped; the centre was notified."), values=_ship_values)


@perms_required("transplant.receive_order")
@require_POST
def order_receive(request, pk: int):
    return _order_action(request, pk, forms.ReceiveForm, "receive_form", services.receive_order,
                         _("Receipt of %(number)s recorded."))


@perms_required("transplant.add_thawreport")
@require_POST
def order_thaw(request, pk: int):
    return _order_action(request, pk, forms.ThawReportForm, "thaw_form", services.record_thaw_report,
                         _("Thaw and infusion report of %(number)s recorded; follow-ups are due at day 100 and one "
                           "year."))


@perms_required("transplant.view_order")
@require_POST
def order_cancel(request, pk: int):
    if not queries.may_cancel_order(request.user):
        raise PermissionDenied
    return _order_action(request, pk, forms.CancelForm, "cancel_form", services.cancel_order,
                         _("%(number)s cancelled; the unit is available again."))


@perms_required("transplant.view_temperaturelog")
def temperature_log(request, pk: int, log_pk: int):
    obj = _get(queries.orders_visible_to(request.user), pk)
    log = get_object_or_404(TemperatureLog, pk=log_pk, order=obj)
    response = HttpResponse(bytes(log.content), content_type="application/octet-stream")
    # The file name came from the uploader's machine: quote it (a quote or a line break in it is no header).
    response["Content-Disposition"] = content_disposition_header(True, log.filename.replace("\r", " ")
                                                                 .replace("\n", " "))
    return response


@perms_required("transplant.view_order", "transplant.receive_order")
@require_POST
def order_adverse_event(request, pk: int):
    obj = _get(queries.orders_visible_to(request.user), pk)
    form = forms.AdverseEventForm(request.POST)
    if form.is_valid():
        _event, ok = call_service(request, form, safety.report_adverse_event, obj, actor=request.user,
                                  **form.cleaned_data)
        if ok:
            messages.success(request, _("Adverse event of %(number)s reported; QA and the medical director were "
                                        "alerted.") % {"number": obj.number})
            return redirect("transplant:order", pk)
    return _order_page(request, _get(queries.orders_visible_to(request.user), pk), status=400,
                       adverse_event_form=form)


@perms_required("transplant.view_order", "distribution.add_recall")
@require_POST
def adverse_event_link(request, pk: int, event_pk: int):
    obj = _get(queries.orders_visible_to(request.user), pk)
    event = _get(queries.adverse_events_visible_to(request.user).filter(order=obj), event_pk)
    form = forms.LinkRecallForm(request.POST, recalls=queries.recalls_of_unit(obj.unit))
    if form.is_valid():
        _event, ok = call_service(request, form, safety.link_adverse_event, event, form.cleaned_data["recall"],
                                  actor=request.user)
        if ok:
            messages.success(request, _("Adverse event linked to recall %(id)s.") % {
                "id": form.cleaned_data["recall"].pk})
            return redirect("transplant:order", pk)
    return _order_page(request, _get(queries.orders_visible_to(request.user), pk), status=400,
                       link_recall_form=form, link_for=event.pk)


# --- follow-up ------------------------------------------------------------------------------------------


@perms_required("transplant.view_followup")
@exportable("transplant.follow_ups")
def follow_ups(request):
    qs = follow_up_queryset(request.user, request.GET.get("status", "due"))
    return render(request, "transplant/follow_up_list.html", {"page": _page(request, qs),
                                                              "status": request.GET.get("status", "due")})


@perms_required("transplant.view_followup")
@require_http_methods(["GET", "POST"])
def follow_up(request, pk: int):
    obj = _get(queries.follow_ups_visible_to(request.user), pk)
    form = forms.FollowUpForm(request.POST or None)
    if request.method == "POST":
        if not request.user.has_perm("transplant.change_followup"):
            raise PermissionDenied
        if form.is_valid():
            _done, ok = call_service(request, form, services.record_follow_up, obj, actor=request.user,
                                     **form.cleaned_data)
            if ok:
                messages.success(request, _("%(milestone)s follow-up of %(code)s recorded.") % {
                    "milestone": obj.get_milestone_display(), "code": obj.order.patient.code})
                return redirect("transplant:order", obj.order_id)
    return render(request, "transplant/follow_up.html", {"fu": obj, "form": form},
                  status=400 if request.method == "POST" else 200)


# --- centres, clinicians and dry shippers (QA and admins) ----------------------------------------------------


@perms_required("transplant.view_transplantcentre", "transplant.change_transplantcentre")
@exportable("transplant.centres")
def centres(request):
    qs = centre_queryset()
    return render(request, "transplant/centre_list.html", {"page": _page(request, qs), "today": timezone.localdate()})


def _centre_values(data: dict) -> dict:
    return {k: data[k] for k in ("code", "name", "city", "accreditation_until", "active")}


@perms_required("transplant.add_transplantcentre", "transplant.change_transplantcentre")
@require_http_methods(["GET", "POST"])
def centre_new(request):
    form = forms.CentreForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        centre, ok = call_service(request, form, services.save_centre, actor=request.user, create=True,
                                  **_centre_values(form.cleaned_data))
        if ok:
            messages.success(request, _("Centre %(code)s saved; link its clinicians below.") % {"code": centre.code})
            return redirect("transplant:centre", centre.pk)
    return render(request, "transplant/centre_form.html", {"form": form, "centre": None},
                  status=400 if request.method == "POST" else 200)


def _centre_page(request, centre, *, form=None, link_form=None, status: int = 200):
    links = list(CentreClinician.objects.filter(centre=centre, active=True).select_related("user")
                 .order_by("user__username", "pk"))
    clinicians = users_with_role(CLINICIAN).exclude(pk__in=[link.user_id for link in links]).order_by("username")
    initial = {"code": centre.code, "name": centre.name, "city": centre.city,
               "accreditation_until": centre.accreditation_until, "active": centre.active}
    return render(request, "transplant/centre_form.html", {
        "centre": centre, "links": links, "form": form or forms.CentreForm(initial=initial, editing=True),
        "link_form": link_form or forms.LinkClinicianForm(clinicians=clinicians),
        "can_link": request.user.has_perm("transplant.change_centreclinician")}, status=status)


@perms_required("transplant.view_transplantcentre", "transplant.change_transplantcentre")
@require_http_methods(["GET", "POST"])
def centre(request, pk: int):
    obj = get_object_or_404(TransplantCentre, pk=pk)
    if request.method == "GET":
        return _centre_page(request, obj)
    form = forms.CentreForm(request.POST, initial={"code": obj.code}, editing=True)
    if form.is_valid():
        _centre, ok = call_service(request, form, services.save_centre, actor=request.user,
                                   **_centre_values({**form.cleaned_data, "code": obj.code}))
        if ok:
            messages.success(request, _("Centre %(code)s saved.") % {"code": obj.code})
            return redirect("transplant:centre", obj.pk)
    return _centre_page(request, obj, form=form, status=400)


@perms_required("transplant.change_transplantcentre", "transplant.add_centreclinician",
                "transplant.change_centreclinician")
@require_POST
def centre_link(request, pk: int):
    obj = get_object_or_404(TransplantCentre, pk=pk)
    form = forms.LinkClinicianForm(request.POST, clinicians=users_with_role(CLINICIAN))
    if form.is_valid():
        user = form.cleaned_data["user"]
        _link, ok = call_service(request, form, services.link_clinician, user, obj, actor=request.user)
        if ok:
            messages.success(request, _("%(user)s is linked to %(code)s.") % {"user": user.username,
                                                                              "code": obj.code})
            return redirect("transplant:centre", obj.pk)
    return _centre_page(request, obj, link_form=form, status=400)


@perms_required("transplant.change_transplantcentre", "transplant.change_centreclinician")
@require_POST
def centre_unlink(request, pk: int, link_pk: int):
    link = get_object_or_404(CentreClinician.objects.select_related("user", "centre"), pk=link_pk, centre_id=pk)
    _link, ok = call_service(request, None, services.unlink_clinician, link, actor=request.user)
    if ok:
        messages.success(request, _("%(user)s is no longer linked to %(code)s.") % {
            "user": link.user.username, "code": link.centre.code})
    return redirect("transplant:centre", pk)


@perms_required("transplant.view_dryshipper", "transplant.change_dryshipper")
@exportable("transplant.shippers")
def shippers(request):
    return render(request, "transplant/shipper_list.html", {
        "page": _page(request, DryShipper.objects.order_by("code")), "today": timezone.localdate()})


def _shipper_values(data: dict) -> dict:
    return {k: data[k] for k in ("code", "description", "validated_until", "active")}


@perms_required("transplant.add_dryshipper", "transplant.change_dryshipper")
@require_http_methods(["GET", "POST"])
def shipper_new(request):
    form = forms.DryShipperForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        shipper, ok = call_service(request, form, services.save_dry_shipper, actor=request.user, create=True,
                                   **_shipper_values(form.cleaned_data))
        if ok:
            messages.success(request, _("Dry shipper %(code)s saved.") % {"code": shipper.code})
            return redirect("transplant:shippers")
    return render(request, "transplant/shipper_form.html", {"form": form, "shipper": None},
                  status=400 if request.method == "POST" else 200)


@perms_required("transplant.view_dryshipper", "transplant.change_dryshipper")
@require_http_methods(["GET", "POST"])
def shipper(request, pk: int):
    obj = get_object_or_404(DryShipper, pk=pk)
    initial = {"code": obj.code, "description": obj.description, "validated_until": obj.validated_until,
               "active": obj.active}
    form = forms.DryShipperForm(request.POST or None, initial=initial, editing=True)
    if request.method == "POST" and form.is_valid():
        _shipper, ok = call_service(request, form, services.save_dry_shipper, actor=request.user,
                                    **_shipper_values({**form.cleaned_data, "code": obj.code}))
        if ok:
            messages.success(request, _("Dry shipper %(code)s saved.") % {"code": obj.code})
            return redirect("transplant:shippers")
    return render(request, "transplant/shipper_form.html", {"form": form, "shipper": obj},
                  status=400 if request.method == "POST" else 200)
