"""Collection sites (maternity hospitals) and their trained collectors."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils.translation import gettext as _

from bank.audit import acting, save_changed
from cordblood.models import CollectionSite, Collector

from ._common import _as_date, _Errors, _text


def _clean_site(data: dict[str, Any], errors: _Errors) -> dict[str, Any]:
    cleaned: dict[str, Any] = {}
    if "code" in data:
        site_code = _text(data.get("code")).upper()
        cleaned["code"] = site_code
        if not site_code or len(site_code) > 20:
            errors.add("code", _("Enter a code of up to 20 characters, e.g. HOSP-01."))
    if "name" in data:
        cleaned["name"] = _text(data["name"])
        if not cleaned["name"] or len(cleaned["name"]) > 200:
            errors.add("name", _("Enter the hospital's name (up to 200 characters)."))
    if "city" in data:
        cleaned["city"] = _text(data["city"])[:100]
    if "agreement_until" in data:
        cleaned["agreement_until"] = _as_date(data["agreement_until"], "agreement_until", errors, required=False)
    if "active" in data:
        cleaned["active"] = bool(data["active"])
    return cleaned


def create_site(*, actor, code: str, name: str, city: str = "", agreement_until: Any = None) -> CollectionSite:
    errors = _Errors()
    cleaned = _clean_site({"code": code, "name": name, "city": city, "agreement_until": agreement_until}, errors)
    if "code" not in errors.by_field and CollectionSite.objects.filter(code=cleaned["code"]).exists():
        errors.add("code", _("A site with this code exists already."))
    errors.raise_if_any()
    try:
        with transaction.atomic(), acting(actor, _("collection site added")):
            return CollectionSite.objects.create(**cleaned)
    except IntegrityError:  # another request took the code between the check and the insert
        raise ValidationError({"code": [_("A site with this code exists already.")]}) from None


def update_site(site: CollectionSite, *, actor, reason: str = "", **changes: Any) -> CollectionSite:
    errors = _Errors()
    cleaned = _clean_site({k: v for k, v in changes.items() if k in ("name", "city", "agreement_until", "active")},
                          errors)
    errors.raise_if_any()
    with transaction.atomic(), acting(actor, reason or _("collection site changed")):
        locked = CollectionSite.objects.select_for_update().get(pk=site.pk)
        save_changed(locked, cleaned)
    return locked


def add_collector(site: CollectionSite, *, actor, name: str, trained_on: Any = None) -> Collector:
    errors = _Errors()
    name = _text(name)
    if not name or len(name) > 120:
        errors.add("name", _("Enter the collector's name (up to 120 characters)."))
    trained = _as_date(trained_on, "trained_on", errors, required=False)
    errors.raise_if_any()
    with transaction.atomic(), acting(actor, _("collector added")):
        return Collector.objects.create(site=site, name=name, trained_on=trained)


def set_collector_active(collector: Collector, *, actor, active: bool) -> Collector:
    with transaction.atomic(), acting(actor, _("collector activated") if active else _("collector retired")):
        locked = Collector.objects.select_for_update().get(pk=collector.pk)
        save_changed(locked, {"active": bool(active)})
    return locked
