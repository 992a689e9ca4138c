"""API of cell lines, cultures, lots and vials (API.md "Cell lines, lots and vials").

Technicians write; technicians, QA, coordinators and admins read; researchers use the catalog
instead and get 403 here. Views parse, check the role, call one service and shape the answer.
"""

from __future__ import annotations

import json

from django.http import Http404
from django.shortcuts import get_object_or_404
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import generics, status
from rest_framework.exceptions import ValidationError
from rest_framework.renderers import BaseRenderer, JSONRenderer
from rest_framework.response import Response

from bank import tally
from bank.api.mixins import PageContextMixin
from bank.api.pagination import KeysetPagination
from bank.api.permissions import HasPerms
from bank.api.schema import KeysetSchema
from bank.api.serializers import DomainErrorSerializer
from lots import queries, services
from lots.api import filters
from lots.api import serializers as s
from lots.models import CellLine, Culture, Lot, Vial
from lots.views import label_pdf_response, label_zpl_response, vial_svg_response

READ_LINE = ["lots.view_cellline"]
READ_LOT = ["lots.view_lot", "lots.view_vial"]
READ_CULTURE = ["lots.view_culture", "lots.view_passage"]
ERRORS = {
    400: OpenApiResponse(description="Bad input: {field: [message]}"),
    401: OpenApiResponse(description="No or bad credentials"),
    403: OpenApiResponse(DomainErrorSerializer, description="Your role does not allow this"),
}
READ_ERRORS = {401: ERRORS[401], 403: ERRORS[403], 404: OpenApiResponse(description="Not found")}


def _reason(data, default: str) -> str:
    return (data.get("reason") or default)[:100]


# --- cell lines ------------------------------------------------------------------------------------


class CellLineListView(generics.ListCreateAPIView):
    """Cell lines (filter by name, cell type, grade, donor code, collection); technicians register new ones."""

    permission_classes = [HasPerms]
    required_perms = {"GET": READ_LINE, "POST": ["lots.add_cellline", *READ_LINE]}
    serializer_class = s.CellLineSerializer
    filterset_class = filters.CellLineFilter
    queryset = CellLine.objects.select_related("collection", "donor", "parent_line", "created_by").order_by("name")

    @extend_schema(request=s.CellLineCreateSerializer, responses={
        201: s.CellLineSerializer, **ERRORS,
        409: OpenApiResponse(DomainErrorSerializer, description="consent_withdrawn: the donor withdrew consent")})
    def post(self, request):
        data = s.CellLineCreateSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        v = data.validated_data
        line = services.create_cell_line(
            collection=v.get("collection"), cell_type=v["cell_type"], grade=v["grade"],
            reprogramming_method=v["reprogramming_method"], parent_line=v.get("parent_line"),
            description=v["description"], established_on=v.get("established_on"),
            genetic_modification=v["genetic_modification"], actor=request.user,
            reason=_reason(v, "cell line registered"),
        )
        line = self.get_queryset().get(pk=line.pk)
        return Response(s.CellLineSerializer(line).data, status=status.HTTP_201_CREATED)


class CellLineDetailView(generics.RetrieveAPIView):
    """One cell line."""

    permission_classes = [HasPerms]
    required_perms = {"GET": READ_LINE}
    serializer_class = s.CellLineSerializer
    queryset = CellLineListView.queryset

    @extend_schema(responses={200: s.CellLineSerializer, **READ_ERRORS})
    def get(self, request, *args, **kwargs):
        return super().get(request, *args, **kwargs)


class CellLineRegistryIdsView(generics.GenericAPIView):
    """Record the IDs hPSCreg and ICSCB gave the line's record (QA): ``{"hpscreg_id","icscb_id","reason"}``; a
    field left out stays as it is, ``""`` clears it. Recorded in the line's history."""

    permission_classes = [HasPerms]
    required_perms = {"POST": ["lots.record_registry_id", *READ_LINE]}
    serializer_class = s.RegistryIdsSerializer

    @extend_schema(request=s.RegistryIdsSerializer, responses={200: s.CellLineSerializer, **ERRORS,
                                                                404: READ_ERRORS[404]})
    def post(self, request, pk: int):
        line = get_object_or_404(CellLine, pk=pk)
        data = s.RegistryIdsSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        v = data.validated_data
        services.record_registry_ids(line, hpscreg_id=v.get("hpscreg_id"), icscb_id=v.get("icscb_id"),
                                     actor=request.user, reason=_reason(v, "registry ID recorded"))
        return Response(s.CellLineSerializer(CellLineListView.queryset.get(pk=pk)).data)


# --- cultures --------------------------------------------------------------------------------------


def _cultures():
    return Culture.objects.select_related("cell_line", "source_vial__lot").prefetch_related("passages__operator")


