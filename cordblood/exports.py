"""The cord blood app's list exports (issue 17): units, donations, sites and discards, with the filters and the
visibility of their pages (``bank.exports``): someone outside the bank exports only the public units listed for
search, and the ``mother`` filter is ignored for them as on the page. (The registry's WMDA/EMDIS inventory is
``cordblood/export.py``.)"""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.utils.translation import gettext_lazy as _

from bank.exports import Column, Prepared, register_export
from cordblood import forms, queries


def unit_filters(params) -> dict:
    """The unit list's filters (``UnitFilterForm``); bad ones are a ValidationError."""
    form = forms.UnitFilterForm(params or None)
    if not form.is_bound:
        return {}
    if not form.is_valid():
        raise ValidationError(form.errors)
    return form.cleaned_data


def unit_queryset(user, filters: dict):
    return queries.filter_units(queries.units_visible_to(user), filters, user=user)


UNIT_COLUMNS = [
    Column(_("DIN"), "din"),
    Column(_("Ownership"), "get_ownership_display"),
    Column(_("Born"), "donation.born_at"),
    Column(_("Birth order"), "donation.birth_order"),
    Column(_("Site"), "donation.site.code"),
    Column(_("Acceptance"), "get_acceptance_display"),
    Column(_("Lot"), "lot.lot_number"),
    Column(_("Lot status"), "lot.get_status_display"),
    Column(_("TNC"), "tnc_post"),
    Column(_("Search status"), "get_listing_status_display"),
    Column(_("Listed until"), "listing_until"),
]


@register_export("cordblood.units", url="cordblood:units", perms=("cordblood.view_cordbloodunit",),
                 title=_("Cord blood units"), filename="cord-blood-units")
def units(user, params):
    return unit_queryset(user, unit_filters(params)), UNIT_COLUMNS


DONATION_COLUMNS = [
    Column(_("Mother"), "mother.code"),
    Column(_("Infant donor"), "infant.code"),
    Column(_("Born"), "born_at"),
    Column(_("Birth order"), "birth_order"),
    Column(_("Site"), "site.code"),
    Column(_("Collection"), "collection.code"),
    Column(_("Unit"), "unit.din"),
]


@register_export("cordblood.donations", url="cordblood:donations", perms=("cordblood.view_infantdonation",),
                 title=_("Donations"), filename="cord-blood-donations")
def donations(user, params):
    return queries.donations_list(), DONATION_COLUMNS


SITE_COLUMNS = [
    Column(_("Code"), "code"),
    Column(_("Name"), "name"),
    Column(_("City"), "city"),
    Column(_("Active"), "active"),
    Column(_("Agreement until"), "agreement_until"),
    Column(_("Collectors"), lambda s: [c.name for c in s.collectors.all() if c.active]),
    Column(_("Donations"), "donation_count"),
]


@register_export("cordblood.sites", url="cordblood:sites", perms=("cordblood.view_collectionsite",),
                 title=_("Collection sites"), filename="collection-sites")
def sites(user, params):
    return Prepared(queries.sites_with_collectors().order_by("code"), queries.with_donation_counts), SITE_COLUMNS


DISCARD_COLUMNS = [Column(_("Reason"), "label"), Column(_("Units"), "count")]


@register_export("cordblood.discards", url="cordblood:discards", perms=("cordblood.view_cordbloodunit",),
                 title=_("Discards by reason"), filename="cord-blood-discards")
def discards(user, params):
    return queries.discards_by_reason(), DISCARD_COLUMNS
