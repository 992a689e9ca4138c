"""Serializers of the donors API: they shape input and output only (rules live in donors.services).

Identity (full name, national ID, phone) is only ever serialized by ``DonorDetailSerializer`` and only
for a request whose user holds ``donors.view_donoridentity``; list serializers have no identity field. It is
decrypted for that one answer (``donors.queries.identity_for``); lists never decrypt anything.
"""

from __future__ import annotations

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from bank.api import fields as bank_fields
from donors.choices import (
    HLA_LOCI,
    OPTIONAL_HLA_LOCI,
    ConsentScope,
    DonorType,
    HLAMethod,
    HLAResolution,
    ScreeningOutcome,
    Sex,
    Tissue,
)
from donors.crypto import IdentityKeyUnavailable
from donors.models import (
    Collection,
    Consent,
    CustodyHandover,
    Donor,
    EthicsApproval,
    HLATyping,
    Screening,
    ScreeningMarker,
    ScreeningResult,
    ScreeningWindow,
)
from donors.queries import PanelConfig, can_view_identity, consent_state, eligibility_for, identity_for

# --- input ----------------------------------------------------------------------------------------


class IdentitySerializer(serializers.Serializer):
    full_name = serializers.CharField(max_length=200)
    national_id = serializers.CharField(max_length=40)
    phone = serializers.CharField(max_length=40, required=False, allow_blank=True, default="")


class IdentityUpdateSerializer(IdentitySerializer):
    full_name = serializers.CharField(max_length=200, required=False)
    national_id = serializers.CharField(max_length=40, required=False)
    phone = serializers.CharField(max_length=40, required=False, allow_blank=True)


class DonorCreateSerializer(serializers.Serializer):
    sex = serializers.ChoiceField(choices=Sex.choices)
    birth_year = serializers.IntegerField()
    population = serializers.CharField(max_length=100, required=False, allow_blank=True, default="")
    donor_type = serializers.ChoiceField(choices=DonorType.choices)
    diagnosis = serializers.CharField(max_length=300, required=False, allow_blank=True, default="")
    identity = IdentitySerializer()


class DonorUpdateSerializer(serializers.Serializer):
    sex = serializers.ChoiceField(choices=Sex.choices, required=False)
    birth_year = serializers.IntegerField(required=False)
    population = serializers.CharField(max_length=100, required=False, allow_blank=True)
    donor_type = serializers.ChoiceField(choices=DonorType.choices, required=False)
    diagnosis = serializers.CharField(max_length=300, required=False, allow_blank=True)
    identity = IdentityUpdateSerializer(required=False)
    reason = serializers.CharField(help_text="Why the record is corrected (kept in the audit trail).")


class ConsentCreateSerializer(serializers.Serializer):
    form_version = serializers.CharField(max_length=40)
    signed_on = bank_fields.DateField()
    scopes = serializers.ListField(child=serializers.ChoiceField(choices=ConsentScope.choices), allow_empty=False)


class WithdrawSerializer(serializers.Serializer):
    reason = serializers.CharField(help_text="Why and how the donor withdrew (kept in the audit trail).")


class EraseIdentitySerializer(serializers.Serializer):
    reason = serializers.CharField(help_text="Why and how the erasure request was received (kept in the audit "
                                             "trail; must not name the person).")
    password = serializers.CharField(trim_whitespace=False, style={"input_type": "password"},
                                     help_text="The acting user's password again: it signs the erasure.")


class ResultInputSerializer(serializers.Serializer):
    marker = serializers.CharField(max_length=30, help_text="Marker code, e.g. hiv_ab (GET /screening-markers/).")
    result = serializers.ChoiceField(choices=ScreeningOutcome.choices)


