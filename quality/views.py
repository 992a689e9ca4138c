"""Pages of the quality app (/quality/...): the training matrix, SOPs, the equipment due list and register, the
material lots with their QA release and forward trace.

Views check the permission, read a form, call one service or query and render; refusals land on the form (never a
500). QA keeps the records; technicians and coordinators read them.
"""

from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.utils.translation import gettext as _

from bank.exports import exportable
from bank.signatures import manifestation, signatures_for
from bank.web import call_service, perms_required
from quality import forms, queries, services
from quality.choices import TrainingState
from quality.exports import environment_queryset, material_search
from quality.models import SOP, Cleanroom, Equipment, Material

PER_PAGE = 50
MATRIX_USERS = 40


def _tabs(request, tab: str) -> dict:
    return {"tab": tab, "may_manage": request.user.has_perm("quality.add_training")}


@perms_required("quality.view_training")
@exportable("quality.matrix")
def matrix(request):
    """Users × SOPs in force: current, due, expired, retraining needed, not trained (users paginated)."""
    form = forms.TrainingForm(request.POST or None, initial={"trained_on": timezone.localdate()})
    if request.method == "POST":
        if not request.user.has_perm("quality.add_training"):
            raise PermissionDenied
        if form.is_valid():
            d = form.cleaned_data
            training, ok = call_service(request, form, services.record_training, actor=request.user, user=d["user"],
                                        sop=d["sop"], version=d["version"], trained_on=d["trained_on"],
                                        expires_on=d["expires_on"], trainer=d["trainer"], assessment=d["assessment"])
            if ok:
                messages.success(request, _("Training of %(user)s on %(sop)s v%(version)s recorded.") % {
                    "user": training.user.username, "sop": training.sop_version.sop.code,
                    "version": training.sop_version.version})
                return redirect("quality:matrix")
    versions = queries.versions_in_force_today()
    page = Paginator(queries.matrix_users(), MATRIX_USERS).get_page(request.GET.get("page"))
    rows = queries.training_matrix(list(page.object_list), versions)
    return render(request, "quality/matrix.html", {
        **_tabs(request, "matrix"), "versions": versions, "rows": rows, "page": page, "form": form,
        "states": TrainingState}, status=400 if form.errors else 200)


@perms_required("quality.view_sopversion")
@exportable("quality.sops")
def sops(request):
    form = forms.SOPVersionForm(request.POST or None, request.FILES or None)
    if request.method == "POST":
        if not request.user.has_perm("quality.add_sopversion"):
            raise PermissionDenied
        if form.is_valid():
            d = form.cleaned_data
            version, ok = call_service(request, form, services.approve_sop_version, actor=request.user,
                                       code=d["code"], title=d["title"], version=d["version"],
                                       effective_on=d["effective_on"], activities=d["activities"],
                                       summary=d["summary"], document=d["document"], password=d["password"])
            if ok:
                messages.success(request, _("%(sop)s version %(version)s approved and signed.") % {
                    "sop": version.sop.code, "version": version.version})
                return redirect("quality:sop", version.sop.pk)
    page = Paginator(queries.sops_with_versions(), PER_PAGE).get_page(request.GET.get("page"))
    today = timezone.localdate()
    return render(request, "quality/sops.html", {**_tabs(request, "sops"), "page": page, "form": form,
                                                 "today": today}, status=400 if form.errors else 200)


@perms_required("quality.view_sopversion")
def sop(request, pk: int):
    the_sop = get_object_or_404(SOP, pk=pk)
    versions = list(the_sop.versions.select_related("approved_by").order_by("-effective_on", "-id"))
    today = timezone.localdate()
    in_force = next((v for v in versions if v.effective_on <= today), None)
    rows = [{"version": v, "signatures": [manifestation(sig, v) for sig in signatures_for(v)],
             "state": ("in_force" if v == in_force else "upcoming" if v.effective_on > today else "superseded")}
            for v in versions]
    return render(request, "quality/sop.html", {**_tabs(request, "sops"), "sop": the_sop, "rows": rows})


@perms_required("quality.view_equipment")
@exportable("quality.equipment")
def equipment(request):
    """The due list (most urgent first) and the register; QA adds instruments."""
    form = forms.EquipmentForm(request.POST or None)
    if request.method == "POST":
        if not request.user.has_perm("quality.add_equipment"):
            raise PermissionDenied
        if form.is_valid():
            item, ok = call_service(request, form, services.register_equipment, actor=request.user,
                                    **form.cleaned_data)
            if ok:
                messages.success(request, _("%(code)s added to the register.") % {"code": item.code})
                return redirect("quality:equipment-detail", item.pk)
    state = request.GET.get("state", "")
    page = Paginator(queries.equipment_list(state), PER_PAGE).get_page(request.GET.get("page"))
    today = timezone.localdate()
    rows = [{"item": item, "state": item.state_on(today, soon_days=queries.reminder_days())}
            for item in page.object_list]
    return render(request, "quality/equipment.html", {
        **_tabs(request, "equipment"), "page": page, "rows": rows, "form": form, "state": state,
        "counts": queries.equipment_attention_counts()}, status=400 if form.errors else 200)


