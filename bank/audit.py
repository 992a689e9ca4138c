"""The audit trail (21 CFR 11.10(e)): who changed what, when and why, for every record.

Every model carries ``history = audit_history()`` (django-simple-history). The acting user is
taken, in order, from the service's ``acting(actor, reason)`` context (tasks, commands and
services), then from the web/API request. On PostgreSQL, triggers installed after each migrate
make every historical table append-only, so no page, endpoint or stray script can rewrite history.
"""

from __future__ import annotations

import contextlib
import contextvars
import functools
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from django.apps import apps
from django.db import connection
from simple_history.models import HistoricalRecords
from simple_history.utils import bulk_create_with_history

PROJECT_APPS = ("bank", "donors", "lots", "storage", "qc", "distribution", "cordblood", "transplant", "haplobank",
                "quality", "imports", "labels")


@dataclass(frozen=True)
class _Acting:
    actor: Any
    reason: str


_acting: contextvars.ContextVar[_Acting | None] = contextvars.ContextVar("stembank_acting", default=None)


@contextlib.contextmanager
def acting(actor, reason: str = "") -> Iterator[None]:
    """Record ``actor`` (and ``reason``) on every history row written inside the block.

    An inner block inherits the outer reason when it gives none.
    """
    outer = _acting.get()
    if not reason and outer is not None and outer.actor == actor:
        reason = outer.reason
    token = _acting.set(_Acting(actor, reason or ""))
    try:
        yield
    finally:
        _acting.reset(token)


def current_actor():
    state = _acting.get()
    return state.actor if state else None


def current_reason() -> str:
    state = _acting.get()
    return state.reason if state else ""


def _get_history_user(instance=None, request=None, **kwargs):
    actor = current_actor()
    if actor is not None and getattr(actor, "pk", None):
        return actor
    try:
        user = request.user
    except AttributeError:
        return None
    return user if getattr(user, "is_authenticated", False) else None


def audit_history(**kwargs) -> HistoricalRecords:
    """The HistoricalRecords every StemBank model uses (acting user and reason wired in)."""
    kwargs.setdefault("get_user", _get_history_user)
    kwargs.setdefault("cascade_delete_history", False)
    return HistoricalRecords(**kwargs)


def stamp_reason(sender, instance, history_instance, **kwargs) -> None:
    """pre_create_historical_record receiver: a reason given to ``acting`` lands on the row."""
    if not history_instance.history_change_reason:
        reason = current_reason()
        if reason:
            history_instance.history_change_reason = reason[:100]


def bulk_create_audited(model, objs: list, batch_size: int = 1000) -> list:
    """bulk_create with one history row per object, stamped with the current actor and reason."""
    return bulk_create_with_history(
        objs,
        model,
        batch_size=batch_size,
        default_user=current_actor(),
        default_change_reason=current_reason()[:100] or None,
    )


def save_changed(instance, values: dict[str, Any]) -> list[str]:
    """Set the ``values`` that differ from ``instance``'s and save only those: one history row naming what
    changed, or none when nothing did. Returns the changed field names."""
    changed = [name for name, value in values.items() if getattr(instance, name) != value]
    for name in changed:
        setattr(instance, name, values[name])
    if changed:
        instance.save(update_fields=changed)
    return changed


def audited_models() -> dict[str, type]:
    """``{"donor": Donor, "lot": Lot, ...}``: every project model that keeps a history (read once: the models do
    not change while the process runs; the dashboard's audit panel asks on every request)."""
    return dict(_audited_models())


@functools.cache
def _audited_models() -> dict[str, type]:
    found: dict[str, type] = {}
    for app_label in PROJECT_APPS + ("auth",):
        try:
            config = apps.get_app_config(app_label)
        except LookupError:
            continue
        for model in config.get_models():
            if hasattr(model, "history") and not model.__name__.startswith("Historical"):
                found[model._meta.model_name] = model
    return found


ACTIONS = {"+": "created", "~": "updated", "-": "deleted"}


def _display(value) -> Any:
    if value is None or isinstance(value, bool | int | float | str):
        return value
    return str(value)


def _masked(value) -> Any:
    """A value of an ``AUDIT_MASKED_FIELDS`` column (a ciphertext): the trail says that it changed, not what it
    holds (issue 11, privacy: donors.DonorIdentity)."""
    from django.utils.translation import gettext

    return value if value in (None, "") else gettext("(encrypted)")


