"""Reads of the distribution app shared by pages, the API and the services.

Everything here runs a fixed number of queries whatever the number of lines, lots, vials or moves
(pinned by tests with ``django_assert_num_queries``). Nothing here ever returns donor identity; the
researcher-facing reads (catalog, requests) never return the donor code either.
"""

from __future__ import annotations

import re
from collections import defaultdict
from dataclasses import dataclass, field
from decimal import Decimal

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.db.models import (
    Case,
    Count,
    Exists,
    F,
    IntegerField,
    OuterRef,
    Prefetch,
    Q,
    QuerySet,
    Value,
    When,
)
from django.db.models.functions import Greatest
from django.utils.translation import gettext as _

from bank import tally
from bank.exports import person
from bank.identifiers import first_match, scannable
from bank.roles import STAFF_ROLES, has_role
from distribution.choices import InstitutionType, IntendedUse, RequestStatus
from distribution.models import (
    Allocation,
    DistributionRequest,
    ExportApproval,
    FeeRate,
    MaterialTransferAgreement,
    Recall,
    RecallNotice,
    Shipment,
)
from donors.choices import HLA_LOCI, ConsentScope, Eligibility
from donors.queries import collection_eligibility, consent_scope_q, consent_scopes
from lots.choices import RESEARCH_KINDS, CellType, Grade, LotStatus, Tier, VialStatus
from lots.models import CellLine, LineStock, Lot, Vial
from lots.queries import descendant_lots, distributable_lot_q, lot_by_code, vial_by_barcode
from qc.queries import latest_counted_briefs, result_text
from storage.queries import box_places

# --- allocation order --------------------------------------------------------------------------

# Vials for researchers come from working banks (and single units) first; the master bank lasts.
TIER_RANK = Case(When(tier=Tier.MCB, then=Value(1)), default=Value(0), output_field=IntegerField())
VIAL_TIER_RANK = Case(When(lot__tier=Tier.MCB, then=Value(1)), default=Value(0), output_field=IntegerField())
ALLOCATION_ORDER = ("tier_rank", "lot__frozen_on", "lot_id", "pk")


def distributable_lots_q(prefix: str = "", *, donor: bool = True) -> Q:
    """Lots whose vials may leave the bank: released, not flagged for withdrawn consent, donor consenting.

    ``donor=False`` leaves out the donor's own withdrawal date (one join per vial): for reads of one
    line whose donor the caller has checked already (approval refuses a withdrawn donor first).
    """
    q = distributable_lot_q(prefix)
    if donor:
        q &= Q(**{f"{prefix}cell_line__donor__consent_withdrawn_at__isnull": True})
    return q


def allocatable_vials(cell_line_id: int, *, mcb: bool | None = None) -> QuerySet[Vial]:
    """Available vials of released lots of the line, in allocation order (WCB first, oldest first, pk).

    The donor's consent is the caller's check (approval refuses ``consent_withdrawn`` before allocating).
    """
    qs = Vial.objects.filter(distributable_lots_q("lot__", donor=False), lot__cell_line_id=cell_line_id,
                             status=VialStatus.AVAILABLE, kind__in=RESEARCH_KINDS)
    if mcb is True:
        qs = qs.filter(lot__tier=Tier.MCB)
    elif mcb is False:
        qs = qs.exclude(lot__tier=Tier.MCB)
    return qs.annotate(tier_rank=VIAL_TIER_RANK).order_by(*ALLOCATION_ORDER)


def stock_of_line(cell_line_id: int) -> dict[str, int]:
    """Vials of a line's distributable lots: non-MCB, MCB, MCB kept back (settings.MIN_MCB_STOCK), total
    (1 query). Like ``allocatable_vials`` it leaves the donor's own consent to the caller."""
    counts = Vial.objects.filter(
        distributable_lots_q("lot__", donor=False), lot__cell_line_id=cell_line_id, status=VialStatus.AVAILABLE,
        kind__in=RESEARCH_KINDS,
    ).aggregate(
        mcb=Count("pk", filter=Q(lot__tier=Tier.MCB)),
        other=Count("pk", filter=~Q(lot__tier=Tier.MCB)),
    )
    reserve = min(counts["mcb"], settings.MIN_MCB_STOCK)
    return {"other": counts["other"], "mcb": counts["mcb"], "mcb_reserve": reserve,
            "available": counts["other"] + counts["mcb"] - reserve}


def current_mta() -> MaterialTransferAgreement | None:
    return MaterialTransferAgreement.objects.filter(active=True).order_by("-effective_from", "-id").first()


@dataclass(frozen=True)
class Fee:
    """What a request costs: the fee per vial, where it comes from (``line``, ``grade`` or ``default``), the total
    for the vials asked and the bank's currency."""

    per_vial: Decimal
    total: Decimal
    currency: str
    source: str


def default_fee_per_vial(institution_type: str) -> Decimal:
    """The bank's default per institution type (public: free unless the bank says otherwise)."""
    raw = (settings.REQUEST_FEE_ENTERPRISE_PER_VIAL if institution_type == InstitutionType.ENTERPRISE
           else settings.REQUEST_FEE_PUBLIC_PER_VIAL)
    return Decimal(str(raw or "0"))


