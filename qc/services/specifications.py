"""Versioned QC specifications: publishing the next version of a cell type and tier's criteria."""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils.translation import gettext as _

from bank.audit import acting
from bank.errors import Conflict
from lots.choices import ReprogrammingMethod, Tier
from qc.choices import TestKind
from qc.models import Criterion, QCTest, Specification

from ._common import _decimal, _require_perm

# --- specifications ------------------------------------------------------------------------------


def _clean_criteria(criteria: list[dict]) -> list[dict]:
    tests = {t.code: t for t in QCTest.objects.all()}
    methods = {m for m in ReprogrammingMethod.values if m}
    errors: list[str] = []
    seen: set[str] = set()
    cleaned = []
    if not criteria:
        raise ValidationError({"criteria": [_("A specification needs at least one criterion.")]})
    for index, row in enumerate(criteria, start=1):
        code = str(row.get("test") or "").strip()
        test = tests.get(code)
        where = _("criterion %(n)s (%(test)s)") % {"n": index, "test": code or "—"}
        if test is None:
            errors.append(_("%(where)s: unknown test code. Use one of: %(codes)s.")
                          % {"where": where, "codes": ", ".join(tests)})
            continue
        if code in seen:
            errors.append(_("%(where)s: the test is listed twice.") % {"where": where})
            continue
        seen.add(code)
        row_errors: dict = {}
        low = _decimal(row.get("min"), "min", row_errors)
        high = _decimal(row.get("max"), "max", row_errors)
        expected = str(row.get("expected") or "").strip()
        only_for = str(row.get("only_for_reprogramming") or "").strip()
        if row_errors:
            errors.append(_("%(where)s: minimum and maximum must be numbers.") % {"where": where})
            continue
        if test.kind == TestKind.NUMERIC:
            if expected:
                errors.append(_("%(where)s: a numeric test takes a minimum and/or maximum, not an expected outcome.")
                              % {"where": where})
            if low is None and high is None:
                errors.append(_("%(where)s: give a minimum, a maximum or both.") % {"where": where})
            if low is not None and high is not None and low > high:
                errors.append(_("%(where)s: the minimum is above the maximum.") % {"where": where})
        else:
            if low is not None or high is not None:
                errors.append(_("%(where)s: an outcome test takes an expected outcome, not limits.")
                              % {"where": where})
            if expected not in (test.outcomes or []):
                errors.append(_("%(where)s: the expected outcome must be one of: %(outcomes)s.")
                              % {"where": where, "outcomes": ", ".join(test.outcomes or [])})
        if only_for and only_for not in methods:
            errors.append(_("%(where)s: unknown reprogramming method %(method)s.")
                          % {"where": where, "method": only_for})
        cleaned.append({
            "test": test, "min_value": low, "max_value": high, "expected": expected,
            "unit": (str(row.get("unit") or "").strip() or test.unit)[:30] if test.kind == TestKind.NUMERIC else "",
            "blocking": bool(row.get("blocking", True)), "only_for_reprogramming": only_for,
        })
    if errors:
        raise ValidationError({"criteria": errors})
    return cleaned


def publish_specification(*, actor, cell_type: str, tier: str, criteria: list[dict], notes: str = "") -> Specification:
    """Publish the next version of a cell type and tier's specification (old versions stay and keep
    judging the lots whose first result was entered under them)."""
    _require_perm(actor, "qc.add_specification")
    from lots.choices import CellType

    errors = {}
    if cell_type not in CellType.values:
        errors["cell_type"] = [_("Unknown cell type. Use one of: %(choices)s.")
                               % {"choices": ", ".join(CellType.values)}]
    if tier not in Tier.values:
        errors["tier"] = [_("Unknown tier. Use one of: %(choices)s.") % {"choices": ", ".join(Tier.values)}]
    if errors:
        raise ValidationError(errors)
    cleaned = _clean_criteria(criteria)
    with transaction.atomic(), acting(actor, _("specification published")):
        current = list(
            Specification.objects.select_for_update().filter(cell_type=cell_type, tier=tier).order_by("-version")[:1]
        )
        version = current[0].version + 1 if current else 1
        try:
            with transaction.atomic():
                spec = Specification.objects.create(cell_type=cell_type, tier=tier, version=version,
                                                    published_by=actor, notes=notes or "")
        except IntegrityError:
            raise Conflict(_("Another version was published at the same moment; reload and try again."),
                           code="version_conflict")
        for row in cleaned:
            Criterion.objects.create(specification=spec, **row)
    return spec
