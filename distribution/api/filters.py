"""Filters of the distribution API: requests by status, recalls by lot, donor or source."""

from __future__ import annotations

import django_filters

from bank.api import filters
from distribution.choices import RecallSource, RequestStatus
from distribution.models import DistributionRequest, Recall


class RequestFilter(django_filters.FilterSet):
    status = filters.ChoiceFilter(choices=RequestStatus.choices)

    class Meta:
        model = DistributionRequest
        fields = ["status"]


class RecallFilter(django_filters.FilterSet):
    lot = filters.IdFilter(field_name="lot_id")
    donor = filters.IdFilter(field_name="donor_id")
    source = filters.ChoiceFilter(choices=RecallSource.choices)

    class Meta:
        model = Recall
        fields = ["lot", "donor", "source"]
