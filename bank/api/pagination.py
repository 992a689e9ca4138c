"""The API's list pages (API.md: ``{"count","next","previous","results"}``, ``?page=&page_size=``, max 500).

``Pagination`` (the default) numbers its pages; ``KeysetPagination`` serves the big lists (vials, lots,
donors, the audit trail: millions of rows at national scale) by cursor, never counting or skipping rows.
"""

from __future__ import annotations

import base64
import binascii
import datetime
import json

from django.core.exceptions import ImproperlyConfigured
from django.core.exceptions import ValidationError as DjangoValidationError
from django.core.paginator import Page
from django.db.models import F
from django.db.models.fields.tuple_lookups import Tuple, TupleGreaterThan, TupleLessThan
from django.utils.translation import gettext as _
from rest_framework import exceptions
from rest_framework.exceptions import NotFound
from rest_framework.pagination import CursorPagination, PageNumberPagination
from rest_framework.response import Response
from rest_framework.utils.urls import remove_query_param, replace_query_param

from bank.errors import DomainError
from bank.parsing import BIGINT_MAX, whole_number
from bank.tally import WINDOW_TOTAL


class Pagination(PageNumberPagination):
    """``{"count","next","previous","results"}`` with ``?page=&page_size=`` (max 500).

    The first page is read with one row more than it shows: when that row is not there, the list ends on
    this page and its length is the count, so a filtered list that fits one page (a scanned barcode, a lot's
    vials) runs one query instead of a COUNT and a SELECT. A longer list is counted as usual (exact, as
    API.md promises), and its first page is not read twice.
    """

    page_size = 50
    page_size_query_param = "page_size"
    max_page_size = 500

    def paginate_queryset(self, queryset, request, view=None):
        # A view that knows its total from the kept counts (bank/tally.py) says so with ``known_count(request)``
        # (an int, or None to count): a list of a million cord blood units is then never counted.
        # Asked only when a count is needed (a first page that holds the whole list is its own count).
        def use_known_count() -> None:
            known = view.known_count(request) if view is not None and hasattr(view, "known_count") else None
            if known is not None:
                base = type(self).django_paginator_class
                self.django_paginator_class = type("KnownCountPaginator", (base,), {"count": known})

        page_size = self.get_page_size(request)
        if not page_size or str(request.query_params.get(self.page_query_param, "1")) != "1":
            if page_size:
                use_known_count()
            return super().paginate_queryset(queryset, request, view)
        rows = list(queryset[:page_size + 1])
        window_total = getattr(rows[0], WINDOW_TOTAL, None) if rows else None
        if len(rows) > page_size and window_total is not None:  # the rows carry the list's total (COUNT OVER ())
            base = type(self).django_paginator_class
            self.django_paginator_class = type("KnownCountPaginator", (base,), {"count": window_total})
        elif len(rows) > page_size:
            use_known_count()
        paginator = self.django_paginator_class(queryset, page_size)
        if len(rows) <= page_size:
            paginator.count = len(rows)  # a cached_property: set, it is never queried
        rows = rows[:page_size]
        self.page = Page(rows, 1, paginator)
        if paginator.num_pages > 1 and self.template is not None:
            self.display_page_controls = True
        self.request = request
        return rows


# --- keyset pages for the big lists ------------------------------------------------------------------------------

BIGINT_MIN = -(2**63)
MAX_CURSOR_LENGTH = 1000


class PageTooDeep(DomainError):
    """A ``?page=N`` past the rows a keyset list still reaches by OFFSET (HTTP 400): follow ``next`` instead."""

    status = 400
    default_code = "page_too_deep"


def _reversed_ordering(ordering: tuple[str, ...]) -> tuple[str, ...]:
    return tuple(name[1:] if name.startswith("-") else f"-{name}" for name in ordering)


def _cursor_value(value):
    """A key of the last (or first) row of a page as JSON: numbers stay numbers, dates and times are ISO 8601."""
    if value is None or isinstance(value, bool | int | float):
        return value
    if isinstance(value, datetime.datetime | datetime.date):
        return value.isoformat()
    return str(value)


