"""Helpers of the cord blood tests: a mother registered and a donation made through the services."""

from __future__ import annotations

import datetime

from django.utils import timezone

from cordblood import services
from cordblood.models import CollectionSite, Collector
from tests.factories import (
    UserFactory,  # noqa: F401 (re-exported)
    ethics_in_force,
)


def _user(username: str, role: str):
    # Made once: the factory would set the password again, and a logged-in session would end.
    from django.contrib.auth import get_user_model

    return get_user_model().objects.filter(username=username).first() or UserFactory(username=username, role=role)


def coordinator():
    return _user("cb-coordinator", "coordinator")


def technician():
    return _user("cb-technician", "technician")


def qa():
    return _user("cb-qa", "qa")


def site_and_collector() -> tuple[CollectionSite, Collector]:
    site = CollectionSite.objects.filter(code="HOSP-S1").first() or services.create_site(
        actor=coordinator(), code="HOSP-S1", name="City Maternity", city="Hangzhou")
    collector = site.collectors.first() or services.add_collector(site, actor=coordinator(), name="Midwife Li")
    return site, collector


_ids = iter(range(10_000, 99_999))


def mother(birth_year: int = 1993):
    return services.register_mother(actor=coordinator(), birth_year=birth_year, population="Han", identity={
        "full_name": "Wang Fang", "national_id": f"33010619930101{next(_ids):05d}", "phone": "13800000000"})


def donate(mum=None, *, born_at=None, birth_order: int = 1, ownership: str = "public",
           scopes=("clinical", "research"), sex: str = "F"):
    ethics_in_force()  # issue 15: the collection cites the approval in force (REQUIRE_ETHICS_APPROVAL)
    site, collector = site_and_collector()
    mum = mum or mother()
    born_at = born_at or timezone.now() - datetime.timedelta(hours=10)
    return services.register_infant_donation(
        mum, actor=coordinator(), sex=sex, born_at=born_at, gestational_age_weeks=39, birth_weight_g=3300,
        delivery_type="vaginal", site=site, collector=collector, birth_order=birth_order,
        questionnaire={"family_history_blood_disease": "no"}, consent_form_version="CB-ICF-v1",
        consent_scopes=list(scopes), received_at=born_at + datetime.timedelta(hours=2), ownership=ownership,
        collected_volume_ml="95")


def process(unit, *, tnc_pre: int = 1_500_000_000, tnc_post: int = 1_300_000_000):
    collected = unit.donation.collection.collected_at
    return services.record_processing(
        unit, actor=technician(), method="HES sedimentation", started_at=collected + datetime.timedelta(hours=3),
        ended_at=collected + datetime.timedelta(hours=5), volume_pre_ml="95", volume_post_ml="25", tnc_pre=tnc_pre,
        tnc_post=tnc_post, cd34_post=4_000_000, nrbc_pct="7.5", hct_pct="55", equipment="Sepax 2 #3",
        reagent_lots=[{"name": "HES 6 %", "lot": "H2231"}])


def frozen_unit(**kwargs):
    donation = donate(**kwargs)
    unit = services.accept_unit(donation.unit, actor=technician(), collected_volume_ml="95", tnc=1_500_000_000)
    process(unit)
    return services.freeze_unit(unit, actor=technician())
