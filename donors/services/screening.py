"""Infectious-disease screening: samples and marker results, corrections (never overwrites), the
marker panel and the sampling windows around a collection."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils.translation import gettext as _

from bank.audit import acting, bulk_create_audited
from bank.errors import Conflict
from donors.choices import MATERNAL_TISSUES, ScreeningOutcome, Tissue
from donors.models import Donor, Screening, ScreeningMarker, ScreeningResult, ScreeningWindow

from ._input import _as_date, _Errors, _not_future_date, _require_reason, _text

# --- screening ----------------------------------------------------------------------------------


def _result_pairs(results: Any, known: set[str], errors: _Errors) -> list[tuple[str, str]]:
    """[(marker, result)] from [{"marker","result"}] or {marker: result}; blank results are skipped."""
    if isinstance(results, Mapping):
        items = list(results.items())
    elif isinstance(results, list | tuple):
        items = []
        for entry in results:
            if isinstance(entry, Mapping):
                items.append((entry.get("marker"), entry.get("result")))
            elif isinstance(entry, list | tuple) and len(entry) == 2:
                items.append((entry[0], entry[1]))
            else:
                errors.add("results", _("Each result needs a marker and a result."))
                return []
    else:
        errors.add("results", _("Give the results as a list of {marker, result}."))
        return []
    pairs, seen = [], set()
    for raw_marker, raw_result in items:
        marker, outcome = _text(raw_marker).lower(), _text(raw_result).lower()
        if not outcome:
            continue
        if marker not in known:
            errors.add("results", _("Unknown marker “%(marker)s”. Use one of: %(codes)s.") % {
                "marker": _text(raw_marker) or "—", "codes": ", ".join(sorted(known))})
            continue
        if outcome not in ScreeningOutcome.values:
            errors.add("results", _("%(marker)s: “%(result)s” is not a result; use negative, positive or "
                                    "indeterminate.") % {"marker": marker, "result": _text(raw_result)})
            continue
        if marker in seen:
            errors.add("results", _("%(marker)s is given twice; give each marker once per sample.") % {
                "marker": marker})
            continue
        seen.add(marker)
        pairs.append((marker, outcome))
    if not pairs and "results" not in errors.by_field:
        errors.add("results", _("Enter at least one marker result."))
    return pairs


def default_maternal_sample(donor: Donor) -> bool:
    """A cord blood, cord or placenta donor is screened through the birth mother's sample."""
    latest = donor.collections.order_by("-collected_at", "-id").first()
    return latest is not None and latest.tissue in MATERNAL_TISSUES


def record_screening(donor: Donor, *, actor, sample_drawn_on: Any, results: Any, maternal_sample: bool | None = None,
                     laboratory: str = "") -> Screening:
    """Record one screening sample and its marker results. Earlier results are never touched."""
    errors = _Errors()
    drawn = _as_date(sample_drawn_on, "sample_drawn_on", errors)
    _not_future_date(drawn, "sample_drawn_on", errors, _("The sample date"))
    laboratory = _text(laboratory)
    if len(laboratory) > 200:
        errors.add("laboratory", _("Keep the laboratory under 200 characters."))
    known = set(ScreeningMarker.objects.values_list("code", flat=True))
    pairs = _result_pairs(results, known, errors)
    errors.raise_if_any()
    with transaction.atomic(), acting(actor, _("screening recorded")):
        locked = Donor.objects.select_for_update().get(pk=donor.pk)
        if maternal_sample is None:
            maternal_sample = default_maternal_sample(locked)
        screening = Screening.objects.create(donor=locked, sample_drawn_on=drawn, maternal_sample=bool(maternal_sample),
                                             laboratory=laboratory, recorded_by=actor)
        bulk_create_audited(ScreeningResult, [
            ScreeningResult(screening=screening, marker=marker, result=outcome, recorded_by=actor)
            for marker, outcome in pairs
        ])
        positives = [marker for marker, outcome in pairs if outcome == ScreeningOutcome.POSITIVE]
        if positives:
            _notify_screening(locked, _("Positive screening result for donor %(code)s: %(markers)s") % {
                "code": locked.code, "markers": ", ".join(positives)})
    return screening


