"""Role checks for API views: ``required_perms`` maps an action (or HTTP method) to permissions."""

from __future__ import annotations

from django.utils.translation import gettext_lazy as _
from rest_framework.permissions import BasePermission


class HasPerms(BasePermission):
    """Allow when the user holds every permission the view names for this action.

    ``required_perms = {"list": [...], "create": [...], "*": [...]}``; a ViewSet action name wins,
    then the HTTP method, then ``"*"``. An action missing from the map is refused (fail closed).
    """

    message = _("Your role does not allow this action.")
    code = "permission_denied"

    def has_permission(self, request, view) -> bool:
        if not request.user or not request.user.is_authenticated:
            return False
        if request.method not in view.allowed_methods:
            return True  # not a permission question: the view answers 405 method_not_allowed
        mapping = getattr(view, "required_perms", None)
        if mapping is None:
            return False
        action = getattr(view, "action", None)
        if action and action in mapping:
            perms = mapping[action]
        elif request.method in mapping:
            perms = mapping[request.method]
        elif request.method in ("HEAD", "OPTIONS") and "GET" in mapping:
            perms = mapping["GET"]
        elif "*" in mapping:
            perms = mapping["*"]
        else:
            return False
        return all(request.user.has_perm(p) for p in perms)
