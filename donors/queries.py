"""Reads about donors shared by pages, the API and other apps: eligibility and consent.

``judge_eligibility`` is the one rule that decides whether a donor's material may be released
(QC_SPECS.md, 21 CFR 1271.80/85): any current positive → ineligible; any required marker missing,
indeterminate or drawn outside the window around the collection → incomplete; else eligible.
``eligibility_for`` applies it to one donor as loaded (the donor page prefetches their screenings);
``eligibility_of`` and ``collection_eligibility`` to many donors at once from plain rows, so lists stay flat.
"""

from __future__ import annotations

import datetime
from dataclasses import dataclass, field
from typing import NamedTuple

from django.db.models import Exists, OuterRef, Prefetch, Q, QuerySet, prefetch_related_objects

from bank.identifiers import first_match, scannable
from bank.registry import ask
from donors.choices import MATERNAL_TISSUES, ConsentState, Eligibility, ScreeningOutcome
from donors.models import (
    Collection,
    Consent,
    Donor,
    EthicsApproval,
    Screening,
    ScreeningMarker,
    ScreeningResult,
    ScreeningWindow,
)


@dataclass(frozen=True)
class EligibilityResult:
    status: str
    missing: list[str] = field(default_factory=list)
    out_of_window: list[str] = field(default_factory=list)
    indeterminate: list[str] = field(default_factory=list)
    positive: list[str] = field(default_factory=list)
    collection_id: int | None = None

    @property
    def missing_markers(self) -> list[str]:
        """Every required marker that keeps the donor from being eligible (API.md ``missing_markers``)."""
        return sorted(set(self.missing) | set(self.out_of_window) | set(self.indeterminate))

    @property
    def is_eligible(self) -> bool:
        return self.status == Eligibility.ELIGIBLE


@dataclass(frozen=True)
class PanelConfig:
    """The screening panel and windows, read once and reused for a whole list."""

    markers: tuple[ScreeningMarker, ...]
    windows: dict[str, ScreeningWindow]

    @classmethod
    def load(cls) -> PanelConfig:
        return cls(tuple(ScreeningMarker.objects.all()), {w.tissue: w for w in ScreeningWindow.objects.all()})

    def required_codes(self, tissue: str | None) -> list[str]:
        return [m.code for m in self.markers if m.required_for(tissue)]

    def window(self, tissue: str | None) -> tuple[int, int]:
        window = self.windows.get(tissue or "") or self.windows.get("")
        return (window.days_before, window.days_after) if window else (7, 7)

    @property
    def known_codes(self) -> set[str]:
        return {m.code for m in self.markers}


class CurrentResult(NamedTuple):
    """A screening result that no correction replaced, with its sample's day and kind: what eligibility reads."""

    marker: str
    result: str
    drawn_on: datetime.date
    maternal: bool
    recorded_at: datetime.datetime
    pk: int


class CollectionKey(NamedTuple):
    """What eligibility reads of a collection (a ``Collection`` has the same attributes)."""

    pk: int
    tissue: str
    collected_at: datetime.datetime


def current_results(donor_ids) -> dict[int, list[CurrentResult]]:
    """``{donor id: their current screening results}`` as plain rows, in one query: for lists and decisions that
    judge many donors (no model instances, no per-screening managers)."""
    found: dict[int, list[CurrentResult]] = {pk: [] for pk in donor_ids}
    if not found:
        return found
    rows = (ScreeningResult.objects.filter(screening__donor_id__in=list(found), corrected_by__isnull=True)
            .values_list("screening__donor_id", "marker", "result", "screening__sample_drawn_on",
                         "screening__maternal_sample", "recorded_at", "pk"))
    for donor_id, *row in rows:
        found[donor_id].append(CurrentResult(*row))
    return found


def newest_collection(collections):
    """The collection a donor is judged on when none is named: their newest (by collection time, then id), or
    None. ``Collection`` instances or ``CollectionKey`` rows."""
    return max(collections, key=lambda c: (c.collected_at, c.pk), default=None)


def newest_collections(donor_ids) -> dict[int, CollectionKey]:
    """Each donor's newest collection (``newest_collection``) as a plain row, one query."""
    by_donor: dict[int, list[CollectionKey]] = {}
    rows = (Collection.objects.filter(donor_id__in=list(donor_ids)).order_by()
            .values_list("donor_id", "pk", "tissue", "collected_at"))
    for donor_id, pk, tissue, collected_at in rows:
        by_donor.setdefault(donor_id, []).append(CollectionKey(pk, tissue, collected_at))
    return {donor_id: newest_collection(keys) for donor_id, keys in by_donor.items()}


