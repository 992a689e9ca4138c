"""Every write of the distribution app: requests, review, allocation, shipping, receipt and recall.

Allocation is race-free: candidate vials are locked with ``SELECT ... FOR UPDATE OF lots_vial SKIP
LOCKED`` in allocation order (WCB before MCB, oldest freeze first, then pk), so two approvals running
at the same moment never take the same vial and never wait for each other; the partial unique
constraint on ``Allocation`` is the last line of defence. Vials change status only through
``lots.services.change_vial_status`` and leave their positions only through
``storage.services.remove_from_storage``; a lot is recalled only through ``change_lot_status``.
"""

from __future__ import annotations

import datetime
import hashlib
from collections import defaultdict
from decimal import Decimal

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _

from bank import sequences
from bank.audit import acting, bulk_create_audited
from bank.errors import Conflict, Forbidden
from bank.models import Notification, SignatureMeaning
from bank.notifications import notify, notify_role
from bank.registry import announce
from bank.roles import QA, TECHNICIAN
from bank.signatures import record_signature, verify_password
from distribution import queries
from distribution.choices import (
    REQUEST_TRANSITIONS,
    ArrivalCondition,
    InstitutionType,
    IntendedUse,
    RecallSource,
    RequestStatus,
    ShipperType,
)
from distribution.countries import clean_country
from distribution.models import (
    Allocation,
    DistributionRequest,
    ExportApproval,
    FeeRate,
    InstitutionProfile,
    MaterialTransferAgreement,
    Recall,
    RecallNotice,
    Shipment,
)
from lots.choices import Grade, LotStatus, VialStatus
from lots.models import CellLine, Lot, Vial
from lots.services import (
    change_lot_status,
    change_vial_status,
    flag_lots_for_withdrawn_consent,
    recall_descendants,
)
from storage.services import remove_from_storage


def _link(request: DistributionRequest) -> str:
    return reverse("distribution:request", args=[request.pk])


def _next_number(today: datetime.date) -> str:
    """REQ-2026-00042: one sequence per year (``bank.sequences``), never the same number twice."""
    return f"REQ-{today.year}-{sequences.take_one(f'request:{today.year}'):05d}"


def _move(request: DistributionRequest, to: str) -> None:
    if to not in REQUEST_TRANSITIONS.get(request.status, set()):
        raise Conflict(
            _("Request %(number)s is %(from)s; it cannot become %(to)s.") % {
                "number": request.number, "from": RequestStatus(request.status).label,
                "to": RequestStatus(to).label},
            code="invalid_transition", status=request.status,
        )
    request.status = to


def _lock(request: DistributionRequest) -> DistributionRequest:
    return DistributionRequest.objects.select_for_update().get(pk=request.pk)


# --- the MTA --------------------------------------------------------------------------------------


def publish_mta(*, actor, version: str, title: str, text: str,
                effective_from: datetime.date | None = None) -> MaterialTransferAgreement:
    """Put a new MTA version in force; earlier versions stay (requests keep the one they accepted)."""
    version, title, text = (version or "").strip(), (title or "").strip(), (text or "").strip()
    errors = {}
    if not version:
        errors["version"] = [_("Give the agreement a version.")]
    elif MaterialTransferAgreement.objects.filter(version=version).exists():
        errors["version"] = [_("Version %(version)s exists already; give the new text a new version.")
                             % {"version": version}]
    if not text:
        errors["text"] = [_("The agreement needs its text.")]
    if errors:
        raise ValidationError(errors)
    with transaction.atomic(), acting(actor, _("MTA %(version)s published") % {"version": version}):
        for old in MaterialTransferAgreement.objects.select_for_update().filter(active=True).order_by("pk"):
            old.active = False
            old.save(update_fields=["active"])
        return MaterialTransferAgreement.objects.create(
            version=version[:40], title=(title or version)[:200], text=text,
            effective_from=effective_from or timezone.localdate(), active=True)


# --- researcher: submit, cancel, receive ----------------------------------------------------------


