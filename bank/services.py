"""Bank-wide services: user accounts, their roles, passwords, API tokens and lockouts.

Every change to an account — creation, roles, activation, password, tokens revoked, unlock, second factor —
is an ``AccountChange`` with who, when, before, after and why (21 CFR 11.10(d), (g)), written in the same
transaction as the change. A password change, a role change or a deactivation revokes the account's API tokens.
"""

from __future__ import annotations

from datetime import timedelta

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils.translation import gettext as _

from bank import auth
from bank.audit import acting
from bank.models import AccountChange, AuthEvent
from bank.roles import ADMIN, ROLES, SENSOR, user_roles


def account_state(user) -> dict:
    """What an account change compares: the roles (sorted) and whether the account is active."""
    if user.pk is None:
        return {}
    return {"roles": sorted(user.groups.values_list("name", flat=True)), "active": bool(user.is_active)}


def _record(user, kind: str, *, actor, reason: str, before=None, after=None) -> AccountChange:
    return AccountChange.objects.create(user=user, actor=actor if getattr(actor, "pk", None) else None, kind=kind,
                                        before=before or {}, after=after or {}, reason=(reason or "")[:300])


def _forget_roles(user) -> None:
    if hasattr(user, "_stembank_roles"):
        del user._stembank_roles


def check_roles(roles) -> list[str]:
    """The roles, validated: known names, at least one, and a sensor account is a sensor only."""
    roles = sorted(set(roles or []))
    if not roles:
        raise ValidationError({"role": [_("Give the account a role: %(choices)s.") % {"choices": ", ".join(ROLES)}]})
    unknown = [r for r in roles if r not in ROLES]
    if unknown:
        raise ValidationError(
            {"role": [_("Unknown role %(roles)s; use one of: %(choices)s.") % {
                "roles": ", ".join(unknown), "choices": ", ".join(ROLES)}]}
        )
    if SENSOR in roles and len(roles) > 1:
        raise ValidationError({"role": [_("A sensor account has the sensor role only: it posts readings and "
                                          "nothing else. Make a separate account for the person.")]})
    return roles


def save_user(username: str, *, roles: list[str], password: str | None = None, full_name: str = "",
              email: str = "", actor=None, validate: bool = True, reason: str = "", active: bool | None = None):
    """Create or update an account with exactly ``roles`` (and ``active`` when given).

    Records the creation, a change of roles or of activation, and a new password as account changes; a role
    change, a new password or a deactivation revokes the account's API tokens.
    """
    username = (username or "").strip()
    if not username:
        raise ValidationError({"username": [_("Enter a username.")]})
    roles = check_roles(roles)
    reason = reason or _("account set up")
    User = get_user_model()
    with transaction.atomic(), acting(actor, reason):
        user = User.objects.select_for_update().filter(username=username).first() or User(username=username)
        before = account_state(user)
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
        if active is not None:
            user.is_active = active
        user.is_staff = ADMIN in roles
        user.save()
        user.groups.set(Group.objects.filter(name__in=roles))
        _forget_roles(user)
        record_account_update(user, before, actor=actor, reason=reason)
        if password is not None and before:
            password_was_set(user, actor=actor, reason=reason)
    return user


def record_account_update(user, before: dict, *, actor, reason: str) -> list[AccountChange]:
    """Record what changed in ``user``'s roles and activation since ``before`` (``account_state``; empty for a
    new account), keep the staff flag in step with the admin role, and revoke the API tokens when the roles
    changed or the account was deactivated. Used by ``save_user`` and by the Django admin's user form."""
    _forget_roles(user)
    after = account_state(user)
    changes = []
    if not before:
        changes.append(_record(user, AccountChange.Kind.CREATED, actor=actor, reason=reason, after=after))
    else:
        if before["roles"] != after["roles"]:
            changes.append(_record(user, AccountChange.Kind.ROLES, actor=actor, reason=reason,
                                   before={"roles": before["roles"]}, after={"roles": after["roles"]}))
        if before["active"] != after["active"]:
            changes.append(_record(user, AccountChange.Kind.ACTIVATION, actor=actor, reason=reason,
                                   before={"active": before["active"]}, after={"active": after["active"]}))
        if before["roles"] != after["roles"]:
            revoke_tokens(user, actor=actor, reason=_("roles changed"))
        elif before["active"] and not after["active"]:
            revoke_tokens(user, actor=actor, reason=_("account deactivated"))
    staff = ADMIN in after["roles"]
    if user.is_staff != staff:
        user.is_staff = staff
        user.save(update_fields=["is_staff"])
    return changes