class ScreeningCreateSerializer(serializers.Serializer):
    sample_drawn_on = bank_fields.DateField()
    maternal_sample = serializers.BooleanField(
        required=False, allow_null=True, default=None,
        help_text="The birth mother was tested (cord blood, cord, placenta). Default: from the donor's latest "
                  "collection tissue.")
    laboratory = serializers.CharField(max_length=200, required=False, allow_blank=True, default="")
    results = ResultInputSerializer(many=True, allow_empty=False)


class CorrectionSerializer(serializers.Serializer):
    result = serializers.ChoiceField(choices=ScreeningOutcome.choices)
    reason = serializers.CharField(help_text="Why the result is corrected, e.g. the lab report reference.")


def _allele_pair(locus: str, *, required: bool = True) -> serializers.ListField:
    if not required:
        return serializers.ListField(
            child=serializers.CharField(max_length=20, allow_blank=True), max_length=2, required=False,
            help_text=f"Optional: two alleles, e.g. [\"{locus}*04:01\", \"{locus}*02:01\"]; [] or blank clears it, "
                      "leaving it out keeps the alleles on file.",
        )
    return serializers.ListField(
        child=serializers.CharField(max_length=20, allow_blank=True), min_length=2, max_length=2,
        help_text=f"Two alleles, e.g. [\"{locus}*24:02\", \"{locus}*24\"] (2-field or 1-field WHO nomenclature).",
    )


class HLAInputSerializer(serializers.Serializer):
    method = serializers.ChoiceField(choices=HLAMethod.choices, required=False, allow_blank=True, default="")
    resolution = serializers.ChoiceField(choices=HLAResolution.choices, required=False, allow_null=True,
                                         default=None, help_text="Default: computed from the alleles.")
    typed_on = bank_fields.DateField(required=False, allow_null=True, default=None)
    laboratory = serializers.CharField(max_length=200, required=False, allow_blank=True, default="")
    reason = serializers.CharField(required=False, allow_blank=True, default="")


for _locus in HLA_LOCI:
    HLAInputSerializer._declared_fields[_locus] = _allele_pair(_locus)
for _locus in OPTIONAL_HLA_LOCI:
    HLAInputSerializer._declared_fields[_locus] = _allele_pair(_locus, required=False)


class CollectionCreateSerializer(serializers.Serializer):
    donor = serializers.PrimaryKeyRelatedField(queryset=Donor.objects.all())
    tissue = serializers.ChoiceField(choices=Tissue.choices)
    collected_at = bank_fields.DateTimeField()
    received_at = bank_fields.DateTimeField()
    transport_temperature_c = serializers.DecimalField(max_digits=5, decimal_places=1, required=False,
                                                       allow_null=True, default=None)
    ethics_approval = serializers.PrimaryKeyRelatedField(queryset=EthicsApproval.objects.all(), required=False,
                                                         allow_null=True, default=None)
    notes = serializers.CharField(required=False, allow_blank=True, default="")


class EthicsApprovalInputSerializer(serializers.Serializer):
    committee = serializers.CharField(max_length=200)
    approval_number = serializers.CharField(max_length=60)
    scope = serializers.CharField(required=False, allow_blank=True, default="")
    valid_from = bank_fields.DateField()
    valid_to = bank_fields.DateField()


class EthicsApprovalUpdateSerializer(serializers.Serializer):
    committee = serializers.CharField(max_length=200, required=False)
    approval_number = serializers.CharField(max_length=60, required=False)
    scope = serializers.CharField(required=False, allow_blank=True)
    valid_from = bank_fields.DateField(required=False)
    valid_to = bank_fields.DateField(required=False)
    reason = serializers.CharField()


class EthicsWithdrawSerializer(serializers.Serializer):
    reason = serializers.CharField()
    withdrawn_on = bank_fields.DateField(required=False, allow_null=True, default=None,
                                         help_text="The day the withdrawal took effect (default today).")


class HandoverInputSerializer(serializers.Serializer):
    handed_by = serializers.CharField(max_length=200)
    received_by = serializers.CharField(max_length=200)
    at = bank_fields.DateTimeField()
    location = serializers.CharField(max_length=200)
    temperature_c = serializers.DecimalField(max_digits=5, decimal_places=1, required=False, allow_null=True,
                                             default=None)
    note = serializers.CharField(required=False, allow_blank=True, default="")


