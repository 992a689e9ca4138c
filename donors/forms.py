"""Forms of the donor pages. They parse input; donors.services decides what is allowed."""

from __future__ import annotations

from django import forms
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from donors.choices import (
    ALL_HLA_LOCI,
    ConsentScope,
    DonorType,
    HLAMethod,
    HLAResolution,
    ScreeningOutcome,
    Sex,
    Tissue,
)
from donors.models import EthicsApproval, ScreeningMarker

DATETIME_LOCAL = "%Y-%m-%dT%H:%M"


class DateInput(forms.DateInput):
    input_type = "date"

    def __init__(self, attrs=None):
        super().__init__(attrs=attrs, format="%Y-%m-%d")


class DateTimeLocalInput(forms.DateTimeInput):
    input_type = "datetime-local"

    def __init__(self, attrs=None):
        super().__init__(attrs=attrs, format=DATETIME_LOCAL)


def _datetime_field(label) -> forms.DateTimeField:
    return forms.DateTimeField(label=label, input_formats=[DATETIME_LOCAL, "%Y-%m-%d %H:%M", "%Y-%m-%d %H:%M:%S"],
                               widget=DateTimeLocalInput())


class IdentityFieldsMixin(forms.Form):
    full_name = forms.CharField(label=_("Full name"), max_length=200)
    national_id = forms.CharField(label=_("National ID"), max_length=40)
    phone = forms.CharField(label=_("Phone"), max_length=40, required=False)


class DonorFieldsMixin(forms.Form):
    sex = forms.ChoiceField(label=_("Sex"), choices=Sex.choices, widget=forms.RadioSelect)
    birth_year = forms.IntegerField(label=_("Birth year"), widget=forms.NumberInput(attrs={"inputmode": "numeric"}))
    donor_type = forms.ChoiceField(label=_("Donor type"), choices=DonorType.choices, widget=forms.RadioSelect)
    diagnosis = forms.CharField(label=_("Diagnosis"), max_length=300, required=False,
                                help_text=_("Required for a patient donor."))
    population = forms.CharField(label=_("Population"), max_length=100, required=False,
                                 help_text=_("Used for HLA haplotype coverage, e.g. Han Chinese."))


class DonorForm(DonorFieldsMixin, IdentityFieldsMixin):
    """Intake: the donor's facts and, kept apart, who they are."""

    field_order = ["sex", "birth_year", "donor_type", "diagnosis", "population", "full_name", "national_id", "phone"]

    def donor_data(self) -> dict:
        return {k: self.cleaned_data.get(k) for k in ("sex", "birth_year", "donor_type", "diagnosis", "population")}

    def identity_data(self) -> dict:
        return {k: self.cleaned_data.get(k) or "" for k in ("full_name", "national_id", "phone")}


class DonorEditForm(DonorForm):
    reason = forms.CharField(label=_("Reason for the change"), max_length=300,
                             help_text=_("Kept in the audit trail, e.g. transcription error on intake."))

    def __init__(self, *args, with_identity: bool = True, **kwargs):
        super().__init__(*args, **kwargs)
        if not with_identity:
            for name in ("full_name", "national_id", "phone"):
                del self.fields[name]


class ConsentForm(forms.Form):
    form_version = forms.CharField(label=_("Consent form version"), max_length=40,
                                   help_text=_("As printed on the signed form, e.g. ICF-2025-v3."))
    signed_on = forms.DateField(label=_("Signed on"), widget=DateInput())
    # Not required here: the service names a missing scope together with every other problem.
    scopes = forms.MultipleChoiceField(label=_("The donor agreed to"), choices=ConsentScope.choices, required=False,
                                       widget=forms.CheckboxSelectMultiple)


class WithdrawForm(forms.Form):
    reason = forms.CharField(label=_("Reason and how the withdrawal was received"), widget=forms.Textarea(
        attrs={"rows": 3}), help_text=_("e.g. Donor's written request of 2026-03-01, received by mail."))
    confirm = forms.BooleanField(label=_("I have checked the lots listed above: flag them all and stop their release "
                                         "and distribution."))


