"""Every write and state change of cell lines, lots and vials.

The status machines (``lots.choices.LOT_TRANSITIONS`` / ``VIAL_TRANSITIONS``) are enforced only
here: QC release, holds, recalls, allocation and shipping all move a lot or vial through these
functions, so no door can skip a guard.

Bad input raises ``ValidationError`` with field errors (API 400, form errors); a state that forbids
the action raises ``Conflict`` with a stable code (API 409). Every check runs before the first write
and every function is one transaction, so a refusal leaves nothing half-created.
"""

from __future__ import annotations

import datetime
import math
import re
from collections.abc import Iterable, Sequence
from decimal import Decimal, InvalidOperation

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _
from simple_history.utils import bulk_update_with_history

from bank import coding
from bank.audit import acting, bulk_create_audited, current_reason
from bank.barcodes import issue
from bank.errors import Conflict
from bank.parsing import BIGINT_MAX
from bank.registry import announce
from lots import naming
from lots.choices import (
    LOT_TRANSITIONS,
    PLURIPOTENT_TYPES,
    UNUSABLE_LOT_STATUSES,
    VIAL_TRANSITIONS,
    CellType,
    FreezingProgram,
    Grade,
    LotStatus,
    ReprogrammingMethod,
    Tier,
    VialKind,
    VialStatus,
)
from lots.models import CellLine, Culture, Lot, Passage, Vial
from lots.queries import descendant_lots


def change_lot_status(lot: Lot, to: str, *, actor, reason: str = "") -> Lot:
    """Move ``lot`` to status ``to`` along the machine of API.md, or refuse (409 invalid_transition)."""
    with transaction.atomic(), acting(actor, reason):
        locked = Lot.objects.select_for_update().get(pk=lot.pk)
        if to not in LOT_TRANSITIONS.get(locked.status, set()):
            raise Conflict(
                _("Lot %(lot)s is %(from)s; it cannot become %(to)s.") % {
                    "lot": locked.lot_number, "from": LotStatus(locked.status).label, "to": LotStatus(to).label},
                code="invalid_transition", status=locked.status,
            )
        locked.status = to
        locked.status_changed_at = timezone.now()
        locked.save(update_fields=["status", "status_changed_at"])
    lot.status, lot.status_changed_at = locked.status, locked.status_changed_at
    return locked


def change_vial_status(vials: Iterable[Vial], to: str, *, actor, reason: str = "") -> list[Vial]:
    """Move every vial to ``to`` (all or none), locking them in pk order; 409 invalid_transition."""
    ids = sorted({v.pk for v in vials})
    if not ids:
        return []
    with transaction.atomic(), acting(actor, reason):
        locked = list(Vial.objects.select_for_update().filter(pk__in=ids).order_by("pk"))
        refused = [v.barcode for v in locked if to not in VIAL_TRANSITIONS.get(v.status, set())]
        if refused:
            raise Conflict(
                _("These vials cannot become %(to)s: %(vials)s.") % {
                    "to": VialStatus(to).label, "vials": ", ".join(refused[:20])},
                code="invalid_transition", vials=refused,
            )
        now = timezone.now()
        for vial in locked:
            vial.status, vial.status_changed_at = to, now
        bulk_update_with_history(
            locked, Vial, ["status", "status_changed_at"], batch_size=500,
            default_user=actor, default_change_reason=(reason or current_reason())[:100] or None,
        )
    return locked


def on_consent_withdrawn(*, donor, actor, reason: str = "") -> dict:
    """Receiver of donors' ``consent_withdrawn`` hook: every derived lot is flagged."""
    return {"affected_lots": flag_lots_for_withdrawn_consent(donor, actor=actor, reason=reason)}


def flag_lots_for_withdrawn_consent(donor, *, actor, reason: str = "") -> list[Lot]:
    """Flag every lot derived from ``donor`` (all their lines and subclones); returns them all."""
    with transaction.atomic(), acting(actor, reason):
        lots = list(Lot.objects.select_for_update().filter(cell_line__donor=donor).order_by("pk"))
        now = timezone.now()
        for lot in lots:
            if lot.consent_withdrawn_flagged_at is None:
                lot.consent_withdrawn_flagged_at = now
                lot.save(update_fields=["consent_withdrawn_flagged_at"])
    return lots