class ImportSerializer(serializers.Serializer):
    file = serializers.FileField(help_text="CSV (UTF-8) with a header line; see the import page for the columns.")


# --- output ---------------------------------------------------------------------------------------


class UsernameField(serializers.CharField):
    def __init__(self, **kwargs):
        kwargs.setdefault("read_only", True)
        kwargs.setdefault("allow_null", True)
        super().__init__(**kwargs)

    def to_representation(self, value):
        return value.get_username() if value is not None else None


class ConsentSerializer(serializers.ModelSerializer):
    recorded_by = UsernameField()
    withdrawn_by = UsernameField()
    state = serializers.SerializerMethodField()

    class Meta:
        model = Consent
        fields = ["id", "donor", "form_version", "signed_on", "scopes", "recorded_by", "recorded_at", "state",
                  "withdrawn_at", "withdrawn_by", "withdrawal_reason"]

    def get_state(self, obj) -> str:
        return "withdrawn" if obj.withdrawn_at else "active"


class ScreeningResultSerializer(serializers.ModelSerializer):
    recorded_by = UsernameField()
    corrected = serializers.SerializerMethodField(help_text="True when a later result corrects this one.")

    class Meta:
        model = ScreeningResult
        fields = ["id", "marker", "result", "corrects", "correction_reason", "corrected", "recorded_by",
                  "recorded_at"]

    def get_corrected(self, obj) -> bool:
        try:
            return obj.corrected_by is not None
        except ScreeningResult.DoesNotExist:
            return False


class ScreeningSerializer(serializers.ModelSerializer):
    recorded_by = UsernameField()
    results = ScreeningResultSerializer(many=True, read_only=True)

    class Meta:
        model = Screening
        fields = ["id", "donor", "sample_drawn_on", "maternal_sample", "laboratory", "recorded_by", "recorded_at",
                  "results"]


class HLASerializer(serializers.ModelSerializer):
    homozygous_loci = serializers.SerializerMethodField()
    recorded_by = UsernameField()

    class Meta:
        model = HLATyping
        fields = ["donor", "method", "resolution", "typed_on", "laboratory", "homozygous_loci", "recorded_by",
                  "recorded_at"]

    def get_homozygous_loci(self, obj) -> list[str]:
        return obj.homozygous_loci()

    def to_representation(self, instance):
        data = super().to_representation(instance)
        data.update(instance.alleles())
        return data


class HLAOutputSchema(HLASerializer):
    """Documentation shape of the HLA typing (alleles per locus are added to the output)."""

    class Meta(HLASerializer.Meta):
        fields = [*HLASerializer.Meta.fields]


for _locus in HLA_LOCI:
    HLAOutputSchema._declared_fields[_locus] = serializers.ListField(child=serializers.CharField(), read_only=True)
    HLAOutputSchema.Meta.fields.append(_locus)
for _locus in OPTIONAL_HLA_LOCI:
    HLAOutputSchema._declared_fields[_locus] = serializers.ListField(
        child=serializers.CharField(), read_only=True, required=False, help_text="Only when typed.")
    HLAOutputSchema.Meta.fields.append(_locus)
HLAOutputSchema._declared_fields["history"] = serializers.ListField(
    child=serializers.DictField(), read_only=True, required=False,
    help_text="GET/PUT /donors/{id}/hla/ only: every version of the typing, newest first (alleles, method, "
              "resolution, typed_on, laboratory, recorded_at, changed_at, changed_by, reason, change).")
HLAOutputSchema.Meta.fields.append("history")


