"""Building blocks of every app's API filters: a query parameter takes what a request body takes.

Each list endpoint is a generic list view with a django-filter ``FilterSet`` in its app's ``api/filters.py``;
DjangoFilterBackend (the default backend) applies it to the view's queryset, and a value it cannot take is a
400 ``{"parameter": ["message"]}`` naming the parameter, before the list is read. The filters below read ids
with ``bank.parsing.whole_number``, booleans, dates and times with the API's own input fields, and name the
valid choices when a value is not one of them — so the same text is refused the same way in a body and in a
query string. A scanned identifier is an exact match on an ``IdentifierField`` (``bank.identifiers``), which
normalises the value as it normalised the stored codes.
"""

from __future__ import annotations

import django_filters
from django import forms
from django.core.exceptions import ValidationError
from django.utils.translation import gettext_lazy as _
from django_filters import fields as filter_fields
from django_filters.rest_framework import DjangoFilterBackend
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from bank.api import fields as api_fields
from bank.parsing import whole_number


class IdField(forms.Field):
    """A record id: ASCII digits within PostgreSQL's bigint (``bank.parsing.whole_number``)."""

    default_error_messages = {"invalid": _("Enter a whole number.")}

    def to_python(self, value):
        if value in self.empty_values:
            return None
        number = whole_number(value)
        if number is None:
            raise ValidationError(self.error_messages["invalid"], code="invalid")
        return number


class InputField(forms.Field):
    """A query parameter read by one of the API's input fields (the DRF field ``input_field``).

    ``error_messages`` given to the filter replace the API field's message of the same code.
    """

    input_field = serializers.CharField

    def to_python(self, value):
        if value in self.empty_values:
            return None
        try:
            return self.input_field().to_internal_value(value.strip())
        except serializers.ValidationError as exc:
            raise ValidationError([self.error_messages.get(getattr(detail, "code", None), str(detail))
                                   for detail in exc.detail]) from None


class BooleanField(InputField):
    input_field = serializers.BooleanField  # true/false, 1/0, yes/no, on/off, in any usual case


class DateField(InputField):
    input_field = api_fields.DateField  # YYYY-MM-DD within the bank's calendar


class DateTimeField(InputField):
    input_field = api_fields.DateTimeField  # ISO 8601 within the bank's calendar; a naive time is local


class ChoiceField(filter_fields.ChoiceField):
    """A choice whose refusal names the value and every valid choice."""

    default_error_messages = {"invalid_choice": _("Unknown value “%(value)s”. Use one of: %(choices)s.")}

    def validate(self, value):
        try:
            super().validate(value)
        except ValidationError as exc:
            if exc.code != "invalid_choice":
                raise
            valid = ", ".join(str(key) for key, _label in self.choices if key not in ("", None))
            raise ValidationError(self.error_messages["invalid_choice"], code="invalid_choice",
                                  params={"value": value, "choices": valid}) from None


@extend_schema_field(OpenApiTypes.INT)
class IdFilter(django_filters.Filter):
    """``?unit=3``: an id (of the record itself or of a related one, by ``field_name``)."""

    field_class = IdField


class BooleanFilter(django_filters.BooleanFilter):
    """``?active=true``; false is a value (not "no filter"), junk is a 400."""

    field_class = BooleanField


class DateFilter(django_filters.DateFilter):
    """``?valid_on=2026-06-01``."""

    field_class = DateField


class DateTimeFilter(django_filters.DateTimeFilter):
    """``?since=2026-03-01T09:30+08:00``."""

    field_class = DateTimeField


class ChoiceFilter(django_filters.ChoiceFilter):
    """One of fixed choices; an unknown value is a 400 that lists them (``error_messages`` may word it)."""

    field_class = ChoiceField


class FilterBackend(DjangoFilterBackend):
    """DjangoFilterBackend that leaves the FilterSet it validated on the view (``view.filterset``).

    For the rare list whose answer depends on its parameters beyond the rows they select (the QC
    specification in force: one object when both its cell type and tier are named).
    """

    def get_filterset(self, request, queryset, view):
        view.filterset = super().get_filterset(request, queryset, view)
        return view.filterset


# --- the bank-wide lists ---------------------------------------------------------------------------------


class AuditFilter(django_filters.FilterSet):
    """The audit trail of a record type: ``object_type`` picks the history table (``AuditView`` reads it,
    refusing an unknown type with the types it knows), ``object_id`` one record of it."""

    object_type = django_filters.CharFilter(required=True, method="filter_object_type",
                                            help_text="model name in lower case: donor, lot, vial, box, ...")
    object_id = IdFilter(method="filter_object_id")

    def filter_object_type(self, queryset, name, value):
        return queryset  # already the history table of this type

    def filter_object_id(self, queryset, name, value):
        return queryset.filter(**{queryset.model.instance_type._meta.pk.attname: value})


class NotificationFilter(django_filters.FilterSet):
    unread = BooleanFilter(method="filter_unread", help_text="true: unread notifications only")

    def filter_unread(self, queryset, name, value):
        return queryset.filter(read_at__isnull=True) if value else queryset