def recall_descendants(lot: Lot, *, actor, reason: str = "") -> list[Lot]:
    """``lot`` is being recalled: every lot made from it goes with it. Released ones are recalled; all are
    flagged, so none (in quarantine or on hold now) can ever be released. Returns them, parents first."""
    with transaction.atomic(), acting(actor, reason):
        lots = descendant_lots(lot, lock=True)
        now = timezone.now()
        for derived in lots:
            if derived.ancestor_recalled_at is None:
                derived.ancestor_recalled_at = now
                derived.save(update_fields=["ancestor_recalled_at"])
            if derived.status == LotStatus.RELEASED:
                change_lot_status(derived, LotStatus.RECALLED, actor=actor, reason=reason)
    return lots


# --- cell lines ---------------------------------------------------------------------------------

# The tissue a line of each type is derived from ("other" tissue is accepted for every type).
SOURCE_TISSUES = {
    CellType.ESC: ("embryo",),
    CellType.UC_MSC: ("umbilical_cord",),
    CellType.AD_MSC: ("adipose",),
    CellType.BM_MSC: ("bone_marrow",),
    CellType.DP_MSC: ("dental_pulp",),
    CellType.P_MSC: ("placenta",),
    CellType.CB_HSC: ("cord_blood",),
    # Issue 15 (the tissues are donors' choices)
    CellType.AM_MSC: ("amnion",),
    CellType.EN_MSC: ("endometrium",),
    CellType.MB_MSC: ("menstrual_blood",),
    CellType.NSC: ("neural_tissue",),
    CellType.MUSC: ("muscle",),
    CellType.SKSC: ("skin",),
}


def _choices_text(choices) -> str:
    return ", ".join(choices.values)


def _refuse_withdrawn(donor) -> None:
    if donor.consent_withdrawn_at is not None:
        raise Conflict(
            _("Donor %(donor)s withdrew consent: nothing more may be derived from their material.")
            % {"donor": donor.code},
            code="consent_withdrawn",
        )


