"""Filters of the donors API: ids and the pseudonymous codes a coordinator types or scans."""

from __future__ import annotations

import django_filters
from django.utils.translation import gettext_lazy as _

from bank.api import filters
from donors.models import Collection, Donor, EthicsApproval


class DonorFilter(django_filters.FilterSet):
    # Identity is never a filter: the pseudonymous code is the only way to look a donor up here.
    # An IdentifierField: the value is normalised like the stored codes, an exact match on the unique index.
    code = django_filters.CharFilter(field_name="code", help_text="exact donor code (case-insensitive)")

    class Meta:
        model = Donor
        fields = ["code"]


class CollectionFilter(django_filters.FilterSet):
    donor = filters.IdFilter(field_name="donor_id")
    code = django_filters.CharFilter(field_name="code", help_text="exact collection code (case-insensitive)")

    class Meta:
        model = Collection
        fields = ["donor", "code"]


class EthicsApprovalFilter(django_filters.FilterSet):
    valid_on = filters.DateFilter(method="filter_valid_on", help_text="YYYY-MM-DD: only approvals valid on that day",
                                  error_messages={"invalid": _("Enter a date as YYYY-MM-DD.")})

    class Meta:
        model = EthicsApproval
        fields = ["valid_on"]

    def filter_valid_on(self, queryset, name, value):
        # EthicsApproval.is_valid_on(day), as rows (a withdrawn approval covers nothing from its withdrawal on)
        return queryset & EthicsApproval.valid_on(value)
