"""Forms of the qc pages: they parse input; the services decide."""

from __future__ import annotations

from django import forms
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from bank.forms import SignatureForm
from bank.models import SignatureMeaning
from lots.choices import ReprogrammingMethod
from qc.choices import QCStage, TestKind

DATE = forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d")


class ResultForm(forms.Form):
    """One result of one test: a value for a numeric test, an outcome for an outcome test."""

    value = forms.DecimalField(label=_("Value"), required=False, max_digits=12, decimal_places=4,
                               widget=forms.NumberInput(attrs={"step": "any", "inputmode": "decimal"}))
    outcome = forms.ChoiceField(label=_("Outcome"), required=False, choices=())
    tested_on = forms.DateField(label=_("Tested on"), widget=DATE)
    method = forms.CharField(label=_("Method"), required=False, max_length=200)
    instrument = forms.CharField(label=_("Instrument or kit lot"), required=False, max_length=120)
    vial = forms.CharField(label=_("Vial thawed (scan)"), required=False, max_length=40,
                           widget=forms.TextInput(attrs={"autocomplete": "off", "spellcheck": "false"}))

    def __init__(self, *args, test, **kwargs):
        kwargs.setdefault("prefix", test.code)
        kwargs.setdefault("initial", {"tested_on": timezone.localdate(), "method": test.typical_method})
        super().__init__(*args, **kwargs)
        self.test = test
        if test.kind == TestKind.NUMERIC:
            del self.fields["outcome"]
            self.fields["value"].required = True
            self.fields["value"].label = _("Value (%(unit)s)") % {"unit": test.unit} if test.unit else _("Value")
        else:
            del self.fields["value"]
            self.fields["outcome"].required = True
            self.fields["outcome"].choices = [("", "—")] + [(o, o) for o in (test.outcomes or [])]


class ReleaseForm(SignatureForm):
    def __init__(self, *args, **kwargs):
        kwargs.setdefault("prefix", "release")
        super().__init__(*args, meanings=[SignatureMeaning.RELEASE], **kwargs)


class RejectForm(SignatureForm):
    reason = forms.CharField(label=_("Reason for rejection"), widget=forms.Textarea(attrs={"rows": 2}))

    field_order = ["reason", "meaning", "password"]

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("prefix", "reject")
        super().__init__(*args, meanings=[SignatureMeaning.REJECTION], **kwargs)


class LiftHoldForm(SignatureForm):
    cited_result = forms.TypedChoiceField(label=_("Passing re-test cited"), coerce=int, choices=())
    reason = forms.CharField(label=_("Reason"), required=False, widget=forms.Textarea(attrs={"rows": 2}))

    field_order = ["cited_result", "reason", "meaning", "password"]

    def __init__(self, *args, retests=(), **kwargs):
        kwargs.setdefault("prefix", "lift")
        super().__init__(*args, meanings=[SignatureMeaning.HOLD_LIFTED], **kwargs)
        self.fields["cited_result"].choices = [
            (r.pk, f"{r.tested_on:%Y-%m-%d} · {r.display} · {r.entered_by.get_full_name() or r.entered_by.username}")
            for r in retests
        ]


class DeviationForm(forms.Form):
    investigation = forms.CharField(label=_("Investigation"), required=False,
                                    widget=forms.Textarea(attrs={"rows": 4}))
    root_cause = forms.CharField(label=_("Root cause"), required=False, widget=forms.Textarea(attrs={"rows": 3}))
    capa = forms.CharField(label=_("Corrective and preventive actions"), required=False,
                           widget=forms.Textarea(attrs={"rows": 3}))


class CloseDeviationForm(SignatureForm):
    def __init__(self, *args, **kwargs):
        kwargs.setdefault("prefix", "close")
        super().__init__(*args, meanings=[SignatureMeaning.CLOSURE], **kwargs)


class StabilityPlanForm(forms.Form):
    """Values are only read here: ``qc.services.set_stability_plan`` checks them (the API shows the same messages)."""

    interval_days = forms.IntegerField(label=_("Re-check every (days)"),
                                       widget=forms.NumberInput(attrs={"min": 1, "max": 3650}))
    min_viability_pct = forms.DecimalField(label=_("Minimum viability (%)"),
                                           widget=forms.NumberInput(attrs={"min": 0, "max": 100, "step": "any"}))


