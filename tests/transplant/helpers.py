"""Transplant test data: a qualified centre, its clinician, a patient typed like the factory's infants, and the
path's steps through the services (tests/cordblood_factories.py makes the units)."""

from __future__ import annotations

import datetime

from django.utils import timezone

from tests.factories import PASSWORD, UserFactory
from transplant import services
from transplant.models import DryShipper, TransplantCentre

# The factory infant's typing (tests/factories.HLATypingFactory): a patient with this HLA matches 6/6.
MATCHED_HLA = {"A": ["A*24:02", "A*24:02"], "B": ["B*52:01", "B*52:01"], "C": ["C*12:02", "C*12:02"],
               "DRB1": ["DRB1*15:02", "DRB1*15:02"], "DQB1": ["DQB1*06:01", "DQB1*06:01"]}
LOGGER = b"time,celsius\n2026-01-01T08:00,-185.2\n2026-01-01T20:00,-183.9\n"
ALL_DOCUMENTS = ["unit_report", "maternal_tests", "ct_report", "release_certificate", "thaw_instructions",
                 "thaw_form"]


def centre(code: str = "TC-01", **kwargs) -> TransplantCentre:
    kwargs.setdefault("name", f"Transplant Centre {code}")
    kwargs.setdefault("accreditation_until", timezone.localdate() + datetime.timedelta(days=365))
    return TransplantCentre.objects.get_or_create(code=code, defaults=kwargs)[0]


def clinician(centre_: TransplantCentre | None = None, username: str = "clin-1"):
    user = UserFactory(username=username, role="clinician")
    services.link_clinician(user, centre_ or centre(), actor=None)
    return user


def patient(user, *, code: str = "P-001", weight_kg: str = "20.0", hla: dict | None = None, **kwargs):
    return services.register_patient(actor=user, code=code, diagnosis="ALL", weight_kg=weight_kg, abo="O", rh="pos",
                                     hla=hla or MATCHED_HLA, **kwargs)


def shipper(code: str = "DS-01", days: int = 180) -> DryShipper:
    return DryShipper.objects.get_or_create(
        code=code, defaults={"validated_until": timezone.localdate() + datetime.timedelta(days=days)})[0]


def reserved(unit, pat, user, days: int = 14):
    return services.reserve_unit(unit, pat, until=timezone.localdate() + datetime.timedelta(days=days), actor=user)


def ct_done(unit, pat, user, tech, alleles: dict | None = None):
    ct = services.request_typing(unit, pat, actor=user)
    return services.complete_typing(ct, alleles=alleles or MATCHED_HLA, laboratory="HLA lab", actor=tech)


def ordered(unit, pat, user, days: int = 7):
    reservation = reserved(unit, pat, user)
    return services.place_order(reservation, infusion_date=timezone.localdate() + datetime.timedelta(days=days),
                                actor=user)


def ship_kwargs(order, **overrides) -> dict:
    values = {"bag_barcode": order.bag.barcode, "dry_shipper": shipper().code, "documents": ALL_DOCUMENTS,
              "logger_name": "logger.csv", "logger_content": LOGGER, "courier": "World Courier"}
    values.update(overrides)
    return values


__all__ = ["PASSWORD", "centre", "clinician", "patient", "shipper", "reserved", "ct_done", "ordered", "ship_kwargs"]
