"""Keyset pages for the temperature readings: a unit posts 525,600 readings a year, so a page is found by where
the last one ended (``recorded_at``, ``id``) on the unit/time index, never by counting or skipping rows."""

from __future__ import annotations

import base64
import binascii
import datetime

from django.utils.translation import gettext_lazy as _
from rest_framework import exceptions
from rest_framework.pagination import BasePagination
from rest_framework.response import Response
from rest_framework.utils.urls import replace_query_param

from bank.parsing import whole_number


def _encode(at: datetime.datetime, pk: int) -> str:
    return base64.urlsafe_b64encode(f"{at.isoformat()}|{pk}".encode()).decode().rstrip("=")


def _decode(cursor: str) -> tuple[datetime.datetime, int]:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        at, pk = raw.split("|")
        when = datetime.datetime.fromisoformat(at)
        if when.tzinfo is None:
            raise ValueError
        return when, int(pk)
    except (ValueError, UnicodeDecodeError, binascii.Error):
        raise exceptions.ValidationError({"cursor": [_("This cursor is not valid: follow the “next” link.")]})


class ReadingKeysetPagination(BasePagination):
    """``{"next","results"}``, newest first; ``?page_size=`` (at most 1000); ``next`` carries ``cursor``.

    No ``count``: counting half a million readings to show a number nobody reads is the cost being avoided.
    """

    page_size = 100
    max_page_size = 1000
    cursor_query_param = "cursor"
    page_size_query_param = "page_size"

    def paginate_queryset(self, queryset, request, view=None):
        self.request = request
        size = whole_number(request.query_params.get(self.page_size_query_param, "")) or self.page_size
        size = max(1, min(size, self.max_page_size))
        cursor = request.query_params.get(self.cursor_query_param)
        if cursor:
            at, pk = _decode(cursor)
            queryset = queryset.filter(recorded_at__lte=at).exclude(recorded_at=at, pk__gte=pk)
        rows = list(queryset[: size + 1])
        self.has_next = len(rows) > size
        self.page = rows[:size]
        return self.page

    def get_next_link(self) -> str | None:
        if not self.has_next:
            return None
        last = self.page[-1]
        return replace_query_param(self.request.build_absolute_uri(), self.cursor_query_param,
                                   _encode(last.recorded_at, last.pk))

    def get_paginated_response(self, data):
        return Response({"next": self.get_next_link(), "results": data})

    def get_paginated_response_schema(self, schema):
        return {"type": "object", "required": ["results"], "properties": {
            "next": {"type": "string", "nullable": True, "format": "uri"}, "results": schema}}

    def get_schema_operation_parameters(self, view):
        return [
            {"name": self.cursor_query_param, "required": False, "in": "query",
             "description": "the next page: taken from the previous answer's `next`", "schema": {"type": "string"}},
            {"name": self.page_size_query_param, "required": False, "in": "query",
             "description": f"readings per page (at most {self.max_page_size})", "schema": {"type": "integer"}},
        ]
