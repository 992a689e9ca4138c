"""Mixins of the API's generic list views: what a page needs is read once for the whole page."""

from __future__ import annotations

from bank.signatures import current_manifests, record_key, signatures_by_record


class PageContextMixin:
    """A list view whose rows need facts read in bulk for the page (counts, lineages, signatures).

    ``page_context(page)`` returns what goes into the serializer context of that page, so every row is
    shaped from it without a query of its own; single objects (a detail view, a created record) keep
    reading their own.
    """

    _page = None

    def paginate_queryset(self, queryset):
        self._page = super().paginate_queryset(queryset)
        return self._page

    def get_serializer_context(self):
        context = super().get_serializer_context()
        if self._page is not None:
            context.update(self.page_context(self._page))
        return context

    def page_context(self, page) -> dict:
        return {}


class SignedPageMixin(PageContextMixin):
    """A list whose rows show their electronic signatures (``SignaturesField``): one query for the page, plus —
    for records whose signatures cover a manifest (a lot decision) — the manifests of the page built at once."""

    def page_context(self, page) -> dict:
        signatures = signatures_by_record(page)
        with_manifest = [record for record in page
                         if any(sig.manifest_hash for sig in signatures.get(record_key(record), []))]
        return {**super().page_context(page), "signatures": signatures,
                "signature_manifests": current_manifests(with_manifest)}
