"""The public inventory in WMDA/EMDIS cord blood unit fields (CSV): full, or differential since a date.

Only public units that were ever listed are exported (a family unit never is); a differential export holds
every unit whose search status or record changed since the date, so the registry also hears of units that
became reserved, distributed or destroyed, or were taken off the listing (``NL``).
"""

from __future__ import annotations

import datetime
from collections.abc import Iterator

from django.core.exceptions import ValidationError
from django.db.models import Exists, OuterRef, Prefetch, Q
from django.utils import timezone
from django.utils.translation import gettext as _

from bank.exports import CHUNK_SIZE, csv_chunks, keyset_chunks
from cordblood.choices import ListingStatus, Ownership
from cordblood.models import CordBloodUnit
from lots.models import Vial

LOCI = ("A", "B", "C", "DRB1", "DQB1", "DPB1")
# WMDA/EMDIS CBU status codes.
STATUS_CODES = {
    ListingStatus.AVAILABLE: "AV", ListingStatus.TEMPORARILY_UNAVAILABLE: "TU", ListingStatus.RESERVED: "RS",
    ListingStatus.DISTRIBUTED: "DI", ListingStatus.DESTROYED: "DE", ListingStatus.NOT_LISTED: "NL",
}
COLUMNS = ["GRID_OR_CBU_ID", "LOCAL_ID", "STATUS", "STATUS_REASON", "STATUS_END_DATE", "ABO", "RH",
           "TNC_POST_PROCESSING", "CD34_POST_PROCESSING", "VOLUME_FROZEN_ML", "NRBC_PCT", "COLLECTION_DATE",
           "FREEZE_DATE", "PROCESSING_METHOD", "SEX", "BIRTH_WEIGHT_G", "GESTATIONAL_AGE_WEEKS", "ETHNICITY",
           "BAGS", "ATTACHED_SEGMENTS", "REFERENCE_SAMPLES", "MATERNAL_SAMPLES",
           *[f"HLA_{locus}_{n}" for locus in LOCI for n in (1, 2)], "LAST_UPDATED"]


def parse_since(value) -> datetime.date | None:
    if value in (None, ""):
        return None
    try:
        return datetime.date.fromisoformat(str(value))
    except ValueError:
        raise ValidationError({"since": [_("Give the date as YYYY-MM-DD.")]}) from None


def exported_units(*, since: datetime.date | None = None):
    """Public frozen units that were ever listed: listed now, or listed once by their history (a unit taken
    off the listing is exported as ``NL`` so the registry stops offering it). One query and one for the
    containers, whatever the size (a chunk of it, when streamed)."""
    ever_listed = Exists(CordBloodUnit.history.model.objects.filter(id=OuterRef("pk"))
                         .exclude(listing_status=ListingStatus.NOT_LISTED))
    qs = (CordBloodUnit.objects.filter(ownership=Ownership.PUBLIC, lot__isnull=False)
          .filter(~Q(listing_status=ListingStatus.NOT_LISTED) | ever_listed)
          .select_related("donation__infant__hla", "donation__collection", "lot")
          # Only the containers' kinds are counted: no whole vial rows for four million vials.
          .prefetch_related(Prefetch("lot__vials", queryset=Vial.objects.only("id", "lot", "kind").order_by()))
          .order_by("pk"))
    if since is not None:
        start = timezone.make_aware(datetime.datetime.combine(since, datetime.time.min))
        qs = qs.filter(Q(listing_changed_at__gte=start) | Q(created_at__gte=start))
    return qs


def _row(unit: CordBloodUnit) -> list:
    donation = unit.donation
    kinds = [v.kind for v in unit.lot.vials.all()] if unit.lot else []
    hla = getattr(donation.infant, "hla", None)
    alleles = hla.alleles() if hla else {}
    typing = [(alleles.get(locus) or ["", ""])[n] for locus in LOCI for n in (0, 1)]
    return [
        unit.din, unit.lot.lot_number if unit.lot else "", STATUS_CODES.get(unit.listing_status, ""),
        unit.listing_reason, unit.listing_until.isoformat() if unit.listing_until else "", unit.abo,
        {"pos": "+", "neg": "-"}.get(unit.rh, ""), unit.tnc_post or "", unit.cd34_post or "",
        unit.volume_post_ml or "", unit.nrbc_pct if unit.nrbc_pct is not None else "",
        timezone.localtime(donation.collection.collected_at).date().isoformat() if donation.collection else "",
        timezone.localtime(unit.frozen_at).date().isoformat() if unit.frozen_at else "", unit.processing_method,
        donation.infant.sex, donation.birth_weight_g, donation.gestational_age_weeks, donation.infant.population,
        kinds.count("bag"), kinds.count("segment"),
        sum(kinds.count(k) for k in ("reference_cells", "reference_plasma", "reference_dna")),
        kinds.count("maternal_sample"), *typing, timezone.localtime(unit.listing_changed_at).isoformat(),
    ]


def inventory_rows(*, since: datetime.date | None = None, chunk: int = CHUNK_SIZE) -> Iterator[list]:
    """The rows of the export, read in keyset chunks of ``chunk`` units (a constant number of queries a chunk)."""
    for batch in keyset_chunks(exported_units(since=since), chunk_size=chunk):
        for unit in batch:
            yield _row(unit)


def inventory_csv(*, since: datetime.date | None = None, chunk: int = CHUNK_SIZE) -> Iterator[str]:
    """The CSV text, streamed (``bank.exports``): the header at once, then the rows a buffer at a time."""
    return csv_chunks(COLUMNS, inventory_rows(since=since, chunk=chunk))


def filename(since: datetime.date | None = None) -> str:
    return f"cord-blood-inventory{'-since-' + since.isoformat() if since else ''}.csv"