def create_cell_line(*, collection=None, cell_type: str, grade: str, reprogramming_method: str = "",
                     parent_line: CellLine | None = None, description: str = "",
                     established_on: datetime.date | None = None, genetic_modification: str = "", actor,
                     reason: str = "") -> CellLine:
    """Register a line established from ``collection`` and give it its name.

    iPSC/ESC lines get the next hPSCreg name (``SCBi001-A``); ``parent_line`` makes a subclone of it
    (same number, next letter: ``SCBi001-B``). Other lines get a bank name (``SCB-UCMSC-001``).
    """
    errors: dict[str, list[str]] = {}
    cell_type = (cell_type or "").strip()
    reprogramming_method = (reprogramming_method or "").strip()
    if cell_type not in CellType.values:
        errors["cell_type"] = [_("Unknown cell type “%(value)s”. Use one of: %(choices)s.")
                               % {"value": cell_type, "choices": _choices_text(CellType)}]
    if grade not in Grade.values:
        errors["grade"] = [_("Unknown grade “%(value)s”. Use one of: %(choices)s.")
                           % {"value": grade, "choices": _choices_text(Grade)}]
    if reprogramming_method not in ReprogrammingMethod.values:
        errors["reprogramming_method"] = [
            _("Unknown reprogramming method “%(value)s”. Use one of: %(choices)s.")
            % {"value": reprogramming_method, "choices": _choices_text(ReprogrammingMethod).strip(", ")}]
    elif cell_type == CellType.IPSC and not reprogramming_method:
        errors["reprogramming_method"] = [_("An iPSC line is reprogrammed: say how (e.g. sendai).")]
    elif cell_type in CellType.values and cell_type != CellType.IPSC and reprogramming_method:
        errors["reprogramming_method"] = [_("Only iPSC lines are reprogrammed; leave the method empty.")]
    if parent_line is not None:
        if collection is None:
            collection = parent_line.collection
        if parent_line.cell_type not in PLURIPOTENT_TYPES or parent_line.registry_number is None:
            errors["parent_line"] = [_("Only iPSC and ESC lines with an hPSCreg name have subclones.")]
        elif cell_type in CellType.values and cell_type != parent_line.cell_type:
            errors["cell_type"] = [_("A subclone has the cell type of its parent line (%(type)s).")
                                   % {"type": parent_line.cell_type}]
        if collection.pk != parent_line.collection_id:
            errors["collection"] = [_("A subclone comes from the collection of its parent line (%(code)s).")
                                    % {"code": parent_line.collection.code}]
    if collection is None:
        errors["collection"] = [_("Choose the collection the line was established from.")]
    elif cell_type in SOURCE_TISSUES and collection.tissue not in (*SOURCE_TISSUES[cell_type], "other"):
        errors.setdefault("collection", []).append(
            _("A %(type)s line comes from %(tissue)s; collection %(code)s is %(actual)s. "
              "Choose the right collection or cell type.") % {
                "type": cell_type, "tissue": " / ".join(SOURCE_TISSUES[cell_type]), "code": collection.code,
                "actual": collection.get_tissue_display()})
    today = timezone.localdate()
    if established_on is not None and established_on > today:
        errors["established_on"] = [_("The date is in the future.")]
    if errors:
        raise ValidationError(errors)
    _refuse_withdrawn(collection.donor)

    with transaction.atomic(), acting(actor, reason):
        registry_number, subclone = None, ""
        if parent_line is not None:
            root = CellLine.objects.select_for_update().get(pk=parent_line.pk)
            registry_number = root.registry_number
            taken = set(
                CellLine.objects.filter(cell_type=cell_type, registry_number=registry_number)
                .values_list("subclone", flat=True)
            )
            subclone = naming.next_subclone(taken)
            name = naming.hpscreg_name(naming.institute_code(), cell_type, registry_number, subclone)
            while CellLine.objects.filter(name=name).exists():  # a hand-registered legacy name
                taken.add(subclone)
                subclone = naming.next_subclone(taken)
                name = naming.hpscreg_name(naming.institute_code(), cell_type, registry_number, subclone)
        elif cell_type in PLURIPOTENT_TYPES:
            institute = naming.institute_code()
            subclone = "A"

            def hpscreg_taken(n: int) -> bool:
                return (CellLine.objects.filter(cell_type=cell_type, registry_number=n).exists()
                        or CellLine.objects.filter(name=naming.hpscreg_name(institute, cell_type, n, "A")).exists())

            registry_number = naming.allocate(
                f"{institute}{naming.HPSCREG_KIND[cell_type]}", taken=hpscreg_taken, limit=naming.HPSCREG_MAX_NUMBER
            )
            name = naming.hpscreg_name(institute, cell_type, registry_number, subclone)
        else:
            prefix = naming.bank_name_prefix(cell_type)
            number = naming.allocate(prefix, taken=lambda n: CellLine.objects.filter(name=f"{prefix}{n:03d}").exists())
            name = f"{prefix}{number:03d}"
        if cell_type in PLURIPOTENT_TYPES:
            naming.validate_hpscreg_name(name)
        return CellLine.objects.create(
            name=name, collection=collection, donor=collection.donor, cell_type=cell_type, grade=grade,
            reprogramming_method=reprogramming_method, parent_line=parent_line, registry_number=registry_number,
            subclone=subclone, description=description or "", established_on=established_on or today,
            genetic_modification=(genetic_modification or "").strip()[:200], created_by=actor,
        )


# --- culture ------------------------------------------------------------------------------------

SPLIT_RATIO = re.compile(r"^\d{1,4}:\d{1,4}$")


def _refuse_unusable_lot(vial: Vial) -> None:
    """Nothing is grown from a vial of a recalled or rejected lot, or of a lot made from a recalled one."""
    lot = vial.lot
    if not lot.is_unusable:
        return
    if lot.status in UNUSABLE_LOT_STATUSES:
        message = _("Vial %(vial)s is of lot %(lot)s, which is %(status)s: it must not be used. Leave it in "
                    "storage for QA.") % {"vial": vial.barcode, "lot": lot.lot_number,
                                           "status": str(LotStatus(lot.status).label).lower()}
    else:
        message = _("Vial %(vial)s is of lot %(lot)s, made from a recalled lot: it must not be used. Leave it in "
                    "storage for QA.") % {"vial": vial.barcode, "lot": lot.lot_number}
    raise Conflict(message, code="vial_unavailable", lot_status=lot.status)