def submit_request(*, actor, cell_line: CellLine, vials: int, intended_use: str, project_title: str,
                   mta_accepted: bool, institution_type: str | None = None, recipient_country: str | None = None,
                   project_summary: str = "", institution: str = "",
                   shipping_address: str = "", mta_version: str | None = None) -> DistributionRequest:
    """A researcher asks for ``vials`` vials of a released line and accepts the MTA in force.

    The institution's type (public or enterprise) sets the fee (``queries.fee_for``, stored on the request); the
    recipient's country (default settings.BANK_COUNTRY) decides whether shipping needs an export approval.

    400 (ValidationError): vials < 1, MTA not accepted or outdated, no title, unknown use, no or unknown
    institution type, a country that is not an ISO 3166-1 alpha-2 code.
    409: ``not_released`` (the line has no released stock), ``insufficient_stock`` (more than is there now).
    Nothing is reserved: vials are allocated only when QA approves.
    """
    errors: dict[str, list[str]] = {}
    try:
        vials = int(vials)
    except (TypeError, ValueError):
        vials = 0
    if vials < 1:
        errors["vials"] = [_("Ask for at least one vial.")]
    if intended_use not in IntendedUse.values:
        errors["intended_use"] = [_("Choose research, clinical or commercial use.")]
    if not (project_title or "").strip():
        errors["project_title"] = [_("Give your project a title.")]
    if mta_accepted is not True:
        errors["mta_accepted"] = [_("You must read and accept the material transfer agreement.")]
    if institution_type not in InstitutionType.values:
        errors["institution_type"] = [_("Say whether your institution is public or an enterprise.")]
    try:
        country = clean_country(recipient_country) if recipient_country else settings.BANK_COUNTRY
    except ValidationError as exc:
        errors["recipient_country"] = exc.messages
    mta = queries.current_mta()
    if mta is None:
        raise Conflict(_("The bank has no material transfer agreement in force; ask the bank."), code="no_mta")
    if mta_version and mta_version != mta.version and "mta_accepted" not in errors:
        errors["mta_accepted"] = [_("The agreement changed to version %(version)s while you were reading; "
                                    "read and accept it again.") % {"version": mta.version}]
    if errors:
        raise ValidationError(errors)
    stock = queries.stock_of_line(cell_line.pk)
    if not Lot.objects.filter(queries.distributable_lots_q(), cell_line=cell_line).exists():
        raise Conflict(_("%(line)s is not released for distribution; choose a line from the catalog.")
                       % {"line": cell_line.name}, code="not_released")
    if vials > stock["available"]:
        raise Conflict(_("Only %(n)s vials of %(line)s can be distributed now; ask for fewer.")
                       % {"n": stock["available"], "line": cell_line.name},
                       code="insufficient_stock", available=stock["available"])
    fee = queries.fee_for(vials, institution_type=institution_type, cell_line=cell_line)
    if fee.total > MAX_FEE:  # the request's fee column holds 12 digits: a rate that high is a typo, never a 500
        raise ValidationError({"vials": [_("The fee (%(total)s %(currency)s) exceeds what a request can carry; ask the "
                                           "bank to check the line's rate.") % {"total": fee.total,
                                                                                 "currency": fee.currency}]})
    now = timezone.now()
    with transaction.atomic(), acting(actor, _("request submitted")):
        request = DistributionRequest.objects.create(
            number=_next_number(timezone.localdate(now)), researcher=actor, cell_line=cell_line, vials=vials,
            intended_use=intended_use, project_title=project_title.strip()[:300],
            project_summary=(project_summary or "").strip(), institution=(institution or "").strip()[:200],
            institution_type=institution_type, recipient_country=country,
            shipping_address=(shipping_address or "").strip(), mta=mta, mta_accepted_at=now,
            fee_amount=fee.total, fee_currency=fee.currency, submitted_at=now,
        )
        notify_role(QA, subject=_("New request %(number)s: %(n)s vials of %(line)s for %(use)s use") % {
            "number": request.number, "n": vials, "line": cell_line.name,
            "use": IntendedUse(intended_use).label}, link=_link(request))
    return request


def _require_requester(request: DistributionRequest, actor) -> None:
    if request.researcher_id != getattr(actor, "pk", None):
        raise Forbidden(_("Only the researcher who made request %(number)s can do this.")
                        % {"number": request.number}, code="not_requester")


def cancel_request(request: DistributionRequest, *, actor) -> DistributionRequest:
    """The researcher withdraws their own request while it is still submitted."""
    with transaction.atomic(), acting(actor, _("request cancelled by the researcher")):
        locked = _lock(request)
        _require_requester(locked, actor)
        _move(locked, RequestStatus.CANCELLED)
        locked.cancelled_at = timezone.now()
        locked.save(update_fields=["status", "cancelled_at"])
    return locked


