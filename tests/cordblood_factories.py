"""Cord blood test data (issue 12), shared by tests/cordblood/, tests/transplant/ and the rules in lots, qc
and distribution: a mother, her infant donations and their units, as the processing service leaves them."""

from __future__ import annotations

import datetime
import itertools
from decimal import Decimal

from django.utils import timezone

from cordblood.models import CollectionSite, CordBloodUnit, InfantDonation
from lots.choices import VialKind
from lots.models import Vial
from tests.factories import (
    CellLineFactory,
    CollectionFactory,
    DonorFactory,
    HLATypingFactory,
    LotFactory,
    UserFactory,
    full_negative_panel,
)

_numbers = itertools.count(1)

# A unit's containers as processing leaves them: the bag, two attached segments, reference vials and the
# mother's samples.
UNIT_CONTAINERS = [VialKind.BAG, VialKind.SEGMENT, VialKind.SEGMENT, VialKind.REFERENCE_CELLS,
                   VialKind.REFERENCE_PLASMA, VialKind.REFERENCE_DNA, VialKind.MATERNAL_SAMPLE]


def site() -> CollectionSite:
    return CollectionSite.objects.get_or_create(code="HOSP-T1", defaults={"name": "Test Maternity Hospital"})[0]


def mother(**kwargs):
    return DonorFactory(sex="F", birth_year=1994, **kwargs)


def donation(mother_donor=None, *, birth_order: int = 1, born_at=None, sex: str = "F", hla: dict | None = None,
             eligible: bool = True) -> InfantDonation:
    """An infant donor of ``mother_donor`` (a new mother by default) with its cord blood collection (consent
    of the mother recorded on the infant donor) and, when ``eligible``, the maternal panel negative."""
    mother_donor = mother_donor or mother()
    n = next(_numbers)
    infant = DonorFactory(code=f"SBD-INF{n:05d}", sex=sex, birth_year=timezone.localdate().year,
                          population=mother_donor.population)
    born_at = born_at or timezone.now() - datetime.timedelta(days=30)
    collection = CollectionFactory(donor=infant, tissue="cord_blood", collected_at=born_at,
                                   received_at=born_at + datetime.timedelta(hours=6))
    if eligible:
        full_negative_panel(collection)
    HLATypingFactory(donor=infant, **(hla or {}))
    return InfantDonation.objects.create(
        mother=mother_donor, infant=infant, birth_order=birth_order, born_at=born_at, gestational_age_weeks=39,
        birth_weight_g=3300, delivery_type="vaginal", site=site(), collection=collection,
        recorded_by=UserFactory(username="coordinator-cb", role="coordinator"))


def unit(donation_: InfantDonation | None = None, *, ownership: str = "public", status: str = "released",
         listing_status: str = "available", tnc: int = 1_500_000_000, cd34: int = 5_000_000, abo: str = "O",
         rh: str = "pos", containers=None, **donation_kwargs) -> CordBloodUnit:
    """A processed, frozen unit: a CB-HSC line, a lot of tier ``unit`` (``status``) whose vials are the bag,
    segments, reference vials and maternal samples (``containers``), listed as ``listing_status``."""
    donation_ = donation_ or donation(**donation_kwargs)
    n = next(_numbers)
    line = CellLineFactory(name=f"CBU-T{n:05d}", collection=donation_.collection, donor=donation_.infant,
                           cell_type="CB-HSC", grade="clinical", reprogramming_method="", registry_number=None,
                           subclone="")
    frozen = donation_.born_at + datetime.timedelta(hours=30)
    containers = containers or UNIT_CONTAINERS
    lot = LotFactory(cell_line=line, tier="unit", lot_number=f"CBU-T-{n:05d}", passage=0,
                     vial_count=len(containers), cells_per_vial=tnc, volume_ml=Decimal("25.0"),
                     frozen_on=frozen.date(), status=status, vials=False)
    Vial.objects.bulk_create([Vial(lot=lot, number=i, barcode=f"{lot.barcode}-{i:04d}", kind=kind)
                              for i, kind in enumerate(containers, start=1)])
    return CordBloodUnit.objects.create(
        donation=donation_, din=f"W0000{26:02d}{n:06d}", ownership=ownership, collected_volume_ml=Decimal("95.0"),
        acceptance="accepted", accepted_at=donation_.born_at + datetime.timedelta(hours=8),
        processing_method="HES sedimentation", processing_started_at=donation_.born_at + datetime.timedelta(hours=9),
        processing_ended_at=donation_.born_at + datetime.timedelta(hours=12), volume_pre_ml=Decimal("95.0"),
        volume_post_ml=Decimal("25.0"), tnc_pre=int(tnc * 1.2), tnc_post=tnc, cd34_post=cd34,
        nrbc_pct=Decimal("8.5"), hct_pct=Decimal("55.0"), frozen_at=frozen, abo=abo, rh=rh, lot=lot,
        listing_status=listing_status if ownership == "public" else "not_listed")
