"""Serializers shared by every app's API."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from bank.signatures import manifestation, record_key, signatures_for


class SignatureSerializer(serializers.Serializer):
    """The manifestation of an electronic signature (21 CFR 11.50): name, date/time, meaning."""

    id = serializers.IntegerField()
    signer = serializers.CharField()
    printed_name = serializers.CharField()
    signed_at = serializers.DateTimeField()
    meaning = serializers.CharField()
    meaning_display = serializers.CharField()
    statement = serializers.CharField()
    matches = serializers.BooleanField(help_text="False once the signed record changed after signing.")


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
        return SignatureSerializer([manifestation(sig, value) for sig in signatures], many=True).data


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