def receive_request(request: DistributionRequest, *, actor, condition: str = ArrivalCondition.GOOD,
                    notes: str = "") -> DistributionRequest:
    """The requesting researcher confirms receipt and the condition on arrival."""
    if condition not in ArrivalCondition.values:
        raise ValidationError({"condition": [_("Choose good, thawed or damaged.")]})
    with transaction.atomic(), acting(actor, _("receipt confirmed")):
        locked = _lock(request)
        _require_requester(locked, actor)
        _move(locked, RequestStatus.RECEIVED)
        shipment = Shipment.objects.select_for_update().get(request=locked)
        shipment.received_at, shipment.received_by = timezone.now(), actor
        shipment.arrival_condition, shipment.receipt_notes = condition, (notes or "").strip()
        shipment.save(update_fields=["received_at", "received_by", "arrival_condition", "receipt_notes"])
        locked.save(update_fields=["status"])
        if condition != ArrivalCondition.GOOD:
            notify_role(QA, subject=_("%(number)s arrived in poor condition: %(condition)s") % {
                "number": locked.number, "condition": ArrivalCondition(condition).label},
                body=notes or "", link=_link(locked), level=Notification.Level.WARNING)
    return locked


# --- QA: approve (allocate) and reject ------------------------------------------------------------


def _lock_free_vials(cell_line_id: int, count: int) -> list[Vial]:
    """Lock up to ``count`` allocatable vials of the line, skipping any another transaction holds.

    WCB (and unit) vials first; MCB vials only beyond settings.MIN_MCB_STOCK. The MCB reserve is a
    count over the line, so taking MCB vials with a reserve set is serialised on the line's row.
    """
    taken = list(queries.allocatable_vials(cell_line_id, mcb=False)
                 .select_for_update(skip_locked=True, of=("self",))[:count])
    need = count - len(taken)
    if need > 0:
        allowed = need
        if settings.MIN_MCB_STOCK > 0:
            CellLine.objects.select_for_update(of=("self",)).filter(pk=cell_line_id).values_list("pk").first()
            free = queries.allocatable_vials(cell_line_id, mcb=True).count()
            allowed = max(0, min(need, free - settings.MIN_MCB_STOCK))
        if allowed:
            taken += list(queries.allocatable_vials(cell_line_id, mcb=True)
                          .select_for_update(skip_locked=True, of=("self",))[:allowed])
    return taken


def _reserve(request: DistributionRequest, vials: list[Vial], *, actor) -> list[Allocation]:
    change_vial_status(vials, VialStatus.RESERVED, actor=actor, reason=_("reserved for %(number)s")
                       % {"number": request.number})
    now = timezone.now()
    return bulk_create_audited(Allocation, [Allocation(request=request, vial=v, allocated_at=now) for v in vials])


def _insufficient(line_name: str, found: int, wanted: int) -> Conflict:
    return Conflict(
        _("Only %(found)s of %(wanted)s vials of %(line)s can be allocated (released lots, not reserved, "
          "MCB reserve kept). Nothing was reserved.") % {"found": found, "wanted": wanted, "line": line_name},
        code="insufficient_stock", available=found,
    )


def approve_request(request: DistributionRequest, *, actor, reason: str = "") -> DistributionRequest:
    """QA approves: checks consent, grade and eligibility, then allocates and reserves the vials.

    409 ``consent_withdrawn``, ``consent_scope``, ``grade_mismatch``, ``donor_not_eligible``,
    ``insufficient_stock`` (nothing reserved), ``invalid_transition``. Constant number of queries.
    """
    with transaction.atomic(), acting(actor, reason or _("request approved")):
        locked = _lock(request)
        _move(locked, RequestStatus.APPROVED)
        review = queries.review_for(locked)
        for check in review.checks:
            if not check.ok and check.code and check.code != "insufficient_stock":
                raise Conflict(check.detail, code=check.code)
        line = locked.cell_line
        vials = _lock_free_vials(line.pk, locked.vials)
        if len(vials) < locked.vials:
            raise _insufficient(line.name, len(vials), locked.vials)
        _reserve(locked, vials, actor=actor)
        locked.decided_at, locked.decided_by = timezone.now(), actor
        locked.decision_reason = (reason or "").strip()
        locked.save(update_fields=["status", "decided_at", "decided_by", "decision_reason"])
        notify([locked.researcher], subject=_("Your request %(number)s was approved") % {"number": locked.number},
               body=_("%(n)s vials of %(line)s are reserved for you; the bank will ship them.") % {
                   "n": locked.vials, "line": line.name}, link=_link(locked))
        notify_role(TECHNICIAN, subject=_("Pick and ship %(number)s: %(n)s vials of %(line)s") % {
            "number": locked.number, "n": locked.vials, "line": line.name},
            link=reverse("distribution:pick", args=[locked.pk]))
    locked.allocated_barcodes = [v.barcode for v in vials]
    return locked


