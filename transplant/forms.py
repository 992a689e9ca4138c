"""Forms of the transplant pages: they parse input; the services decide."""

from __future__ import annotations

from django import forms
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from transplant.choices import (
    ABO,
    PATIENT_LOCI,
    AdverseEventKind,
    AdverseEventSeverity,
    ArrivalCondition,
    DocumentItem,
    GVHDGrade,
    Rh,
    Survival,
)

SCAN_ATTRS = {"autocomplete": "off", "spellcheck": "false", "class": "mono", "data-scan-target": ""}
DATE = {"type": "date"}


def _hla_fields(form: forms.Form, required=("A", "B", "DRB1")) -> None:
    for locus in PATIENT_LOCI:
        form.fields[f"hla_{locus}"] = forms.CharField(
            label=f"HLA-{locus}", required=locus in required, max_length=60,
            widget=forms.TextInput(attrs={"class": "mono", "placeholder": f"{locus}*02:01 {locus}*24:02",
                                          "autocomplete": "off"}),
            help_text=_("Two alleles separated by a space (one when homozygous)."))


def hla_from(cleaned: dict) -> dict:
    return {locus: cleaned.get(f"hla_{locus}", "").split() for locus in PATIENT_LOCI
            if cleaned.get(f"hla_{locus}", "").strip()}


class PatientForm(forms.Form):
    code = forms.CharField(label=_("Patient code"), max_length=30,
                           help_text=_("Your centre's pseudonymous code — never the patient's name."),
                           widget=forms.TextInput(attrs={"class": "mono", "autofocus": "", "autocomplete": "off"}))
    diagnosis = forms.CharField(label=_("Diagnosis"), max_length=200)
    weight_kg = forms.DecimalField(label=_("Weight (kg)"), max_digits=5, decimal_places=1, min_value=0.5)
    abo = forms.ChoiceField(label=_("ABO"), required=False, choices=[("", "—"), *ABO.choices])
    rh = forms.ChoiceField(label=_("Rh"), required=False, choices=[("", "—"), *Rh.choices])

    def __init__(self, *args, centres=None, **kwargs):
        super().__init__(*args, **kwargs)
        _hla_fields(self)
        if centres is not None:
            self.fields["centre"] = forms.ModelChoiceField(label=_("Centre"), queryset=centres)


class SearchForm(forms.Form):
    abo = forms.ChoiceField(label=_("ABO of the unit"), required=False, choices=[("", _("Any")), *ABO.choices])
    max_age_years = forms.IntegerField(label=_("Unit frozen at most (years ago)"), required=False, min_value=0,
                                       max_value=50)
    min_tnc_per_kg = forms.DecimalField(label=_("Minimum TNC (× 10⁷/kg)"), required=False, min_value=0,
                                        max_digits=6, decimal_places=2)
    max_mismatches = forms.IntegerField(label=_("At most HLA mismatches (of 6)"), required=False, min_value=0,
                                        max_value=6)


class ReserveForm(forms.Form):
    unit = forms.IntegerField(widget=forms.HiddenInput)
    until = forms.DateField(label=_("Reserve until"), widget=forms.DateInput(attrs=DATE))


class UnitForm(forms.Form):
    unit = forms.IntegerField(widget=forms.HiddenInput)


class CompleteTypingForm(forms.Form):
    sample = forms.CharField(label=_("Scan the segment or reference vial typed"), required=False, max_length=40,
                             widget=forms.TextInput(attrs={**SCAN_ATTRS, "autofocus": "", "data-scan-next": ""}),
                             help_text=_("Empty: the unit's first available segment."))
    laboratory = forms.CharField(label=_("Laboratory"), required=False, max_length=200)
    typed_on = forms.DateField(label=_("Typed on"), widget=forms.DateInput(attrs=DATE), initial=timezone.localdate)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        _hla_fields(self, required=())


class OrderForm(forms.Form):
    infusion_date = forms.DateField(label=_("Planned infusion date"), widget=forms.DateInput(attrs=DATE))


