"""Who may call the haplobank API: the role rules of ``haplobank.queries`` (``may_manage``, ``may_match``,
``may_see_recruitment``), asked per HTTP method."""

from __future__ import annotations

from django.utils.translation import gettext_lazy as _
from rest_framework.permissions import BasePermission


class RoleRule(BasePermission):
    """Allow when the view's ``allowed`` rule for this method (``{"GET": may_manage, ...}``) says yes; a method
    without a rule is refused (fail closed). Anonymous callers get 401 (DRF's ``not_authenticated``)."""

    message = _("Your role does not allow this action.")
    code = "permission_denied"

    def has_permission(self, request, view) -> bool:
        if not request.user or not request.user.is_authenticated:
            return False
        if request.method not in view.allowed_methods:
            return True  # not a permission question: the view answers 405 method_not_allowed
        rules = getattr(view, "allowed", {})
        if request.method == "OPTIONS":  # describing the endpoint: to whoever may call it at all
            return any(rule(request.user) for rule in rules.values())
        rule = rules.get("GET" if request.method == "HEAD" else request.method)
        return bool(rule and rule(request.user))
