"""Acceptance for processing, the processing record and the freeze of a cord blood unit.

Acceptance checks the bank's thresholds (``CORDBLOOD_MIN_VOLUME_ML``, ``CORDBLOOD_MIN_TNC``; public units
only: a family stores its baby's unit whatever its size), clots and bag integrity. A refused unit is
discarded with a reason (the discards page counts them by reason) or, when the mother consented to
research, diverted to research. The freeze must come within ``CORDBLOOD_FREEZE_WINDOW_HOURS`` of the
collection; it creates the unit's CB-HSC line and its lot (tier ``unit``, quarantine) through the lots
services, the lot's containers being the bag, its segments, reference vials and maternal samples.
"""

from __future__ import annotations

import datetime
from decimal import Decimal
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from bank.audit import acting, save_changed
from bank.errors import Conflict
from cordblood.choices import ABO, Acceptance, DiscardReason, Ownership, Rh
from cordblood.models import CordBloodUnit
from donors.choices import ConsentScope
from donors.queries import consent_scopes
from lots.choices import CellType, Grade, Tier, VialKind
from lots.services import create_cell_line, create_lot

from ._common import _as_datetime, _Errors, _text, decimal_in, int_in

CLOCK_SKEW = datetime.timedelta(minutes=5)


def _locked(unit: CordBloodUnit) -> CordBloodUnit:
    return (CordBloodUnit.objects.select_for_update(of=("self",))
            .select_related("donation__collection", "donation__infant", "lot").get(pk=unit.pk))


def _refuse_decided(unit: CordBloodUnit) -> None:
    if unit.acceptance != Acceptance.PENDING:
        raise Conflict(_("Unit %(din)s was already decided: %(state)s.") % {
            "din": unit.din, "state": unit.get_acceptance_display()}, code="unit_already_decided",
            acceptance=unit.acceptance)


def _refuse_frozen(unit: CordBloodUnit) -> None:
    if unit.lot_id is not None:
        raise Conflict(_("Unit %(din)s is frozen already (lot %(lot)s).") % {
            "din": unit.din, "lot": unit.lot.lot_number}, code="unit_already_frozen")


def acceptance_failures(unit: CordBloodUnit, *, volume_ml: Decimal | None, tnc: int | None, clots: bool,
                        bag_intact: bool) -> list[str]:
    """What keeps a collection from processing: ``volume``, ``tnc`` (public units only), ``clots``, ``bag``."""
    failed = []
    if unit.ownership == Ownership.PUBLIC:
        if volume_ml is None or volume_ml < settings.CORDBLOOD_MIN_VOLUME_ML:
            failed.append("volume")
        if tnc is None or tnc < settings.CORDBLOOD_MIN_TNC:
            failed.append("tnc")
    if clots:
        failed.append("clots")
    if not bag_intact:
        failed.append("bag")
    return failed


def accept_unit(unit: CordBloodUnit, *, actor, collected_volume_ml: Any, tnc: Any, clots: bool = False,
                bag_intact: bool = True) -> CordBloodUnit:
    """Accept a collection for processing (409 ``acceptance_criteria_not_met`` with ``failed``)."""
    errors = _Errors()
    volume = decimal_in(collected_volume_ml, "collected_volume_ml", errors, high="500", places="0.1",
                        required=True)
    count = int_in(tnc, "tnc", errors, low=0, high=10**13, required=True)
    errors.raise_if_any()
    with transaction.atomic(), acting(actor, _("accepted for processing")):
        locked = _locked(unit)
        _refuse_decided(locked)
        failed = acceptance_failures(locked, volume_ml=volume, tnc=count, clots=bool(clots),
                                     bag_intact=bool(bag_intact))
        if failed:
            raise Conflict(_("Unit %(din)s does not meet the acceptance criteria (minimum %(volume)s mL and "
                             "%(tnc)s TNC, no clots, bag intact): %(failed)s. Discard it with a reason, or divert "
                             "it to research if the mother consented.") % {
                "din": locked.din, "volume": settings.CORDBLOOD_MIN_VOLUME_ML,
                "tnc": f"{settings.CORDBLOOD_MIN_TNC:.2e}", "failed": ", ".join(failed)},
                code="acceptance_criteria_not_met", failed=failed)
        save_changed(locked, {"acceptance": Acceptance.ACCEPTED, "collected_volume_ml": volume,
                              "tnc_pre": count, "accepted_at": timezone.now(), "accepted_by": actor,
                              "acceptance_reason": ""})
    return locked


def discard_unit(unit: CordBloodUnit, *, actor, reason: str, note: str = "") -> CordBloodUnit:
    """Discard a collection that will not be processed, with a reason from ``DiscardReason``."""
    if reason not in DiscardReason.values:
        raise ValidationError({"reason": [_("Choose a reason: %(choices)s.") % {
            "choices": ", ".join(DiscardReason.values)}]})
    note = _text(note)[:200]
    with transaction.atomic(), acting(actor, note or reason):
        locked = _locked(unit)
        _refuse_frozen(locked)
        if locked.acceptance not in (Acceptance.PENDING, Acceptance.ACCEPTED):
            _refuse_decided(locked)
        save_changed(locked, {"acceptance": Acceptance.DISCARDED, "acceptance_reason": reason,
                              "accepted_at": timezone.now(), "accepted_by": actor})
    return locked


