"""Serializers shared by every app's API."""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any

from django.core.exceptions import ImproperlyConfigured
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from bank.models import Job
from bank.signatures import manifestation, record_key, signable_manifest, signatures_for


class BuiltOnceMixin:
    """For a ``ModelSerializer`` on a hot path: its fields are built from the model once per class, and each
    instance gets a deep copy of them, as DRF does with declared fields.

    DRF builds a model serializer's fields on every instance (model introspection, labels, validators): most of
    the time of serializing one lot. Only for a class whose fields depend on nothing but the class (no
    ``get_fields`` that looks at the request or the context)."""

    def get_fields(self):
        cls = type(self)
        built = cls.__dict__.get("_built_fields")
        if built is None:
            built = super().get_fields()
            cls._built_fields = built  # a race builds it twice, the same
        return copy.deepcopy(built)


# The fields whose representation of a value of their own type is that value (``str`` for a CharField, ``int`` for
# an IntegerField, ``float`` for a FloatField, ``bool`` for a BooleanField): a row of such values is its own
# representation.
_PLAIN_FIELDS = {serializers.CharField: str, serializers.IntegerField: int, serializers.FloatField: float,
                 serializers.BooleanField: bool}


class _Formatted:
    """No value is of this type: a field marked with it always formats its value (a date, a decimal, a list)."""


def _plain_projection(serializer: serializers.Serializer):
    """``row -> representation`` for rows of plain values shaped as ``serializer`` declares them (dicts, or objects
    with those attributes): the declared fields read by name, nested serializers (one or many) likewise. A value
    already its field's representation (a ``str`` for a CharField...) is taken as it is; any other value, and every
    value of a field with a format of its own (a date, a decimal, a list), is formatted by its field, so the output
    is DRF's. A field read from another source (a method field, a dotted source) is refused when the class is
    used."""
    steps = []
    for name, field in serializer.fields.items():
        if isinstance(field, serializers.ListSerializer):
            child = _plain_projection(field.child)
            steps.append((name, lambda rows, child=child: [child(row) for row in rows], None))
            continue
        if isinstance(field, serializers.Serializer):
            steps.append((name, _plain_projection(field), None))
            continue
        if field.source != name:
            raise ImproperlyConfigured(
                f"{type(serializer).__name__}.{name}: a plain row serializer holds only fields read by their own "
                f"name")
        steps.append((name, None, next((t for f, t in _PLAIN_FIELDS.items() if type(field) is f), _Formatted)))

    def project(row):
        if row is None:
            return None
        out = {}
        mapping = isinstance(row, Mapping)
        for name, nested, kind in steps:
            value = row[name] if mapping else getattr(row, name)
            if value is None or nested is None and type(value) is kind:
                out[name] = value
            elif nested is not None:
                out[name] = nested(value)
            else:  # not already its own representation: the field says how
                out[name] = serializer.fields[name].to_representation(value)
        return out

    return project


_PROJECTIONS: dict[type, Any] = {}


def plain_representation(serializer_class: type[serializers.Serializer], row) -> dict | None:
    """``serializer_class(row).data`` for one row of plain values (a dict a query built, as the lot API's QC
    summary), with the class's projection built once per process instead of its fields on every call."""
    project = _PROJECTIONS.get(serializer_class)
    if project is None:
        project = _PROJECTIONS[serializer_class] = _plain_projection(serializer_class())  # a race builds it twice
    return project(row)


class PlainRowsListSerializer(serializers.ListSerializer):
    """The ``many=True`` form of a serializer of plain rows (``Meta.list_serializer_class``): dicts (or objects) of
    strings, numbers, booleans and None, as a trace builds them for each of a donor's thousands of vials. Each row is
    projected on the declared fields in one pass instead of a field object's call per value (DRF's way, most of
    the time of a donor's forward trace); the schema is the child's, unchanged."""

    def to_representation(self, data):
        project = self.__dict__.get("_project")
        if project is None:
            project = self._project = _plain_projection(self.child)
        return [project(row) for row in data]


class ManifestDifferenceSerializer(serializers.Serializer):
    path = serializers.CharField(help_text="dotted path in the manifest, e.g. results.viability.value")
    signed = serializers.JSONField(allow_null=True)
    now = serializers.JSONField(allow_null=True)


