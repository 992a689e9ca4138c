"""Forms of the haplobank pages: they read what was typed or uploaded; the services and queries decide.

Alleles and haplotypes are not checked here: ``haplobank.alleles`` (through ``services``, ``queries`` and
``matching``) is the one reader of HLA names, and its messages land on these forms' fields.
"""

from __future__ import annotations

from django import forms
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from haplobank.alleles import parse_allele
from haplobank.choices import CoverageDefinition, HLAResolution
from haplobank.matching import MATCH_LOCI, REQUIRED_LOCI

# An uploaded table is read into memory whole (the services read text): a 200,000-line table of haplotypes is about
# 10 MB, so this leaves room without letting a stray upload fill the worker's memory.
MAX_UPLOAD_BYTES = 20 * 1024 * 1024
TYPING_ATTRS = {"class": "mono", "autocomplete": "off", "spellcheck": "false", "autocapitalize": "characters",
                "size": 14}


def _population_choices(populations) -> list[tuple[int, str]]:
    return [(p.pk, p.name) for p in populations]


class _PopulationChoiceForm(forms.Form):
    """A form choosing one of the populations listed by the view (read once: the select and the check use the same
    list, so a page runs one query for it)."""

    population = forms.TypedChoiceField(label=_("Population"), coerce=int, empty_value=None,
                                        widget=forms.Select(attrs={"data-autosubmit": ""}))

    def __init__(self, *args, populations=(), **kwargs):
        super().__init__(*args, **kwargs)
        self.populations = {p.pk: p for p in populations}
        self.fields["population"].choices = _population_choices(populations)

    def clean_population(self):
        return self.populations[self.cleaned_data["population"]]


class CoverageForm(_PopulationChoiceForm):
    definition = forms.ChoiceField(label=_("Definition"), choices=CoverageDefinition.choices, required=False,
                                   initial=CoverageDefinition.HAPLOTYPE,
                                   widget=forms.Select(attrs={"data-autosubmit": ""}))

    def clean_definition(self):
        return self.cleaned_data["definition"] or CoverageDefinition.HAPLOTYPE


class PlanningForm(CoverageForm):
    haplotypes = forms.CharField(
        label=_("Planned haplotypes"), required=False, strip=False,
        widget=forms.Textarea(attrs={"rows": 6, "class": "mono", "spellcheck": "false", "autocomplete": "off",
                                     "placeholder": "A*24:02~B*52:01~DRB1*15:02", "style": "width:100%"}),
        help_text=_("One A~B~DRB1 haplotype per line, e.g. A*24:02~B*52:01~DRB1*15:02. Empty: what to bank first."))
    include_bank = forms.BooleanField(label=_("Include the bank's lines"), required=False, initial=True,
                                      help_text=_("Count the haplotypes of the lines the bank holds already."))

    def clean_haplotypes(self) -> list[str]:
        """The non-blank lines, as typed (``queries.clean_haplotypes`` reads them)."""
        return [line.strip() for line in self.cleaned_data["haplotypes"].splitlines() if line.strip()]


class PopulationForm(forms.Form):
    """A new population; the service checks the name, the source and the resolution (its messages say what to
    write), so the fields here only read them."""

    name = forms.CharField(label=_("Name"), required=False,
                           widget=forms.TextInput(attrs={"maxlength": 120, "autocomplete": "off",
                                                         "placeholder": _("e.g. Han Chinese (southern)")}))
    source = forms.CharField(label=_("Source of the frequencies"), required=False,
                             widget=forms.TextInput(attrs={"maxlength": 300, "autocomplete": "off"}),
                             help_text=_("Study, registry and year, or that the table is synthetic."))
    resolution = forms.ChoiceField(label=_("Resolution of its tables"), choices=HLAResolution.choices,
                                   initial=HLAResolution.TWO_FIELD, widget=forms.RadioSelect)