def correct_result(original: ScreeningResult, *, actor, result: str, reason: str) -> ScreeningResult:
    """Correct a result by adding a new one that names it and gives the reason; the original stays."""
    errors = _Errors()
    reason = _require_reason(reason, errors)
    outcome = _text(result).lower()
    if outcome not in ScreeningOutcome.values:
        errors.add("result", _("Choose negative, positive or indeterminate."))
    errors.raise_if_any()
    with transaction.atomic(), acting(actor, reason):
        locked = ScreeningResult.objects.select_for_update().select_related("screening__donor").get(pk=original.pk)
        newer = ScreeningResult.objects.filter(corrects=locked).first()
        if newer is not None:
            raise Conflict(
                _("This result was already corrected (result #%(id)s); correct the newest result instead.") % {
                    "id": newer.pk},
                code="already_corrected", corrected_by=newer.pk,
            )
        if locked.result == outcome:
            raise ValidationError({"result": [_("The correction must change the result; it is already %(r)s.") % {
                "r": ScreeningOutcome(outcome).label}]})
        correction = ScreeningResult.objects.create(
            screening=locked.screening, marker=locked.marker, result=outcome, corrects=locked,
            correction_reason=reason, recorded_by=actor,
        )
        donor = locked.screening.donor
        if ScreeningOutcome.POSITIVE in (locked.result, outcome):
            subject = _("Screening result corrected for donor %(code)s: %(marker)s %(old)s → %(new)s") % {
                "code": donor.code, "marker": locked.marker, "old": locked.result, "new": outcome}
            _notify_screening(donor, subject)
    return correction


def _notify_screening(donor: Donor, subject: str) -> None:
    from django.urls import reverse

    from bank.notifications import notify_role
    from bank.roles import COORDINATOR, QA

    notify_role(QA, COORDINATOR, subject=subject, link=reverse("donors:detail", args=[donor.pk]) + "?tab=screening",
                level="warning")


def configure_marker(marker: ScreeningMarker, *, actor, required: bool, tissues: Iterable[str], reason: str,
                     name: str | None = None) -> ScreeningMarker:
    """Change whether a marker is part of the required panel and for which tissues ([] = all)."""
    errors = _Errors()
    reason = _require_reason(reason, errors)
    tissues = sorted({_text(t) for t in tissues if _text(t)})
    unknown = [t for t in tissues if t not in Tissue.values]
    if unknown:
        errors.add("tissues", _("Unknown tissue %(t)s.") % {"t": ", ".join(unknown)})
    if name is not None and not _text(name):
        errors.add("name", _("Enter the marker's name."))
    errors.raise_if_any()
    with transaction.atomic(), acting(actor, reason):
        locked = ScreeningMarker.objects.select_for_update().get(pk=marker.pk)
        locked.required, locked.tissues = bool(required), tissues
        fields = ["required", "tissues"]
        if name is not None:
            locked.name = _text(name)
            fields.append("name")
        locked.save(update_fields=fields)
    return locked


MARKER_CODE_RE = re.compile(r"^[a-z][a-z0-9_]{1,29}$")


def add_marker(*, actor, code: str, name: str, required: bool = True, tissues: Iterable[str] = (),
               reason: str = "") -> ScreeningMarker:
    """Add a marker to what the bank records (and, when ``required``, to the panel)."""
    errors = _Errors()
    code = _text(code).lower()
    if not MARKER_CODE_RE.match(code):
        errors.add("code", _("A marker code is 2–30 lower-case letters, digits or underscores, e.g. zika_nat."))
    elif ScreeningMarker.objects.filter(code=code).exists():
        errors.add("code", _("This marker is already on the panel."))
    if not _text(name):
        errors.add("name", _("Enter the marker's name."))
    tissues = sorted({_text(t) for t in tissues if _text(t)})
    if any(t not in Tissue.values for t in tissues):
        errors.add("tissues", _("Unknown tissue."))
    errors.raise_if_any()
    with transaction.atomic(), acting(actor, reason or _("screening marker added")):
        last = ScreeningMarker.objects.order_by("-order").values_list("order", flat=True).first() or 0
        return ScreeningMarker.objects.create(code=code, name=_text(name), required=bool(required), tissues=tissues,
                                              order=last + 10)


def configure_window(tissue: str, *, actor, days_before: Any, days_after: Any, reason: str) -> ScreeningWindow:
    """Set how many days before/after a collection of ``tissue`` ('' = default) a sample may be drawn."""
    errors = _Errors()
    reason = _require_reason(reason, errors)
    tissue = _text(tissue)
    if tissue and tissue not in Tissue.values:
        errors.add("tissue", _("Unknown tissue."))
    values = {}
    for name, raw in (("days_before", days_before), ("days_after", days_after)):
        try:
            values[name] = int(raw)
        except (TypeError, ValueError):
            errors.add(name, _("Enter a whole number of days."))
            continue
        if not 0 <= values[name] <= 365:
            errors.add(name, _("Enter 0 to 365 days."))
    errors.raise_if_any()
    with transaction.atomic(), acting(actor, reason):
        window, _created = ScreeningWindow.objects.select_for_update().get_or_create(tissue=tissue, defaults=values)
        if not _created:
            window.days_before, window.days_after = values["days_before"], values["days_after"]
            window.save(update_fields=["days_before", "days_after"])
    return window
