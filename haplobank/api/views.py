"""Haplobank API (API.md "Haplobank"): parse, check the role, call one service or query, answer.

QA, coordinators and admins keep the tables and read coverage and planning; researchers (and they) search for a
match, a researcher seeing only lines whose donors consented to data sharing; the recruitment list (an addition:
``GET /hla/recruitment/``) is for coordinators and admins.
"""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.shortcuts import get_object_or_404
from django.utils.translation import gettext as _
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import status
from rest_framework.generics import GenericAPIView
from rest_framework.response import Response

from bank.api.serializers import DomainErrorSerializer
from haplobank import matching, queries, services
from haplobank.api import serializers as s
from haplobank.api.parsers import CSVTextParser, PlainTextParser
from haplobank.api.permissions import RoleRule
from haplobank.models import Population

REFUSED = {403: DomainErrorSerializer, 409: DomainErrorSerializer}


def _valid(serializer_class, data) -> dict:
    serializer = serializer_class(data=data)
    serializer.is_valid(raise_exception=True)
    return serializer.validated_data


def _population(pk: int, field_name: str = "population") -> Population:
    """A population named in a body or a query (400 naming the field when there is none with that id)."""
    population = Population.objects.filter(pk=pk).first()
    if population is None:
        raise ValidationError({field_name: [_("No population has the id %(id)s: list them with GET "
                                              "/api/v1/hla/populations/.") % {"id": pk}]})
    return population


def _population_data(population: Population) -> dict:
    return s.PopulationSerializer(population, context={"summaries": queries.table_summaries([population])}).data


class _HaplobankView(GenericAPIView):
    permission_classes = [RoleRule]
    allowed: dict = {}


class PopulationListView(_HaplobankView):
    """Reference populations and the size of their tables; QA, coordinators and admins register them."""

    allowed = {"GET": queries.may_manage, "POST": queries.may_manage}
    serializer_class = s.PopulationSerializer

    def get_queryset(self):
        return queries.populations()

    @extend_schema(operation_id="hla_populations_list")
    def get(self, request):
        page = self.paginate_queryset(self.get_queryset())
        data = s.PopulationSerializer(page, many=True, context={"summaries": queries.table_summaries(page)}).data
        return self.get_paginated_response(data)

    @extend_schema(request=s.PopulationCreateSerializer, responses={201: s.PopulationSerializer, 400: None, **REFUSED})
    def post(self, request):
        data = _valid(s.PopulationCreateSerializer, request.data)
        population = services.create_population(actor=request.user, **data)
        return Response(_population_data(population), status=status.HTTP_201_CREATED)


class PopulationDetailView(_HaplobankView):
    allowed = {"GET": queries.may_manage}
    serializer_class = s.PopulationSerializer

    @extend_schema(operation_id="hla_populations_retrieve")
    def get(self, request, pk: int):
        return Response(_population_data(get_object_or_404(queries.populations(), pk=pk)))


UPLOAD = extend_schema(
    request={"text/csv": OpenApiTypes.STR},
    responses={200: s.PopulationSerializer, 400: OpenApiResponse(s.TableRefusedSerializer, description=(
        "invalid_lines (every bad line listed) or frequencies_exceed_one; nothing stored")), 403: DomainErrorSerializer,
        404: None, 415: None})


class HaplotypeUploadView(_HaplobankView):
    """Replace the population's haplotype table (CSV, ``A*24:02~B*52:01~DRB1*15:02,0.085`` per line). All or
    nothing: a bad line or frequencies adding up to more than 1 store nothing."""

    allowed = {"POST": queries.may_manage}
    parser_classes = [CSVTextParser, PlainTextParser]
    serializer_class = s.PopulationSerializer

    @UPLOAD
    def post(self, request, pk: int):
        population = get_object_or_404(Population, pk=pk)
        population = services.replace_haplotypes(population, request.data, actor=request.user)
        return Response(_population_data(population))