def start_culture(cell_line: CellLine, *, started_on: datetime.date | None = None, source_vial: Vial | None = None,
                  notes: str = "", actor, reason: str = "") -> Culture:
    """Start a culture of ``cell_line``, from primary tissue or by thawing ``source_vial``.

    A thawed vial is taken out of storage (chain of custody) and becomes ``used``.
    """
    today = timezone.localdate()
    started_on = started_on or today
    errors: dict[str, list[str]] = {}
    if started_on > today:
        errors["started_on"] = [_("The date is in the future.")]
    if source_vial is not None and source_vial.lot.cell_line_id != cell_line.pk:
        errors["source_vial"] = [_("Vial %(vial)s is of line %(line)s, not %(this)s.") % {
            "vial": source_vial.barcode, "line": source_vial.lot.cell_line.name, "this": cell_line.name}]
    elif source_vial is not None and source_vial.kind in CELL_FREE_KINDS:
        # Issue 12: a cord blood unit's plasma, DNA and maternal samples hold no cells of the line to grow.
        errors["source_vial"] = [_("%(vial)s is a %(kind)s: start a culture from a vial of cells.") % {
            "vial": source_vial.barcode, "kind": source_vial.get_kind_display()}]
    if errors:
        raise ValidationError(errors)
    _refuse_withdrawn(cell_line.donor)
    with transaction.atomic(), acting(actor, reason):
        if source_vial is not None:
            vial = Vial.objects.select_for_update(of=("self",)).select_related("lot").get(pk=source_vial.pk)
            if vial.status != VialStatus.AVAILABLE:
                raise Conflict(_("Vial %(vial)s is %(status)s; only an available vial can be thawed.") % {
                    "vial": vial.barcode, "status": VialStatus(vial.status).label}, code="vial_unavailable")
            _refuse_unusable_lot(vial)
            announce("activity_gate", activity="thaw", actor=actor, on=started_on, subject=vial)  # issue 16: quality
            why = reason or _("thawed to start a culture of %(line)s") % {"line": cell_line.name}
            if vial.box_id is not None:
                # The storage app takes it out of its box with a chain-of-custody record (bank.registry hook).
                announce("vials_consumed", vials=[vial], actor=actor, reason=why)
            change_vial_status([vial], VialStatus.USED, actor=actor, reason=why)
        return Culture.objects.create(cell_line=cell_line, source_vial=source_vial, started_on=started_on,
                                      notes=notes or "", created_by=actor)


# Containers that hold no cells of the line (a cord blood unit's reference plasma and DNA, the mother's samples).
CELL_FREE_KINDS = (VialKind.REFERENCE_PLASMA, VialKind.REFERENCE_DNA, VialKind.MATERNAL_SAMPLE)

# Passage numbers are stored in a PositiveSmallIntegerField.
MAX_PASSAGE = 32767


def _positive_count(value, field: str, errors: dict) -> int | None:
    if value is None or value == "":
        return None
    if isinstance(value, bool) or not isinstance(value, int | str):
        errors[field] = [_("Enter a whole number of cells.")]
        return None
    try:
        number = int(value)
    except ValueError:
        errors[field] = [_("Enter a whole number of cells.")]
        return None
    if number <= 0:
        errors[field] = [_("Enter a cell count above zero.")]
        return None
    if number > BIGINT_MAX:
        errors[field] = [_("The cell count is too high.")]
        return None
    return number


