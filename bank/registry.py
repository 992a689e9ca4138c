"""What each app contributes to the shared pages: navigation, scan resolvers, dashboard panels.

Apps register in ``AppConfig.ready()``; the base layout, the header scan field and the dashboard
read from here, so no bank-wide template has to know every app.
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
