"""Which sensor accounts may post readings for which unit (``SensorBinding``).

A sensor posts for the units it is bound to and no other: a compromised or misconfigured sensor cannot fake an
excursion in another tank or mask a dead one with made-up readings. Admins bind them (and may always post
themselves); every change is kept in the bindings' history and as an account change of each sensor concerned.
"""

from __future__ import annotations

from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils.translation import gettext as _

from bank.audit import acting
from bank.errors import Forbidden
from bank.models import AccountChange
from bank.roles import is_sensor_account
from storage.models import SensorBinding, StorageUnit


def check_sensor_bound(unit: StorageUnit, actor) -> None:
    """A sensor account may post for ``unit`` only when bound to it (403 ``sensor_not_bound``); others are judged
    by their role's permission."""
    if actor is None or not is_sensor_account(actor):
        return
    if not SensorBinding.objects.filter(unit_id=unit.pk, sensor_id=actor.pk).exists():
        raise Forbidden(
            _("The sensor %(sensor)s is not bound to %(unit)s, so it may not post readings for it. An admin binds "
              "sensors to units (PUT /api/v1/storage/units/{id}/sensors/).") % {
                "sensor": actor.get_username(), "unit": unit.name},
            code="sensor_not_bound",
        )


def unit_sensors(unit: StorageUnit) -> list[str]:
    """Usernames of the sensors bound to ``unit``, sorted."""
    return sorted(SensorBinding.objects.filter(unit=unit).values_list("sensor__username", flat=True))


def _units_of(sensor_ids) -> dict[int, list[str]]:
    found: dict[int, list[str]] = {pk: [] for pk in sensor_ids}
    for sensor_id, name in (SensorBinding.objects.filter(sensor_id__in=sensor_ids)
                            .values_list("sensor_id", "unit__name").order_by("unit__name")):
        found[sensor_id].append(name)
    return found


def bind_sensors(unit: StorageUnit, usernames, *, actor, reason: str = "") -> list[str]:
    """Bind exactly ``usernames`` (sensor accounts) to ``unit``, replacing its bindings. Returns them, sorted.

    Every sensor whose units change gets an ``AccountChange`` (``sensors``) with its units before and after.
    """
    names = sorted({(name or "").strip() for name in usernames})
    if "" in names:
        raise ValidationError({"sensors": [_("A sensor username cannot be empty.")]})
    users = {u.username: u for u in get_user_model().objects.filter(username__in=names).prefetch_related("groups")}
    unknown = [n for n in names if n not in users]
    not_sensors = [n for n in names if n in users and not is_sensor_account(users[n])]
    errors = []
    if unknown:
        errors.append(_("No such account: %(names)s.") % {"names": ", ".join(unknown)})
    if not_sensors:
        errors.append(_("Not a sensor account (role 'sensor'): %(names)s.") % {"names": ", ".join(not_sensors)})
    if errors:
        raise ValidationError({"sensors": errors})
    reason = (reason or "").strip() or _("sensors bound to %(unit)s") % {"unit": unit.name}
    with transaction.atomic(), acting(actor, reason):
        locked = StorageUnit.objects.select_for_update().get(pk=unit.pk)
        current = {b.sensor_id: b for b in SensorBinding.objects.filter(unit=locked).order_by("pk")}
        wanted = {users[n].pk for n in names}
        changed = sorted((set(current) - wanted) | (wanted - set(current)))
        if not changed:
            return names
        before = _units_of(changed)
        for sensor_id in sorted(set(current) - wanted):
            current[sensor_id].delete()  # one history row per binding removed
        for sensor_id in sorted(wanted - set(current)):
            SensorBinding.objects.create(unit=locked, sensor_id=sensor_id, bound_by=actor)
        after = _units_of(changed)
        by_pk = {u.pk: u for u in users.values()}
        removed = get_user_model().objects.in_bulk([pk for pk in changed if pk not in by_pk])
        for sensor_id in changed:
            AccountChange.objects.create(user=by_pk.get(sensor_id) or removed[sensor_id], actor=actor,
                                         kind=AccountChange.Kind.SENSORS, before={"units": before[sensor_id]},
                                         after={"units": after[sensor_id]}, reason=reason[:300])
    return names
