"""Forms of the storage pages. They parse input only; the services decide."""

from __future__ import annotations

import re

from django import forms
from django.utils.translation import gettext_lazy as _

from bank.forms import SignatureForm
from bank.models import SignatureMeaning
from bank.parsing import whole_number
from storage.choices import BoxPreset
from storage.models import MAX_GRID, Rack, StorageUnit

COMMON_MOVE_REASONS = [
    _("Consolidating boxes"),
    _("Box damaged"),
    _("Rack reorganised"),
    _("Wrong position corrected"),
    _("Released: moved out of quarantine"),
]


class UnitForm(forms.ModelForm):
    class Meta:
        model = StorageUnit
        fields = ["name", "kind", "site", "room", "min_temperature_c", "max_temperature_c", "quarantine",
                  "sensor_silent_minutes"]

    reason = forms.CharField(label=_("Reason for the change"), required=False, max_length=100)

    def __init__(self, *args, editing: bool = False, **kwargs):
        super().__init__(*args, **kwargs)
        if editing:
            self.fields["active"] = forms.BooleanField(label=_("In service"), required=False,
                                                       initial=self.instance.active)
            self.fields["reason"].required = True
        else:
            del self.fields["reason"]


class RackForm(forms.Form):
    name = forms.CharField(label=_("Name"), max_length=80, help_text=_("e.g. R1 or canister 3"))
    capacity = forms.IntegerField(label=_("Boxes it holds"), min_value=1, max_value=100, required=False,
                                  help_text=_("Leave empty for no limit."))


class BoxForm(forms.Form):
    name = forms.CharField(label=_("Name"), max_length=80)
    preset = forms.ChoiceField(label=_("Grid"), choices=BoxPreset.choices, initial=BoxPreset.GRID_9)
    rows = forms.IntegerField(label=_("Rows"), min_value=1, max_value=MAX_GRID, required=False,
                              help_text=_("Free-form grid only."))
    cols = forms.IntegerField(label=_("Columns"), min_value=1, max_value=MAX_GRID, required=False,
                              help_text=_("Free-form grid only."))

    def clean(self):
        data = super().clean()
        if data.get("preset") == BoxPreset.CUSTOM:
            for name in ("rows", "cols"):
                if not data.get(name):
                    self.add_error(name, _("Give the number of rows and columns for a free-form box."))
        return data


_POSITION = re.compile(r"^\s*([A-Za-z])\s*(\d{1,2})\s*$")


def parse_position(value: str) -> tuple[int, int] | None:
    """``"B3"`` or ``"2-3"`` → (2, 3)."""
    value = (value or "").strip()
    match = _POSITION.match(value)
    if match:
        return ord(match.group(1).upper()) - 64, int(match.group(2))
    parts = re.split(r"[-,:/ ]", value)
    if len(parts) == 2 and None not in (numbers := [whole_number(p, max_value=32767) for p in parts]):
        return numbers[0], numbers[1]
    return None


class MoveVialForm(forms.Form):
    vial = forms.CharField(label=_("Vial barcode"), max_length=40)
    box = forms.CharField(label=_("Destination box barcode"), max_length=40)
    position = forms.CharField(label=_("Position"), max_length=8, help_text=_("e.g. B3: row B, column 3"))
    reason = forms.CharField(label=_("Reason"), max_length=300)

    def clean_position(self):
        parsed = parse_position(self.cleaned_data["position"])
        if parsed is None:
            raise forms.ValidationError(_("Pick a position on the grid (e.g. B3)."))
        return parsed


class StoreForm(forms.Form):
    boxes = forms.CharField(widget=forms.HiddenInput)
    reason = forms.CharField(label=_("Reason"), max_length=300, required=False,
                             initial=_("stored after freezing"))

    def clean_boxes(self):
        try:
            return [int(x) for x in self.cleaned_data["boxes"].split(",") if x.strip()]
        except ValueError:
            raise forms.ValidationError(_("Choose the boxes again."))


