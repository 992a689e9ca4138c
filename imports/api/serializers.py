"""Shapes of the imports API: the upload's fields, a run and its report."""

from __future__ import annotations

from django.utils.translation import gettext_lazy as _
from rest_framework import serializers

from imports.models import ImportRun


class ImportInputSerializer(serializers.Serializer):
    file = serializers.FileField(help_text=_("The CSV (UTF-8) or XLSX file, filled in from the kind's template."))
    source = serializers.CharField(max_length=60, help_text=_("The legacy system the file comes from."))
    dry_run = serializers.BooleanField(required=False, default=False)
    signer_username = serializers.CharField(required=False, allow_blank=True, default="",
                                            help_text=_("QA officer who e-signs the lots the file marks released."))
    signer_password = serializers.CharField(required=False, allow_blank=True, default="", write_only=True,
                                            style={"input_type": "password"})


class RowErrorSerializer(serializers.Serializer):
    row = serializers.IntegerField()
    column = serializers.CharField()
    message = serializers.CharField()


class ReportSerializer(serializers.Serializer):
    run = serializers.IntegerField()
    kind = serializers.CharField()
    status = serializers.CharField()
    dry_run = serializers.BooleanField()
    rows = serializers.IntegerField()
    created = serializers.DictField(child=serializers.IntegerField(),
                                    help_text=_("What was created (or, in a dry run, would be)."))
    skipped = serializers.IntegerField(help_text=_("Rows imported before from this source: skipped."))
    bad_rows = serializers.IntegerField()
    error_count = serializers.IntegerField()
    errors = RowErrorSerializer(many=True)
    errors_truncated = serializers.BooleanField()
    notes = serializers.ListField(child=serializers.CharField())


class ImportRunSerializer(serializers.ModelSerializer):
    user = serializers.CharField(source="user.username", read_only=True)
    released_signed_by = serializers.CharField(source="released_signed_by.username", read_only=True,
                                               allow_null=True, default=None)
    bad_rows = serializers.SerializerMethodField()

    class Meta:
        model = ImportRun
        fields = ["id", "kind", "source", "filename", "sha256", "dry_run", "status", "rows", "created", "skipped",
                  "error_count", "bad_rows", "released_signed_by", "job", "user", "created_at", "finished_at"]
        read_only_fields = fields

    def get_bad_rows(self, run) -> int:
        return int((run.report or {}).get("bad_rows", 0))


class ImportRunDetailSerializer(ImportRunSerializer):
    report = serializers.JSONField(read_only=True)

    class Meta(ImportRunSerializer.Meta):
        fields = [*ImportRunSerializer.Meta.fields, "report"]
        read_only_fields = fields