class CollectionSerializer(serializers.ModelSerializer):
    donor_code = serializers.CharField(source="donor.code", read_only=True)
    ethics_approval_number = serializers.CharField(source="ethics_approval.approval_number", read_only=True,
                                                   allow_null=True, default=None)
    received_by = UsernameField()
    transport_hours = serializers.FloatField(read_only=True)

    class Meta:
        model = Collection
        fields = ["id", "code", "donor", "donor_code", "consent", "tissue", "collected_at", "received_at",
                  "transport_hours", "transport_temperature_c", "transport_delay_flagged", "transport_out_of_limits",
                  "ethics_approval", "ethics_approval_number", "received_by", "notes"]


class CollectionDetailSerializer(CollectionSerializer):
    eligibility = serializers.SerializerMethodField()
    missing_markers = serializers.SerializerMethodField()

    class Meta(CollectionSerializer.Meta):
        fields = [*CollectionSerializer.Meta.fields, "eligibility", "missing_markers"]

    def _result(self, obj):
        cache = self.context.setdefault("_eligibility", {})
        if obj.pk not in cache:
            cache[obj.pk] = eligibility_for(obj.donor, obj)
        return cache[obj.pk]

    def get_eligibility(self, obj) -> str:
        return self._result(obj).status

    def get_missing_markers(self, obj) -> list[str]:
        return self._result(obj).missing_markers


class EthicsApprovalSerializer(serializers.ModelSerializer):
    withdrawn_by = UsernameField()

    class Meta:
        model = EthicsApproval
        fields = ["id", "committee", "approval_number", "scope", "valid_from", "valid_to", "withdrawn_on",
                  "withdrawn_by", "withdrawal_reason"]


class HandoverSerializer(serializers.ModelSerializer):
    recorded_by = UsernameField()

    class Meta:
        model = CustodyHandover
        fields = ["id", "collection", "handed_by", "received_by", "at", "location", "temperature_c", "note",
                  "within_limits", "limit_problem", "recorded_by", "recorded_at"]


class ScreeningMarkerSerializer(serializers.ModelSerializer):
    class Meta:
        model = ScreeningMarker
        fields = ["code", "name", "required", "tissues", "order"]


class ScreeningWindowSerializer(serializers.ModelSerializer):
    class Meta:
        model = ScreeningWindow
        fields = ["tissue", "days_before", "days_after"]


class DonorSerializer(serializers.ModelSerializer):
    """A donor as lists show it: pseudonymous code and facts, eligibility and consent state; no identity."""

    eligibility = serializers.SerializerMethodField()
    missing_markers = serializers.SerializerMethodField()
    consent_state = serializers.SerializerMethodField()

    class Meta:
        model = Donor
        fields = ["id", "code", "sex", "birth_year", "population", "donor_type", "diagnosis", "registered_at",
                  "consent_state", "consent_withdrawn_at", "eligibility", "missing_markers"]

    def _result(self, obj):
        cache = self.context.setdefault("_eligibility", {})
        if obj.pk not in cache:
            panel = self.context.get("panel")
            if panel is None:
                panel = self.context["panel"] = PanelConfig.load()
            cache[obj.pk] = eligibility_for(obj, panel=panel)
        return cache[obj.pk]

    @extend_schema_field(serializers.ChoiceField(choices=["eligible", "ineligible", "incomplete"]))
    def get_eligibility(self, obj) -> str:
        return self._result(obj).status

    def get_missing_markers(self, obj) -> list[str]:
        return self._result(obj).missing_markers

    @extend_schema_field(serializers.ChoiceField(choices=["none", "active", "withdrawn"]))
    def get_consent_state(self, obj) -> str:
        return consent_state(obj)


class IdentityErasureSerializer(serializers.Serializer):
    donor = serializers.IntegerField()
    donor_code = serializers.CharField()
    erased_at = serializers.DateTimeField()
    erased_by = serializers.CharField(allow_null=True)
    reason = serializers.CharField()


