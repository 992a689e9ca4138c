"""The haplobank's list exports (issue 17): each line's contribution to the coverage, the populations, and a
haplotype's donors to recruit (codes only, never who they are), with the choices of their pages
(``bank.exports``) and the haplobank's own role checks."""

from __future__ import annotations

from dataclasses import asdict

from django.core.exceptions import ValidationError
from django.utils.translation import gettext_lazy as _

from bank.exports import Column, person, register_export
from donors.choices import DonorType
from haplobank import forms, queries
from haplobank.choices import CoverageDefinition
from lots.choices import CellType


def coverage_choice(params, population_list) -> tuple:
    """The coverage page's population and definition (the first population by default)."""
    form = forms.CoverageForm(params or None, populations=population_list)
    if form.is_bound:
        if not form.is_valid():
            raise ValidationError(form.errors)
        return form.cleaned_data["population"], form.cleaned_data["definition"]
    return (population_list[0] if population_list else None), CoverageDefinition.HAPLOTYPE


COVERAGE_COLUMNS = [
    Column("#", "rank"),
    Column(_("Line"), "line.name"),
    Column(_("Type"), "type_label"),
    Column(_("Haplotype"), "line.haplotype"),
    Column(_("Gain (%)"), "line.gain_pct"),
    Column(_("Cumulative (%)"), "cumulative"),
]


@register_export("haplobank.coverage", url="haplobank:coverage", allowed=queries.may_manage,
                 title=_("Coverage by line"), filename="haplobank-coverage")
def coverage(user, params):
    population, definition = coverage_choice(params, list(queries.populations()))
    if population is None:
        return [], COVERAGE_COLUMNS
    result = queries.coverage(population, definition)  # a DomainError when no table is uploaded yet
    types = dict(CellType.choices)
    rows = [{"line": line, "cumulative": point["coverage_pct"], "rank": point["lines"],
             "type_label": types.get(line.cell_type, line.cell_type)}
            for line, point in zip(result.per_line, result.curve, strict=True)]
    return rows, COVERAGE_COLUMNS


POPULATION_COLUMNS = [
    Column(_("Name"), "population.name"),
    Column(_("Resolution"), "population.get_resolution_display"),
    Column(_("Source"), "population.source"),
    Column(_("Haplotypes"), "summary.haplotypes"),
    Column(_("Sum of frequencies"), "summary.frequency_total"),
    Column(_("Cohort (people)"), "summary.cohort_size"),
    Column(_("Registered"), "population.created_at"),
    Column(_("Registered by"), lambda r: person(r["population"].created_by)),
]


@register_export("haplobank.populations", url="haplobank:populations", allowed=queries.may_manage,
                 title=_("Populations"), filename="haplobank-populations")
def populations(user, params):
    population_list = list(queries.populations())
    summaries = queries.table_summaries(population_list)
    return [{"population": p, "summary": summaries[p.pk]} for p in population_list], POPULATION_COLUMNS


RECRUIT_COLUMNS = [
    Column(_("Donor"), "code"),
    Column(_("Donor type"), lambda r: dict(DonorType.choices).get(r["donor_type"], r["donor_type"])),
    Column(_("Population"), "population"),
    Column(_("May recontact"), "may_recontact"),
    Column(_("Banked"), "banked"),
]


@register_export("haplobank.recruitment", url="haplobank:recruitment", allowed=queries.may_see_recruitment,
                 title=_("Donors to recruit"), filename="haplobank-recruitment")
def recruitment(user, params):
    form = forms.RecruitmentForm(params)
    if not form.is_valid():
        raise ValidationError(form.errors)
    population = queries.populations().filter(pk=form.cleaned_data["population"]).first()
    if population is None:
        raise ValidationError({"population": [_("No such population.")]})
    try:
        haplotype = queries.clean_haplotype(form.cleaned_data["haplotype"], population.resolution)
    except ValueError as exc:
        raise ValidationError({"haplotype": [str(exc)]}) from None
    return [asdict(r) for r in queries.recruitment_list(population, haplotype)], RECRUIT_COLUMNS
