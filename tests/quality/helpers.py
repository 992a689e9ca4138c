"""Helpers of the quality tests: SOP versions, trainings, instruments and material lots made through the services."""

from __future__ import annotations

import datetime

from django.utils import timezone

from quality import services
from tests.factories import PASSWORD, UserFactory


def today() -> datetime.date:
    return timezone.localdate()


def days(n: int) -> datetime.date:
    return today() + datetime.timedelta(days=n)


def qa_user(username: str = "quality-qa"):
    return UserFactory(username=username, role="qa")


def approve(code: str = "SOP-QC-001", version: str = "1", activities=("qc_result",), *, effective_on=None,
            qa=None, title: str = "QC testing"):
    return services.approve_sop_version(actor=qa or qa_user(), code=code, title=title, version=version,
                                        effective_on=effective_on or days(-30), activities=list(activities),
                                        password=PASSWORD)


def train(user, sop_version, *, trained_on=None, expires_on=None, qa=None):
    return services.record_training(actor=qa or qa_user(), user=user, sop=sop_version.sop.code,
                                    version=sop_version.version, trained_on=trained_on or days(-10),
                                    expires_on=expires_on)


def instrument(code: str = "CC-01", *, due=None, kind: str = "cell_counter", qa=None):
    return services.register_equipment(actor=qa or qa_user(), code=code, name="Cell counter", kind=kind,
                                       calibration_due_on=due or days(90))


def material(lot_number: str = "MT-001", *, released: bool = True, expires_on=None, qa=None, name: str = "mTeSR Plus"):
    qa = qa or qa_user()
    item = services.receive_material(actor=qa, name=name, kind="medium", lot_number=lot_number,
                                     supplier="STEMCELL Technologies", expires_on=expires_on or days(180),
                                     received_on=days(-5))
    if released:
        item = services.release_material(item, actor=qa, password=PASSWORD)
    return item
