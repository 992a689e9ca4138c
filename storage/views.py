"""Pages of the storage app: freezer maps, placement and moves, temperatures and alarms.

Views parse, check permissions, call one service and render; the rules live in ``storage.services``.
Scanner first: every page whose next step is a scan focuses its own scan field, and Enter submits.
"""

from __future__ import annotations

from collections import Counter

from django.conf import settings
from django.contrib import messages
from django.core.paginator import Paginator
from django.db.models import Sum
from django.http import Http404
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.http import urlencode
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods

from bank import jobs
from bank.exports import exportable
from bank.identifiers import normalise
from bank.parsing import whole_number
from bank.web import call_service, perms_required
from lots.choices import LotStatus
from lots.models import Lot
from lots.queries import lot_for_scan
from storage import queries, services
from storage.charts import temperature_chart
from storage.choices import AlarmKind, AlarmStatus, lot_needs_quarantine
from storage.exports import alarm_filter, alarm_queryset, units_queryset
from storage.forms import (
    COMMON_MOVE_REASONS,
    AcknowledgeForm,
    BatchMoveForm,
    BoxForm,
    BoxMoveForm,
    EvacuateForm,
    MoveVialForm,
    RackForm,
    RackMoveForm,
    RackScanForm,
    RackScanStoreForm,
    RelocateForm,
    StoreForm,
    UnitForm,
    acknowledge_signature_form,
)
from storage.jobs import evacuation_needs_job, start_evacuation
from storage.models import Alarm, Box, Rack, StorageUnit

VIEW = "storage.view_storageunit"
PLACE = "storage.add_vialmove"


def _box_url(box: Box, vial_code: str = "") -> str:
    url = reverse("storage:box", args=[box.pk])
    return f"{url}?{urlencode({'vial': vial_code})}" if vial_code else url


# --- overview -----------------------------------------------------------------------------------------


@perms_required(VIEW)
@exportable("storage.units")
def index(request):
    # Units a page at a time (a national bank runs hundreds of tanks and freezers): their boxes, readings only.
    page = Paginator(units_queryset(), 50).get_page(request.GET.get("page"))
    units = list(page.object_list)
    occupancy = queries.occupancy_by_unit(units)
    latest = queries.latest_readings(units)
    active = list(queries.active_alarms())
    per_unit = Counter(a.unit_id for a in active)
    rows = [
        {"unit": u, "occ": occupancy.get(u.pk, queries.Occupancy()), "latest": latest.get(u.pk),
         "in_range": u.in_range(latest[u.pk].temperature_c) if u.pk in latest else None, "alarms": per_unit[u.pk]}
        for u in units
    ]
    return render(request, "storage/index.html", {
        "rows": rows, "page": page,
        "active_alarms": active[:10],
        "awaiting": queries.lots_awaiting_storage(limit=20) if request.user.has_perm(PLACE) else [],
        "misplaced": queries.misplaced_lots(limit=20),
        "warning_pct": _warning_pct(),
    })


def _warning_pct() -> int:
    from django.conf import settings

    return settings.STORAGE_CAPACITY_WARNING_PCT