def _release(allocations: list[Allocation], *, actor, reason: str) -> None:
    """Give reserved vials back (their lot's status decides whether they can ever be allocated again)."""
    if not allocations:
        return
    now = timezone.now()
    reserved = [a.vial for a in allocations if a.vial.status == VialStatus.RESERVED]
    change_vial_status(reserved, VialStatus.AVAILABLE, actor=actor, reason=reason)
    for allocation in allocations:
        allocation.released_at = now
        allocation.save(update_fields=["released_at"])


def reject_request(request: DistributionRequest, *, actor, reason: str) -> DistributionRequest:
    """QA rejects a submitted request (or withdraws an approval before shipping) with a reason."""
    reason = (reason or "").strip()
    if not reason:
        raise ValidationError({"reason": [_("Tell the researcher why the request is rejected.")]})
    with transaction.atomic(), acting(actor, reason):
        locked = _lock(request)
        _move(locked, RequestStatus.REJECTED)
        _release(list(locked.allocations.filter(released_at__isnull=True).select_related("vial")),
                 actor=actor, reason=reason)
        locked.decided_at, locked.decided_by, locked.decision_reason = timezone.now(), actor, reason
        locked.save(update_fields=["status", "decided_at", "decided_by", "decision_reason"])
        notify([locked.researcher], subject=_("Your request %(number)s was rejected") % {"number": locked.number},
               body=reason, link=_link(locked))
    return locked


# --- technician: pick and ship --------------------------------------------------------------------


def confirm_pick(request: DistributionRequest, barcode: str, *, actor) -> Allocation:
    """The technician scans a vial taken from the box: it must be one reserved for this request."""
    barcode = (barcode or "").strip()
    if not barcode:
        raise ValidationError({"barcode": [_("Scan the vial's barcode.")]})
    with transaction.atomic(), acting(actor, _("picked for %(number)s") % {"number": request.number}):
        locked = _lock(request)
        if locked.status != RequestStatus.APPROVED:
            raise Conflict(_("Request %(number)s is %(status)s; there is nothing to pick.") % {
                "number": locked.number, "status": RequestStatus(locked.status).label},
                code="invalid_transition", status=locked.status)
        allocation = (Allocation.objects.select_for_update(of=("self",)).select_related("vial")
                      .filter(request=locked, released_at__isnull=True, vial__barcode=barcode).first())
        if allocation is None:
            raise Conflict(
                _("Wrong vial: %(barcode)s is not on the pick list of %(number)s. Do not ship it — put it back "
                  "where it came from and scan a vial from the list.") % {"barcode": barcode,
                                                                          "number": locked.number},
                code="wrong_vial", barcode=barcode,
            )
        if allocation.picked_at is None:
            allocation.picked_at, allocation.picked_by = timezone.now(), actor
            allocation.save(update_fields=["picked_at", "picked_by"])
    return allocation


