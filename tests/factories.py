"""factory_boy factories shared by every test module. Apps add theirs below the bank section."""

from __future__ import annotations

import factory
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group

PASSWORD = "correct-horse-battery"


class UserFactory(factory.django.DjangoModelFactory):
    """A user with one role: ``UserFactory(role="qa")``. Password is ``PASSWORD``."""

    class Meta:
        model = get_user_model()
        django_get_or_create = ("username",)
        skip_postgeneration_save = True

    username = factory.Sequence(lambda n: f"user{n}")
    first_name = factory.Faker("first_name")
    last_name = factory.Faker("last_name")
    email = factory.LazyAttribute(lambda u: f"{u.username}@bank.example")

    @factory.post_generation
    def password(obj, create, extracted, **kwargs):
        obj.set_password(extracted or PASSWORD)
        if create:
            obj.save(update_fields=["password"])

    @factory.post_generation
    def role(obj, create, extracted, **kwargs):
        """``role="qa"`` (one) or ``role=["qa", "technician"]`` (several)."""
        if not create or not extracted:
            return
        names = [extracted] if isinstance(extracted, str) else list(extracted)
        obj.groups.set(Group.objects.filter(name__in=names))
        if "admin" in names:
            obj.is_staff = True
            obj.save(update_fields=["is_staff"])


# --- donors ----------------------------------------------------------------------------------------

import datetime  # noqa: E402
from decimal import Decimal  # noqa: E402

from django.utils import timezone  # noqa: E402

from donors.choices import MATERNAL_TISSUES, ConsentScope  # noqa: E402
from donors.models import (  # noqa: E402
    Collection,
    Consent,
    Donor,
    DonorIdentity,
    EthicsApproval,
    HLATyping,
    Screening,
    ScreeningMarker,
    ScreeningResult,
)


class DonorFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Donor

    code = factory.Sequence(lambda n: f"SBD-T{n:05d}")
    sex = "F"
    birth_year = 1990
    population = "Han Chinese"
    donor_type = "healthy"


class DonorIdentityFactory(factory.django.DjangoModelFactory):
    """An identity sealed under a new data key of its donor (issue 11: stored encrypted), from clear values."""

    class Meta:
        model = DonorIdentity

    donor = factory.SubFactory(DonorFactory)
    full_name = factory.Faker("name")
    national_id = factory.Sequence(lambda n: f"11010119900101{n:04d}")
    phone = "+86 138 0000 0000"

    @classmethod
    def _create(cls, model_class, donor, full_name, national_id, phone, **kwargs):
        from donors.services import normalise_national_id, store_identity

        return store_identity(donor, {"full_name": full_name, "national_id": normalise_national_id(national_id),
                                      "phone": phone})


class ConsentFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Consent

    donor = factory.SubFactory(DonorFactory)
    form_version = "ICF-2026-v1"
    signed_on = factory.LazyFunction(lambda: timezone.localdate() - datetime.timedelta(days=30))
    scopes = factory.LazyFunction(lambda: list(ConsentScope.values))
    recorded_by = factory.SubFactory(UserFactory, role="coordinator")


class EthicsApprovalFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = EthicsApproval

    committee = "Institutional Ethics Committee"
    approval_number = factory.Sequence(lambda n: f"IEC-2026-{n:03d}")
    valid_from = datetime.date(2026, 1, 1)
    valid_to = datetime.date(2028, 12, 31)


def ethics_in_force() -> EthicsApproval:
    """Issue 15: the bank's one ethics approval, in force from 2000 to 2099, so that collections received through the
    services (REQUIRE_ETHICS_APPROVAL) cite it automatically; tests of the rule itself make their own."""
    return EthicsApproval.objects.filter(approval_number="IEC-TESTS").first() or EthicsApprovalFactory(
        approval_number="IEC-TESTS", valid_from=datetime.date(2000, 1, 1), valid_to=datetime.date(2099, 12, 31))


class CollectionFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Collection

    code = factory.Sequence(lambda n: f"COL-T{n:05d}")
    donor = factory.SubFactory(DonorFactory)
    consent = factory.LazyAttribute(lambda o: o.donor.consents.first() or ConsentFactory(donor=o.donor))
    tissue = "skin"
    collected_at = factory.LazyFunction(lambda: timezone.now() - datetime.timedelta(days=10))
    received_at = factory.LazyAttribute(lambda o: o.collected_at + datetime.timedelta(hours=4))
    transport_temperature_c = Decimal("4.0")
    received_by = factory.SubFactory(UserFactory, role="technician")
    # Issue 15: a collection cites an ethics approval in force on its collection date (REQUIRE_ETHICS_APPROVAL): the
    # tests' one (``ethics_in_force``), so that no second approval in force makes the automatic citation ambiguous.
    ethics_approval = factory.LazyFunction(lambda: ethics_in_force())


class ScreeningFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Screening

    donor = factory.SubFactory(DonorFactory)
    sample_drawn_on = factory.LazyFunction(lambda: timezone.localdate() - datetime.timedelta(days=10))
    recorded_by = factory.SubFactory(UserFactory, role="coordinator")


class ScreeningResultFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = ScreeningResult

    screening = factory.SubFactory(ScreeningFactory)
    marker = "hiv_ab"
    result = "negative"
    recorded_by = factory.LazyAttribute(lambda o: o.screening.recorded_by)


class HLATypingFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = HLATyping

    donor = factory.SubFactory(DonorFactory)
    a_1, a_2 = "A*24:02", "A*24:02"
    b_1, b_2 = "B*52:01", "B*52:01"
    c_1, c_2 = "C*12:02", "C*12:02"
    drb1_1, drb1_2 = "DRB1*15:02", "DRB1*15:02"
    dqb1_1, dqb1_2 = "DQB1*06:01", "DQB1*06:01"
    method = "ngs"
    resolution = "2-field"
    recorded_by = factory.SubFactory(UserFactory, role="coordinator")


def full_negative_panel(collection: Collection, *, result: str = "negative", skip: tuple[str, ...] = ()) -> Screening:
    """A screening inside the window of ``collection`` with every required marker ``result``."""
    screening = ScreeningFactory(
        donor=collection.donor,
        sample_drawn_on=collection.collected_at.date(),
        maternal_sample=collection.tissue in MATERNAL_TISSUES,
    )
    for marker in ScreeningMarker.objects.filter(required=True):
        if marker.required_for(collection.tissue) and marker.code not in skip:
            ScreeningResultFactory(screening=screening, marker=marker.code, result=result)
    return screening


def eligible_collection(**kwargs) -> Collection:
    """A consented donor's collection with a complete negative panel in its window: eligible."""
    collection = CollectionFactory(**kwargs)
    full_negative_panel(collection)
    return collection


# --- lots ------------------------------------------------------------------------------------------

from lots.models import CellLine, Culture, Lot, Passage, Vial  # noqa: E402


class CellLineFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = CellLine

    name = factory.Sequence(lambda n: f"SCBi{n + 900:03d}-A")
    collection = factory.LazyFunction(eligible_collection)
    donor = factory.LazyAttribute(lambda o: o.collection.donor)
    cell_type = "iPSC"
    grade = "research"
    reprogramming_method = "sendai"
    registry_number = factory.Sequence(lambda n: n + 900)
    subclone = "A"
    created_by = factory.SubFactory(UserFactory, role="technician")


class CultureFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Culture

    cell_line = factory.SubFactory(CellLineFactory)
    started_on = factory.LazyFunction(lambda: timezone.localdate() - datetime.timedelta(days=40))
    created_by = factory.SubFactory(UserFactory, role="technician")


class PassageFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Passage

    culture = factory.SubFactory(CultureFactory)
    number = factory.Sequence(lambda n: n + 1)
    passaged_on = factory.LazyFunction(timezone.localdate)
    split_ratio = "1:6"
    seeded_cells = 1_000_000
    harvested_cells = 4_000_000
    viability_pct = Decimal("95.0")
    medium = "mTeSR Plus"
    medium_lot = "MT-2231"
    operator = factory.SubFactory(UserFactory, role="technician")


class LotFactory(factory.django.DjangoModelFactory):
    """A lot and its ``vial_count`` vials (``vials=False`` to create none)."""

    class Meta:
        model = Lot
        skip_postgeneration_save = True

    lot_number = factory.Sequence(lambda n: f"MCB-T-{n:05d}")
    barcode = factory.Sequence(lambda n: f"SBLT{n:07d}")
    cell_line = factory.SubFactory(CellLineFactory)
    tier = "MCB"
    passage = 10
    vial_count = 5
    cells_per_vial = 1_000_000
    volume_ml = Decimal("1.0")
    cryoprotectant = "CryoStor CS10"
    cryoprotectant_lot = "CS10-0042"
    frozen_on = factory.LazyFunction(lambda: timezone.localdate() - datetime.timedelta(days=20))
    operator = factory.SubFactory(UserFactory, role="technician")

    @factory.post_generation
    def vials(obj, create, extracted, **kwargs):
        if not create or extracted is False:
            return
        Vial.objects.bulk_create(
            [Vial(lot=obj, number=i, barcode=f"{obj.barcode}-{i:04d}") for i in range(1, obj.vial_count + 1)]
        )


class VialFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Vial

    lot = factory.SubFactory(LotFactory, vials=False, vial_count=1)
    number = factory.Sequence(lambda n: n + 1)
    barcode = factory.Sequence(lambda n: f"SBVT{n:07d}")


# --- storage ---------------------------------------------------------------------------------------

from storage.models import Box, Rack, StorageUnit  # noqa: E402


class StorageUnitFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = StorageUnit

    # Zero-padded to five digits: units made by one test sort by name in the order they were made whatever the
    # sequence has reached (``LN2-T99`` sorted after ``LN2-T100`` once a worker had made a hundred units).
    name = factory.Sequence(lambda n: f"LN2-T{n:05d}")
    kind = "ln2_vapor"
    min_temperature_c = Decimal("-196")
    max_temperature_c = Decimal("-150")
    quarantine = False


class RackFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Rack

    unit = factory.SubFactory(StorageUnitFactory)
    name = factory.Sequence(lambda n: f"R{n}")


class BoxFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Box

    rack = factory.SubFactory(RackFactory)
    name = factory.Sequence(lambda n: f"Box {n}")
    barcode = factory.Sequence(lambda n: f"SBBT{n:07d}")
    rows = 9
    cols = 9


# --- distribution ----------------------------------------------------------------------------------

from distribution.models import DistributionRequest, MaterialTransferAgreement  # noqa: E402


class DistributionRequestFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = DistributionRequest

    number = factory.Sequence(lambda n: f"REQ-T{n:05d}")
    researcher = factory.SubFactory(UserFactory, role="researcher")
    cell_line = factory.SubFactory(CellLineFactory)
    vials = 2
    intended_use = "research"
    project_title = "Cardiomyocyte differentiation"
    institution = "Example University"
    mta = factory.LazyFunction(lambda: MaterialTransferAgreement.objects.filter(active=True).first())
    mta_accepted_at = factory.LazyFunction(timezone.now)