def record_passage(culture: Culture, *, passaged_on: datetime.date, seeded_cells=None, harvested_cells=None,
                   viability_pct=None, split_ratio: str = "", medium: str = "", medium_lot: str = "",
                   reagents: list | None = None, notes: str = "", number: int | None = None, actor,
                   reason: str = "", materials: Sequence[int] | None = None, room: str = "") -> Passage:
    """Record one split of ``culture``: counts, viability, medium and reagent lots, the operator.

    Passage numbers go up within a culture; a culture thawed from a lot continues from that lot's
    passage. Population doublings are log2(harvested / seeded), summed over the culture.
    """
    errors: dict[str, list[str]] = {}
    seeded = _positive_count(seeded_cells, "seeded_cells", errors)
    harvested = _positive_count(harvested_cells, "harvested_cells", errors)
    viability = None
    if viability_pct not in (None, ""):
        try:
            viability = Decimal(str(viability_pct))
        except InvalidOperation:
            errors["viability_pct"] = [_("Enter the viability as a percentage between 0 and 100.")]
        else:
            if not viability.is_finite() or viability < 0 or viability > 100:
                errors["viability_pct"] = [_("Viability is a percentage between 0 and 100.")]
                viability = None
    split_ratio = (split_ratio or "").strip()
    if split_ratio and not SPLIT_RATIO.match(split_ratio):
        errors["split_ratio"] = [_("Write the split ratio like 1:6.")]
    clean_reagents = []
    for item in reagents or []:
        if not isinstance(item, dict) or not str(item.get("name") or "").strip():
            errors["reagents"] = [_('Each reagent needs a name and its lot, e.g. {"name": "Vitronectin", '
                                    '"lot": "VN-2231"}.')]
            break
        clean_reagents.append({"name": str(item["name"]).strip()[:120], "lot": str(item.get("lot") or "").strip()[:60]})
    today = timezone.localdate()
    if passaged_on is None:
        errors["passaged_on"] = [_("Enter the date of the passage.")]
    elif passaged_on > today:
        errors["passaged_on"] = [_("The date is in the future.")]
    elif passaged_on < culture.started_on:
        errors["passaged_on"] = [_("The culture started on %(day)s; a passage cannot be earlier.")
                                 % {"day": culture.started_on.isoformat()}]
    if number is not None and (not isinstance(number, int) or isinstance(number, bool) or number < 0):
        errors["number"] = [_("Enter the passage number (0 or more).")]
    elif number is not None and number > MAX_PASSAGE:
        errors["number"] = [_("The passage number is too high.")]
    if errors:
        raise ValidationError(errors)
    with transaction.atomic(), acting(actor, reason):
        locked = Culture.objects.select_for_update(of=("self",)).select_related("source_vial__lot").get(pk=culture.pk)
        last = locked.passages.order_by("-number").first()
        if number is None:
            if last is not None:
                number = last.number + 1
            elif locked.source_vial_id:
                number = locked.source_vial.lot.passage + 1
            else:
                number = 1
            if number > MAX_PASSAGE:
                raise ValidationError({"number": [_("The passage number is too high.")]})
        elif last is not None and number <= last.number:
            raise ValidationError({"number": [_("Passage numbers go up: the last passage of this culture is "
                                                "P%(last)d.") % {"last": last.number}]})
        if last is not None and passaged_on < last.passaged_on:
            raise ValidationError({"passaged_on": [_("The last passage (P%(last)d) was on %(day)s; this one cannot "
                                                     "be earlier.") % {"last": last.number,
                                                                       "day": last.passaged_on.isoformat()}]})
        passage = Passage.objects.create(
            culture=locked, number=number, passaged_on=passaged_on, split_ratio=split_ratio, seeded_cells=seeded,
            harvested_cells=harvested, viability_pct=viability, medium=(medium or "").strip(),
            medium_lot=(medium_lot or "").strip(), reagents=clean_reagents, operator=actor, notes=notes or "",
        )
        # issue 16: the quality gate (training_required, material_not_released, material_expired; cited materials kept)
        announce("activity_gate", activity="passage", actor=actor, on=passaged_on, subject=passage, materials=materials,
                 room=room)
        return passage


def culture_population_doublings(culture: Culture, *, until: datetime.date | None = None) -> Decimal | None:
    """Cumulative PD of the cells of ``culture``: its source lot's PD plus log2(harvested/seeded) summed."""
    passages = [p for p in culture.passages.all() if until is None or p.passaged_on <= until]
    steps = [p.population_doublings for p in passages if p.population_doublings is not None]
    base = None
    if culture.source_vial_id and culture.source_vial.lot.population_doublings is not None:
        base = culture.source_vial.lot.population_doublings
    if not steps and base is None:
        return None
    total = Decimal(str(round(math.fsum(steps), 2))) + (base or Decimal("0"))
    return total.quantize(Decimal("0.01"))


