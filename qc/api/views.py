"""QC and release endpoints of API.md: parse, check the role, call one service, serialize."""

from __future__ import annotations

import json

from django.db.models import Prefetch
from django.http import HttpResponse
from django.shortcuts import get_object_or_404
from django.utils.translation import gettext as _
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, PolymorphicProxySerializer, extend_schema, inline_serializer
from rest_framework import exceptions, serializers, status
from rest_framework.generics import GenericAPIView, ListAPIView
from rest_framework.renderers import BaseRenderer, JSONRenderer
from rest_framework.response import Response

from bank.api.filters import FilterBackend
from bank.api.mixins import SignedPageMixin
from bank.api.permissions import HasPerms
from bank.api.serializers import DomainErrorSerializer
from bank.api.throttling import SIGNATURE
from lots.models import Lot
from qc import services
from qc.api import filters
from qc.api import serializers as s
from qc.certificate import certificate_pdf
from qc.models import Deviation, LotDecision, QCResult, QCTest, Recheck, Specification, StabilityPlan
from qc.queries import criteria_prefetch, recheck_list, release_readiness

REFUSED = {403: DomainErrorSerializer, 409: DomainErrorSerializer}


def _lot(pk) -> Lot:
    return get_object_or_404(Lot.objects.select_related("cell_line"), pk=pk)


def _decision_response(decision: LotDecision) -> Response:
    decision = LotDecision.objects.select_related("lot", "decided_by", "specification").get(pk=decision.pk)
    return Response(s.LotDecisionSerializer(decision).data)


def _results_qs():
    return QCResult.objects.select_related("lot", "test", "vial", "entered_by", "criterion").prefetch_related(
        Prefetch("deviations", queryset=Deviation.objects.order_by("id"))
    )


class QCTestListView(ListAPIView):
    """The test catalog with stable codes."""

    permission_classes = [HasPerms]
    required_perms = {"GET": ["qc.view_qctest"]}
    serializer_class = s.QCTestSerializer
    queryset = QCTest.objects.order_by("order", "code")

    @extend_schema(operation_id="qc_tests_list")
    def get(self, request, *args, **kwargs):
        return self.list(request, *args, **kwargs)


SPECIFICATION_PAGE = inline_serializer("SpecificationPage", {
    "count": serializers.IntegerField(), "next": serializers.URLField(allow_null=True),
    "previous": serializers.URLField(allow_null=True), "results": s.SpecificationSerializer(many=True)})


class SpecificationListView(ListAPIView):
    """The specification in force for a cell type and tier; QA publishes a new version with POST."""

    permission_classes = [HasPerms]
    required_perms = {"GET": ["qc.view_specification"], "POST": ["qc.add_specification"]}
    serializer_class = s.SpecificationSerializer
    filterset_class = filters.SpecificationFilter
    filter_backends = [FilterBackend]  # leaves the validated FilterSet on the view: one object or a page
    queryset = (Specification.objects.select_related("published_by").prefetch_related(criteria_prefetch())
                .order_by("cell_type", "tier", "-version"))

    @extend_schema(
        operation_id="qc_specifications_in_force",
        responses={200: PolymorphicProxySerializer("SpecificationInForce", [s.SpecificationSerializer,
                                                                           SPECIFICATION_PAGE],
                                                   resource_type_field_name=None, many=False),
                   404: OpenApiResponse(description="no specification")},
        description="With both `cell_type` and `tier`: the version in force (one object). Otherwise a "
                    "paginated list of the versions in force (or of every version with `all_versions=true`).",
    )
    def get(self, request, *args, **kwargs):
        return self.list(request, *args, **kwargs)

    def list(self, request, *args, **kwargs):
        specs = self.filter_queryset(self.get_queryset())
        if self.filterset.one_in_force:
            if not specs:
                data = self.filterset.form.cleaned_data
                raise exceptions.NotFound(_("There is no specification for %(cell_type)s %(tier)s.")
                                          % {"cell_type": data["cell_type"], "tier": data["tier"]})
            return Response(self.get_serializer(specs[0]).data)
        page = self.paginate_queryset(specs)
        return self.get_paginated_response(self.get_serializer(page, many=True).data)

    @extend_schema(request=s.SpecificationPublishSerializer, responses={201: s.SpecificationSerializer, **REFUSED})
    def post(self, request):
        data = s.SpecificationPublishSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        v = data.validated_data
        criteria = [{**row} for row in v["criteria"]]
        spec = services.publish_specification(actor=request.user, cell_type=v["cell_type"], tier=v["tier"],
                                              criteria=criteria, notes=v.get("notes", ""))
        spec = Specification.objects.select_related("published_by").prefetch_related(criteria_prefetch()).get(
            pk=spec.pk)
        return Response(s.SpecificationSerializer(spec).data, status=status.HTTP_201_CREATED)


