"""The distribution app's list exports (issue 17): the catalog, requests, recalls, MTA versions and fees, with the
filters and the visibility of their pages (``bank.exports``): a researcher exports their own requests only, and the
catalog as they see it (no donor, HLA only where the donor agreed to share data)."""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.db.models import Count
from django.utils.translation import gettext_lazy as _

from bank.exports import Column, Prepared, person, register_export
from distribution import forms, queries
from distribution.choices import InstitutionType, RequestStatus
from distribution.models import MaterialTransferAgreement, Recall
from distribution.registry_export import hla_text


def catalog_filters(params) -> queries.CatalogFilters:
    """The catalog's filters from the query string; a bad filter is a ValidationError (the page shows it)."""
    form = forms.CatalogFilterForm(params or None)
    if not form.is_bound:
        return queries.CatalogFilters()
    if not form.is_valid():
        raise ValidationError(form.errors)
    return form.filters


CATALOG_COLUMNS = [
    Column(_("Line"), "name"),
    Column(_("Cell type"), "cell_type_display"),
    Column(_("Grade"), "grade_display"),
    Column(_("Available vials"), "available_vials"),
    Column(_("Passage"), "passage"),
    Column(_("Tiers"), "tiers"),
    Column(_("Characterization"), "characterization_text"),
    Column(_("HLA"), lambda e: hla_text(e.hla)),
    Column(_("Description"), "description"),
]


@register_export("distribution.catalog", url="distribution:catalog", perms=("distribution.view_catalog",),
                 title=_("Catalog"), filename="catalog")
def catalog(user, params):
    return Prepared(queries.catalog_lines(catalog_filters(params)), queries.catalog_entries), CATALOG_COLUMNS


def request_status(params) -> str:
    status = params.get("status", "")
    return status if status in RequestStatus.values else ""


def request_queryset(user, status: str):
    """The requests page's rows: every request for staff, a researcher's own otherwise; one status tab."""
    qs = queries.requests_visible_to(user)
    return qs.filter(status=status) if status else qs


def request_columns(user) -> list[Column]:
    columns = [
        Column(_("Number"), "number"),
        Column(_("Line"), "cell_line.name"),
        Column(_("Vials"), "vials"),
        Column(_("Intended use"), "get_intended_use_display"),
        Column(_("Project"), "project_title"),
    ]
    if queries.sees_all_requests(user):  # the page shows who asked to staff only
        columns += [Column(_("Researcher"), lambda r: person(r.researcher)), Column(_("Institution"), "institution")]
    return columns + [
        Column(_("Status"), "get_status_display"),
        Column(_("Submitted"), "submitted_at"),
        Column(_("Decided by"), lambda r: person(r.decided_by)),
    ]


@register_export("distribution.requests", url="distribution:requests",
                 perms=("distribution.view_distributionrequest",), title=_("Requests"), filename="requests")
def requests(user, params):
    return request_queryset(user, request_status(params)), request_columns(user)


def recall_queryset():
    return Recall.objects.select_related("lot__cell_line", "donor", "initiated_by").order_by("-initiated_at", "-id")


RECALL_COLUMNS = [
    Column("#", "pk"),
    Column(_("Source"), "get_source_display"),
    Column(_("Lot"), "lot.lot_number"),
    Column(_("Line"), "lot.cell_line.name"),
    Column(_("Donor"), "donor.code"),
    Column(_("Reason"), "reason"),
    Column(_("Initiated"), "initiated_at"),
    Column(_("Initiated by"), lambda r: person(r.initiated_by)),
]


@register_export("distribution.recalls", url="distribution:recalls", perms=("distribution.view_recall",),
                 title=_("Recalls"), filename="recalls")
def recalls(user, params):
    return recall_queryset(), RECALL_COLUMNS


def mta_queryset():
    return MaterialTransferAgreement.objects.annotate(n_requests=Count("requests")).order_by("-effective_from", "-id")


MTA_COLUMNS = [
    Column(_("Version"), "version"),
    Column(_("Title"), "title"),
    Column(_("In force from"), "effective_from"),
    Column(_("Status"), lambda m: _("In use") if m.active else _("Superseded")),
    Column(_("Requests"), "n_requests"),
    Column(_("Text"), "text"),
]


@register_export("distribution.mta", url="distribution:mta",
                 perms=("distribution.view_materialtransferagreement",), title=_("MTA versions"), filename="mta")
def mta(user, params):
    return mta_queryset(), MTA_COLUMNS


FEE_COLUMNS = [
    Column(_("Applies to"), "applies_to"),
    Column(_("Institution type"), "institution_type"),
    Column(_("Fee per vial"), "per_vial"),
    Column(_("Currency"), "currency"),
    Column(_("Set by"), "set_by"),
    Column(_("Set at"), "set_at"),
]


def _fee_rows() -> list[dict]:
    table = queries.fee_table()
    types = dict(InstitutionType.choices)
    rows = [{"applies_to": _("bank default"), "institution_type": label, "per_vial": amount or 0,
             "currency": table["currency"], "set_by": "", "set_at": None} for _type, label, amount in table["defaults"]]
    for rate in table["grades"] + table["lines"]:
        rows.append({
            "applies_to": rate.cell_line.name if rate.cell_line_id else _("every %(grade)s-grade line") % {
                "grade": rate.grade},
            "institution_type": types.get(rate.institution_type, rate.institution_type), "per_vial": rate.per_vial,
            "currency": table["currency"], "set_by": person(rate.set_by), "set_at": rate.set_at})
    return rows


@register_export("distribution.fees", url="distribution:fees", perms=("distribution.view_feerate",),
                 title=_("Fees"), filename="fees")
def fees(user, params):
    # The defaults and the rates in force: a few dozen rows, read whole as the page does.
    return _fee_rows(), FEE_COLUMNS


