"""Template tags shared by every page: signature manifestations, audit links, barcodes."""

from django import template
from django.urls import reverse

from bank.signatures import manifestation, signable_manifest, signatures_for

register = template.Library()


@register.inclusion_tag("bank/partials/signatures.html")
def signatures(record, signature_list=None):
    """The manifestation of every signature on ``record``: printed name, date/time, meaning, and whether it
    still matches the record and what its signer reviewed (the manifest is rebuilt once for the record)."""
    sigs = list(signature_list if signature_list is not None else signatures_for(record))
    extra = {}
    if any(sig.manifest_hash for sig in sigs):
        extra["current_manifest"] = signable_manifest(record)
    return {"signatures": [manifestation(sig, record, **extra) for sig in sigs]}


@register.simple_tag(takes_context=True)
def audit_url(context, record):
    """Link to the audit trail of ``record`` when the user may read it, else ''."""
    from bank.audit import can_read_history

    user = context["request"].user
    model = type(record)
    if not can_read_history(user, model):
        return ""
    return reverse("audit", args=[model._meta.model_name, record.pk])


@register.inclusion_tag("bank/partials/object_panels.html", takes_context=True)
def object_panels(context, obj):
    """Render the sections other apps registered for ``obj``'s page (bank.registry.register_object_panel)."""
    from bank.registry import object_panels_for

    request = context["request"]
    return {"panels": object_panels_for(request, obj), "request": request, "user": request.user,
            "perms": context.get("perms"), "csrf_token": context.get("csrf_token")}


@register.filter
def data(value):
    """Translate seeded reference vocabulary shown as data (test names, outcomes, marker names).

    The seed lists these words with gettext_noop (``qc/vocabulary.py``, ``donors/vocabulary.py``), so the
    catalog has them; a bank's own edited names have no translation and pass through unchanged.
    """
    from django.utils.translation import gettext

    if isinstance(value, str) and value:
        return gettext(value)
    return value


@register.filter
def choice_label(value, choices: str):
    """The translated label of a raw choice value, e.g. ``{{ v.status|choice_label:"lots.choices.VialStatus" }}``
    (map cells carry raw values, not models)."""
    from django.utils.module_loading import import_string

    try:
        return import_string(choices)(value).label
    except (ImportError, ValueError):
        return value


@register.filter
def dict_get(mapping, key):
    return mapping.get(key) if mapping else None
