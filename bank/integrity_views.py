"""Pages of Part 11 integrity (issue 11): the audit area (exports for inspectors) and the audit chain's integrity.

``/audit/`` — export the trail of a date range across the bank, or of one record, as CSV or PDF (staff with
``bank.view_audit_trail``; each record type only if the reader may read its trail). ``/audit/integrity/`` —
the chain's state and a verification on demand (QA and admins: ``bank.view_auditcheckpoint``).
"""

from __future__ import annotations

from django import forms
from django.core.exceptions import ValidationError
from django.http import Http404, HttpResponse
from django.shortcuts import render
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_http_methods

from bank import audit_chain, audit_export
from bank.audit import audited_models, can_read_history
from bank.exports import stream_csv
from bank.web import apply_validation_error, perms_required

INTEGRITY_PERMISSION = "bank.view_auditcheckpoint"
# Above this many links a full verification is left to `manage.py verify_audit` (a page must answer in seconds).
PAGE_FULL_VERIFY_LIMIT = 1_000_000


class ExportForm(forms.Form):
    """The audit area's export form: a date range across the bank (or one record type), or one record."""

    object_type = forms.ChoiceField(label=gettext_lazy("Record type"), required=False)
    object_id = forms.CharField(label=gettext_lazy("Record id"), required=False, max_length=18)
    date_from = forms.CharField(label=gettext_lazy("From"), required=False, max_length=10,
                                widget=forms.DateInput(attrs={"type": "date"}))
    date_to = forms.CharField(label=gettext_lazy("To (inclusive)"), required=False, max_length=10,
                              widget=forms.DateInput(attrs={"type": "date"}))

    def __init__(self, *args, user, **kwargs):
        super().__init__(*args, **kwargs)
        readable = sorted(name for name, model in audited_models().items() if can_read_history(user, model))
        self.fields["object_type"].choices = [("", _("every record type you may read"))] + [(n, n) for n in readable]


def _params(data) -> dict:
    return {"object_type": data.get("object_type", ""), "object_id": data.get("object_id", ""),
            "from": data.get("from") or data.get("date_from", ""), "to": data.get("to") or data.get("date_to", "")}


def export_response(scope, user, fmt: str):
    """The download: a streamed CSV, or the PDF."""
    if fmt == "pdf":
        response = HttpResponse(audit_export.audit_pdf(scope, user), content_type="application/pdf")
        response["Content-Disposition"] = f'attachment; filename="{scope.filename("pdf")}"'
        return response
    return stream_csv(scope.filename("csv"), audit_export.csv_header(),
                      audit_export.csv_rows(audit_export.export_entries(scope)), bom=True)


@perms_required("bank.view_audit_trail")
def audit_index(request):
    """The audit area: export form (a download when ``format`` is csv or pdf) and, for QA and admins, the chain."""
    user = request.user
    fmt = request.GET.get("format", "")
    form = ExportForm(request.GET or None, user=user)
    if fmt in ("csv", "pdf") and form.is_valid():
        # parse_scope is the one check (the API uses it too); the form only shows its errors.
        try:
            scope = audit_export.parse_scope(_params(request.GET), user)
            return export_response(scope, user, fmt)
        except ValidationError as exc:
            if hasattr(exc, "error_dict"):
                exc = ValidationError({{"from": "date_from", "to": "date_to"}.get(k, k): v
                                       for k, v in exc.error_dict.items()})
            apply_validation_error(form, exc)
    status = audit_chain.chain_status() if user.has_perm(INTEGRITY_PERMISSION) else None
    return render(request, "bank/audit_index.html", {"form": form, "chain": status},
                  status=400 if form.errors else 200)


@perms_required("bank.view_audit_trail")
def audit_record_export(request, object_type: str, object_id: int, fmt: str):
    """``/audit/<type>/<id>/export.csv|pdf``: the trail of one record (linked from its audit trail page)."""
    try:
        scope = audit_export.parse_scope({"object_type": object_type, "object_id": str(object_id)}, request.user)
    except ValidationError:
        raise Http404(_("Unknown record type."))
    return export_response(scope, request.user, fmt)


@perms_required(INTEGRITY_PERMISSION)
@require_http_methods(["GET", "POST"])
def integrity(request):
    """The audit chain: its head, pending links, checkpoints, and a verification on demand (POST)."""
    status = audit_chain.chain_status()
    result = None
    if request.method == "POST" and status.get("supported"):
        mode = request.POST.get("mode", "incremental")
        if mode == "full" and status["last_link_id"] > PAGE_FULL_VERIFY_LIMIT:
            mode = "incremental"
        audit_chain.seal()
        result = audit_chain.verify(since_checkpoint=(mode != "full"))
        status = audit_chain.chain_status()
    elif request.method == "POST":
        result = audit_chain.verify()  # supported=False: says so
    return render(request, "bank/audit_integrity.html", {
        "chain": status, "result": result, "full_limit": PAGE_FULL_VERIFY_LIMIT,
        "full_allowed": status.get("supported") and status["last_link_id"] <= PAGE_FULL_VERIFY_LIMIT,
    })


def audit_panel_context(request) -> dict | None:
    """Dashboard card of the audit area; the chain's state for QA and admins (four index reads)."""
    user = request.user
    return {"chain": audit_chain.chain_status() if user.has_perm(INTEGRITY_PERMISSION) else None}
