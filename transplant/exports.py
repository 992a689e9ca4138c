"""The transplant app's list exports (issue 17): patients, confirmatory typing, orders, follow-ups, centres, dry
shippers and a patient's unit search, with the filters and the centre scoping of their pages (``bank.exports``):
a clinician exports their own centre's rows only, as on the pages."""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.db.models import Count, Q
from django.utils.translation import gettext_lazy as _

from bank.exports import Column, register_export
from bank.parsing import whole_number
from transplant import forms, queries
from transplant.choices import OrderStatus, TypingRequestStatus
from transplant.models import DryShipper, TransplantCentre

PATIENT_COLUMNS = [
    Column(_("Code"), "code"),
    Column(_("Centre"), "centre.code"),
    Column(_("Diagnosis"), "diagnosis"),
    Column(_("Weight (kg)"), "weight_kg"),
    Column(_("ABO"), "abo"),
    Column(_("Rh"), "get_rh_display"),
    Column("HLA", "hla_text"),
]


def patient_queryset(user):
    return queries.patients_visible_to(user).order_by("centre_id", "code")


@register_export("transplant.patients", url="transplant:patients", perms=("transplant.view_patient",),
                 title=_("Patients"), filename="patients")
def patients(user, params):
    return patient_queryset(user), PATIENT_COLUMNS


def typing_status(params) -> str:
    return params.get("status", TypingRequestStatus.REQUESTED)


def typing_queryset(user, status: str):
    qs = queries.typing_requests_visible_to(user)
    if status in TypingRequestStatus.values:
        qs = qs.filter(status=status)
    return qs.order_by("due_on", "pk") if status == TypingRequestStatus.REQUESTED else qs.order_by("-requested_at",
                                                                                                   "-pk")


TYPING_COLUMNS = [
    Column(_("Unit"), "unit.din"),
    Column(_("Patient"), "patient.code"),
    Column(_("Centre"), "patient.centre.code"),
    Column(_("Requested"), "requested_at"),
    Column(_("Due"), "due_on"),
    Column(_("Overdue"), "is_overdue"),
    Column(_("Status"), "get_status_display"),
    Column(_("Turnaround (days)"), "turnaround_days"),
]


@register_export("transplant.typing", url="transplant:typing-list", perms=("transplant.view_typingrequest",),
                 title=_("Confirmatory typing"), filename="confirmatory-typing")
def typing(user, params):
    return typing_queryset(user, typing_status(params)), TYPING_COLUMNS


def order_queryset(user, status: str):
    qs = queries.orders_visible_to(user)
    if status in OrderStatus.values:
        qs = qs.filter(status=status)
    return qs.order_by("-ordered_at", "-pk")


ORDER_COLUMNS = [
    Column(_("Order"), "number"),
    Column(_("Unit"), "unit.din"),
    Column(_("Patient"), "patient.code"),
    Column(_("Centre"), "patient.centre.code"),
    Column(_("Infusion"), "infusion_date"),
    Column(_("Status"), "get_status_display"),
    Column(_("Exceptional release"), "is_exceptional"),
    Column(_("Dry shipper"), "dry_shipper.code"),
]


@register_export("transplant.orders", url="transplant:orders", perms=("transplant.view_order",),
                 title=_("Transplant orders"), filename="transplant-orders")
def orders(user, params):
    return order_queryset(user, params.get("status", "")), ORDER_COLUMNS


def follow_up_queryset(user, status: str):
    qs = queries.follow_ups_visible_to(user).order_by("due_on", "pk")
    return qs.filter(status="due") if status == "due" else qs


FOLLOW_UP_COLUMNS = [
    Column(_("Order"), "order.number"),
    Column(_("Patient"), "order.patient.code"),
    Column(_("Centre"), "order.patient.centre.code"),
    Column(_("Milestone"), "get_milestone_display"),
    Column(_("Due"), "due_on"),
    Column(_("Overdue"), "is_overdue"),
    Column(_("Status"), "get_status_display"),
]


@register_export("transplant.follow_ups", url="transplant:follow-ups", perms=("transplant.view_followup",),
                 title=_("Outcome follow-up"), filename="follow-ups")
def follow_ups(user, params):
    return follow_up_queryset(user, params.get("status", "due")), FOLLOW_UP_COLUMNS


def centre_queryset():
    return TransplantCentre.objects.annotate(
        clinician_count=Count("clinicians", filter=Q(clinicians__active=True))).order_by("code")


CENTRE_COLUMNS = [
    Column(_("Code"), "code"),
    Column(_("Name"), "name"),
    Column(_("City"), "city"),
    Column(_("Accredited until"), "accreditation_until"),
    Column(_("Clinicians"), "clinician_count"),
    Column(_("Active"), "active"),
]


@register_export("transplant.centres", url="transplant:centres",
                 perms=("transplant.view_transplantcentre", "transplant.change_transplantcentre"),
                 title=_("Transplant centres"), filename="transplant-centres")
def centres(user, params):
    return centre_queryset(), CENTRE_COLUMNS


SHIPPER_COLUMNS = [
    Column(_("Shipper id"), "code"),
    Column(_("Description"), "description"),
    Column(_("Validated until"), "validated_until"),
    Column(_("Active"), "active"),
]


@register_export("transplant.shippers", url="transplant:shippers",
                 perms=("transplant.view_dryshipper", "transplant.change_dryshipper"), title=_("Dry shippers"),
                 filename="dry-shippers")
def shippers(user, params):
    return DryShipper.objects.order_by("code"), SHIPPER_COLUMNS


def search_filters(params) -> queries.SearchFilters:
    """A patient's unit search filters (``SearchForm``); bad ones are a ValidationError."""
    form = forms.SearchForm(params or None)
    if not form.is_bound:
        return queries.SearchFilters()
    if not form.is_valid():
        raise ValidationError(form.errors)
    return queries.SearchFilters(**{k: v for k, v in form.cleaned_data.items() if v not in (None, "")})


def _hla(unit, locus: str) -> str:
    return " ".join(queries.unit_hla(unit).get(locus) or [])


SEARCH_COLUMNS = [
    Column(_("Unit (DIN)"), "din"),
    Column(_("Mismatches"), "mismatches"),
    Column(_("TNC ×10⁷/kg"), lambda u: round(u.tnc_per_kg, 2) if u.tnc_per_kg is not None else None),
    Column(_("CD34 ×10⁵/kg"), lambda u: round(u.cd34_per_kg, 2) if u.cd34_per_kg is not None else None),
    Column(_("ABO"), "abo"),
    Column(_("Rh"), "get_rh_display"),
    Column(_("Age (y)"), queries.unit_age_years),
    Column("HLA-A", lambda u: _hla(u, "A")),
    Column("HLA-B", lambda u: _hla(u, "B")),
    Column("HLA-DRB1", lambda u: _hla(u, "DRB1")),
]


@register_export("transplant.search", url="transplant:patient",
                 perms=("transplant.view_patient", "transplant.search_units"), title=_("Unit search"),
                 filename="unit-search")
def search(user, params):
    """A patient's unit search (the patient page's results, every page of them; rows in record order, with the
    mismatches and doses to sort by)."""
    patient = queries.patients_visible_to(user).filter(pk=whole_number(params.get("pk")) or 0).first()
    if patient is None:
        raise ValidationError({"pk": [_("No such patient.")]})
    return queries.search_units(patient, search_filters(params)), SEARCH_COLUMNS
