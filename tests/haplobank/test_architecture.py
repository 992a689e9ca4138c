"""haplobank sits downstream of donors, lots, qc, distribution and cordblood (bank.registry): it may read them, and
none of them — nor transplant — may import it."""

from __future__ import annotations

import pytest

from tests.bank.test_architecture import ROOT, imports_of

UPSTREAM = ["bank", "donors", "lots", "storage", "qc", "distribution", "cordblood", "transplant"]
ALLOWED = {"bank", "donors", "lots", "storage", "qc", "distribution", "cordblood"}


def haplobank_imports(app: str) -> list[str]:
    found = []
    for path in sorted((ROOT / app).rglob("*.py")):
        if "migrations" in path.parts:
            continue
        text = path.read_text(encoding="utf-8")
        if "import haplobank" in text or "from haplobank" in text:
            found.append(str(path.relative_to(ROOT)))
    return found


@pytest.mark.parametrize("app", UPSTREAM)
def test_no_other_app_imports_haplobank(app):
    assert haplobank_imports(app) == [], f"{app} must not import haplobank (it is downstream)"


def test_haplobank_imports_only_the_apps_it_is_built_on():
    wrong = [f"{file}:{line} imports {other}" for file, line, other in imports_of("haplobank")
             if other not in ALLOWED]
    assert not wrong, "\n".join(wrong)
