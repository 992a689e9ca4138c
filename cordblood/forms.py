"""Forms of the cordblood pages: they parse input; the services decide."""

from __future__ import annotations

from django import forms
from django.utils.translation import gettext_lazy as _

from cordblood.choices import ABO, Acceptance, DeliveryType, DiscardReason, ListingStatus, Ownership, Rh
from cordblood.models import CollectionSite, Collector
from cordblood.services.listing import QA_STATUSES
from donors.choices import ConsentScope, Sex

DATETIME = forms.DateTimeInput(attrs={"type": "datetime-local"}, format="%Y-%m-%dT%H:%M")
DATE = forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d")
SCAN_ATTRS = {"autocomplete": "off", "spellcheck": "false", "class": "mono", "data-scan-target": "", "autofocus": ""}

# The maternal medical and family history questionnaire (yes/no questions; details in free text).
QUESTIONS = [
    ("maternal_infection_in_pregnancy", _("Infection or fever during pregnancy or delivery")),
    ("maternal_transfusion_last_year", _("Blood transfusion in the last 12 months")),
    ("family_blood_disease", _("Family history of blood disease (thalassaemia, haemophilia, leukaemia …)")),
    ("family_immune_disease", _("Family history of immune deficiency")),
    ("family_genetic_disease", _("Family history of inherited metabolic or genetic disease")),
    ("infant_congenital_anomaly", _("Congenital anomaly of the baby seen at birth")),
]


class UnitFilterForm(forms.Form):
    din = forms.CharField(label=_("DIN"), required=False, max_length=20,
                          widget=forms.TextInput(attrs={**SCAN_ATTRS, "placeholder": "W000026000001"}))
    ownership = forms.ChoiceField(label=_("Ownership"), required=False,
                                  choices=[("", _("All")), *Ownership.choices])
    acceptance = forms.ChoiceField(label=_("Acceptance"), required=False,
                                   choices=[("", _("All")), *Acceptance.choices])
    listing_status = forms.ChoiceField(label=_("Search status"), required=False,
                                       choices=[("", _("All")), *ListingStatus.choices])
    ready_to_list = forms.BooleanField(label=_("Released, not yet listed"), required=False)


class MotherForm(forms.Form):
    full_name = forms.CharField(label=_("Full name"), max_length=200)
    national_id = forms.CharField(label=_("National ID"), max_length=40)
    phone = forms.CharField(label=_("Phone"), max_length=40, required=False)
    birth_year = forms.IntegerField(label=_("Birth year"), min_value=1900, max_value=2100)
    population = forms.CharField(label=_("Population"), max_length=100, required=False,
                                 help_text=_("Used for HLA haplotype coverage, e.g. Han Chinese."))


class DonationForm(forms.Form):
    sex = forms.ChoiceField(label=_("Baby's sex"), choices=Sex.choices)
    born_at = forms.DateTimeField(label=_("Born at"), widget=DATETIME)
    # The limits of birth order, gestational age and weight are the service's (register_infant_donation):
    # its errors land on these fields.
    birth_order = forms.IntegerField(label=_("Birth order"), initial=1,
                                     help_text=_("1 for a single birth; 1, 2 … for twins, in order of birth."))
    gestational_age_weeks = forms.IntegerField(label=_("Gestational age (weeks)"))
    birth_weight_g = forms.IntegerField(label=_("Birth weight (g)"))
    delivery_type = forms.ChoiceField(label=_("Delivery"), choices=DeliveryType.choices)
    site = forms.ModelChoiceField(label=_("Collection site"), queryset=CollectionSite.objects.filter(active=True))
    collector = forms.ModelChoiceField(label=_("Collector"), required=False,
                                       queryset=Collector.objects.filter(active=True).select_related("site"))
    ownership = forms.ChoiceField(label=_("Storage"), choices=Ownership.choices, initial=Ownership.PUBLIC)
    collected_at = forms.DateTimeField(label=_("Collected at"), widget=DATETIME, required=False,
                                       help_text=_("Empty: at the birth."))
    received_at = forms.DateTimeField(label=_("Received at the bank"), widget=DATETIME, required=False,
                                      help_text=_("Empty: now."))
    collected_volume_ml = forms.DecimalField(label=_("Collected volume (mL)"), required=False, max_digits=6,
                                             decimal_places=1)
    consent_form_version = forms.CharField(label=_("Consent form version"), max_length=40)
    consent_signed_on = forms.DateField(label=_("Consent signed on (by the mother)"), widget=DATE, required=False)
    consent_scopes = forms.MultipleChoiceField(label=_("Consented uses"), choices=ConsentScope.choices,
                                               widget=forms.CheckboxSelectMultiple, required=False)
    history_notes = forms.CharField(label=_("Medical and family history: details"), required=False,
                                    widget=forms.Textarea(attrs={"rows": 2}))

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        for code, label in QUESTIONS:
            self.fields[f"q_{code}"] = forms.ChoiceField(
                label=label, choices=[("no", _("No")), ("yes", _("Yes")), ("unknown", _("Unknown"))],
                initial="no", widget=forms.RadioSelect)

    def questionnaire(self) -> dict:
        answers = {code: self.cleaned_data[f"q_{code}"] for code, _label in QUESTIONS}
        if self.cleaned_data.get("history_notes"):
            answers["notes"] = self.cleaned_data["history_notes"]
        return answers


class AcceptForm(forms.Form):
    collected_volume_ml = forms.DecimalField(label=_("Collected volume (mL)"), max_digits=6, decimal_places=1)
    tnc = forms.IntegerField(label=_("TNC (pre-processing)"), min_value=0,
                             widget=forms.NumberInput(attrs={"placeholder": "1500000000"}))
    clots = forms.BooleanField(label=_("Clots seen"), required=False)
    bag_intact = forms.BooleanField(label=_("Bag intact, no leak"), required=False, initial=True)