def fee_for(vials: int, *, institution_type: str, cell_line: CellLine | None = None) -> Fee:
    """The one rule of a request's fee (issue 15): per vial, the line's rate for the institution type, else its
    grade's, else the bank's default for the type; times the vials (1 query with a line, none without)."""
    per_vial, source = None, "default"
    if cell_line is not None:
        rates = {(r.cell_line_id, r.grade): r.per_vial for r in FeeRate.objects.filter(
            Q(cell_line=cell_line) | Q(cell_line__isnull=True, grade=cell_line.grade),
            institution_type=institution_type, per_vial__isnull=False)}
        if (cell_line.pk, "") in rates:
            per_vial, source = rates[(cell_line.pk, "")], "line"
        elif (None, cell_line.grade) in rates:
            per_vial, source = rates[(None, cell_line.grade)], "grade"
    if per_vial is None:
        per_vial = default_fee_per_vial(institution_type)
    per_vial = per_vial.quantize(Decimal("0.01"))
    total = (per_vial * max(int(vials or 0), 0)).quantize(Decimal("0.01"))
    return Fee(per_vial=per_vial, total=total, currency=settings.REQUEST_FEE_CURRENCY, source=source)


def fee_table() -> dict:
    """The fees page: the defaults, the grade rates and the line rates in force (2 queries)."""
    rates = list(FeeRate.objects.filter(per_vial__isnull=False).select_related("cell_line", "set_by")
                 .order_by("cell_line__name", "grade", "institution_type"))
    return {
        "defaults": [(t, label, default_fee_per_vial(t)) for t, label in InstitutionType.choices],
        "grades": [r for r in rates if r.cell_line_id is None],
        "lines": [r for r in rates if r.cell_line_id is not None],
        "currency": settings.REQUEST_FEE_CURRENCY,
    }


# --- export approval (China's Human Genetic Resources regulation) ---------------------------------


def needs_export_approval(request: DistributionRequest) -> bool:
    """A recipient outside the bank's country needs a Human Genetic Resources export approval."""
    return (request.recipient_country or settings.BANK_COUNTRY).upper() != settings.BANK_COUNTRY.upper()


def export_approval_on(request: DistributionRequest, day) -> ExportApproval | None:
    """The request's export approval valid on ``day`` (the latest-expiring one), or None (1 query)."""
    return (ExportApproval.objects.filter(request=request, approved_on__lte=day, expires_on__gte=day)
            .select_related("recorded_by").order_by("-expires_on", "-id").first())


def export_approvals_of(request: DistributionRequest) -> list[ExportApproval]:
    return list(request.export_approvals.select_related("recorded_by").order_by("-expires_on", "-id"))


# --- catalog ------------------------------------------------------------------------------------

HLA_PATTERN = re.compile(r"^(A|B|C|DRB1|DQB1)\*\d{2,3}(:\d{2,3})?$")
HLA_FIELDS = [f"{locus.lower()}_{n}" for locus in HLA_LOCI for n in (1, 2)]


@dataclass
class CatalogFilters:
    q: str = ""
    cell_type: str = ""
    grade: str = ""
    hla: str = ""

    @classmethod
    def parse(cls, data) -> CatalogFilters:
        """Read ``?q=&cell_type=&grade=&hla=``; a bad value is a ValidationError naming the field."""
        filters = cls(
            q=(data.get("q") or "").strip()[:100],
            cell_type=(data.get("cell_type") or "").strip(),
            grade=(data.get("grade") or "").strip(),
            hla=(data.get("hla") or "").strip().upper().replace("HLA-", ""),
        )
        errors = {}
        if filters.cell_type and filters.cell_type not in CellType.values:
            errors["cell_type"] = [_("Unknown cell type. Use one of: %(choices)s.") % {
                "choices": ", ".join(CellType.values)}]
        if filters.grade and filters.grade not in Grade.values:
            errors["grade"] = [_("Unknown grade. Use research or clinical.")]
        if filters.hla and not HLA_PATTERN.match(filters.hla):
            errors["hla"] = [_("Write an HLA allele like A*24:02 or A*24 (loci A, B, C, DRB1, DQB1).")]
        if errors:
            raise ValidationError(errors)
        return filters


def _hla_q(allele: str) -> Q:
    """Stock rows whose line's donor carries ``allele`` (upper case; ``A*24`` also finds ``A*24:02``), on the copy
    of the donor's alleles the stock row keeps (``lots.LineStock.hla``: each allele between spaces)."""
    return Q(hla__contains=f" {allele} ") | Q(hla__contains=f" {allele}:")


def shared_hla(donor) -> dict | None:
    """The donor's HLA typing, only where they consented to data sharing (else None)."""
    if "data_sharing" not in consent_scopes(donor):
        return None
    try:
        typing = donor.hla
    except Exception:  # RelatedObjectDoesNotExist: no typing on file
        return None
    if typing is None:
        return None
    return {"alleles": typing.alleles(), "homozygous_loci": typing.homozygous_loci()}


def _format_result(result) -> str:
    return result_text(result.value, result.unit or result.test.unit, result.outcome)


