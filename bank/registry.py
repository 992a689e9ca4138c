"""What each app contributes to the shared pages (navigation, scan resolvers, dashboard panels) and the
hooks through which an upstream app reaches the apps built on it.

Apps register in ``AppConfig.ready()``; the base layout, the header scan field and the dashboard
read from here, so no bank-wide template has to know every app.

Apps depend one way: bank ← donors ← lots ← storage ← qc ← distribution ← cordblood ← transplant (an app
imports only those to its left); haplobank sits beside transplant, after cordblood: it reads donors, lots, qc,
distribution and cordblood, and none of them (nor transplant) imports it. When an upstream app must reach a
downstream one — a consent withdrawal must flag lots and recall shipments, a thawed vial must leave its box, the
lot API shows QC's verdict — it calls a **hook** named in ``HOOKS``; the downstream app registers its receiver in
``ready()``. ``announce`` calls every receiver and merges what they return; ``ask`` returns the first answer.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from django.urls import reverse


@dataclass(frozen=True)
class NavItem:
    key: str
    label: object  # a lazy translation
    url_name: str
    perms: tuple[str, ...] = ()
    roles: tuple[str, ...] = ()
    order: int = 100


@dataclass(frozen=True)
class DashboardPanel:
    key: str
    template: str
    context: Callable  # (request) -> dict | None ; None hides the panel
    perms: tuple[str, ...] = ()
    order: int = 100


@dataclass(frozen=True)
class ObjectPanel:
    """A section another app adds to a record's page (e.g. QC and release on the lot page)."""

    key: str
    template: str
    context: Callable  # (request, obj) -> dict | None ; None hides the panel
    perms: tuple[str, ...] = ()
    order: int = 100


@dataclass
class _Registry:
    nav: dict[str, NavItem] = field(default_factory=dict)
    scanners: list[tuple[int, Callable]] = field(default_factory=list)
    panels: dict[str, DashboardPanel] = field(default_factory=dict)
    object_panels: dict[str, dict[str, ObjectPanel]] = field(default_factory=dict)
    hooks: dict[str, list[tuple[int, Callable]]] = field(default_factory=dict)


# Every hook, who calls it and with what. A receiver of an ``announce`` hook returns a dict (or None) that is
# merged into the caller's result; a receiver of an ``ask`` hook returns its answer (None: not mine).
HOOKS = {
    "consent_withdrawn": "donors announces (donor, actor, reason) inside the withdrawal's transaction; lots "
                         "returns {'affected_lots'}, distribution {'distribution_recall'}",
    "derived_lots": "donors asks (donor) for the lots derived from a donor, with vial counts (lots answers)",
    "vials_consumed": "lots announces (vials, actor, reason) when vials are thawed out of storage; storage takes "
                      "them out of their positions with a chain-of-custody record",
    "lot_qc_summary": "lots asks (lot) for the QC verdict shown by GET /lots/{id}/ (qc answers)",
    "release_blockers": "qc announces (lots) when it weighs lots' release (the release, lifting a hold, the review "
                        "page, the signature manifest); a receiver returns {lot id: [DomainError, ...]} for the lots "
                        "it forbids (cordblood: a discordant verification typing, 409 hla_discordant). A receiver "
                        "must run no query for lots that are not its own, so list pages keep their query counts",
    "lot_recalled": "distribution announces (recall, lot_ids, actor) inside a recall's transaction (a lot recall or a "
                    "consent withdrawal), after listing its own recipients; a receiver lists and tells the recipients "
                    "it alone knows (transplant: the centres whose patients received a bag of these lots) and "
                    "returns {'look_back': [...]}",
    "collection_deviation": "donors announces (collection, summary, actor) inside the transaction that found a "
                            "collection's transport outside its tissue's limits (receipt or custody hand-over); qc "
                            "opens a deviation on the collection, tells QA and returns {'deviation'}",
    "lines_under_approvals": "donors asks (approval_ids, limit) for the cell lines derived from collections citing "
                             "these (lapsed) ethics approvals: {'lines': [at most limit], 'count': n or None past "
                             "limit, 'by_approval': {approval id: n}} (lots answers; bounded, indexed queries)",
    "demo_release_master": "lots' demo step asks (label, lot, ctx) to QC and release an MCB before its WCBs "
                           "are frozen (qc answers)",
    "activity_gate": "issue 16: donors (collection_receipt), lots (passage, freeze, thaw), qc (qc_result), storage "
                     "(storage_move) and distribution (ship) announce (activity, actor, on, subject, instrument, "
                     "materials, room) once inside the activity's transaction, after its record exists; quality raises "
                     "409 training_required, equipment_not_calibrated, material_not_released or material_expired "
                     "(400 for an unknown instrument or material) and records what was cited",
}