class KeysetPagination(CursorPagination):
    """Keyset (cursor) pages for the big lists (vials, lots, donors, the audit trail), in API.md's shape:
    ``{"count","next","previous","results"}``, ``?page_size=`` (default 50, at most 500).

    The list is ordered by the view's ``keyset_ordering`` — its existing order, ending in a unique key and
    matched by an index (``("lot_id", "number")``, ``("-frozen_on", "-id")`` ...) — and a page is found by
    where the previous one ended: ``WHERE (key columns) > (last row's keys)`` on that index, so page 80,000
    costs what page 2 costs and never counts or skips rows. Rows written between two requests never make
    a later page repeat or skip a row.

    * ``next`` and ``previous`` are links with ``?cursor=`` (the other parameters kept); follow them.
    * No parameter, or ``?page=1``: the first page. ``?page=N`` for N > 1 keeps working by OFFSET (API.md
      lists ``?page=``, and clients may count pages) as long as it starts within the first ``max_offset``
      (10,000) rows, and its ``next`` / ``previous`` are cursor links from there on; further in it is a 400
      ``page_too_deep`` (``{"detail","code","page"}``) telling the client to follow ``next``. A page number
      that is not a whole number ≥ 1, or past the end of the list, is a 404 as with the other lists. A
      ``?cursor=`` wins over ``?page=``; a cursor the bank did not write is a 400 ``{"cursor": [...]}``.
    * ``count`` is exact only where it is cheap, otherwise ``null``:
      - the first page when it holds the whole list: its length (one query, no COUNT) — so a scan
        (``?barcode=``, ``?code=``, ``?lot_number=``) answers ``count`` 1 or 0 as before;
      - any page of a list narrowed by one of the view's ``keyset_count_filters`` (an indexed filter that
        selects a bounded set: a lot's vials, one record's audit trail, a line's lots): one COUNT of that set;
      - any page whose total the database keeps (``bank/tally.py``): the view's ``kept_count(filters)`` answers
        it from the parameters given (``{name: [values]}`` of its FilterSet) or None — every donor, lots by
        status, as the donors and lots pages read them;
      - otherwise ``null``: counting four million vials or twelve million history rows for a number nobody
        reads is the cost keyset pages avoid.
    """

    page_size = 50
    page_size_query_param = "page_size"
    max_page_size = 500
    page_query_param = "page"
    max_offset = 10_000
    ordering = ("-id",)
    cursor_query_description = "the page after (or before) another: taken from an answer's `next` or `previous`"

    def get_ordering(self, request, queryset, view) -> tuple[str, ...]:
        ordering = tuple(getattr(view, "keyset_ordering", None) or self.ordering)
        # One direction for every key, so one row comparison finds where a page starts (and an index serves it).
        if len({name.startswith("-") for name in ordering}) != 1 or any("__" in name for name in ordering):
            raise ImproperlyConfigured(f"keyset_ordering {ordering!r}: own columns, all in the same direction")
        return ordering

    def paginate_queryset(self, queryset, request, view=None):
        self.request = request
        self.page_size = self.get_page_size(request)
        self.base_url = remove_query_param(request.build_absolute_uri(), self.page_query_param)
        self.ordering = self.get_ordering(request, queryset, view)
        self.fields = [self._field(queryset.model, name.lstrip("-")) for name in self.ordering]
        position, reverse = self.decode_cursor(request)
        offset = self._offset(request) if position is None else 0

        ordered = queryset.order_by(*(_reversed_ordering(self.ordering) if reverse else self.ordering))
        if position is not None:
            ordered = ordered.filter(self._beyond(position, reverse))
        rows = list(ordered[offset:offset + self.page_size + 1])
        more = len(rows) > self.page_size
        rows = rows[:self.page_size]
        if offset and not rows:
            raise NotFound(PageNumberPagination.invalid_page_message)
        if reverse:
            rows.reverse()
            self.has_previous, self.has_next = more, True  # the row the cursor was taken from follows
        else:
            self.has_previous, self.has_next = bool(rows) and (position is not None or offset > 0), more
        self.page = rows

        filters = self._filters(request, view)
        kept = getattr(view, "kept_count", None)
        if position is None and not offset and not more:
            self.count = len(rows)  # the whole list is on this page
        elif any(name in filters for name in getattr(view, "keyset_count_filters", ())):
            self.count = queryset.count()
        else:
            self.count = kept(filters) if kept else None
        self.display_page_controls = (self.has_previous or self.has_next) and self.template is not None
        return self.page

    def _offset(self, request) -> int:
        number = whole_number(request.query_params.get(self.page_query_param) or "1")
        if not number:
            raise NotFound(PageNumberPagination.invalid_page_message)
        offset = (number - 1) * self.page_size
        if offset > self.max_offset:
            detail = _("Page %(page)s is beyond the first %(rows)s rows of this list, the ones reachable by page "
                       "number: follow the “next” link instead.") % {"page": number, "rows": self.max_offset}
            raise PageTooDeep(detail, code="page_too_deep", page=[detail])
        return offset

    @staticmethod
    def _filters(request, view) -> dict[str, list[str]]:
        """The view's FilterSet parameters this request gives a value: ``{name: [values]}``."""
        filterset = getattr(view, "filterset_class", None)
        given = {}
        for name in filterset.base_filters if filterset else ():
            values = [value for value in request.query_params.getlist(name) if value.strip()]
            if values:
                given[name] = values
        return given

    @staticmethod
    def _field(model, name: str):
        return model._meta.pk if name == "pk" else model._meta.get_field(name)

    def _beyond(self, position: list, reverse: bool):
        """The rows after ``position`` in the list's order (before it for ``reverse``), as one row comparison:
        ``(lot_id, number) > (42, 50)`` on PostgreSQL, an index condition of the list's index (Django's
        composite-key lookups; SQLite gets the equivalent ``a > x OR (a = x AND b > y)``)."""
        descending = self.ordering[0].startswith("-")
        lookup = TupleLessThan if descending != reverse else TupleGreaterThan
        return lookup(Tuple(*(F(name.lstrip("-")) for name in self.ordering)), tuple(position))

    # --- the cursor: base64 of JSON [reverse, key, key, ...] ---------------------------------------------------

    def decode_cursor(self, request) -> tuple[list | None, bool]:
        encoded = request.query_params.get(self.cursor_query_param)
        if not encoded:
            return None, False
        try:
            if len(encoded) > MAX_CURSOR_LENGTH:
                raise ValueError
            raw = json.loads(base64.urlsafe_b64decode(encoded + "=" * (-len(encoded) % 4)))
            if not isinstance(raw, list) or len(raw) != len(self.fields) + 1 or raw[0] not in (0, 1):
                raise ValueError
            return [self._key(field, value) for field, value in zip(self.fields, raw[1:], strict=True)], bool(raw[0])
        except (ValueError, TypeError, OverflowError, UnicodeDecodeError, binascii.Error, DjangoValidationError):
            raise exceptions.ValidationError(
                {self.cursor_query_param: [_("This cursor is not valid: follow the “next” link.")]})

    @staticmethod
    def _key(field, value):
        if value is None or isinstance(value, bool | dict | list):
            raise ValueError
        value = field.to_python(value)
        if isinstance(value, int) and not BIGINT_MIN <= value <= BIGINT_MAX:
            raise ValueError
        if isinstance(value, datetime.datetime):
            if value.tzinfo is None:
                raise ValueError
            value = value.astimezone(datetime.UTC)  # OverflowError at the ends of the calendar
        return value

    def encode_cursor(self, row, reverse: bool) -> str:
        keys = [_cursor_value(getattr(row, name.lstrip("-"))) for name in self.ordering]
        encoded = base64.urlsafe_b64encode(json.dumps([int(reverse), *keys]).encode()).decode().rstrip("=")
        return replace_query_param(self.base_url, self.cursor_query_param, encoded)

    def get_next_link(self) -> str | None:
        return self.encode_cursor(self.page[-1], False) if self.has_next and self.page else None

    def get_previous_link(self) -> str | None:
        return self.encode_cursor(self.page[0], True) if self.has_previous and self.page else None

    def get_paginated_response(self, data):
        return Response({"count": self.count, "next": self.get_next_link(), "previous": self.get_previous_link(),
                         "results": data})

    def get_paginated_response_schema(self, schema):
        link = {"type": "string", "nullable": True, "format": "uri"}
        return {
            "type": "object",
            "required": ["count", "results"],
            "properties": {
                "count": {"type": "integer", "nullable": True, "example": 123,
                          "description": "exact when the whole list is on the first page, a bounded filter narrows "
                                         "it or the bank keeps its total; otherwise null (never counted at scale)"},
                "next": {**link, "example": "https://bank.example/api/v1/vials/?cursor=WzAsIDQyLCA1MF0"},
                "previous": {**link, "example": "https://bank.example/api/v1/vials/?cursor=WzEsIDQyLCAxXQ"},
                "results": schema,
            },
        }

    def get_schema_operation_parameters(self, view):
        parameters = super().get_schema_operation_parameters(view)
        parameters.append({
            "name": self.page_query_param, "required": False, "in": "query", "schema": {"type": "integer"},
            "description": f"1 (the first page); a later page by number only within the first {self.max_offset} "
                           "rows (else 400 page_too_deep): follow `next` instead",
        })
        return parameters