@dataclass
class CatalogEntry:
    """A released line as a researcher sees it. Deliberately no donor, no collection."""

    id: int
    name: str
    cell_type: str
    cell_type_display: str
    grade: str
    grade_display: str
    description: str
    available_vials: int
    passage: int | None
    passages: list[int]
    tiers: list[str]
    characterization: list[dict] = field(default_factory=list)
    hla: dict | None = None

    @property
    def characterization_text(self) -> str:
        return " · ".join(f"{c['name']}: {c['result']}" for c in self.characterization)


def stocked_lines() -> QuerySet[LineStock]:
    """The stock rows of lines a researcher may request from: vials beyond the MCB kept back
    (``MIN_MCB_STOCK``). The one filter of the catalog's list and its count."""
    return LineStock.objects.filter(Q(other__gt=0) | Q(mcb__gt=settings.MIN_MCB_STOCK))


def catalog_lines(filters: CatalogFilters | None = None) -> QuerySet[LineStock]:
    """The stocked lines matching ``filters`` in catalog order, as their stock rows (``lots.LineStock``) annotated
    with ``available_vials``: one query over a few thousand narrow rows when evaluated (page it, never read it
    whole); ``catalog_entries`` reads the page's own lines. An HLA search only finds lines whose donor consented
    to data sharing.

    The stock is the line's counter (kept by the database as vials and lots change), never a count of vials; the
    row also carries copies of the line's lower-case name, type and grade and of its donor's alleles (lots/stock.py),
    so sorting, filtering by type, grade or HLA and counting never read the million lines (nor, for an HLA search,
    any consent: the copy of the alleles is kept only while the donor shares data). A donor's withdrawal flags every
    lot derived from them in its own transaction (lots' ``consent_withdrawn`` receiver), and a flagged lot's vials
    are not stock: a stocked line's donor is consenting, so the catalog needs no join to the donors
    (``distributable_lots_q``'s donor clause holds by construction; a test withdraws and looks)."""
    filters = filters or CatalogFilters()
    qs = (
        stocked_lines()
        .annotate(available_vials=F("other") + Greatest(F("mcb") - settings.MIN_MCB_STOCK, Value(0)))
        .only("cell_line_id", "mcb", "other")
        .order_by("sort_name", "cell_line_id")  # case-insensitive name order
    )
    if filters.q:
        # Only what a researcher may search: the line's own name and description (never a donor code).
        qs = qs.filter(Q(cell_line__name__icontains=filters.q) | Q(cell_line__description__icontains=filters.q))
    if filters.cell_type:
        qs = qs.filter(cell_type=filters.cell_type)
    if filters.grade:
        qs = qs.filter(grade=filters.grade)
    if filters.hla:
        # An HLA search only finds lines whose donor consented to data sharing (``shared_hla``'s rule): the stock
        # row's copy of the alleles is made only while the donor shares data (lots/stock.py), so no consent is read.
        qs = qs.filter(_hla_q(filters.hla))
    if filters.q or filters.hla:  # no kept count: the page's rows carry the total (one pass over the matches)
        qs = tally.with_window_total(qs)
    return qs


def catalog_count(filters: CatalogFilters | None = None) -> int | None:
    """How many lines ``catalog_lines(filters)`` holds, from the stock counters and their copies of the lines' type
    and grade (one read of a few thousand narrow rows, no join); ``None`` for a text or HLA search (the list
    counts its own rows)."""
    filters = filters or CatalogFilters()
    if filters.q or filters.hla:
        return None
    stocked = stocked_lines()
    if filters.cell_type:
        stocked = stocked.filter(cell_type=filters.cell_type)
    if filters.grade:
        stocked = stocked.filter(grade=filters.grade)
    return stocked.count()


def shared_hla_of(donor_ids) -> dict[int, dict]:
    """``shared_hla`` for many donors at once: ``{donor id: {"alleles", "homozygous_loci"}}`` for those who consented
    to data sharing and are typed (two queries; the consent rule in SQL, ``consent_scope_q``)."""
    from donors.models import Donor, HLATyping

    sharing = Donor.objects.filter(pk__in=set(donor_ids)).filter(consent_scope_q(ConsentScope.DATA_SHARING))
    return {typing.donor_id: {"alleles": typing.alleles(), "homozygous_loci": typing.homozygous_loci()}
            for typing in HLATyping.objects.filter(donor_id__in=sharing.values("pk"))}


