"""Bank-wide pages: dashboard, the header scan field, audit trails, notifications, errors (login and the
account pages: ``bank.account_views``)."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.http import Http404, HttpResponse
from django.shortcuts import redirect, render
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext as _
from django.views import csrf
from django.views.decorators.http import require_http_methods

from bank import coding
from bank import notifications as notes
from bank.api.errors import error_response, is_api_request
from bank.audit import audited_models, can_read_history, history_entries, object_history
from bank.barcodes import code128_svg
from bank.exports import exportable
from bank.models import Notification
from bank.registry import panels_for, resolve_scan
from bank.roles import ROLES, user_roles


@login_required
def dashboard(request):
    roles = [ROLES[r] for r in sorted(user_roles(request.user)) if r in ROLES]
    recent = Notification.objects.filter(recipient=request.user).order_by("-created_at", "-id")[:8]
    return render(
        request,
        "bank/dashboard.html",
        {"roles": roles, "panels": panels_for(request), "recent_notifications": recent},
    )


@login_required
def scan(request):
    """The header scan field: a scanner types a barcode and Enter; open what it names or say so."""
    code = (request.GET.get("code") or "").strip()
    if code:
        try:
            coding.identify(code)  # issue 15: a mistyped DIN or a malformed SEC is said so, never "not found"
        except coding.CodeError as exc:
            return render(request, "bank/scan.html", {"code": code, "code_error": str(exc)}, status=400)
        url = resolve_scan(code, request.user)
        if url and url_has_allowed_host_and_scheme(url, allowed_hosts={request.get_host()}):
            return redirect(url)
    status = 404 if code else 200
    return render(request, "bank/scan.html", {"code": code}, status=status)


@login_required
@exportable("bank.audit")  # CSV or XLSX of the whole trail (bank/audit_export.py); the PDF stays at export.pdf
def audit_page(request, object_type: str, object_id: int):
    models = audited_models()
    model = models.get(object_type.lower())
    if model is None:
        raise Http404(_("Unknown record type."))
    if not can_read_history(request.user, model):
        raise PermissionDenied
    history = object_history(model, object_id)
    page = Paginator(history, 50).get_page(request.GET.get("page"))
    current = model._default_manager.filter(pk=object_id).first()
    # A record seeded by a data migration (the bank's first MTA, the catalog's specifications) exists without a
    # history row: its page says so; only a record that never existed is a 404.
    if not page.object_list and page.number == 1 and current is None:
        raise Http404(_("No history for this record."))
    entries = history_entries(page.object_list)
    return render(
        request,
        "bank/audit.html",
        {
            "entries": entries,
            "page": page,
            "model_name": model._meta.verbose_name,
            "object_type": object_type,
            "object_id": object_id,
            "record": current,
        },
    )


@login_required
@require_http_methods(["GET", "POST"])
@exportable("bank.notifications")
def notifications(request):
    if request.method == "POST":
        notes.mark_read(request.user)
        return redirect("notifications")
    qs = Notification.objects.filter(recipient=request.user).order_by("-created_at", "-id")
    page = Paginator(qs, 50).get_page(request.GET.get("page"))
    return render(request, "bank/notifications.html", {"page": page})


@login_required
def barcode_svg(request, code: str):
    if not code or len(code) > 64 or not code.isascii() or not code.isprintable():
        raise Http404
    response = HttpResponse(code128_svg(code), content_type="image/svg+xml")
    response["Cache-Control"] = "private, max-age=86400"
    return response


def healthz(request):
    """Liveness for the container healthcheck: the database answers."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
    return HttpResponse("ok", content_type="text/plain")


def error_403(request, exception=None):
    return render(request, "403.html", status=403)


def error_404(request, exception=None):
    return render(request, "404.html", status=404)


def error_500(request):
    return render(request, "500.html", status=500)


def csrf_failure(request, reason=""):
    """CSRF_FAILURE_VIEW: the HTML page, or under /api/ what DRF's session authentication answers there."""
    if is_api_request(request):
        return error_response(403, _("CSRF Failed: %(reason)s") % {"reason": reason}, "permission_denied")
    return csrf.csrf_failure(request, reason=reason)
