"""Mothers and their infant donations.

The mother is a ``donors.Donor`` (identity, her own consent, screening through the donors pages and API).
Each baby becomes a donor of its own, with no identity (a newborn has no national ID), registered here.
The mother signs the consent for the baby's cord blood: it is recorded on the infant donor (donors'
``record_consent``), and the cord blood collection is received on the infant donor under that consent
(donors' ``record_collection``). The mother's infectious-disease sample is recorded on each infant donor of
the pregnancy as a *maternal sample* (donors' ``record_screening(maternal_sample=True)``), so donors'
one eligibility rule judges the infant's collection on it, unchanged.
"""

from __future__ import annotations

import datetime
from typing import Any

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from bank import coding
from bank.audit import acting
from bank.errors import Conflict
from cordblood.choices import DeliveryType, Ownership
from cordblood.models import CollectionSite, Collector, CordBloodUnit, InfantDonation
from donors.choices import DonorType, Sex, Tissue
from donors.models import Donor, Screening
from donors.services import (
    new_donor_codes,
    record_collection,
    record_consent,
    record_screening,
    register_donor,
)
from lots.models import Lot

from ._common import _as_date, _as_datetime, _Errors, _text, decimal_in, int_in

# Twins are born within hours of each other; a later pregnancy is months apart.
SAME_PREGNANCY = datetime.timedelta(days=2)
CLOCK_SKEW = datetime.timedelta(minutes=5)

# The DIN and its check character are bank-wide rules (bank/coding.py): clinical-grade lots share the number family.
din_check_character = coding.din_check_character


def next_din(year: int) -> str:
    """The next DIN of the bank's facility for ``year``: FIN (5) + year (2) + sequence (6)."""
    return coding.next_din(year, taken=lambda din: CordBloodUnit.objects.filter(din=din).exists()
                           or Lot.objects.filter(din=din).exists())


def register_mother(*, actor, birth_year: Any, identity: dict | None, population: str = "") -> Donor:
    """Register a mother as a donor (donors' registry: identity kept apart and encrypted)."""
    return register_donor(actor=actor, sex=Sex.FEMALE, birth_year=birth_year, donor_type=DonorType.HEALTHY,
                          identity=identity, population=population, reason=_("mother registered (cord blood)"))


def pregnancy_donations(donation: InfantDonation):
    """The donations of the same birth as ``donation`` (itself and its twins)."""
    return InfantDonation.objects.filter(mother_id=donation.mother_id,
                                         born_at__gte=donation.born_at - SAME_PREGNANCY,
                                         born_at__lte=donation.born_at + SAME_PREGNANCY).order_by("birth_order")


def _infant_donor(*, actor, sex: str, birth_year: int, population: str) -> Donor:
    """The baby's donor: a pseudonymous code (donors' generator) and no identity (a newborn has no national ID;
    who the baby is follows from the mother's identity)."""
    for attempt in range(5):
        try:
            with transaction.atomic():
                return Donor.objects.create(code=new_donor_codes(1)[0], sex=sex, birth_year=birth_year,
                                            donor_type=DonorType.HEALTHY, population=population,
                                            registered_by=actor)
        except IntegrityError:
            if attempt == 4:  # another registration took the same random code in between five times
                raise
    raise AssertionError("unreachable")