def shape_entries(line_ids: list[int]) -> dict[int, dict]:
    """What a catalog entry shows beyond the line's own fields and stock, per line: ``passage``, ``passages`` and
    ``tiers`` of its stocked lots, ``characterization`` (the counted result per test, from the lot a researcher
    would receive first) and the shared ``hla``. Queries: shared HLA typings (1), distributable lots (1), QC
    results (1). ``catalog_cache`` keeps these ready between changes."""
    if not line_ids:
        return {}
    donor_of = dict(CellLine.objects.filter(pk__in=line_ids).values_list("pk", "donor_id"))
    hla_of = shared_hla_of(donor_of.values())
    lots = list(
        Lot.objects.filter(distributable_lots_q(donor=False), cell_line_id__in=line_ids)
        .annotate(tier_rank=TIER_RANK, available=Exists(Vial.objects.filter(
            lot=OuterRef("pk"), status=VialStatus.AVAILABLE, kind__in=RESEARCH_KINDS)))
        .order_by("tier_rank", "frozen_on", "pk")
        .values("pk", "cell_line_id", "lot_number", "tier", "passage", "available")
    )
    lots_of: dict[int, list[dict]] = defaultdict(list)
    for lot in lots:
        lots_of[lot["cell_line_id"]].append(lot)
    results_of = latest_counted_briefs([lot["pk"] for lot in lots])
    parts = {}
    for line_id in line_ids:
        line_lots = lots_of.get(line_id, [])
        stocked = [lot for lot in line_lots if lot["available"]]
        characterization: dict[str, dict] = {}
        for lot in line_lots:  # allocation order: the lot a researcher would receive speaks first
            for result in results_of.get(lot["pk"], ()):
                if result.test_code not in characterization:
                    characterization[result.test_code] = {
                        "test": result.test_code, "name": result.test_name, "result": result.display,
                        "passed": result.passed, "lot": lot["lot_number"], "tested_on": result.tested_on,
                        "order": result.test_order,
                    }
        items = sorted(characterization.values(), key=lambda c: (c["order"], c["test"]))
        for item in items:
            item.pop("order")
        parts[line_id] = {
            "passage": stocked[0]["passage"] if stocked else None,
            "passages": sorted({lot["passage"] for lot in stocked}),
            "tiers": sorted({lot["tier"] for lot in stocked}),
            "characterization": items,
            "hla": hla_of.get(donor_of.get(line_id)),
        }
    return parts


def catalog_entries(rows: list[LineStock]) -> list[CatalogEntry]:
    """A page of ``catalog_lines`` as entries: the lines' own fields (one query) and stock live, the rest kept ready
    (``catalog_cache``: one query when every entry is current; ``shape_entries`` for the others)."""
    if not rows:
        return []
    from distribution.catalog_cache import kept_parts

    ids = [row.cell_line_id for row in rows]
    lines = CellLine.objects.only("id", "name", "cell_type", "grade", "description").in_bulk(ids)
    parts_of = kept_parts(ids, shape_entries)
    cell_types, grades = dict(CellType.choices), dict(Grade.choices)
    entries = []
    for row in rows:
        line = lines[row.cell_line_id]
        entries.append(CatalogEntry(
            id=line.pk, name=line.name, cell_type=line.cell_type,
            cell_type_display=cell_types.get(line.cell_type, line.cell_type),
            grade=line.grade, grade_display=grades.get(line.grade, line.grade), description=line.description,
            available_vials=row.available_vials, **parts_of[line.pk],
        ))
    return entries


def catalog_entry(cell_line_id: int) -> CatalogEntry | None:
    row = catalog_lines().filter(cell_line_id=cell_line_id).first()
    return catalog_entries([row])[0] if row else None


# --- requests -----------------------------------------------------------------------------------


def sees_all_requests(user) -> bool:
    return has_role(user, *STAFF_ROLES)


def requests_visible_to(user) -> QuerySet[DistributionRequest]:
    """Staff see every request; a researcher only their own (others' are 404)."""
    qs = DistributionRequest.objects.select_related("cell_line", "researcher", "mta", "decided_by",
                                                    "shipment__shipped_by")
    if not sees_all_requests(user):
        qs = qs.filter(researcher=user)
    return qs.order_by("-submitted_at", "-id")


def live_allocations(requests) -> dict[int, list[Allocation]]:
    """Live (not released) allocations of these requests with their vials (1 query)."""
    ids = [r.pk for r in requests]
    found: dict[int, list[Allocation]] = defaultdict(list)
    if not ids:
        return found
    for allocation in (Allocation.objects.filter(request_id__in=ids, released_at__isnull=True)
                       .select_related("vial__lot").order_by("request_id", "vial__lot__tier", "vial_id")):
        found[allocation.request_id].append(allocation)
    return found


def pick_list(request: DistributionRequest) -> list[Allocation]:
    """The request's reserved vials with unit/rack/box/position, in walking order (1 query)."""
    allocations = list(
        Allocation.objects.filter(request=request, released_at__isnull=True)
        .select_related("vial__lot", "vial__box__rack__unit", "picked_by")
    )

    def where(a: Allocation):
        box = a.vial.box
        if box is None:
            return ("~", 0, 0, 0, a.vial.row or 0, a.vial.col or 0, a.vial.barcode)
        return (box.rack.unit.name, box.rack.position, box.rack_id, box.position, a.vial.row, a.vial.col,
                a.vial.barcode)

    return sorted(allocations, key=where)


@dataclass
class Check:
    key: str
    label: str
    ok: bool
    detail: str
    code: str = ""
    # Not a refusal of the approval but something to do before the vials can leave (the export approval).
    advisory: bool = False


@dataclass
class Review:
    """What QA needs to decide a request: consent vs use, grade vs use, eligibility, withdrawal, stock."""

    checks: list[Check]
    scopes: list[str]
    eligibility: object
    stock: dict

    @property
    def refusal(self) -> Check | None:
        return next((c for c in self.checks if not c.ok and c.code), None)

    @property
    def ok(self) -> bool:
        return all(c.ok for c in self.checks)


USE_SCOPE = {IntendedUse.RESEARCH: "research", IntendedUse.CLINICAL: "clinical", IntendedUse.COMMERCIAL: "commercial"}


