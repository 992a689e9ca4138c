"""Deviations: numbering, opening (by hand or on an out-of-specification result), investigation and
QA's e-signed closure."""

from __future__ import annotations

import datetime

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from bank import sequences
from bank.audit import acting, save_changed
from bank.errors import Conflict
from bank.models import SignatureMeaning
from bank.notifications import notify_role
from bank.roles import QA
from bank.signatures import record_signature, verify_password
from lots.models import Lot
from qc.choices import DeviationStatus
from qc.models import Deviation, QCResult

from ._common import _link, _lock_lot, _require_meaning, _require_perm, _require_qa_signer, _today

# --- deviations ------------------------------------------------------------------------------------


def _next_deviation_number(today: datetime.date) -> str:
    """DEV-2026-0001: one sequence per year (``bank.sequences``), so two OOS results never share a number."""
    return f"DEV-{today.year}-{sequences.take_one(f'deviation:{today.year}'):04d}"


def _open_deviation(lot: Lot, *, actor, summary: str, result: QCResult | None = None) -> Deviation:
    deviation = Deviation.objects.create(
        number=_next_deviation_number(_today()), lot=lot, result=result, opened_by=actor, summary=summary[:300],
    )
    notify_role(
        QA,
        subject=_("Deviation %(number)s opened on lot %(lot)s") % {"number": deviation.number, "lot": lot.lot_number},
        body=summary, link=_link("qc:deviation", deviation.pk), level="warning",
    )
    return deviation


def open_collection_deviation(collection, *, actor, summary: str) -> dict:
    """A donor collection's transport fell outside its tissue's limits (issue 15): a deviation on the collection,
    and QA told. Receiver of donors' ``collection_deviation`` hook, inside donors' transaction."""
    deviation = Deviation.objects.create(number=_next_deviation_number(_today()), collection=collection,
                                         opened_by=actor, summary=(summary or "")[:300])
    notify_role(
        QA,
        subject=_("Deviation %(number)s opened on collection %(code)s") % {"number": deviation.number,
                                                                          "code": collection.code},
        body=summary, link=_link("qc:deviation", deviation.pk), level="warning",
    )
    return {"deviation": deviation.number}


def open_deviation(lot: Lot, *, actor, summary: str) -> Deviation:
    """Open a deviation by hand (a process event not tied to one result)."""
    _require_perm(actor, "qc.add_deviation")
    summary = (summary or "").strip()
    if not summary:
        raise ValidationError({"summary": [_("Describe what happened.")]})
    with transaction.atomic(), acting(actor, _("deviation opened")):
        locked = _lock_lot(lot)
        return _open_deviation(locked, actor=actor, summary=summary)


def update_deviation(deviation: Deviation, *, actor, investigation: str | None = None,
                     root_cause: str | None = None, capa: str | None = None) -> Deviation:
    """Record the investigation, root cause and CAPA of an open deviation."""
    _require_perm(actor, "qc.change_deviation")
    with transaction.atomic(), acting(actor, _("deviation investigation")):
        locked = Deviation.objects.select_for_update().get(pk=deviation.pk)
        if locked.status != DeviationStatus.OPEN:
            raise Conflict(_("Deviation %(number)s is closed and can no longer change.") % {"number": locked.number},
                           code="deviation_closed")
        given = {"investigation": investigation, "root_cause": root_cause, "capa": capa}
        save_changed(locked, {name: text for name, text in given.items() if text is not None})
    return locked


def close_deviation(deviation: Deviation, *, actor, password: str,
                    meaning: str = SignatureMeaning.CLOSURE) -> Deviation:
    """QA closes a deviation once investigation, root cause and CAPA are written, with an e-signature."""
    _require_qa_signer(actor, "qc.close_deviation")
    meaning = _require_meaning(meaning)
    verify_password(actor, password)
    with transaction.atomic(), acting(actor, _("deviation closed")):
        # of=self: a deviation on a collection has no lot (the join is outer, and FOR UPDATE may not lock its side).
        locked = Deviation.objects.select_for_update(of=("self",)).select_related("lot").get(pk=deviation.pk)
        if locked.status != DeviationStatus.OPEN:
            raise Conflict(_("Deviation %(number)s is already closed.") % {"number": locked.number},
                           code="deviation_closed")
        missing = [name for name in ("investigation", "root_cause", "capa") if not getattr(locked, name).strip()]
        if missing:
            raise Conflict(
                _("Write the %(fields)s of deviation %(number)s before closing it.")
                % {"fields": ", ".join(str(Deviation._meta.get_field(n).verbose_name) for n in missing),
                   "number": locked.number},
                code="deviation_incomplete", missing=missing,
            )
        locked.status = DeviationStatus.CLOSED
        locked.closed_at = timezone.now()
        locked.closed_by = actor
        locked.save(update_fields=["status", "closed_at", "closed_by"])
        record_signature(locked, signer=actor, meaning=meaning,
                         statement=_("Investigation, root cause and CAPA of %(number)s reviewed; deviation closed.")
                         % {"number": locked.number})
    return locked