class GenotypeUploadView(_HaplobankView):
    """Replace the population's typed cohort (CSV, ``A*24:02,A*02:01,B*52:01,B*07:02,DRB1*15:02,DRB1*04:05`` per
    person). All or nothing."""

    allowed = {"POST": queries.may_manage}
    parser_classes = [CSVTextParser, PlainTextParser]
    serializer_class = s.PopulationSerializer

    @UPLOAD
    def post(self, request, pk: int):
        population = get_object_or_404(Population, pk=pk)
        population = services.replace_genotypes(population, request.data, actor=request.user)
        return Response(_population_data(population))


class CoverageView(_HaplobankView):
    """The bank's coverage of a population (lines that count: released, homozygous at A, B and DRB1), each line's
    contribution in greedy order and the cumulative curve, with the words to print under the figures."""

    allowed = {"GET": queries.may_manage}
    serializer_class = s.CoverageSerializer

    @extend_schema(parameters=[s.CoverageParamsSerializer], responses={200: s.CoverageSerializer, 400: None,
                                                                       **REFUSED})
    def get(self, request):
        params = _valid(s.CoverageParamsSerializer, request.query_params)
        result = queries.coverage(_population(params["population"]), params["definition"])
        return Response(s.CoverageSerializer(result).data)


class SimulateView(_HaplobankView):
    """Coverage of a planned set of haplotypes (with the bank's own when ``include_bank``) and the next best
    haplotypes to bank, highest gain first."""

    allowed = {"POST": queries.may_manage}
    serializer_class = s.SimulationSerializer

    @extend_schema(request=s.SimulateInputSerializer, responses={200: s.SimulationSerializer, 400: None, **REFUSED})
    def post(self, request):
        data = _valid(s.SimulateInputSerializer, request.data)
        population = _population(data["population"])
        haplotypes = queries.clean_haplotypes(data["haplotypes"], population.resolution)
        result = queries.simulate(population, haplotypes, include_bank=data["include_bank"],
                                  definition=data["definition"])
        return Response(s.SimulationSerializer(result).data)


class MatchView(_HaplobankView):
    """Released lines and public cord blood units for a patient's typing: zero host-versus-graft mismatches first,
    then fewer (HvG and GvH counted apart at A, B, C, DRB1, DQB1; a homozygous locus counts once each way).
    Researchers see only lines whose donors consented to data sharing."""

    allowed = {"POST": queries.may_match}
    serializer_class = s.MatchResultsSerializer

    @extend_schema(request=s.MatchInputSerializer, parameters=[
        OpenApiParameter("limit", int, description=f"results (default {matching.DEFAULT_LIMIT}, at most "
                                                   f"{matching.MAX_LIMIT})")],
        responses={200: s.MatchResultsSerializer, 400: None, 403: DomainErrorSerializer})
    def post(self, request):
        limit = matching.clean_limit(request.query_params.get("limit"))
        patient = matching.clean_patient(request.data)
        results = matching.match_lines(patient, user=request.user, limit=limit)
        return Response(s.MatchResultsSerializer({"results": results}).data)


class RecruitmentView(_HaplobankView):
    """Addition: the registered donors (typed, consented, eligible) homozygous for a haplotype — codes only, never
    who they are — for coordinators and admins planning whom to ask next."""

    allowed = {"GET": queries.may_see_recruitment}
    serializer_class = s.RecruitmentSerializer

    @extend_schema(parameters=[s.RecruitmentParamsSerializer], responses={200: s.RecruitmentSerializer, 400: None,
                                                                          403: DomainErrorSerializer})
    def get(self, request):
        params = _valid(s.RecruitmentParamsSerializer, request.query_params)
        population = _population(params["population"])
        try:
            haplotype = queries.clean_haplotype(params["haplotype"], population.resolution)
        except ValueError as exc:
            raise ValidationError({"haplotype": [str(exc)]})
        donors = queries.recruitment_list(population, haplotype, limit=params["limit"])
        return Response(s.RecruitmentSerializer({"haplotype": haplotype, "population": population,
                                                 "donors": donors}).data)
