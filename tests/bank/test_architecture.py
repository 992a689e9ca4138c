"""The shape of the code (ARCHITECTURE.md): apps depend one way, and status sets live in choices.py.

bank ← donors ← lots ← storage ← qc ← distribution ← cordblood ← transplant: an app imports only the apps to
its left. An upstream app
reaches a downstream one through a hook of bank.registry (consent withdrawn → lots and distribution; a thawed
vial → storage; the lot API's QC verdict → qc), never by importing it.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from bank.registry import HOOKS, registry

ROOT = Path(__file__).resolve().parents[2]
LAYERS = ["bank", "donors", "lots", "storage", "qc", "distribution", "cordblood", "transplant"]


def imports_of(app: str, root: Path = ROOT) -> list[tuple[str, int, str]]:
    """``(file, line, imported app)`` for every import of another project app in ``app``'s code."""
    found = []
    for path in sorted((root / app).rglob("*.py")):
        if "migrations" in path.parts:
            continue
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        for node in ast.walk(tree):
            names = []
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                names = [node.module]
            for name in names:
                top = name.split(".")[0]
                if top in LAYERS and top != app:
                    found.append((str(path.relative_to(root)), node.lineno, top))
    return found


@pytest.mark.parametrize("app", LAYERS)
def test_an_app_imports_only_the_apps_it_is_built_on(app):
    allowed = set(LAYERS[:LAYERS.index(app)])
    wrong = [f"{file}:{line} imports {other}" for file, line, other in imports_of(app) if other not in allowed]
    assert not wrong, (f"{app} may import only {sorted(allowed) or 'no other app'}; reach a downstream app through "
                       "a bank.registry hook instead:\n" + "\n".join(wrong))


def test_the_check_sees_imports_inside_functions_too(tmp_path):
    (tmp_path / "donors").mkdir()
    (tmp_path / "donors" / "x.py").write_text("def f():\n    from distribution.services import recall\n")
    assert imports_of("donors", tmp_path) == [("donors/x.py", 2, "distribution")]


def test_every_declared_hook_has_a_receiver():
    """A hook nobody answers is a rule that silently stopped running (e.g. a withdrawal that flags no lot)."""
    answered = {name for name, receivers in registry.hooks.items() if receivers}
    assert set(HOOKS) == answered, f"no receiver for {sorted(set(HOOKS) - answered)}"


def test_an_unknown_hook_is_an_error_not_silence():
    from bank.registry import announce, ask

    with pytest.raises(LookupError):
        announce("consent_withdrawnn", donor=None, actor=None)
    with pytest.raises(LookupError):
        ask("lot_qc_sumary", None)
