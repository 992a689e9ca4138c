"""Pages of cell lines, cultures and lots: parse, check the role, call one service, render."""

from __future__ import annotations

from django.contrib import messages
from django.http import Http404, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods, require_POST

from bank import coding, tally
from bank.exports import exportable
from bank.parsing import whole_number
from bank.web import call_service, perms_required
from lots import labels, queries, services
from lots.choices import PLURIPOTENT_TYPES, CellType, Grade, LotStatus, Tier
from lots.exports import line_filters, line_queryset, lot_filters, lot_queryset
from lots.forms import CellLineForm, CultureForm, LotForm, PassageForm, SubcloneForm
from lots.models import CellLine, Culture, Lot, Vial

VIEW_LOTS = ("lots.view_lot", "lots.view_cellline", "lots.view_vial")


# --- scan field and donor page --------------------------------------------------------------------


def resolve_scan(code: str, user) -> str | None:
    """Header scan field: a vial opens its lot page with the vial highlighted; a lot barcode or lot
    number opens the lot; a line name opens the line."""
    if not user.has_perm("lots.view_lot"):
        return None
    vial = queries.vial_by_barcode(code, related=())
    if vial is not None:
        return lot_url_for_vial(vial)
    lot = queries.lot_by_code(code)
    if lot is not None:
        return reverse("lots:lot_detail", args=[lot.pk])
    line = queries.line_by_name(code)
    if line is not None:
        return reverse("lots:cellline_detail", args=[line.pk])
    try:
        lot = queries.lot_by_donation_code(code)  # an ISBT 128 DIN or an EU SEC
    except coding.CodeError:
        return None  # the scan page says what is wrong with it (bank.views.scan)
    if lot is not None:
        return reverse("lots:lot_detail", args=[lot.pk])
    return None


def lot_url_for_vial(vial: Vial) -> str:
    return f"{reverse('lots:lot_detail', args=[vial.lot_id])}?vial={vial.barcode}#vial-{vial.barcode}"


def donor_panel(request, donor) -> dict | None:
    """The donor page's "Cell lines and lots" section."""
    lines = queries.donor_lines(donor)
    can_add = request.user.has_perm("lots.add_cellline")
    if not lines and not can_add:
        return None
    return {"lines": lines, "donor": donor, "can_add": can_add}


# --- lists ------------------------------------------------------------------------------------------


@perms_required(*VIEW_LOTS)
@exportable("lots")
def lot_list(request):
    q = (request.GET.get("q") or "").strip()
    status = request.GET.get("status") or ""
    tier = request.GET.get("tier") or ""
    filters = lot_filters(request.GET)  # the page and its export filter alike (lots/exports.py)
    qs = lot_queryset(filters)
    line = filters["line"]
    known = None
    if not q and tier not in Tier.values and line is None:  # by status only: the kept count (bank/tally.py)
        by_status = tally.counts("lots.status")
        known = by_status.get(status, 0) if status in LotStatus.values else sum(by_status.values())
    page = tally.page_with_count(qs, 50, request.GET.get("page"), count=known)
    counts = queries.vial_status_counts(lot.pk for lot in page.object_list)
    rows = [{"lot": lot, "counts": queries.status_count_list(counts.get(lot.pk, {}))} for lot in page.object_list]
    return render(request, "lots/lot_list.html", {
        "page": page, "rows": rows, "q": q, "status": status, "tier": tier,
        "statuses": LotStatus.choices, "tiers": Tier.choices,
    })


@perms_required(*VIEW_LOTS)
@exportable("lots.lines")
def cellline_list(request):
    q = (request.GET.get("q") or "").strip()
    cell_type = request.GET.get("cell_type") or ""
    grade = request.GET.get("grade") or ""
    qs = line_queryset(line_filters(request.GET))  # the page and its export filter alike (lots/exports.py)
    # The total from the kept counts (bank/tally.py) unless searched: a million cord blood lines are never counted.
    known = None if q else queries.line_count(cell_type if cell_type in CellType.values else "",
                                              grade if grade in Grade.values else "")
    page = tally.page_with_count(qs, 50, request.GET.get("page"), count=known)
    # Lots and available vials of the page's lines only (two grouped queries), never annotated over every line.
    page.object_list = queries.with_line_counts(page.object_list)
    return render(request, "lots/cellline_list.html", {
        "page": page, "q": q, "cell_type": cell_type, "grade": grade,
        "cell_types": CellType.choices, "grades": Grade.choices,
    })


