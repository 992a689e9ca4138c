"""Consent: recording a signed consent (or re-consent) and its withdrawal (``Withdrawal``), which
announces ``consent_withdrawn`` so the apps built on donors flag and recall what was derived."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from bank.audit import acting
from bank.errors import Conflict
from bank.registry import announce
from donors.choices import ConsentScope
from donors.models import Consent, Donor

from ._input import _as_date, _Errors, _not_future_date, _require_reason, _text

# --- consent ----------------------------------------------------------------------------------


def _clean_scopes(scopes: Any, errors: _Errors) -> list[str]:
    if isinstance(scopes, str):
        scopes = [s for s in re.split(r"[;,|\s]+", scopes) if s]
    if not isinstance(scopes, list | tuple | set) or not scopes:
        errors.add("scopes", _("Choose at least one consent scope."))
        return []
    values = [_text(s).lower() for s in scopes]
    unknown = [v for v in values if v not in ConsentScope.values]
    if unknown:
        errors.add("scopes", _("Unknown scope %(scopes)s; use: %(choices)s.") % {
            "scopes": ", ".join(unknown), "choices": ", ".join(ConsentScope.values)})
        return []
    return [v for v in ConsentScope.values if v in values]


def _clean_consent(data: Mapping[str, Any], errors: _Errors) -> dict[str, Any]:
    form_version = _text(data.get("form_version"))
    if not form_version:
        errors.add("form_version", _("Enter the version of the consent form the donor signed."))
    elif len(form_version) > 40:
        errors.add("form_version", _("Keep the form version under 40 characters."))
    signed_on = _as_date(data.get("signed_on"), "signed_on", errors)
    _not_future_date(signed_on, "signed_on", errors, _("The signing date"))
    scopes = _clean_scopes(data.get("scopes"), errors)
    return {"form_version": form_version, "signed_on": signed_on, "scopes": scopes}


def _withdrawn_conflict(donor: Donor) -> Conflict:
    return Conflict(
        _("Donor %(code)s withdrew consent on %(date)s. Nothing can be recorded under a consent any more.") % {
            "code": donor.code, "date": timezone.localtime(donor.consent_withdrawn_at).date().isoformat()},
        code="consent_withdrawn",
    )


def record_consent(donor: Donor, *, actor, form_version: str, signed_on: Any, scopes: Iterable[str],
                   reason: str = "") -> Consent:
    """Record a signed consent (or a re-consent) with its scopes; refused once the donor withdrew."""
    errors = _Errors()
    cleaned = _clean_consent({"form_version": form_version, "signed_on": signed_on,
                              "scopes": list(scopes) if not isinstance(scopes, str) else scopes}, errors)
    errors.raise_if_any()
    with transaction.atomic(), acting(actor, reason or _("consent recorded")):
        locked = Donor.objects.select_for_update().get(pk=donor.pk)
        if locked.consent_withdrawn_at is not None:
            raise _withdrawn_conflict(locked)
        return Consent.objects.create(donor=locked, recorded_by=actor, **cleaned)


@dataclass
class Withdrawal:
    """What a consent withdrawal did: the consents closed and every lot derived from the donor."""

    donor: Donor
    consent: Consent
    withdrawn_consents: list[Consent]
    # What the apps built on donors did (bank.registry hook ``consent_withdrawn``): the lots app flags every
    # derived lot (``affected_lots``); distribution lists and tells every recipient (``distribution_recall``).
    effects: dict = field(default_factory=dict)
    notified: list = field(default_factory=list)

    @property
    def affected_lots(self) -> list:
        return self.effects.get("affected_lots", [])

    @property
    def distribution_recall(self):
        return self.effects.get("distribution_recall")


def withdraw_consent(consent: Consent, *, actor, reason: str) -> Withdrawal:
    """The donor withdraws consent: close every consent, flag every derived lot, never delete anything.

    From then ``Donor.consent_withdrawn_at`` is set and release and distribution of anything derived
    are refused (qc/distribution read it). The apps built on donors act through the ``consent_withdrawn``
    hook inside this transaction, so a withdrawal, its flags and its recall list commit together.
    """
    reason = _require_reason(reason)
    with transaction.atomic(), acting(actor, reason):
        donor = Donor.objects.select_for_update().get(pk=consent.donor_id)
        consents = list(Consent.objects.select_for_update().filter(donor=donor).order_by("pk"))
        target = next(c for c in consents if c.pk == consent.pk)
        if target.withdrawn_at is not None:
            raise Conflict(
                _("This consent was already withdrawn on %(date)s.") % {
                    "date": timezone.localtime(target.withdrawn_at).date().isoformat()},
                code="already_withdrawn",
            )
        now = timezone.now()
        closed = []
        for item in consents:
            if item.withdrawn_at is None:
                item.withdrawn_at, item.withdrawn_by, item.withdrawal_reason = now, actor, reason
                item.save(update_fields=["withdrawn_at", "withdrawn_by", "withdrawal_reason"])
                closed.append(item)
        if donor.consent_withdrawn_at is None:
            donor.consent_withdrawn_at = now
            donor.save(update_fields=["consent_withdrawn_at"])
        effects = announce("consent_withdrawn", donor=donor, actor=actor, reason=reason)
        notified = _notify_withdrawal(donor, effects.get("affected_lots", []))
    consent.refresh_from_db()
    return Withdrawal(donor=donor, consent=target, withdrawn_consents=closed, effects=effects, notified=notified)


def _notify_withdrawal(donor: Donor, lots: list) -> list:
    from django.urls import reverse

    from bank.notifications import notify_role
    from bank.roles import QA

    numbers = ", ".join(lot.lot_number for lot in lots[:20]) + (" …" if len(lots) > 20 else "")
    body = (_("Donor %(code)s withdrew consent. Flagged lots: %(lots)s. Nothing derived may be released or "
              "distributed.") % {"code": donor.code, "lots": numbers}
            if lots else _("Donor %(code)s withdrew consent. No lot has been derived from this donor.") % {
                "code": donor.code})
    return notify_role(QA, subject=_("Consent withdrawn: donor %(code)s (%(n)s lots flagged)") % {
        "code": donor.code, "n": len(lots)}, body=body, link=reverse("donors:detail", args=[donor.pk]),
        level="warning")
