"""Filters of the QC API: specifications by cell type and tier, re-checks and deviations by state and lot."""

from __future__ import annotations

import django_filters
from django.utils.translation import gettext_lazy as _

from bank.api import filters
from lots.choices import CellType, Tier
from qc.choices import DeviationStatus, RecheckStatus
from qc.models import Deviation, Recheck, Specification
from qc.queries import recheck_list, spec_in_force, specs_in_force


class SpecificationFilter(django_filters.FilterSet):
    """The versions in force (qc.queries), or every version with ``all_versions=true``.

    Which version is in force is qc's rule, not a filter of rows: without ``all_versions`` the FilterSet
    answers with ``spec_in_force`` / ``specs_in_force`` (a list), the same reads the QC pages use.
    """

    cell_type = filters.ChoiceFilter(
        choices=CellType.choices,
        error_messages={"invalid_choice": _("Unknown cell type “%(value)s”. Use one of: %(choices)s.")})
    tier = filters.ChoiceFilter(
        choices=Tier.choices,
        error_messages={"invalid_choice": _("Unknown tier “%(value)s”. Use one of: %(choices)s.")})
    all_versions = filters.BooleanFilter(
        method="filter_all_versions",
        help_text="list every version (old ones included) instead of the versions in force")

    class Meta:
        model = Specification
        fields = ["cell_type", "tier", "all_versions"]

    @property
    def one_in_force(self) -> bool:
        """Both cell type and tier named, versions in force asked: the answer is one specification."""
        data = self.form.cleaned_data
        return bool(data.get("cell_type") and data.get("tier") and not data.get("all_versions"))

    def filter_all_versions(self, queryset, name, value):
        return queryset  # chooses the read in filter_queryset

    def filter_queryset(self, queryset):
        data = self.form.cleaned_data
        if data.get("all_versions"):
            return super().filter_queryset(queryset)
        if self.one_in_force:
            spec = spec_in_force(data["cell_type"], data["tier"])
            return [spec] if spec is not None else []
        return specs_in_force(data.get("cell_type") or None, data.get("tier") or None)


class RecheckFilter(django_filters.FilterSet):
    status = filters.ChoiceFilter(choices=[*RecheckStatus.choices, ("open", _("Open"))], method="filter_status",
                                  help_text="open: due or overdue")
    lot = filters.IdFilter(field_name="lot_id")

    class Meta:
        model = Recheck
        fields = ["status", "lot"]

    def filter_status(self, queryset, name, value):
        # What "open" means is qc's rule (qc.queries.recheck_list).
        return queryset & recheck_list(value)


class DeviationFilter(django_filters.FilterSet):
    status = filters.ChoiceFilter(choices=DeviationStatus.choices,
                                  error_messages={"invalid_choice": _("Use open or closed.")})
    lot = filters.IdFilter(field_name="lot_id")

    class Meta:
        model = Deviation
        fields = ["status", "lot"]