def ship_request(request: DistributionRequest, *, actor, courier: str, tracking_number: str,
                 shipped_on: datetime.date, shipper_type: str = ShipperType.DRY_SHIPPER,
                 require_all_picked: bool = False) -> DistributionRequest:
    """The reserved vials leave the bank: they become shipped and their positions are freed.

    ``require_all_picked`` (the pick page) refuses with 409 ``picks_incomplete`` until every vial was scanned.
    """
    errors: dict[str, list[str]] = {}
    if not (courier or "").strip():
        errors["courier"] = [_("Name the courier.")]
    if not (tracking_number or "").strip():
        errors["tracking_number"] = [_("Enter the tracking number.")]
    if shipped_on is None:
        errors["shipped_on"] = [_("Enter the shipping date.")]
    elif shipped_on > timezone.localdate():
        errors["shipped_on"] = [_("The shipping date cannot be in the future.")]
    if shipper_type not in ShipperType.values:
        errors["shipper_type"] = [_("Choose a shipper type.")]
    if errors:
        raise ValidationError(errors)
    with transaction.atomic(), acting(actor, _("shipped %(number)s") % {"number": request.number}):
        locked = _lock(request)
        _move(locked, RequestStatus.SHIPPED)
        allocations = list(locked.allocations.filter(released_at__isnull=True).select_related("vial__lot"))
        if len(allocations) != locked.vials:
            raise Conflict(_("%(number)s has %(n)s of %(wanted)s vials reserved; it cannot ship.") % {
                "number": locked.number, "n": len(allocations), "wanted": locked.vials}, code="allocation_incomplete")
        if shipped_on < timezone.localdate(locked.decided_at or locked.submitted_at):
            raise ValidationError({"shipped_on": [_("The shipping date is before the approval.")]})
        if queries.needs_export_approval(locked) and queries.export_approval_on(locked, shipped_on) is None:
            raise Conflict(
                _("%(number)s goes to %(country)s, outside %(bank)s: it ships only with a Human Genetic Resources "
                  "export approval valid on %(date)s. QA records it on the request page.") % {
                    "number": locked.number, "country": locked.recipient_country, "bank": settings.BANK_COUNTRY,
                    "date": shipped_on.isoformat()},
                code="export_approval_required", recipient_country=locked.recipient_country,
                shipped_on=shipped_on.isoformat())
        blocked = sorted({a.vial.lot.lot_number for a in allocations
                          if a.vial.lot.status != LotStatus.RELEASED or a.vial.lot.consent_withdrawn_flagged_at})
        if blocked:
            raise Conflict(_("Lot %(lots)s may no longer be distributed; do not ship.") % {"lots": ", ".join(blocked)},
                           code="lot_blocked", lots=blocked)
        unpicked = [a.vial.barcode for a in allocations if a.picked_at is None]
        if require_all_picked and unpicked:
            raise Conflict(_("Scan every vial before shipping; still to pick: %(vials)s.") % {
                "vials": ", ".join(unpicked[:20])}, code="picks_incomplete", unpicked=unpicked)
        vials = [a.vial for a in allocations]
        reason = _("shipped %(number)s") % {"number": locked.number}
        change_vial_status(vials, VialStatus.SHIPPED, actor=actor, reason=reason)
        remove_from_storage(vials, actor=actor, reason=reason)
        Shipment.objects.create(request=locked, courier=courier.strip()[:120],
                                tracking_number=tracking_number.strip()[:120], shipper_type=shipper_type,
                                shipped_on=shipped_on, shipped_by=actor)
        announce("activity_gate", activity="ship", actor=actor, on=shipped_on, subject=locked)  # issue 16: quality gate
        locked.save(update_fields=["status"])
        notify([locked.researcher], subject=_("%(number)s has shipped") % {"number": locked.number},
               body=_("%(courier)s, tracking number %(tracking)s. Confirm receipt when it arrives.") % {
                   "courier": courier, "tracking": tracking_number}, link=_link(locked))
    return locked


# --- sharing: fees, institution profiles, export approvals (issue 15) ------------------------------

MAX_FEE = Decimal("9999999999.99")
# A request takes its export approval before it ships (the request page offers the form in these states only).
EXPORT_APPROVAL_STATUSES = (RequestStatus.SUBMITTED, RequestStatus.APPROVED)
EXPORT_DOCUMENT_TYPES = (".pdf", ".png", ".jpg", ".jpeg", ".tif", ".tiff")
EXPORT_DOCUMENT_MAX_BYTES = 20 * 1024 * 1024


def set_fee_rate(*, actor, institution_type: str, per_vial, cell_line: CellLine | None = None,
                 grade: str = "") -> FeeRate:
    """QA (or admin) sets the fee per vial for an institution type on one line, or on every line of a grade;
    ``per_vial`` None clears it (the grade's rate, else the bank's default applies again). Requests already
    submitted keep their fee."""
    errors: dict[str, list[str]] = {}
    if institution_type not in InstitutionType.values:
        errors["institution_type"] = [_("Choose public or enterprise.")]
    grade = (grade or "").strip()
    if (cell_line is None) == (not grade):
        errors["grade"] = [_("Set the fee on one line or on one grade.")]
    elif grade and grade not in Grade.values:
        errors["grade"] = [_("Choose research or clinical grade.")]
    if per_vial is not None and per_vial != "":
        try:
            per_vial = Decimal(str(per_vial)).quantize(Decimal("0.01"))
        except (ArithmeticError, ValueError):
            per_vial = None
            errors["per_vial"] = [_("Enter an amount, e.g. 500.00.")]
        else:
            if not per_vial.is_finite() or per_vial < 0 or per_vial > MAX_FEE:
                errors["per_vial"] = [_("Enter an amount between 0 and %(max)s.") % {"max": MAX_FEE}]
    else:
        per_vial = None
    if errors:
        raise ValidationError(errors)
    key = {"institution_type": institution_type, "cell_line": cell_line, "grade": "" if cell_line else grade}
    what = cell_line.name if cell_line else Grade(grade).label
    reason = (_("fee for %(type)s institutions on %(what)s: %(fee)s") % {
        "type": institution_type, "what": what, "fee": per_vial if per_vial is not None else _("cleared")})[:100]
    with transaction.atomic(), acting(actor, reason):
        # update_or_create retries the read when a concurrent first save wins the unique key (never a 500).
        rate, _created = FeeRate.objects.update_or_create(
            **key, defaults={"per_vial": per_vial, "set_by": actor, "set_at": timezone.now()})
    return rate


