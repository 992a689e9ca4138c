"""Forms of the distribution pages: they parse input; the services decide."""

from __future__ import annotations

from django import forms
from django.core.exceptions import ValidationError
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from bank.forms import SignatureForm
from bank.models import SignatureMeaning
from distribution.choices import ArrivalCondition, InstitutionType, IntendedUse, RequestStatus, ShipperType
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
    institution_type = forms.ChoiceField(label=_("Institution type"), choices=InstitutionType.choices,
                                         widget=forms.RadioSelect,
                                         error_messages={"required": _("Say whether your institution is public or "
                                                                       "an enterprise.")})
    recipient_country = forms.CharField(
        label=_("Recipient country"), max_length=10, required=False,
        widget=forms.TextInput(attrs={"class": "mono", "size": 4, "autocomplete": "off", "list": "country-codes"}),
        help_text=_("ISO 3166-1 alpha-2 code, e.g. CN, DE, US. Outside the bank's country the vials need a Human "
                    "Genetic Resources export approval before they ship."))
    shipping_address = forms.CharField(label=_("Shipping address"), required=False,
                                       widget=forms.Textarea(attrs={"rows": 3}))
    mta_accepted = forms.BooleanField(label=_("I have read and accept the material transfer agreement above."),
                                      required=False)
    mta_version = forms.CharField(widget=forms.HiddenInput, required=False)


class InstitutionProfileForm(forms.Form):
    name = forms.CharField(label=_("Institution"), max_length=200)
    institution_type = forms.ChoiceField(label=_("Institution type"), choices=InstitutionType.choices,
                                         widget=forms.RadioSelect)
    country = forms.CharField(label=_("Country"), max_length=10,
                              widget=forms.TextInput(attrs={"class": "mono", "size": 4, "list": "country-codes"}),
                              help_text=_("ISO 3166-1 alpha-2 code, e.g. CN."))
    address = forms.CharField(label=_("Shipping address"), required=False, widget=forms.Textarea(attrs={"rows": 3}))
    billing_contact = forms.CharField(label=_("Billing contact"), max_length=200, required=False)
    billing_email = forms.CharField(label=_("Billing e-mail"), max_length=254, required=False,
                                    widget=forms.EmailInput)


class ExportApprovalForm(forms.Form):
    approval_number = forms.CharField(label=_("Approval number"), max_length=100,
                                      widget=forms.TextInput(attrs={"class": "mono", "autocomplete": "off"}))
    authority = forms.CharField(label=_("Authority"), max_length=200,
                                initial=_("Ministry of Science and Technology (Human Genetic Resources)"))
    approved_on = forms.DateField(label=_("Approved on"), widget=forms.DateInput(attrs={"type": "date"}))
    expires_on = forms.DateField(label=_("Expires on"), widget=forms.DateInput(attrs={"type": "date"}))
    document = forms.FileField(label=_("Scanned approval (PDF or image)"),
                               widget=forms.ClearableFileInput(attrs={"accept": ".pdf,.png,.jpg,.jpeg,.tif,.tiff"}))


class MTAPublishForm(forms.Form):
    version = forms.CharField(label=_("Version"), max_length=40,
                              widget=forms.TextInput(attrs={"class": "mono", "placeholder": "MTA-2027-1"}))
    title = forms.CharField(label=_("Title"), max_length=200, required=False)
    effective_from = forms.DateField(label=_("In force from"), required=False, initial=timezone.localdate,
                                     widget=forms.DateInput(attrs={"type": "date"}))
    text = forms.CharField(label=_("Text"), widget=forms.Textarea(attrs={"rows": 14}))


class FeeRateForm(forms.Form):
    target = forms.CharField(label=_("Line name or grade"), max_length=60,
                             widget=forms.TextInput(attrs={"class": "mono", "autocomplete": "off",
                                                           "list": "fee-targets"}),
                             help_text=_("A line's name (e.g. SCBi001-A), or research or clinical for every line "
                                         "of that grade."))
    institution_type = forms.ChoiceField(label=_("Institution type"), choices=InstitutionType.choices,
                                         initial=InstitutionType.ENTERPRISE)
    per_vial = forms.DecimalField(label=_("Fee per vial"), required=False, min_value=0, max_digits=12,
                                  decimal_places=2, help_text=_("Leave empty to clear the rate."))


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
