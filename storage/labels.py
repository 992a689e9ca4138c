"""Box labels (issue 17): what a cryobox's label reads. ``bank.labels`` lays it out on a printer profile's stock.

A box label carries the box barcode (Code 128), the box name, where it lives (unit / rack, as the storage pages
write the path) and its grid. Like vial labels, the text is not translated: a box reads the same whoever printed it.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from bank.labels import FONT, FONT_BOLD
from storage.models import Box


@dataclass(frozen=True)
class BoxLabel:
    barcode: str
    name: str
    unit: str
    rack: str
    rows: int
    cols: int

    @property
    def lines(self) -> list[tuple[str, str]]:
        return [
            (FONT_BOLD, f"BOX {self.name}"),
            (FONT, f"{self.unit} / {self.rack}"),
            (FONT, f"{self.barcode} · {self.rows} x {self.cols}"),
        ]

    @property
    def boxed(self) -> str:
        return ""


def box_label(box: Box) -> BoxLabel:
    """A box's label (``box.rack.unit`` loaded)."""
    return BoxLabel(barcode=box.barcode, name=box.name, unit=box.rack.unit.name, rack=box.rack.name, rows=box.rows,
                    cols=box.cols)


def boxes_for_labels(ids: Iterable[int]):
    """The boxes of ``ids`` with what their labels print (one query)."""
    return Box.objects.filter(pk__in=list(ids)).select_related("rack__unit").only(
        "id", "barcode", "name", "rows", "cols", "rack__name", "rack__unit__name")


def box_ids(*, box: Box | None = None, rack=None, unit=None) -> list[int]:
    """The boxes to label, in storage order (unit, rack position, box position): one box, a rack's or a unit's."""
    if box is not None:
        return [box.pk]
    queryset = Box.objects.all()
    if rack is not None:
        queryset = queryset.filter(rack=rack)
    elif unit is not None:
        queryset = queryset.filter(rack__unit=unit)
    else:
        return []
    ordered = queryset.order_by("rack__position", "rack__name", "position", "name", "id")
    return list(ordered.values_list("id", flat=True))