@perms_required(VIEW)
def unit_detail(request, pk: int):
    unit = get_object_or_404(StorageUnit, pk=pk)
    window = queries.chart_window(request.GET.get("window"))
    now = timezone.now()
    series = queries.readings_series(unit, window, now=now)
    latest = queries.latest_readings([unit]).get(unit.pk)
    silent_minutes = None
    if unit.last_reading_at:
        silent_minutes = int((now - unit.last_reading_at).total_seconds() // 60)
    return render(request, "storage/unit.html", {
        "unit": unit,
        "occ": queries.unit_occupancy(unit),
        "racks": queries.unit_racks(unit),
        "chart": temperature_chart(unit, series, window=window, now=now),
        "window": window,
        "windows": list(queries.WINDOW_LABELS.items()),
        "latest": latest,
        "in_range": unit.in_range(latest.temperature_c) if latest else None,
        "silent_minutes": silent_minutes,
        "is_silent": silent_minutes is not None and silent_minutes >= unit.silent_minutes,
        "alarms": list(queries.alarms(unit=unit)[:10]),
        "warning_pct": _warning_pct(),
    })


@perms_required(VIEW)
def rack_detail(request, pk: int):
    rack = get_object_or_404(Rack.objects.select_related("unit"), pk=pk)
    return render(request, "storage/rack.html", {"rack": rack, "boxes": queries.rack_boxes(rack)})


@perms_required(VIEW)
@exportable("storage.box")
def box_detail(request, pk: int):
    """The freezer map of one box. A scanned vial is highlighted here, or the page says where it belongs."""
    box = get_object_or_404(Box.objects.select_related("rack__unit"), pk=pk)
    code = (request.GET.get("vial") or "").strip()
    scanned = scan_error = None
    if code:
        other = queries.box_by_barcode(code)
        if other is not None:
            return redirect(_box_url(other))
        scanned = queries.vial_by_barcode(code)
        if scanned is None:
            scan_error = _("No vial has the barcode “%(code)s”. Check the label and scan again.") % {"code": code}
    grid = queries.box_grid(box)
    lots: dict[int, dict] = {}
    for row in grid:
        for cell in row:
            if cell["vial"]:
                entry = lots.setdefault(cell["vial"]["lot"], {
                    **cell["vial"], "count": 0, "lot_status_label": LotStatus(cell["vial"]["lot_status"]).label})
                entry["count"] += 1
    used = sum(entry["count"] for entry in lots.values())
    return render(request, "storage/box.html", {
        "box": box,
        "grid": grid,
        "col_numbers": range(1, box.cols + 1),
        "used": used,
        "pct": round(100 * used / box.capacity) if box.capacity else 0,
        "code": code,
        "scanned": scanned,
        "scanned_position": queries.position_of(scanned) if scanned else None,
        "scan_error": scan_error,
        "highlight": box.position_label(scanned.row, scanned.col) if scanned and scanned.box_id == box.pk else None,
        "lots": sorted(lots.values(), key=lambda e: e["lot_number"]),
    })


# --- moves --------------------------------------------------------------------------------------------


@perms_required(PLACE)
@require_http_methods(["GET", "POST"])
def move_vial(request):
    """Scan the vial, scan the destination box, pick a free position, give a reason."""
    data = request.POST if request.method == "POST" else request.GET
    vial_code = (data.get("vial") or "").strip()
    box_code = (data.get("box") or "").strip()
    errors = []
    vial = queries.vial_by_barcode(vial_code) if vial_code else None
    if vial_code and vial is None:
        if queries.box_by_barcode(vial_code):
            errors.append(_("“%(code)s” is a box. Scan the vial you want to move first.") % {"code": vial_code})
        else:
            errors.append(_("No vial has the barcode “%(code)s”. Check the label and scan again.")
                          % {"code": vial_code})
        vial_code = ""
    dest = queries.box_by_barcode(box_code) if (box_code and vial) else None
    if vial and box_code and dest is None:
        if queries.vial_by_barcode(box_code):
            errors.append(_("“%(code)s” is a vial. Scan the barcode of the destination box.") % {"code": box_code})
        else:
            errors.append(_("No box has the barcode “%(code)s”. Scan the box label again.") % {"code": box_code})
        box_code = ""
    form = MoveVialForm(request.POST or None, initial={"vial": vial_code, "box": box_code})
    if request.method == "POST" and vial and dest and form.is_valid():
        row, col = form.cleaned_data["position"]
        moved, ok = call_service(request, form, services.move_vial, vial, dest, row, col, actor=request.user,
                                 reason=form.cleaned_data["reason"])
        if ok:
            messages.success(request, _("Vial %(vial)s is now in box %(box)s at %(pos)s.") % {
                "vial": moved.barcode, "box": dest.name, "pos": dest.position_label(row, col)})
            return redirect(_box_url(dest, moved.barcode))
    selected = None
    grid = None
    if dest is not None:
        grid = queries.box_grid(dest)
        posted = request.POST.get("position") if request.method == "POST" else None
        selected = posted or next(
            (cell["label"] for row in grid for cell in row if cell["vial"] is None), None)
    step = 1 if vial is None else (2 if dest is None else 3)
    return render(request, "storage/move.html", {
        "step": step, "vial": vial, "vial_position": queries.position_of(vial) if vial else None,
        "dest": dest, "grid": grid, "col_numbers": range(1, dest.cols + 1) if dest else [],
        "selected": selected, "form": form, "errors": errors, "reasons": COMMON_MOVE_REASONS,
    })


@perms_required(PLACE)
@require_http_methods(["GET", "POST"])
def box_move(request, pk: int):
    box = get_object_or_404(Box.objects.select_related("rack__unit"), pk=pk)
    form = BoxMoveForm(request.POST or None, box=box)
    if request.method == "POST" and form.is_valid():
        moved, ok = call_service(request, form, services.move_box, box, form.cleaned_data["rack"],
                                 actor=request.user, reason=form.cleaned_data["reason"])
        if ok:
            messages.success(request, _("Box %(box)s is now in %(rack)s.") % {"box": moved.name, "rack": moved.rack})
            return redirect(_box_url(moved))
    return render(request, "storage/box_move.html", {"box": box, "form": form})


@perms_required(PLACE)
@require_http_methods(["GET", "POST"])
def evacuate(request, pk: int):
    unit = get_object_or_404(StorageUnit, pk=pk)
    form = EvacuateForm(request.POST or None, unit=unit)
    if request.method == "POST" and form.is_valid() and evacuation_needs_job(unit):
        # A full tank: the worker moves it, this page's job shows the progress (storage/jobs.py).
        job = start_evacuation(unit, form.cleaned_data["target"], actor=request.user,
                               reason=form.cleaned_data["reason"])
        return redirect("job", job.pk)
    if request.method == "POST" and form.is_valid():
        result, ok = call_service(request, form, services.evacuate_unit, unit, form.cleaned_data["target"],
                                  actor=request.user, reason=form.cleaned_data["reason"])
        if ok:
            messages.success(request, _("%(boxes)d boxes (%(vials)d vials) moved from %(from)s to %(to)s.") % {
                "boxes": len(result.boxes), "vials": result.vials, "from": unit.name,
                "to": form.cleaned_data["target"].name})
            if result.mirror_broken:
                messages.warning(request, _("These master cell banks are now in one unit only; split them again: "
                                            "%(lots)s") % {"lots": ", ".join(result.mirror_broken)})
            return redirect("storage:unit", pk=form.cleaned_data["target"].pk)
    box_count = Box.objects.filter(rack__unit=unit).count()
    return render(request, "storage/evacuate.html", {
        "unit": unit, "form": form, "occ": queries.unit_occupancy(unit), "box_count": box_count,
        "as_job": evacuation_needs_job(unit, boxes=box_count),
    })


# --- placement ------------------------------------------------------------------------------------------


@perms_required(PLACE)
def store(request):
    """Choose the lot to put away: scan its label (or type the lot number), or pick a freshly frozen lot."""
    code = (request.GET.get("lot") or "").strip()
    error = None
    if code:
        lot = lot_for_scan(code)
        if lot is not None:
            return redirect("storage:store_lot", pk=lot.pk)
        error = _("No lot has the barcode or number “%(code)s”. Scan the lot label again.") % {"code": code}
    return render(request, "storage/store.html", {
        "code": code, "error": error, "awaiting": queries.lots_awaiting_storage(limit=50),
        "misplaced": queries.misplaced_lots(limit=50),
    })


def _chosen_boxes(raw: str) -> tuple[list[Box], list[str]]:
    """Boxes named by barcodes or ids (comma separated), in the order given; unknown codes reported."""
    tokens = [t.strip() for t in (raw or "").replace(" ", ",").split(",") if t.strip()]
    by_code = {b.barcode: b for b in Box.objects.filter(barcode__in=tokens).select_related("rack__unit")}
    ids = [pk for t in tokens if (pk := whole_number(t)) is not None]
    by_id = {b.pk: b for b in Box.objects.filter(pk__in=ids).select_related("rack__unit")}
    boxes, unknown = [], []
    for token in tokens:
        box = by_code.get(normalise(token)) or by_id.get(whole_number(token))
        if box is None:
            unknown.append(token)
        elif box not in boxes:
            boxes.append(box)
    return boxes, unknown


def _plan_preview(boxes: list[Box], needed: int) -> list[dict]:
    left, rows = needed, []
    for box in boxes:
        free = box.free
        take = min(free, left)
        left -= take
        rows.append({"box": box, "free": free, "take": take})
    return rows


@perms_required(PLACE)
@require_http_methods(["GET", "POST"])
def store_lot(request, pk: int):
    """Put a lot's unplaced vials into boxes: the proposal of find_space, or the boxes the technician scans."""
    lot = get_object_or_404(Lot.objects.select_related("cell_line"), pk=pk)
    form = StoreForm(request.POST or None)
    if request.method == "POST":
        if form.is_valid():
            placed, ok = call_service(request, form, services.store_lot, lot, form.cleaned_data["boxes"],
                                      actor=request.user, reason=form.cleaned_data["reason"])
            if ok:
                boxes = sorted({v.box.name for v in placed})
                messages.success(request, _("%(n)d vials of lot %(lot)s stored in %(boxes)s.") % {
                    "n": len(placed), "lot": lot.lot_number, "boxes": ", ".join(boxes)})
                return redirect(_box_url(placed[0].box))
        raw = request.POST.get("boxes", "")
    else:
        raw = request.GET.get("boxes")
    add = (request.GET.get("add") or "").strip()
    remove = (request.GET.get("remove") or "").strip()
    proposal = queries.find_space(lot)
    if raw is None:
        boxes, unknown = [box for box, _free, _take in proposal.boxes], []
    else:
        boxes, unknown = _chosen_boxes(raw)
    scan_error = None
    if add:
        added, bad = _chosen_boxes(add)
        if bad:
            scan_error = _("No box has the barcode “%(code)s”. Scan the box label again.") % {"code": add}
        for box in added:
            if box not in boxes:
                boxes.append(box)
    if remove:
        boxes = [b for b in boxes if b.barcode != remove]
    plan = _plan_preview(boxes, proposal.needed)
    return render(request, "storage/store_lot.html", {
        "lot": lot, "proposal": proposal, "plan": plan, "form": form, "unknown": unknown, "scan_error": scan_error,
        "boxes_param": ",".join(b.barcode for b in boxes), "box_ids": ",".join(str(b.pk) for b in boxes),
        "planned": sum(p["take"] for p in plan),
        "wants_quarantine": lot_needs_quarantine(lot.status),
        "lot_boxes": queries.lot_storage(lot)["boxes"] if not proposal.needed else [],
    })


@perms_required(PLACE)
@require_http_methods(["GET", "POST"])
def relocate_lot(request, pk: int):
    """Move all of a lot's stored vials to a unit that suits its status (released → out of quarantine)."""
    lot = get_object_or_404(Lot.objects.select_related("cell_line"), pk=pk)
    storage = queries.lot_storage(lot)
    form = RelocateForm(request.POST or None)
    proposal = queries.find_space(lot, count=storage["stored"], exclude_units=[u.pk for u in storage["units"]])
    if request.method == "POST" and form.is_valid():
        boxes, _unknown = _chosen_boxes(request.POST.get("boxes", ""))
        moved, ok = call_service(request, form, services.relocate_lot, lot, boxes or None, actor=request.user,
                                 reason=form.cleaned_data["reason"])
        if ok:
            messages.success(request, _("%(n)d vials of lot %(lot)s moved.") % {"n": len(moved), "lot": lot.lot_number})
            return redirect(_box_url(moved[0].box))
    return render(request, "storage/relocate.html", {
        "lot": lot, "storage": storage, "proposal": proposal, "form": form,
        "box_ids": ",".join(map(str, proposal.box_ids)),
    })


# --- layout (admin) -------------------------------------------------------------------------------------


@perms_required("storage.add_storageunit")
@require_http_methods(["GET", "POST"])
def unit_create(request):
    form = UnitForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        unit, ok = call_service(request, form, services.create_unit, actor=request.user, **form.cleaned_data)
        if ok:
            messages.success(request, _("Unit %(unit)s created. Add its racks next.") % {"unit": unit.name})
            return redirect("storage:unit", pk=unit.pk)
    return render(request, "storage/form.html", {"form": form, "title": _("New storage unit"),
                                                 "back": reverse("storage:index")})


@perms_required("storage.change_storageunit")
@require_http_methods(["GET", "POST"])
def unit_edit(request, pk: int):
    unit = get_object_or_404(StorageUnit, pk=pk)
    form = UnitForm(request.POST or None, instance=StorageUnit.objects.get(pk=pk), editing=True)
    if request.method == "POST" and form.is_valid():
        data = dict(form.cleaned_data)
        reason = data.pop("reason")
        changes = {k: v for k, v in data.items() if getattr(unit, k) != v}
        updated, ok = call_service(request, form, services.update_unit, unit, actor=request.user, reason=reason,
                                   **changes)
        if ok:
            messages.success(request, _("Unit %(unit)s saved.") % {"unit": updated.name})
            return redirect("storage:unit", pk=unit.pk)
    return render(request, "storage/form.html", {
        "form": form, "title": _("Edit %(unit)s") % {"unit": unit.name},
        "back": reverse("storage:unit", args=[unit.pk])})


@perms_required("storage.add_rack")
@require_http_methods(["GET", "POST"])
def rack_create(request, pk: int):
    unit = get_object_or_404(StorageUnit, pk=pk)
    form = RackForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        rack, ok = call_service(request, form, services.create_rack, unit, actor=request.user, **form.cleaned_data)
        if ok:
            messages.success(request, _("Rack %(rack)s added to %(unit)s.") % {"rack": rack.name, "unit": unit.name})
            return redirect("storage:rack", pk=rack.pk)
    return render(request, "storage/form.html", {
        "form": form, "title": _("New rack in %(unit)s") % {"unit": unit.name},
        "back": reverse("storage:unit", args=[unit.pk])})


@perms_required("storage.add_box")
@require_http_methods(["GET", "POST"])
def box_create(request, pk: int):
    rack = get_object_or_404(Rack.objects.select_related("unit"), pk=pk)
    form = BoxForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        box, ok = call_service(request, form, services.create_box, rack, actor=request.user, **form.cleaned_data)
        if ok:
            messages.success(request, _("Box %(box)s added with barcode %(code)s. Print its label.") % {
                "box": box.name, "code": box.barcode})
            return redirect("storage:box", pk=box.pk)
    return render(request, "storage/form.html", {
        "form": form, "title": _("New box in %(rack)s") % {"rack": rack},
        "back": reverse("storage:rack", args=[rack.pk])})


# --- alarms -----------------------------------------------------------------------------------------------


@perms_required("storage.view_alarm")
@exportable("storage.alarms")
def alarm_list(request):
    show = request.GET.get("show", "active")
    qs = alarm_queryset(alarm_filter(request.GET))

    page = Paginator(qs, 50).get_page(request.GET.get("page"))
    return render(request, "storage/alarms.html", {"page": page, "show": show})


@perms_required("storage.view_alarm")
@require_http_methods(["GET", "POST"])
def alarm_detail(request, pk: int):
    alarm = get_object_or_404(Alarm.objects.select_related("unit", "reading", "acknowledged_by", "snapshot_job"),
                              pk=pk)
    may_ack = request.user.has_perm("storage.change_alarm") and alarm.status == AlarmStatus.ACTIVE
    form = AcknowledgeForm(request.POST or None) if may_ack else None
    sign_form = acknowledge_signature_form(request.POST or None) if may_ack else None
    if request.method == "POST":
        if form is None:
            raise Http404
        if form.is_valid() & sign_form.is_valid():
            _alarm, ok = call_service(
                request, form, services.acknowledge_alarm, alarm, actor=request.user,
                password=sign_form.cleaned_data["password"], reason=form.cleaned_data["reason"],
                meaning=sign_form.cleaned_data["meaning"],
            )
            if ok:
                messages.success(request, _("Alarm acknowledged and signed."))
                return redirect("storage:alarm", pk=alarm.pk)
    context = {"alarm": alarm, "form": form, "sign_form": sign_form}
    if alarm.kind == AlarmKind.EXCURSION and alarm.vials_recorded_at is None:
        # The snapshot job's progress, to anyone who may see the alarm (technicians and QA do not own the job, so
        # the page polls itself, not /jobs/<id>/); once the vials are listed, the same poll brings them in.
        job = jobs.live(alarm.snapshot_job) if alarm.snapshot_job else None
        context.update(snapshot_job=job, poll_seconds=settings.JOB_POLL_SECONDS,
                       job_visible=job is not None and jobs.may_see_job(request.user, job))
    else:
        context.update(lots=queries.alarm_vials_by_lot(alarm), vial_count=alarm.alarmvial_set.count())
    if request.htmx:
        context["messages"] = ()  # a poll takes only the vials' section: it must not use up the page's messages
    return render(request, "storage/alarm.html", context)


# --- rack scans, batch moves, rack moves (issue 17) -------------------------------------------------------------


def _compare_upload(data: bytes | str, box_code: str):
    """Parse a rack-scanner file and compare it with the database (the box named by the file, or by ``box_code``
    when the file names none). ValidationErrors name the form's ``file`` or ``box`` field."""
    from django.core.exceptions import ValidationError

    from storage.rackscan import parse_rack_scan

    scan = parse_rack_scan(data)
    box = None
    if box_code:
        box = queries.box_by_barcode(box_code)
        if box is None:
            raise ValidationError({"box": [_("No box has the barcode “%(code)s”. Scan the box label again.")
                                           % {"code": box_code}]})
    return services.compare_scan(scan, box)


def _render_scan(request, form, comparison, store_form):
    return render(request, "storage/rack_scan.html", {
        "form": form, "comparison": comparison, "store_form": store_form,
        "may_store": request.user.has_perm(PLACE),
        "col_numbers": range(1, comparison.box.cols + 1) if comparison else [],
    })


@perms_required(VIEW, "lots.view_vial")
@require_http_methods(["GET", "POST"])
def rack_scan(request):
    """Check a box with a 2D rack-scanner file: the box grid coloured by outcome, what disagrees in a table, and
    (for technicians) one step to store or move the scanned tubes into the positions read."""
    from storage.rackscan import MAX_FILE_BYTES

    form = RackScanForm(request.POST or None, request.FILES or None,
                        initial={"box": request.GET.get("box", "")})
    comparison = store_form = None
    if request.method == "POST" and form.is_valid():
        upload = form.cleaned_data["file"]
        if upload.size > MAX_FILE_BYTES:
            form.add_error("file", _("The file is larger than a rack scan can be (%(kb)d KB at most).")
                           % {"kb": MAX_FILE_BYTES // 1024})
        else:
            raw = upload.read()
            comparison, ok = call_service(request, form, _compare_upload, raw, form.cleaned_data["box"].strip())
            if ok:
                store_form = RackScanStoreForm(initial={
                    "scan": _scan_text(raw), "box": "" if comparison.scan.rack_barcode else comparison.box.barcode})
    return _render_scan(request, form, comparison, store_form)


def _scan_text(raw: bytes) -> str:
    from storage.rackscan import decode_file

    return decode_file(raw)


@perms_required(PLACE, "lots.view_vial")
@require_http_methods(["POST"])
def rack_scan_store(request):
    """Store or move the scanned tubes into the positions the scanner read (one transaction, one reason)."""
    from storage.rackscan import parse_rack_scan

    store_form = RackScanStoreForm(request.POST)
    comparison = None
    if store_form.is_valid():
        text, box_code = store_form.cleaned_data["scan"], store_form.cleaned_data["box"]
        comparison, ok = call_service(request, store_form, _compare_upload, text, box_code)
        if ok:
            result, ok = call_service(request, store_form, services.apply_scan, parse_rack_scan(text),
                                      comparison.box, actor=request.user, reason=store_form.cleaned_data["reason"])
            if ok:
                messages.success(request, _("Box %(box)s: %(moved)d vials moved, %(placed)d placed into the "
                                            "positions the scanner read.") % {
                    "box": result.box.name, "moved": len(result.moved), "placed": len(result.placed)})
                still = services.compare_scan(parse_rack_scan(text), result.box).missing
                if still:
                    messages.warning(request, _("The scanner did not see these vials the database places in the "
                                                "box; find them: %(vials)s") % {"vials": ", ".join(
                                                    f"{m['barcode']} ({m['label']})" for m in still[:20])})
                return redirect(_box_url(result.box))
    return _render_scan(request, RackScanForm(), comparison, store_form)


def _batch_codes(raw: str) -> list[str]:
    codes: list[str] = []
    for token in (raw or "").replace("\n", ",").split(","):
        code = normalise(token)
        if code and code not in codes:
            codes.append(code)
    return codes


@perms_required(PLACE)
@require_http_methods(["GET", "POST"])
def batch_move(request):
    """Scan many vials (or a box label: every vial of that box), then move them together into one box's free
    positions with one reason. Enter in the scan field adds the scan; each vial has a remove button."""
    from lots.models import Vial

    data = request.POST if request.method == "POST" else request.GET
    codes = _batch_codes(data.get("codes", ""))
    errors: list[str] = []
    rack_id = whole_number(request.GET.get("rack", "")) if request.method == "GET" else None
    if rack_id:
        codes += [c for c in Vial.objects.filter(box__rack_id=rack_id)
                  .order_by("box__position", "box_id", "row", "col").values_list("barcode", flat=True)
                  if c not in codes]
    remove = normalise(request.POST.get("remove", ""))
    if remove:
        codes = [c for c in codes if c != remove]
    scan = normalise(request.POST.get("scan", ""))
    if scan:
        box = queries.box_by_barcode(scan)
        if box is not None:
            added = [c for c in box.vials.order_by("row", "col").values_list("barcode", flat=True) if c not in codes]
            if not added:
                errors.append(_("Box %(box)s holds no vial that is not in the list already.") % {"box": box.name})
            codes += added
        elif scan not in codes:
            codes.append(scan)
    if len(codes) > services.BATCH_MOVE_MAX:
        errors.append(_("A batch holds at most %(n)d vials: the rest were left out (move whole boxes or racks "
                        "instead).") % {"n": services.BATCH_MOVE_MAX})
        codes = codes[:services.BATCH_MOVE_MAX]
    found = {v.barcode: v for v in Vial.objects.filter(barcode__in=codes)
             .select_related("lot", "box__rack__unit")} if codes else {}
    unknown = [c for c in codes if c not in found]
    if unknown:
        errors.append(_("No vial has the barcode %(codes)s. Check the label and scan again.")
                      % {"codes": ", ".join(unknown)})
        codes = [c for c in codes if c in found]
    vials = [found[c] for c in codes]
    moving = request.method == "POST" and request.POST.get("action") == "move"
    form = BatchMoveForm(request.POST if moving else None, initial={"codes": ",".join(codes)})
    if moving and form.is_valid():
        dest = queries.box_by_barcode(form.cleaned_data["box"])
        if dest is None:
            form.add_error("box", _("No box has the barcode “%(code)s”. Scan the box label again.")
                           % {"code": form.cleaned_data["box"]})
        elif not vials:
            form.add_error(None, _("Scan at least one vial."))
        else:
            moved, ok = call_service(request, form, services.batch_move, vials, dest,
                                     start=form.cleaned_data["start"], actor=request.user,
                                     reason=form.cleaned_data["reason"])
            if ok:
                messages.success(request, _("%(n)d vials moved into box %(box)s.") % {"n": len(moved),
                                                                                     "box": dest.name})
                return redirect(_box_url(dest))
    form.initial["codes"] = ",".join(codes)
    if form.is_bound:
        form.data = form.data.copy()
        form.data["codes"] = ",".join(codes)
    # Enter on an empty scan field: the vials are all in, the focus goes to the destination box.
    next_step = bool(vials) and (moving or ("scan" in request.POST and not scan and not remove))
    return render(request, "storage/batch_move.html", {
        "vials": [(v, queries.position_of(v)) for v in vials], "codes": ",".join(codes), "form": form,
        "errors": errors, "reasons": COMMON_MOVE_REASONS, "next_step": next_step,
    })


@perms_required(PLACE)
@require_http_methods(["GET", "POST"])
def rack_move(request, pk: int):
    """Move a rack (canister) with its boxes into another unit."""
    rack = get_object_or_404(Rack.objects.select_related("unit"), pk=pk)
    form = RackMoveForm(request.POST or None, rack=rack)
    if request.method == "POST" and form.is_valid():
        moved, ok = call_service(request, form, services.move_rack, rack, form.cleaned_data["unit"],
                                 actor=request.user, reason=form.cleaned_data["reason"])
        if ok:
            messages.success(request, _("Rack %(rack)s is now in %(unit)s.") % {"rack": moved.name,
                                                                               "unit": moved.unit.name})
            return redirect("storage:rack", pk=moved.pk)
    return render(request, "storage/rack_move.html", {
        "rack": rack, "form": form, "boxes": rack.boxes.count(),
        "vials": rack.boxes.aggregate(n=Sum("occupied"))["n"] or 0,
    })
