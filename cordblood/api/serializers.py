"""Serializers of the cordblood API: they shape input and output only; the services decide."""

from __future__ import annotations

from rest_framework import serializers

from cordblood.choices import ABO, DeliveryType, DiscardReason, ListingStatus, Ownership, Rh
from cordblood.models import CollectionSite, Collector, ContractPayment, CordBloodUnit, FamilyContract, InfantDonation
from cordblood.services import din_check_character
from donors.choices import Sex


class CollectorSerializer(serializers.ModelSerializer):
    class Meta:
        model = Collector
        fields = ["id", "site", "name", "trained_on", "active"]
        read_only_fields = ["id", "site"]


class SiteSerializer(serializers.ModelSerializer):
    collectors = CollectorSerializer(many=True, read_only=True)

    class Meta:
        model = CollectionSite
        fields = ["id", "code", "name", "city", "agreement_until", "active", "collectors"]


class SiteInputSerializer(serializers.Serializer):
    code = serializers.CharField(max_length=20, required=False)
    name = serializers.CharField(max_length=200, required=False)
    city = serializers.CharField(max_length=100, required=False, allow_blank=True)
    agreement_until = serializers.DateField(required=False, allow_null=True)
    active = serializers.BooleanField(required=False)


class CollectorInputSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=120)
    trained_on = serializers.DateField(required=False, allow_null=True)


class MotherIdentitySerializer(serializers.Serializer):
    full_name = serializers.CharField(max_length=200)
    national_id = serializers.CharField(max_length=40)
    phone = serializers.CharField(max_length=40, required=False, allow_blank=True)


class MotherInputSerializer(serializers.Serializer):
    birth_year = serializers.IntegerField()
    population = serializers.CharField(max_length=100, required=False, allow_blank=True)
    identity = MotherIdentitySerializer()


class DonationInputSerializer(serializers.Serializer):
    mother = serializers.IntegerField(help_text="the mother's donor id")
    sex = serializers.ChoiceField(choices=Sex.choices)
    born_at = serializers.DateTimeField()
    gestational_age_weeks = serializers.IntegerField()
    birth_weight_g = serializers.IntegerField()
    delivery_type = serializers.ChoiceField(choices=DeliveryType.choices)
    site = serializers.IntegerField()
    collector = serializers.IntegerField(required=False, allow_null=True)
    birth_order = serializers.IntegerField(required=False, default=1)
    questionnaire = serializers.DictField(child=serializers.CharField(allow_blank=True), required=False)
    consent_form_version = serializers.CharField(max_length=40)
    consent_signed_on = serializers.DateField(required=False, allow_null=True)
    consent_scopes = serializers.ListField(child=serializers.CharField(), allow_empty=True)
    collected_at = serializers.DateTimeField(required=False, allow_null=True)
    received_at = serializers.DateTimeField(required=False, allow_null=True)
    collected_volume_ml = serializers.DecimalField(max_digits=6, decimal_places=1, required=False, allow_null=True)
    ownership = serializers.ChoiceField(choices=Ownership.choices, default=Ownership.PUBLIC)


class ScreeningInputSerializer(serializers.Serializer):
    sample_drawn_on = serializers.DateField()
    results = serializers.DictField(child=serializers.CharField())
    laboratory = serializers.CharField(max_length=200, required=False, allow_blank=True)


class DonationSerializer(serializers.ModelSerializer):
    mother_code = serializers.CharField(source="mother.code", read_only=True)
    infant_code = serializers.CharField(source="infant.code", read_only=True)
    infant_sex = serializers.CharField(source="infant.sex", read_only=True)
    collection_code = serializers.CharField(source="collection.code", read_only=True, default=None)
    unit = serializers.PrimaryKeyRelatedField(read_only=True)

    class Meta:
        model = InfantDonation
        fields = ["id", "mother", "mother_code", "infant", "infant_code", "infant_sex", "birth_order", "born_at",
                  "gestational_age_weeks", "birth_weight_g", "delivery_type", "site", "collector", "collection",
                  "collection_code", "questionnaire", "unit", "recorded_at"]


class CordBloodUnitSerializer(serializers.ModelSerializer):
    din_check = serializers.SerializerMethodField()
    infant = serializers.IntegerField(source="donation.infant_id", read_only=True)
    infant_code = serializers.CharField(source="donation.infant.code", read_only=True)
    mother_code = serializers.SerializerMethodField()
    site_code = serializers.CharField(source="donation.site.code", read_only=True)
    born_at = serializers.DateTimeField(source="donation.born_at", read_only=True)
    lot_number = serializers.CharField(source="lot.lot_number", read_only=True, default=None)
    lot_status = serializers.CharField(source="lot.status", read_only=True, default=None)
    recovery_pct = serializers.FloatField(read_only=True)

    class Meta:
        model = CordBloodUnit
        fields = ["id", "din", "din_check", "ownership", "donation", "infant", "infant_code", "mother_code",
                  "site_code", "born_at", "collected_volume_ml", "acceptance", "acceptance_reason", "accepted_at",
                  "processing_method", "processing_started_at", "processing_ended_at", "volume_pre_ml",
                  "volume_post_ml", "tnc_pre", "tnc_post", "cd34_post", "nrbc_pct", "hct_pct", "recovery_pct",
                  "equipment", "reagent_lots", "frozen_at", "abo", "rh", "lot", "lot_number", "lot_status",
                  "listing_status", "listing_reason", "listing_until", "listing_changed_at", "created_at"]

    def get_din_check(self, unit) -> str:
        return din_check_character(unit.din)

    def get_mother_code(self, unit) -> str | None:
        # The mother is bank-internal: a transplant centre never learns who she is, not even her code.
        return unit.donation.mother.code if self.context.get("bank_user") else None

    # The infant donor and its donation are bank-internal too: outside the bank a unit is its DIN, its
    # characterisation and its HLA, never a donor.
    BANK_ONLY = ("donation", "infant", "infant_code", "mother_code")

    def to_representation(self, unit):
        data = super().to_representation(unit)
        if not self.context.get("bank_user"):
            data.update(dict.fromkeys(self.BANK_ONLY))
        return data


