"""Reads of the imports app shared by its pages and its list export."""

from __future__ import annotations

from imports.models import ImportRun


def visible_runs(user):
    """Imports the user may see: their own, or everyone's for those who may import every kind (admins)."""
    qs = ImportRun.objects.select_related("user", "released_signed_by").order_by("-created_at", "-id")
    if not (user.has_perm("imports.import_inventory") and user.has_perm("imports.import_cordblood")):
        qs = qs.filter(user=user)
    return qs