def eligibility_of(donors, panel: PanelConfig | None = None) -> dict[int, EligibilityResult]:
    """``{donor id: eligibility_for(donor)}`` for a list of donors (each judged on their newest collection) in
    two queries (current results, newest collections) plus the panel's two when none is given: the donor list,
    its export and API, and the haplobank's recruitment list."""
    ids = [donor.pk for donor in donors]
    panel = panel or PanelConfig.load()
    results = current_results(ids)
    newest = newest_collections(ids)
    return {pk: judge_eligibility(results[pk], newest.get(pk), panel) for pk in ids}


def _has_correction(result: ScreeningResult) -> bool:
    try:
        return result.corrected_by is not None
    except ScreeningResult.DoesNotExist:
        return False


def eligibility_for(donor: Donor, collection: Collection | None = None, *,
                    panel: PanelConfig | None = None) -> EligibilityResult:
    """Eligibility of ``donor`` for ``collection`` (default: their latest collection), from the donor's
    screenings and results as loaded on the instance (``donor_detail_queryset`` prefetches them). Lists use
    ``eligibility_of``; both apply ``judge_eligibility``.

    Without any collection the panel for every tissue is checked without a time window.
    """
    panel = panel or PanelConfig.load()
    if collection is None:
        collection = newest_collection(donor.collections.all())
    current = [CurrentResult(r.marker, r.result, s.sample_drawn_on, s.maternal_sample, r.recorded_at, r.pk)
               for s in donor.screenings.all() for r in s.results.all() if not _has_correction(r)]
    return judge_eligibility(current, collection, panel)


def judge_eligibility(current: list[CurrentResult], collection: Collection | CollectionKey | None,
                      panel: PanelConfig) -> EligibilityResult:
    """The rule (see the module's docstring) on a donor's current results, for ``collection`` (or none)."""
    tissue = collection.tissue if collection else None
    maternal = tissue in MATERNAL_TISSUES
    before, after = panel.window(tissue)
    collected_on: datetime.date | None = collection.collected_at.date() if collection else None
    if collected_on is not None:
        earliest = collected_on - datetime.timedelta(days=before)
        latest_day = collected_on + datetime.timedelta(days=after)

    positive = sorted({r.marker for r in current if r.result == ScreeningOutcome.POSITIVE})

    missing, out_of_window, indeterminate = [], [], []
    for code in panel.required_codes(tissue):
        rows = [r for r in current if r.marker == code and (not collection or r.maternal == maternal)]
        in_window = rows if collected_on is None else [r for r in rows if earliest <= r.drawn_on <= latest_day]
        if not in_window:
            (out_of_window if rows else missing).append(code)
            continue
        latest = max(in_window, key=lambda r: (r.drawn_on, r.recorded_at, r.pk))
        if latest.result == ScreeningOutcome.INDETERMINATE:
            indeterminate.append(code)

    if positive:
        status = Eligibility.INELIGIBLE
    elif missing or out_of_window or indeterminate:
        status = Eligibility.INCOMPLETE
    else:
        status = Eligibility.ELIGIBLE
    return EligibilityResult(
        status=str(status), missing=missing, out_of_window=out_of_window, indeterminate=indeterminate,
        positive=positive, collection_id=collection.pk if collection else None,
    )


def consent_state(donor: Donor) -> str:
    """``withdrawn`` once the donor withdrew; ``active`` with a consent on file; else ``none``."""
    if donor.consent_withdrawn_at is not None:
        return str(ConsentState.WITHDRAWN)
    consents = donor.consents.all()
    return str(ConsentState.ACTIVE if any(c.withdrawn_at is None for c in consents) else ConsentState.NONE)


def active_consent(donor: Donor) -> Consent | None:
    """The newest consent in force (None after a withdrawal)."""
    if donor.consent_withdrawn_at is not None:
        return None
    live = [c for c in donor.consents.all() if c.withdrawn_at is None]
    return max(live, key=lambda c: (c.signed_on, c.pk)) if live else None


def consent_scopes(donor: Donor) -> set[str]:
    consent = active_consent(donor)
    return set(consent.scopes or []) if consent else set()


def consent_scope_q(scope: str, donor: str = "") -> Q:
    """``scope in consent_scopes(donor)`` as a filter, for lists too long to read into Python (the catalog's HLA
    search over thousands of lines): the donor has not withdrawn and their newest live consent (by signed date,
    then id, as ``active_consent``) names ``scope``. ``donor`` is the path from the filtered model to the donor
    (``""`` on Donor itself, ``"donor"`` on a cell line). A test keeps the two forms in agreement."""
    ref = f"{donor}_id" if donor else "pk"
    withdrawn = f"{donor}__consent_withdrawn_at__isnull" if donor else "consent_withdrawn_at__isnull"
    newer = Consent.objects.filter(donor_id=OuterRef("donor_id"), withdrawn_at__isnull=True).filter(
        Q(signed_on__gt=OuterRef("signed_on")) | Q(signed_on=OuterRef("signed_on"), pk__gt=OuterRef("pk")))
    # The scopes are a JSON list of codes: '"code"' (quoted) matches the whole code only, on every backend.
    naming = Consent.objects.filter(donor_id=OuterRef(ref), withdrawn_at__isnull=True,
                                    scopes__icontains=f'"{scope}"').filter(~Exists(newer))
    return Q(**{withdrawn: True}) & Q(Exists(naming))


