"""Bank-wide services: user accounts and their roles."""

from __future__ import annotations

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils.translation import gettext as _

from bank.audit import acting
from bank.roles import ADMIN, ROLES


def save_user(username: str, *, roles: list[str], password: str | None = None, full_name: str = "",
              email: str = "", actor=None, validate: bool = True, reason: str = ""):
    """Create or update an account with exactly ``roles``. Admins may use the Django admin site."""
    username = (username or "").strip()
    if not username:
        raise ValidationError({"username": [_("Enter a username.")]})
    unknown = [r for r in roles if r not in ROLES]
    if unknown or not roles:
        raise ValidationError(
            {"role": [_("Unknown role %(roles)s; use one of: %(choices)s.") % {
                "roles": ", ".join(unknown) or "—", "choices": ", ".join(ROLES)}]}
        )
    User = get_user_model()
    with transaction.atomic(), acting(actor, reason or _("account set up")):
        user = User.objects.filter(username=username).first() or User(username=username)
        if password is not None:
            if validate:
                validate_password(password, user)
            user.set_password(password)
        elif user.pk is None:
            user.set_unusable_password()
        if full_name:
            first, _sep, last = full_name.strip().partition(" ")
            user.first_name, user.last_name = first[:150], last[:150]
        if email:
            user.email = email
        user.is_staff = ADMIN in roles
        user.save()
        user.groups.set(Group.objects.filter(name__in=roles))
    return user
