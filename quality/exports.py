"""The quality app's list exports (issue 17): the training matrix, SOPs, equipment, material lots and environmental
monitoring results, with the filters of their pages (``bank.exports``)."""

from __future__ import annotations

from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from bank.exports import Column, Prepared, register_export
from quality import forms, queries
from quality.choices import EquipmentState, TrainingState
from quality.models import EnvironmentResult


def _cell_text(cell) -> str:
    text = str(dict(TrainingState.choices).get(cell.state, cell.state))
    training = cell.training
    if training is not None:
        version = f"v{training.sop_version.version} · " if cell.state == TrainingState.RETRAIN else ""
        expires = f" → {training.expires_on:%Y-%m-%d}" if training.expires_on else ""
        text += f" ({version}{training.trained_on:%Y-%m-%d}{expires})"
    return text


@register_export("quality.matrix", url="quality:matrix", perms=("quality.view_training",),
                 title=_("Training matrix"), filename="training-matrix")
def matrix(user, params):
    """Users × SOP versions in force today: one column per SOP, the state and the training's dates in each cell."""
    versions = queries.versions_in_force_today()
    columns = [Column(_("User"), "user.username"), Column(_("Name"), "user.get_full_name")]
    for index, version in enumerate(versions):
        columns.append(Column(f"{version.sop.code} v{version.version}",
                              lambda row, i=index: _cell_text(row.cells[i])))
    return Prepared(queries.matrix_users(), lambda batch: queries.training_matrix(batch, versions)), columns


SOP_COLUMNS = [
    Column(_("Code"), "code"),
    Column(_("Title"), "title"),
    Column(_("Versions (newest first)"),
           lambda s: [f"v{v.version} ({v.effective_on:%Y-%m-%d})" for v in s.versions.all()]),
    Column(_("Activities governed"), lambda s: _newest_activities(s)),
]


def _newest_activities(sop) -> list[str]:
    newest = next(iter(sop.versions.all()), None)
    return newest.activity_labels() if newest else []


@register_export("quality.sops", url="quality:sops", perms=("quality.view_sopversion",), title=_("SOPs"),
                 filename="sops")
def sops(user, params):
    return queries.sops_with_versions(), SOP_COLUMNS


def _equipment_rows(batch):
    today, soon = timezone.localdate(), queries.reminder_days()
    return [{"item": item, "state": item.state_on(today, soon_days=soon)} for item in batch]


EQUIPMENT_COLUMNS = [
    Column(_("Code"), "item.code"),
    Column(_("Name"), "item.name"),
    Column(_("Kind"), "item.get_kind_display"),
    Column(_("Location"), "item.location"),
    Column(_("Storage unit"), "item.storage_unit.name"),
    Column(_("Calibration due"), "item.calibration_due_on"),
    Column(_("State"), lambda r: dict(EquipmentState.choices).get(r["state"], r["state"])),
]


@register_export("quality.equipment", url="quality:equipment", perms=("quality.view_equipment",),
                 title=_("Equipment"), filename="equipment")
def equipment(user, params):
    return Prepared(queries.equipment_list(params.get("state", "")), _equipment_rows), EQUIPMENT_COLUMNS


def material_search(params) -> tuple[str, str]:
    """The materials page's search (``q``, ``status``); an invalid search shows everything, as on the page."""
    search = forms.MaterialSearchForm(params or None)
    if search.is_valid():
        return search.cleaned_data["q"], search.cleaned_data["status"]
    return "", ""


MATERIAL_COLUMNS = [
    Column(_("Material"), "name"),
    Column(_("Kind"), "get_kind_display"),
    Column(_("Lot"), "lot_number"),
    Column(_("Supplier"), "supplier"),
    Column(_("Received"), "received_on"),
    Column(_("Expires"), "expires_on"),
    Column(_("Status"), "get_status_display"),
]


@register_export("quality.materials", url="quality:materials", perms=("quality.view_material",),
                 title=_("Material lots"), filename="materials")
def materials(user, params):
    q, status = material_search(params)
    return queries.material_list(status, q), MATERIAL_COLUMNS


def environment_queryset():
    return EnvironmentResult.objects.select_related("room").order_by("-sampled_on", "-id")


ENVIRONMENT_COLUMNS = [
    Column(_("Sampled"), "sampled_on"),
    Column(_("Room"), "room.code"),
    Column(_("Parameter"), "get_parameter_display"),
    Column(_("Sampling point"), "location"),
    Column(_("Value"), "value"),
    Column(_("Alert limit"), "alert_limit"),
    Column(_("Action limit"), "action_limit"),
    Column(_("Level"), "get_level_display"),
    Column(_("Deviations"), "deviations"),
    Column(_("Lots processed that day"), "lots"),
]


@register_export("quality.environment", url="quality:environment", perms=("quality.view_cleanroom",),
                 title=_("Environmental monitoring"), filename="environment")
def environment(user, params):
    return environment_queryset(), ENVIRONMENT_COLUMNS