class ReleaseForm(forms.Form):
    justification = forms.CharField(label=_("Justification (required for an exceptional release)"), required=False,
                                    widget=forms.Textarea(attrs={"rows": 3}))
    password = forms.CharField(label=_("Your password"), strip=False,
                               widget=forms.PasswordInput(attrs={"autocomplete": "current-password"}),
                               help_text=_("Signing is the legally binding equivalent of your handwritten signature."))


class AcknowledgeForm(forms.Form):
    password = forms.CharField(label=_("Your password"), strip=False,
                               widget=forms.PasswordInput(attrs={"autocomplete": "current-password"}),
                               help_text=_("Signing is the legally binding equivalent of your handwritten signature."))


class ShipForm(forms.Form):
    bag_barcode = forms.CharField(label=_("Scan the bag"), max_length=40,
                                  widget=forms.TextInput(attrs={**SCAN_ATTRS, "autofocus": "", "data-scan-next": ""}))
    dry_shipper = forms.CharField(label=_("Scan the dry shipper"), max_length=30,
                                  widget=forms.TextInput(attrs={"autocomplete": "off", "spellcheck": "false",
                                                                "class": "mono", "data-scan-next": ""}))
    temperature_log = forms.FileField(label=_("Temperature logger file"))
    documents = forms.MultipleChoiceField(label=_("Document pack"), choices=DocumentItem.choices,
                                          widget=forms.CheckboxSelectMultiple, required=False)
    courier = forms.CharField(label=_("Courier"), max_length=120, required=False)


class ReceiveForm(forms.Form):
    condition = forms.ChoiceField(label=_("Condition on arrival"), choices=ArrivalCondition.choices,
                                  widget=forms.RadioSelect, initial=ArrivalCondition.GOOD)
    notes = forms.CharField(label=_("Notes"), required=False, widget=forms.Textarea(attrs={"rows": 2}))


class ThawReportForm(forms.Form):
    thawed_at = forms.DateTimeField(label=_("Thawed at"),
                                    widget=forms.DateTimeInput(attrs={"type": "datetime-local"}))
    viable_cd34_pct = forms.DecimalField(label=_("Viable CD34+ (%)"), max_digits=5, decimal_places=1)
    viable_cd45_pct = forms.DecimalField(label=_("Viable CD45+ (%)"), max_digits=5, decimal_places=1)
    cfu_growth = forms.BooleanField(label=_("CFU growth"), required=False)
    identity_confirmed = forms.BooleanField(label=_("Unit identity confirmed at the bedside"), required=False)
    infused_on = forms.DateField(label=_("Infused on"), widget=forms.DateInput(attrs=DATE))
    adverse_events = forms.CharField(label=_("Adverse events (empty: none)"), required=False,
                                     widget=forms.Textarea(attrs={"rows": 2}))


class FollowUpForm(forms.Form):
    survival = forms.ChoiceField(label=_("Survival"), choices=Survival.choices, widget=forms.RadioSelect)
    engrafted = forms.NullBooleanField(label=_("Neutrophil engraftment"), required=False,
                                       widget=forms.Select(choices=[("unknown", "—"), ("true", _("Yes")),
                                                                    ("false", _("No"))]))
    engraftment_day = forms.IntegerField(label=_("Engraftment day"), required=False, min_value=1, max_value=400)
    gvhd_grade = forms.ChoiceField(label=_("Acute GVHD grade"), required=False, choices=[("", "—"),
                                                                                         *GVHDGrade.choices])
    chronic_gvhd = forms.NullBooleanField(label=_("Chronic GVHD"), required=False,
                                          widget=forms.Select(choices=[("unknown", "—"), ("true", _("Yes")),
                                                                       ("false", _("No"))]))
    notes = forms.CharField(label=_("Notes"), required=False, widget=forms.Textarea(attrs={"rows": 2}))


class CancelForm(forms.Form):
    reason = forms.CharField(label=_("Reason"), max_length=300)