class EraseIdentityForm(forms.Form):
    """Erasure of a donor's identity: why, an explicit confirmation and the password again (it cannot be undone)."""

    reason = forms.CharField(
        label=_("Reason and how the request was received"),
        widget=forms.Textarea(attrs={"rows": 3, "autofocus": True}),
        help_text=_("e.g. Donor's written erasure request of 2026-03-01, received by mail. Do not write the person's "
                    "name, national ID or phone: the reason stays in the audit trail."))
    confirm = forms.BooleanField(label=_("I understand that the name, national ID and phone of this donor will be "
                                         "unreadable for good, for everyone, and cannot be restored."))
    password = forms.CharField(label=_("Your password"), strip=False,
                               widget=forms.PasswordInput(attrs={"autocomplete": "current-password"}),
                               help_text=_("Entering your password signs this erasure."))


class ScreeningForm(forms.Form):
    """One screening sample and a result field for every marker of the panel."""

    sample_drawn_on = forms.DateField(label=_("Sample drawn on"), widget=DateInput())
    maternal_sample = forms.BooleanField(label=_("Maternal sample (the birth mother was tested)"), required=False,
                                         help_text=_("For cord blood, umbilical cord and placenta donations."))
    laboratory = forms.CharField(label=_("Laboratory"), max_length=200, required=False)

    RESULT_CHOICES = [("", _("— not tested —")), *ScreeningOutcome.choices]

    def __init__(self, *args, markers: list[ScreeningMarker] | None = None, **kwargs):
        super().__init__(*args, **kwargs)
        self.markers = list(markers if markers is not None else ScreeningMarker.objects.order_by("order", "code"))
        for marker in self.markers:
            self.fields[self.field_name(marker.code)] = forms.ChoiceField(
                label=marker.name, choices=self.RESULT_CHOICES, required=False,
                widget=forms.Select(attrs={"data-marker": marker.code}),
            )
        if self.markers:
            # The sample date is prefilled: the cursor starts on the first marker, and Enter saves.
            self.fields[self.field_name(self.markers[0].code)].widget.attrs["autofocus"] = True

    @staticmethod
    def field_name(code: str) -> str:
        return f"marker_{code}"

    def marker_fields(self):
        return [(marker, self[self.field_name(marker.code)]) for marker in self.markers]

    def results(self) -> list[dict]:
        return [{"marker": m.code, "result": self.cleaned_data.get(self.field_name(m.code)) or ""}
                for m in self.markers]


class CorrectionForm(forms.Form):
    result = forms.ChoiceField(label=_("Correct result"), choices=ScreeningOutcome.choices, widget=forms.RadioSelect)
    reason = forms.CharField(label=_("Reason"), widget=forms.Textarea(attrs={"rows": 3}),
                             help_text=_("e.g. transcription error, laboratory report SY-22 says negative."))


class HLAForm(forms.Form):
    method = forms.ChoiceField(label=_("Typing method"), choices=[("", "—"), *HLAMethod.choices], required=False)
    resolution = forms.ChoiceField(label=_("Resolution"), required=False, choices=[
        ("", _("From the alleles")), *HLAResolution.choices])
    typed_on = forms.DateField(label=_("Typed on"), required=False, widget=DateInput())
    laboratory = forms.CharField(label=_("Laboratory"), max_length=200, required=False)
    reason = forms.CharField(label=_("Reason (when replacing a typing)"), max_length=300, required=False)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        for locus in ALL_HLA_LOCI:
            for i in (1, 2):
                self.fields[self.field_name(locus, i)] = forms.CharField(
                    label=f"HLA-{locus} ({i})", max_length=20, required=False,
                    widget=forms.TextInput(attrs={"placeholder": f"{locus}*24:02", "class": "mono",
                                                  "autocomplete": "off", "spellcheck": "false"}),
                )

    @staticmethod
    def field_name(locus: str, i: int) -> str:
        return f"{locus.lower()}_{i}"

    def locus_rows(self):
        return [(locus, self[self.field_name(locus, 1)], self[self.field_name(locus, 2)]) for locus in ALL_HLA_LOCI]

    def alleles(self) -> dict:
        return {locus: [self.cleaned_data.get(self.field_name(locus, 1)) or "",
                        self.cleaned_data.get(self.field_name(locus, 2)) or ""] for locus in ALL_HLA_LOCI}


