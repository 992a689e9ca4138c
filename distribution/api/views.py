"""Distribution API (API.md "Distribution" and "Traceability"): parse, check the role, call one service."""

from __future__ import annotations

from django.db.models import Prefetch
from django.http import HttpResponse
from django.shortcuts import get_object_or_404
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.generics import GenericAPIView
from rest_framework.parsers import FormParser, JSONParser, MultiPartParser
from rest_framework.renderers import JSONRenderer
from rest_framework.response import Response

from bank.api.integrity import PDFRenderer
from bank.api.mixins import SignedPageMixin
from bank.api.permissions import HasPerms
from bank.api.serializers import DomainErrorSerializer
from bank.api.throttling import SIGNATURE
from distribution import queries, services
from distribution.api import filters
from distribution.api import serializers as s
from distribution.choices import RequestStatus
from distribution.models import (
    Allocation,
    DistributionRequest,
    ExportApproval,
    InstitutionProfile,
    Recall,
    RecallNotice,
)
from distribution.quotation import has_quotation, quotation_pdf
from donors.models import Donor
from lots.models import Lot

VIEW_REQUEST = "distribution.view_distributionrequest"
REVIEW = "distribution.review_request"
SHIP = "distribution.ship_request"
TRACE = "distribution.view_trace"

REFUSED = {403: DomainErrorSerializer, 409: DomainErrorSerializer}

CATALOG_FILTERS = [
    OpenApiParameter("q", str, required=False, description="search the line name and description"),
    OpenApiParameter("cell_type", str, required=False, description="iPSC, ESC, UC-MSC, ..."),
    OpenApiParameter("grade", str, required=False, description="research or clinical"),
    OpenApiParameter("hla", str, required=False,
                     description="an HLA allele, e.g. A*24:02 or A*24; matches only shareable typings"),
]


class CatalogView(GenericAPIView):
    """Released cell lines with distributable vials; HLA only where the donor consented to data sharing."""

    permission_classes = [HasPerms]
    required_perms = {"GET": ["distribution.view_catalog"]}
    serializer_class = s.CatalogEntrySerializer

    @extend_schema(parameters=CATALOG_FILTERS, operation_id="catalog_list")
    def get(self, request):
        self.filters = queries.CatalogFilters.parse(request.query_params)
        page = self.paginate_queryset(queries.catalog_lines(self.filters))
        return self.get_paginated_response([s.catalog_entry_data(e) for e in queries.catalog_entries(page)])

    def known_count(self, request) -> int | None:
        return queries.catalog_count(self.filters)


class CatalogEntryView(GenericAPIView):
    """One released line of the catalog."""

    permission_classes = [HasPerms]
    required_perms = {"GET": ["distribution.view_catalog"]}
    serializer_class = s.CatalogEntrySerializer

    @extend_schema(operation_id="catalog_entry")
    def get(self, request, pk: int):
        entry = queries.catalog_entry(pk)
        if entry is None:
            return Response({"detail": "Not found.", "code": "not_found"}, status=status.HTTP_404_NOT_FOUND)
        return Response(s.catalog_entry_data(entry))


class MTAView(GenericAPIView):
    """The material transfer agreement in force (accepted with each request)."""

    permission_classes = [HasPerms]
    required_perms = {"GET": ["distribution.view_materialtransferagreement"]}
    serializer_class = s.MTASerializer

    def get(self, request):
        mta = queries.current_mta()
        if mta is None:
            return Response({"detail": "No agreement in force.", "code": "no_mta"}, status=status.HTTP_404_NOT_FOUND)
        return Response(s.MTASerializer(mta).data)


class RequestViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    """Distribution requests. A researcher sees only their own (others' are 404); staff see all."""

    permission_classes = [HasPerms]
    serializer_class = s.RequestSerializer
    filterset_class = filters.RequestFilter
    queryset = DistributionRequest.objects.none()  # for the schema; get_queryset decides what a user sees
    required_perms = {
        "list": [VIEW_REQUEST], "retrieve": [VIEW_REQUEST], "create": ["distribution.add_distributionrequest"],
        "approve": [REVIEW], "reject": [REVIEW], "ship": [SHIP], "pick": [SHIP], "pick_list": [SHIP],
        "receive": [VIEW_REQUEST], "cancel": [VIEW_REQUEST],
        "export_approval": ["distribution.add_exportapproval"],
    }

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):
            return DistributionRequest.objects.none()
        return queries.requests_visible_to(self.request.user).prefetch_related(
            Prefetch("allocations", queryset=Allocation.objects.filter(released_at__isnull=True)
                     .select_related("vial"), to_attr="live_allocations"),
            Prefetch("export_approvals", queryset=ExportApproval.objects.select_related("request", "recorded_by")
                     .order_by("-expires_on", "-id")))

    def known_count(self, request) -> int | None:
        """The list's total from the kept counts (staff see every request; ``?status=`` at most): no COUNT."""
        if self.action != "list" or not queries.sees_all_requests(request.user):
            return None
        if set(request.query_params) - {"status", "page", "page_size"}:
            return None
        counts = queries.open_request_counts()
        wanted = request.query_params.get("status") or ""
        if wanted and wanted not in RequestStatus.values:
            return None  # the filter answers 400 itself
        return counts.get(wanted, 0) if wanted else sum(counts.values())

    def filter_queryset(self, queryset):
        # ?status= narrows the list only: an action on one request finds it whatever its status.
        return super().filter_queryset(queryset) if self.action == "list" else queryset

    def _respond(self, obj, code=status.HTTP_200_OK):
        return Response(s.RequestSerializer(self.get_queryset().get(pk=obj.pk)).data, status=code)

    @extend_schema(request=s.RequestCreateSerializer, responses={201: s.RequestSerializer, 400: None, **REFUSED})
    def create(self, request):
        data = s.RequestCreateSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        created = services.submit_request(actor=request.user, **data.validated_data)
        return self._respond(created, status.HTTP_201_CREATED)

    @extend_schema(request=s.ApproveSerializer, responses={200: s.RequestSerializer, **REFUSED},
                   description="Allocate and reserve the vials. 409 insufficient_stock, consent_scope, "
                               "grade_mismatch, consent_withdrawn, donor_not_eligible, invalid_transition.")
    @action(detail=True, methods=["post"])
    def approve(self, request, pk=None):
        data = s.ApproveSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        approved = services.approve_request(self.get_object(), actor=request.user, **data.validated_data)
        return self._respond(approved)

    @extend_schema(request=s.RequestRejectSerializer, responses={200: s.RequestSerializer, **REFUSED})
    @action(detail=True, methods=["post"])
    def reject(self, request, pk=None):
        data = s.RequestRejectSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        return self._respond(services.reject_request(self.get_object(), actor=request.user, **data.validated_data))

    @extend_schema(request={"application/json": s.ExportApprovalCreateSerializer,
                            "multipart/form-data": s.ExportApprovalCreateSerializer},
                   responses={201: s.ExportApprovalSerializer, 400: None, **REFUSED},
                   description="QA records the Human Genetic Resources export approval of a request to a recipient "
                               "outside the bank's country (JSON, or multipart with the scanned `document`). "
                               "Shipping needs one valid on `shipped_on` (409 export_approval_required).")
    @action(detail=True, methods=["post"], url_path="export-approval",
            parser_classes=[JSONParser, MultiPartParser, FormParser])
    def export_approval(self, request, pk=None):
        data = s.ExportApprovalCreateSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        approval = services.record_export_approval(self.get_object(), actor=request.user, **data.validated_data)
        return Response(s.ExportApprovalSerializer(approval).data, status=status.HTTP_201_CREATED)

    @extend_schema(responses={200: s.RequestSerializer, **REFUSED})
    @action(detail=True, methods=["post"])
    def cancel(self, request, pk=None):
        return self._respond(services.cancel_request(self.get_object(), actor=request.user))

    @extend_schema(request=s.ShipSerializer, responses={200: s.RequestSerializer, **REFUSED},
                   description="The reserved vials become shipped and their storage positions are freed.")
    @action(detail=True, methods=["post"])
    def ship(self, request, pk=None):
        data = s.ShipSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        return self._respond(services.ship_request(self.get_object(), actor=request.user, **data.validated_data))

    @extend_schema(request=s.ReceiveSerializer, responses={200: s.RequestSerializer, **REFUSED},
                   description="The requesting researcher confirms receipt and the condition on arrival.")
    @action(detail=True, methods=["post"])
    def receive(self, request, pk=None):
        data = s.ReceiveSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        return self._respond(services.receive_request(self.get_object(), actor=request.user,
                                                      **data.validated_data))

    @extend_schema(request=s.PickSerializer, responses={200: s.PickLineSerializer(many=True), **REFUSED},
                   description="Confirm one scanned vial as picked; 409 wrong_vial when it is not on the list.")
    @action(detail=True, methods=["post"], filter_backends=[], pagination_class=None)
    def pick(self, request, pk=None):
        data = s.PickSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        obj = self.get_object()
        services.confirm_pick(obj, data.validated_data["barcode"], actor=request.user)
        return Response(s.PickLineSerializer(queries.pick_list(obj), many=True).data)

    @extend_schema(responses=s.PickLineSerializer(many=True))
    @action(detail=True, methods=["get"], url_path="pick-list", filter_backends=[], pagination_class=None)
    def pick_list(self, request, pk=None):
        return Response(s.PickLineSerializer(queries.pick_list(self.get_object()), many=True).data)