class SpecificationDetailView(GenericAPIView):
    """One version of a specification (old versions stay readable)."""

    permission_classes = [HasPerms]
    required_perms = {"GET": ["qc.view_specification"]}
    serializer_class = s.SpecificationSerializer

    @extend_schema(operation_id="qc_specifications_retrieve")
    def get(self, request, pk: int):
        spec = get_object_or_404(
            Specification.objects.select_related("published_by").prefetch_related(criteria_prefetch()), pk=pk)
        return Response(s.SpecificationSerializer(spec).data)


class LotResultsView(ListAPIView):
    """A lot's QC results (newest first); technicians and QA enter one with POST."""

    permission_classes = [HasPerms]
    required_perms = {"GET": ["qc.view_qcresult"], "POST": ["qc.add_qcresult"]}
    serializer_class = s.QCResultSerializer

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):
            return QCResult.objects.none()
        return _results_qs().filter(lot=_lot(self.kwargs["pk"])).order_by("-entered_at", "-id")

    @extend_schema(operation_id="lots_qc_results_list")
    def get(self, request, *args, **kwargs):
        return self.list(request, *args, **kwargs)

    @extend_schema(request=s.QCResultInputSerializer, responses={201: s.QCResultSerializer, **REFUSED})
    def post(self, request, pk: int):
        lot = _lot(pk)
        data = s.QCResultInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        v = data.validated_data
        result = services.record_qc_result(
            lot, actor=request.user, test=v["test"], value=v.get("value"), outcome=v.get("outcome", ""),
            tested_on=v["tested_on"], method=v.get("method", ""), instrument=v.get("instrument", ""),
            vial=v.get("vial") or None, notes=v.get("notes", ""),
        )
        return Response(s.QCResultSerializer(_results_qs().get(pk=result.pk)).data, status=status.HTTP_201_CREATED)


class ReleaseView(GenericAPIView):
    """QA's e-signed release (password and meaning). Refusal order as in API.md."""

    permission_classes = [HasPerms]
    required_perms = {"POST": ["qc.release_lot"]}
    serializer_class = s.ReleaseSerializer
    throttle_scope = SIGNATURE  # bank.api.throttling: an e-signature checks a password

    @extend_schema(request=s.ReleaseSerializer, responses={200: s.LotDecisionSerializer, **REFUSED})
    def post(self, request, pk: int):
        lot = _lot(pk)
        data = s.ReleaseSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        decision = services.release_lot(lot, actor=request.user, password=data.validated_data["password"],
                                        meaning=data.validated_data["meaning"])
        return _decision_response(decision)


class RejectView(GenericAPIView):
    """QA's e-signed rejection with a reason."""

    permission_classes = [HasPerms]
    required_perms = {"POST": ["qc.release_lot"]}
    serializer_class = s.RejectSerializer
    throttle_scope = SIGNATURE  # bank.api.throttling: an e-signature checks a password

    @extend_schema(request=s.RejectSerializer, responses={200: s.LotDecisionSerializer, **REFUSED})
    def post(self, request, pk: int):
        lot = _lot(pk)
        data = s.RejectSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        v = data.validated_data
        decision = services.reject_lot(lot, actor=request.user, password=v["password"], reason=v["reason"],
                                       meaning=v["meaning"])
        return _decision_response(decision)


class LiftHoldView(GenericAPIView):
    """QA lifts a hold with an e-signed decision citing a passing re-test."""

    permission_classes = [HasPerms]
    required_perms = {"POST": ["qc.release_lot"]}
    serializer_class = s.LiftHoldSerializer
    throttle_scope = SIGNATURE  # bank.api.throttling: an e-signature checks a password

    @extend_schema(request=s.LiftHoldSerializer, responses={200: s.LotDecisionSerializer, **REFUSED})
    def post(self, request, pk: int):
        lot = _lot(pk)
        data = s.LiftHoldSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        v = data.validated_data
        decision = services.lift_hold(lot, actor=request.user, password=v["password"],
                                      cited_result=v["cited_result"], reason=v["reason"], meaning=v["meaning"])
        return _decision_response(decision)


