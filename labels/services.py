"""Printing labels (issue 17): what to label, on which stock, now or as a job — one place for the pages, the API
and the worker.

- ``resolve_vials`` / ``vials_of_lot`` / ``resolve_lots`` / ``box_ids`` turn what the bench scanned, pasted or
  picked into ids, refusing the whole request (400, naming them) when a code is unknown.
- ``print_labels`` renders a small print at once (a ``Printout``: the PDF or ZPL file) and hands a big one
  (more than ``LABEL_JOB_THRESHOLD`` labels) to the worker as a ``labels.sheet`` job whose result file is the
  PDF or ZPL. The job gets a snapshot of the stock, so a profile edited meanwhile does not change the sheet.
- ``make_labels`` builds the labels themselves (vial and lot text from ``lots.labels``, box text from
  ``storage.labels``) a chunk of rows at a time: a constant number of queries per thousand labels.

Printing writes nothing but the job row: labels are made again whenever asked.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

from django.conf import settings
from django.core.exceptions import ValidationError
from django.utils.text import slugify
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from bank import labels as engine
from bank.identifiers import normalise
from bank.models import Job, PrinterProfile
from lots import labels as lot_labels
from lots.models import Lot, Vial
from storage import labels as box_labels

JOB_KIND = "labels.sheet"
CHUNK = 1000
SHOW_UNKNOWN = 30  # an error names at most this many unknown codes (and says how many more)


@dataclass(frozen=True)
class Printout:
    """A print made at once: the file's bytes, its content type and its name."""

    content: bytes
    content_type: str
    filename: str
    count: int


# --- what to label -------------------------------------------------------------------------------------------


def _unknown_error(field: str, unknown: list[str], what: str) -> ValidationError:
    shown = ", ".join(unknown[:SHOW_UNKNOWN])
    more = len(unknown) - SHOW_UNKNOWN
    if what == "lot":
        message = ngettext("Unknown lot: %(codes)s.", "Unknown lots: %(codes)s.", len(unknown))
    elif what == "box":
        message = ngettext("Unknown box: %(codes)s.", "Unknown boxes: %(codes)s.", len(unknown))
    else:
        message = ngettext("Unknown vial barcode: %(codes)s.", "Unknown vial barcodes: %(codes)s.", len(unknown))
    message = message % {"codes": shown}
    if more > 0:
        message += " " + ngettext("(and %(n)d more)", "(and %(n)d more)", more) % {"n": more}
    return ValidationError({field: [message]})


def _check_size(field: str, n: int) -> None:
    if n == 0:
        raise ValidationError({field: [_("Nothing to label: scan, paste or pick at least one.")]})
    if n > settings.LABEL_SELECTION_MAX:
        raise ValidationError({field: [_("At most %(max)d labels at a time; this asks for %(n)d.") % {
            "max": settings.LABEL_SELECTION_MAX, "n": n}]})


def split_codes(text: str) -> list[str]:
    """Codes scanned or pasted into a text box: one per line (commas, semicolons, tabs and spaces also split)."""
    return [code for code in re.split(r"[\s,;]+", text or "") if code]


def _resolve(model, field: str, items: Sequence, what: str, *, by_code) -> list[int]:
    """Ids of ``items`` (integers are ids, strings are codes), in the order given, duplicates once."""
    ids: list[int] = []
    codes: list[str] = []
    order: list[tuple[str, object]] = []
    for item in items:
        if isinstance(item, bool):
            raise ValidationError({field: [_("Give barcodes (text) or ids (numbers).")]})
        if isinstance(item, int):
            ids.append(item)
            order.append(("id", item))
        elif isinstance(item, str) and normalise(item):
            codes.append(normalise(item))
            order.append(("code", normalise(item)))
        elif isinstance(item, str):
            continue
        else:
            raise ValidationError({field: [_("Give barcodes (text) or ids (numbers).")]})
    _check_size(field, len(order))
    found_ids = set(model.objects.filter(pk__in=ids).values_list("pk", flat=True)) if ids else set()
    found_codes = by_code(codes) if codes else {}
    unknown = [str(i) for i in dict.fromkeys(ids) if i not in found_ids]
    unknown += [c for c in dict.fromkeys(codes) if c not in found_codes]
    if unknown:
        raise _unknown_error(field, unknown, what)
    result = (value if kind == "id" else found_codes[value] for kind, value in order)
    return list(dict.fromkeys(result))