class QuotationView(GenericAPIView):
    """The quotation of an enterprise request (PDF); a public institution's request has none (404)."""

    permission_classes = [HasPerms]
    required_perms = {"GET": [VIEW_REQUEST]}
    renderer_classes = [JSONRenderer, PDFRenderer]

    @extend_schema(operation_id="requests_quotation", responses={(200, "application/pdf"): OpenApiTypes.BINARY,
                                                                 404: DomainErrorSerializer})
    def get(self, request, pk: int):
        obj = get_object_or_404(queries.requests_visible_to(request.user), pk=pk)
        if not has_quotation(obj):
            return Response({"detail": "Only an enterprise request is quoted.", "code": "not_found"},
                            status=status.HTTP_404_NOT_FOUND)
        response = HttpResponse(quotation_pdf(obj), content_type="application/pdf")
        response["Content-Disposition"] = f'inline; filename="Quotation-{obj.number}.pdf"'
        return response


class InstitutionProfileView(GenericAPIView):
    """The researcher's own institution profile: it prefills their requests (404 until saved once)."""

    permission_classes = [HasPerms]
    required_perms = {"GET": ["distribution.add_distributionrequest"], "PUT": ["distribution.add_distributionrequest"]}
    serializer_class = s.InstitutionProfileSerializer

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):
            return InstitutionProfile.objects.none()
        return InstitutionProfile.objects.filter(user=self.request.user)

    def get_object(self):
        # One profile per user, no id in the path (OPTIONS, DRF's metadata, looks it up for PUT too).
        return get_object_or_404(self.get_queryset())

    def get(self, request):
        profile = self.get_queryset().first()
        if profile is None:
            return Response({"detail": "No institution profile yet.", "code": "not_found"},
                            status=status.HTTP_404_NOT_FOUND)
        return Response(s.InstitutionProfileSerializer(profile).data)

    @extend_schema(request=s.InstitutionProfileSerializer, responses={200: s.InstitutionProfileSerializer, 400: None})
    def put(self, request):
        data = s.InstitutionProfileSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        profile = services.save_institution_profile(actor=request.user, **data.validated_data)
        return Response(s.InstitutionProfileSerializer(profile).data)


class TraceVialView(GenericAPIView):
    """Backward trace of a vial: donor code, collection, line, lot lineage, culture and reagent lots,
    QC results, storage moves, shipment and recipient. Staff with distribution.view_trace only."""

    permission_classes = [HasPerms]
    required_perms = {"GET": [TRACE]}
    serializer_class = s.VialTraceSerializer

    def get(self, request, barcode: str):
        trace = queries.trace_vial(barcode)
        if trace is None:
            return Response({"detail": "No vial with this barcode.", "code": "not_found"},
                            status=status.HTTP_404_NOT_FOUND)
        return Response(s.VialTraceSerializer(trace).data)


class TraceDonorView(GenericAPIView):
    """Forward trace from a donor: every line, lot, vial and shipment derived, with recipients."""

    permission_classes = [HasPerms]
    required_perms = {"GET": [TRACE]}
    serializer_class = s.ForwardTraceSerializer

    def get(self, request, pk: int):
        return Response(s.ForwardTraceSerializer(queries.trace_donor(get_object_or_404(Donor, pk=pk))).data)


class TraceLotView(GenericAPIView):
    """Forward trace from a lot: the lot and the lots derived from it, their vials, shipments, recipients."""

    permission_classes = [HasPerms]
    required_perms = {"GET": [TRACE]}
    serializer_class = s.LotForwardTraceSerializer

    def get(self, request, pk: int):
        lot = get_object_or_404(Lot.objects.select_related("cell_line__donor"), pk=pk)
        return Response(s.LotForwardTraceSerializer(queries.trace_lot(lot)).data)


def _recalls():
    return Recall.objects.select_related("lot", "initiated_by").prefetch_related(
        Prefetch("notices", queryset=RecallNotice.objects.select_related("request", "recipient").order_by("id")))


class LotRecallView(GenericAPIView):
    """QA recalls a released lot with a reason and an electronic signature (password again)."""

    permission_classes = [HasPerms]
    required_perms = {"POST": ["distribution.add_recall"]}
    serializer_class = s.RecallSerializer
    throttle_scope = SIGNATURE  # bank.api.throttling: an e-signature checks a password

    @extend_schema(request=s.RecallCreateSerializer, responses={201: s.RecallSerializer, 400: None, **REFUSED},
                   description="403 signature_invalid; 409 invalid_transition when the lot is not released.")
    def post(self, request, pk: int):
        lot = get_object_or_404(Lot, pk=pk)
        data = s.RecallCreateSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        recall = services.recall_lot(lot, actor=request.user, **data.validated_data)
        return Response(s.RecallSerializer(_recalls().get(pk=recall.pk)).data, status=status.HTTP_201_CREATED)


class RecallViewSet(SignedPageMixin, mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    """Recalls (of a lot, or of everything from a donor who withdrew consent) and their recipients."""

    permission_classes = [HasPerms]
    required_perms = {"list": ["distribution.view_recall"], "retrieve": ["distribution.view_recall"]}
    serializer_class = s.RecallSerializer
    filterset_class = filters.RecallFilter

    def get_queryset(self):
        return _recalls().order_by("-initiated_at", "-id")

