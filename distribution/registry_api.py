"""API of the registry export (issue 15): a line's hPSCreg / ICSCB record as JSON or CSV, and the public catalog
feed partner banks harvest without an account (read-only, throttled per address, keyset pages)."""

from __future__ import annotations

import csv
import io

from django.shortcuts import get_object_or_404
from django.utils.translation import gettext as _
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import serializers
from rest_framework.generics import GenericAPIView
from rest_framework.permissions import AllowAny
from rest_framework.renderers import BaseRenderer, JSONRenderer
from rest_framework.response import Response

from bank.api.pagination import KeysetPagination
from bank.api.permissions import HasPerms
from bank.api.schema import KeysetSchema
from distribution import queries, registry_export
from lots.models import CellLine


class CSVRenderer(BaseRenderer):
    media_type = "text/csv"
    format = "csv"
    charset = "utf-8"

    def render(self, data, accepted_media_type=None, renderer_context=None):
        if isinstance(data, str):
            return data.encode("utf-8")
        # an error answer (400, 403, 404) asked for as CSV: one row per message, never a 500
        out = io.StringIO()
        writer = csv.writer(out)
        for key, value in (data or {}).items():
            writer.writerow([key, value if isinstance(value, str) else "; ".join(map(str, value))
                             if isinstance(value, list) else str(value)])
        return out.getvalue().encode("utf-8")


class RegistryRecordView(GenericAPIView):
    """A cell line's record in a registry's data fields (the README lists them): name, donor sex and age range,
    disease, derivation and reprogramming method, characterisation (karyotype, pluripotency, STR), HLA where the
    donor consented to data sharing, genetic modification. ``?registry=hpscreg|icscb`` (hPSCreg: iPSC and ESC
    only), ``?format=json|csv``. No donor identity or code."""

    permission_classes = [HasPerms]
    required_perms = {"GET": ["lots.view_cellline"]}
    renderer_classes = [JSONRenderer, CSVRenderer]
    pagination_class = None
    filter_backends: list = []

    @extend_schema(
        operation_id="cell_line_registry_record",
        parameters=[
            OpenApiParameter("registry", str, enum=list(registry_export.REGISTRIES), required=False,
                             description="hpscreg (default for iPSC/ESC lines) or icscb"),
            OpenApiParameter("format", str, enum=["json", "csv"], required=False,
                             description="json (default) or csv (a header row of the field names and one row)"),
        ],
        responses={(200, "application/json"): OpenApiTypes.OBJECT, (200, "text/csv"): OpenApiTypes.STR,
                   400: OpenApiResponse(description="Unknown registry, or hPSCreg for a line that is not pluripotent"),
                   401: OpenApiResponse(description="No or bad credentials"),
                   403: OpenApiResponse(description="Your role does not allow this"),
                   404: OpenApiResponse(description="Not found")},
    )
    def get(self, request, pk: int):
        line = get_object_or_404(CellLine.objects.select_related("donor", "collection"), pk=pk)
        registry = (request.query_params.get("registry") or "").strip().lower() or (
            registry_export.HPSCREG if line.cell_type in registry_export.PLURIPOTENT_TYPES else registry_export.ICSCB)
        if registry not in registry_export.REGISTRIES:
            return Response({"registry": [_("Unknown registry “%(registry)s”. Use one of: hpscreg, icscb.")
                                          % {"registry": registry[:40]}]}, status=400)
        try:
            record = registry_export.registry_record(line, registry)
        except registry_export.NotRegistrable as exc:
            return Response({"registry": [str(exc)]}, status=400)
        if request.accepted_renderer.format == "csv":
            response = Response(registry_export.registry_csv([record], registry), content_type="text/csv")
            response["Content-Disposition"] = f'attachment; filename="{registry}-{line.name}.csv"'
            return response
        return Response({"registry": registry, "record": record})


class PublicCatalogEntrySerializer(serializers.Serializer):
    """One line of the public feed (``registry_export.PUBLIC_FIELDS``): no donor, no collection."""

    id = serializers.IntegerField()
    name = serializers.CharField()
    cell_type = serializers.CharField()
    grade = serializers.CharField()
    description = serializers.CharField()
    available_vials = serializers.IntegerField()
    passages = serializers.ListField(child=serializers.IntegerField())
    tiers = serializers.ListField(child=serializers.CharField())
    characterization = serializers.ListField(child=serializers.DictField(),
                                             help_text="test, name, result, passed, tested_on")
    hla = serializers.DictField(allow_null=True, help_text="Only where the donor consented to data sharing")
    hpscreg_id = serializers.CharField()
    icscb_id = serializers.CharField()


class PublicCatalogView(GenericAPIView):
    """The public catalog feed partner banks harvest: released lines with distributable vials, their
    characterisation, HLA only where the donor consented to data sharing, and their registry IDs. No login (a
    partner's harvester has no account), read-only, throttled per client address
    (``API_THROTTLE_PUBLIC_CATALOG_RATE``); never a donor's identity or code. Follow ``next`` (keyset cursor)."""

    permission_classes = [AllowAny]
    authentication_classes: list = []  # anonymous by design: a session or token changes nothing here
    throttle_scope = "public_catalog"
    pagination_class = KeysetPagination
    schema = KeysetSchema()
    keyset_ordering = ("sort_name", "cell_line_id")  # the catalog's order, on the stock rows
    filter_backends: list = []
    serializer_class = PublicCatalogEntrySerializer

    @extend_schema(operation_id="public_catalog_list", auth=[])
    def get(self, request):
        page = self.paginate_queryset(queries.catalog_lines())
        return self.get_paginated_response(registry_export.public_entries(page))