def review_for(request: DistributionRequest) -> Review:
    """The checks of a request in the order approval refuses them (API.md codes). About 6 queries."""
    line = CellLine.objects.select_related("donor", "collection").get(pk=request.cell_line_id)
    # The donor is judged on the collection this line came from, as the release judged it (never the newest).
    standing = collection_eligibility([line.collection_id])[line.collection_id]
    donor = line.donor
    scopes = sorted(standing.scopes)
    eligibility = standing.eligibility
    stock = stock_of_line(line.pk)
    blocked = Lot.objects.filter(cell_line=line).filter(
        Q(consent_withdrawn_flagged_at__isnull=False) | Q(status=LotStatus.RECALLED)).count()
    use = request.intended_use
    needed_scope = USE_SCOPE.get(use, use)
    use_label = IntendedUse(use).label
    scope_labels = [str(ConsentScope(x).label) if x in ConsentScope.values else x for x in scopes]
    checks = [
        Check("consent_withdrawn", _("Donor consent in force"),
              donor.consent_withdrawn_at is None,
              _("Consent withdrawn on %(date)s: nothing derived from this donor may be distributed.")
              % {"date": donor.consent_withdrawn_at.date()} if donor.consent_withdrawn_at else _("In force."),
              "consent_withdrawn"),
        Check("consent_scope", _("Consent covers the intended use"), needed_scope in scopes,
              _("Intended use: %(use)s. Consented scopes: %(scopes)s.") % {
                  "use": use_label, "scopes": ", ".join(scope_labels) or _("none")},
              "consent_scope"),
        Check("grade", _("Grade suits the intended use"),
              not (use == IntendedUse.CLINICAL and line.grade != Grade.CLINICAL),
              _("%(grade)s line for %(use)s use.") % {"grade": line.get_grade_display(), "use": use_label},
              "grade_mismatch"),
        Check("eligibility", _("Donor eligible"), eligibility.is_eligible,
              _("Screening: %(status)s%(missing)s.") % {
                  "status": Eligibility(eligibility.status).label,
                  "missing": (" (" + ", ".join(eligibility.missing_markers + eligibility.positive) + ")")
                  if (eligibility.missing_markers or eligibility.positive) else ""},
              "donor_not_eligible"),
        Check("stock", _("Stock"), stock["available"] >= request.vials,
              _("%(available)s vials distributable for %(wanted)s requested (%(reserve)s MCB vials kept back).") % {
                  "available": stock["available"], "wanted": request.vials, "reserve": stock["mcb_reserve"]},
              "insufficient_stock"),
        *_export_checks(request),
        Check("blocked_lots", _("Blocked lots"), True,
              _("%(n)s lots of this line are recalled or flagged for withdrawn consent; they are never allocated.")
              % {"n": blocked} if blocked else _("None."), ""),
    ]
    return Review(checks=checks, scopes=scope_labels, eligibility=eligibility, stock=stock)


def _export_checks(request: DistributionRequest) -> list[Check]:
    """QA learns at approval that the vials cannot leave without a Human Genetic Resources export approval; the
    shipment is refused without one valid on its date (``export_approval_required``). One query when needed."""
    if not needs_export_approval(request):
        return []
    from django.utils import timezone

    today = timezone.localdate()
    valid = export_approval_on(request, today)
    country = {"country": request.recipient_country, "bank": settings.BANK_COUNTRY}
    if valid is not None:
        detail = _("Recipient in %(country)s: %(authority)s approval %(number)s, valid until %(until)s.") % {
            **country, "authority": valid.authority, "number": valid.approval_number, "until": valid.expires_on}
    else:
        detail = _("Recipient in %(country)s, outside %(bank)s: a Human Genetic Resources export approval is "
                   "required. You may approve; the vials cannot ship until an approval valid on the shipping date "
                   "is recorded.") % country
    return [Check("export_approval", _("Export approval"), valid is not None, detail, advisory=True)]


def open_request_counts() -> dict[str, int]:
    """Requests by status, from the kept counts (bank/tally.py). One query."""
    return tally.counts("distribution.request_status")


# --- trace --------------------------------------------------------------------------------------


def _lot_brief(lot: Lot) -> dict:
    return {
        "id": lot.pk, "lot_number": lot.lot_number, "tier": lot.tier, "status": lot.status,
        "passage": lot.passage, "frozen_on": lot.frozen_on, "parent_lot": lot.parent_lot_id,
        "cryoprotectant": lot.cryoprotectant, "cryoprotectant_lot": lot.cryoprotectant_lot,
        "consent_withdrawn_flagged": lot.consent_withdrawn_flagged_at is not None,
    }


def _position(box, row, col) -> dict | None:
    if box is None:
        return None
    return {"unit": box.rack.unit.name, "rack": box.rack.name, "box": box.name, "box_barcode": box.barcode,
            "row": row, "col": col}


def _recipient(request: DistributionRequest) -> dict:
    user = request.researcher
    return {"username": user.get_username(), "name": person(user), "email": user.email,
            "institution": request.institution}


# An allocation not released belongs to a shipment once its request shipped; before, an approved request reserves it.
CARRIED = (RequestStatus.SHIPPED, RequestStatus.RECEIVED)
RESERVING = RequestStatus.APPROVED