class RecheckResultForm(forms.Form):
    """``qc.services.record_recheck_result`` checks the viability (0 to 100 %)."""

    viability_pct = forms.DecimalField(label=_("Viability (%)"), widget=forms.NumberInput(
        attrs={"min": 0, "max": 100, "step": "any", "inputmode": "decimal"}))
    tested_on = forms.DateField(label=_("Tested on"), widget=DATE)
    vial = forms.CharField(label=_("Vial thawed (scan)"), required=False, max_length=40,
                           widget=forms.TextInput(attrs={"autocomplete": "off", "spellcheck": "false"}))
    method = forms.CharField(label=_("Method"), required=False, max_length=200)

    def __init__(self, *args, recheck=None, **kwargs):
        if recheck is not None:
            kwargs.setdefault("prefix", f"r{recheck.pk}")
            kwargs.setdefault("initial", {"tested_on": timezone.localdate(), "method": "trypan blue"})
        super().__init__(*args, **kwargs)
        if recheck is not None and recheck.vial_id:
            self.fields["vial"].widget.attrs["placeholder"] = recheck.vial.barcode


class CriterionForm(forms.Form):
    test = forms.ChoiceField(label=_("Test"), choices=(), widget=forms.Select(attrs={"style": "max-width:20rem"}))
    min = forms.DecimalField(label=_("Minimum"), required=False, max_digits=12, decimal_places=4,
                             widget=forms.NumberInput(attrs={"step": "any", "style": "width:7rem"}))
    max = forms.DecimalField(label=_("Maximum"), required=False, max_digits=12, decimal_places=4,
                             widget=forms.NumberInput(attrs={"step": "any", "style": "width:7rem"}))
    unit = forms.CharField(label=_("Unit"), required=False, max_length=30,
                           widget=forms.TextInput(attrs={"style": "width:7rem"}))
    expected = forms.CharField(label=_("Expected outcome"), required=False, max_length=40,
                               widget=forms.TextInput(attrs={"style": "width:8rem"}))
    blocking = forms.BooleanField(label=_("Blocking"), required=False, initial=True)
    stage = forms.ChoiceField(label=_("Stage"), required=False, choices=[("", "—"), *QCStage.choices])
    only_for_reprogramming = forms.ChoiceField(
        label=_("Only for lines reprogrammed with"), required=False,
        choices=[("", "—")] + [(v, label) for v, label in ReprogrammingMethod.choices if v],
    )

    def __init__(self, *args, tests=(), **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["test"].choices = [("", "—")] + [(t.code, f"{t.code} — {t.name}") for t in tests]


class BaseCriterionFormSet(forms.BaseFormSet):
    def __init__(self, *args, tests=(), **kwargs):
        self.tests = tests
        super().__init__(*args, **kwargs)

    def get_form_kwargs(self, index):
        return {**super().get_form_kwargs(index), "tests": self.tests}

    @property
    def empty_form(self):
        form = self.form(auto_id=self.auto_id, prefix=self.add_prefix("__prefix__"), empty_permitted=True,
                         use_required_attribute=False, tests=self.tests, renderer=self.renderer)
        self.add_fields(form, None)
        return form


CriterionFormSet = forms.formset_factory(CriterionForm, formset=BaseCriterionFormSet, extra=2, can_delete=True)


class PublishForm(forms.Form):
    notes = forms.CharField(label=_("What changed and why"), widget=forms.Textarea(attrs={"rows": 2}))


class QCTestForm(forms.Form):
    """QA adds a test to the catalog (issue 12)."""

    code = forms.CharField(label=_("Code"), max_length=40, help_text=_("Stable, lower case: e.g. cfu_count."),
                           widget=forms.TextInput(attrs={"class": "mono", "autocomplete": "off"}))
    name = forms.CharField(label=_("Name"), max_length=160)
    kind = forms.ChoiceField(label=_("Kind"), choices=TestKind.choices)
    unit = forms.CharField(label=_("Unit (numeric tests)"), max_length=30, required=False,
                           help_text=_("e.g. %, ×10^8 cells, EU/mL"))
    outcomes = forms.CharField(label=_("Outcomes (outcome tests)"), max_length=400, required=False,
                               help_text=_("Comma-separated, e.g. negative, positive"))
    typical_method = forms.CharField(label=_("Typical method"), max_length=200, required=False)
    stage = forms.ChoiceField(label=_("Stage"), required=False, choices=[("", "—"), *QCStage.choices],
                              help_text=_("Cord blood: when the test is usually done."))