def _vials_by_barcode(codes: list[str]) -> dict[str, int]:
    found: dict[str, int] = {}
    for start in range(0, len(codes), CHUNK * 10):
        found.update(Vial.objects.filter(barcode__in=codes[start:start + CHUNK * 10]).values_list("barcode", "pk"))
    return found


def resolve_vials(items: Sequence, field: str = "vials") -> list[int]:
    """The vial ids of scanned barcodes (strings) and ids (integers), in the order given; unknown ones refuse the
    whole selection with a ``ValidationError`` naming them."""
    return _resolve(Vial, field, items, "vial", by_code=_vials_by_barcode)


def _lots_by_code(codes: list[str]) -> dict[str, int]:
    found = dict(Lot.objects.filter(barcode__in=codes).values_list("barcode", "pk"))
    rest = [c for c in codes if c not in found]
    if rest:
        from django.db.models.functions import Upper

        found.update(Lot.objects.annotate(code=Upper("lot_number")).filter(code__in=rest).values_list("code", "pk"))
    return found


def resolve_lots(items: Sequence, field: str = "lots") -> list[int]:
    """Lot ids from lot barcodes or lot numbers (strings) and ids (integers)."""
    return _resolve(Lot, field, items, "lot", by_code=_lots_by_code)


def _boxes_by_barcode(codes: list[str]) -> dict[str, int]:
    from storage.models import Box

    return dict(Box.objects.filter(barcode__in=codes).values_list("barcode", "pk"))


def resolve_boxes(items: Sequence, field: str = "boxes") -> list[int]:
    """Box ids from box barcodes (strings) and ids (integers)."""
    from storage.models import Box

    return _resolve(Box, field, items, "box", by_code=_boxes_by_barcode)


def parse_numbers(text: str, field: str = "numbers") -> list[int] | None:
    """Vial numbers typed as "1-20, 25, 30-32"; None when empty (every vial)."""
    text = (text or "").strip()
    if not text:
        return None
    numbers: list[int] = []
    for part in re.split(r"[\s,;]+", text):
        match = re.fullmatch(r"(\d+)(?:-(\d+))?", part)
        if not match:
            raise ValidationError({field: [_("Write vial numbers and ranges such as 1-20, 25.")]})
        low, high = int(match.group(1)), int(match.group(2) or match.group(1))
        if high < low or high - low > settings.LABEL_SELECTION_MAX:
            raise ValidationError({field: [_("%(range)s is not a range of vial numbers.") % {"range": part}]})
        numbers.extend(range(low, high + 1))
    return numbers


def vials_of_lot(lot: Lot, numbers: Iterable[int] | None = None, field: str = "numbers") -> list[int]:
    """The ids of a lot's vials (all, or the given vial numbers), by number; a number the lot lacks refuses."""
    queryset = Vial.objects.filter(lot=lot)
    wanted = None
    if numbers is not None:
        wanted = list(dict.fromkeys(numbers))
        _check_size(field, len(wanted))
        queryset = queryset.filter(number__in=wanted)
    rows = list(queryset.order_by("number").values_list("number", "pk"))
    if wanted is not None:
        missing = sorted(set(wanted) - {number for number, _pk in rows})
        if missing:
            shown = ", ".join(str(n) for n in missing[:SHOW_UNKNOWN])
            raise ValidationError({field: [ngettext(
                "Lot %(lot)s has no vial number %(numbers)s.", "Lot %(lot)s has no vial numbers %(numbers)s.",
                len(missing)) % {"lot": lot.lot_number, "numbers": shown}]})
    _check_size(field, len(rows))
    return [pk for _number, pk in rows]


def box_ids(*, box=None, rack=None, unit=None) -> list[int]:
    """One box, a rack's boxes or a unit's boxes, in storage order (``storage.labels.box_ids``)."""
    ids = box_labels.box_ids(box=box, rack=rack, unit=unit)
    _check_size("boxes", len(ids))
    return ids


# --- a selection: its ids, the job's title and the file's name (pages and API alike) ---------------------------


@dataclass(frozen=True)
class Selection:
    ids: list[int]
    title: str
    name: str


