"""Where refusal codes come from, for tests/bank/test_refusal_codes.py.

Three sources, each read the same way every run, so a new code cannot slip in untested:

* the contract, ``../shared/API.md``: a backticked snake_case word that follows an HTTP status of a refusal
  (400/403/409/429) in the same sentence, outside parentheses (``(with `missing`)`` names a field);
* the project's code (every ``*.py`` outside tests/, bench/ and migrations/, new apps included): a string
  passed as ``code=`` to any call, the ``code`` field of a dataclass (distribution's review ``Check``),
  ``code``/``default_code`` class attributes, ``{"code": "..."}`` literals and ``x["code"] = "..."``;
* Django REST framework's own exceptions (``not_authenticated``, ``not_found``, ``throttled`` ...), which the
  bank's exception handler answers with their ``code``.
"""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass
from functools import cache
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
API_MD = ROOT.parent / "shared" / "API.md"

CODE = re.compile(r"^[a-z][a-z0-9]*(?:_[a-z0-9]+)*$")
# The regex of ../shared/hooks/before-stop ("every refusal code the code raises is provoked by some test").
HOOK_PATTERN = re.compile(r"code=[\"']([a-z_]+)[\"']")
SKIP_DIRS = {"tests", "bench", "migrations", "staticfiles", "var", "locale", "templates", "node_modules",
             "__pycache__", "site-packages"}


# --- the contract ---------------------------------------------------------------------------------------------

# The codes API.md names today, read by hand (the parser below must find exactly these, so a change of the
# contract or of the parsing rule is seen). Kept here too so the suite still knows the contract's codes when
# the project is checked out without ../shared.
API_MD_CODES = frozenset({
    # core contract
    "no_active_consent", "parent_not_released", "insufficient_space", "quarantine_segregation",
    "position_occupied", "signature_invalid", "segregation_of_duties", "qc_incomplete", "qc_failed",
    "open_deviation", "donor_not_eligible", "consent_withdrawn", "insufficient_stock", "consent_scope",
    "grade_mismatch",
    # "Additions" (issues #8 and later)
    "account_locked", "sensor_not_bound", "export_approval_required", "no_ethics_approval",
    "frequencies_exceed_one", "training_required", "equipment_not_calibrated", "material_not_released",
    "material_expired",
})

_STATUS = re.compile(r"(?<![\d.])(?:400|403|409|429)(?![\d.])")
# A sentence ends at a full stop followed by white space, or at a new list item, heading or paragraph.
_SENTENCE_END = re.compile(r"\.\s|\n\s*- |\n#|\n\s*\n")
_PARENS = re.compile(r"\([^()]*\)")
_BACKTICKED = re.compile(r"`([^`]+)`")


def codes_in_contract(text: str) -> set[str]:
    """Backticked snake_case words after a refusal status, in the same sentence, outside parentheses."""
    found: set[str] = set()
    for status in _STATUS.finditer(text):
        rest = text[status.end():]
        end = _SENTENCE_END.search(rest)
        sentence = rest[: end.start() if end else len(rest)]
        previous = None
        while previous != sentence:
            previous, sentence = sentence, _PARENS.sub(" ", sentence)
        found.update(word for word in _BACKTICKED.findall(sentence) if CODE.match(word))
    return found


@cache
def contract_codes() -> frozenset[str]:
    """The codes of API.md (the reviewed list when ../shared is not beside the project)."""
    if API_MD.exists():
        return frozenset(codes_in_contract(API_MD.read_text(encoding="utf-8"))) | API_MD_CODES
    return API_MD_CODES


# --- the project's code ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Source:
    """One place a code string appears: ``path:line``, how it appears, and the callee (for ``code=``)."""

    where: str
    kind: str  # "kwarg", "field", "class_attr", "dict", "subscript", "text"
    callee: str = ""


def project_files() -> list[Path]:
    files = []
    for path in sorted(ROOT.rglob("*.py")):
        parts = path.relative_to(ROOT).parts
        if any(part in SKIP_DIRS or part.startswith(".") or part.endswith(".egg-info") for part in parts[:-1]):
            continue
        files.append(path)
    return files


def _name(node: ast.AST) -> str:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        return node.attr
    return ""


def _string(node: ast.AST | None) -> str | None:
    if isinstance(node, ast.Constant) and isinstance(node.value, str) and CODE.match(node.value):
        return node.value
    return None


def _code_field_positions(trees: list[ast.Module]) -> dict[str, int]:
    """Classes with a ``code`` field declared in their body (dataclasses): class name -> positional index."""
    positions: dict[str, int] = {}
    for tree in trees:
        for node in ast.walk(tree):
            if isinstance(node, ast.ClassDef):
                fields = [item.target.id for item in node.body
                          if isinstance(item, ast.AnnAssign) and isinstance(item.target, ast.Name)]
                if "code" in fields:
                    positions[node.name] = fields.index("code")
    return positions