class TableForm(forms.Form):
    """A haplotype table or a typed cohort: pasted into the text area or chosen as a file (UTF-8 CSV)."""

    table = forms.CharField(label=_("Paste the lines"), required=False, strip=False,
                            widget=forms.Textarea(attrs={"rows": 8, "class": "mono", "spellcheck": "false",
                                                         "autocomplete": "off", "wrap": "off", "style": "width:100%"}))
    file = forms.FileField(label=_("or choose a CSV file (UTF-8)"), required=False)

    def __init__(self, *args, example: str = "", **kwargs):
        super().__init__(*args, **kwargs)
        if example:
            self.fields["table"].widget.attrs["placeholder"] = example
        self.source_field = "table"
        self.refusal_code = ""

    def clean_file(self):
        upload = self.cleaned_data.get("file")
        if upload and upload.size > MAX_UPLOAD_BYTES:
            raise forms.ValidationError(_("Upload at most %(mb)s MB per table.") % {
                "mb": MAX_UPLOAD_BYTES // (1024 * 1024)})
        return upload

    def clean(self):
        cleaned = super().clean()
        text = cleaned.get("table") or ""
        upload = cleaned.get("file")
        if self.errors:
            return cleaned
        if upload and text.strip():
            raise forms.ValidationError(_("Paste the lines or choose a file, not both."))
        if upload:
            self.source_field = "file"
            try:
                text = upload.read().decode("utf-8-sig")
            except UnicodeDecodeError:
                self.add_error("file", _("The file is not UTF-8 text. Save it as CSV UTF-8 and choose it again."))
                return cleaned
            if "\x00" in text:
                self.add_error("file", _("The file holds NUL characters: it is not a text (CSV) file."))
                return cleaned
        elif not text.strip():
            raise forms.ValidationError(_("Paste the lines of the table or choose its CSV file."))
        cleaned["text"] = text
        return cleaned

    def add_refusal(self, exc) -> None:
        """A refused table (``services.TableRefused``): its message, then every bad line with its number."""
        self.refusal_code = exc.code
        self.add_error(None, exc.detail)
        for line in exc.extra.get("lines") or []:
            self.add_error(self.source_field, gettext("Line %(line)s: %(error)s") % {"line": line["line"],
                                                                                    "error": line["error"]})


class RecruitmentForm(forms.Form):
    population = forms.IntegerField(min_value=1, max_value=2**31 - 1)
    haplotype = forms.CharField(max_length=200)


class MatchForm(forms.Form):
    """A patient's typing, two alleles per locus (A, B and DRB1 required; one allele given means homozygous).
    The first field has the focus, Enter searches."""

    limit = forms.TypedChoiceField(label=_("Results"), coerce=int, choices=[(20, "20"), (50, "50"), (200, "200")],
                                   initial=50, required=False, empty_value=50)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        fields = {}
        for locus in MATCH_LOCI:
            for position in (1, 2):
                attrs = {**TYPING_ATTRS, "placeholder": f"{locus}*" + ("24:02" if locus == "A" else "")}
                fields[self.field_name(locus, position)] = forms.CharField(
                    label=f"HLA-{locus} ({position})", required=False, max_length=60,
                    widget=forms.TextInput(attrs=attrs))
        self.fields = {**fields, "limit": self.fields["limit"]}
        self.fields[self.field_name("A", 1)].widget.attrs["autofocus"] = ""

    @staticmethod
    def field_name(locus: str, position: int) -> str:
        return f"{locus.lower()}_{position}"

    def typing(self) -> dict[str, list[str]]:
        """``{"A": [a1, a2], ...}`` as typed, for ``matching.clean_patient``."""
        return {locus: [self.cleaned_data.get(self.field_name(locus, i)) or "" for i in (1, 2)]
                for locus in MATCH_LOCI}

    def add_patient_errors(self, exc) -> None:
        """``matching.clean_patient``'s errors, each on the field of its locus that holds the allele it names (the
        first field when it names none, e.g. a locus left empty); the focus moves to the first."""
        for key, errors in exc.message_dict.items():
            target = self._bad_field(key) if key in MATCH_LOCI else None
            for error in errors:
                self.add_error(target, error)
        self.focus_first_error()

    def _bad_field(self, locus: str) -> str:
        for position in (1, 2):
            value = (self.cleaned_data.get(self.field_name(locus, position)) or "").strip()
            if not value:
                continue
            try:
                parse_allele(value, locus=locus)
            except ValueError:
                return self.field_name(locus, position)
        return self.field_name(locus, 1)

    def focus_first_error(self) -> None:
        bad = [name for name in self.fields if name in self.errors]
        if bad:
            self.fields[self.field_name("A", 1)].widget.attrs.pop("autofocus", None)
            self.fields[bad[0]].widget.attrs["autofocus"] = ""

    def rows(self) -> list[dict]:
        """One row per locus for the template: its two fields and its errors."""
        return [{"locus": locus, "required": locus in REQUIRED_LOCI,
                 "fields": [self[self.field_name(locus, 1)], self[self.field_name(locus, 2)]],
                 "errors": [*self.errors.get(self.field_name(locus, 1), []),
                            *self.errors.get(self.field_name(locus, 2), [])]} for locus in MATCH_LOCI]
