"""The donor registry's list exports (issue 17): donors, collections, ethics approvals and the screening panel's
markers, as CSV or XLSX.

Each builder is what its page lists, with the page's own filters (``bank.exports``). No export ever holds a donor's
identity: the donor list shows the pseudonymous code only, and so does its export.
"""

from __future__ import annotations

from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from bank.exports import Column, Prepared, register_export
from donors.choices import ConsentState, Eligibility, Tissue
from donors.models import Collection, EthicsApproval, ScreeningMarker
from donors.queries import PanelConfig, consent_state, donor_list, eligibility_of


def _label(choices, value) -> str:
    return str(dict(choices.choices).get(value, value))


DONOR_COLUMNS = [
    Column(_("Code"), "donor.code"),
    Column(_("Type"), "donor.get_donor_type_display"),
    Column(_("Sex"), "donor.get_sex_display"),
    Column(_("Birth year"), "donor.birth_year"),
    Column(_("Eligibility"), lambda r: _label(Eligibility, r["eligibility"].status)),
    Column(_("Missing markers"), lambda r: r["eligibility"].missing_markers),
    Column(_("Positive markers"), lambda r: r["eligibility"].positive),
    Column(_("Consent"), lambda r: _label(ConsentState, r["consent"])),
    Column(_("Registered"), "donor.registered_at"),
]


def donor_search(params) -> str:
    return (params.get("q") or "").strip()


@register_export("donors", url="donors:list", perms=("donors.view_donor",), title=_("Donors"), filename="donors")
def donors(user, params):
    panel = PanelConfig.load()

    def rows(batch):
        eligibility = eligibility_of(batch, panel)
        return [{"donor": d, "eligibility": eligibility[d.pk], "consent": consent_state(d)} for d in batch]

    return Prepared(donor_list(donor_search(params)), rows), DONOR_COLUMNS


def collection_queryset(params):
    """The collections list's rows: newest first, searched by collection or donor code (``q``)."""
    q = (params.get("q") or "").strip()
    qs = Collection.objects.select_related("donor", "ethics_approval").order_by("-collected_at", "-id")
    if q:
        qs = qs.filter(code__icontains=q) | qs.filter(donor__code__icontains=q)
    return qs


COLLECTION_COLUMNS = [
    Column(_("Code"), "code"),
    Column(_("Donor"), "donor.code"),
    Column(_("Tissue"), "get_tissue_display"),
    Column(_("Collected"), "collected_at"),
    Column(_("Received"), "received_at"),
    Column(_("Transport (h)"), lambda c: round(c.transport_hours, 1) if c.transport_hours is not None else None),
    Column(_("Transport time over the limit"), "transport_delay_flagged"),
    Column(_("Transport outside the limits"), "transport_out_of_limits"),
    Column(_("Ethics approval"), "ethics_approval.approval_number"),
]


@register_export("donors.collections", url="donors:collections", perms=("donors.view_collection",),
                 title=_("Collections"), filename="collections")
def collections(user, params):
    return collection_queryset(params), COLLECTION_COLUMNS


def _ethics_state(approval) -> str:
    today = timezone.localdate()
    if approval.is_valid_on(today):
        return str(_("in force"))
    if approval.withdrawn_on:
        return str(_("withdrawn"))
    if approval.lapsed_on(today):
        return str(_("expired"))
    return str(_("not in force today"))


ETHICS_COLUMNS = [
    Column(_("Approval number"), "approval_number"),
    Column(_("Committee"), "committee"),
    Column(_("Scope"), "scope"),
    Column(_("Valid from"), "valid_from"),
    Column(_("Valid to"), "valid_to"),
    Column(_("State"), _ethics_state),
    Column(_("Withdrawn on"), "withdrawn_on"),
    Column(_("Withdrawal reason"), "withdrawal_reason"),
]


@register_export("donors.ethics", url="donors:ethics", perms=("donors.view_ethicsapproval",),
                 title=_("Ethics approvals"), filename="ethics-approvals")
def ethics(user, params):
    return EthicsApproval.objects.order_by("-valid_from", "-id"), ETHICS_COLUMNS


def screening_markers():
    """The screening panel page's markers, in panel order."""
    return ScreeningMarker.objects.order_by("order", "code")


def marker_tissues(marker) -> list[str]:
    """The tissues a marker is required for, by name (empty: every collection)."""
    tissues = dict(Tissue.choices)
    return [str(tissues.get(t, t)) for t in marker.tissues]


MARKER_COLUMNS = [
    Column(_("Code"), "code"),
    Column(_("Marker"), "name"),
    Column(_("Required"), "required"),
    Column(_("For tissues"), lambda m: marker_tissues(m) or str(_("every collection"))),
]


@register_export("donors.markers", url="donors:panel",
                 perms=("donors.view_screeningmarker", "donors.view_screeningwindow"), title=_("Screening panel"),
                 filename="screening-panel")
def markers(user, params):
    return screening_markers(), MARKER_COLUMNS