class DiscardForm(forms.Form):
    reason = forms.ChoiceField(label=_("Reason"), choices=DiscardReason.choices)
    note = forms.CharField(label=_("Note"), max_length=200, required=False)


class DivertForm(forms.Form):
    note = forms.CharField(label=_("Note"), max_length=200, required=False)


class ProcessingForm(forms.Form):
    method = forms.CharField(label=_("Method"), max_length=80, initial="HES sedimentation")
    started_at = forms.DateTimeField(label=_("Started at"), widget=DATETIME)
    ended_at = forms.DateTimeField(label=_("Ended at"), widget=DATETIME)
    volume_pre_ml = forms.DecimalField(label=_("Volume before (mL)"), max_digits=6, decimal_places=1)
    volume_post_ml = forms.DecimalField(label=_("Volume after (mL)"), max_digits=6, decimal_places=1)
    tnc_pre = forms.IntegerField(label=_("TNC before"), min_value=1)
    tnc_post = forms.IntegerField(label=_("TNC after"), min_value=1)
    cd34_post = forms.IntegerField(label=_("CD34+ cells after"), min_value=0, required=False)
    nrbc_pct = forms.DecimalField(label=_("NRBC (%)"), max_digits=5, decimal_places=2, required=False)
    hct_pct = forms.DecimalField(label=_("Haematocrit (%)"), max_digits=5, decimal_places=2, required=False)
    abo = forms.ChoiceField(label=_("ABO"), choices=[("", "–"), *ABO.choices], required=False)
    rh = forms.ChoiceField(label=_("Rh"), choices=[("", "–"), *Rh.choices], required=False)
    equipment = forms.CharField(label=_("Equipment"), max_length=200, required=False)
    reagent_lots = forms.CharField(label=_("Reagent lots"), required=False,
                                   widget=forms.Textarea(attrs={"rows": 2, "placeholder": "HES 6 %: H2231"}),
                                   help_text=_("One per line: reagent: lot."))

    def reagents(self) -> list[dict]:
        rows = []
        for line in (self.cleaned_data.get("reagent_lots") or "").splitlines():
            if line.strip():
                name, _sep, lot = line.partition(":")
                rows.append({"name": name.strip(), "lot": lot.strip()})
        return rows


class FreezeForm(forms.Form):
    frozen_at = forms.DateTimeField(label=_("Frozen at"), widget=DATETIME, required=False,
                                    help_text=_("Empty: now."))
    # How many of each container a unit may have is the service's rule (freeze_unit).
    segments = forms.IntegerField(label=_("Attached segments"), initial=2)
    reference_cells = forms.IntegerField(label=_("Reference vials (cells)"), initial=2)
    reference_plasma = forms.IntegerField(label=_("Reference vials (plasma)"), initial=1)
    reference_dna = forms.IntegerField(label=_("Reference vials (DNA)"), initial=1)
    maternal_samples = forms.IntegerField(label=_("Maternal samples"), initial=2)
    cryoprotectant = forms.CharField(label=_("Cryoprotectant"), max_length=200, initial="DMSO 10 % / Dextran 40")
    cryoprotectant_lot = forms.CharField(label=_("Cryoprotectant lot"), max_length=60, required=False)


class ListingForm(forms.Form):
    # What QA may set by hand (the service's list): reserved and distributed come from the transplant app.
    status = forms.ChoiceField(label=_("Search status"),
                               choices=[(value, ListingStatus(value).label) for value in QA_STATUSES])
    reason = forms.CharField(label=_("Reason"), max_length=200, required=False)
    until = forms.DateField(label=_("Until"), widget=DATE, required=False,
                            help_text=_("For a temporary unavailability: the day it ends."))


class ContractForm(forms.Form):
    number = forms.CharField(label=_("Contract number"), max_length=40)
    signed_on = forms.DateField(label=_("Signed on"), widget=DATE)
    paid_until = forms.DateField(label=_("Paid until"), widget=DATE)
    initial_fee = forms.DecimalField(label=_("Initial fee"), max_digits=10, decimal_places=2, initial=0)
    annual_fee = forms.DecimalField(label=_("Annual fee"), max_digits=10, decimal_places=2, initial=0)
    currency = forms.CharField(label=_("Currency"), max_length=3, initial="CNY")


class PaymentForm(forms.Form):
    paid_on = forms.DateField(label=_("Paid on"), widget=DATE)
    amount = forms.DecimalField(label=_("Amount"), max_digits=10, decimal_places=2)
    covers_until = forms.DateField(label=_("Covers storage until"), widget=DATE)
    note = forms.CharField(label=_("Note"), max_length=200, required=False)


class ReleaseRequestForm(forms.Form):
    note = forms.CharField(label=_("What the owner asked for"), max_length=300,
                           help_text=_("Who the unit is for and which transplant centre."))


class DonateForm(forms.Form):
    reason = forms.CharField(label=_("Reason"), max_length=300,
                             help_text=_("e.g. the owner's signed donation form, its date."))


class SiteForm(forms.Form):
    code = forms.CharField(label=_("Code"), max_length=20)
    name = forms.CharField(label=_("Name"), max_length=200)
    city = forms.CharField(label=_("City"), max_length=100, required=False)
    agreement_until = forms.DateField(label=_("Agreement valid until"), widget=DATE, required=False)


class CollectorForm(forms.Form):
    name = forms.CharField(label=_("Name"), max_length=120)
    trained_on = forms.DateField(label=_("Trained on"), widget=DATE, required=False)