@perms_required("quality.view_equipment")
def equipment_detail(request, pk: int):
    item = get_object_or_404(Equipment.objects.select_related("storage_unit"), pk=pk)
    form = forms.CalibrationForm(request.POST or None, initial={"performed_on": timezone.localdate()})
    if request.method == "POST":
        if not request.user.has_perm("quality.add_calibration"):
            raise PermissionDenied
        if form.is_valid():
            _calibration, ok = call_service(request, form, services.record_calibration, item, actor=request.user,
                                            **form.cleaned_data)
            if ok:
                messages.success(request, _("Calibration of %(code)s recorded.") % {"code": item.code})
                return redirect("quality:equipment-detail", item.pk)
    calibrations = item.calibrations.select_related("recorded_by").order_by("-performed_on", "-id")[:100]
    uses = item.uses.select_related("lot", "qc_result__lot", "used_by").order_by("-used_on", "-id")[:50]
    return render(request, "quality/equipment_detail.html", {
        **_tabs(request, "equipment"), "item": item, "form": form, "calibrations": calibrations, "uses": uses,
        "state": item.state_on(timezone.localdate(), soon_days=queries.reminder_days())},
        status=400 if form.errors else 200)


@perms_required("quality.view_material")
@exportable("quality.materials")
def materials(request):
    form = forms.MaterialForm(request.POST or None, initial={"received_on": timezone.localdate()})
    if request.method == "POST":
        if not request.user.has_perm("quality.add_material"):
            raise PermissionDenied
        if form.is_valid():
            material, ok = call_service(request, form, services.receive_material, actor=request.user,
                                        **form.cleaned_data)
            if ok:
                messages.success(request, _("%(name)s lot %(lot)s received into quarantine.") % {
                    "name": material.name, "lot": material.lot_number})
                return redirect("quality:material", material.pk)
    search = forms.MaterialSearchForm(request.GET or None)
    q, status = material_search(request.GET)  # the page and its export search alike (quality/exports.py)
    page = Paginator(queries.material_list(status, q), PER_PAGE).get_page(request.GET.get("page"))
    return render(request, "quality/materials.html", {
        **_tabs(request, "materials"), "page": page, "form": form, "search": search, "today": timezone.localdate()},
        status=400 if form.errors else 200)


@perms_required("quality.view_material")
def material(request, pk: int):
    item = get_object_or_404(Material.objects.select_related("released_by"), pk=pk)
    form = forms.MaterialReleaseForm(request.POST or None)
    if request.method == "POST":
        if not request.user.has_perm("quality.release_material"):
            raise PermissionDenied
        if form.is_valid():
            data = form.cleaned_data
            if request.POST.get("decision") == "reject":
                _done, ok = call_service(request, form, services.reject_material, item, actor=request.user,
                                         password=data["password"], reason=data["inspection"])
                done = _("Material lot %(lot)s rejected.")
            else:
                _done, ok = call_service(request, form, services.release_material, item, actor=request.user,
                                         password=data["password"], inspection=data["inspection"])
                done = _("Material lot %(lot)s released.")
            if ok:
                messages.success(request, done % {"lot": item.lot_number})
                return redirect("quality:material", item.pk)
    show_trace = request.user.has_perm("distribution.view_trace")
    return render(request, "quality/material.html", {
        **_tabs(request, "materials"), "item": item, "form": form,
        "signatures": [manifestation(sig, item) for sig in signatures_for(item)],
        "trace": queries.forward_trace(item) if show_trace else None, "today": timezone.localdate()},
        status=400 if form.errors else 200)


@perms_required("quality.view_cleanroom")
@exportable("quality.environment")
def environment(request):
    """Cleanrooms with their grades and the latest monitoring results (excursions first); QA adds rooms and results."""
    rooms = list(Cleanroom.objects.order_by("code"))
    is_room = request.method == "POST" and request.POST.get("form") == "room"
    room_form = forms.CleanroomForm(request.POST if is_room else None, prefix="room")
    result_form = forms.EnvironmentResultForm(request.POST if request.method == "POST" and not is_room else None,
                                              rooms=rooms, prefix="result",
                                              initial={"sampled_on": timezone.localdate()})
    if request.method == "POST":
        form = room_form if is_room else result_form
        perm = "quality.add_cleanroom" if is_room else "quality.add_environmentresult"
        if not request.user.has_perm(perm):
            raise PermissionDenied
        if form.is_valid():
            if is_room:
                room, ok = call_service(request, form, services.register_cleanroom, actor=request.user,
                                        **form.cleaned_data)
                message = _("Cleanroom %(room)s added.") % {"room": room.code} if ok else ""
            else:
                d = dict(form.cleaned_data)
                room = d.pop("room")
                result, ok = call_service(request, form, services.record_environment_result, room,
                                          actor=request.user, **d)
                if ok and result.level == "action":
                    message = _("Action limit exceeded: deviations %(deviations)s opened on the lots processed in "
                                "%(room)s that day.") % {"deviations": ", ".join(result.deviations) or "—",
                                                         "room": room.code}
                elif ok:
                    message = _("Result recorded: %(level)s.") % {"level": result.get_level_display()}
            if ok:
                alarm = not is_room and result.level == "action"
                (messages.warning if alarm else messages.success)(request, message)
                return redirect("quality:environment")
    page = Paginator(environment_queryset(), PER_PAGE).get_page(request.GET.get("page"))
    return render(request, "quality/environment.html", {
        **_tabs(request, "environment"), "rooms": rooms, "page": page, "room_form": room_form,
        "result_form": result_form}, status=400 if room_form.errors or result_form.errors else 200)
