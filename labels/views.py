"""Label pages (issue 17): labels for a selection of vials, for boxes (one, a rack's, a unit's) and for a lot;
the admins' printer profiles. A small print comes back at once as the PDF or ZPL file; a big one becomes a job and
the browser goes to its page (progress bar, then the download)."""

from __future__ import annotations

from decimal import Decimal

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.http import HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.utils.translation import ngettext
from django.views.decorators.http import require_POST

from bank import labels as engine
from bank import printers
from bank.exports import exportable
from bank.models import Job, PrinterProfile
from bank.web import apply_validation_error, perms_required
from labels import services
from labels.exports import profiles_queryset
from labels.forms import PrinterProfileForm, PrintForm, VialSelectionForm
from lots.models import Lot

MANAGE_PROFILES = ("bank.change_printerprofile", "bank.add_printerprofile")
PROFILES_PER_PAGE = 50


def deliver(request, result):
    """A printout as its file (a PDF opens in the browser, ZPL downloads); a job: to its page."""
    if isinstance(result, Job):
        messages.info(request, _("%(title)s: the labels are being made; download them from this page when the "
                                 "bar is full.") % {"title": result.title})
        return redirect(reverse("job", args=[result.pk]))
    response = HttpResponse(result.content, content_type=result.content_type)
    disposition = "inline" if result.content_type == "application/pdf" else "attachment"
    response["Content-Disposition"] = f'{disposition}; filename="{result.filename}"'
    return response


def _print(request, form, *, kind: str, ids, title: str, name: str):
    try:
        result = services.print_labels(actor=request.user, kind=kind, ids=ids, profile=form.cleaned_data["profile"],
                                       fmt=form.cleaned_data.get("format") or None, title=title, name=name,
                                       copies=form.cleaned_data.get("copies") or 1)
    except ValidationError as exc:
        apply_validation_error(form, exc)
        return None
    return deliver(request, result)


def _stock_summary(kind: str) -> engine.Stock:
    return engine.stock_for(kind)


@perms_required("lots.view_vial")
def vials(request):
    """Labels for a selection of vials: scanned one after the other, pasted, or a lot's (all or some numbers)."""
    if request.method == "POST":
        form = VialSelectionForm(request.POST, kind="vial")
        if form.is_valid():
            response = _print(request, form, kind="vial", ids=form.cleaned_data["ids"],
                              title=form.cleaned_data["title"], name=form.cleaned_data["name"])
            if response is not None:
                return response
        status = 400
    else:
        initial = {}
        lot_id = request.GET.get("lot")
        if lot_id and lot_id.isdigit():
            lot = Lot.objects.filter(pk=int(lot_id)).only("lot_number").first()
            if lot is not None:
                initial["lot"] = lot.lot_number
        form = VialSelectionForm(initial=initial, kind="vial")
        status = 200
    return render(request, "labels/vials.html", {
        "form": form, "default_stock": _stock_summary("vial"),
        "can_manage": all(request.user.has_perm(p) for p in MANAGE_PROFILES)}, status=status)


def _box_target(request):
    """(what, box ids) of ``?box=``, ``?rack=`` or ``?unit=`` (404 when it does not exist)."""
    from storage.models import Box, Rack, StorageUnit

    params = request.POST if request.method == "POST" else request.GET
    for key, model in (("box", Box), ("rack", Rack), ("unit", StorageUnit)):
        value = params.get(key, "")
        if value.isdigit():
            related = {"box": ("rack__unit",), "rack": ("unit",), "unit": ()}[key]
            rows = model.objects.select_related(*related) if related else model.objects.all()  # () would join all
            target = get_object_or_404(rows, pk=int(value))
            return key, target
    return None, None


