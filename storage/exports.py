"""The storage app's list exports (issue 17): storage units (with occupancy and the last reading) and temperature
alarms, with the filters of their pages (``bank.exports``)."""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.db.models import Count
from django.utils.translation import gettext_lazy as _

from bank.exports import Column, Prepared, register_export
from bank.parsing import whole_number
from lots.models import Vial
from storage import queries
from storage.choices import AlarmStatus
from storage.models import Alarm, Box, StorageUnit


def units_queryset():
    return StorageUnit.objects.order_by("-active", "quarantine", "name", "id")


def _unit_rows(batch):
    occupancy = queries.occupancy_by_unit(batch)
    latest = queries.latest_readings(batch)
    alarms = dict(Alarm.objects.filter(unit__in=batch, status=AlarmStatus.ACTIVE).order_by()
                  .values_list("unit_id").annotate(n=Count("id")))
    rows = []
    for unit in batch:
        occ = occupancy.get(unit.pk, queries.Occupancy())
        reading = latest.get(unit.pk)
        rows.append({"unit": unit, "occ": occ, "latest": reading, "alarms": alarms.get(unit.pk, 0),
                     "in_range": unit.in_range(reading.temperature_c) if reading else None})
    return rows


UNIT_COLUMNS = [
    Column(_("Unit"), "unit.name"),
    Column(_("Kind"), "unit.get_kind_display"),
    Column(_("Site"), "unit.site"),
    Column(_("Room"), "unit.room"),
    Column(_("In service"), "unit.active"),
    Column(_("Quarantine"), "unit.quarantine"),
    Column(_("Minimum temperature (°C)"), "unit.min_temperature_c"),
    Column(_("Maximum temperature (°C)"), "unit.max_temperature_c"),
    Column(_("Positions used"), "occ.used"),
    Column(_("Capacity"), "occ.capacity"),
    Column(_("Occupancy (%)"), "occ.pct"),
    Column(_("Last temperature (°C)"), "latest.temperature_c"),
    Column(_("Last reading at"), "latest.recorded_at"),
    Column(_("In range"), "in_range"),
    Column(_("Active alarms"), "alarms"),
]


@register_export("storage.units", url="storage:index", perms=("storage.view_storageunit",),
                 title=_("Storage units"), filename="storage-units")
def units(user, params):
    return Prepared(units_queryset(), _unit_rows), UNIT_COLUMNS


def alarm_filter(params) -> str:
    """The alarms page's tab: ``active`` (the default) or every alarm."""
    return "active" if params.get("show", "active") == "active" else "all"


def alarm_queryset(show: str):
    return queries.alarms(active=True if show == "active" else None)


ALARM_COLUMNS = [
    Column(_("Raised at"), "raised_at"),
    Column(_("Unit"), "unit.name"),
    Column(_("Kind"), "get_kind_display"),
    Column(_("Status"), "get_status_display"),
    Column(_("Peak temperature (°C)"), "peak_temperature_c"),
    Column(_("Reading (°C)"), "reading.temperature_c"),
    Column(_("Message"), "message"),
    Column(_("Acknowledged at"), "acknowledged_at"),
    Column(_("Acknowledged by"), "acknowledged_by.username"),
    Column(_("Acknowledgement reason"), "acknowledgement_reason"),
]


@register_export("storage.alarms", url="storage:alarms", perms=("storage.view_alarm",), title=_("Alarms"),
                 filename="alarms")
def alarms(user, params):
    return alarm_queryset(alarm_filter(params)), ALARM_COLUMNS


BOX_COLUMNS = [
    Column(_("Position"), lambda v: v.box.position_label(v.row, v.col)),
    Column(_("Barcode"), "barcode"),
    Column(_("Lot"), "lot.lot_number"),
    Column(_("Line"), "lot.cell_line.name"),
    Column(_("Tier"), "lot.tier"),
    Column(_("Lot status"), "lot.get_status_display"),
    Column(_("Kind"), "get_kind_display"),
    Column(_("Status"), "get_status_display"),
]


@register_export("storage.box", url="storage:box", perms=("storage.view_storageunit",), title=_("Box contents"),
                 filename="box")
def box_contents(user, params):
    """The vials stored in one box (the box map as a list), with their lot and line."""
    box = Box.objects.filter(pk=whole_number(params.get("pk")) or 0).first()
    if box is None:
        raise ValidationError({"pk": [_("No such box.")]})
    return Vial.objects.filter(box=box).select_related("box", "lot__cell_line"), BOX_COLUMNS