def vial_selection(items: Sequence, field: str = "vials") -> Selection:
    """Vials scanned or pasted (barcodes or ids, in that order)."""
    ids = resolve_vials(items, field=field)
    return Selection(ids, ngettext("Labels of %(n)d vial", "Labels of %(n)d vials", len(ids)) % {"n": len(ids)},
                     f"vial-labels-{len(ids)}")


def lot_vial_selection(lot: Lot, numbers: Iterable[int] | None = None) -> Selection:
    """Every vial of a lot, or the vials of some numbers."""
    return Selection(vials_of_lot(lot, numbers), _("Vial labels of lot %(lot)s") % {"lot": lot.lot_number},
                     f"vial-labels-{lot.lot_number}")


def lot_selection(items: Sequence, field: str = "lots") -> Selection:
    """Lots named by number, barcode or id."""
    ids = resolve_lots(items, field=field)
    return Selection(ids, _("Lot labels (%(n)d)") % {"n": len(ids)}, f"lot-labels-{len(ids)}")


def box_selection(*, boxes: Sequence | None = None, box=None, rack=None, unit=None) -> Selection:
    """Boxes named by barcode or id (``boxes``), one ``box``, a ``rack``'s or a ``unit``'s boxes."""
    if boxes is not None:
        ids = resolve_boxes(boxes)
        return Selection(ids, _("Box labels (%(n)d)") % {"n": len(ids)}, f"box-labels-{len(ids)}")
    title, name = box_place_title(box=box, rack=rack, unit=unit)
    return Selection(box_ids(box=box, rack=rack, unit=unit), title, name)


def box_place_title(*, box=None, rack=None, unit=None) -> tuple[str, str]:
    """The job's title and the file's name for the labels of one box, a rack's or a unit's boxes."""
    if box is not None:
        return _("Box label %(box)s") % {"box": box.name}, f"box-label-{box.name}"
    if rack is not None:
        return (_("Box labels of rack %(unit)s / %(rack)s") % {"unit": rack.unit.name, "rack": rack.name},
                f"box-labels-{rack.unit.name}-{rack.name}")
    return _("Box labels of unit %(unit)s") % {"unit": unit.name}, f"box-labels-{unit.name}"


# --- which stock ---------------------------------------------------------------------------------------------


def profile_for(kind: str, value, field: str = "profile") -> PrinterProfile | None:
    """The profile chosen (a ``PrinterProfile`` or its id), checked: it exists, is in use and prints ``kind``
    labels. None (nothing chosen) means the kind's default."""
    if value in (None, ""):
        return None
    if isinstance(value, PrinterProfile):
        profile = value
    else:
        try:
            profile = PrinterProfile.objects.filter(pk=int(value)).first()
        except (TypeError, ValueError):
            profile = None
        if profile is None:
            raise ValidationError({field: [_("No printer profile %(id)s.") % {"id": value}]})
    if not profile.active:
        raise ValidationError({field: [_("The printer profile %(name)s is no longer in use.") % {"name": profile}]})
    if profile.kind != kind:
        raise ValidationError({field: [_("The printer profile %(name)s is for %(kind)s, not for these labels.") % {
            "name": profile, "kind": profile.get_kind_display().lower()}]})
    return profile


def profiles_of(kind: str) -> list[PrinterProfile]:
    """The profiles in use for ``kind`` labels, the default first (one query)."""
    return list(PrinterProfile.objects.filter(kind=kind, active=True).order_by("-is_default", "name"))


# --- making them ---------------------------------------------------------------------------------------------


def _in_order(rows: dict[int, object], ids: Sequence[int]) -> list:
    return [rows[pk] for pk in ids if pk in rows]


def _chunks(ids: Sequence[int]) -> Iterable[Sequence[int]]:
    for start in range(0, len(ids), CHUNK):
        yield ids[start:start + CHUNK]


