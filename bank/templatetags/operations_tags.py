"""``{{ user|sees_operations_banner }}``: whether the page loads the operations banner (admins and QA)."""

from django import template

from bank.health_views import shows_banner

register = template.Library()


@register.filter
def sees_operations_banner(user) -> bool:
    return bool(getattr(user, "is_authenticated", False)) and shows_banner(user)
