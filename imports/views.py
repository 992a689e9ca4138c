"""Import pages: choose the kind and the file (dry run first), see the report, download templates and bad rows,
and the history of imports. Views check the role, parse the form, call ``imports.services`` and render."""

from __future__ import annotations

from django.core.paginator import Paginator
from django.http import FileResponse, Http404, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils.translation import gettext_lazy as _
from django.views.decorators.http import require_http_methods

from bank.exports import exportable
from bank.web import call_service, perms_required
from imports import services
from imports.choices import ImportKind
from imports.forms import ImportForm
from imports.queries import visible_runs
from imports.services.templates import template_csv, template_xlsx

VIEW = "imports.view_importrun"
ERRORS_PER_PAGE = 100
RUNS_PER_PAGE = 25
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
# The report's counts (``created``) in words.
CREATED_LABELS = {"cell_lines": _("Cell lines"), "lots": _("Lots"), "vials": _("Vials"),
                  "cord_blood_units": _("Cord blood units"), "hla_typings": _("HLA typings"), "mothers": _("Mothers")}


@perms_required(VIEW)
@require_http_methods(["GET", "POST"])
@exportable("imports.runs")
def index(request):
    kinds = services.kinds_for(request.user)
    form = ImportForm(request.POST or None, request.FILES or None, kinds=kinds,
                      initial={"kind": request.GET.get("kind") or (kinds[0] if kinds else "")})
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        result, ok = call_service(
            request, form, services.start_import, data["kind"], data["file"], actor=request.user,
            source=data["source"], dry_run=data["dry_run"], signer_username=data["signer_username"],
            signer_password=data["signer_password"])
        if ok:
            run, report = result
            if report is None:
                return redirect(reverse("job", args=[run.job_id]))
            return redirect("imports:run", pk=run.pk)
    page = Paginator(visible_runs(request.user), RUNS_PER_PAGE).get_page(request.GET.get("page"))
    specs = [(kind, services.SPECS[kind]) for kind in kinds]
    return render(request, "imports/index.html", {"form": form, "page": page, "specs": specs,
                                                  "kind_labels": dict(ImportKind.choices)})


@perms_required(VIEW)
def run_detail(request, pk: int):
    run = get_object_or_404(visible_runs(request.user), pk=pk)
    errors = (run.report or {}).get("errors", [])
    page = Paginator(errors, ERRORS_PER_PAGE).get_page(request.GET.get("page"))
    created = [] if run.status == "rejected" else [
        (CREATED_LABELS.get(key, key), n) for key, n in (run.report or {}).get("created", {}).items()]
    return render(request, "imports/run.html", {"run": run, "page": page, "created": created,
                                                "report": run.report or {}})


@perms_required(VIEW)
def run_errors(request, pk: int):
    run = get_object_or_404(visible_runs(request.user), pk=pk)
    if not run.errors_file:
        raise Http404
    return FileResponse(run.errors_file.open("rb"), as_attachment=True, filename=f"import-{run.pk}-errors.csv",
                        content_type="text/csv; charset=utf-8")


@perms_required(VIEW)
def template(request, kind: str, fmt: str):
    if kind not in services.SPECS or fmt not in ("csv", "xlsx"):
        raise Http404
    spec = services.SPECS[kind]
    if fmt == "csv":
        response = HttpResponse(template_csv(spec), content_type="text/csv; charset=utf-8")
    else:
        response = HttpResponse(template_xlsx(spec), content_type=XLSX)
    response["Content-Disposition"] = f'attachment; filename="stembank-{kind}-template.{fmt}"'
    return response
