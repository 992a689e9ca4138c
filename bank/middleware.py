"""Middleware of the bank: input that no view can use is refused before any view runs; the API answers
errors as JSON, never as an HTML page."""

from __future__ import annotations

from django.http import Http404, HttpResponseBadRequest, JsonResponse
from django.utils.translation import gettext as _
from rest_framework.response import Response

from bank.api.errors import error_response, is_api_request

FORM_TYPES = ("application/x-www-form-urlencoded", "multipart/form-data")


def _nul_field(query) -> str | None:
    """The first parameter whose name or value holds a NUL character."""
    for key, values in query.lists():
        if "\x00" in key or any("\x00" in value for value in values):
            return key.replace("\x00", "") or "non_field_errors"
    return None


class RejectUnstorableInputMiddleware:
    """A NUL character in the URL path (404), the query string or a page's form fields (400).

    PostgreSQL cannot hold NUL in text, so a lookup such as ``?code=%00``, ``/trace/vials/%00/`` or a posted
    hidden field naming a test or a box made the database driver raise (a 500) wherever a view looks a
    value up before a form has cleaned it. No identifier, code or text of the bank can contain one (and no
    keyboard or scanner types it), so the request is refused here, once for pages and API alike. API
    bodies are left to DRF, whose parsers and fields answer with field errors.
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        api = is_api_request(request)
        if "\x00" in request.path:
            if api:
                return error_response(404)
            raise Http404
        field = _nul_field(request.GET)
        if field is None and not api and request.method == "POST" and request.content_type in FORM_TYPES:
            try:
                field = _nul_field(request.POST)
            except Exception:  # noqa: BLE001 — a body Django cannot parse is the view's (and Django's) 400
                field = None
        if field is not None:
            message = _("Remove the NUL character: it cannot be stored.")
            if api:
                return JsonResponse({field: [message]}, status=400)
            return HttpResponseBadRequest(message)
        return self.get_response(request)


class APIErrorsMiddleware:
    """Under /api/, an error Django answered itself becomes the API's ``{"detail","code"}`` (API.md).

    DRF answers the errors of the API's views in that shape already (bank.api.errors.exception_handler); what
    is left reaches the client as one of Django's HTML pages: a path no route matches (the project's
    handler404, or the debug page with DEBUG on), a crash that escaped a view (handler500, or the debug
    traceback), a request Django could not take (400), a method a plain Django view refuses (405). Pages
    outside /api/ keep their HTML pages. A refused CSRF check is answered by bank.views.csrf_failure, which
    knows the reason. Sits near the top of MIDDLEWARE so that it sees what the middleware below it answer.
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        if (response.status_code >= 400 and not isinstance(response, (Response, JsonResponse))
                and is_api_request(request) and not response.get("Content-Type", "").startswith("application/")):
            return error_response(response.status_code, request=request)
        return response