def make_labels(kind: str, ids: Sequence[int], *, copies: int = 1,
                tick: Callable[[int], None] | None = None) -> list:
    """The labels of ``kind`` for ``ids`` in that order (rows gone since are skipped): one query per thousand."""
    out: list = []
    for chunk in _chunks(ids):
        if kind == "vial":
            rows = Vial.objects.filter(pk__in=chunk).select_related("lot__cell_line").only(
                "id", "barcode", "number", "lot", "lot__lot_number", "lot__tier", "lot__passage",
                "lot__frozen_on", "lot__din", "lot__cell_line", "lot__cell_line__name")
            made = lot_labels.vial_labels(_in_order({v.pk: v for v in rows}, chunk))
        elif kind == "lot":
            rows = Lot.objects.filter(pk__in=chunk).select_related("cell_line")
            made = [lot_labels.lot_label(lot) for lot in _in_order({lot.pk: lot for lot in rows}, chunk)]
        elif kind == "box":
            rows = box_labels.boxes_for_labels(chunk)
            made = [box_labels.box_label(box) for box in _in_order({b.pk: b for b in rows}, chunk)]
        else:
            raise ValueError(f"unknown label kind {kind!r}")
        for label in made:
            out.extend([label] * copies)
        if tick:
            tick(len(chunk))
    return out


def filename_for(name: str, ext: str) -> str:
    """An ASCII file name from ``name`` (a translated title may have none: then "labels")."""
    return f"{slugify(name)[:80] or 'labels'}.{ext}"


def render(kind: str, ids: Sequence[int], stock: engine.Stock, fmt: str, *, title: str, name: str = "",
           copies: int = 1, tick: Callable[[int], None] | None = None) -> Printout:
    """The labels of ``ids`` as a file."""
    labels = make_labels(kind, ids, copies=copies)
    content, content_type, ext = engine.render(labels, stock, fmt, title=title, tick=tick)
    return Printout(content=content, content_type=content_type, filename=filename_for(name or title, ext),
                    count=len(labels))


def check_copies(copies, field: str = "copies") -> int:
    try:
        copies = int(copies if copies not in (None, "") else 1)
    except (TypeError, ValueError):
        copies = 0
    if not 1 <= copies <= 50:
        raise ValidationError({field: [_("Print from 1 to 50 copies of each label.")]})
    return copies


def print_labels(*, actor, kind: str, ids: Sequence[int], profile: PrinterProfile | None = None,
                 fmt: str | None = None, title: str, name: str = "", copies: int = 1) -> Printout | Job:
    """Labels of ``kind`` for ``ids`` on ``profile`` (else the kind's default, else the settings) in ``fmt``
    ("pdf" or "zpl"; empty: what the profile prints). A print of more than ``LABEL_JOB_THRESHOLD`` labels
    becomes a job (returned); a smaller one is made at once (a ``Printout``)."""
    if fmt not in (None, "", *engine.FORMATS):
        raise ValidationError({"format": [_("Choose pdf or zpl.")]})
    copies = check_copies(copies)
    stock = engine.stock_for(kind, profile)
    fmt = engine.format_for(stock, fmt)
    count = len(ids) * copies
    _check_size({"vial": "vials", "box": "boxes", "lot": "lots"}[kind], count)
    if count > settings.LABEL_JOB_THRESHOLD:
        from bank.jobs import start_job

        return start_job(JOB_KIND, user=actor, title=title, params={
            "kind": kind, "ids": list(ids), "format": fmt, "copies": copies, "title": str(title), "name": name,
            "stock": dataclasses.asdict(stock)})
    return render(kind, ids, stock, fmt, title=title, name=name, copies=copies)


def run_label_job(job: Job, progress) -> dict:
    """The ``labels.sheet`` job: read the rows, draw the labels, attach the PDF or ZPL."""
    params = job.params
    kind, ids, fmt = params["kind"], params["ids"], params["format"]
    copies = int(params.get("copies") or 1)
    stock = engine.Stock(**params["stock"])
    title = params.get("title") or job.title
    # Reading the rows is the first half of the bar, drawing the labels the second.
    progress.set_total(2 * len(ids) * copies, message=_("Reading the records"))
    labels = make_labels(kind, ids, copies=copies, tick=lambda n: progress.advance(n * copies))
    progress.update(len(ids) * copies, message=_("Drawing the labels"))
    content, content_type, ext = engine.render(labels, stock, fmt, title=title, tick=lambda n: progress.advance(n))
    progress.update(progress.job.total, message=_("Done"))
    progress.attach(filename_for(params.get("name") or title, ext), content, content_type)
    return {"labels": len(labels), "format": fmt, "profile": stock.name,
            "skipped": len(ids) - len(labels) // copies}