# --- cell lines -------------------------------------------------------------------------------------


@perms_required(*VIEW_LOTS)
def cellline_detail(request, pk: int):
    line = get_object_or_404(
        CellLine.objects.select_related("donor", "collection", "parent_line", "created_by"), pk=pk)
    lots = list(Lot.objects.filter(cell_line=line).order_by("frozen_on", "id"))
    cultures = list(
        Culture.objects.filter(cell_line=line).select_related("source_vial__lot").prefetch_related("passages")
        .order_by("-started_on", "-id")
    )
    culture_rows = [{"culture": c, "passages": len(c.passages.all()),
                     "last": max((p.number for p in c.passages.all()), default=None),
                     "pd": services.culture_population_doublings(c)} for c in cultures]
    return render(request, "lots/cellline_detail.html", {
        "line": line, "tree": queries.lot_tree(lots), "lot_count": len(lots),
        "subclones": list(line.subclones.order_by("name")), "cultures": culture_rows,
        "can_subclone": line.cell_type in PLURIPOTENT_TYPES and line.registry_number is not None,
        "subclone_form": SubcloneForm(),
    })


@perms_required("lots.add_cellline", *VIEW_LOTS)
@require_http_methods(["GET", "POST"])
def cellline_create(request):
    form = CellLineForm(request.POST or None, initial={"collection": request.GET.get("collection", "")})
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        line, ok = call_service(
            request, form, services.create_cell_line, collection=data["collection"], cell_type=data["cell_type"],
            grade=data["grade"], reprogramming_method=data["reprogramming_method"],
            established_on=data["established_on"], description=data["description"], actor=request.user,
            reason="cell line registered",
        )
        if ok:
            messages.success(request, _("Cell line %(name)s registered.") % {"name": line.name})
            return redirect("lots:cellline_detail", pk=line.pk)
    from donors.models import Collection

    recent = Collection.objects.order_by("-collected_at").values_list("code", flat=True)[:50]
    return render(request, "lots/cellline_form.html", {"form": form, "collection_codes": recent},
                  status=400 if form.errors else 200)


@perms_required("lots.add_cellline", *VIEW_LOTS)
@require_POST
def cellline_subclone(request, pk: int):
    parent = get_object_or_404(CellLine, pk=pk)
    form = SubcloneForm(request.POST)
    form.is_valid()
    line, ok = call_service(
        request, None, services.create_cell_line, parent_line=parent, cell_type=parent.cell_type,
        grade=parent.grade, reprogramming_method=parent.reprogramming_method,
        description=form.cleaned_data.get("description", ""), actor=request.user,
        reason=f"subclone of {parent.name}",
    )
    if ok:
        messages.success(request, _("Subclone %(name)s registered.") % {"name": line.name})
        return redirect("lots:cellline_detail", pk=line.pk)
    return redirect("lots:cellline_detail", pk=parent.pk)


@perms_required("lots.record_registry_id", *VIEW_LOTS)
@require_POST
def cellline_registry_ids(request, pk: int):
    """The line page's registry form: the IDs hPSCreg and ICSCB gave the line's record."""
    line = get_object_or_404(CellLine, pk=pk)
    _line, ok = call_service(request, None, services.record_registry_ids, line,
                             hpscreg_id=request.POST.get("hpscreg_id"), icscb_id=request.POST.get("icscb_id"),
                             actor=request.user, reason="registry ID recorded")
    if ok:
        messages.success(request, _("Registry IDs of %(name)s recorded.") % {"name": line.name})
    return redirect(reverse("lots:cellline_detail", args=[pk]) + "#registries")


