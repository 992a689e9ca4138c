"""The lots app's list exports (issue 17): lots and cell lines, with the filters of their pages (``bank.exports``)."""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from bank.exports import Column, Prepared, register_export
from bank.parsing import whole_number
from lots import queries
from lots.choices import CellType, Grade, LotStatus, Tier
from lots.models import CellLine, Lot

VIEW_LOTS = ("lots.view_lot", "lots.view_cellline", "lots.view_vial")


def lot_filters(params) -> dict:
    """The lot list's filters as the page reads them: ``q`` (number, line name, lot or vial barcode), ``status``,
    ``tier``, ``line`` (an id); unknown values are ignored."""
    status = params.get("status") or ""
    tier = params.get("tier") or ""
    return {"q": (params.get("q") or "").strip(), "status": status if status in LotStatus.values else "",
            "tier": tier if tier in Tier.values else "", "line": whole_number(params.get("line"))}


def lot_queryset(filters: dict):
    qs = Lot.objects.select_related("cell_line", "parent_lot").order_by("-frozen_on", "-id")
    q = filters["q"]
    if q:
        qs = qs.filter(Q(lot_number__icontains=q) | Q(cell_line__name__icontains=q) | queries.lots_matching_barcode(q))
    if filters["status"]:
        qs = qs.filter(status=filters["status"])
    if filters["tier"]:
        qs = qs.filter(tier=filters["tier"])
    if filters["line"] is not None:
        qs = qs.filter(cell_line_id=filters["line"])
    return qs


def _vial_counts(batch):
    counts = queries.vial_status_counts(lot.pk for lot in batch)
    return [{"lot": lot, "counts": queries.status_count_list(counts.get(lot.pk, {}))} for lot in batch]


LOT_COLUMNS = [
    Column(_("Lot"), "lot.lot_number"),
    Column(_("Line"), "lot.cell_line.name"),
    Column(_("Tier"), "lot.tier"),
    Column(_("Parent"), "lot.parent_lot.lot_number"),
    Column(_("Passage"), "lot.passage"),
    Column(_("Frozen on"), "lot.frozen_on"),
    Column(_("Status"), "lot.get_status_display"),
    Column(_("Consent withdrawn"), lambda r: r["lot"].consent_withdrawn_flagged_at is not None),
    Column(_("Parent lot recalled"), lambda r: r["lot"].ancestor_recalled_at is not None),
    Column(_("Vials"), lambda r: ", ".join(f"{n} {label}" for _status, label, n in r["counts"])),
]


@register_export("lots", url="lots:lot_list", perms=VIEW_LOTS, title=_("Lots"), filename="lots")
def lots(user, params):
    return Prepared(lot_queryset(lot_filters(params)), _vial_counts), LOT_COLUMNS


def line_filters(params) -> dict:
    cell_type = params.get("cell_type") or ""
    grade = params.get("grade") or ""
    return {"q": (params.get("q") or "").strip(), "cell_type": cell_type if cell_type in CellType.values else "",
            "grade": grade if grade in Grade.values else ""}


def line_queryset(filters: dict):
    qs = CellLine.objects.select_related("donor", "collection").order_by("name")
    q = filters["q"]
    if q:
        qs = qs.filter(Q(name__icontains=q) | Q(donor__code=q) | Q(collection__code=q))
    if filters["cell_type"]:
        qs = qs.filter(cell_type=filters["cell_type"])
    if filters["grade"]:
        qs = qs.filter(grade=filters["grade"])
    return qs


LINE_COLUMNS = [
    Column(_("Name"), "name"),
    Column(_("Subclone of"), "parent_line.name"),
    Column(_("Cell type"), "cell_type"),
    Column(_("Grade"), "get_grade_display"),
    Column(_("Donor"), "donor.code"),
    Column(_("Collection"), "collection.code"),
    Column(_("Lots"), "lot_count"),
    Column(_("Available vials"), "available"),
]


@register_export("lots.lines", url="lots:cellline_list", perms=VIEW_LOTS, title=_("Cell lines"),
                 filename="cell-lines")
def lines(user, params):
    return Prepared(line_queryset(line_filters(params)).select_related("parent_line"), queries.with_line_counts), \
        LINE_COLUMNS


def _place(vial, part: str):
    box = vial.box if vial.box_id else None
    if box is None:
        return None
    return {"unit": box.rack.unit.name, "rack": box.rack.name, "box": box.name,
            "position": box.position_label(vial.row, vial.col)}[part]


VIAL_COLUMNS = [
    Column("#", "number"),
    Column(_("Barcode"), "barcode"),
    Column(_("Kind"), "get_kind_display"),
    Column(_("Status"), "get_status_display"),
    Column(_("Unit"), lambda v: _place(v, "unit")),
    Column(_("Rack"), lambda v: _place(v, "rack")),
    Column(_("Box"), lambda v: _place(v, "box")),
    Column(_("Position"), lambda v: _place(v, "position")),
]


@register_export("lots.vials", url="lots:lot_detail", perms=VIEW_LOTS, title=_("Vials of a lot"), filename="vials")
def lot_vials(user, params):
    """The vials of one lot (the lot page's vial table, every page of it)."""
    lot = Lot.objects.filter(pk=whole_number(params.get("pk")) or 0).first()
    if lot is None:
        raise ValidationError({"pk": [_("No such lot.")]})
    return queries.lot_page_vials(lot), VIAL_COLUMNS
