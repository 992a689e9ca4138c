"""The issue-17 apps sit downstream of every bench app: ``imports`` (migration imports) writes through lots,
storage and cordblood, and ``labels`` (label pages) reads lots and storage, but no other app imports either — the
label layout engine and printer profiles are bank's own (bank/labels.py, bank/printers.py), and jobs reach their
runners by dotted path (bank/jobs.py)."""

from __future__ import annotations

import ast

import pytest

from tests.bank.test_architecture import ROOT

DOWNSTREAM = ["imports", "labels"]
OTHERS = ["bank", "donors", "lots", "storage", "qc", "distribution", "cordblood", "transplant", "haplobank", "quality"]


def imported_tops(app: str) -> list[tuple[str, int, str]]:
    found = []
    for path in sorted((ROOT / app).rglob("*.py")):
        if "migrations" in path.parts:
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names = [alias.name for alias in node.names] if isinstance(node, ast.Import) else (
                [node.module] if isinstance(node, ast.ImportFrom) and node.module and node.level == 0 else [])
            found += [(str(path.relative_to(ROOT)), node.lineno, name.split(".")[0]) for name in names]
    return found


@pytest.mark.parametrize("app", OTHERS)
def test_no_bench_app_imports_the_downstream_apps(app):
    wrong = [f"{file}:{line} imports {top}" for file, line, top in imported_tops(app) if top in DOWNSTREAM]
    assert not wrong, "\n".join(wrong)


def test_the_downstream_apps_do_not_import_each_other():
    wrong = [f"{file}:{line}" for app in DOWNSTREAM for file, line, top in imported_tops(app)
             if top in DOWNSTREAM and top != app]
    assert not wrong, "\n".join(wrong)