class LotDecisionListView(SignedPageMixin, ListAPIView):
    """A lot's QA decisions, newest first, each with its e-signatures: whether each still matches the decision
    and the manifest of what QA reviewed (a result corrected since, a deviation opened or closed, the donor's
    eligibility or consent changed: ``matches`` false, ``differences`` says what)."""

    permission_classes = [HasPerms]
    required_perms = {"GET": ["qc.view_lotdecision"]}
    serializer_class = s.LotDecisionSerializer

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):
            return LotDecision.objects.none()
        lot = _lot(self.kwargs["pk"])
        return (LotDecision.objects.filter(lot=lot).select_related("lot", "decided_by", "specification")
                .order_by("-decided_at", "-id"))

    @extend_schema(operation_id="lots_decisions_list")
    def get(self, request, *args, **kwargs):
        return self.list(request, *args, **kwargs)


class ReadinessView(GenericAPIView):
    """What still stands between a lot and its release (the review page's facts, for scripts)."""

    permission_classes = [HasPerms]
    required_perms = {"GET": ["qc.view_qcresult"]}
    serializer_class = s.ReadinessSerializer

    def get(self, request, pk: int):
        readiness = release_readiness(_lot(pk))
        lot = readiness.lot
        return Response(s.ReadinessSerializer({
            "lot": lot.pk, "lot_number": lot.lot_number, "status": lot.status,
            "specification": str(readiness.specification) if readiness.specification else None,
            "ready": not readiness.blockers(),
            "blockers": [{"code": b.code, "detail": b.detail} for b in readiness.blockers()],
            "eligibility": readiness.eligibility.status, "consent": readiness.consent,
            "tests": [{"test": row.test.code, "criterion": row.criterion.describe(), "blocking": row.blocking,
                       "state": row.state, "result": row.latest} for row in readiness.rows],
        }).data)


class PDFRenderer(BaseRenderer):
    media_type = "application/pdf"
    format = "pdf"
    charset = None
    render_style = "binary"

    def render(self, data, accepted_media_type=None, renderer_context=None):
        if isinstance(data, bytes):
            return data
        return json.dumps(data).encode("utf-8")  # an error body when the client asked for PDF only


class CertificateView(GenericAPIView):
    """The certificate of analysis of a released lot (PDF)."""

    permission_classes = [HasPerms]
    required_perms = {"GET": ["qc.view_qcresult"]}
    renderer_classes = [JSONRenderer, PDFRenderer]

    @extend_schema(responses={(200, "application/pdf"): OpenApiTypes.BINARY, 409: DomainErrorSerializer})
    def get(self, request, pk: int):
        lot = _lot(pk)
        pdf = certificate_pdf(lot)
        response = HttpResponse(pdf, content_type="application/pdf")
        response["Content-Disposition"] = f'inline; filename="CoA-{lot.lot_number}.pdf"'
        return response


class StabilityPlanView(GenericAPIView):
    """A released lot's stability plan; QA changes its interval and minimum viability with PUT."""

    permission_classes = [HasPerms]
    required_perms = {"GET": ["qc.view_stabilityplan"], "PUT": ["qc.change_stabilityplan"]}
    serializer_class = s.StabilityPlanSerializer
    queryset = Lot.objects.all()  # the planned lot: OPTIONS (DRF's metadata) looks the object up for PUT

    def get(self, request, pk: int):
        plan = get_object_or_404(StabilityPlan, lot=_lot(pk))
        return Response(s.StabilityPlanSerializer(plan).data)

    @extend_schema(request=s.StabilityPlanInputSerializer, responses={200: s.StabilityPlanSerializer, **REFUSED})
    def put(self, request, pk: int):
        lot = _lot(pk)
        data = s.StabilityPlanInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        plan = services.set_stability_plan(lot, actor=request.user, **data.validated_data)
        return Response(s.StabilityPlanSerializer(plan).data)


