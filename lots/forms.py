"""Forms of the lots pages. They parse input; the services decide (and their refusals land here)."""

from __future__ import annotations

from django import forms
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from donors.queries import collection_by_code
from lots.choices import CellType, FreezingProgram, Grade, LotStatus, ReprogrammingMethod, Tier
from lots.models import CellLine, Culture, Lot
from lots.queries import vial_by_barcode


class DateInput(forms.DateInput):
    input_type = "date"

    def __init__(self, attrs=None):
        super().__init__(attrs=attrs, format="%Y-%m-%d")


class CellLineForm(forms.Form):
    """Register a cell line established from a collection."""

    collection = forms.CharField(
        label=_("Collection code"), max_length=30,
        help_text=_("Scan or type the code of the collection the line comes from, e.g. COL-2026-0001."),
        widget=forms.TextInput(attrs={"list": "collection-codes", "autocomplete": "off", "class": "mono",
                                      "data-scan-target": "", "autofocus-scan": ""}),
    )
    cell_type = forms.ChoiceField(label=_("Cell type"), choices=CellType.choices)
    grade = forms.ChoiceField(label=_("Grade"), choices=Grade.choices, widget=forms.RadioSelect,
                              initial=Grade.RESEARCH)
    reprogramming_method = forms.ChoiceField(
        label=_("Reprogramming method"), choices=ReprogrammingMethod.choices, required=False,
        help_text=_("iPSC lines only."),
    )
    established_on = forms.DateField(label=_("Established on"), widget=DateInput, initial=timezone.localdate,
                                     required=False)
    description = forms.CharField(label=_("Description"), widget=forms.Textarea(attrs={"rows": 3}), required=False)

    def clean_collection(self):
        code = self.cleaned_data["collection"].strip()
        collection = collection_by_code(code)
        if collection is None:
            raise forms.ValidationError(
                _("No collection has the code %(code)s. Check the code on the collection tube or form.")
                % {"code": code})
        return collection


class SubcloneForm(forms.Form):
    description = forms.CharField(label=_("What distinguishes this subclone"), required=False,
                                  widget=forms.Textarea(attrs={"rows": 2}))


class LotChoiceField(forms.ModelChoiceField):
    def label_from_instance(self, lot: Lot) -> str:
        return f"{lot.lot_number} — {lot.cell_line.name}, P{lot.passage} ({LotStatus(lot.status).label})"


class CultureChoiceField(forms.ModelChoiceField):
    def label_from_instance(self, culture: Culture) -> str:
        return _("%(line)s culture started %(day)s") % {"line": culture.cell_line.name,
                                                         "day": culture.started_on.isoformat()}


class LineChoiceField(forms.ModelChoiceField):
    def label_from_instance(self, line: CellLine) -> str:
        return f"{line.name} — {line.cell_type}, {Grade(line.grade).label}"


class LotForm(forms.Form):
    """Freeze a lot. Enter submits. The form only reads the values; ``lots.services.create_lot`` is the one
    place that checks them, and its messages land on these fields (the API shows the same ones)."""

    cell_line = LineChoiceField(label=_("Cell line"), queryset=CellLine.objects.order_by("name"),
                                empty_label=_("— choose the line —"))
    tier = forms.ChoiceField(label=_("Tier"), choices=Tier.choices, widget=forms.RadioSelect, initial=Tier.MCB)
    parent_lot = LotChoiceField(
        label=_("Parent MCB lot"), required=False, empty_label=_("— none (MCB or unit) —"),
        queryset=Lot.objects.filter(tier=Tier.MCB).select_related("cell_line").order_by("cell_line__name",
                                                                                         "lot_number"),
        help_text=_("WCB only: the released master cell bank it was expanded from."),
    )
    culture = CultureChoiceField(
        label=_("Culture"), required=False, empty_label=_("— no culture record —"),
        queryset=Culture.objects.select_related("cell_line").order_by("cell_line__name", "-started_on"),
        help_text=_("The culture harvested for this freeze; its population doublings are copied to the lot."),
    )
    passage = forms.IntegerField(label=_("Passage at freeze"), widget=forms.NumberInput(attrs={"min": 0}))
    vial_count = forms.IntegerField(label=_("Number of vials"), widget=forms.NumberInput(attrs={"min": 1}))
    cells_per_vial = forms.IntegerField(label=_("Cells per vial"), help_text=_("e.g. 1000000"),
                                        widget=forms.NumberInput(attrs={"min": 1}))
    volume_ml = forms.DecimalField(label=_("Volume per vial (mL)"), initial=1,
                                   widget=forms.NumberInput(attrs={"min": 0.01, "step": 0.01}))
    cryoprotectant = forms.CharField(label=_("Cryoprotectant"), max_length=120, initial="CryoStor CS10",
                                     widget=forms.TextInput(attrs={"list": "cryoprotectants"}))
    cryoprotectant_lot = forms.CharField(label=_("Cryoprotectant lot"), max_length=60, required=False)
    freezing_program = forms.ChoiceField(label=_("Freezing program"), choices=FreezingProgram.choices,
                                         widget=forms.RadioSelect, initial=FreezingProgram.CONTAINER)
    freezing_profile = forms.CharField(label=_("Controlled-rate profile"), max_length=120, required=False,
                                       help_text=_("Name of the freezer profile, for a controlled-rate freeze."))
    frozen_on = forms.DateField(label=_("Frozen on"), widget=DateInput, initial=timezone.localdate)
    notes = forms.CharField(label=_("Notes"), widget=forms.Textarea(attrs={"rows": 2}), required=False)


