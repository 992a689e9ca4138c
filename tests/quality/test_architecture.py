"""quality sits downstream of every bench app (bank.registry): it may read them, and none of them may import it —
the bench services reach its gates through the ``activity_gate`` hook."""

from __future__ import annotations

import pytest

from bank.registry import HOOKS, registry
from tests.bank.test_architecture import ROOT, imports_of

UPSTREAM = ["bank", "donors", "lots", "storage", "qc", "distribution", "cordblood", "transplant", "haplobank"]
ALLOWED = {"bank", "donors", "lots", "storage", "qc", "distribution"}


def quality_imports(app: str) -> list[str]:
    found = []
    for path in sorted((ROOT / app).rglob("*.py")):
        if "migrations" in path.parts:
            continue
        text = path.read_text(encoding="utf-8")
        if "import quality" in text or "from quality" in text:
            found.append(str(path.relative_to(ROOT)))
    return found


@pytest.mark.parametrize("app", UPSTREAM)
def test_no_other_app_imports_quality(app):
    assert quality_imports(app) == [], f"{app} must not import quality (it is downstream)"


def test_quality_imports_only_the_apps_it_is_built_on():
    wrong = [f"{file}:{line} imports {other}" for file, line, other in imports_of("quality") if other not in ALLOWED]
    assert not wrong, "\n".join(wrong)


def test_the_gate_is_a_declared_hook_with_the_quality_receiver():
    from quality.gates import on_activity

    assert "activity_gate" in HOOKS
    assert on_activity in [receiver for _order, receiver in registry.hooks["activity_gate"]]


@pytest.mark.parametrize("path,activity", [
    ("donors/services/collections.py", "collection_receipt"), ("lots/services.py", "passage"),
    ("lots/services.py", "freeze"), ("lots/services.py", "thaw"), ("qc/services/results.py", "qc_result"),
    ("storage/services/placement.py", "storage_move"), ("distribution/services.py", "ship")])
def test_each_governed_activity_announces_the_gate(path, activity):
    text = (ROOT / path).read_text(encoding="utf-8")
    assert f'announce("activity_gate", activity="{activity}"' in text