class SignatureSerializer(serializers.Serializer):
    """The manifestation of an electronic signature (21 CFR 11.50): name, date/time, meaning; whether it still
    matches the record and the manifest of what the signer reviewed (21 CFR 11.70)."""

    id = serializers.IntegerField()
    signer = serializers.CharField()
    printed_name = serializers.CharField()
    signed_at = serializers.DateTimeField()
    meaning = serializers.CharField()
    meaning_display = serializers.CharField()
    statement = serializers.CharField()
    matches = serializers.BooleanField(
        help_text="False once the signed record, or what its signer reviewed (the manifest), changed after signing.")
    content_matches = serializers.BooleanField(help_text="The signed record itself is unchanged.")
    manifest_matches = serializers.BooleanField(
        allow_null=True, help_text="What the signer reviewed is unchanged (null: the signature covers no manifest).")
    manifest = serializers.JSONField(allow_null=True, help_text="What the signer reviewed, as signed.")
    manifest_hash = serializers.CharField(allow_null=True, help_text="SHA-256 of the manifest's canonical JSON.")
    differences = ManifestDifferenceSerializer(many=True, help_text="What changed in the manifest since signing.")


class SignaturesField(serializers.SerializerMethodField):
    """Read-only list of the signatures on the serialized record.

    A list reads the signatures of its whole page at once (``bank.signatures.signatures_by_record``, put in
    the serializer context as ``signatures`` by ``bank.api.mixins.SignedPageMixin``); a single record, or
    one the context does not hold, reads its own.
    """

    def __init__(self, **kwargs):
        kwargs.setdefault("read_only", True)
        super().__init__(**kwargs)

    def to_representation(self, value):
        loaded = self.context.get("signatures")
        signatures = loaded.get(record_key(value)) if loaded is not None else None
        if signatures is None:
            signatures = signatures_for(value)
        signatures = list(signatures)
        extra = {}
        if any(sig.manifest_hash for sig in signatures):
            # A list page built every manifest at once (SignedPageMixin); a single record builds its own.
            manifests = self.context.get("signature_manifests")
            key = record_key(value)
            extra["current_manifest"] = (manifests[key] if manifests is not None and key in manifests
                                         else signable_manifest(value))
        return SignatureSerializer([manifestation(sig, value, **extra) for sig in signatures], many=True).data


extend_schema_field(SignatureSerializer(many=True))(SignaturesField)


class AuditEntrySerializer(serializers.Serializer):
    at = serializers.DateTimeField()
    user = serializers.CharField(allow_null=True)
    action = serializers.ChoiceField(choices=["created", "updated", "deleted"])
    changes = serializers.DictField(child=serializers.ListField(allow_null=True))
    reason = serializers.CharField(allow_blank=True)
    object_id = serializers.IntegerField()


class DomainErrorSerializer(serializers.Serializer):
    detail = serializers.CharField()
    code = serializers.CharField()


class JobSerializer(serializers.ModelSerializer):
    """A job (bank/jobs.py): its progress, its result or the reason it failed, and where to fetch its file."""

    user = serializers.CharField(source="user.username", read_only=True)
    kind_label = serializers.SerializerMethodField()
    percent = serializers.IntegerField(read_only=True, allow_null=True)
    url = serializers.SerializerMethodField()
    page_url = serializers.SerializerMethodField()
    result_url = serializers.SerializerMethodField()

    class Meta:
        model = Job
        fields = ["id", "kind", "kind_label", "title", "user", "status", "done", "total", "percent", "message",
                  "result", "error", "result_name", "created_at", "started_at", "finished_at", "url", "page_url",
                  "result_url"]
        read_only_fields = fields

    def get_kind_label(self, job) -> str:
        from bank.jobs import kind_label

        return kind_label(job.kind)

    def _absolute(self, path: str) -> str:
        request = self.context.get("request")
        return request.build_absolute_uri(path) if request is not None else path

    def get_url(self, job) -> str:
        from django.urls import reverse

        return self._absolute(reverse("api-job", args=[job.pk]))

    def get_page_url(self, job) -> str:
        from django.urls import reverse

        return self._absolute(reverse("job", args=[job.pk]))

    def get_result_url(self, job) -> str | None:
        from django.urls import reverse

        return self._absolute(reverse("api-job-result", args=[job.pk])) if job.result_file else None