def save_institution_profile(*, actor, name: str, institution_type: str, country: str, address: str = "",
                             billing_contact: str = "", billing_email: str = "") -> InstitutionProfile:
    """A researcher keeps their institution's details; they prefill each new request."""
    from django.core.validators import validate_email

    errors: dict[str, list[str]] = {}
    name = (name or "").strip()
    if not name:
        errors["name"] = [_("Name your institution.")]
    if institution_type not in InstitutionType.values:
        errors["institution_type"] = [_("Choose public or enterprise.")]
    try:
        country = clean_country(country)
    except ValidationError as exc:
        errors["country"] = exc.messages
    billing_email = (billing_email or "").strip()
    if billing_email:
        try:
            validate_email(billing_email)
        except ValidationError:
            errors["billing_email"] = [_("Enter a valid e-mail address.")]
    if errors:
        raise ValidationError(errors)
    values = {"name": name[:200], "institution_type": institution_type, "country": country,
              "address": (address or "").strip(), "billing_contact": (billing_contact or "").strip()[:200],
              "billing_email": billing_email[:254], "updated_at": timezone.now()}
    with transaction.atomic(), acting(actor, _("institution profile saved")):
        profile, _created = InstitutionProfile.objects.update_or_create(user=actor, defaults=values)
    return profile


def record_export_approval(request: DistributionRequest, *, actor, approval_number: str, authority: str,
                           approved_on: datetime.date, expires_on: datetime.date, document=None) -> ExportApproval:
    """QA records the Human Genetic Resources export approval of a request to a recipient abroad, with the
    scanned document (kept through Django's storage API with its SHA-256). Shipping then checks that it is
    valid on the shipping date.

    400: a missing field, dates out of order, a future approval date, a document that is not a PDF or image or is
    too big, a request to a recipient in the bank's own country. 409 ``invalid_transition``: the request has
    shipped, or was rejected or cancelled.
    """
    errors: dict[str, list[str]] = {}
    approval_number, authority = (approval_number or "").strip(), (authority or "").strip()
    if not approval_number:
        errors["approval_number"] = [_("Enter the approval number.")]
    if not authority:
        errors["authority"] = [_("Name the authority that approved the export.")]
    if approved_on is None:
        errors["approved_on"] = [_("Enter the approval date.")]
    elif approved_on > timezone.localdate():
        errors["approved_on"] = [_("The approval date cannot be in the future.")]
    if expires_on is None:
        errors["expires_on"] = [_("Enter the expiry date.")]
    elif approved_on is not None and expires_on < approved_on:
        errors["expires_on"] = [_("The approval cannot expire before it was granted.")]
    if document is not None:
        name = (getattr(document, "name", "") or "").rsplit("/", 1)[-1].rsplit("\\", 1)[-1]
        if not name.lower().endswith(EXPORT_DOCUMENT_TYPES):
            errors["document"] = [_("Upload the scan as a PDF, PNG, JPEG or TIFF file.")]
        elif document.size > EXPORT_DOCUMENT_MAX_BYTES:
            errors["document"] = [_("The scan is larger than 20 MB.")]
        elif document.size == 0:
            errors["document"] = [_("The file is empty.")]
    if not queries.needs_export_approval(request):
        errors["recipient_country"] = [_("%(number)s goes to a recipient in %(country)s: no export approval is "
                                         "needed.") % {"number": request.number, "country": request.recipient_country}]
    if errors:
        raise ValidationError(errors)
    with transaction.atomic(), acting(actor, _("export approval %(number)s recorded") % {
            "number": approval_number[:60]}):
        locked = _lock(request)
        if locked.status not in EXPORT_APPROVAL_STATUSES:
            raise Conflict(_("Request %(number)s is %(status)s; an export approval is recorded before it ships.") % {
                "number": locked.number, "status": RequestStatus(locked.status).label},
                code="invalid_transition", status=locked.status)
        approval = ExportApproval(request=locked, approval_number=approval_number[:100], authority=authority[:200],
                                  approved_on=approved_on, expires_on=expires_on, recorded_by=actor)
        if document is not None:
            digest = hashlib.sha256()
            for chunk in document.chunks():
                digest.update(chunk)
            document.seek(0)
            approval.document_name, approval.document_sha256 = name[:200], digest.hexdigest()
            # The file goes to the storage when the row is saved; a failed transaction leaves at most an orphan
            # file, never a row without its file.
            approval.document.save(name[:100], document, save=False)
        approval.save()
        if locked.status == RequestStatus.APPROVED:
            notify_role(TECHNICIAN, subject=_("%(number)s: export approval recorded — it may ship until %(until)s") % {
                "number": locked.number, "until": expires_on.isoformat()},
                link=reverse("distribution:pick", args=[locked.pk]))
    return approval