def divert_to_research(unit: CordBloodUnit, *, actor, note: str = "") -> CordBloodUnit:
    """Give a collection that will not be banked to research: only under a consent with the research scope
    (409 ``no_research_consent``)."""
    note = _text(note)[:200]
    with transaction.atomic(), acting(actor, note or _("diverted to research")):
        locked = _locked(unit)
        _refuse_frozen(locked)
        if locked.acceptance not in (Acceptance.PENDING, Acceptance.ACCEPTED):
            _refuse_decided(locked)
        if ConsentScope.RESEARCH not in consent_scopes(locked.donation.infant):
            raise Conflict(_("The mother did not consent to research use for unit %(din)s: discard it instead.")
                           % {"din": locked.din}, code="no_research_consent")
        save_changed(locked, {"acceptance": Acceptance.RESEARCH, "acceptance_reason": "research",
                              "accepted_at": timezone.now(), "accepted_by": actor})
    return locked


def _refuse_not_accepted(unit: CordBloodUnit) -> None:
    if unit.acceptance != Acceptance.ACCEPTED:
        raise Conflict(_("Unit %(din)s is not accepted for processing (%(state)s).") % {
            "din": unit.din, "state": unit.get_acceptance_display()}, code="unit_not_accepted",
            acceptance=unit.acceptance)


def record_processing(unit: CordBloodUnit, *, actor, method: str, started_at: Any, ended_at: Any,
                      volume_pre_ml: Any, volume_post_ml: Any, tnc_pre: Any, tnc_post: Any, cd34_post: Any = None,
                      nrbc_pct: Any = None, hct_pct: Any = None, equipment: str = "",
                      reagent_lots: Any = None, abo: str = "", rh: str = "") -> CordBloodUnit:
    """The processing record (NetCord-FACT): method, times, volumes and counts before and after, equipment
    and reagent lots. Recorded once per unit before the freeze; a correction before the freeze replaces it
    (the history keeps the earlier values)."""
    errors = _Errors()
    method = _text(method)
    if not method or len(method) > 80:
        errors.add("method", _("Name the processing method (e.g. HES sedimentation, AXP)."))
    started = _as_datetime(started_at, "started_at", errors)
    ended = _as_datetime(ended_at, "ended_at", errors)
    now = timezone.now()
    if ended and ended > now + CLOCK_SKEW:
        errors.add("ended_at", _("The end of processing cannot be in the future."))
    if started and ended and ended < started:
        errors.add("ended_at", _("Processing cannot end before it started."))
    pre = decimal_in(volume_pre_ml, "volume_pre_ml", errors, high="500", places="0.1", required=True)
    post = decimal_in(volume_post_ml, "volume_post_ml", errors, high="500", places="0.1", required=True)
    if pre is not None and post is not None and post > pre:
        errors.add("volume_post_ml", _("The volume after processing cannot exceed the volume before."))
    count_pre = int_in(tnc_pre, "tnc_pre", errors, low=1, high=10**13, required=True)
    count_post = int_in(tnc_post, "tnc_post", errors, low=1, high=10**13, required=True)
    if count_pre and count_post and count_post > count_pre:
        errors.add("tnc_post", _("TNC after processing cannot exceed TNC before (recovery over 100 %)."))
    cd34 = int_in(cd34_post, "cd34_post", errors, low=0, high=10**12)
    nrbc = decimal_in(nrbc_pct, "nrbc_pct", errors, high="100")
    hct = decimal_in(hct_pct, "hct_pct", errors, high="100")
    abo, rh = _text(abo).upper(), _text(rh).lower()
    if abo and abo not in ABO.values:
        errors.add("abo", _("Choose A, B, AB or O."))
    if rh and rh not in Rh.values:
        errors.add("rh", _("Choose pos or neg."))
    lots_in = reagent_lots or []
    clean_lots = []
    if not isinstance(lots_in, list) or any(not isinstance(i, dict) or not _text(i.get("name")) for i in lots_in):
        errors.add("reagent_lots", _('Give each reagent with its lot, e.g. {"name": "HES 6 %", "lot": "H2231"}.'))
    else:
        clean_lots = [{"name": _text(i["name"])[:120], "lot": _text(i.get("lot"))[:60]} for i in lots_in]
    errors.raise_if_any()
    with transaction.atomic(), acting(actor, _("processing recorded")):
        locked = _locked(unit)
        _refuse_not_accepted(locked)
        _refuse_frozen(locked)
        if started < locked.donation.collection.collected_at:
            raise ValidationError({"started_at": [_("Processing cannot start before the collection.")]})
        save_changed(locked, {
            "processing_method": method, "processing_started_at": started, "processing_ended_at": ended,
            "volume_pre_ml": pre, "volume_post_ml": post, "tnc_pre": count_pre, "tnc_post": count_post,
            "cd34_post": cd34, "nrbc_pct": nrbc, "hct_pct": hct, "equipment": _text(equipment)[:200],
            "reagent_lots": clean_lots, "processed_by": actor,
            **({"abo": abo} if abo else {}), **({"rh": rh} if rh else {})})
    return locked