def change_password(user, new_password: str, *, actor, reason: str = "", validate: bool = True) -> None:
    """Set a new password (Django's validators and ``PASSWORD_MIN_LENGTH``), record it, revoke the API tokens.

    Checking the old password is the caller's part (``bank.auth.check_password``, outside this transaction).
    """
    if validate:
        validate_password(new_password, user)
    reason = reason or _("password changed")
    with transaction.atomic(), acting(actor, reason):
        user.set_password(new_password)
        user.save(update_fields=["password"])
        password_was_set(user, actor=actor, reason=reason)


def password_was_set(user, *, actor, reason: str) -> None:
    """Record a password just set (or made unusable) on ``user`` and revoke the account's API tokens."""
    _record(user, AccountChange.Kind.PASSWORD, actor=actor, reason=reason)
    revoke_tokens(user, actor=actor, reason=_("password changed"))


# --- API tokens (django-rest-knox: only a hash is stored, every token expires) --------------------------------


def token_model():
    from knox.models import get_token_model

    return get_token_model()


def token_ttl(user) -> timedelta:
    """How long a new token of ``user`` lives: ``API_TOKEN_TTL_HOURS``, or ``SENSOR_TOKEN_TTL_HOURS`` for sensors."""
    hours = settings.SENSOR_TOKEN_TTL_HOURS if SENSOR in user_roles(user) else settings.API_TOKEN_TTL_HOURS
    return timedelta(hours=hours)


def issue_token(user):
    """A new API token for ``user``: ``(stored token, the token string)`` — the string is shown once, only its
    hash is kept. Expired tokens of the account are dropped on the way."""
    from django.utils import timezone

    model = token_model()
    with transaction.atomic():
        model.objects.filter(user=user, expiry__lt=timezone.now()).delete()
        return model.objects.create(user=user, expiry=token_ttl(user))


def revoke_tokens(user, *, actor, reason: str, token_key: str | None = None) -> int:
    """Delete ``user``'s API tokens (or the one whose key starts ``token_key``); record it when any went."""
    tokens = token_model().objects.filter(user=user)
    if token_key is not None:
        tokens = tokens.filter(token_key=token_key)
    count, _per_model = tokens.delete()
    if count:
        after = {"revoked": count}
        if token_key is not None:
            after["token"] = token_key[:8]
        _record(user, AccountChange.Kind.TOKENS_REVOKED, actor=actor, reason=reason, after=after)
    return count


def purge_expired_tokens() -> int:
    """Delete every expired API token (a beat task runs it daily); expired tokens are refused anyway."""
    from django.utils import timezone

    count, _per_model = token_model().objects.filter(expiry__lt=timezone.now()).delete()
    return count


# --- lockouts --------------------------------------------------------------------------------------------------


def unlock_account(username: str, *, actor, reason: str, ip: str | None = None) -> AuthEvent:
    """An admin unlocks ``username`` at one client address, or at every address (``ip`` None), with a reason:
    an ``unlocked`` event (which starts the lockout count afresh) and an account change."""
    reason = (reason or "").strip()
    errors = {}
    if not reason:
        errors["reason"] = [_("Say why the account is unlocked (e.g. how the user was identified).")]
    if ip:
        ip = auth.valid_ip(ip)
        if ip is None:
            errors["client_ip"] = [_("Enter an IPv4 or IPv6 address, or leave it empty for every address.")]
    if errors:
        raise ValidationError(errors)
    user = get_user_model().objects.filter(username=username).first()
    if user is None:
        raise ValidationError({"username": [_("There is no account %(username)s.") % {"username": username}]})
    locks = [lock for lock in auth.active_locks([username]) if ip is None or lock.client_ip == ip]
    with transaction.atomic(), acting(actor, reason):
        event = auth.unlock(username, actor=actor, reason=reason, ip=ip or None)
        _record(user, AccountChange.Kind.UNLOCK, actor=actor, reason=reason,
                before={"locked_addresses": sorted(lock.client_ip or "" for lock in locks)},
                after={"unlocked": ip or "every address"})
    return event
