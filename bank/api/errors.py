"""API error format (API.md): 400 field errors, 401, 403/409 ``{"detail","code",...}``, never 500 for input."""

from __future__ import annotations

from http import HTTPStatus

from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db.models import ProtectedError
from django.http import Http404, JsonResponse
from django.utils.translation import gettext as _
from rest_framework import exceptions, status
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

from bank.errors import DomainError


def validation_payload(exc: DjangoValidationError) -> dict:
    if hasattr(exc, "error_dict"):
        return {
            ("non_field_errors" if field == "__all__" else field): [str(m) for m in messages]
            for field, messages in exc.message_dict.items()
        }
    return {"non_field_errors": [str(m) for m in exc.messages]}


def exception_handler(exc, context):
    if isinstance(exc, DomainError):
        return Response(exc.as_dict(), status=exc.status)
    if isinstance(exc, DjangoValidationError):
        return Response(validation_payload(exc), status=status.HTTP_400_BAD_REQUEST)
    if isinstance(exc, ProtectedError):
        return Response(
            {"detail": _("This record is referenced by regulated records and cannot be deleted."),
             "code": "protected"},
            status=status.HTTP_409_CONFLICT,
        )
    if isinstance(exc, Http404):
        exc = exceptions.NotFound()
    elif isinstance(exc, DjangoPermissionDenied):
        exc = exceptions.PermissionDenied()
    response = drf_exception_handler(exc, context)
    if response is None:
        return None
    if isinstance(exc, exceptions.APIException) and isinstance(response.data, dict) and "detail" in response.data:
        codes = exc.get_codes()
        response.data["code"] = codes if isinstance(codes, str) else "error"
    return response


# --- errors Django answers itself, outside DRF's views --------------------------------------------------
# No route matched, a crash that escaped the view, a method a plain Django view refuses, a request Django
# could not take, a refused CSRF check: Django answers these with its HTML pages (or, with DEBUG, its debug
# pages). Under /api/ they get the API's ``{"detail","code"}`` instead, from bank.middleware.APIErrorsMiddleware
# and the CSRF failure view (bank.views.csrf_failure); pages keep their HTML.

API_PREFIX = "/api/"


def is_api_request(request) -> bool:
    return request.path_info.startswith(API_PREFIX)


def _defaults(status_code: int, request=None) -> tuple[str, str]:
    if status_code == 400:
        return str(exceptions.ParseError.default_detail), "bad_request"
    if status_code == 403:
        return _("Your role does not allow this action."), "permission_denied"
    if status_code == 404:
        return _("Not found."), "not_found"
    if status_code == 405:
        return str(exceptions.MethodNotAllowed(request.method if request else "").detail), "method_not_allowed"
    if status_code >= 500:
        return str(exceptions.APIException.default_detail), "server_error"
    return HTTPStatus(status_code).phrase, "error"


def error_response(status_code: int, detail: str | None = None, code: str | None = None, *,
                   request=None) -> JsonResponse:
    """The API's error body for a status that Django, not DRF, answered."""
    default_detail, default_code = _defaults(status_code, request)
    return JsonResponse({"detail": detail or default_detail, "code": code or default_code}, status=status_code)
