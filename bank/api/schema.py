"""OpenAPI (drf-spectacular) of the API's own building blocks.

Apart from ``bank.api.pagination``: drf-spectacular's AutoSchema imports DRF's generic views, which import the
default pagination class, so the pagination module cannot import it back.
"""

from __future__ import annotations

from drf_spectacular.openapi import AutoSchema


class KeysetSchema(AutoSchema):
    """OpenAPI of a keyset list (``schema = KeysetSchema()`` beside ``pagination_class = KeysetPagination``): its
    page gets a component of its own, ``Paginated<Row>CursorList`` with a nullable ``count``, apart from numbered
    pages of the same rows elsewhere (``GET /lots/{id}/vials/`` keeps ``PaginatedVialList``)."""

    def get_paginated_name(self, serializer_name: str) -> str:
        return f"Paginated{serializer_name}CursorList"