class DonorDetailSerializer(DonorSerializer):
    """One donor with consents, screenings, HLA and collections; identity only for those allowed to see it."""

    consents = ConsentSerializer(many=True, read_only=True)
    screenings = ScreeningSerializer(many=True, read_only=True)
    collections = CollectionSerializer(many=True, read_only=True)
    hla = serializers.SerializerMethodField()
    identity = serializers.SerializerMethodField()
    identity_erased = serializers.SerializerMethodField()

    class Meta(DonorSerializer.Meta):
        fields = [*DonorSerializer.Meta.fields, "consents", "screenings", "hla", "collections", "identity",
                  "identity_erased"]

    def get_fields(self):
        fields = super().get_fields()
        request = self.context.get("request")
        if request is None or not can_view_identity(request.user):
            # Not even read: the identity of a donor leaves the server only for coordinators and admins.
            fields.pop("identity", None)
            fields.pop("identity_erased", None)
        return fields

    def _identity(self, obj):
        opened = self.context.setdefault("_identity", {})
        if obj.pk not in opened:
            opened[obj.pk] = identity_for(obj, self.context["request"].user)
        return opened[obj.pk]

    @extend_schema_field(HLAOutputSchema(allow_null=True))
    def get_hla(self, obj):
        try:
            typing = obj.hla
        except HLATyping.DoesNotExist:
            return None
        return HLASerializer(typing, context=self.context).data

    @extend_schema_field(IdentitySerializer(allow_null=True, help_text="Only for coordinators and admins; null "
                                                                     "when none is on file or it was erased."))
    def get_identity(self, obj):
        identity = self._identity(obj)
        if identity is None or identity.is_erased:
            return None
        if identity.problem:
            # Never a silent null: a client must know the identity exists but cannot be read (503).
            raise IdentityKeyUnavailable(identity.problem, code="identity_key_unavailable")
        return {"full_name": identity.full_name, "national_id": identity.national_id, "phone": identity.phone}

    @extend_schema_field(IdentityErasureSerializer(allow_null=True, help_text="Only for coordinators and admins: "
                                                                               "the tombstone of an erased identity."))
    def get_identity_erased(self, obj):
        identity = self._identity(obj)
        if identity is None or not identity.is_erased:
            return None
        return IdentityErasureSerializer(identity_erasure(obj, identity)).data


def identity_erasure(donor, identity) -> dict:
    """The tombstone of an erased identity as the API shows it (never any erased value)."""
    return {"donor": donor.pk, "donor_code": donor.code, "erased_at": identity.erased_at,
            "erased_by": identity.erased_by.get_username() if identity.erased_by else None,
            "reason": identity.erasure_reason}


class WithdrawalSerializer(serializers.Serializer):
    consent = ConsentSerializer()
    donor = serializers.IntegerField()
    donor_code = serializers.CharField()
    withdrawn_at = serializers.DateTimeField()
    withdrawn_consents = serializers.ListField(child=serializers.IntegerField())
    affected_lots = serializers.ListField(child=serializers.IntegerField(), help_text="Ids of every flagged lot.")
    affected_lot_numbers = serializers.ListField(child=serializers.CharField())


class DerivedLotSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    lot_number = serializers.CharField()
    cell_line = serializers.CharField(source="cell_line.name")
    tier = serializers.CharField()
    status = serializers.CharField()
    consent_withdrawn_flagged_at = serializers.DateTimeField(allow_null=True)
    vials_total = serializers.IntegerField()
    vials_available = serializers.IntegerField()
    vials_reserved = serializers.IntegerField()
    vials_shipped = serializers.IntegerField()


class ImportResultSerializer(serializers.Serializer):
    imported = serializers.IntegerField()
    codes = serializers.ListField(child=serializers.CharField())
    screenings = serializers.IntegerField()
    results = serializers.IntegerField()
    consents = serializers.IntegerField()


class ImportErrorSerializer(serializers.Serializer):
    rows = serializers.ListField(child=serializers.DictField(), help_text="[{line, errors: [..]}]; nothing imported.")
