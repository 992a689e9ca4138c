"""Bank-wide services: user accounts, their roles, passwords, API tokens and lockouts.

Every change to an account — creation, roles, activation, password, tokens revoked, unlock, second factor —
is an ``AccountChange`` with who, when, before, after and why (21 CFR 11.10(d), (g)), written in the same
transaction as the change. A password change, a role change or a deactivation revokes the account's API tokens.
"""

from __future__ import annotations

import secrets
from datetime import timedelta

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.contrib.auth.password_validation import validate_password
from django.contrib.auth.validators import UnicodeUsernameValidator
from django.core.exceptions import ObjectDoesNotExist, ValidationError
from django.core.validators import validate_email
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from bank import auth
from bank.audit import acting
from bank.errors import Conflict
from bank.models import AccountChange, AccountPolicy, AuthEvent
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
        if before:
            keep_an_admin(user, roles=roles, active=user.is_active if active is None else active, actor=actor)
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


def keep_an_admin(user, *, roles, active: bool, actor) -> None:
    """Refuse a change that would lock the admins out: an admin removing their own admin role or deactivating
    their own account (``self_lockout``), or anyone taking the admin role or activation from the last active
    admin (``last_admin``). Locks the admin group's row first, so two admins demoting each other at the same
    moment cannot both succeed."""
    was_admin = user.is_active and user.groups.filter(name=ADMIN).exists()
    if not was_admin or (active and ADMIN in roles):
        return
    if getattr(actor, "pk", None) is not None and actor.pk == user.pk:
        raise Conflict(_("You cannot remove your own admin role or deactivate your own account: ask another "
                         "admin."), code="self_lockout")
    list(Group.objects.select_for_update().filter(name=ADMIN))
    others = (get_user_model().objects.filter(groups__name=ADMIN, is_active=True).exclude(pk=user.pk).exists())
    if not others:
        raise Conflict(_("%(username)s is the last active admin: give another account the admin role first.")
                       % {"username": user.get_username()}, code="last_admin")


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
    """Record a password just set (or made unusable) on ``user`` and revoke the account's API tokens. The user's
    own new password ends a password change an admin required."""
    _record(user, AccountChange.Kind.PASSWORD, actor=actor, reason=reason)
    revoke_tokens(user, actor=actor, reason=_("password changed"))
    if getattr(actor, "pk", None) is not None and actor.pk == user.pk and must_change_password(user):
        policy = AccountPolicy.objects.select_for_update().get(user=user)
        policy.must_change_password, policy.flagged_at = False, None
        with acting(actor, reason):
            policy.save(update_fields=["must_change_password", "flagged_at"])
        user.account_policy = policy


# --- creating accounts, requiring a new password -------------------------------------------------------------

# No 0/O, 1/l/I: an initial password is read off a screen and typed on another keyboard.
PASSWORD_ALPHABET = "abcdefghijkmnpqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789"


def generate_password(groups: int = 4, size: int = 5) -> str:
    """A random initial password, e.g. ``k7Mqx-2pfRa-…`` (4 × 5 characters ≈ 115 bits), shown once."""
    return "-".join("".join(secrets.choice(PASSWORD_ALPHABET) for _i in range(size)) for _g in range(groups))


def check_new_account(username: str, *, email: str = "", full_name: str = "") -> str:
    """The username of a new account, checked: Django's username rule, at most 150 characters, not taken (even
    with other capitals: ``Mei`` and ``mei`` would be two people signing as one name); and the e-mail."""
    username = (username or "").strip()
    errors: dict[str, list[str]] = {}
    if not username:
        errors["username"] = [_("Enter a username.")]
    elif len(username) > 150:
        errors["username"] = [_("150 characters at most.")]
    else:
        try:
            UnicodeUsernameValidator()(username)
        except ValidationError as exc:
            errors["username"] = list(exc.messages)
        else:
            if get_user_model().objects.filter(username__iexact=username).exists():
                errors["username"] = [_("The username %(username)s is taken.") % {"username": username}]
    if email:
        try:
            validate_email(email)
        except ValidationError:
            errors["email"] = [_("Enter a valid e-mail address.")]
    if len(full_name or "") > 300:
        errors["full_name"] = [_("300 characters at most.")]
    if errors:
        raise ValidationError(errors)
    return username


def create_user(username: str, *, roles: list[str], password: str | None = None, full_name: str = "",
                email: str = "", actor=None, reason: str = "", must_change_password: bool = True,
                validate: bool = True):
    """Create an account (the users page, ``POST /api/v1/accounts/`` and ``manage.py add_user``): a new username,
    its roles, and an initial password — the one given, checked by Django's validators against the new
    account's name and e-mail, or a generated one when ``password`` is None. With ``must_change_password``
    the user chooses their own at the first login. Returns ``(user, generated password or None)``; the
    generated password is shown once and never stored in clear."""
    username = check_new_account(username, email=email, full_name=full_name)
    roles = check_roles(roles)
    generated = None
    if password is None:
        password = generated = generate_password()
    elif validate:
        first, _sep, last = (full_name or "").strip().partition(" ")
        probe = get_user_model()(username=username, email=email or "", first_name=first, last_name=last)
        try:
            validate_password(password, probe)
        except ValidationError as exc:
            raise ValidationError({"password": list(exc.messages)})
    reason = (reason or "").strip() or _("account created")
    try:
        with transaction.atomic(), acting(actor, reason):
            user = save_user(username, roles=roles, password=password, full_name=full_name, email=email,
                             actor=actor, validate=False, reason=reason, active=True)
            if must_change_password:
                require_password_change(user, actor=actor, reason=reason)
    except IntegrityError:  # created by someone else between the check and the insert
        raise ValidationError({"username": [_("The username %(username)s is taken.") % {"username": username}]})
    return user, generated


def must_change_password(user) -> bool:
    """Must ``user`` choose a new password before anything else? Read from the policy loaded with the user (no
    query for the request's user, see ``bank.auth.LockoutModelBackend.get_user``)."""
    if getattr(user, "pk", None) is None:
        return False
    try:
        policy = user.account_policy
    except ObjectDoesNotExist:
        return False
    return bool(policy and policy.must_change_password)


def require_password_change(user, *, actor, reason: str) -> AccountPolicy:
    """An admin requires ``user`` to choose a new password: from the next page (or login) on, the user sees only
    the password change page, and API tokens are refused with 403 ``password_change_required``, until the
    user has changed it. A sensor account cannot (it has no pages to change it on: ``sensor_account``)."""
    reason = (reason or "").strip()
    if not reason:
        raise ValidationError({"reason": [_("Say why the user must change the password.")]})
    if SENSOR in user_roles(user):
        raise Conflict(_("A sensor account has no pages to change its password on: set a new password for it "
                         "instead."), code="sensor_account")
    with transaction.atomic(), acting(actor, reason):
        policy = AccountPolicy.objects.select_for_update().filter(user=user).first()
        if policy is None:
            policy = AccountPolicy.objects.create(user=user, must_change_password=True, flagged_at=timezone.now())
        elif policy.must_change_password:
            user.account_policy = policy
            return policy  # already required: nothing changes, nothing to record
        else:
            policy.must_change_password, policy.flagged_at = True, timezone.now()
            policy.save(update_fields=["must_change_password", "flagged_at"])
        _record(user, AccountChange.Kind.MUST_CHANGE_PASSWORD, actor=actor, reason=reason,
                before={"must_change_password": False}, after={"must_change_password": True})
        user.account_policy = policy
    return policy


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
