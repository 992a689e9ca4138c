"""Template tags of the lots pages."""

from html import escape

from django import template
from django.utils.safestring import mark_safe
from django.utils.translation import gettext as _

from bank.web import id_url
from lots.choices import VialKind, VialStatus

register = template.Library()

HIGHLIGHT = ' class="highlight" aria-current="true" data-scroll-into-view'


@register.simple_tag
def vial_rows(vials, highlight: str = "", show_kind: bool = False):
    """The lot page's vial table body: one row per vial (``lots.queries.VialRow``: number, barcode, kind, status,
    unit, rack, box, position, label link). Built in Python: the page shows 50 vials, and a template loop over
    their cells (then ``format_html`` per cell) was the larger part of the page's own rendering time. Every value
    is escaped as the template's autoescape would (``html.escape``, what ``django.utils.html.escape`` calls); the
    labels of the statuses and kinds are read once per page, in the reader's language."""
    label_url = id_url("lots:vial_label_svg")
    not_stored = f'<td colspan="4" class="muted">{escape(_("not stored"))}</td>'
    statuses = {value: escape(str(label)) for value, label in VialStatus.choices}
    kinds = {value: escape(str(label)) for value, label in VialKind.choices}
    rows = []
    for vial in vials:
        current = HIGHLIGHT if vial.barcode == highlight else ""
        barcode, status = escape(vial.barcode), escape(vial.status)
        kind = (f'<td data-kind="{escape(vial.kind)}">{kinds.get(vial.kind) or escape(vial.kind)}</td>'
                if show_kind else "")
        if vial.box_id:
            place = (f"<td>{escape(vial.unit_name)}</td><td>{escape(vial.rack_name)}</td>"
                     f'<td>{escape(vial.box_name)}</td><td class="mono">{int(vial.row)}, {int(vial.col)}</td>')
        else:
            place = not_stored
        rows.append(f'<tr id="vial-{barcode}"{current}><td>{int(vial.number)}</td><td class="mono">{barcode}</td>'
                    f'{kind}<td><span class="badge {status}">{statuses.get(vial.status) or status}</span></td>'
                    f'{place}<td><a href="{escape(label_url(vial.pk))}" target="_blank">SVG</a></td>'
                    "</tr>")
    return mark_safe("\n".join(rows))  # noqa: S308 - every value above is escaped