def _shipment_brief(allocation: Allocation) -> dict:
    request = allocation.request
    try:
        shipment = request.shipment
    except Shipment.DoesNotExist:
        shipment = None
    return {
        "request": request.number, "request_id": request.pk, "request_status": request.status,
        "intended_use": request.intended_use, "project_title": request.project_title,
        "recipient": _recipient(request),
        "allocated_at": allocation.allocated_at, "released_at": allocation.released_at,
        "picked_at": allocation.picked_at,
        "courier": shipment.courier if shipment else "",
        "tracking_number": shipment.tracking_number if shipment else "",
        "shipper_type": shipment.shipper_type if shipment else "",
        "shipped_on": shipment.shipped_on if shipment else None,
        "received_at": shipment.received_at if shipment else None,
        "arrival_condition": shipment.arrival_condition if shipment else "",
        "recipient_country": request.recipient_country,
        "export_approval": _export_brief(request, shipment.shipped_on) if shipment else None,
    }


def _export_brief(request: DistributionRequest, shipped_on) -> dict | None:
    """The export approval the shipment left under (valid on its date), from the prefetched approvals."""
    valid = [a for a in request.export_approvals.all() if a.valid_on(shipped_on)]
    if not valid:
        return None
    a = max(valid, key=lambda x: (x.expires_on, x.pk))
    return {"approval_number": a.approval_number, "authority": a.authority, "approved_on": a.approved_on,
            "expires_on": a.expires_on, "document_sha256": a.document_sha256}


def _allocations_for_vials(vial_ids) -> dict[int, list[Allocation]]:
    found: dict[int, list[Allocation]] = defaultdict(list)
    for allocation in (Allocation.objects.filter(vial_id__in=vial_ids)
                       .select_related("request__researcher", "request__shipment")
                       .prefetch_related("request__export_approvals").order_by("vial_id", "id")):
        found[allocation.vial_id].append(allocation)
    return found


def _results_brief(lot_ids) -> dict[int, list[dict]]:
    from qc.models import QCResult

    found: dict[int, list[dict]] = defaultdict(list)
    for r in (QCResult.objects.filter(lot_id__in=lot_ids).select_related("test", "entered_by")
              .order_by("lot_id", "test__order", "test__code", "entered_at", "id")):
        found[r.lot_id].append({
            "test": r.test.code, "name": r.test.name, "value": r.value, "outcome": r.outcome,
            "result": _format_result(r), "unit": r.unit or r.test.unit, "passed": r.passed,
            "tested_on": r.tested_on, "method": r.method, "instrument": r.instrument,
            "entered_by": r.entered_by.get_username(), "retest_of": r.retest_of_id,
        })
    return found


def _culture_brief(lot_ids_to_culture: dict[int, int]) -> dict[int, dict]:
    """Culture and reagent lots of each lot (2 queries: cultures, passages)."""
    from lots.models import Culture, Passage

    ids = set(lot_ids_to_culture.values())
    cultures = {c.pk: c for c in Culture.objects.filter(pk__in=ids).select_related("source_vial").prefetch_related(
        Prefetch("passages", queryset=Passage.objects.order_by("number", "id")))}
    found = {}
    for lot_id, culture_id in lot_ids_to_culture.items():
        culture = cultures.get(culture_id)
        if culture is None:
            continue
        found[lot_id] = {
            "id": culture.pk, "started_on": culture.started_on,
            "source_vial": culture.source_vial.barcode if culture.source_vial else None,
            "passages": [
                {"number": p.number, "passaged_on": p.passaged_on, "medium": p.medium, "medium_lot": p.medium_lot,
                 "reagents": p.reagents or [], "viability_pct": p.viability_pct}
                for p in culture.passages.all()
            ],
        }
    return found


def _recalls_brief(recalls) -> list[dict]:
    return [{"id": r.pk, "source": r.source, "lot": r.lot.lot_number if r.lot else None, "reason": r.reason,
             "initiated_at": r.initiated_at, "initiated_by": r.initiated_by.get_username()} for r in recalls]


