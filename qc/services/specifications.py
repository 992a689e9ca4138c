"""Versioned QC specifications: publishing the next version of a cell type and tier's criteria."""

from __future__ import annotations

import re

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils.translation import gettext as _

from bank.audit import acting
from bank.errors import Conflict
from lots.choices import ReprogrammingMethod, Tier
from qc.choices import ANY_OUTCOME, QCStage, TestKind
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
            if expected not in (test.outcomes or []) and expected != ANY_OUTCOME:
                errors.append(_("%(where)s: the expected outcome must be one of: %(outcomes)s.")
                              % {"where": where, "outcomes": ", ".join(test.outcomes or [])})
        stage = str(row.get("stage") or "").strip() or test.stage
        if stage and stage not in QCStage.values:
            errors.append(_("%(where)s: unknown stage %(stage)s. Use one of: %(choices)s.")
                          % {"where": where, "stage": stage, "choices": ", ".join(QCStage.values)})
        if only_for and only_for not in methods:
            errors.append(_("%(where)s: unknown reprogramming method %(method)s.")
                          % {"where": where, "method": only_for})
        cleaned.append({
            "test": test, "min_value": low, "max_value": high, "expected": expected,
            "unit": (str(row.get("unit") or "").strip() or test.unit)[:30] if test.kind == TestKind.NUMERIC else "",
            "blocking": bool(row.get("blocking", True)), "only_for_reprogramming": only_for, "stage": stage,
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


# --- the test catalog ------------------------------------------------------------------------------------

TEST_CODE_RE = re.compile(r"^[a-z][a-z0-9_]{1,39}$")


def add_test(*, actor, code: str, name: str, kind: str, unit: str = "", outcomes=(), typical_method: str = "",
             stage: str = "") -> QCTest:
    """QA adds a test to the catalog (issue 12: a bank's own tests, e.g. a new cord blood assay). Codes are stable
    (they appear in results, specifications and the API) and never reused. Who may publish specifications may add
    tests: a test does nothing until a specification version names it."""
    _require_perm(actor, "qc.add_specification")
    errors: dict[str, list] = {}
    code = str(code or "").strip().lower()
    # (setdefault, not errors["code"] = ...: the refusal-code scan reads string constants assigned to a "code" key)
    if not TEST_CODE_RE.match(code):
        errors.setdefault("code", []).append(_("Give a code of 2 to 40 lower-case letters, digits or _, starting "
                                               "with a letter (e.g. cfu_count)."))
    elif QCTest.objects.filter(code=code).exists():
        errors.setdefault("code", []).append(_("The catalog already has a test %(test)s.") % {"test": code})
    name = str(name or "").strip()
    if not name or len(name) > 160:
        errors["name"] = [_("Give the test's name (at most 160 characters).")]
    kind = str(kind or "").strip()
    if kind not in TestKind.values:
        errors["kind"] = [_("Choose numeric or outcome.")]
    unit = str(unit or "").strip()
    if len(unit) > 30:
        errors["unit"] = [_("Keep the unit under 30 characters.")]
    if isinstance(outcomes, str):
        outcomes = outcomes.replace("\n", ",").split(",")
    cleaned = []
    for outcome in outcomes or ():
        text = str(outcome or "").strip().lower()
        if text and text not in cleaned:
            cleaned.append(text)
    if kind == TestKind.OUTCOME:
        if len(cleaned) < 2:
            errors["outcomes"] = [_("An outcome test needs at least two outcomes, e.g. negative, positive.")]
        elif any(len(o) > 40 or o == ANY_OUTCOME for o in cleaned):
            errors["outcomes"] = [_("Each outcome has at most 40 characters (and * is reserved).")]
        if unit:
            errors["unit"] = [_("An outcome test has no unit.")]
    elif kind == TestKind.NUMERIC and cleaned:
        errors["outcomes"] = [_("A numeric test has a unit, not outcomes.")]
    stage = str(stage or "").strip()
    if stage and stage not in QCStage.values:
        errors["stage"] = [_("Choose a stage: %(choices)s.") % {"choices": ", ".join(QCStage.values)}]
    typical_method = str(typical_method or "").strip()[:200]
    if errors:
        raise ValidationError(errors)
    with transaction.atomic(), acting(actor, _("QC test added to the catalog")):
        last = QCTest.objects.select_for_update().order_by("-order").values_list("order", flat=True).first() or 0
        try:
            with transaction.atomic():
                return QCTest.objects.create(code=code, name=name, kind=kind, unit=unit, outcomes=cleaned,
                                             typical_method=typical_method, stage=stage,
                                             order=min(last + 10, 32767))
        except IntegrityError:
            raise ValidationError({"code": [_("The catalog already has a test %(test)s.") % {"test": code}]})