@perms_required("storage.view_box")
def boxes(request):
    """Box labels: one box, every box of a rack or every box of a unit."""
    key, target = _box_target(request)
    if target is None:
        messages.error(request, _("Open a box, a rack or a unit and print its labels from there."))
        return redirect("storage:index")
    refusal = ""
    try:
        selection = services.box_selection(**{key: target})
        ids, title, name = selection.ids, selection.title, selection.name
    except ValidationError as exc:  # no box here, or more than one selection may hold: the form says which
        ids, (title, name), refusal = [], services.box_place_title(**{key: target}), " ".join(exc.messages)
    status = 200
    if request.method == "POST":
        form = PrintForm(request.POST, kind="box")
        if form.is_valid():
            if not ids:
                form.add_error(None, refusal or _("There are no boxes here to label."))
            else:
                response = _print(request, form, kind="box", ids=ids, title=title, name=name)
                if response is not None:
                    return response
        status = 400
    else:
        form = PrintForm(kind="box")
    return render(request, "labels/print.html", {
        "form": form, "kind": "box", "key": key, "target": target, "count": len(ids), "title": title,
        "default_stock": _stock_summary("box")}, status=status)


@perms_required("lots.view_lot")
def lot(request, pk: int):
    """The label of a lot itself (its binder, canister or paperwork)."""
    lot_obj = get_object_or_404(Lot.objects.select_related("cell_line"), pk=pk)
    title = _("Lot label %(lot)s") % {"lot": lot_obj.lot_number}
    status = 200
    if request.method == "POST":
        form = PrintForm(request.POST, kind="lot")
        if form.is_valid():
            response = _print(request, form, kind="lot", ids=[lot_obj.pk], title=title,
                              name=f"lot-label-{lot_obj.lot_number}")
            if response is not None:
                return response
        status = 400
    else:
        form = PrintForm(kind="lot")
    return render(request, "labels/print.html", {
        "form": form, "kind": "lot", "key": "lot", "target": lot_obj, "count": 1, "title": title,
        "default_stock": _stock_summary("lot")}, status=status)


# --- printer profiles (admins) -------------------------------------------------------------------------------


@perms_required(*MANAGE_PROFILES)
@exportable("labels.printers")
def printers_list(request):
    queryset = profiles_queryset()
    page = Paginator(queryset, PROFILES_PER_PAGE).get_page(request.GET.get("page"))
    profiles = list(page.object_list)
    for profile in profiles:
        profile.size = f"{inches(profile.width_in)}″ × {inches(profile.height_in)}″"
    fallback = [(label, engine.stock_from_settings(kind)) for kind, label in PrinterProfile.Kind.choices]
    return render(request, "labels/printers.html", {"page": page, "profiles": profiles, "fallback": fallback})


def inches(value) -> str:
    """2.2500 → "2.25", 2.0000 → "2"."""
    return format(Decimal(value).normalize(), "f")


@perms_required(*MANAGE_PROFILES)
def printer_edit(request, pk: int | None = None):
    profile = get_object_or_404(PrinterProfile, pk=pk) if pk else None
    if request.method == "POST":
        form = PrinterProfileForm(request.POST, instance=PrinterProfile() if profile is None else
                                  PrinterProfile.objects.get(pk=profile.pk))
        if form.is_valid():
            try:
                saved = printers.save_profile(profile, dict(form.cleaned_data), actor=request.user)
            except ValidationError as exc:
                apply_validation_error(form, exc)
            else:
                messages.success(request, _("Printer profile %(name)s saved.") % {"name": saved})
                return redirect("labels:printers")
        status = 400
    else:
        form = PrinterProfileForm(instance=profile)
        status = 200
    return render(request, "labels/printer_form.html", {"form": form, "profile": profile}, status=status)


@require_POST
@perms_required(*MANAGE_PROFILES)
def printer_active(request, pk: int):
    profile = get_object_or_404(PrinterProfile, pk=pk)
    active = request.POST.get("active") == "1"
    profile = printers.set_active(profile, active, actor=request.user)
    if active:
        messages.success(request, _("Printer profile %(name)s is back in use.") % {"name": profile})
    else:
        messages.success(request, _("Printer profile %(name)s retired.") % {"name": profile})
    return redirect("labels:printers")


@require_POST
@perms_required(*MANAGE_PROFILES)
def printers_seed(request):
    created = printers.seed_default_profiles(actor=request.user)
    messages.success(request, ngettext("%(n)d default printer profile added.", "%(n)d default printer profiles added.",
                                       len(created)) % {"n": len(created)})
    return redirect("labels:printers")
