"""Reads of the cordblood app shared by pages and the API."""

from __future__ import annotations

from django.db.models import QuerySet

from bank import tally
from bank.roles import ADMIN, COORDINATOR, MEDICAL_DIRECTOR, QA, TECHNICIAN, has_role
from cordblood.choices import Acceptance, DiscardReason, ListingStatus, Ownership
from cordblood.models import CollectionSite, CordBloodUnit, InfantDonation
from lots.choices import LotStatus

# Roles inside the bank see every unit; anyone else (a transplant centre's clinician) sees only listed
# public units: a family unit never appears in public search.
BANK_ROLES = (ADMIN, COORDINATOR, TECHNICIAN, QA, MEDICAL_DIRECTOR)
PUBLIC_SEARCH_STATUSES = (ListingStatus.AVAILABLE, ListingStatus.TEMPORARILY_UNAVAILABLE, ListingStatus.RESERVED)


def units_visible_to(user) -> QuerySet[CordBloodUnit]:
    """Units ``user`` may see, with what the lists show (a constant number of queries: one)."""
    qs = CordBloodUnit.objects.select_related("donation__infant", "donation__mother", "donation__site", "lot")
    if not has_role(user, *BANK_ROLES):
        qs = public_search_units(qs)
    return qs.order_by("-created_at", "-id")


def public_search_units(qs: QuerySet[CordBloodUnit] | None = None) -> QuerySet[CordBloodUnit]:
    """Public units listed for search (never a family unit)."""
    qs = CordBloodUnit.objects.all() if qs is None else qs
    return qs.filter(ownership=Ownership.PUBLIC, listing_status__in=PUBLIC_SEARCH_STATUSES)


def filter_units(qs: QuerySet[CordBloodUnit], params, *, user=None) -> QuerySet[CordBloodUnit]:
    """Filters of the unit list and API: ``ownership``, ``acceptance``, ``listing_status``, ``din``,
    ``mother`` (donor code), ``ready_to_list`` (released public units not yet listed).

    ``mother`` is a bank filter: for a ``user`` outside the bank it is ignored, so nobody outside can learn
    which units a mother gave by probing donor codes."""
    ownership = params.get("ownership") or ""
    if ownership in Ownership.values:
        qs = qs.filter(ownership=ownership)
    acceptance = params.get("acceptance") or ""
    if acceptance in Acceptance.values:
        qs = qs.filter(acceptance=acceptance)
    listing = params.get("listing_status") or ""
    if listing in ListingStatus.values:
        qs = qs.filter(listing_status=listing)
    din = (params.get("din") or "").strip().upper()
    if din:
        qs = qs.filter(din__startswith=din[:13])
    mother = (params.get("mother") or "").strip().upper()
    if mother and (user is None or has_role(user, *BANK_ROLES)):
        qs = qs.filter(donation__mother__code=mother)
    if str(params.get("ready_to_list") or "").lower() in ("1", "true", "yes", "on"):
        qs = qs.filter(ownership=Ownership.PUBLIC, listing_status=ListingStatus.NOT_LISTED,
                       lot__status=LotStatus.RELEASED)
    return qs


def unit_count(user, params) -> int | None:
    """The number of units the list shows, from the kept counts (bank/tally.py) when only ``ownership`` and
    ``listing_status`` filter it (else None: the list counts its own rows). One query."""
    if any(params.get(name) for name in ("acceptance", "din", "mother", "ready_to_list")):
        return None
    ownership = params.get("ownership") or ""
    listing = params.get("listing_status") or ""
    public_only = not has_role(user, *BANK_ROLES)
    total = 0
    for key, n in tally.counts("cordblood.unit").items():
        owner, _sep, status = key.partition(":")
        if ownership in Ownership.values and owner != ownership:
            continue
        if listing in ListingStatus.values and status != listing:
            continue
        if public_only and (owner != Ownership.PUBLIC or status not in PUBLIC_SEARCH_STATUSES):
            continue
        total += n
    return total


def discards_by_reason() -> list[dict]:
    """``[{"reason", "label", "count"}]`` for every discard reason (zero counts included; kept counts)."""
    counts = tally.counts("cordblood.discard")
    rows = [{"reason": value, "label": str(label), "count": counts.get(value, 0)}
            for value, label in DiscardReason.choices]
    return rows


def acceptance_counts() -> list[dict]:
    """``[{"acceptance", "label", "count"}]`` for every acceptance state (zero counts included; kept counts)."""
    counts = tally.counts("cordblood.acceptance")
    return [{"acceptance": value, "label": str(label), "count": counts.get(value, 0)}
            for value, label in Acceptance.choices]


def donations_of(mother) -> QuerySet[InfantDonation]:
    return (InfantDonation.objects.filter(mother=mother)
            .select_related("infant", "site", "collector", "unit", "unit__lot").order_by("-born_at", "birth_order"))


def donations_list() -> QuerySet[InfantDonation]:
    """Donations with what the page and the API list show (one query a page: the API shows the collection's
    code too)."""
    return InfantDonation.objects.select_related("infant", "mother", "site", "collector", "collection",
                                                 "unit").order_by(
        "-born_at", "birth_order", "-id")


def sites_with_collectors() -> QuerySet[CollectionSite]:
    return CollectionSite.objects.prefetch_related("collectors")


def with_donation_counts(sites) -> list[CollectionSite]:
    """Each site's ``donation_count`` from the kept counts (bank/tally.py): a million donations are never
    counted on the sites page. One query."""
    counts = tally.counts("cordblood.site_donations")
    sites = list(sites)
    for site in sites:
        site.donation_count = counts.get(str(site.pk), 0)
    return sites