class CollectionForm(forms.Form):
    donor_code = forms.CharField(label=_("Donor code"), max_length=20, help_text=_("Scan or type the donor code."),
                                 widget=forms.TextInput(attrs={"class": "mono", "autocomplete": "off",
                                                               "data-scan-target": True, "autofocus-scan": True}))
    tissue = forms.ChoiceField(label=_("Tissue"), choices=Tissue.choices)
    collected_at = _datetime_field(_("Collected at"))
    received_at = _datetime_field(_("Received at"))
    transport_temperature_c = forms.DecimalField(label=_("Transport temperature (°C)"), max_digits=5,
                                                 decimal_places=1, required=False)
    ethics_approval = forms.ModelChoiceField(label=_("Ethics approval"), required=False,
                                             queryset=EthicsApproval.objects.order_by("-valid_from", "-id"),
                                             empty_label=_("— the one in force on the collection date —"),
                                             help_text=_("Left empty, the single approval in force on the collection "
                                                         "date is cited."))
    notes = forms.CharField(label=_("Notes"), required=False, widget=forms.Textarea(attrs={"rows": 2}))

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if not self.is_bound:
            self.fields["received_at"].initial = timezone.localtime().strftime(DATETIME_LOCAL)


class EthicsApprovalForm(forms.Form):
    committee = forms.CharField(label=_("Committee"), max_length=200)
    approval_number = forms.CharField(label=_("Approval number"), max_length=60)
    scope = forms.CharField(label=_("Scope"), required=False, widget=forms.Textarea(attrs={"rows": 2}))
    valid_from = forms.DateField(label=_("Valid from"), widget=DateInput())
    valid_to = forms.DateField(label=_("Valid to"), widget=DateInput())


class EthicsApprovalEditForm(EthicsApprovalForm):
    reason = forms.CharField(label=_("Reason for the change"), max_length=300)


class EthicsWithdrawForm(forms.Form):
    withdrawn_on = forms.DateField(label=_("Withdrawn with effect from"), widget=DateInput())
    reason = forms.CharField(label=_("Reason and the committee's letter"), widget=forms.Textarea(
        attrs={"rows": 3, "autofocus": True}), help_text=_("e.g. Committee letter IEC-2026-112 of 2026-03-01: "
                                                           "annual report not filed."))
    confirm = forms.BooleanField(label=_("I have checked the lines listed above: flag them for QA."))


class HandoverForm(forms.Form):
    """One hand-over in the chain of custody; typed from the transport form, Enter records it."""

    handed_by = forms.CharField(label=_("Handed over by"), max_length=200,
                                widget=forms.TextInput(attrs={"autocomplete": "off"}))
    received_by = forms.CharField(label=_("Received by"), max_length=200,
                                  widget=forms.TextInput(attrs={"autocomplete": "off"}))
    at = _datetime_field(_("At"))
    location = forms.CharField(label=_("Location"), max_length=200,
                               widget=forms.TextInput(attrs={"autocomplete": "off"}))
    temperature_c = forms.DecimalField(label=_("Temperature (°C)"), max_digits=5, decimal_places=1, required=False)
    note = forms.CharField(label=_("Note"), required=False, max_length=2000)


class ImportForm(forms.Form):
    file = forms.FileField(label=_("CSV file (UTF-8)"))

    def clean_file(self):
        upload = self.cleaned_data["file"]
        if upload.size > 5 * 1024 * 1024:
            raise forms.ValidationError(_("Import at most 5 MB per file."))
        return upload


class MarkerForm(forms.Form):
    required = forms.BooleanField(label=_("Part of the required panel"), required=False)
    tissues = forms.MultipleChoiceField(label=_("Required only for these tissues (none = every collection)"),
                                        choices=Tissue.choices, required=False, widget=forms.CheckboxSelectMultiple)
    reason = forms.CharField(label=_("Reason for the change"), max_length=300)


class WindowForm(forms.Form):
    tissue = forms.ChoiceField(label=_("Tissue"), choices=[("", _("Default (every other tissue)")), *Tissue.choices],
                               required=False)
    days_before = forms.IntegerField(label=_("Days before collection"), min_value=0, max_value=365)
    days_after = forms.IntegerField(label=_("Days after collection"), min_value=0, max_value=365)
    reason = forms.CharField(label=_("Reason for the change"), max_length=300)
