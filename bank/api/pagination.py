from django.core.paginator import Page
from rest_framework.pagination import PageNumberPagination


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
        page_size = self.get_page_size(request)
        if not page_size or str(request.query_params.get(self.page_query_param, "1")) != "1":
            return super().paginate_queryset(queryset, request, view)
        rows = list(queryset[:page_size + 1])
        paginator = self.django_paginator_class(queryset, page_size)
        if len(rows) <= page_size:
            paginator.count = len(rows)  # a cached_property: set, it is never queried
        rows = rows[:page_size]
        self.page = Page(rows, 1, paginator)
        if paginator.num_pages > 1 and self.template is not None:
            self.display_page_controls = True
        self.request = request
        return rows