class AcceptInputSerializer(serializers.Serializer):
    collected_volume_ml = serializers.DecimalField(max_digits=6, decimal_places=1)
    tnc = serializers.IntegerField(min_value=0)
    clots = serializers.BooleanField(default=False)
    bag_intact = serializers.BooleanField(default=True)


class DiscardInputSerializer(serializers.Serializer):
    reason = serializers.ChoiceField(choices=DiscardReason.choices)
    note = serializers.CharField(max_length=200, required=False, allow_blank=True)


class DivertInputSerializer(serializers.Serializer):
    note = serializers.CharField(max_length=200, required=False, allow_blank=True)


class ProcessingReagentSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=120)
    lot = serializers.CharField(max_length=60, required=False, allow_blank=True)


class ProcessingInputSerializer(serializers.Serializer):
    method = serializers.CharField(max_length=80)
    started_at = serializers.DateTimeField()
    ended_at = serializers.DateTimeField()
    volume_pre_ml = serializers.DecimalField(max_digits=6, decimal_places=1)
    volume_post_ml = serializers.DecimalField(max_digits=6, decimal_places=1)
    tnc_pre = serializers.IntegerField()
    tnc_post = serializers.IntegerField()
    cd34_post = serializers.IntegerField(required=False, allow_null=True)
    nrbc_pct = serializers.DecimalField(max_digits=5, decimal_places=2, required=False, allow_null=True)
    hct_pct = serializers.DecimalField(max_digits=5, decimal_places=2, required=False, allow_null=True)
    equipment = serializers.CharField(max_length=200, required=False, allow_blank=True)
    reagent_lots = ProcessingReagentSerializer(many=True, required=False)
    abo = serializers.ChoiceField(choices=ABO.choices, required=False, allow_blank=True)
    rh = serializers.ChoiceField(choices=Rh.choices, required=False, allow_blank=True)


class FreezeInputSerializer(serializers.Serializer):
    frozen_at = serializers.DateTimeField(required=False, allow_null=True)
    segments = serializers.IntegerField(default=2)
    reference_cells = serializers.IntegerField(default=2)
    reference_plasma = serializers.IntegerField(default=1)
    reference_dna = serializers.IntegerField(default=1)
    maternal_samples = serializers.IntegerField(default=2)
    cryoprotectant = serializers.CharField(max_length=200, default="DMSO 10 % / Dextran 40")
    cryoprotectant_lot = serializers.CharField(max_length=60, required=False, allow_blank=True, default="")


class ListingInputSerializer(serializers.Serializer):
    status = serializers.ChoiceField(choices=ListingStatus.choices)
    reason = serializers.CharField(max_length=200, required=False, allow_blank=True, default="")
    until = serializers.DateField(required=False, allow_null=True, default=None)


class PaymentSerializer(serializers.ModelSerializer):
    class Meta:
        model = ContractPayment
        fields = ["id", "paid_on", "amount", "covers_until", "note", "recorded_at"]


class ContractSerializer(serializers.ModelSerializer):
    payments = PaymentSerializer(many=True, read_only=True)
    owner_code = serializers.CharField(source="owner.code", read_only=True)

    class Meta:
        model = FamilyContract
        fields = ["id", "unit", "owner", "owner_code", "number", "signed_on", "initial_fee", "annual_fee", "currency",
                  "paid_until", "status", "release_requested_at", "release_request_note", "payments"]


class ContractInputSerializer(serializers.Serializer):
    number = serializers.CharField(max_length=40)
    signed_on = serializers.DateField()
    paid_until = serializers.DateField()
    initial_fee = serializers.DecimalField(max_digits=10, decimal_places=2, default=0)
    annual_fee = serializers.DecimalField(max_digits=10, decimal_places=2, default=0)
    currency = serializers.CharField(max_length=3, default="CNY")


class PaymentInputSerializer(serializers.Serializer):
    paid_on = serializers.DateField()
    amount = serializers.DecimalField(max_digits=10, decimal_places=2)
    covers_until = serializers.DateField()
    note = serializers.CharField(max_length=200, required=False, allow_blank=True, default="")


class NoteInputSerializer(serializers.Serializer):
    note = serializers.CharField(max_length=300)


class ReasonInputSerializer(serializers.Serializer):
    reason = serializers.CharField(max_length=300)


class DiscardCountSerializer(serializers.Serializer):
    reason = serializers.CharField()
    label = serializers.CharField()
    count = serializers.IntegerField()
