"""Where material may be stored: quarantine segregation, units in service, and mirror storage of
master cell banks across two units (checked after placements and moves)."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable

from django.conf import settings
from django.db.models import Count
from django.utils.translation import gettext as _

from bank.errors import Conflict
from lots.choices import LotStatus, Tier
from lots.models import Lot, Vial
from storage.choices import STORABLE_VIAL_STATUSES, lot_needs_quarantine
from storage.models import StorageUnit


def check_segregation(lots: Iterable[Lot], unit: StorageUnit) -> None:
    """409 ``quarantine_segregation`` when a lot may not be stored in ``unit``."""
    for lot in lots:
        if lot_needs_quarantine(lot.status) and not unit.quarantine:
            raise Conflict(
                _("Lot %(lot)s is not released (%(status)s): it may only be stored in a quarantine unit, "
                  "and %(unit)s is not one. Choose a box in a quarantine unit.")
                % {"lot": lot.lot_number, "status": LotStatus(lot.status).label, "unit": unit.name},
                code="quarantine_segregation", lot=lot.lot_number, unit=unit.name,
            )
        if not lot_needs_quarantine(lot.status) and unit.quarantine:
            raise Conflict(
                _("Lot %(lot)s has been released (%(status)s): it may not be stored in the quarantine unit "
                  "%(unit)s. Choose a box in a unit for released material.")
                % {"lot": lot.lot_number, "status": LotStatus(lot.status).label, "unit": unit.name},
                code="quarantine_segregation", lot=lot.lot_number, unit=unit.name,
            )


def _check_unit_in_service(unit: StorageUnit) -> None:
    if not unit.active:
        raise Conflict(
            _("%(unit)s is out of service: nothing may be stored in it.") % {"unit": unit.name},
            code="unit_out_of_service", unit=unit.name,
        )


def _units_per_lot(lot_ids: Iterable[int]) -> dict[int, set[int]]:
    units: dict[int, set[int]] = defaultdict(set)
    rows = (
        Vial.objects.filter(lot_id__in=list(lot_ids), box__isnull=False)
        .values_list("lot_id", "box__rack__unit_id").distinct()
    )
    for lot_id, unit_id in rows:
        units[lot_id].add(unit_id)
    return units


def _mirror_lots(lots: Iterable[Lot]) -> list[Lot]:
    """The lots the mirror-storage rule applies to (MCBs, when the bank asks for it)."""
    if not settings.MIRROR_STORAGE_MCB:
        return []
    return [lot for lot in lots if lot.tier == Tier.MCB]


def _mirror_conflict(lot: Lot) -> Conflict:
    return Conflict(
        _("Lot %(lot)s is a master cell bank: its vials must be split across at least two storage units "
          "(mirror storage). Add a box in another unit.") % {"lot": lot.lot_number},
        code="mirror_storage", lot=lot.lot_number,
    )


def _check_mirror_complete(lots: Iterable[Lot]) -> None:
    """After a placement: a fully stored MCB of two or more vials sits in at least two units."""
    lots = _mirror_lots(lots)
    if not lots:
        return
    ids = [lot.pk for lot in lots]
    units = _units_per_lot(ids)
    stored = dict(
        Vial.objects.filter(lot_id__in=ids, box__isnull=False).values("lot_id").annotate(n=Count("id"))
        .values_list("lot_id", "n")
    )
    waiting = set(
        Vial.objects.filter(lot_id__in=ids, box__isnull=True, status__in=STORABLE_VIAL_STATUSES)
        .values_list("lot_id", flat=True).distinct()
    )
    for lot in lots:
        if lot.pk not in waiting and stored.get(lot.pk, 0) >= 2 and len(units[lot.pk]) < 2:
            raise _mirror_conflict(lot)


def _check_mirror_kept(lots: Iterable[Lot], before: dict[int, set[int]]) -> None:
    """After a move: an MCB that was split across units is not brought back into one."""
    lots = [lot for lot in _mirror_lots(lots) if len(before.get(lot.pk, ())) >= 2]
    if not lots:
        return
    after = _units_per_lot([lot.pk for lot in lots])
    for lot in lots:
        if len(after[lot.pk]) < 2:
            raise _mirror_conflict(lot)
