"""What every page's layout needs: the bank name, the role-aware navigation, unread notifications."""

from django.conf import settings

from bank.notifications import unread_count
from bank.registry import nav_for
from bank.roles import ROLES, primary_role


def bank(request):
    user = getattr(request, "user", None)
    context = {"BANK_NAME": settings.BANK_NAME}
    if user is not None and user.is_authenticated:
        role = primary_role(user)
        context.update(
            {
                "nav_items": nav_for(user),
                "unread_notifications": unread_count(user),
                "primary_role": role,
                "primary_role_label": ROLES.get(role, ""),
            }
        )
    return context