@dataclass(frozen=True)
class CollectionStanding:
    """What the material of one collection may do, by its donor: eligibility for that collection and consent."""

    collection_id: int
    donor_id: int
    eligibility: EligibilityResult
    consent: str  # ConsentState
    scopes: frozenset[str]
    consent_withdrawn_at: datetime.datetime | None


def collection_eligibility(collection_ids) -> dict[int, CollectionStanding]:
    """``{collection id: CollectionStanding}``: each donor judged on *that* collection (never on their newest).

    The one read every lot decision uses (release, lifting a hold, request review): material is judged by
    the screening around the collection it came from. Queries: the collections with their donors (1), the donors'
    current results (1) and consents (1); the panel and windows (2) — whatever the number of collections.
    """
    ids = {pk for pk in collection_ids if pk is not None}
    if not ids:
        return {}
    collections = list(Collection.objects.filter(pk__in=ids).select_related("donor"))
    # One instance per donor (select_related gives each collection its own): the prefetches land on these.
    by_id = {collection.donor_id: collection.donor for collection in collections}
    donors = list(by_id.values())
    prefetch_related_objects(donors, Prefetch("consents", queryset=Consent.objects.order_by("pk")))
    results = current_results(by_id)
    panel = PanelConfig.load()
    standing: dict[int, tuple[str, frozenset[str]]] = {
        donor.pk: (consent_state(donor), frozenset(consent_scopes(donor))) for donor in donors}
    found: dict[int, CollectionStanding] = {}
    for collection in collections:
        donor = by_id[collection.donor_id]
        state, scopes = standing[donor.pk]
        found[collection.pk] = CollectionStanding(
            collection_id=collection.pk, donor_id=donor.pk,
            eligibility=judge_eligibility(results[donor.pk], collection, panel), consent=state, scopes=scopes,
            consent_withdrawn_at=donor.consent_withdrawn_at)
    return found


# --- scanned identifiers (bank.identifiers) -------------------------------------------------------


def donor_by_code(code: str) -> Donor | None:
    """A donor by their pseudonymous code (one query on the unique index)."""
    code = scannable(code)
    return first_match(Donor.objects.filter(code=code)) if code else None


def collection_by_code(code: str) -> Collection | None:
    """A collection by its code (COL-2026-0001), with its donor (one query on the unique index)."""
    code = scannable(code)
    return first_match(Collection.objects.select_related("donor").filter(code=code)) if code else None


# --- reads for the donor pages and the API ----------------------------------------------------

IDENTITY_PERMISSION = "donors.view_donoridentity"


def can_view_identity(user) -> bool:
    """Only coordinators and admins (``donors.view_donoridentity``) ever see who a donor is."""
    return bool(user and user.is_authenticated and user.has_perm(IDENTITY_PERMISSION))


@dataclass(frozen=True)
class IdentityView:
    """What a coordinator or admin is shown of a donor's identity: the identity in clear, or its erasure
    (when, by whom, why), or why it cannot be read now (``problem``: the identity key is missing or wrong)."""

    full_name: str = ""
    national_id: str = ""
    phone: str = ""
    erased_at: datetime.datetime | None = None
    erased_by: object = None
    erasure_reason: str = ""
    problem: str = ""

    @property
    def is_erased(self) -> bool:
        return self.erased_at is not None

    @property
    def readable(self) -> bool:
        return not self.is_erased and not self.problem


def open_identity(identity) -> IdentityView:
    """Open one identity (fetched with ``donor__data_key`` and ``erased_by``): the one place that decrypts for
    a page or the API. Lists never call it."""
    from donors import crypto

    if identity.is_erased:
        return IdentityView(erased_at=identity.erased_at, erased_by=identity.erased_by,
                            erasure_reason=identity.erasure_reason)
    try:
        key = getattr(identity.donor, "data_key", None)
        revealed = identity.reveal(key.open() if key is not None else None)
    except crypto.IdentityKeyUnavailable as exc:
        return IdentityView(problem=exc.detail)
    return IdentityView(full_name=revealed.full_name, national_id=revealed.national_id, phone=revealed.phone)