# --- recall ---------------------------------------------------------------------------------------


def _recall_effects(recall: Recall, lot_ids: list[int], *, actor, line_name: str) -> None:
    """List and notify every recipient of shipped vials of these lots; free their unshipped vials.

    An approved request that loses reserved vials gets replacements from other distributable lots of
    its line, or — when there are none — is rejected with the recall's reason.
    """
    def live_allocations():
        return list(Allocation.objects.filter(vial__lot_id__in=lot_ids, released_at__isnull=True)
                    .select_related("vial__lot", "request__researcher").order_by("request_id", "vial_id"))

    request_ids = sorted({a.request_id for a in live_allocations()})
    locked = {r.pk: r for r in DistributionRequest.objects.select_for_update().filter(pk__in=request_ids)
              .order_by("pk")}
    # Wait for any approval that holds vials of these lots, then never let another take them.
    list(Vial.objects.select_for_update().filter(lot_id__in=lot_ids, status__in=[
        VialStatus.AVAILABLE, VialStatus.RESERVED]).order_by("pk").values_list("pk", flat=True))
    allocations = live_allocations()
    late = sorted({a.request_id for a in allocations} - set(locked))
    locked.update({r.pk: r for r in DistributionRequest.objects.select_for_update().filter(pk__in=late)
                   .order_by("pk")})
    by_request: dict[int, list[Allocation]] = defaultdict(list)
    for allocation in allocations:
        by_request[allocation.request_id].append(allocation)
    withdrawal = recall.source == RecallSource.CONSENT_WITHDRAWAL
    notices = []
    for request_id, request_allocations in sorted(by_request.items()):
        request = locked[request_id]
        barcodes = sorted(a.vial.barcode for a in request_allocations)
        if request.status in (RequestStatus.SHIPPED, RequestStatus.RECEIVED):
            notices.append(RecallNotice(recall=recall, request=request, recipient=request.researcher,
                                        vial_barcodes=barcodes))
            continue
        if request.status != RequestStatus.APPROVED:
            continue
        reason = _("recall %(id)s: %(reason)s") % {"id": recall.pk, "reason": recall.reason}
        _release(request_allocations, actor=actor, reason=reason[:100])
        replacements = _lock_free_vials(request.cell_line_id, len(request_allocations))
        if len(replacements) == len(request_allocations):
            _reserve(request, replacements, actor=actor)
            notify_role(TECHNICIAN, subject=_("%(number)s: recalled vials replaced — use the new pick list") % {
                "number": request.number}, link=reverse("distribution:pick", args=[request.pk]),
                level=Notification.Level.WARNING)
            continue
        rest = list(request.allocations.filter(released_at__isnull=True).select_related("vial"))
        _release(rest, actor=actor, reason=reason[:100])
        _move(request, RequestStatus.REJECTED)
        request.decided_at, request.decided_by = timezone.now(), actor
        request.decision_reason = (
            _("Approval withdrawn: the donor of %(line)s withdrew consent.") % {"line": line_name} if withdrawal
            else _("Approval withdrawn: the reserved lot was recalled (%(reason)s) and no other stock is left.")
            % {"reason": recall.reason})
        request.save(update_fields=["status", "decided_at", "decided_by", "decision_reason"])
        notify([request.researcher], subject=_("Your request %(number)s can no longer be filled") % {
            "number": request.number}, body=request.decision_reason, link=_link(request),
            level=Notification.Level.WARNING)
    bulk_create_audited(RecallNotice, notices)
    for notice in notices:
        request = locked[notice.request_id]
        if withdrawal:
            body = _("The donor of %(line)s withdrew consent. Stop using these vials and anything derived from "
                     "them, and follow the bank's instructions: %(vials)s.")
        else:
            body = _("Lot recalled: %(reason)s. Stop using these vials of %(line)s and anything derived from them, "
                     "and follow the bank's instructions: %(vials)s.")
        notify([notice.recipient], subject=_("RECALL: vials of %(line)s you received (%(number)s)") % {
            "line": line_name, "number": request.number},
            body=body % {"line": line_name, "reason": recall.reason.rstrip("."),
                         "vials": ", ".join(notice.vial_barcodes)},
            link=_link(request), level=Notification.Level.ALARM)
    # Downstream apps list the recipients only they know (transplant centres' patients) under the same recall.
    look_back = announce("lot_recalled", recall=recall, lot_ids=lot_ids, actor=actor).get("look_back", [])
    notify_role(QA, TECHNICIAN, subject=_("Recall %(id)s of %(line)s: %(n)s recipients notified") % {
        "id": recall.pk, "line": line_name, "n": len(notices) + len(look_back)},
        link=reverse("distribution:recall", args=[recall.pk]), level=Notification.Level.ALARM)


