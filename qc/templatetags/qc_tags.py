"""Template filters of the qc pages."""

from django import template

from qc.models import format_number

register = template.Library()


@register.filter
def qc_number(value) -> str:
    """A stored decimal without trailing zeros (80.00 → 80)."""
    return format_number(value)