class CultureListView(generics.ListCreateAPIView):
    """Culture records with their passages (``?cell_line=``); technicians start new cultures."""

    permission_classes = [HasPerms]
    required_perms = {"GET": READ_CULTURE, "POST": ["lots.add_culture", *READ_CULTURE]}
    serializer_class = s.CultureSerializer
    filterset_fields = ["cell_line"]

    def get_queryset(self):
        return _cultures().order_by("-started_on", "-id")

    @extend_schema(request=s.CultureCreateSerializer, responses={
        201: s.CultureSerializer, **ERRORS,
        409: OpenApiResponse(DomainErrorSerializer, description="vial_unavailable, consent_withdrawn")})
    def post(self, request):
        data = s.CultureCreateSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        v = data.validated_data
        culture = services.start_culture(
            v["cell_line"], started_on=v.get("started_on"), source_vial=v.get("source_vial"), notes=v["notes"],
            actor=request.user, reason=_reason(v, "culture started"),
        )
        return Response(s.CultureSerializer(_cultures().get(pk=culture.pk)).data, status=status.HTTP_201_CREATED)


class CultureDetailView(generics.RetrieveAPIView):
    """One culture with its passages and cumulative population doublings."""

    permission_classes = [HasPerms]
    required_perms = {"GET": READ_CULTURE}
    serializer_class = s.CultureSerializer

    def get_queryset(self):
        return _cultures()

    @extend_schema(responses={200: s.CultureSerializer, **READ_ERRORS})
    def get(self, request, *args, **kwargs):
        return super().get(request, *args, **kwargs)


class PassageCreateView(generics.GenericAPIView):
    """Record a passage of a culture (counts, viability, medium and reagent lots)."""

    permission_classes = [HasPerms]
    required_perms = {"POST": ["lots.add_passage", *READ_CULTURE]}
    serializer_class = s.PassageCreateSerializer

    @extend_schema(request=s.PassageCreateSerializer, responses={201: s.PassageSerializer, **ERRORS,
                                                                  404: READ_ERRORS[404]})
    def post(self, request, pk: int):
        culture = get_object_or_404(Culture, pk=pk)
        data = s.PassageCreateSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        v = dict(data.validated_data)
        reason = _reason(v, "passage recorded")
        v.pop("reason", None)
        passage = services.record_passage(culture, actor=request.user, reason=reason, **v)
        return Response(s.PassageSerializer(passage).data, status=status.HTTP_201_CREATED)


# --- lots ------------------------------------------------------------------------------------------


class LotListView(PageContextMixin, generics.ListCreateAPIView):
    """Lots, newest frozen first in keyset pages (filter by lot number, barcode, status, tier, line);
    technicians freeze new ones.

    ``POST`` creates the lot in quarantine with its ``vial_count`` vials, each with a unique barcode,
    in one transaction. A WCB needs a released MCB of the same line as ``parent_lot`` (409
    ``parent_not_released``) and a passage not lower than its parent's (400).
    """

    permission_classes = [HasPerms]
    required_perms = {"GET": READ_LOT, "POST": ["lots.add_lot", *READ_LOT]}
    serializer_class = s.LotSerializer
    filterset_class = filters.LotFilter
    pagination_class = KeysetPagination
    schema = KeysetSchema()
    keyset_ordering = ("-frozen_on", "-id")  # lots_lot_order_idx
    # A line's (or a parent's, a donor's) lots: a bounded set on the line/status and parent indexes
    keyset_count_filters = ("cell_line", "line", "parent_lot", "donor_code")

    def get_queryset(self):
        return queries.lot_queryset().order_by(*self.keyset_ordering)

    def kept_count(self, filters: dict[str, list[str]]) -> int | None:
        """Every lot, or the lots of the statuses asked: kept counts (bank/tally.py), as the lots page reads them."""
        if set(filters) - {"status"}:
            return None
        by_status = tally.counts("lots.status")
        return sum(by_status.get(value, 0) for value in set(filters.get("status", by_status)))

    def page_context(self, page):
        return {"lineages": queries.lineages(page), "vial_counts": queries.vial_status_counts(lot.pk for lot in page)}

    @extend_schema(request=s.LotCreateSerializer, responses={
        201: s.LotCreatedSerializer, **ERRORS,
        409: OpenApiResponse(DomainErrorSerializer,
                             description="parent_not_released: the parent MCB is not released; "
                                         "consent_withdrawn: the donor withdrew consent")})
    def post(self, request):
        data = s.LotCreateSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        v = dict(data.validated_data)
        reason = _reason(v, "lot frozen")
        v.pop("reason", None)
        lot = services.create_lot(actor=request.user, reason=reason, **v)
        lot = queries.lot_queryset().prefetch_related("vials").get(pk=lot.pk)
        return Response(s.LotCreatedSerializer(lot).data, status=status.HTTP_201_CREATED)


class LotDetailView(generics.RetrieveAPIView):
    """One lot with ``status``, ``lineage`` (ancestor lot numbers) and ``qc_summary``."""

    permission_classes = [HasPerms]
    required_perms = {"GET": READ_LOT}
    serializer_class = s.LotDetailSerializer

    def get_queryset(self):
        return queries.lot_queryset()

    @extend_schema(responses={200: s.LotDetailSerializer, **READ_ERRORS})
    def get(self, request, *args, **kwargs):
        return super().get(request, *args, **kwargs)