class RecheckListView(ListAPIView):
    """Stability re-checks, soonest first: ``?status=due`` (or overdue, done, cancelled, open)."""

    permission_classes = [HasPerms]
    required_perms = {"GET": ["qc.view_recheck"]}
    serializer_class = s.RecheckSerializer
    filterset_class = filters.RecheckFilter

    def get_queryset(self):
        return recheck_list()

    @extend_schema(operation_id="qc_rechecks_list")
    def get(self, request, *args, **kwargs):
        return self.list(request, *args, **kwargs)


class RecheckResultView(GenericAPIView):
    """Enter a re-check's viability; below the plan's minimum the lot goes on hold and QA is told."""

    permission_classes = [HasPerms]
    required_perms = {"POST": ["qc.change_recheck"]}
    serializer_class = s.RecheckResultSerializer

    @extend_schema(request=s.RecheckResultSerializer, responses={201: s.RecheckSerializer, **REFUSED})
    def post(self, request, pk: int):
        recheck = get_object_or_404(Recheck, pk=pk)
        data = s.RecheckResultSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        v = data.validated_data
        services.record_recheck_result(
            recheck, actor=request.user, viability_pct=v["viability_pct"], tested_on=v["tested_on"],
            vial=v.get("vial") or None, method=v.get("method", ""), instrument=v.get("instrument", ""),
            notes=v.get("notes", ""),
        )
        return Response(s.RecheckSerializer(recheck_list().get(pk=pk)).data, status=status.HTTP_201_CREATED)


def _deviations_qs():
    return Deviation.objects.select_related("lot", "collection", "opened_by", "closed_by")


class DeviationListView(SignedPageMixin, ListAPIView):
    """Deviations, newest first (``?status=open``, ``?lot=``); a deviation can also be opened by hand."""

    permission_classes = [HasPerms]
    required_perms = {"GET": ["qc.view_deviation"], "POST": ["qc.add_deviation"]}
    serializer_class = s.DeviationSerializer
    filterset_class = filters.DeviationFilter

    def get_queryset(self):
        return _deviations_qs().order_by("-opened_at", "-id")

    @extend_schema(operation_id="qc_deviations_list")
    def get(self, request, *args, **kwargs):
        return self.list(request, *args, **kwargs)

    @extend_schema(request=s.DeviationCreateSerializer, responses={201: s.DeviationSerializer, **REFUSED})
    def post(self, request):
        data = s.DeviationCreateSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        lot = Lot.objects.filter(pk=data.validated_data["lot"]).first()
        if lot is None:
            raise exceptions.ValidationError({"lot": [_("No such lot.")]})
        deviation = services.open_deviation(lot, actor=request.user, summary=data.validated_data["summary"])
        return Response(s.DeviationSerializer(_deviations_qs().get(pk=deviation.pk)).data,
                        status=status.HTTP_201_CREATED)


class DeviationDetailView(GenericAPIView):
    """One deviation; QA records investigation, root cause and CAPA with PATCH."""

    permission_classes = [HasPerms]
    required_perms = {"GET": ["qc.view_deviation"], "PATCH": ["qc.change_deviation"]}
    serializer_class = s.DeviationSerializer

    def get(self, request, pk: int):
        return Response(s.DeviationSerializer(get_object_or_404(_deviations_qs(), pk=pk)).data)

    @extend_schema(request=s.DeviationUpdateSerializer, responses={200: s.DeviationSerializer, **REFUSED})
    def patch(self, request, pk: int):
        deviation = get_object_or_404(Deviation, pk=pk)
        data = s.DeviationUpdateSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        services.update_deviation(deviation, actor=request.user, **data.validated_data)
        return Response(s.DeviationSerializer(_deviations_qs().get(pk=pk)).data)


class DeviationCloseView(GenericAPIView):
    """QA closes a deviation with an e-signature once investigation, root cause and CAPA are written."""

    permission_classes = [HasPerms]
    required_perms = {"POST": ["qc.close_deviation"]}
    serializer_class = s.DeviationCloseSerializer
    throttle_scope = SIGNATURE  # bank.api.throttling: an e-signature checks a password

    @extend_schema(request=s.DeviationCloseSerializer, responses={200: s.DeviationSerializer, **REFUSED})
    def post(self, request, pk: int):
        deviation = get_object_or_404(Deviation, pk=pk)
        data = s.DeviationCloseSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        services.close_deviation(deviation, actor=request.user, **data.validated_data)
        return Response(s.DeviationSerializer(_deviations_qs().get(pk=pk)).data)
