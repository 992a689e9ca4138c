"""Job pages (issue 17): your recent jobs, and one job's progress bar (HTMX polling), result and download."""

from __future__ import annotations

from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.http import Http404
from django.shortcuts import render
from django.views.decorators.http import require_GET

from bank import jobs
from bank.exports import exportable
from bank.models import Job

JOBS_PER_PAGE = 25


def _job(request, pk: int) -> Job:
    job = jobs.visible_jobs(request.user).filter(pk=pk).first()
    if job is None:
        raise Http404
    return jobs.live(job)


@login_required
@require_GET
@exportable("bank.jobs")
def job_list(request):
    queryset, mine = jobs.listed_jobs(request.user, request.GET)
    page = Paginator(queryset, JOBS_PER_PAGE).get_page(request.GET.get("page"))
    page.object_list = jobs.live_many(list(page.object_list))
    return render(request, "bank/jobs.html", {"page": page, "mine": mine, "sees_all": jobs.sees_all_jobs(request.user)})


@login_required
@require_GET
def job_detail(request, pk: int):
    job = _job(request, pk)
    template = "bank/partials/job_progress.html" if request.htmx else "bank/job.html"
    return render(request, template, {"job": job, "poll_seconds": settings.JOB_POLL_SECONDS})


@login_required
@require_GET
def job_result(request, pk: int):
    job = _job(request, pk)
    if not job.result_file:
        raise Http404
    return jobs.result_response(job)