def identity_key_problem() -> str:
    """Why identities cannot be stored or read right now ("" when the identity key is usable): the intake and
    import pages say so before anyone types a whole form."""
    from donors import crypto

    try:
        crypto.keyring()
    except crypto.IdentityKeyUnavailable as exc:
        return exc.detail
    return ""


def identity_for(donor: Donor, user) -> IdentityView | None:
    """The donor's identity for a user allowed to see it, else None (never read for anyone else).

    One query (identity, data key, eraser); the identity is decrypted here and nowhere else for the pages.
    """
    if not can_view_identity(user):
        return None
    from donors.models import DonorIdentity

    identity = (DonorIdentity.objects.select_related("donor__data_key", "erased_by").filter(donor_id=donor.pk)
                .first())
    return open_identity(identity) if identity is not None else None


def donor_list(search: str = "") -> QuerySet[Donor]:
    """Donors for the list page, its export and the API, with their consents (``consent_state``); their
    eligibility is read for a page at once with ``eligibility_of``.

    Queries: donors, consents.
    ``search`` matches the pseudonymous code only: identity is never searchable here.
    """
    qs = Donor.objects.order_by("-registered_at", "-id")
    search = (search or "").strip()
    if search:
        qs = qs.filter(code__icontains=search.upper())
    return qs.prefetch_related(Prefetch("consents", queryset=Consent.objects.order_by("pk")))


def donor_detail_queryset() -> QuerySet[Donor]:
    """One donor with everything the donor page and API show, in a fixed number of queries.

    The identity is deliberately not joined here: it is read separately, and only for those allowed.
    """
    return Donor.objects.select_related("registered_by", "hla", "hla__recorded_by").prefetch_related(
        Prefetch(
            "screenings",
            queryset=Screening.objects.select_related("recorded_by").order_by("-sample_drawn_on", "-id")
            .prefetch_related(Prefetch("results", queryset=ScreeningResult.objects.select_related(
                "corrected_by", "recorded_by").order_by("id"))),
        ),
        Prefetch("collections", queryset=Collection.objects.select_related("ethics_approval", "received_by")
                 .order_by("-collected_at", "-id")),
        Prefetch("consents", queryset=Consent.objects.select_related("recorded_by", "withdrawn_by")
                 .order_by("-signed_on", "-id")),
    )


def lapsed_approvals(today: datetime.date, limit: int = 200) -> list[EthicsApproval]:
    """Ethics approvals that no longer cover anything today (ended before today, or withdrawn): the lines derived
    under them are QA's to review (issue 15). Read on the two partial/plain indexes of ``valid_to``/``withdrawn_on``."""
    return list(EthicsApproval.objects.filter(Q(valid_to__lt=today) | Q(withdrawn_on__lte=today))
                .order_by("-valid_to", "-id")[:limit])


def lines_under_approvals(approval_ids, limit: int = 20) -> dict:
    """The cell lines derived from collections citing these approvals, newest first (lots answers the hook
    ``lines_under_approvals``): ``{'lines': [...], 'count': n, or None past 1000}``."""
    return ask("lines_under_approvals", approval_ids, limit=limit) or {"lines": [], "count": 0}


def derived_lots(donor: Donor) -> list:
    """Every lot derived from ``donor`` (all lines and subclones), with vial counts by status — what a consent
    withdrawal will flag (the withdrawal page shows it before it is confirmed). The lots app answers
    (bank.registry hook ``derived_lots``); donors never reads lots itself."""
    return ask("derived_lots", donor) or []


# --- HLA ----------------------------------------------------------------------------------------


def hla_versions(typing) -> list[dict]:
    """Every version of a donor's registration HLA typing, newest first: the alleles, how and when it was typed,
    who recorded it and why it changed. A replaced typing is never lost: this is where it is read (the donor's
    HLA tab and ``GET /donors/{id}/hla/``). One query."""
    from donors.choices import ALL_HLA_LOCI, HLA_LOCI

    versions = []
    for row in typing.history.select_related("history_user").order_by("-history_date", "-history_id"):
        alleles = {}
        for locus in ALL_HLA_LOCI:
            pair = [getattr(row, f"{locus.lower()}_1", "") or "", getattr(row, f"{locus.lower()}_2", "") or ""]
            if locus in HLA_LOCI or any(pair):
                alleles[locus] = pair
        versions.append({
            "alleles": alleles, "method": row.method, "resolution": row.resolution, "typed_on": row.typed_on,
            "laboratory": row.laboratory, "recorded_at": row.recorded_at, "changed_at": row.history_date,
            "changed_by": row.history_user.get_username() if row.history_user else None,
            "reason": row.history_change_reason or "", "change": {"+": "created", "~": "changed"}.get(
                row.history_type, "deleted"),
        })
    return versions