def freeze_window_hours() -> int:
    return int(settings.CORDBLOOD_FREEZE_WINDOW_HOURS)


def unit_containers(*, segments: int, reference_cells: int, reference_plasma: int, reference_dna: int,
                    maternal_samples: int) -> list[str]:
    """The unit's containers in vial-number order: the bag first, then what is kept for testing."""
    return [VialKind.BAG, *[VialKind.SEGMENT] * segments, *[VialKind.REFERENCE_CELLS] * reference_cells,
            *[VialKind.REFERENCE_PLASMA] * reference_plasma, *[VialKind.REFERENCE_DNA] * reference_dna,
            *[VialKind.MATERNAL_SAMPLE] * maternal_samples]


def freeze_unit(unit: CordBloodUnit, *, actor, frozen_at: Any = None, segments: Any = 2, reference_cells: Any = 2,
                reference_plasma: Any = 1, reference_dna: Any = 1, maternal_samples: Any = 2,
                cryoprotectant: str = "DMSO 10 % / Dextran 40", cryoprotectant_lot: str = "",
                freezing_profile: str = "") -> CordBloodUnit:
    """Freeze a processed unit: its CB-HSC line and a lot of tier ``unit`` in quarantine, with one bag,
    ``segments`` segments, reference vials and maternal samples, each with its barcode (409
    ``freeze_window_exceeded`` past the window after collection, ``processing_not_recorded`` before the
    processing record)."""
    errors = _Errors()
    frozen = _as_datetime(frozen_at, "frozen_at", errors) if frozen_at not in (None, "") else timezone.now()
    if frozen and frozen > timezone.now() + CLOCK_SKEW:
        errors.add("frozen_at", _("The freeze time cannot be in the future."))
    counts = {name: int_in(value, name, errors, low=low, high=10, required=True) for name, value, low in (
        ("segments", segments, 1), ("reference_cells", reference_cells, 0), ("reference_plasma", reference_plasma, 0),
        ("reference_dna", reference_dna, 0), ("maternal_samples", maternal_samples, 0))}
    cryoprotectant = _text(cryoprotectant)
    if not cryoprotectant:
        errors.add("cryoprotectant", _("Name the cryoprotectant."))
    errors.raise_if_any()
    with transaction.atomic(), acting(actor, _("unit frozen")):
        locked = _locked(unit)
        _refuse_not_accepted(locked)
        _refuse_frozen(locked)
        if not locked.tnc_post or not locked.volume_post_ml:
            raise Conflict(_("Record the processing of unit %(din)s before freezing it.") % {"din": locked.din},
                           code="processing_not_recorded")
        collection = locked.donation.collection
        hours = (frozen - collection.collected_at).total_seconds() / 3600
        if hours > freeze_window_hours():
            raise Conflict(_("Unit %(din)s was collected %(hours)s h ago: past the %(limit)s h limit for freezing "
                             "a cord blood unit. Discard it (reason: late).") % {
                "din": locked.din, "hours": f"{hours:.1f}", "limit": freeze_window_hours()},
                code="freeze_window_exceeded", hours=round(hours, 1), limit=freeze_window_hours())
        if frozen < (locked.processing_ended_at or collection.collected_at):
            raise ValidationError({"frozen_at": [_("The unit cannot be frozen before processing ended.")]})
        line = create_cell_line(collection=collection, cell_type=CellType.CB_HSC, grade=Grade.CLINICAL,
                                description=_("Cord blood unit %(din)s") % {"din": locked.din},
                                established_on=timezone.localtime(frozen).date(), actor=actor,
                                reason=_("cord blood unit %(din)s") % {"din": locked.din})
        containers = unit_containers(**counts)
        lot = create_lot(cell_line=line, tier=Tier.UNIT, passage=0, vial_count=len(containers),
                         cells_per_vial=locked.tnc_post, volume_ml=locked.volume_post_ml,
                         cryoprotectant=cryoprotectant, cryoprotectant_lot=_text(cryoprotectant_lot),
                         frozen_on=timezone.localtime(frozen).date(), freezing_program="controlled_rate",
                         freezing_profile=_text(freezing_profile),
                         notes=_("Cord blood unit %(din)s") % {"din": locked.din}, containers=containers,
                         din=locked.din, actor=actor, reason=_("cord blood unit %(din)s") % {"din": locked.din})
        save_changed(locked, {"lot": lot, "frozen_at": frozen})
    return locked