@cache
def _parsed() -> tuple[tuple[str, ast.Module], ...]:
    return tuple((str(path.relative_to(ROOT)), ast.parse(path.read_text(encoding="utf-8"), filename=str(path)))
                 for path in project_files())


@cache
def domain_error_names() -> frozenset[str]:
    """``DomainError`` and every class of the project derived from it (by name, to a fixed point)."""
    names = {"DomainError"}
    classes = [node for _path, tree in _parsed() for node in ast.walk(tree) if isinstance(node, ast.ClassDef)]
    grown = True
    while grown:
        grown = False
        for node in classes:
            if node.name not in names and any(_name(base) in names for base in node.bases):
                names.add(node.name)
                grown = True
    return frozenset(names)


@cache
def project_code_sources() -> dict[str, tuple[Source, ...]]:
    """Every code string of the project's code, with where it appears."""
    parsed = _parsed()
    fields = _code_field_positions([tree for _path, tree in parsed])
    found: dict[str, list[Source]] = {}

    def add(code: str | None, where: str, kind: str, callee: str = "") -> None:
        if code:
            found.setdefault(code, []).append(Source(where, kind, callee))

    for path, tree in parsed:
        for node in ast.walk(tree):
            where = f"{path}:{getattr(node, 'lineno', 0)}"
            if isinstance(node, ast.Call):
                callee = _name(node.func)
                for keyword in node.keywords:
                    if keyword.arg == "code":
                        add(_string(keyword.value), where, "kwarg", callee)
                index = fields.get(callee)
                if index is not None and len(node.args) > index:
                    add(_string(node.args[index]), where, "field", callee)
            elif isinstance(node, ast.ClassDef):
                for item in node.body:
                    targets = (item.targets if isinstance(item, ast.Assign)
                               else [item.target] if isinstance(item, ast.AnnAssign) else [])
                    if any(isinstance(t, ast.Name) and t.id in ("code", "default_code") for t in targets):
                        add(_string(item.value), f"{path}:{item.lineno}", "class_attr", node.name)
            elif isinstance(node, ast.Dict):
                for key, value in zip(node.keys, node.values, strict=True):
                    if isinstance(key, ast.Constant) and key.value == "code":
                        add(_string(value), where, "dict")
            elif isinstance(node, ast.Assign):
                for target in node.targets:
                    if (isinstance(target, ast.Subscript) and isinstance(target.slice, ast.Constant)
                            and target.slice.value == "code"):
                        for value in ast.walk(node.value):
                            add(_string(value), where, "subscript")
    # And whatever the before-stop hook's regex sees (a default argument, a lookup such as test__code="..."),
    # so this scan never knows fewer codes than the hook does.
    for path, _tree in parsed:
        text = (ROOT / path).read_text(encoding="utf-8")
        for match in HOOK_PATTERN.finditer(text):
            if match.group(1) not in found:
                add(match.group(1), f"{path}:{text.count(chr(10), 0, match.start()) + 1}", "text")
    return {code: tuple(sources) for code, sources in found.items()}


def project_codes() -> frozenset[str]:
    return frozenset(project_code_sources())


def raised_as_domain_error(code: str) -> list[Source]:
    """The places that pass ``code`` to a DomainError (Conflict, Forbidden, ...): a refusal of the API."""
    names = domain_error_names()
    return [s for s in project_code_sources().get(code, ()) if s.kind == "kwarg" and s.callee in names]


def domain_errors_without_code() -> list[str]:
    """``Conflict(...)``/``Forbidden(...)`` calls that name no ``code`` (they would answer the fallback code)."""
    names = domain_error_names() - {"DomainError"}
    missing = []
    for path, tree in _parsed():
        for node in ast.walk(tree):
            if (isinstance(node, ast.Call) and _name(node.func) in names
                    and not any(k.arg in ("code", None) for k in node.keywords)):
                missing.append(f"{path}:{node.lineno}")
    return missing


# --- Django REST framework ------------------------------------------------------------------------------------


def drf_codes() -> frozenset[str]:
    """The ``default_code`` of every exception class of rest_framework.exceptions."""
    from rest_framework import exceptions

    return frozenset(
        cls.default_code for cls in vars(exceptions).values()
        if isinstance(cls, type) and issubclass(cls, exceptions.APIException)
    )


def throttling_configured() -> bool:
    """True once any API view throttles (then DRF answers 429 ``throttled``)."""
    from django.conf import settings
    from django.urls import URLPattern, URLResolver, get_resolver

    if settings.REST_FRAMEWORK.get("DEFAULT_THROTTLE_CLASSES"):
        return True

    def views(patterns):
        for pattern in patterns:
            if isinstance(pattern, URLResolver):
                yield from views(pattern.url_patterns)
            elif isinstance(pattern, URLPattern):
                callback = pattern.callback
                yield getattr(callback, "cls", None) or getattr(callback, "view_class", None)

    return any(getattr(view, "throttle_classes", None) for view in views(get_resolver().url_patterns))
