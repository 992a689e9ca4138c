"""Bank-wide API endpoints: who am I, the audit trail, notifications (tokens: ``bank.api.accounts``)."""

from __future__ import annotations

from django.utils.translation import gettext as _
from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import exceptions, serializers
from rest_framework.generics import ListAPIView
from rest_framework.permissions import IsAuthenticated
from rest_framework.response import Response
from rest_framework.views import APIView

from bank.api.filters import AuditFilter, NotificationFilter
from bank.api.pagination import KeysetPagination
from bank.api.schema import KeysetSchema
from bank.api.serializers import AuditEntrySerializer
from bank.audit import audited_models, can_read_history, history_entries, object_history
from bank.models import Notification
from bank.roles import user_roles


class MeView(APIView):
    """The authenticated user, their roles and permissions."""

    permission_classes = [IsAuthenticated]

    @extend_schema(
        responses=inline_serializer(
            "Me",
            {
                "username": serializers.CharField(),
                "full_name": serializers.CharField(),
                "roles": serializers.ListField(child=serializers.CharField()),
            },
        )
    )
    def get(self, request):
        user = request.user
        return Response(
            {"username": user.get_username(), "full_name": user.get_full_name(), "roles": sorted(user_roles(user))}
        )


class AuditView(ListAPIView):
    """Audit entries of a record (or of every record of a type), newest first, in keyset pages. Read-only."""

    permission_classes = [IsAuthenticated]
    serializer_class = AuditEntrySerializer
    filterset_class = AuditFilter
    pagination_class = KeysetPagination
    schema = KeysetSchema()
    # object_history()'s order: history_date is indexed on every history table (django-simple-history), and
    # history_id, the primary key, breaks its ties.
    keyset_ordering = ("-history_date", "-history_id")
    keyset_count_filters = ("object_id",)  # one record's trail, on the history table's index of the record id

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):
            return object_history(Notification).none()
        # The record type is not a filter of rows but the history table to read: chosen (and the role
        # checked against it) before the FilterSet narrows it to one record.
        models = audited_models()
        object_type = (self.request.query_params.get("object_type") or "").strip().lower()
        if object_type not in models:
            raise exceptions.ValidationError(
                {"object_type": [
                    _("Unknown object type. Use one of: %(types)s.") % {"types": ", ".join(sorted(models))}
                ]}
            )
        model = models[object_type]
        if not can_read_history(self.request.user, model):
            raise exceptions.PermissionDenied(_("Your role may not read this audit trail."))
        return object_history(model)

    def list(self, request, *args, **kwargs):
        page = self.paginate_queryset(self.filter_queryset(self.get_queryset()))
        # Entries with their field changes: the previous version of every row of the page in two queries.
        return self.get_paginated_response(self.get_serializer(history_entries(page), many=True).data)


class NotificationSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    level = serializers.CharField()
    subject = serializers.CharField()
    body = serializers.CharField()
    link = serializers.CharField()
    created_at = serializers.DateTimeField()
    read_at = serializers.DateTimeField(allow_null=True)


class NotificationListView(ListAPIView):
    """The authenticated user's notifications, newest first (``?unread=true`` for unread only)."""

    permission_classes = [IsAuthenticated]
    serializer_class = NotificationSerializer
    filterset_class = NotificationFilter

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):
            return Notification.objects.none()
        return Notification.objects.filter(recipient=self.request.user).order_by("-created_at", "-id")


class MarkReadSerializer(serializers.Serializer):
    ids = serializers.ListField(child=serializers.IntegerField(min_value=1), required=False,
                                help_text="notification ids; all unread ones when left out")


class NotificationReadView(APIView):
    """Mark notifications as read (the only change a user can make to them)."""

    permission_classes = [IsAuthenticated]

    @extend_schema(request=MarkReadSerializer,
                   responses=inline_serializer("MarkedRead", {"marked": serializers.IntegerField()}))
    def post(self, request):
        from bank.notifications import mark_read

        data = MarkReadSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        return Response({"marked": mark_read(request.user, data.validated_data.get("ids"))})
