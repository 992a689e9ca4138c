"""Helpers for server-rendered pages: permission checks and turning service refusals into messages."""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.core.exceptions import ValidationError as DjangoValidationError
from django.urls import reverse

from bank.errors import DomainError


def perms_required(*perms: str):
    """Login, then every permission; otherwise the 403 page (which says which role is needed)."""

    def decorator(view):
        @login_required
        @wraps(view)
        def wrapper(request, *args, **kwargs):
            if not all(request.user.has_perm(p) for p in perms):
                raise PermissionDenied
            return view(request, *args, **kwargs)

        return wrapper

    return decorator


def apply_validation_error(form, exc: DjangoValidationError) -> None:
    """Put a service's ValidationError onto a form (field errors where the form has the field)."""
    if hasattr(exc, "error_dict"):
        for field, errors in exc.error_dict.items():
            target = field if field in form.fields else None
            for error in errors:
                form.add_error(target, error)
    else:
        for message in exc.messages:
            form.add_error(None, message)


def call_service(request, form, func, *args, **kwargs):
    """Run a service for a form. Returns (result, ok). Refusals become form errors, never a 500.

    A DomainError becomes a non-field form error (and an error message); a ValidationError lands on
    the form's fields. Nothing is saved because the service runs in its own transaction.
    """
    try:
        return func(*args, **kwargs), True
    except DomainError as exc:
        if form is not None:
            form.add_error(None, exc.detail)
        else:
            messages.error(request, exc.detail)
        return None, False
    except DjangoValidationError as exc:
        if form is not None:
            apply_validation_error(form, exc)
        else:
            messages.error(request, " ".join(exc.messages))
        return None, False


def id_url(name: str) -> Callable[[int], str]:
    """``pk -> reverse(name, args=[pk])`` for the many rows of one page (a lot's 50 vials' label links): the URL
    resolved once, then each id filled in — the same path ``reverse`` gives."""
    head, _sep, tail = reverse(name, args=[0]).rpartition("/0/")
    return lambda pk: f"{head}/{int(pk)}/{tail}"