class CultureForm(forms.Form):
    """Start a culture, from the line's tissue or by thawing a vial (scan it)."""

    started_on = forms.DateField(label=_("Started on"), widget=DateInput, initial=timezone.localdate)
    source_vial = forms.CharField(
        label=_("Thawed vial"), required=False, max_length=40,
        help_text=_("Scan the vial you thawed (leave empty for a culture from primary tissue)."),
        widget=forms.TextInput(attrs={"class": "mono", "autocomplete": "off", "data-scan-target": "",
                                      "autofocus-scan": ""}),
    )
    notes = forms.CharField(label=_("Notes"), widget=forms.Textarea(attrs={"rows": 2}), required=False)

    def clean_source_vial(self):
        code = self.cleaned_data["source_vial"].strip()
        if not code:
            return None
        vial = vial_by_barcode(code, related=("lot__cell_line",))
        if vial is None:
            raise forms.ValidationError(_("No vial has the barcode %(code)s. Scan the vial label again.")
                                        % {"code": code})
        return vial


class PassageForm(forms.Form):
    """Record one passage of a culture (``lots.services.record_passage`` checks the values)."""

    number = forms.IntegerField(label=_("Passage number"), required=False,
                                help_text=_("Leave empty for the next number."),
                                widget=forms.NumberInput(attrs={"min": 0}))
    passaged_on = forms.DateField(label=_("Date"), widget=DateInput, initial=timezone.localdate)
    split_ratio = forms.CharField(label=_("Split ratio"), max_length=20, required=False,
                                  widget=forms.TextInput(attrs={"placeholder": "1:6"}))
    seeded_cells = forms.IntegerField(label=_("Cells seeded"), required=False)
    harvested_cells = forms.IntegerField(label=_("Cells harvested"), required=False)
    viability_pct = forms.DecimalField(label=_("Viability (%)"), required=False,
                                       widget=forms.NumberInput(attrs={"min": 0, "max": 100, "step": 0.01}))
    medium = forms.CharField(label=_("Medium"), max_length=120, required=False)
    medium_lot = forms.CharField(label=_("Medium lot"), max_length=60, required=False)
    reagents = forms.CharField(
        label=_("Other reagents and their lots"), required=False, widget=forms.Textarea(attrs={"rows": 2}),
        help_text=_("One per line: name, lot — e.g. Vitronectin, VN-2231"),
    )
    # Issue 16: what the quality app's gate checks (released, not expired) and keeps for the forward trace.
    materials = forms.CharField(
        label=_("Material lots used"), required=False, widget=forms.Textarea(attrs={"rows": 2}),
        help_text=_("Scan or type each registered material lot (its lot number or id), one per line."),
    )
    room = forms.CharField(label=_("Cleanroom"), max_length=40, required=False,
                           help_text=_("The room's code, e.g. CR-B1, when the bank records its cleanrooms."))
    notes = forms.CharField(label=_("Notes"), widget=forms.Textarea(attrs={"rows": 2}), required=False)

    def clean_materials(self):
        text = self.cleaned_data["materials"].replace(",", "\n")
        return [token.strip() for token in text.splitlines() if token.strip()]

    def clean_reagents(self):
        reagents = []
        for line in self.cleaned_data["reagents"].splitlines():
            if not line.strip():
                continue
            name, _sep, lot = line.partition(",")
            if not name.strip():
                raise forms.ValidationError(_("Write each reagent as: name, lot."))
            reagents.append({"name": name.strip(), "lot": lot.strip()})
        return reagents
