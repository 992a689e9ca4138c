"""Label API (issue 17): ``POST /labels/vials/``, ``/labels/boxes/``, ``/labels/lots/`` answer the PDF or ZPL
file (200) or, for more than ``LABEL_JOB_THRESHOLD`` labels, 202 with the job to poll (its result is the file);
``/printer-profiles/`` lists the profiles (staff) and lets admins keep them."""

from __future__ import annotations

from django.shortcuts import get_object_or_404
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import generics, status
from rest_framework.renderers import JSONRenderer
from rest_framework.response import Response

from bank import jobs, printers
from bank.api.pagination import Pagination
from bank.api.permissions import HasPerms
from bank.api.serializers import DomainErrorSerializer
from bank.models import Job, PrinterProfile
from labels import services
from labels.api import serializers as s
from labels.views import deliver
from lots.api.views import PDFRenderer, ZPLRenderer

ERRORS = {
    400: OpenApiResponse(description="bad input: {field: [messages]} (unknown barcodes are named)"),
    401: OpenApiResponse(description="no or bad credentials"),
    403: OpenApiResponse(DomainErrorSerializer, description="role not allowed"),
}
FILE_RESPONSES = {
    (200, "application/pdf"): OpenApiTypes.BINARY,
    (200, "text/plain"): OpenApiTypes.STR,
    202: OpenApiResponse(s.LabelJobAcceptedSerializer, description="more labels than LABEL_JOB_THRESHOLD: the job to "
                                                              "poll; its result file is the PDF or ZPL"),
    **ERRORS,
}


class _PrintView(generics.GenericAPIView):
    """POST what to label → the file, or 202 and the job. Errors and the 202 are JSON whatever was accepted."""

    permission_classes = [HasPerms]
    renderer_classes = [JSONRenderer, PDFRenderer, ZPLRenderer]
    pagination_class = None
    filter_backends: list = []
    kind = ""

    def finalize_response(self, request, response, *args, **kwargs):
        if isinstance(response, Response):
            request.accepted_renderer = JSONRenderer()
            request.accepted_media_type = JSONRenderer.media_type
        return super().finalize_response(request, response, *args, **kwargs)

    def print_selection(self, request, select):
        """Validate the body, ``select(data)`` → a ``labels.services.Selection``, print it (or hand it to a job)."""
        serializer = self.get_serializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        selection = select(data)
        profile = services.profile_for(self.kind, data.get("profile"))
        result = services.print_labels(actor=request.user, kind=self.kind, ids=selection.ids, profile=profile,
                                       fmt=data.get("format") or None, title=selection.title, name=selection.name,
                                       copies=data.get("copies") or 1)
        if isinstance(result, Job):
            return jobs.accepted_response(result, request)
        return deliver(request, result)


class VialLabelsView(_PrintView):
    """Labels for a selection of vials (barcodes or ids, in the order given). An unknown barcode refuses the whole
    request: 400 ``{"vials": ["Unknown vial barcodes: …"]}``."""

    required_perms = {"POST": ["lots.view_vial", "lots.view_lot"]}
    serializer_class = s.VialLabelsSerializer
    kind = "vial"

    @extend_schema(request=s.VialLabelsSerializer, responses=FILE_RESPONSES)
    def post(self, request):
        return self.print_selection(request, lambda data: services.vial_selection(data["vials"]))


class BoxLabelsView(_PrintView):
    """Box labels: the boxes given (barcodes or ids), every box of a rack, or every box of a unit."""

    required_perms = {"POST": ["storage.view_box"]}
    serializer_class = s.BoxLabelsSerializer
    kind = "box"

    @staticmethod
    def select(data):
        from storage.models import Rack, StorageUnit

        if data.get("boxes") is not None:
            return services.box_selection(boxes=data["boxes"])
        if data.get("rack") is not None:
            return services.box_selection(rack=get_object_or_404(Rack.objects.select_related("unit"),
                                                                 pk=data["rack"]))
        return services.box_selection(unit=get_object_or_404(StorageUnit, pk=data["unit"]))

    @extend_schema(request=s.BoxLabelsSerializer, responses={**FILE_RESPONSES, 404: OpenApiResponse(
        description="no such rack or unit")})
    def post(self, request):
        return self.print_selection(request, self.select)


class LotLabelsView(_PrintView):
    """Labels of lots themselves (lot barcode, lot number, line, tier, passage, freeze date, vial count)."""

    required_perms = {"POST": ["lots.view_lot"]}
    serializer_class = s.LotLabelsSerializer
    kind = "lot"

    @extend_schema(request=s.LotLabelsSerializer, responses=FILE_RESPONSES)
    def post(self, request):
        return self.print_selection(request, lambda data: services.lot_selection(data["lots"]))


# --- printer profiles ----------------------------------------------------------------------------------------

MANAGE = ["bank.add_printerprofile", "bank.change_printerprofile"]


class PrinterProfileListView(generics.ListCreateAPIView):
    """Printer profiles (``?kind=vial|box|lot``, ``?active=true|false``); admins add them."""

    permission_classes = [HasPerms]
    required_perms = {"GET": ["bank.view_printerprofile"], "POST": MANAGE}
    serializer_class = s.PrinterProfileSerializer
    pagination_class = Pagination
    filter_backends: list = []

    def get_queryset(self):
        queryset = PrinterProfile.objects.order_by("kind", "name")
        kind = self.request.query_params.get("kind")
        if kind:
            queryset = queryset.filter(kind=kind)
        active = self.request.query_params.get("active")
        if active in ("true", "false"):
            queryset = queryset.filter(active=active == "true")
        return queryset

    @extend_schema(responses={201: s.PrinterProfileSerializer, **ERRORS})
    def post(self, request):
        serializer = self.get_serializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        values = {k: v for k, v in serializer.validated_data.items() if k in printers.EDITABLE}
        profile = printers.save_profile(None, values, actor=request.user)
        return Response(self.get_serializer(profile).data, status=status.HTTP_201_CREATED)


class PrinterProfileDetailView(generics.RetrieveUpdateAPIView):
    """One printer profile; admins change it (``{"active": false}`` retires it: profiles are never deleted)."""

    permission_classes = [HasPerms]
    required_perms = {"GET": ["bank.view_printerprofile"], "PATCH": MANAGE, "PUT": MANAGE}
    serializer_class = s.PrinterProfileSerializer
    queryset = PrinterProfile.objects.all()
    filter_backends: list = []

    @extend_schema(responses={200: s.PrinterProfileSerializer, **ERRORS})
    def update(self, request, *args, **kwargs):
        profile = self.get_object()
        serializer = self.get_serializer(profile, data=request.data, partial=kwargs.get("partial", False))
        serializer.is_valid(raise_exception=True)
        values = {k: v for k, v in serializer.validated_data.items() if k in printers.EDITABLE}
        profile = printers.save_profile(profile, values, actor=request.user)
        return Response(self.get_serializer(profile).data)