# --- lots ---------------------------------------------------------------------------------------


def _lot_number(tier: str, line: CellLine, frozen_on: datetime.date) -> str:
    pattern = settings.LOT_NUMBER_PATTERN
    parts = {"tier": tier, "line": line.name, "year": frozen_on.year}
    number = naming.allocate(
        naming.lot_number_key(pattern, parts),
        taken=lambda n: Lot.objects.filter(lot_number=pattern.format(seq=n, **parts)).exists(),
    )
    return pattern.format(seq=number, **parts)


def create_lot(*, cell_line: CellLine, tier: str, passage: int, vial_count: int, cells_per_vial: int,
               volume_ml, cryoprotectant: str, frozen_on: datetime.date, parent_lot: Lot | None = None,
               culture: Culture | None = None, cryoprotectant_lot: str = "",
               freezing_program: str = FreezingProgram.CONTAINER, freezing_profile: str = "", notes: str = "",
               containers: Sequence[str] | None = None, din: str | None = None, actor,
               reason: str = "", instrument: str = "", materials: Sequence[int] | None = None) -> Lot:
    """Freeze a lot of ``cell_line`` and create its ``vial_count`` vials with unique barcodes.

    A clinical-grade lot gets the next ISBT 128 DIN of the bank (bank/coding.py); a cord blood unit passes its
    own ``din`` (the donation's number, assigned at registration), which the lot carries.

    The lot starts in quarantine. A WCB is expanded from a released MCB of the same line
    (409 ``parent_not_released`` otherwise) at a passage not lower than its parent's. The lot number
    follows ``settings.LOT_NUMBER_PATTERN``; the lot and every vial get a history row. All or nothing.
    """
    errors: dict[str, list[str]] = {}
    tier = (tier or "").strip()
    if tier not in Tier.values:
        errors["tier"] = [_("Unknown tier “%(value)s”. Use one of: %(choices)s.")
                          % {"value": tier, "choices": _choices_text(Tier)}]
    for field, value, minimum, message in (
        ("vial_count", vial_count, 1, _("Freeze at least one vial.")),
        ("cells_per_vial", cells_per_vial, 1, _("Enter the number of cells per vial (above zero).")),
        ("passage", passage, 0, _("Enter the passage at freeze (0 or more).")),
    ):
        if not isinstance(value, int) or isinstance(value, bool) or value < minimum:
            errors[field] = [message]
    if "vial_count" not in errors and vial_count > settings.LOT_MAX_VIALS:
        errors["vial_count"] = [_("At most %(max)d vials per lot; split a bigger freeze into several lots.")
                                % {"max": settings.LOT_MAX_VIALS}]
    if "cells_per_vial" not in errors and cells_per_vial > BIGINT_MAX:
        errors["cells_per_vial"] = [_("The cell count is too high.")]
    if "passage" not in errors and passage > MAX_PASSAGE:
        errors["passage"] = [_("The passage number is too high.")]
    try:
        volume = Decimal(str(volume_ml))
    except InvalidOperation:
        volume = None
    if volume is None or not volume.is_finite() or volume <= 0 or volume >= 1000:
        errors["volume_ml"] = [_("Enter the volume per vial in mL (above zero, below 1000).")]
    elif volume != volume.quantize(Decimal("0.01")):
        errors["volume_ml"] = [_("Give the volume in mL with at most two decimals (e.g. 1.25).")]
    if not (cryoprotectant or "").strip():
        errors["cryoprotectant"] = [_("Name the cryoprotectant (e.g. CryoStor CS10).")]
    if freezing_program not in FreezingProgram.values:
        errors["freezing_program"] = [_("Unknown freezing program “%(value)s”. Use one of: %(choices)s.")
                                      % {"value": freezing_program, "choices": _choices_text(FreezingProgram)}]
    today = timezone.localdate()
    if frozen_on is None:
        errors["frozen_on"] = [_("Enter the day the lot was frozen.")]
    elif frozen_on > today:
        errors["frozen_on"] = [_("The freeze date is in the future.")]
    if culture is not None and culture.cell_line_id != cell_line.pk:
        errors["culture"] = [_("This culture is of line %(line)s, not %(this)s.")
                             % {"line": culture.cell_line.name, "this": cell_line.name}]
    if tier == Tier.WCB and parent_lot is None and culture is not None and culture.source_vial_id:
        parent_lot = culture.source_vial.lot  # expanded from a vial of that lot
    if tier == Tier.WCB:
        if parent_lot is None:
            errors["parent_lot"] = [_("A WCB is expanded from a master cell bank: choose its parent MCB lot.")]
        elif parent_lot.cell_line_id != cell_line.pk:
            errors["parent_lot"] = [_("Parent lot %(lot)s is of line %(other)s; a WCB of %(line)s needs an MCB of "
                                      "the same line.") % {"lot": parent_lot.lot_number,
                                                           "other": parent_lot.cell_line.name,
                                                           "line": cell_line.name}]
        elif parent_lot.tier != Tier.MCB:
            errors["parent_lot"] = [_("Parent lot %(lot)s is a %(tier)s; a WCB is made from an MCB.")
                                    % {"lot": parent_lot.lot_number, "tier": parent_lot.tier}]
        elif "passage" not in errors and passage < parent_lot.passage:
            errors["passage"] = [_("Passage %(passage)d is lower than the parent MCB's passage (%(parent)d): a WCB is "
                                   "frozen at the same or a later passage.") % {"passage": passage,
                                                                                "parent": parent_lot.passage}]
        if (parent_lot is not None and culture is not None and culture.source_vial_id
                and culture.source_vial.lot_id != parent_lot.pk and "parent_lot" not in errors):
            errors["culture"] = [_("This culture was thawed from lot %(lot)s, not from the parent lot.")
                                 % {"lot": culture.source_vial.lot.lot_number}]
    elif parent_lot is not None and tier in Tier.values:
        errors["parent_lot"] = [_("Only a WCB has a parent lot; leave it empty for a %(tier)s.") % {"tier": tier}]
    if tier == Tier.UNIT:
        if culture is not None:
            errors["culture"] = [_("A unit is frozen without expansion: it has no culture.")]
        if "passage" not in errors and passage != 0:
            errors["passage"] = [_("A unit is frozen without expansion: its passage is 0.")]
    if culture is not None and "culture" not in errors and "passage" not in errors and frozen_on is not None:
        last = max((p.number for p in culture.passages.all() if p.passaged_on <= frozen_on), default=None)
        if last is not None and passage < last:
            errors["passage"] = [_("The culture reached P%(last)d before the freeze; the passage at freeze cannot be "
                                   "lower.") % {"last": last}]
    if containers is not None:
        # What each container holds, in vial-number order (a cord blood unit: bag, segments, reference vials);
        # without it every vial is a plain ``vial``.
        containers = [str(kind) for kind in containers]
        if any(kind not in VialKind.values for kind in containers):
            errors["containers"] = [_("Unknown container kind. Use one of: %(choices)s.")
                                    % {"choices": _choices_text(VialKind)}]
        elif len(containers) != vial_count:
            errors["containers"] = [_("Give one kind per vial: %(count)d kinds for %(vials)s vials.")
                                    % {"count": len(containers), "vials": vial_count}]
    if din is not None:
        try:
            parsed = coding.parse_din(din)
        except coding.CodeError as exc:
            errors["din"] = [str(exc)]
        else:
            if parsed is None:
                errors["din"] = [_("%(din)s is not an ISBT 128 DIN.") % {"din": din}]
            else:
                din = parsed.din
    if errors:
        raise ValidationError(errors)
    _refuse_withdrawn(cell_line.donor)

    with transaction.atomic(), acting(actor, reason):
        if din is None and cell_line.grade == Grade.CLINICAL:
            din = coding.next_din(frozen_on.year, taken=lambda code: Lot.objects.filter(din=code).exists())
        elif din is not None and Lot.objects.filter(din=din).exists():
            raise ValidationError({"din": [_("DIN %(din)s is on another lot already.") % {"din": din}]})
        if parent_lot is not None:
            # Locked so a recall or hold cannot slip in between the check and the new WCB.
            parent = Lot.objects.select_for_update().get(pk=parent_lot.pk)
            if parent.status != LotStatus.RELEASED:
                raise Conflict(
                    _("Parent lot %(lot)s is %(status)s: a WCB can only be made from a released MCB.")
                    % {"lot": parent.lot_number, "status": LotStatus(parent.status).label},
                    code="parent_not_released", parent_lot=parent.pk, parent_status=parent.status,
                )
        now = timezone.now()
        lot = Lot.objects.create(
            lot_number=_lot_number(tier, cell_line, frozen_on), barcode=issue("lot")[0], din=din, cell_line=cell_line,
            tier=tier, parent_lot=parent_lot, culture=culture, passage=passage,
            population_doublings=culture_population_doublings(culture, until=frozen_on) if culture else None,
            vial_count=vial_count, cells_per_vial=cells_per_vial, volume_ml=volume,
            cryoprotectant=cryoprotectant.strip(), cryoprotectant_lot=(cryoprotectant_lot or "").strip(),
            freezing_program=freezing_program, freezing_profile=(freezing_profile or "").strip(),
            frozen_on=frozen_on, operator=actor, status=LotStatus.QUARANTINE, status_changed_at=now,
            notes=notes or "", created_at=now,
        )
        codes = issue("vial", vial_count)
        bulk_create_audited(
            Vial,
            [Vial(lot=lot, number=i, barcode=code, status=VialStatus.AVAILABLE, status_changed_at=now,
                  **({"kind": containers[i - 1]} if containers is not None else {}))
             for i, code in enumerate(codes, start=1)],
        )
        # issue 16: the quality gate (training, the instrument's calibration, the materials' release and expiry)
        announce("activity_gate", activity="freeze", actor=actor, on=frozen_on, subject=lot, instrument=instrument,
                 materials=materials)
    return lot


