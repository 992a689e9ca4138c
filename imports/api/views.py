"""Imports endpoints: ``POST /imports/{kind}/`` (multipart) imports or dry-runs a file — 200 with the report for a
small file, 202 with the job for a big one; ``GET /imports/{kind}/template/`` the template; ``GET /imports/runs/``
the history."""

from __future__ import annotations

from django.http import Http404, HttpResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework.generics import GenericAPIView, ListAPIView, RetrieveAPIView
from rest_framework.parsers import FormParser, MultiPartParser
from rest_framework.response import Response

from bank.api.permissions import HasPerms
from bank.api.serializers import DomainErrorSerializer, JobSerializer
from bank.jobs import accepted_response
from imports import services
from imports.api import serializers as s
from imports.models import ImportRun
from imports.queries import visible_runs
from imports.services.templates import template_csv, template_xlsx
from imports.views import XLSX

KIND_PARAM = OpenApiParameter("kind", str, OpenApiParameter.PATH, enum=list(services.SPECS),
                              description="cell_lines, inventory or cord_blood")


class ImportView(GenericAPIView):
    """Import (or dry-run) a file of ``kind``. The whole file is validated first; with any bad row nothing is
    written and the report lists each row, column and message. Rows whose external ID the source brought in
    before are skipped. Files over ``IMPORTS_SYNC_MAX_BYTES`` run as a job (202, poll ``/jobs/{id}/``)."""

    permission_classes = [HasPerms]
    required_perms = {"POST": ["imports.view_importrun"]}
    parser_classes = [MultiPartParser, FormParser]
    serializer_class = s.ImportInputSerializer

    @extend_schema(parameters=[KIND_PARAM], request={"multipart/form-data": s.ImportInputSerializer},
                   responses={200: s.ReportSerializer,
                              202: OpenApiResponse(response=JobSerializer, description="{\"job\": …} (Location)"),
                              400: OpenApiResponse(description="{field: [messages]}: no file or source, or not this "
                                                               "kind's template"),
                              403: DomainErrorSerializer})
    def post(self, request, kind: str):
        data = s.ImportInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        v = data.validated_data
        run, report = services.start_import(kind, v["file"], actor=request.user, source=v["source"],
                                            dry_run=v["dry_run"], signer_username=v["signer_username"],
                                            signer_password=v["signer_password"])
        if report is None:
            return accepted_response(run.job, request)
        return Response(s.ReportSerializer(report).data)


class TemplateView(GenericAPIView):
    """The empty template of ``kind`` (its header row): ``?filetype=csv`` (default) or ``xlsx``."""

    permission_classes = [HasPerms]
    required_perms = {"GET": ["imports.view_importrun"]}
    serializer_class = s.ImportInputSerializer  # for the schema generator only: the answer is a file

    @extend_schema(parameters=[KIND_PARAM, OpenApiParameter("filetype", str, enum=["csv", "xlsx"])],
                   responses={(200, "text/csv"): OpenApiTypes.BINARY,
                              (200, XLSX): OpenApiTypes.BINARY})
    def get(self, request, kind: str):
        if kind not in services.SPECS:
            raise Http404
        spec = services.SPECS[kind]
        fmt = request.query_params.get("filetype", "csv")
        if fmt == "xlsx":
            response = HttpResponse(template_xlsx(spec), content_type=XLSX)
        else:
            fmt = "csv"
            response = HttpResponse(template_csv(spec), content_type="text/csv; charset=utf-8")
        response["Content-Disposition"] = f'attachment; filename="stembank-{kind}-template.{fmt}"'
        return response


class RunListView(ListAPIView):
    """Imports, newest first: your own (those who may import every kind see all)."""

    permission_classes = [HasPerms]
    required_perms = {"GET": ["imports.view_importrun"]}
    serializer_class = s.ImportRunSerializer

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):  # the schema generator has no user
            return ImportRun.objects.none()
        return visible_runs(self.request.user)


class RunDetailView(RetrieveAPIView):
    """One import with its report (the first bad rows; all of them in the job's CSV or the page's download)."""

    permission_classes = [HasPerms]
    required_perms = {"GET": ["imports.view_importrun"]}
    serializer_class = s.ImportRunDetailSerializer

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):  # the schema generator has no user
            return ImportRun.objects.none()
        return visible_runs(self.request.user)