def recall_lot(lot: Lot, *, actor, password: str, reason: str, statement: str = "") -> Recall:
    """QA recalls a released lot (or one on hold), signing with their password (21 CFR 11): every shipped vial and its
    recipient is listed (RecallNotice) and notified; its unshipped vials are blocked. Lots made from it
    (its WCBs) go with it: released ones are recalled, the rest can never be released, and the
    recipients of their vials are listed and told too.

    400 no reason; 403 ``signature_invalid``; 409 ``invalid_transition`` (only a released lot or one on hold).
    """
    reason = (reason or "").strip()
    if not reason:
        raise ValidationError({"reason": [_("Give the reason for the recall.")]})
    verify_password(actor, password)  # outside the transaction: a failed attempt stays recorded
    with transaction.atomic(), acting(actor, reason[:100]):
        locked = change_lot_status(lot, LotStatus.RECALLED, actor=actor, reason=reason[:100])
        recall = Recall.objects.create(source=RecallSource.LOT_RECALL, lot=locked, reason=reason,
                                       initiated_by=actor)
        derived = recall_descendants(
            locked, actor=actor,
            reason=(_("lot %(lot)s recalled: %(reason)s") % {"lot": locked.lot_number, "reason": reason})[:100])
        _recall_effects(recall, [locked.pk, *(d.pk for d in derived)], actor=actor, line_name=locked.cell_line.name)
        if not statement and derived:
            statement = _("I recall lot %(lot)s and the lots made from it (%(derived)s): %(reason)s") % {
                "lot": locked.lot_number, "derived": ", ".join(d.lot_number for d in derived), "reason": reason}
        record_signature(recall, signer=actor, meaning=SignatureMeaning.RECALL,
                         statement=statement or _("I recall lot %(lot)s: %(reason)s") % {
                             "lot": locked.lot_number, "reason": reason})
    lot.status = locked.status
    return recall


def on_consent_withdrawn(*, donor, actor, reason: str = "") -> dict:
    """Receiver of donors' ``consent_withdrawn`` hook (inside the withdrawal's transaction)."""
    return {"distribution_recall": consent_withdrawal_recall(donor, actor=actor, reason=reason)}


def consent_withdrawal_recall(donor, *, actor, reason: str = "") -> Recall:
    """The donor withdrew consent: list and notify everyone who received anything derived from them,
    block every unshipped vial (lots flagged, reservations released), and reject their open requests.

    Called by the donors app's consent withdrawal service (inside its transaction). Idempotent enough
    to call twice: a second call lists the same recipients again under a new Recall record.
    """
    reason = (reason or "").strip() or _("donor consent withdrawn")
    with transaction.atomic(), acting(actor, reason[:100]):
        lots = flag_lots_for_withdrawn_consent(donor, actor=actor, reason=reason[:100])
        recall = Recall.objects.create(source=RecallSource.CONSENT_WITHDRAWAL, donor=donor, reason=reason,
                                       initiated_by=actor)
        lines = list(CellLine.objects.filter(donor=donor).order_by("name").values_list("name", flat=True))
        _recall_effects(recall, [lot.pk for lot in lots], actor=actor, line_name=", ".join(lines))
        open_requests = DistributionRequest.objects.select_for_update(of=("self",)).select_related(
            "cell_line", "researcher").filter(cell_line__donor=donor, status=RequestStatus.SUBMITTED).order_by("pk")
        for request in open_requests:
            _move(request, RequestStatus.REJECTED)
            request.decided_at, request.decided_by = timezone.now(), actor
            request.decision_reason = _("The donor of %(line)s withdrew consent; the line can no longer be "
                                        "distributed.") % {"line": request.cell_line.name}
            request.save(update_fields=["status", "decided_at", "decided_by", "decision_reason"])
            notify([request.researcher], subject=_("Your request %(number)s was rejected") % {
                "number": request.number}, body=request.decision_reason, link=_link(request))
    return recall
