"""Forms of the label pages: what to print, on which profile, and the admins' printer profile form."""

from __future__ import annotations

from django import forms
from django.utils.translation import gettext_lazy as _

from bank.models import PrinterProfile
from labels import services

FORMAT_CHOICES = [("", _("As the profile prints")), ("pdf", _("PDF")), ("zpl", _("ZPL (Zebra)"))]


def _profile_choices(kind: str) -> list[tuple[str, str]]:
    choices = []
    for profile in services.profiles_of(kind):
        label = str(profile)
        if profile.is_default:
            label = _("%(name)s (default)") % {"name": label}
        choices.append((str(profile.pk), label))
    return choices or [("", _("The settings' label size (no printer profile yet)"))]


class PrintForm(forms.Form):
    """The profile, the format and the copies of a print (boxes, lots)."""

    kind = "box"

    profile = forms.ChoiceField(label=_("Printer profile"), required=False)
    format = forms.ChoiceField(label=_("File"), choices=FORMAT_CHOICES, required=False)
    copies = forms.IntegerField(label=_("Copies of each label"), min_value=1, max_value=50, initial=1)

    def __init__(self, *args, kind: str | None = None, **kwargs):
        super().__init__(*args, **kwargs)
        self.kind = kind or self.kind
        self.fields["profile"].choices = _profile_choices(self.kind)

    def clean_profile(self):
        return services.profile_for(self.kind, self.cleaned_data.get("profile"), field="profile")


class VialSelectionForm(PrintForm):
    """Vials to label: scanned or pasted barcodes, or a lot (all its vials, or some vial numbers)."""

    kind = "vial"

    scan = forms.CharField(label=_("Scan a vial"), required=False, max_length=100)
    codes = forms.CharField(label=_("Vial barcodes, one per line"), required=False,
                            widget=forms.Textarea(attrs={"rows": 8, "spellcheck": "false", "autocomplete": "off"}))
    lot = forms.CharField(label=_("Or every vial of a lot (lot number or barcode)"), required=False, max_length=100)
    numbers = forms.CharField(label=_("Only these vial numbers"), required=False, max_length=2000,
                              help_text=_("e.g. 1-20, 25; empty prints every vial of the lot."))

    field_order = ["scan", "codes", "lot", "numbers", "profile", "format", "copies"]

    def clean(self):
        from django.core.exceptions import ValidationError

        from lots.queries import lot_by_code

        data = super().clean()
        codes = services.split_codes(data.get("codes", "")) + services.split_codes(data.get("scan", ""))
        lot_code = (data.get("lot") or "").strip()
        if codes and lot_code:
            raise ValidationError(_("Scan vials or choose a lot, not both."))
        try:
            if lot_code:
                lot = lot_by_code(lot_code)
                if lot is None:
                    self.add_error("lot", _("No lot %(code)s.") % {"code": lot_code})
                    return data
                selection = services.lot_vial_selection(lot, services.parse_numbers(data.get("numbers", "")))
            else:
                selection = services.vial_selection(codes, field="codes")
            data.update(ids=selection.ids, title=selection.title, name=selection.name)
        except ValidationError as exc:
            for field, errors in exc.message_dict.items():
                for error in errors:
                    self.add_error(field if field in self.fields else None, error)
        return data


class PrinterProfileForm(forms.ModelForm):
    """The figures of a profile. Whether it is its kind's default is a plain field, not set on the instance the form
    checks: the one-default-per-kind rule is the service's to keep, which takes the flag from the kind's former
    default before it checks the constraints (``bank.printers.save_profile``)."""

    is_default = forms.BooleanField(label=_("Default for its kind"), required=False,
                                    help_text=_("Used when the person printing chooses no profile."))

    class Meta:
        model = PrinterProfile
        fields = ["name", "kind", "output", "width_in", "height_in", "page_size", "columns", "rows", "margin_left_in",
                  "margin_top_in", "gap_x_in", "gap_y_in", "dpi"]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if self.instance.pk:
            self.fields["is_default"].initial = self.instance.is_default
