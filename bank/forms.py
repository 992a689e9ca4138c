"""Bank-wide forms."""

from django import forms
from django.utils.translation import gettext_lazy as _

from bank.models import SignatureMeaning


class SignatureForm(forms.Form):
    """Password re-entry and meaning for an electronic signature (21 CFR 11.200)."""

    meaning = forms.ChoiceField(label=_("Meaning of this signature"), choices=SignatureMeaning.choices)
    password = forms.CharField(
        label=_("Your password"),
        strip=False,
        widget=forms.PasswordInput(attrs={"autocomplete": "current-password"}),
        help_text=_("Signing is the legally binding equivalent of your handwritten signature."),
    )

    def __init__(self, *args, meanings=None, **kwargs):
        super().__init__(*args, **kwargs)
        if meanings:
            self.fields["meaning"].choices = [(m.value, m.label) for m in meanings]
            self.fields["meaning"].initial = meanings[0].value
