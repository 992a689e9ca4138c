"""Forms of the distribution pages: they parse input; the services decide."""

from __future__ import annotations

from django import forms
from django.core.exceptions import ValidationError
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from bank.forms import SignatureForm
from bank.models import SignatureMeaning
from distribution.choices import ArrivalCondition, IntendedUse, RequestStatus, ShipperType
from distribution.queries import CatalogFilters
from lots.choices import CellType, Grade

SCAN_ATTRS = {"autocomplete": "off", "spellcheck": "false", "class": "mono", "data-scan-target": "",
              "autofocus-scan": "", "autofocus": ""}


class CatalogFilterForm(forms.Form):
    q = forms.CharField(label=_("Search"), required=False, max_length=100,
                        widget=forms.TextInput(attrs={"type": "search", "placeholder": _("line name or description")}))
    cell_type = forms.ChoiceField(label=_("Cell type"), required=False,
                                  choices=[("", _("All cell types")), *CellType.choices])
    grade = forms.ChoiceField(label=_("Grade"), required=False, choices=[("", _("All grades")), *Grade.choices])
    hla = forms.CharField(label=_("HLA allele"), required=False, max_length=20,
                          widget=forms.TextInput(attrs={"placeholder": "A*24:02", "class": "mono"}))

    def clean(self):
        data = super().clean()
        try:
            self.filters = CatalogFilters.parse(data)
        except ValidationError as exc:
            for field, errors in exc.message_dict.items():
                self.add_error(field, errors)
        return data


class RequestForm(forms.Form):
    vials = forms.IntegerField(label=_("Number of vials"), min_value=1, max_value=10_000, initial=1)
    intended_use = forms.ChoiceField(label=_("Intended use"), choices=IntendedUse.choices, widget=forms.RadioSelect,
                                     initial=IntendedUse.RESEARCH)
    project_title = forms.CharField(label=_("Project title"), max_length=300)
    project_summary = forms.CharField(label=_("Project summary"), required=False,
                                      widget=forms.Textarea(attrs={"rows": 4}))
    institution = forms.CharField(label=_("Institution"), max_length=200, required=False)
    shipping_address = forms.CharField(label=_("Shipping address"), required=False,
                                       widget=forms.Textarea(attrs={"rows": 3}))
    mta_accepted = forms.BooleanField(label=_("I have read and accept the material transfer agreement above."),
                                      required=False)
    mta_version = forms.CharField(widget=forms.HiddenInput, required=False)


class ApproveForm(forms.Form):
    reason = forms.CharField(label=_("Note (optional)"), required=False, max_length=300)


class RejectForm(forms.Form):
    reason = forms.CharField(label=_("Reason"), widget=forms.Textarea(attrs={"rows": 2}),
                             help_text=_("The researcher sees this reason."))


class PickForm(forms.Form):
    barcode = forms.CharField(label=_("Scan the vial you take out"), max_length=40,
                              widget=forms.TextInput(attrs={**SCAN_ATTRS, "id": "pick-scan"}))


class ShipForm(forms.Form):
    courier = forms.CharField(label=_("Courier"), max_length=120)
    tracking_number = forms.CharField(label=_("Tracking number"), max_length=120,
                                      widget=forms.TextInput(attrs={"class": "mono", "autocomplete": "off"}))
    shipper_type = forms.ChoiceField(label=_("Shipper"), choices=ShipperType.choices, initial=ShipperType.DRY_SHIPPER)
    shipped_on = forms.DateField(label=_("Shipped on"), widget=forms.DateInput(attrs={"type": "date"}),
                                 initial=timezone.localdate)


class ReceiveForm(forms.Form):
    condition = forms.ChoiceField(label=_("Condition on arrival"), choices=ArrivalCondition.choices,
                                  widget=forms.RadioSelect, initial=ArrivalCondition.GOOD)
    notes = forms.CharField(label=_("Notes"), required=False, widget=forms.Textarea(attrs={"rows": 2}))


class TraceSearchForm(forms.Form):
    code = forms.CharField(label=_("Vial barcode, lot number or donor code"), max_length=60,
                           widget=forms.TextInput(attrs={**SCAN_ATTRS, "id": "trace-scan"}))


class RecallForm(forms.Form):
    reason = forms.CharField(label=_("Reason for the recall"), widget=forms.Textarea(attrs={"rows": 3}),
                             help_text=_("Recipients are told this reason."))


def recall_signature_form(data=None) -> SignatureForm:
    return SignatureForm(data, meanings=[SignatureMeaning.RECALL])


STATUS_TABS = [("", _("All")), *RequestStatus.choices]
