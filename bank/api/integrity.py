"""API of Part 11 integrity (issue 11): audit exports (CSV, PDF) and the tamper-evident audit chain.

``GET /api/v1/audit/export.csv`` and ``/audit/export.pdf`` take ``object_type`` + ``object_id`` (one record's
trail) and/or ``from`` + ``to`` (dates, inclusive): the trail across the bank, of every record type the caller
may read. ``GET /api/v1/audit/chain/`` is the chain's state; ``POST /api/v1/audit/chain/verify/`` verifies it
(QA and admins). The checks are ``bank.audit_export.parse_scope`` and ``bank.audit_chain`` — the pages use them too.
"""

from __future__ import annotations

import json

from django.utils.translation import gettext as _
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.renderers import BaseRenderer, JSONRenderer
from rest_framework.response import Response
from rest_framework.views import APIView

from bank import audit_chain, audit_export
from bank.api.permissions import HasPerms
from bank.api.serializers import DomainErrorSerializer
from bank.integrity_views import INTEGRITY_PERMISSION, PAGE_FULL_VERIFY_LIMIT, export_response


class _FileRenderer(BaseRenderer):
    charset = None
    render_style = "binary"

    def render(self, data, accepted_media_type=None, renderer_context=None):
        if isinstance(data, bytes):
            return data
        return json.dumps(data).encode("utf-8")  # an error body when the client asked for the file type only


class CSVRenderer(_FileRenderer):
    media_type = "text/csv"
    format = "csv"


class PDFRenderer(_FileRenderer):
    media_type = "application/pdf"
    format = "pdf"


EXPORT_PARAMETERS = [
    OpenApiParameter("object_type", str, description="a record type of /audit/ (lot, donor, qcresult, ...)"),
    OpenApiParameter("object_id", int, description="one record's id (with object_type)"),
    OpenApiParameter("from", OpenApiTypes.DATE, description="first day (YYYY-MM-DD, bank time zone)"),
    OpenApiParameter("to", OpenApiTypes.DATE, description="last day, inclusive"),
]


class _ExportView(APIView):
    permission_classes = [HasPerms]
    required_perms = {"GET": ["bank.view_audit_trail"]}
    fmt = "csv"

    def get(self, request):
        scope = audit_export.parse_scope(request.query_params, request.user)
        return export_response(scope, request.user, self.fmt)


class AuditExportCSVView(_ExportView):
    """The audit trail of one record, or of a date range across the bank, as CSV (streamed, oldest first): time,
    user, action, record, field changes, reason and each row's state in the tamper-evident chain. Cells that a
    spreadsheet would run as formulas are neutralised."""

    renderer_classes = [JSONRenderer, CSVRenderer]
    fmt = "csv"

    @extend_schema(operation_id="audit_export_csv", parameters=EXPORT_PARAMETERS,
                   responses={(200, "text/csv"): OpenApiTypes.BINARY, 403: DomainErrorSerializer})
    def get(self, request):
        return super().get(request)


class AuditExportPDFView(_ExportView):
    """The same export as a PDF (A4 landscape, Chinese text set in a CJK font), up to
    AUDIT_EXPORT_PDF_MAX_ENTRIES entries (more: 400, narrow the range or take the CSV)."""

    renderer_classes = [JSONRenderer, PDFRenderer]
    fmt = "pdf"

    @extend_schema(operation_id="audit_export_pdf", parameters=EXPORT_PARAMETERS,
                   responses={(200, "application/pdf"): OpenApiTypes.BINARY, 403: DomainErrorSerializer})
    def get(self, request):
        return super().get(request)


CheckpointSerializer = inline_serializer("AuditCheckpoint", {
    "id": serializers.IntegerField(), "at": serializers.DateTimeField(), "last_link_id": serializers.IntegerField(),
    "chain_hash": serializers.CharField(), "key_id": serializers.CharField()})


class AuditChainView(APIView):
    """The tamper-evident chain's state: the last sealed link and its hash, links waiting to be sealed, the last
    keyed checkpoint. ``supported`` false: this database (SQLite) has no chain."""

    permission_classes = [HasPerms]
    required_perms = {"GET": [INTEGRITY_PERMISSION]}

    @extend_schema(responses=inline_serializer("AuditChain", {
        "supported": serializers.BooleanField(), "head_link_id": serializers.IntegerField(required=False),
        "head_hash": serializers.CharField(required=False), "last_link_id": serializers.IntegerField(required=False),
        "unsealed": serializers.IntegerField(required=False),
        "oldest_unsealed": serializers.DateTimeField(required=False, allow_null=True),
        "checkpoints": serializers.IntegerField(required=False),
        "unguarded_tables": serializers.ListField(child=serializers.CharField(), required=False),
        "last_checkpoint": CheckpointSerializer}))
    def get(self, request):
        return Response(audit_chain.chain_status())


class VerifyRequestSerializer(serializers.Serializer):
    mode = serializers.ChoiceField(choices=["incremental", "full"], default="incremental",
                                   help_text="incremental: from the last checkpoint whose keyed hash verifies")


class ProblemSerializer(serializers.Serializer):
    kind = serializers.ChoiceField(choices=["row_changed", "row_deleted", "link_missing", "chain_broken", "not_sealed",
                                            "chain_rewritten", "checkpoint_forged"])
    label = serializers.CharField()
    table = serializers.CharField()
    history_id = serializers.IntegerField(allow_null=True)
    link_id = serializers.IntegerField(allow_null=True)
    object_type = serializers.CharField()
    object_id = serializers.JSONField(allow_null=True)
    at = serializers.DateTimeField(allow_null=True)
    detail = serializers.CharField()


class VerificationSerializer(serializers.Serializer):
    supported = serializers.BooleanField()
    clean = serializers.BooleanField()
    mode = serializers.CharField()
    started_at = serializers.DateTimeField(allow_null=True)
    seconds = serializers.FloatField()
    from_link_id = serializers.IntegerField()
    head_link_id = serializers.IntegerField()
    links_checked = serializers.IntegerField()
    rows_checked = serializers.IntegerField()
    checkpoints_checked = serializers.IntegerField()
    checkpoint_used = serializers.IntegerField(allow_null=True)
    unsealed = serializers.IntegerField()
    problem_count = serializers.IntegerField()
    first = ProblemSerializer(allow_null=True)
    problems = ProblemSerializer(many=True)


class AuditChainVerifyView(APIView):
    """Verify the chain now: recompute every row hash, the chain and the checkpoints' keyed hashes; ``first``
    names the first broken link. ``full`` over more than a million links is refused (400): run
    ``manage.py verify_audit``."""

    permission_classes = [HasPerms]
    required_perms = {"POST": [INTEGRITY_PERMISSION]}

    @extend_schema(request=VerifyRequestSerializer, responses={200: VerificationSerializer})
    def post(self, request):
        data = VerifyRequestSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        mode = data.validated_data["mode"]
        if not audit_chain.chain_supported():
            return Response(audit_chain.verify().as_dict())
        if mode == "full" and audit_chain.chain_status()["last_link_id"] > PAGE_FULL_VERIFY_LIMIT:
            raise serializers.ValidationError(
                {"mode": [_("The chain is too long to verify in a request: run manage.py verify_audit.")]})
        audit_chain.seal()
        return Response(audit_chain.verify(since_checkpoint=(mode == "incremental")).as_dict())
