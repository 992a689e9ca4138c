"""Printer profiles (issue 17): the label stocks admins keep — saving, retiring and the defaults a new bank starts
with. Every change is audited (the profile's history, with who and why). Pages and the API check that the person
is an admin (``bank.change_printerprofile``, which only the admin role holds); these functions do the writing.

A kind has at most one default profile (a partial unique index): making a profile the default takes the flag from
the kind's former default in the same transaction, under a lock on the kind's profiles.
"""

from __future__ import annotations

import copy
from decimal import Decimal

from django.db import transaction
from django.utils.translation import gettext as _

from bank.audit import acting, save_changed
from bank.models import PrinterProfile

EDITABLE = ("name", "kind", "output", "width_in", "height_in", "page_size", "columns", "rows", "margin_left_in",
            "margin_top_in", "gap_x_in", "gap_y_in", "dpi", "is_default", "active")

# Sensible stock for a new bank: the common 1.28" x 0.5" cryo label on A4 sheets and on a Zebra roll, a 2" x 1"
# box label, and a lot label on US letter 2.625" x 1" address-label stock (3 x 10, like Avery 5160).
DEFAULT_PROFILES = [
    {"name": "Cryo vial 1.28 x 0.5 in, A4 sheet", "kind": "vial", "output": "pdf_sheet", "width_in": "1.28",
     "height_in": "0.5", "page_size": "A4", "is_default": True},
    {"name": "Cryo vial 1.28 x 0.5 in, Zebra 300 dpi", "kind": "vial", "output": "zpl", "width_in": "1.28",
     "height_in": "0.5", "dpi": 300},
    {"name": "Box 2 x 1 in, A4 sheet", "kind": "box", "output": "pdf_sheet", "width_in": "2", "height_in": "1",
     "page_size": "A4", "is_default": True},
    {"name": "Box 2 x 1 in, Zebra 203 dpi", "kind": "box", "output": "zpl", "width_in": "2", "height_in": "1",
     "dpi": 203},
    {"name": "Lot 2.625 x 1 in, letter 3 x 10", "kind": "lot", "output": "pdf_sheet", "width_in": "2.625",
     "height_in": "1", "page_size": "letter", "columns": 3, "rows": 10, "margin_left_in": "0.1875",
     "margin_top_in": "0.5", "gap_x_in": "0.125", "gap_y_in": "0", "is_default": True},
]


def _take_default(profile: PrinterProfile) -> None:
    """Unset the default of the profile's kind on every other profile (audited), under a lock."""
    others = list(PrinterProfile.objects.select_for_update().filter(kind=profile.kind, is_default=True)
                  .exclude(pk=profile.pk).order_by("pk"))
    for other in others:
        save_changed(other, {"is_default": False})


def save_profile(profile: PrinterProfile | None, values: dict, *, actor, reason: str = "") -> PrinterProfile:
    """Create (``profile`` None) or change a printer profile from ``values`` (fields of ``EDITABLE``)."""
    unknown = set(values) - set(EDITABLE)
    if unknown:
        raise ValueError(f"not editable: {sorted(unknown)}")
    creating = profile is None
    reason = reason or (_("Printer profile created") if creating else _("Printer profile changed"))
    with transaction.atomic(), acting(actor, reason):
        if creating:
            candidate = PrinterProfile(**values)
        else:
            profile = PrinterProfile.objects.select_for_update().get(pk=profile.pk)
            candidate = copy.copy(profile)
            for name, value in values.items():
                setattr(candidate, name, value)
        if not candidate.active:
            candidate.is_default = False
        if candidate.is_default:
            _take_default(candidate)  # first, so the one-default-per-kind constraint holds (rolled back on error)
        candidate.full_clean()
        if creating:
            candidate.save()
            profile = candidate
        else:
            save_changed(profile, {name: getattr(candidate, name) for name in EDITABLE})
    return profile


def set_active(profile: PrinterProfile, active: bool, *, actor, reason: str = "") -> PrinterProfile:
    """Retire a profile (it leaves the choices and stops being a default) or bring it back. Profiles are never
    deleted: the history of what was printed on what stays readable."""
    reason = reason or (_("Printer profile back in use") if active else _("Printer profile retired"))
    with transaction.atomic(), acting(actor, reason):
        profile = PrinterProfile.objects.select_for_update().get(pk=profile.pk)
        values = {"active": active}
        if not active:
            values["is_default"] = False
        save_changed(profile, values)
    return profile


def seed_default_profiles(*, actor) -> list[PrinterProfile]:
    """Create the ``DEFAULT_PROFILES`` a bank does not have yet (by name); a kind that already has a default keeps
    it. Returns the profiles created."""
    created = []
    with transaction.atomic(), acting(actor, _("Default printer profiles")):
        existing = set(PrinterProfile.objects.values_list("name", flat=True))
        defaults = set(PrinterProfile.objects.filter(is_default=True).values_list("kind", flat=True))
        for spec in DEFAULT_PROFILES:
            if spec["name"] in existing:
                continue
            values = {key: Decimal(value) if key.endswith("_in") else value for key, value in spec.items()}
            if values.get("is_default") and values["kind"] in defaults:
                values["is_default"] = False
            profile = PrinterProfile(**values)
            profile.full_clean()
            profile.save()
            created.append(profile)
    return created