def history_entries(records: Iterable) -> list[dict[str, Any]]:
    """Turn historical rows into audit entries with their field changes, in the order given.

    ``changes`` maps each changed field to ``[old, new]``; a creation lists every set field with old
    None. The previous version of every row is fetched in one query, so a page costs two queries.
    """
    from django.db.models import OuterRef, Subquery

    records = list(records)
    if not records:
        return []
    history_model = type(records[0])
    pk_name = history_model.instance_type._meta.pk.attname
    previous_ids = (
        history_model.objects.filter(
            **{pk_name: OuterRef(pk_name)}, history_id__lt=OuterRef("history_id")
        )
        .order_by("-history_id")
        .values("history_id")[:1]
    )
    ids = [r.history_id for r in records]
    prev_of = dict(
        history_model.objects.filter(history_id__in=ids)
        .annotate(prev=Subquery(previous_ids))
        .values_list("history_id", "prev")
    )
    wanted = [v for v in prev_of.values() if v]
    previous = {p.history_id: p for p in history_model.objects.filter(history_id__in=wanted)}
    hidden = set(getattr(history_model.instance_type, "AUDIT_HIDDEN_FIELDS", ()))
    masked = set(getattr(history_model.instance_type, "AUDIT_MASKED_FIELDS", ()))
    fields = [f for f in history_model.instance_type._meta.concrete_fields if f.name not in hidden]
    entries = []
    for record in records:
        before = previous.get(prev_of.get(record.history_id))
        changes: dict[str, list] = {}
        for field in fields:
            new = getattr(record, field.attname, None)
            if before is None:
                if new not in (None, ""):
                    changes[field.name] = [None, _display(new)]
            else:
                old = getattr(before, field.attname, None)
                if old != new:
                    changes[field.name] = [_display(old), _display(new)]
        for name in masked & changes.keys():
            changes[name] = [_masked(value) for value in changes[name]]
        user = record.history_user
        entries.append(
            {
                "id": record.history_id,
                "object_id": getattr(record, pk_name),
                "at": record.history_date,
                "user": user.get_username() if user else None,
                "user_display": (user.get_full_name() or user.get_username()) if user else None,
                "action": ACTIONS.get(record.history_type, record.history_type),
                "changes": changes,
                "reason": record.history_change_reason or "",
            }
        )
    return entries


def object_history(model, object_id=None):
    """Historical rows of one record (or of every record of ``model``), newest first, with users."""
    qs = model.history.model.objects.select_related("history_user").order_by("-history_date", "-history_id")
    if object_id is not None:
        qs = qs.filter(**{model._meta.pk.attname: object_id})
    return qs


def can_read_history(user, model) -> bool:
    """Staff with the audit permission who may also view the model itself."""
    opts = model._meta
    return user.has_perm("bank.view_audit_trail") and user.has_perm(f"{opts.app_label}.view_{opts.model_name}")


# --- Append-only history on PostgreSQL -------------------------------------------------------

_TRIGGER_FUNCTION = """
CREATE OR REPLACE FUNCTION stembank_history_is_append_only() RETURNS trigger AS $$
BEGIN
    RAISE EXCEPTION 'audit history is append-only (% on %)', TG_OP, TG_TABLE_NAME
        USING ERRCODE = 'insufficient_privilege';
END;
$$ LANGUAGE plpgsql;
"""


def install_append_only_triggers(**kwargs) -> None:
    """post_migrate receiver: forbid UPDATE and DELETE on every historical table (PostgreSQL)."""
    using = kwargs.get("using", "default")
    from django.db import connections

    conn = connections[using] if using else connection
    if conn.vendor != "postgresql":
        return
    tables = set(conn.introspection.table_names())
    history_tables = sorted(
        model.history.model._meta.db_table
        for model in audited_models().values()
        if model.history.model._meta.db_table in tables
    )
    with conn.cursor() as cursor:
        cursor.execute(_TRIGGER_FUNCTION)
        for table in history_tables:
            name = f"{table}_append_only"[:63]
            cursor.execute(f'DROP TRIGGER IF EXISTS "{name}" ON "{table}"')
            cursor.execute(
                f'CREATE TRIGGER "{name}" BEFORE UPDATE OR DELETE ON "{table}" '
                "FOR EACH ROW EXECUTE FUNCTION stembank_history_is_append_only()"
            )