class LotVialsView(generics.ListAPIView):
    """The vials of a lot, in number order, with their positions (``?status=`` filters)."""

    permission_classes = [HasPerms]
    required_perms = {"GET": READ_LOT}
    serializer_class = s.VialSerializer
    filterset_class = filters.VialFilter

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):
            return Vial.objects.none()
        return queries.vials_with_position().filter(lot_id=self.kwargs["pk"]).order_by("number")

    def list(self, request, *args, **kwargs):
        # Whether the lot exists is asked only when the answer is not a page of its vials (a lot always has some):
        # one query less for every lot that does; an unknown lot is a 404 before any filter's 400.
        try:
            response = super().list(request, *args, **kwargs)
        except ValidationError:
            self._require_lot()
            raise
        if not response.data.get("results"):
            self._require_lot()
        return response

    def _require_lot(self) -> None:
        if not Lot.objects.filter(pk=self.kwargs["pk"]).exists():
            raise Http404


class VialListView(generics.ListAPIView):
    """Vials by lot and number, in keyset pages (four million at national scale); ``?barcode=X`` is the scan
    lookup (one result or none, on the unique barcode index)."""

    permission_classes = [HasPerms]
    required_perms = {"GET": READ_LOT}
    serializer_class = s.VialSerializer
    filterset_class = filters.VialFilter
    pagination_class = KeysetPagination
    schema = KeysetSchema()
    keyset_ordering = ("lot_id", "number")  # the unique index of lots_vial_unique_number
    keyset_count_filters = ("lot", "lot_number", "box")  # a lot's or a box's vials: counted on their index

    def get_queryset(self):
        return queries.vials_with_position().order_by("lot_id", "number")


class VialDetailView(generics.RetrieveAPIView):
    """One vial with its position."""

    permission_classes = [HasPerms]
    required_perms = {"GET": READ_LOT}
    serializer_class = s.VialSerializer

    def get_queryset(self):
        return queries.vials_with_position()

    @extend_schema(responses={200: s.VialSerializer, **READ_ERRORS})
    def get(self, request, *args, **kwargs):
        return super().get(request, *args, **kwargs)


# --- labels ----------------------------------------------------------------------------------------


class _FileRenderer(BaseRenderer):
    charset = None

    def render(self, data, accepted_media_type=None, renderer_context=None):
        if isinstance(data, bytes):
            return data
        if isinstance(data, str):
            return data.encode("utf-8")
        return json.dumps(data).encode("utf-8")


class PDFRenderer(_FileRenderer):
    media_type = "application/pdf"
    format = "pdf"


class SVGRenderer(_FileRenderer):
    media_type = "image/svg+xml"
    format = "svg"


class ZPLRenderer(_FileRenderer):
    media_type = "text/plain"
    format = "zpl"


class _FileView(generics.GenericAPIView):
    """A file endpoint: the file on success; errors stay JSON whatever the client accepts."""

    permission_classes = [HasPerms]
    required_perms = {"GET": READ_LOT}
    pagination_class = None
    filter_backends: list = []

    def handle_exception(self, exc):
        response = super().handle_exception(exc)
        self.request.accepted_renderer = JSONRenderer()
        self.request.accepted_media_type = JSONRenderer.media_type
        return response


class VialLabelView(_FileView):
    """The vial's label: its barcode as Code 128 (SVG, with the text under the bars)."""

    renderer_classes = [SVGRenderer, JSONRenderer]

    @extend_schema(responses={(200, "image/svg+xml"): OpenApiTypes.STR, **READ_ERRORS})
    def get(self, request, pk: int):
        return vial_svg_response(get_object_or_404(
            Vial.objects.select_related("lot").only("id", "barcode", "lot__din"), pk=pk))


class LotLabelsPDFView(_FileView):
    """The lot's printable label sheet (PDF): one cryo label per vial with barcode, line, lot, tier,
    passage and freeze date. ``?layout=roll`` gives one label per page for a thermal roll printer."""

    renderer_classes = [PDFRenderer, JSONRenderer]

    @extend_schema(
        parameters=[OpenApiParameter("layout", str, enum=["sheet", "roll"], required=False,
                                     description="sheet (A4/letter grid, default) or roll (one label per page)")],
        responses={(200, "application/pdf"): OpenApiTypes.BINARY, **READ_ERRORS},
    )
    def get(self, request, pk: int):
        lot = get_object_or_404(Lot.objects.select_related("cell_line"), pk=pk)
        vials = Vial.objects.filter(lot=lot).order_by("number").only("id", "number", "barcode", "lot_id")
        return label_pdf_response(lot, vials, request.query_params.get("layout", "sheet"))


class LotLabelsZPLView(_FileView):
    """The lot's labels as ZPL for Zebra printers (one ^XA…^XZ label per vial)."""

    renderer_classes = [ZPLRenderer, JSONRenderer]

    @extend_schema(responses={(200, "text/plain"): OpenApiTypes.STR, **READ_ERRORS})
    def get(self, request, pk: int):
        lot = get_object_or_404(Lot.objects.select_related("cell_line"), pk=pk)
        vials = Vial.objects.filter(lot=lot).order_by("number").only("id", "number", "barcode", "lot_id")
        return label_zpl_response(lot, vials)