class PatientEditForm(forms.Form):
    """The patient's details a centre may correct (the code is the patient's identity at the centre: not edited)."""

    diagnosis = forms.CharField(label=_("Diagnosis"), max_length=200,
                                widget=forms.TextInput(attrs={"autofocus": ""}))
    weight_kg = forms.DecimalField(label=_("Weight (kg)"), max_digits=5, decimal_places=1, min_value=0.5)
    abo = forms.ChoiceField(label=_("ABO"), required=False, choices=[("", "—"), *ABO.choices])
    rh = forms.ChoiceField(label=_("Rh"), required=False, choices=[("", "—"), *Rh.choices])

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        _hla_fields(self)
        self.fields["reason"] = forms.CharField(
            label=_("Reason for the change"), required=False, max_length=90,
            help_text=_("Required when the HLA typing changes; the earlier typing stays in the history."))

    @staticmethod
    def initial_for(patient) -> dict:
        initial = {"diagnosis": patient.diagnosis, "weight_kg": patient.weight_kg, "abo": patient.abo,
                   "rh": patient.rh}
        for locus in PATIENT_LOCI:
            initial[f"hla_{locus}"] = " ".join((patient.hla or {}).get(locus) or [])
        return initial


class AdverseEventForm(forms.Form):
    kind = forms.ChoiceField(label=_("Kind of event"), choices=AdverseEventKind.choices)
    severity = forms.ChoiceField(label=_("Severity"), choices=AdverseEventSeverity.choices)
    occurred_on = forms.DateField(label=_("Date of the event"), widget=forms.DateInput(attrs=DATE))
    description = forms.CharField(label=_("Description"), widget=forms.Textarea(attrs={"rows": 3}))


class LinkRecallForm(forms.Form):
    recall = forms.ModelChoiceField(label=_("Recall"), queryset=None, empty_label=None)

    def __init__(self, *args, recalls, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["recall"].queryset = recalls
        self.fields["recall"].label_from_instance = lambda r: _("Recall %(id)s of %(date)s: %(reason)s") % {
            "id": r.pk, "date": r.initiated_at.date().isoformat(), "reason": r.reason[:60]}


class CentreForm(forms.Form):
    code = forms.CharField(label=_("Code"), max_length=20,
                           widget=forms.TextInput(attrs={"class": "mono", "autocomplete": "off", "autofocus": ""}))
    name = forms.CharField(label=_("Name"), max_length=200)
    city = forms.CharField(label=_("City"), max_length=100, required=False)
    accreditation_until = forms.DateField(label=_("Accredited until"), required=False,
                                          widget=forms.DateInput(attrs=DATE),
                                          help_text=_("FACT-JACIE or national accreditation; after this date the "
                                                      "bank neither reserves nor ships units to the centre."))
    active = forms.BooleanField(label=_("Active"), required=False, initial=True)

    def __init__(self, *args, editing: bool = False, **kwargs):
        super().__init__(*args, **kwargs)
        if editing:  # the code names the centre; a new code is a new centre
            self.fields["code"].disabled = True
            self.fields["code"].widget.attrs.pop("autofocus", None)
            self.fields["name"].widget.attrs["autofocus"] = ""


class LinkClinicianForm(forms.Form):
    user = forms.ModelChoiceField(label=_("Clinician account"), queryset=None)

    def __init__(self, *args, clinicians, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["user"].queryset = clinicians
        self.fields["user"].label_from_instance = lambda u: (
            f"{u.get_full_name()} ({u.username})" if u.get_full_name() else u.username)


class DryShipperForm(forms.Form):
    code = forms.CharField(label=_("Shipper id"), max_length=30,
                           widget=forms.TextInput(attrs={**SCAN_ATTRS, "autofocus": ""}))
    description = forms.CharField(label=_("Description"), max_length=200, required=False)
    validated_until = forms.DateField(label=_("Validated until"), widget=forms.DateInput(attrs=DATE),
                                      help_text=_("End of the hold-time validation; after it the shipper is "
                                                  "refused at shipment."))
    active = forms.BooleanField(label=_("Active"), required=False, initial=True)

    def __init__(self, *args, editing: bool = False, **kwargs):
        super().__init__(*args, **kwargs)
        if editing:
            self.fields["code"].disabled = True
            self.fields["code"].widget.attrs.pop("autofocus", None)
            self.fields["validated_until"].widget.attrs["autofocus"] = ""
