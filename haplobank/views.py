"""Pages of the haplobank app: the bank's coverage of a population (with its curve), the populations and their
tables, planning (a planned set and the next best haplotypes, the recruitment list) and the patient match search.

Views check the role (``queries.may_*``), read a form, call one service or query and render; refusals land on the
form or become the page's empty state, never a 500. QA, coordinators and admins read coverage and planning and keep
the tables; the recruitment list is the coordinators' (and admins'); researchers search for a match and see what the
search gives them (lines whose donors consented to data sharing).
"""

from __future__ import annotations

from dataclasses import asdict
from functools import wraps

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.paginator import Paginator
from django.http import Http404
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.http import urlencode
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_http_methods, require_POST

from bank.errors import DomainError
from bank.exports import exportable
from bank.web import apply_validation_error, call_service
from donors.choices import DonorType
from haplobank import charts, forms, matching, queries, services
from haplobank.choices import CoverageDefinition
from lots.choices import CellType

PER_LINE_PAGE = 50
CELL_TYPES = dict(CellType.choices)
DONOR_TYPES = dict(DonorType.choices)
SHORT_DEFINITIONS = {CoverageDefinition.HAPLOTYPE: gettext_lazy("haplotype"),
                     CoverageDefinition.GENOTYPE: gettext_lazy("genotype")}


def role_required(check):
    """Login, then ``check(user)`` (one of ``queries.may_*``); otherwise the 403 page."""

    def decorator(view):
        @login_required
        @wraps(view)
        def wrapper(request, *args, **kwargs):
            if not check(request.user):
                raise PermissionDenied
            return view(request, *args, **kwargs)

        return wrapper

    return decorator


def _base(request, tab: str) -> dict:
    user = request.user
    return {"tab": tab, "may_manage": queries.may_manage(user), "may_match": queries.may_match(user),
            "may_recruit": queries.may_see_recruitment(user), "link_lines": user.has_perm("lots.view_cellline")}


def _population(pk: int):
    population = queries.populations().filter(pk=pk).first()
    if population is None:
        raise Http404(_("No such population."))
    return population


def _definition_label(definition: str) -> str:
    return str(CoverageDefinition(definition).label) if definition in CoverageDefinition.values else definition


# --- coverage ---------------------------------------------------------------------------------------------------


@role_required(queries.may_manage)
@exportable("haplobank.coverage")
def coverage(request):
    population_list = list(queries.populations())
    form = forms.CoverageForm(request.GET or None, populations=population_list)
    population, definition, result, refusal = None, CoverageDefinition.HAPLOTYPE, None, None
    if form.is_bound and form.is_valid():
        population, definition = form.cleaned_data["population"], form.cleaned_data["definition"]
    elif not form.is_bound and population_list:
        population = population_list[0]
        form = forms.CoverageForm(initial={"population": population.pk, "definition": definition},
                                  populations=population_list)
    if population is not None:
        try:
            result = queries.coverage(population, definition)
        except DomainError as exc:  # no table (or cohort) yet: the page says what to upload
            refusal = exc
    context = {**_base(request, "coverage"), "form": form, "populations": population_list, "population": population,
               "definition": definition, "definition_label": _definition_label(definition), "result": result,
               "refusal": refusal}
    if result is not None:
        # The page's rows only (a national bank has tens of thousands of homozygous units).
        page = Paginator(range(len(result.per_line)), PER_LINE_PAGE).get_page(request.GET.get("page"))
        page.object_list = [
            {"line": line, "cumulative": point["coverage_pct"], "rank": point["lines"],
             "type_label": CELL_TYPES.get(line.cell_type, line.cell_type)}
            for line, point in ((result.per_line[i], result.curve[i]) for i in page.object_list)]
        query = request.GET.copy()
        query.pop("page", None)
        context.update(page=page, query=query.urlencode(), chart=charts.coverage_curve(
            result.curve, population=population.name, definition=str(SHORT_DEFINITIONS.get(definition, definition))))
    return render(request, "haplobank/coverage.html", context, status=400 if form.errors else 200)


# --- populations and their tables -------------------------------------------------------------------------------


@role_required(queries.may_manage)
@require_http_methods(["GET", "POST"])
@exportable("haplobank.populations")
def populations(request):
    form = forms.PopulationForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        population, ok = call_service(request, form, services.create_population, actor=request.user,
                                      **form.cleaned_data)
        if ok:
            messages.success(request, _("Population %(name)s registered. Upload its haplotype table next.") % {
                "name": population.name})
            return redirect("haplobank:population", population.pk)
    population_list = list(queries.populations())
    summaries = queries.table_summaries(population_list)
    rows = [{"population": p, "summary": summaries[p.pk]} for p in population_list]
    return render(request, "haplobank/populations.html", {**_base(request, "populations"), "form": form,
                                                          "rows": rows},
                  status=400 if request.method == "POST" else 200)


HAPLOTYPE_EXAMPLE = "A*24:02~B*52:01~DRB1*15:02,0.085\nA*33:03~B*58:01~DRB1*03:01,0.042"
GENOTYPE_EXAMPLE = "A*24:02,A*02:01,B*52:01,B*07:02,DRB1*15:02,DRB1*04:05"


def _table_forms(data=None, files=None, kind: str | None = None) -> dict:
    """The two upload forms of a population's page; ``kind`` names the one that was posted."""
    return {
        "haplotype_form": forms.TableForm(data if kind == "haplotypes" else None,
                                          files if kind == "haplotypes" else None,
                                          prefix="haplotypes", example=HAPLOTYPE_EXAMPLE),
        "genotype_form": forms.TableForm(data if kind == "genotypes" else None,
                                         files if kind == "genotypes" else None,
                                         prefix="genotypes", example=GENOTYPE_EXAMPLE),
    }


