"""The optional second factor at login: a TOTP code from an authenticator app (django-otp, TOTP plugin).

Off by default. The roles in ``REQUIRE_SECOND_FACTOR_ROLES`` (e.g. ``admin,qa``) must enroll and then give a
code after their password before any page opens; an account that enrolled of its own accord is asked too.
Electronic signatures still re-check the password (21 CFR 11.200): the second factor guards the session only.
A wrong code counts towards the lockout like a wrong password.
"""

from __future__ import annotations

import base64

import qrcode
import qrcode.image.svg
from django.conf import settings
from django.db import transaction
from django.utils.translation import gettext as _
from django_otp import login as otp_login
from django_otp.plugins.otp_totp.models import TOTPDevice

from bank import auth
from bank.audit import acting
from bank.models import AccountChange, AuthEvent
from bank.roles import user_roles

NO_DEVICE = "stembank_no_second_factor"  # session flag: this account has no second factor (checked once)


def required_by_role(user) -> bool:
    return bool(user_roles(user) & set(settings.REQUIRE_SECOND_FACTOR_ROLES))


def confirmed_devices(user):
    return TOTPDevice.objects.filter(user=user, confirmed=True).order_by("pk")


def enrolled(user) -> bool:
    return confirmed_devices(user).exists()


def owed(user) -> bool:
    """Does a login of ``user`` need a code after the password (role, or a second factor set up)?"""
    return required_by_role(user) or enrolled(user)


def is_verified(user) -> bool:
    check = getattr(user, "is_verified", None)
    return bool(check and check())


def pending(request, user) -> bool:
    """True while this session's account owes its second factor."""
    if is_verified(user):
        return False
    if required_by_role(user):
        return True
    if request.session.get(NO_DEVICE):
        return False
    if enrolled(user):
        return True
    request.session[NO_DEVICE] = True
    return False


def note_login(request, user) -> None:
    """At login: remember in the session that this account owes no second factor (no query on later pages)."""
    if not owed(user):
        request.session[NO_DEVICE] = True


# --- enrolment -----------------------------------------------------------------------------------------------


def enrolment_device(user) -> TOTPDevice:
    """The account's device being set up (unconfirmed), made on first use."""
    device = TOTPDevice.objects.filter(user=user, confirmed=False).order_by("pk").first()
    if device is None:
        device = TOTPDevice.objects.create(user=user, name=_("Authenticator app")[:64], confirmed=False)
    return device


def secret_text(device: TOTPDevice) -> str:
    """The secret as authenticator apps take it typed in: base32, in groups of four."""
    secret = base64.b32encode(device.bin_key).decode("ascii").rstrip("=")
    return " ".join(secret[i:i + 4] for i in range(0, len(secret), 4))


def qr_svg(device: TOTPDevice) -> str:
    """The ``otpauth://`` URL of the device as a QR code (SVG markup, made here: no image service)."""
    image = qrcode.make(device.config_url, image_factory=qrcode.image.svg.SvgPathImage, box_size=8, border=2)
    return image.to_string(encoding="unicode")


def _clean(code: str | None) -> str:
    return "".join((code or "").split())


def confirm(request, device: TOTPDevice, code: str) -> bool:
    """Finish enrolment with a first code from the app: the device counts from now, the session is verified."""
    user = device.user
    code = _clean(code)
    if not (code.isdigit() and device.verify_token(code)):
        return False
    with transaction.atomic(), acting(user, _("second factor enrolled")):
        device.confirmed = True
        device.save(update_fields=["confirmed"])
        TOTPDevice.objects.filter(user=user, confirmed=False).delete()
        AccountChange.objects.create(user=user, actor=user, kind=AccountChange.Kind.SECOND_FACTOR,
                                     before={"enrolled": False}, after={"enrolled": True},
                                     reason=_("second factor enrolled"))
    otp_login(request, device)
    auth.record_event(user.get_username(), AuthEvent.Kind.LOGIN_OK, "second_factor")
    return True


def verify(request, user, code: str) -> bool:
    """Check a login's code; a wrong one counts like a failed login (``AccountLocked`` while locked)."""
    lock = auth.refuse_if_locked(user.get_username(), source="second_factor")
    if lock is not None:
        raise auth.AccountLocked(lock)
    device = matching_device(user, code)
    if device is None:
        auth.record_event(user.get_username(), AuthEvent.Kind.LOGIN_FAILED, "second_factor")
        return False
    otp_login(request, device)
    auth.record_event(user.get_username(), AuthEvent.Kind.LOGIN_OK, "second_factor")
    return True


def matching_device(user, code: str | None) -> TOTPDevice | None:
    code = _clean(code)
    if not code.isdigit():
        return None
    for device in confirmed_devices(user):
        if device.verify_token(code):
            return device
    return None


def reset(user, *, actor, reason: str) -> int:
    """An admin removes the account's second factor (a lost phone): the user enrolls again at the next login."""
    with transaction.atomic(), acting(actor, reason):
        had = enrolled(user)
        count, _per_model = TOTPDevice.objects.filter(user=user).delete()
        if count:
            AccountChange.objects.create(user=user, actor=actor, kind=AccountChange.Kind.SECOND_FACTOR,
                                         before={"enrolled": had}, after={"enrolled": False}, reason=reason[:300])
    return count
