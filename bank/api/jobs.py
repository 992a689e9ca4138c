"""Jobs over the API (issue 17): your jobs, one job's progress, and its result file."""

from __future__ import annotations

from django.http import Http404
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema, extend_schema_view
from rest_framework.generics import ListAPIView, RetrieveAPIView
from rest_framework.permissions import IsAuthenticated
from rest_framework.views import APIView

from bank import jobs
from bank.api.serializers import JobSerializer
from bank.models import Job


@extend_schema_view(get=extend_schema(parameters=[
    OpenApiParameter("status", str, enum=["queued", "running", "done", "failed"], required=False)]))
class JobListView(ListAPIView):
    """Your jobs, newest first (an admin sees everyone's); ``?status=queued|running|done|failed``."""

    permission_classes = [IsAuthenticated]
    serializer_class = JobSerializer

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):
            return Job.objects.none()
        queryset = jobs.visible_jobs(self.request.user).order_by("-id")
        status = self.request.query_params.get("status")
        if status in Job.Status.values:
            queryset = queryset.filter(status=status)
        return queryset


class JobDetailView(RetrieveAPIView):
    """One job: status, progress (``done`` of ``total``, ``percent``), result or error. Poll it until ``status`` is
    ``done`` or ``failed``."""

    permission_classes = [IsAuthenticated]
    serializer_class = JobSerializer

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):
            return Job.objects.none()
        return jobs.visible_jobs(self.request.user)

    def get_object(self):
        return jobs.live(super().get_object())


class JobResultView(APIView):
    """The file a finished job made (an export, a label sheet, an import's error report)."""

    permission_classes = [IsAuthenticated]

    @extend_schema(responses={(200, "application/octet-stream"): OpenApiResponse(OpenApiTypes.BINARY),
                              404: OpenApiResponse(description="no such job, or it has no file (yet)")})
    def get(self, request, pk: int):
        job = jobs.visible_jobs(request.user).filter(pk=pk).first()
        if job is None or not job.result_file:
            raise Http404
        return jobs.result_response(job)
