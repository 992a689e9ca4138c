"""Migration imports: the one entry point the page, the API and the job share.

- ``reader.py``: CSV/XLSX rows streamed, the template's header checked.
- ``engine.py``: validate the whole file, then import it in one transaction, batch by batch; the report.
- ``cell_lines.py``, ``inventory.py``, ``cord_blood.py``: each kind's columns, validation and bulk writes.
- ``templates.py``: the downloadable templates (CSV and XLSX).

``start_import`` records the run (and QA's e-signature when the file brings lots in as released), then imports a
small file at once or hands a big one to the worker (``bank.jobs``); ``run_import_job`` is the job's runner.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.db import transaction
from django.urls import reverse
from django.utils.translation import gettext as _

from bank.errors import Forbidden
from bank.models import SignatureMeaning
from imports.choices import ImportKind, RunStatus
from imports.models import ImportRun
from imports.services import cell_lines, cord_blood, inventory
from imports.services.engine import Spec, execute
from imports.services.reader import FileRejected, RowReader, sha256_of

SPECS: dict[str, Spec] = {
    ImportKind.CELL_LINES: cell_lines.SPEC,
    ImportKind.INVENTORY: inventory.SPEC,
    ImportKind.CORD_BLOOD: cord_blood.SPEC,
}
JOB_KIND = "imports.run"
RELEASE_PERMISSION = "qc.release_lot"
SOURCE_MAX = 60


def spec_for(kind: str) -> Spec:
    try:
        return SPECS[kind]
    except KeyError:
        raise ValidationError({"kind": [_("Unknown import kind “%(kind)s”. Use one of: %(kinds)s.") % {
            "kind": kind, "kinds": ", ".join(SPECS)}]})


def may_import(user, kind: str) -> bool:
    return kind in SPECS and user.has_perm(SPECS[kind].permission)


def kinds_for(user) -> list[str]:
    return [kind for kind in SPECS if may_import(user, kind)]


def _other_kind(upload, kind: str) -> str | None:
    """The kind whose template ``upload``'s header fits, when it is not ``kind``'s."""
    for other, spec in SPECS.items():
        if other == kind:
            continue
        try:
            RowReader(upload, spec.columns).close()
        except FileRejected:
            continue
        return other
    return None


def _signer(username: str, password: str):
    """The QA officer who e-signs that the file's released lots were released in the legacy system (their password
    checked now, outside any transaction, so a failed attempt counts towards their lockout)."""
    from bank.signatures import verify_password

    user = get_user_model().objects.filter(username=username).first()
    if user is None or not user.has_perm(RELEASE_PERMISSION):
        raise Forbidden(_("%(user)s is not a QA officer who may sign releases.") % {"user": username},
                        code="signature_invalid")
    verify_password(user, password)
    return user


def start_import(kind: str, upload, *, actor, source: str, dry_run: bool = False, signer_username: str = "",
                 signer_password: str = "", sync: bool | None = None) -> tuple[ImportRun, dict[str, Any] | None]:
    """Import ``upload`` (an uploaded CSV or XLSX file) of ``kind`` from the legacy system ``source``.

    Returns ``(run, report)``: the report at once for a file up to ``IMPORTS_SYNC_MAX_BYTES`` (or ``sync=True``),
    else ``None`` and the run's job (``run.job``) does it in the worker. 403 when the user may not import this kind
    or the QA signature is refused; 400 for a missing file or source, or a file that is not this kind's template."""
    spec = spec_for(kind)
    if not actor.has_perm(spec.permission):
        raise Forbidden(_("You may not import %(kind)s.") % {"kind": str(spec.label).lower()},
                        code="import_not_allowed")
    errors: dict[str, list[str]] = {}
    source = (source or "").strip()
    if not source:
        errors["source"] = [_("Name the system the file comes from (e.g. the legacy LIMS); external IDs are kept "
                              "per source.")]
    elif len(source) > SOURCE_MAX:
        errors["source"] = [_("Keep the source name to %(n)d characters.") % {"n": SOURCE_MAX}]
    if upload is None:
        errors["file"] = [_("Choose the file to import (CSV or XLSX).")]
    if errors:
        raise ValidationError(errors)
    try:
        reader = RowReader(upload, spec.columns)  # a wrong template is refused at once, even for a big file
        reader.close()
    except FileRejected as exc:
        messages = [e["message"] for e in exc.errors]
        other = _other_kind(upload, kind)
        if other is not None:
            messages.insert(0, _("This file has the columns of the “%(label)s” template: choose that kind, or the "
                                 "right file.") % {"label": SPECS[other].label})
        raise ValidationError({"file": messages})
    signer = None
    if signer_username and not dry_run:
        signer = _signer(signer_username.strip(), signer_password or "")
    filename = (getattr(upload, "name", "") or "upload").rsplit("/", 1)[-1][:200]
    big = getattr(upload, "size", 0) > settings.IMPORTS_SYNC_MAX_BYTES
    background = (not sync) if sync is not None else big
    with transaction.atomic():
        run = ImportRun.objects.create(kind=kind, source=source, filename=filename, sha256=sha256_of(upload),
                                       dry_run=dry_run, user=actor, released_signed_by=signer,
                                       status=RunStatus.QUEUED)
        if signer is not None:
            from bank.signatures import record_signature

            record_signature(run, signer=signer, meaning=SignatureMeaning.RELEASE, statement=_(
                "I confirm that the lots this file (SHA-256 %(sha)s) marks released were tested and released in "
                "%(source)s under the release references it gives.") % {"sha": run.sha256, "source": source})
        if background:
            from bank.jobs import start_job

            title = _("Import of %(file)s (%(kind)s)") % {"file": filename, "kind": str(spec.label).lower()}
            run.job = start_job(JOB_KIND, user=actor, params={"run": run.pk}, title=title, input_file=upload)
            run.save(update_fields=["job"])
    if background:
        return run, None
    report = execute(spec, run, upload, actor=actor, signer=signer)
    return run, report


def run_import_job(job, progress) -> dict[str, Any]:
    """The job's runner (``bank.jobs``): import the job's file for its run; the bad rows are the job's result and
    its downloadable CSV. Run again after a worker died, it skips what it already imported."""
    from bank.jobs import JobFailed

    run = ImportRun.objects.select_related("released_signed_by").get(pk=job.params["run"])
    spec = spec_for(run.kind)
    report = execute(spec, run, job.input_file, actor=job.user, signer=run.released_signed_by, progress=progress)
    if run.errors_file:
        with run.errors_file.open("rb") as handle:
            progress.attach(f"import-{run.pk}-errors.csv", iter(lambda: handle.read(1 << 16), b""), "text/csv")
    progress.update(progress.done, message=_("Import #%(run)s: %(status)s") % {
        "run": run.pk, "status": RunStatus(report["status"]).label}, force=True)
    summary = {k: report[k] for k in ("run", "status", "rows", "created", "skipped", "bad_rows", "error_count",
                                      "dry_run")}
    summary["errors"] = report["errors"][:200]
    summary["link"] = {"url": reverse("imports:run", args=[run.pk]), "label": str(_("Open the import report"))}
    if report["status"] == RunStatus.REJECTED:
        raise JobFailed(_("%(n)s rows of %(file)s are bad: nothing was imported. Download the list of bad rows, "
                          "correct them and import the file again.") % {"n": report["bad_rows"],
                                                                         "file": run.filename}, result=summary)
    return summary