def assign_missing_dins(*, actor, reason: str = "", limit: int | None = None) -> list[Lot]:
    """Give every clinical-grade lot frozen before DINs existed (issue 15) the next DIN of its freeze year, oldest
    first, each in its own transaction; returns the lots given one. Cord blood units carry their unit's DIN from
    their freeze, so none is left without one here."""
    done = []
    pending = (Lot.objects.filter(din__isnull=True, cell_line__grade=Grade.CLINICAL)
               .order_by("frozen_on", "pk").values_list("pk", flat=True))
    for pk in list(pending[:limit] if limit else pending):
        with transaction.atomic(), acting(actor, reason or _("DIN assigned")):
            lot = Lot.objects.select_for_update().get(pk=pk)
            if lot.din is not None:
                continue
            lot.din = coding.next_din(lot.frozen_on.year, taken=lambda code: Lot.objects.filter(din=code).exists())
            lot.save(update_fields=["din"])
            done.append(lot)
    return done


# --- registries (issue 15) ----------------------------------------------------------------------------

REGISTRY_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.:/-]{0,39}$")


def record_registry_ids(line: CellLine, *, hpscreg_id: str | None = None, icscb_id: str | None = None, actor,
                        reason: str = "") -> CellLine:
    """Record the IDs hPSCreg and ICSCB gave the line's record (``None`` leaves an ID as it is; "" clears it).

    An ID is what the registry printed (letters, digits and ``- _ . : /``, at most 40 characters); the change is
    in the line's history with its reason."""
    errors: dict[str, list[str]] = {}
    values = {}
    for field, value in (("hpscreg_id", hpscreg_id), ("icscb_id", icscb_id)):
        if value is None:
            continue
        value = str(value).strip()
        if value and not REGISTRY_ID.match(value):
            errors[field] = [_("Give the ID as the registry shows it: letters, digits and - _ . : / (at most 40 "
                               "characters).")]
        values[field] = value
    if not values and not errors:
        errors["hpscreg_id"] = [_("Give the hPSCreg ID, the ICSCB ID or both.")]
    if errors:
        raise ValidationError(errors)
    with transaction.atomic(), acting(actor, reason or _("registry ID recorded")):
        locked = CellLine.objects.select_for_update().get(pk=line.pk)
        changed = [field for field, value in values.items() if getattr(locked, field) != value]
        for field in changed:
            setattr(locked, field, values[field])
        if changed:
            locked.save(update_fields=changed)
    for field in values:
        setattr(line, field, getattr(locked, field))
    return locked