# --- cultures ---------------------------------------------------------------------------------------


@perms_required("lots.add_culture", *VIEW_LOTS)
@require_http_methods(["GET", "POST"])
def culture_create(request, line_pk: int):
    line = get_object_or_404(CellLine, pk=line_pk)
    form = CultureForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        culture, ok = call_service(
            request, form, services.start_culture, line, started_on=data["started_on"],
            source_vial=data["source_vial"], notes=data["notes"], actor=request.user, reason="culture started",
        )
        if ok:
            messages.success(request, _("Culture started. Record its passages here."))
            return redirect("lots:culture_detail", pk=culture.pk)
    return render(request, "lots/culture_form.html", {"form": form, "line": line},
                  status=400 if form.errors else 200)


@perms_required("lots.view_culture", *VIEW_LOTS)
@require_http_methods(["GET", "POST"])
def culture_detail(request, pk: int):
    culture = queries.culture_with_passages(pk)
    if culture is None:
        raise Http404
    form = PassageForm(request.POST or None)
    if request.method == "POST":
        if not request.user.has_perm("lots.add_passage"):
            from django.core.exceptions import PermissionDenied

            raise PermissionDenied
        if form.is_valid():
            data = form.cleaned_data
            passage, ok = call_service(
                request, form, services.record_passage, culture, actor=request.user, reason="passage recorded",
                **{k: data[k] for k in ("number", "passaged_on", "split_ratio", "seeded_cells", "harvested_cells",
                                        "viability_pct", "medium", "medium_lot", "reagents", "notes", "materials",
                                        "room")},
            )
            if ok:
                messages.success(request, _("Passage P%(n)d recorded.") % {"n": passage.number})
                return redirect("lots:culture_detail", pk=culture.pk)
    passages = list(culture.passages.all())
    last = passages[-1] if passages else None
    if request.method == "GET" and last is not None:
        reagents = "\n".join(f"{r.get('name', '')}, {r.get('lot', '')}" for r in last.reagents or [])
        form = PassageForm(initial={"medium": last.medium, "medium_lot": last.medium_lot,
                                    "split_ratio": last.split_ratio, "seeded_cells": last.seeded_cells,
                                    "reagents": reagents})
    return render(request, "lots/culture_detail.html", {
        "culture": culture, "passages": passages, "form": form,
        "pd": services.culture_population_doublings(culture),
        "lots": list(culture.lots.order_by("frozen_on")),
    }, status=400 if form.errors else 200)


# --- lots -------------------------------------------------------------------------------------------


@perms_required("lots.add_lot", *VIEW_LOTS)
@require_http_methods(["GET", "POST"])
def lot_create(request):
    initial = {}
    for key in ("cell_line", "parent_lot", "culture", "tier"):
        if request.GET.get(key):
            initial[key] = request.GET[key]
    parent_id = initial.get("parent_lot")
    if (parent_id := whole_number(parent_id)) is not None:
        parent = Lot.objects.filter(pk=parent_id).first()
        if parent is not None:
            initial.update(cell_line=parent.cell_line_id, tier=Tier.WCB, passage=parent.passage)
    form = LotForm(request.POST or None, initial=initial)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        lot, ok = call_service(request, form, services.create_lot, actor=request.user, reason="lot frozen", **data)
        if ok:
            messages.success(request, _("Lot %(lot)s frozen: %(n)d vials in quarantine. Print their labels now.")
                             % {"lot": lot.lot_number, "n": lot.vial_count})
            return redirect(reverse("lots:lot_detail", args=[lot.pk]) + "#labels")
    return render(request, "lots/lot_form.html", {"form": form}, status=400 if form.errors else 200)


VIAL_PAGE_SIZE = 50


