"""Template tags of the lots pages."""

from django import template
from django.urls import reverse
from django.utils.html import format_html, format_html_join
from django.utils.safestring import mark_safe
from django.utils.translation import gettext as _

register = template.Library()

HIGHLIGHT = mark_safe(' class="highlight" aria-current="true" data-scroll-into-view')  # noqa: S308 - a constant


@register.simple_tag
def vial_rows(vials, highlight: str = "", show_kind: bool = False):
    """The lot page's vial table body: one row per vial (number, barcode, kind, status, unit, rack, box, position,
    label link). Built in Python: the page shows 50 vials, and a template loop over their cells was the larger
    part of the page's own rendering time. Escaped like the template was (``format_html``)."""
    label_url = reverse("lots:vial_label_svg", args=[0])
    head, _sep, tail = label_url.rpartition("/0/")
    not_stored = _("not stored")

    def row(vial):  # lots.queries.VialRow
        current = HIGHLIGHT if vial.barcode == highlight else ""
        kind = format_html('<td data-kind="{}">{}</td>', vial.kind, vial.get_kind_display()) if show_kind else ""
        if vial.box_id:
            place = format_html('<td>{}</td><td>{}</td><td>{}</td><td class="mono">{}, {}</td>', vial.unit_name,
                                vial.rack_name, vial.box_name, vial.row, vial.col)
        else:
            place = format_html('<td colspan="4" class="muted">{}</td>', not_stored)
        return (vial.barcode, current, vial.number, vial.barcode, kind, vial.status,
                vial.get_status_display(), place, f"{head}/{vial.pk}/{tail}")

    return format_html_join(
        "\n", '<tr id="vial-{}"{}><td>{}</td><td class="mono">{}</td>{}<td><span class="badge {}">{}</span></td>{}'
        '<td><a href="{}" target="_blank">SVG</a></td></tr>', (row(vial) for vial in vials))