def trace_vial(barcode: str) -> dict | None:
    """Backward trace of one vial: donor code, collection, line, lot lineage, culture and reagent lots,
    QC results, storage moves, allocations, shipment and recipient.

    Queries (constant): vial with lot/line/collection/donor/position (1), the donor's lots for the
    lineage (1), cultures (1) and their passages (1), QC results (1), moves (1), allocations with
    requests/researchers/shipments (1), recalls (1).
    """
    from storage.models import VialMove

    vial = first_match(Vial.objects.select_related("lot__cell_line__collection", "lot__cell_line__donor",
                                                   "box__rack__unit").filter(barcode=scannable(barcode)))
    if vial is None:
        return None
    lot, line = vial.lot, vial.lot.cell_line
    donor, collection = line.donor, line.collection
    all_lots = {x.pk: x for x in Lot.objects.filter(cell_line__donor=donor)}
    all_lots[lot.pk] = lot
    chain, current, seen = [], lot.parent_lot_id, {lot.pk}
    while current and current in all_lots and current not in seen:
        seen.add(current)
        chain.append(all_lots[current])
        current = all_lots[current].parent_lot_id
    lots_in_path = [lot, *chain]
    cultures = _culture_brief({x.pk: x.culture_id for x in lots_in_path if x.culture_id})
    results = _results_brief([x.pk for x in lots_in_path])
    moves = list(VialMove.objects.filter(vial=vial).select_related(
        "from_box__rack__unit", "to_box__rack__unit", "moved_by").order_by("moved_at", "id"))
    allocations = _allocations_for_vials([vial.pk]).get(vial.pk, [])
    recalls = list(Recall.objects.filter(Q(lot_id__in=[x.pk for x in lots_in_path]) | Q(donor=donor))
                   .select_related("lot", "initiated_by").order_by("initiated_at", "id"))
    live = [a for a in allocations if a.released_at is None]
    shipped = next((a for a in live if a.request.status in CARRIED), None)
    return {
        "vial": {"id": vial.pk, "barcode": vial.barcode, "number": vial.number, "status": vial.status,
                 "kind": vial.kind, "position": _position(vial.box, vial.row, vial.col)},
        "donor": {"id": donor.pk, "code": donor.code,
                  "consent_withdrawn_at": donor.consent_withdrawn_at},
        "collection": {"id": collection.pk, "code": collection.code, "tissue": collection.tissue,
                       "collected_at": collection.collected_at, "received_at": collection.received_at},
        "cell_line": {"id": line.pk, "name": line.name, "cell_type": line.cell_type, "grade": line.grade,
                      "reprogramming_method": line.reprogramming_method},
        "lot": {**_lot_brief(lot), "culture": cultures.get(lot.pk), "qc_results": results.get(lot.pk, [])},
        "lineage": [{**_lot_brief(x), "culture": cultures.get(x.pk), "qc_results": results.get(x.pk, [])}
                    for x in chain],
        "qc_results": results.get(lot.pk, []),
        "storage_moves": [
            {"kind": m.kind, "moved_at": m.moved_at, "moved_by": m.moved_by.get_username() if m.moved_by else None,
             "reason": m.reason, "from_position": _position(m.from_box, m.from_row, m.from_col),
             "to_position": _position(m.to_box, m.to_row, m.to_col)}
            for m in moves
        ],
        "allocations": [_shipment_brief(a) for a in allocations],
        "shipment": _shipment_brief(shipped) if shipped else None,
        "recalls": _recalls_brief(recalls),
    }


def _forward(donor, lots: list[Lot], lines: list[CellLine]) -> dict:
    """Lines, lots, vials and shipments with recipients (vials, their boxes, allocations with their export
    approvals, recalls: up to 5 queries).

    Vials are read as plain rows: a donor may have tens of thousands of them.
    """
    lot_ids = [lot.pk for lot in lots]
    # The vials on the lots' index alone; the names of their few boxes' places read once per box.
    vials = list(Vial.objects.filter(lot_id__in=lot_ids).order_by("lot_id", "number").values_list(
        "id", "lot_id", "barcode", "status", "row", "col", "box_id", "kind"))
    places = box_places({row[6] for row in vials if row[6] is not None})
    live: dict[int, Allocation] = {}
    for allocation in (Allocation.objects.filter(vial__lot_id__in=lot_ids, released_at__isnull=True)
                       .select_related("request__researcher", "request__shipment")
                       .prefetch_related("request__export_approvals").order_by("vial_id", "id")):
        live.setdefault(allocation.vial_id, allocation)
    vials_of: dict[int, list[tuple]] = defaultdict(list)
    for row in vials:
        vials_of[row[1]].append(row)
    shipments: dict[int, dict] = {}
    lot_out = []
    for lot in lots:
        counts: dict[str, int] = defaultdict(int)
        vial_rows = []
        for vial_id, _lot_id, barcode, status, row, col, box_id, kind in vials_of.get(lot.pk, []):
            counts[status] += 1
            allocation = live.get(vial_id)
            position = None
            if box_id is not None:
                unit, rack, box, box_barcode = places[box_id]
                position = {"unit": unit, "rack": rack, "box": box, "box_barcode": box_barcode, "row": row, "col": col}
            vial_rows.append({"id": vial_id, "barcode": barcode, "status": status, "kind": kind, "position": position,
                              "request": allocation.request.number if allocation else None})
            if allocation and allocation.request.status in CARRIED:
                entry = shipments.setdefault(allocation.request_id, {**_shipment_brief(allocation), "vials": []})
                entry["vials"].append(barcode)
                entry.setdefault("lots", set()).add(lot.lot_number)
        lot_out.append({**_lot_brief(lot), "cell_line": lot.cell_line.name, "vial_counts": dict(counts),
                        "vials": vial_rows})
    shipment_list = sorted(shipments.values(), key=lambda s: (s["shipped_on"] or s["allocated_at"].date(),
                                                              s["request"]))
    for shipment in shipment_list:
        shipment["lots"] = sorted(shipment["lots"])
    recipients = sorted({(s["recipient"]["username"], s["recipient"]["name"], s["recipient"]["institution"])
                         for s in shipment_list})
    recalls = list(Recall.objects.filter(Q(lot_id__in=lot_ids) | Q(donor=donor)).select_related(
        "lot", "initiated_by").order_by("initiated_at", "id"))
    return {
        "cell_lines": [{"id": x.pk, "name": x.name, "cell_type": x.cell_type, "grade": x.grade,
                        "collection": x.collection.code, "parent_line": x.parent_line_id} for x in lines],
        "lots": lot_out,
        "shipments": shipment_list,
        "recipients": [{"username": u, "name": n, "institution": i} for u, n, i in recipients],
        "recalls": _recalls_brief(recalls),
    }