@perms_required(*VIEW_LOTS)
@exportable("lots.vials")
def lot_detail(request, pk: int):
    lot = get_object_or_404(queries.lot_page_queryset(), pk=pk)
    # The vials a page at a time (a unit or a WCB may hold hundreds; the API pages them too); the figures of the
    # whole lot from one aggregate. A scanned vial (``?vial=``) opens the page that holds it.
    summary = queries.lot_vial_summary(lot.pk)
    highlight = (request.GET.get("vial") or "").strip()
    number = request.GET.get("vials_page")
    if highlight and not number:
        number = queries.vial_page_of(lot.pk, highlight, VIAL_PAGE_SIZE)
    page = tally.page_with_count(queries.lot_page_vial_rows(lot), VIAL_PAGE_SIZE, number, count=summary.total)
    vials = list(page.object_list)
    return render(request, "lots/lot_detail.html", {
        "lot": lot,
        "lineage": queries.lineages([lot])[lot.pk],
        "children": list(lot.child_lots.order_by("frozen_on", "id")),
        "timeline": queries.status_timeline(lot),
        "culture": queries.culture_with_passages(lot.culture_id),
        "vials": vials, "vials_page": page, "vial_total": summary.total,
        "counts": queries.status_count_list(summary.by_status),
        "stored": summary.stored,
        "highlight": highlight,
        "first_vial": vials[0] if vials else None,
        # A cord blood unit's containers (bag, segments, reference vials, maternal samples) say what they are.
        "show_kind": summary.other_kinds > 0,
        "can_make_wcb": lot.tier == Tier.MCB and lot.status == LotStatus.RELEASED,
        "coding": queries.lot_coding(lot),  # ISBT 128 DIN and EU SEC (issue 15)
    })


def _lot_and_vials(pk: int):
    lot = get_object_or_404(Lot.objects.select_related("cell_line"), pk=pk)
    return lot, Vial.objects.filter(lot=lot).order_by("number").only("id", "number", "barcode", "lot_id")


def label_pdf_response(lot, vials, layout: str) -> HttpResponse:
    layout = layout if layout in labels.LAYOUTS else "sheet"
    response = HttpResponse(labels.label_pdf(lot, vials, layout=layout), content_type="application/pdf")
    response["Content-Disposition"] = f'inline; filename="labels-{lot.lot_number}.pdf"'
    return response


def label_zpl_response(lot, vials) -> HttpResponse:
    response = HttpResponse(labels.label_zpl(lot, vials), content_type="text/plain; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="labels-{lot.lot_number}.zpl"'
    return response


def vial_svg_response(vial) -> HttpResponse:
    response = HttpResponse(labels.vial_label_svg(vial, vial.lot), content_type="image/svg+xml")
    response["Cache-Control"] = "private, max-age=86400"
    return response


@perms_required(*VIEW_LOTS)
def lot_labels_pdf(request, pk: int):
    lot, vials = _lot_and_vials(pk)
    return label_pdf_response(lot, vials, request.GET.get("layout", "sheet"))


@perms_required(*VIEW_LOTS)
def lot_labels_zpl(request, pk: int):
    lot, vials = _lot_and_vials(pk)
    return label_zpl_response(lot, vials)


@perms_required(*VIEW_LOTS)
def vial_label_svg(request, pk: int):
    return vial_svg_response(get_object_or_404(Vial.objects.select_related("lot").only("id", "barcode", "lot__din"),
                                               pk=pk))


@perms_required(*VIEW_LOTS)
def vial_detail(request, pk: int):
    """A vial opens on its lot's page, highlighted in the vials table."""
    return redirect(lot_url_for_vial(get_object_or_404(Vial.objects.only("id", "lot_id", "barcode"), pk=pk)))


def dashboard_panel(request) -> dict:
    """The dashboard card: lots by status (kept counts) and the latest freezes (two queries)."""
    by_status = tally.counts("lots.status")  # kept by the database (bank/tally.py): no count over every lot
    recent = list(Lot.objects.select_related("cell_line").order_by("-frozen_on", "-id")[:5])  # lots_lot_order_idx
    return {"counts": [(s, label, by_status[s]) for s, label in LotStatus.choices if by_status.get(s)],
            "recent": recent}