def register_infant_donation(mother: Donor, *, actor, sex: str, born_at: Any, gestational_age_weeks: Any,
                             birth_weight_g: Any, delivery_type: str, site: CollectionSite | None,
                             collector: Collector | None = None, birth_order: Any = 1,
                             questionnaire: dict | None = None, consent_form_version: str = "",
                             consent_signed_on: Any = None, consent_scopes: Any = (),
                             collected_at: Any = None, received_at: Any = None, collected_volume_ml: Any = None,
                             ownership: str = Ownership.PUBLIC) -> InfantDonation:
    """Register one baby of ``mother``: its donor, the consent she signed for it, the cord blood collection,
    the donation and its unit (awaiting acceptance, with a DIN). Twins are two calls with birth orders 1, 2.
    """
    errors = _Errors()
    if sex not in Sex.values:
        errors.add("sex", _("Choose the baby's sex: F or M."))
    born = _as_datetime(born_at, "born_at", errors)
    now = timezone.now()
    if born and born > now + CLOCK_SKEW:
        errors.add("born_at", _("The birth time cannot be in the future."))
    weeks = int_in(gestational_age_weeks, "gestational_age_weeks", errors, low=22, high=45, required=True)
    weight = int_in(birth_weight_g, "birth_weight_g", errors, low=300, high=7000, required=True)
    if delivery_type not in DeliveryType.values:
        errors.add("delivery_type", _("Choose the delivery: %(choices)s.") % {
            "choices": ", ".join(DeliveryType.values)})
    order = int_in(birth_order, "birth_order", errors, low=1, high=8, required=True)
    if ownership not in Ownership.values:
        errors.add("ownership", _("Choose public or family."))
    if site is None:
        errors.add("site", _("Choose the collection site."))
    elif not site.active:
        errors.add("site", _("Site %(code)s is no longer active.") % {"code": site.code})
    if collector is not None and site is not None and (collector.site_id != site.pk or not collector.active):
        errors.add("collector", _("Choose an active collector of site %(code)s.") % {"code": site.code})
    if questionnaire is not None and not isinstance(questionnaire, dict):
        errors.add("questionnaire", _("Give the questionnaire as question: answer pairs."))
    questionnaire = {str(k)[:60]: str(v)[:500] for k, v in (questionnaire or {}).items()}
    volume = decimal_in(collected_volume_ml, "collected_volume_ml", errors, low="0", high="500", places="0.1")
    collected = _as_datetime(collected_at, "collected_at", errors) if collected_at not in (None, "") else born
    received = _as_datetime(received_at, "received_at", errors) if received_at not in (None, "") else None
    if collected and born and collected < born - datetime.timedelta(hours=1):
        errors.add("collected_at", _("Cord blood is collected at the birth, not before."))
    signed_on = _as_date(consent_signed_on, "consent_signed_on", errors, required=False) or (
        timezone.localtime(born).date() if born else None)
    if mother.sex != Sex.FEMALE:
        errors.add("mother", _("Donor %(code)s is not registered as a woman.") % {"code": mother.code})
    if hasattr(mother, "infant_donation"):
        errors.add("mother", _("Donor %(code)s is an infant donor, not a mother.") % {"code": mother.code})
    errors.raise_if_any()

    with transaction.atomic(), acting(actor, _("infant donation registered")):
        # The mother's row is the lock of her births: two registrations of the same baby at once must not both
        # take its birth order, nor slip past a withdrawal of her consent made meanwhile.
        mother = Donor.objects.select_for_update().get(pk=mother.pk)
        if mother.consent_withdrawn_at is not None:
            raise Conflict(_("Donor %(code)s withdrew consent: nothing more can be collected under it.")
                           % {"code": mother.code}, code="consent_withdrawn")
        twin = (InfantDonation.objects.filter(mother=mother, birth_order=order,
                                              born_at__gte=born - SAME_PREGNANCY, born_at__lte=born + SAME_PREGNANCY)
                .select_related("infant").first())
        if twin is not None:
            raise ValidationError({"birth_order": [
                _("This birth already has a baby number %(order)d (%(code)s). Give twins birth orders 1, 2 …")
                % {"order": order, "code": twin.infant.code}]})
        infant = _infant_donor(actor=actor, sex=sex, birth_year=timezone.localtime(born).year,
                               population=mother.population)
        try:
            record_consent(infant, actor=actor, form_version=consent_form_version, signed_on=signed_on,
                           scopes=consent_scopes,
                           reason=_("signed by the mother %(mother)s") % {"mother": mother.code})
            collection = record_collection(actor=actor, donor=infant, tissue=Tissue.CORD_BLOOD,
                                           collected_at=collected, received_at=received or now,
                                           notes=_("cord blood of %(mother)s's baby") % {"mother": mother.code})
        except ValidationError as exc:
            # The consent's and collection's fields are ours under other names.
            renamed = {"form_version": "consent_form_version", "signed_on": "consent_signed_on",
                       "scopes": "consent_scopes"}
            raise ValidationError({renamed.get(k, k): v for k, v in exc.message_dict.items()}) from exc
        donation = InfantDonation.objects.create(
            mother=mother, infant=infant, birth_order=order, born_at=born, gestational_age_weeks=weeks,
            birth_weight_g=weight, delivery_type=delivery_type, site=site, collector=collector,
            collection=collection, questionnaire=questionnaire, recorded_by=actor)
        CordBloodUnit.objects.create(donation=donation, din=next_din(timezone.localtime(born).year),
                                     ownership=ownership, collected_volume_ml=volume)
    return donation


def record_maternal_screening(donation: InfantDonation, *, actor, sample_drawn_on: Any, results: Any,
                              laboratory: str = "") -> list[Screening]:
    """Record the mother's infectious-disease sample for this birth: as a maternal sample on each infant
    donor of the pregnancy (twins share their mother's sample), where donors' eligibility rule reads it."""
    with transaction.atomic():
        return [record_screening(d.infant, actor=actor, sample_drawn_on=sample_drawn_on, results=results,
                                 maternal_sample=True, laboratory=_text(laboratory))
                for d in pregnancy_donations(donation).select_related("infant")]


def update_questionnaire(donation: InfantDonation, *, actor, answers: dict, reason: str = "") -> InfantDonation:
    """Add or correct answers of the mother's medical and family history questionnaire."""
    if not isinstance(answers, dict):
        raise ValidationError({"questionnaire": [_("Give the questionnaire as question: answer pairs.")]})
    with transaction.atomic(), acting(actor, reason or _("questionnaire updated")):
        locked = InfantDonation.objects.select_for_update().get(pk=donation.pk)
        merged = {**locked.questionnaire, **{str(k)[:60]: str(v)[:500] for k, v in answers.items()}}
        if merged != locked.questionnaire:
            locked.questionnaire = merged
            locked.save(update_fields=["questionnaire"])
    return locked
