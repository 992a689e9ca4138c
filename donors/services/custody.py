"""A collection's chain of custody: the hand-overs from the collection site to the bank's receipt, each checked
against the tissue's transport limits (``transport_problems``, the one rule; outside them QA gets a deviation)."""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
from typing import Any

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from bank.audit import acting
from donors.models import Collection, CustodyHandover

from ._input import _as_datetime, _Errors, _text
from .collections import CLOCK_SKEW, open_transport_deviation, transport_problems


def record_handover(collection: Collection, *, actor, handed_by: str, received_by: str, at: Any, location: str,
                    temperature_c: Any = None, note: str = "") -> CustodyHandover:
    """Record one hand-over of the collection (who gave it, who took it, when, where, at what temperature).

    It happens between the collection and the bank's receipt. Outside the tissue's transport limits (time since
    collection, temperature) the hand-over is marked, the collection flagged and qc opens a deviation for QA.
    """
    errors = _Errors()
    cleaned = {}
    for name, label in (("handed_by", _("who handed it over")), ("received_by", _("who received it")),
                        ("location", _("where it was handed over"))):
        value = _text(locals()[name])
        if not value:
            errors.add(name, _("Enter %(what)s.") % {"what": label})
        elif len(value) > 200:
            errors.add(name, _("Keep it under %(n)s characters.") % {"n": 200})
        cleaned[name] = value
    when = _as_datetime(at, "at", errors)
    if when is not None:
        if when > timezone.now() + CLOCK_SKEW:
            errors.add("at", _("The hand-over cannot be in the future."))
        elif when < collection.collected_at:
            errors.add("at", _("The hand-over cannot be before the collection (%(at)s).") % {
                "at": f"{timezone.localtime(collection.collected_at):%Y-%m-%d %H:%M}"})
        elif when > collection.received_at:
            errors.add("at", _("The chain of custody ends at the bank's receipt (%(at)s): a hand-over after it "
                               "belongs to the bench records.") % {
                "at": f"{timezone.localtime(collection.received_at):%Y-%m-%d %H:%M}"})
    temperature = None
    if temperature_c not in (None, ""):
        try:
            temperature = Decimal(str(temperature_c)).quantize(Decimal("0.1"))
        except (InvalidOperation, ValueError):
            errors.add("temperature_c", _("Enter the temperature in °C, e.g. 4 or -80."))
        else:
            if not Decimal("-200") <= temperature <= Decimal("60"):
                errors.add("temperature_c", _("Enter a temperature from -200 to 60 °C."))
    note = _text(note)
    errors.raise_if_any()
    with transaction.atomic(), acting(actor, _("custody hand-over recorded")):
        locked = Collection.objects.select_for_update().get(pk=collection.pk)
        problems = transport_problems(locked.tissue, locked.collected_at, when, temperature)
        handover = CustodyHandover.objects.create(
            collection=locked, handed_by=cleaned["handed_by"], received_by=cleaned["received_by"], at=when,
            location=cleaned["location"], temperature_c=temperature, note=note, within_limits=not problems,
            limit_problem="; ".join(problems)[:300], recorded_by=actor)
        if problems:
            if not locked.transport_out_of_limits:
                locked.transport_out_of_limits = True
                locked.save(update_fields=["transport_out_of_limits"])
            open_transport_deviation(locked, actor=actor, summary=_(
                "Collection %(code)s (%(tissue)s): hand-over at %(location)s on %(at)s outside its transport "
                "limits: %(problems)s") % {"code": locked.code, "tissue": locked.get_tissue_display(),
                                            "location": handover.location,
                                            "at": f"{timezone.localtime(when):%Y-%m-%d %H:%M}",
                                            "problems": "; ".join(problems)})
    return handover