def trace_donor(donor) -> dict:
    """Forward trace from a donor: every line, lot, vial and shipment derived, with recipients.

    Queries (constant): lines with collections (1), lots with lines (1), vials (1) and their boxes' places (1),
    allocations with requests/researchers/shipments (1) and their export approvals (1), recalls (1).
    """
    lines = list(CellLine.objects.filter(donor=donor).select_related("collection").order_by("name"))
    lots = list(Lot.objects.filter(cell_line__donor=donor).select_related("cell_line")
                .order_by("cell_line__name", "frozen_on", "pk"))
    return {"donor": {"id": donor.pk, "code": donor.code, "consent_withdrawn_at": donor.consent_withdrawn_at},
            **_forward(donor, lots, lines)}


def trace_lot(lot: Lot) -> dict:
    """Forward trace from a lot: the lot and every lot derived from it (WCBs of an MCB), their vials,
    shipments and recipients. Queries (constant): the donor's lots (1), lines (1), then as trace_donor (3).
    """
    donor = lot.cell_line.donor
    wanted = [lot, *descendant_lots(lot)]
    line_ids = {x.cell_line_id for x in wanted}
    lines = list(CellLine.objects.filter(pk__in=line_ids).select_related("collection").order_by("name"))
    return {"lot": _lot_brief(lot), "donor": {"id": donor.pk, "code": donor.code,
                                              "consent_withdrawn_at": donor.consent_withdrawn_at},
            **_forward(donor, wanted, lines)}


def recall_notices(recall: Recall) -> list[RecallNotice]:
    return list(recall.notices.select_related("request__cell_line", "recipient").order_by("id"))


def shipments_of_lot(lot: Lot, derived: list[Lot] | None = None) -> tuple[list[dict], int]:
    """Shipments that carried vials of this lot (and of the ``derived`` lots given) with their recipients,
    and how many of those vials are reserved (2 queries: allocations, their requests' export approvals)."""
    shipments: dict[int, dict] = {}
    reserved = 0
    lot_ids = [lot.pk, *(d.pk for d in derived or [])]
    allocations = (Allocation.objects.filter(vial__lot_id__in=lot_ids, released_at__isnull=True)
                   .select_related("request__researcher", "request__shipment")
                   .prefetch_related("request__export_approvals").order_by("request_id", "id"))
    for allocation in allocations:
        if allocation.request.status in CARRIED:
            entry = shipments.setdefault(allocation.request_id, {**_shipment_brief(allocation), "vials": 0})
            entry["vials"] += 1
        elif allocation.request.status == RESERVING:
            reserved += 1
    return sorted(shipments.values(), key=lambda s: (s["shipped_on"], s["request"])), reserved


def lot_panel_shipments(lot: Lot) -> tuple[list[dict], int]:
    """The lot page's distribution section: per shipped request of this lot, its number, recipient, vials, shipped
    and received dates (as ``shipments_of_lot`` gives them, without the export approvals and courier the page does
    not show), and how many vials approved requests reserve. One query, counted by request in SQL."""
    rows = (Allocation.objects.filter(vial__lot_id=lot.pk, released_at__isnull=True)
            .values("request_id", "request__number", "request__status", "request__institution",
                    "request__researcher__username", "request__researcher__first_name",
                    "request__researcher__last_name", "request__shipment__shipped_on",
                    "request__shipment__received_at")
            .annotate(vials=Count("id")).order_by())
    shipments, reserved = [], 0
    user_model = get_user_model()
    for row in rows:
        if row["request__status"] in CARRIED:
            researcher = user_model(username=row["request__researcher__username"],
                                    first_name=row["request__researcher__first_name"],
                                    last_name=row["request__researcher__last_name"])
            shipments.append({
                "request": row["request__number"], "request_id": row["request_id"], "vials": row["vials"],
                "recipient": {"name": person(researcher), "institution": row["request__institution"]},
                "shipped_on": row["request__shipment__shipped_on"],
                "received_at": row["request__shipment__received_at"]})
        elif row["request__status"] == RESERVING:
            reserved += row["vials"]
    return sorted(shipments, key=lambda s: (s["shipped_on"], s["request"])), reserved


def resolve_trace_code(code: str) -> str | None:
    """The trace page for a scanned or typed code: a vial barcode, a lot number or barcode, a donor code."""
    from django.urls import reverse

    from donors.queries import donor_by_code

    vial = vial_by_barcode(code, related=())
    if vial is not None:
        return reverse("distribution:trace-vial", args=[vial.barcode])
    lot = lot_by_code(code)
    if lot is not None:
        return reverse("distribution:trace-lot", args=[lot.pk])
    donor = donor_by_code(code)
    if donor is not None:
        return reverse("distribution:trace-donor", args=[donor.pk])
    return None


def request_by_number(code: str, user) -> DistributionRequest | None:
    """A request by its number (REQ-2026-00042), if ``user`` may see it (one query on the unique index)."""
    code = scannable(code)
    return first_match(requests_visible_to(user).filter(number=code)) if code else None
