"""Forms of the quality pages: they read what was typed; the services check it (their messages land here)."""

from __future__ import annotations

from django import forms
from django.utils.translation import gettext_lazy as _

from quality.choices import (
    Activity,
    Assessment,
    CalibrationKind,
    EnvironmentParameter,
    EquipmentKind,
    GMPGrade,
    MaterialKind,
)

DATE = {"type": "date"}
PASSWORD = forms.PasswordInput(attrs={"autocomplete": "current-password"})
PASSWORD_HELP = _("Signing is the legally binding equivalent of your handwritten signature.")


class SOPVersionForm(forms.Form):
    code = forms.CharField(label=_("SOP code"), max_length=40, widget=forms.TextInput(attrs={"autofocus": True}))
    title = forms.CharField(label=_("Title"), max_length=200, required=False,
                            help_text=_("Required for a new SOP."))
    version = forms.CharField(label=_("Version"), max_length=20)
    effective_on = forms.DateField(label=_("Effective on"), widget=forms.DateInput(attrs=DATE))
    activities = forms.MultipleChoiceField(label=_("Activities governed"), choices=Activity.choices, required=False,
                                           widget=forms.CheckboxSelectMultiple)
    summary = forms.CharField(label=_("Summary of changes"), required=False, widget=forms.Textarea(attrs={"rows": 2}))
    document = forms.FileField(label=_("Document"), required=False)
    password = forms.CharField(label=_("Your password (signs the approval)"), strip=False, widget=PASSWORD,
                               help_text=PASSWORD_HELP)


class TrainingForm(forms.Form):
    user = forms.CharField(label=_("User (username)"), max_length=150)
    sop = forms.CharField(label=_("SOP code"), max_length=40)
    version = forms.CharField(label=_("Version"), max_length=20, required=False,
                              help_text=_("Leave empty for the version in force."))
    trained_on = forms.DateField(label=_("Trained on"), widget=forms.DateInput(attrs=DATE))
    expires_on = forms.DateField(label=_("Expires on"), required=False, widget=forms.DateInput(attrs=DATE))
    trainer = forms.CharField(label=_("Trainer"), max_length=150, required=False)
    assessment = forms.ChoiceField(label=_("Assessment"), choices=Assessment.choices, initial=Assessment.PASSED)


class EquipmentForm(forms.Form):
    code = forms.CharField(label=_("Equipment code"), max_length=40)
    name = forms.CharField(label=_("Name"), max_length=200)
    kind = forms.ChoiceField(label=_("Kind"), choices=EquipmentKind.choices)
    location = forms.CharField(label=_("Location"), max_length=120, required=False)
    calibration_due_on = forms.DateField(label=_("Calibration due on"), widget=forms.DateInput(attrs=DATE))


class CalibrationForm(forms.Form):
    kind = forms.ChoiceField(label=_("Kind"), choices=CalibrationKind.choices, initial=CalibrationKind.CALIBRATION)
    performed_on = forms.DateField(label=_("Performed on"), widget=forms.DateInput(attrs=DATE))
    passed = forms.TypedChoiceField(label=_("Verdict"), coerce=lambda v: v == "true",
                                    choices=[("true", _("Passed")), ("false", _("Failed"))], initial="true")
    next_due_on = forms.DateField(label=_("Next due on"), widget=forms.DateInput(attrs=DATE))
    certificate = forms.CharField(label=_("Certificate"), max_length=200, required=False)
    notes = forms.CharField(label=_("Notes"), required=False, widget=forms.Textarea(attrs={"rows": 2}))


class MaterialForm(forms.Form):
    name = forms.CharField(label=_("Material"), max_length=200)
    kind = forms.ChoiceField(label=_("Kind"), choices=MaterialKind.choices)
    lot_number = forms.CharField(label=_("Supplier's lot number"), max_length=80)
    supplier = forms.CharField(label=_("Supplier"), max_length=200)
    received_on = forms.DateField(label=_("Received on"), widget=forms.DateInput(attrs=DATE))
    expires_on = forms.DateField(label=_("Expires on"), widget=forms.DateInput(attrs=DATE))
    certificate = forms.CharField(label=_("Certificate of analysis"), max_length=200, required=False)


class MaterialReleaseForm(forms.Form):
    inspection = forms.CharField(label=_("Incoming inspection"), required=False,
                                 widget=forms.Textarea(attrs={"rows": 2}))
    password = forms.CharField(label=_("Your password (signs the release)"), strip=False, widget=PASSWORD,
                               help_text=PASSWORD_HELP)


class MaterialSearchForm(forms.Form):
    q = forms.CharField(label=_("Lot number or name"), required=False,
                        widget=forms.TextInput(attrs={"autofocus": True, "autocomplete": "off"}))
    status = forms.ChoiceField(label=_("Status"), required=False, choices=[
        ("", _("All")), ("quarantine", _("Quarantine")), ("released", _("Released")), ("rejected", _("Rejected")),
        ("expired", _("Expired"))])


class CleanroomForm(forms.Form):
    code = forms.CharField(label=_("Room code"), max_length=40)
    name = forms.CharField(label=_("Name"), max_length=200)
    grade = forms.ChoiceField(label=_("GMP grade"), choices=GMPGrade.choices)


class EnvironmentResultForm(forms.Form):
    room = forms.ChoiceField(label=_("Room"), choices=())
    parameter = forms.ChoiceField(label=_("Parameter"), choices=EnvironmentParameter.choices)
    sampled_on = forms.DateField(label=_("Sampled on"), widget=forms.DateInput(attrs=DATE))
    value = forms.DecimalField(label=_("Value"), min_value=0, max_digits=12, decimal_places=2)
    location = forms.CharField(label=_("Sampling point"), max_length=120, required=False)

    def __init__(self, *args, rooms=(), **kwargs):
        super().__init__(*args, **kwargs)
        self.rooms = {str(r.pk): r for r in rooms}
        self.fields["room"].choices = [(str(r.pk), f"{r.code} · {r.name} ({r.grade})") for r in rooms]

    def clean_room(self):
        return self.rooms[self.cleaned_data["room"]]