def _population_page(request, population, table_forms: dict, status: int = 200):
    summary = queries.table_summaries([population])[population.pk]
    return render(request, "haplobank/population.html", {
        **_base(request, "populations"), "population": population, "summary": summary, **table_forms,
        "haplotype_example": HAPLOTYPE_EXAMPLE, "genotype_example": GENOTYPE_EXAMPLE}, status=status)


@role_required(queries.may_manage)
def population(request, pk: int):
    return _population_page(request, _population(pk), _table_forms())


def _upload(request, pk: int, kind: str, service, done: str):
    target = _population(pk)
    table_forms = _table_forms(request.POST, request.FILES, kind)
    form = table_forms["haplotype_form" if kind == "haplotypes" else "genotype_form"]
    if form.is_valid():
        try:
            stored = service(target, form.cleaned_data["text"], actor=request.user)
        except services.TableRefused as exc:  # every bad line listed; nothing stored
            form.add_refusal(exc)
        except DomainError as exc:
            form.add_error(None, exc.detail)
        except ValidationError as exc:
            apply_validation_error(form, exc)
        else:
            messages.success(request, done % {"population": stored.name, "version": (
                stored.haplotype_version if kind == "haplotypes" else stored.genotype_version)})
            return redirect("haplobank:population", stored.pk)
    return _population_page(request, target, table_forms, status=400)


@role_required(queries.may_manage)
@require_POST
def upload_haplotypes(request, pk: int):
    return _upload(request, pk, "haplotypes", services.replace_haplotypes,
                   _("The haplotype table of %(population)s is replaced: version %(version)s is in force."))


@role_required(queries.may_manage)
@require_POST
def upload_genotypes(request, pk: int):
    return _upload(request, pk, "genotypes", services.replace_genotypes,
                   _("The typed cohort of %(population)s is replaced: version %(version)s is in force."))


# --- planning ---------------------------------------------------------------------------------------------------


@role_required(queries.may_manage)
def planning(request):
    population_list = list(queries.populations())
    form = forms.PlanningForm(request.GET or None, populations=population_list)
    population, result, refusal = None, None, None
    definition, planned, include_bank = CoverageDefinition.HAPLOTYPE, [], True
    if form.is_bound and form.is_valid():
        population, definition = form.cleaned_data["population"], form.cleaned_data["definition"]
        include_bank = form.cleaned_data["include_bank"]
        try:
            planned = queries.clean_haplotypes(form.cleaned_data["haplotypes"], population.resolution)
        except ValidationError as exc:
            apply_validation_error(form, exc)
            population = None
    elif not form.is_bound and population_list:
        population = population_list[0]
        form = forms.PlanningForm(initial={"population": population.pk, "definition": definition,
                                           "include_bank": True}, populations=population_list)
    if population is not None:
        try:
            result = queries.simulate(population, planned, include_bank=include_bank, definition=definition)
        except DomainError as exc:
            refusal = exc
    context = {**_base(request, "planning"), "form": form, "populations": population_list,
               "population": population, "definition": definition, "result": result, "refusal": refusal,
               "include_bank": include_bank}
    if result is not None:
        base = reverse("haplobank:recruitment") if context["may_recruit"] else None
        context["next_best"] = [
            {"candidate": c,
             "recruit_url": base and base + "?" + urlencode({"population": population.pk, "haplotype": c.haplotype})}
            for c in result.next_best]
    return render(request, "haplobank/planning.html", context, status=400 if form.errors else 200)


@role_required(queries.may_see_recruitment)
@exportable("haplobank.recruitment")
def recruitment(request):
    form = forms.RecruitmentForm(request.GET)
    if not form.is_valid():
        return render(request, "haplobank/recruitment.html", {**_base(request, "planning"), "form": form},
                      status=400)
    population = _population(form.cleaned_data["population"])
    try:
        haplotype = queries.clean_haplotype(form.cleaned_data["haplotype"], population.resolution)
    except ValueError as exc:
        form.add_error("haplotype", str(exc))
        return render(request, "haplobank/recruitment.html", {**_base(request, "planning"), "form": form,
                                                              "population": population}, status=400)
    donors = [{**asdict(recruit), "donor_type_label": DONOR_TYPES.get(recruit.donor_type, recruit.donor_type)}
              for recruit in queries.recruitment_list(population, haplotype)]
    return render(request, "haplobank/recruitment.html", {
        **_base(request, "planning"), "form": form, "population": population, "haplotype": haplotype,
        "donors": donors, "limited": len(donors) >= queries.RECRUITMENT_LIMIT, "limit": queries.RECRUITMENT_LIMIT,
        "planning_url": reverse("haplobank:planning") + "?" + urlencode({"population": population.pk,
                                                                          "include_bank": "on"})})


# --- match search -----------------------------------------------------------------------------------------------


@role_required(queries.may_match)
@require_http_methods(["GET", "POST"])
def match(request):
    form = forms.MatchForm(request.POST or None)
    results = None
    if request.method == "POST" and form.is_valid():
        try:
            patient = matching.clean_patient(form.typing())
        except ValidationError as exc:
            form.add_patient_errors(exc)
        else:
            results = matching.match_lines(patient, user=request.user, limit=form.cleaned_data["limit"])
    elif form.errors:
        form.focus_first_error()
    return render(request, "haplobank/match.html", {
        **_base(request, "match"), "form": form, "results": results,
        "every_line": queries.sees_every_line(request.user)},
        status=400 if form.errors else 200)