def _hook(name: str) -> list[tuple[int, Callable]]:
    if name not in HOOKS:
        raise LookupError(f"unknown hook {name!r}; declare it in bank.registry.HOOKS")
    return registry.hooks.setdefault(name, [])


def register_hook(name: str, receiver: Callable, *, order: int = 100) -> None:
    """Receive hook ``name`` (an app's ``ready()`` registers; registering twice is harmless)."""
    receivers = _hook(name)
    if receiver not in [r for _, r in receivers]:
        receivers.append((order, receiver))
        receivers.sort(key=lambda item: item[0])


def announce(name: str, /, **kwargs) -> dict:
    """Tell every receiver of ``name`` (in order); the dicts they return are merged (anything else is ignored)."""
    merged: dict = {}
    for _order, receiver in _hook(name):
        result = receiver(**kwargs)
        if isinstance(result, dict):
            merged.update(result)
    return merged


def ask(name: str, /, *args, **kwargs):
    """The first receiver's answer to ``name`` (None when no receiver answers)."""
    for _order, receiver in _hook(name):
        answer = receiver(*args, **kwargs)
        if answer is not None:
            return answer
    return None


registry = _Registry()


def register_nav(key: str, label, url_name: str, *, perms=(), roles=(), order: int = 100) -> None:
    registry.nav[key] = NavItem(key, label, url_name, tuple(perms), tuple(roles), order)


def register_scanner(resolver: Callable, order: int = 100) -> None:
    """``resolver(code, user) -> url | None``: the first resolver that knows the code wins."""
    if resolver not in [r for _, r in registry.scanners]:
        registry.scanners.append((order, resolver))
        registry.scanners.sort(key=lambda item: item[0])


def register_panel(key: str, template: str, context: Callable, *, perms=(), order: int = 100) -> None:
    registry.panels[key] = DashboardPanel(key, template, context, tuple(perms), order)


def register_object_panel(model_label: str, key: str, template: str, context: Callable, *, perms=(),
                          order: int = 100) -> None:
    """Add a section to the page of every ``model_label`` record ("lots.lot", "donors.donor", ...)."""
    registry.object_panels.setdefault(model_label.lower(), {})[key] = ObjectPanel(
        key, template, context, tuple(perms), order
    )


def object_panels_for(request, obj) -> list[dict]:
    panels = registry.object_panels.get(obj._meta.label_lower, {})
    shown = []
    for panel in sorted(panels.values(), key=lambda p: (p.order, p.key)):
        if not _allowed(request.user, panel.perms):
            continue
        context = panel.context(request, obj)
        if context is not None:
            shown.append({"key": panel.key, "template": panel.template, "context": context})
    return shown


def _allowed(user, perms, roles=()) -> bool:
    from bank.roles import has_role

    if roles and not has_role(user, *roles):
        return False
    return all(user.has_perm(p) for p in perms)


def nav_for(user) -> list[dict]:
    items = sorted(registry.nav.values(), key=lambda item: (item.order, item.key))
    return [
        {"key": item.key, "label": item.label, "url": reverse(item.url_name)}
        for item in items
        if _allowed(user, item.perms, item.roles)
    ]


def resolve_scan(code: str, user) -> str | None:
    code = (code or "").strip()
    if not code:
        return None
    for _order, resolver in registry.scanners:
        url = resolver(code, user)
        if url:
            return url
    return None


def panels_for(request) -> list[dict]:
    shown = []
    for panel in sorted(registry.panels.values(), key=lambda p: (p.order, p.key)):
        if not _allowed(request.user, panel.perms):
            continue
        context = panel.context(request)
        if context is not None:
            shown.append({"key": panel.key, "template": panel.template, "context": context})
    return shown