class RelocateForm(forms.Form):
    reason = forms.CharField(label=_("Reason"), max_length=300, initial=_("Released: moved out of quarantine"))


class BoxMoveForm(forms.Form):
    rack = forms.ModelChoiceField(label=_("Destination rack"), queryset=Rack.objects.none())
    reason = forms.CharField(label=_("Reason"), max_length=300)

    def __init__(self, *args, box=None, **kwargs):
        super().__init__(*args, **kwargs)
        qs = Rack.objects.filter(unit__active=True).select_related("unit").order_by("unit__name", "position", "name")
        if box is not None:
            qs = qs.exclude(pk=box.rack_id)
        self.fields["rack"].queryset = qs
        self.fields["rack"].label_from_instance = lambda rack: f"{rack.unit.name} / {rack.name}"


class EvacuateForm(forms.Form):
    target = forms.ModelChoiceField(label=_("Move every box into"), queryset=StorageUnit.objects.none())
    reason = forms.CharField(label=_("Reason"), max_length=300)
    confirm = forms.BooleanField(label=_("I confirm this emergency evacuation"), required=True)

    def __init__(self, *args, unit=None, **kwargs):
        super().__init__(*args, **kwargs)
        qs = StorageUnit.objects.filter(active=True).order_by("name")
        if unit is not None:
            qs = qs.exclude(pk=unit.pk).filter(quarantine=unit.quarantine)
        self.fields["target"].queryset = qs


class AcknowledgeForm(forms.Form):
    reason = forms.CharField(label=_("What was found and done"), widget=forms.Textarea(attrs={"rows": 3}),
                             max_length=2000)


def acknowledge_signature_form(data=None) -> SignatureForm:
    return SignatureForm(data, meanings=[SignatureMeaning.ACKNOWLEDGEMENT, SignatureMeaning.REVIEW])


# --- rack scans, batch moves, rack moves (issue 17) -------------------------------------------------------------


class RackScanForm(forms.Form):
    file = forms.FileField(label=_("Rack scanner file (CSV)"),
                           help_text=_("Ziath DataPaq or Azenta / FluidX export; the format is recognised."))
    box = forms.CharField(label=_("Box barcode"), max_length=100, required=False,
                          help_text=_("Only when the file names no rack: scan the box label."))


class RackScanStoreForm(forms.Form):
    """The second step: the scan checked on the page, sent back with a reason to store or move the tubes."""

    scan = forms.CharField(widget=forms.HiddenInput, max_length=600_000)
    box = forms.CharField(widget=forms.HiddenInput, required=False, max_length=100)
    reason = forms.CharField(label=_("Reason"), max_length=300)


class BatchMoveForm(forms.Form):
    codes = forms.CharField(widget=forms.HiddenInput, required=False)
    box = forms.CharField(label=_("Destination box barcode"), max_length=100)
    start = forms.CharField(label=_("Start at position"), max_length=8, required=False,
                            help_text=_("e.g. B3; empty: the first free position"))
    reason = forms.CharField(label=_("Reason"), max_length=300)

    def clean_start(self):
        value = (self.cleaned_data.get("start") or "").strip()
        if not value:
            return None
        parsed = parse_position(value)
        if parsed is None:
            raise forms.ValidationError(_("Give a position such as B3."))
        return parsed


class RackMoveForm(forms.Form):
    unit = forms.ModelChoiceField(label=_("Move the rack into"), queryset=StorageUnit.objects.none())
    reason = forms.CharField(label=_("Reason"), max_length=300)

    def __init__(self, *args, rack=None, **kwargs):
        super().__init__(*args, **kwargs)
        qs = StorageUnit.objects.filter(active=True).order_by("name")
        if rack is not None:
            qs = qs.exclude(pk=rack.unit_id)
        self.fields["unit"].queryset = qs
