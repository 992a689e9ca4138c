"""The import page's form: kind, source system, file, dry run, and QA's e-signature for released lots."""

from __future__ import annotations

from django import forms
from django.utils.translation import gettext_lazy as _

from imports.choices import ImportKind


class ImportForm(forms.Form):
    kind = forms.ChoiceField(label=_("What the file holds"), choices=ImportKind.choices)
    source = forms.CharField(label=_("Source system"), max_length=60, initial="legacy",
                             help_text=_("The system the file comes from; its IDs are remembered per source, so "
                                         "importing the same file again skips what is already in."))
    file = forms.FileField(label=_("File (CSV UTF-8 or XLSX)"))
    dry_run = forms.BooleanField(label=_("Dry run: check the file and show what would be created, write nothing"),
                                 required=False, initial=True)
    signer_username = forms.CharField(label=_("QA officer (user name)"), required=False, max_length=150,
                                      help_text=_("Only when the file brings lots in as released: the QA officer "
                                                  "who vouches for their legacy release records signs here."))
    signer_password = forms.CharField(label=_("QA officer's password"), required=False,
                                      widget=forms.PasswordInput(render_value=False))

    def __init__(self, *args, kinds: list[str] | None = None, **kwargs):
        super().__init__(*args, **kwargs)
        if kinds is not None:
            self.fields["kind"].choices = [(k, label) for k, label in ImportKind.choices if k in kinds]
        self.fields["file"].widget.attrs.update({"accept": ".csv,.xlsx", "autofocus": True})
