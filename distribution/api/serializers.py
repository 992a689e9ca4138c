"""Serializers of the distribution API: they shape input and output only (rules live in services)."""

from __future__ import annotations

from django.utils.translation import gettext_lazy as _
from rest_framework import serializers

from bank.api import fields as bank_fields
from bank.api.serializers import PlainRowsListSerializer, SignaturesField
from distribution.choices import ArrivalCondition, InstitutionType, IntendedUse, ShipperType
from distribution.models import (
    DistributionRequest,
    ExportApproval,
    InstitutionProfile,
    MaterialTransferAgreement,
    Recall,
    Shipment,
)
from lots.models import CellLine

# --- catalog ------------------------------------------------------------------------------------


class CharacterizationSerializer(serializers.Serializer):
    test = serializers.CharField()
    name = serializers.CharField()
    result = serializers.CharField()
    passed = serializers.BooleanField(allow_null=True)
    lot = serializers.CharField()
    tested_on = serializers.DateField()


class HLASerializer(serializers.Serializer):
    alleles = serializers.DictField(child=serializers.ListField(child=serializers.CharField()))
    homozygous_loci = serializers.ListField(child=serializers.CharField())


class CatalogEntrySerializer(serializers.Serializer):
    """A released line. No donor identity and no donor code, by construction."""

    id = serializers.IntegerField(help_text="the cell line")
    name = serializers.CharField()
    cell_type = serializers.CharField()
    cell_type_display = serializers.CharField()
    grade = serializers.CharField()
    grade_display = serializers.CharField()
    description = serializers.CharField()
    available_vials = serializers.IntegerField()
    passage = serializers.IntegerField(allow_null=True, help_text="passage of the lot the next vials come from")
    passages = serializers.ListField(child=serializers.IntegerField())
    tiers = serializers.ListField(child=serializers.CharField())
    characterization = CharacterizationSerializer(many=True, help_text="latest QC result per test")
    characterization_text = serializers.CharField()
    hla = HLASerializer(allow_null=True, help_text="only where the donor consented to data_sharing")


def catalog_entry_data(entry) -> dict:
    """``CatalogEntrySerializer(entry).data`` built directly: the catalog answers 50 lines with their QC
    characterization on every page, and DRF's field-by-field representation took a quarter of the request. The
    serializer stays the contract (schema); a test keeps the two outputs identical."""

    def text(value):
        return None if value is None else str(value)

    return {
        "id": entry.id, "name": text(entry.name), "cell_type": text(entry.cell_type),
        "cell_type_display": text(entry.cell_type_display), "grade": text(entry.grade),
        "grade_display": text(entry.grade_display), "description": text(entry.description),
        "available_vials": int(entry.available_vials), "passage": entry.passage,
        "passages": [int(p) for p in entry.passages], "tiers": [str(t) for t in entry.tiers],
        "characterization": [{
            "test": text(c["test"]), "name": text(c["name"]), "result": text(c["result"]), "passed": c["passed"],
            "lot": text(c["lot"]), "tested_on": c["tested_on"].isoformat() if c["tested_on"] else None,
        } for c in entry.characterization],
        "characterization_text": entry.characterization_text,
        "hla": None if entry.hla is None else {
            "alleles": {str(k): [str(a) for a in v] for k, v in entry.hla["alleles"].items()},
            "homozygous_loci": [str(x) for x in entry.hla["homozygous_loci"]]},
    }


class MTASerializer(serializers.ModelSerializer):
    class Meta:
        model = MaterialTransferAgreement
        fields = ["version", "title", "text", "effective_from"]


# --- requests -----------------------------------------------------------------------------------


class ShipmentSerializer(serializers.ModelSerializer):
    shipped_by = serializers.SlugRelatedField(slug_field="username", read_only=True)

    class Meta:
        model = Shipment
        fields = ["courier", "tracking_number", "shipper_type", "shipped_on", "shipped_by", "received_at",
                  "arrival_condition", "receipt_notes"]


class ExportApprovalSerializer(serializers.ModelSerializer):
    """A Human Genetic Resources export approval of a request (the scan is kept; only its name and hash show)."""

    request = serializers.CharField(source="request.number", read_only=True)
    recorded_by = serializers.SlugRelatedField(slug_field="username", read_only=True)
    has_document = serializers.SerializerMethodField()

    class Meta:
        model = ExportApproval
        fields = ["id", "request", "approval_number", "authority", "approved_on", "expires_on", "has_document",
                  "document_name", "document_sha256", "recorded_by", "recorded_at"]
        read_only_fields = fields

    def get_has_document(self, obj) -> bool:
        return bool(obj.document)


class ExportApprovalCreateSerializer(serializers.Serializer):
    approval_number = serializers.CharField(max_length=100)
    authority = serializers.CharField(max_length=200,
                                      help_text="e.g. the Ministry of Science and Technology (HGR office)")
    approved_on = bank_fields.DateField()
    expires_on = bank_fields.DateField()
    document = serializers.FileField(required=False, allow_null=True,
                                     help_text="the scanned approval (PDF, PNG, JPEG or TIFF; multipart upload)")


class RequestSerializer(serializers.ModelSerializer):
    researcher = serializers.SlugRelatedField(slug_field="username", read_only=True)
    cell_line_name = serializers.CharField(source="cell_line.name", read_only=True)
    mta_version = serializers.CharField(source="mta.version", read_only=True)
    decided_by = serializers.SlugRelatedField(slug_field="username", read_only=True)
    allocated_vials = serializers.SerializerMethodField(help_text="barcodes of the vials reserved (or shipped)")
    shipment = serializers.SerializerMethodField()
    fee_total = serializers.DecimalField(source="fee_amount", max_digits=12, decimal_places=2, read_only=True,
                                         help_text="the fee of the request (vials × fee per vial)")
    export_approval_required = serializers.SerializerMethodField(
        help_text="true when the recipient is outside the bank's country (BANK_COUNTRY)")
    export_approvals = ExportApprovalSerializer(many=True, read_only=True)

    class Meta:
        model = DistributionRequest
        fields = ["id", "number", "status", "researcher", "cell_line", "cell_line_name", "vials", "intended_use",
                  "project_title", "project_summary", "institution", "institution_type", "recipient_country",
                  "shipping_address", "mta_version", "mta_accepted_at", "fee_amount", "fee_total", "fee_currency",
                  "submitted_at", "decided_at", "decided_by", "decision_reason", "cancelled_at", "allocated_vials",
                  "shipment", "export_approval_required", "export_approvals"]
        read_only_fields = fields

    def get_export_approval_required(self, obj) -> bool:
        from distribution.queries import needs_export_approval

        return needs_export_approval(obj)

    def get_allocated_vials(self, obj) -> list[str]:
        live = getattr(obj, "live_allocations", None)
        if live is None:
            live = obj.allocations.filter(released_at__isnull=True).select_related("vial")
        return sorted(a.vial.barcode for a in live)

    def get_shipment(self, obj) -> dict | None:
        try:
            return ShipmentSerializer(obj.shipment).data
        except Shipment.DoesNotExist:
            return None


class RequestCreateSerializer(serializers.Serializer):
    cell_line = serializers.PrimaryKeyRelatedField(
        queryset=CellLine.objects.all(), error_messages={"does_not_exist": _("Unknown cell line.")})
    vials = serializers.IntegerField(min_value=1, max_value=10_000)
    intended_use = serializers.ChoiceField(choices=IntendedUse.choices)
    project_title = serializers.CharField(max_length=300)
    project_summary = serializers.CharField(required=False, allow_blank=True, default="")
    institution = serializers.CharField(required=False, allow_blank=True, default="", max_length=200)
    institution_type = serializers.ChoiceField(choices=InstitutionType.choices,
                                               help_text="public institutions share free by default; enterprises pay")
    recipient_country = serializers.CharField(required=False, allow_blank=True, default="", max_length=10,
                                              help_text="ISO 3166-1 alpha-2; default the bank's country")
    shipping_address = serializers.CharField(required=False, allow_blank=True, default="")
    mta_accepted = serializers.BooleanField(help_text="must be true: the researcher accepts the MTA in force")
    mta_version = serializers.CharField(required=False, allow_blank=True, default="",
                                        help_text="the MTA version the researcher read (GET /mta/)")


class InstitutionProfileSerializer(serializers.ModelSerializer):
    class Meta:
        model = InstitutionProfile
        fields = ["name", "institution_type", "country", "address", "billing_contact", "billing_email", "updated_at"]
        read_only_fields = ["updated_at"]
        # The service validates (one source); the serializer only shapes.
        extra_kwargs = {"country": {"max_length": 10}}


class ApproveSerializer(serializers.Serializer):
    reason = serializers.CharField(required=False, allow_blank=True, default="")


class RequestRejectSerializer(serializers.Serializer):
    reason = serializers.CharField()


class ShipSerializer(serializers.Serializer):
    courier = serializers.CharField(max_length=120)
    tracking_number = serializers.CharField(max_length=120)
    shipped_on = bank_fields.DateField()
    shipper_type = serializers.ChoiceField(choices=ShipperType.choices, default=ShipperType.DRY_SHIPPER)


class ReceiveSerializer(serializers.Serializer):
    condition = serializers.ChoiceField(choices=ArrivalCondition.choices, default=ArrivalCondition.GOOD)
    notes = serializers.CharField(required=False, allow_blank=True, default="")


class PickSerializer(serializers.Serializer):
    barcode = serializers.CharField(max_length=40)


class PickLineSerializer(serializers.Serializer):
    barcode = serializers.CharField(source="vial.barcode")
    lot = serializers.CharField(source="vial.lot.lot_number")
    tier = serializers.CharField(source="vial.lot.tier")
    unit = serializers.SerializerMethodField()
    rack = serializers.SerializerMethodField()
    box = serializers.SerializerMethodField()
    box_barcode = serializers.SerializerMethodField()
    row = serializers.IntegerField(source="vial.row", allow_null=True)
    col = serializers.IntegerField(source="vial.col", allow_null=True)
    picked_at = serializers.DateTimeField(allow_null=True)

    def get_unit(self, obj) -> str | None:
        return obj.vial.box.rack.unit.name if obj.vial.box else None

    def get_rack(self, obj) -> str | None:
        return obj.vial.box.rack.name if obj.vial.box else None

    def get_box(self, obj) -> str | None:
        return obj.vial.box.name if obj.vial.box else None

    def get_box_barcode(self, obj) -> str | None:
        return obj.vial.box.barcode if obj.vial.box else None


# --- trace --------------------------------------------------------------------------------------


class TracePositionSerializer(serializers.Serializer):
    unit = serializers.CharField()
    rack = serializers.CharField()
    box = serializers.CharField()
    box_barcode = serializers.CharField()
    row = serializers.IntegerField()
    col = serializers.IntegerField()


class RecipientSerializer(serializers.Serializer):
    username = serializers.CharField()
    name = serializers.CharField()
    email = serializers.CharField(required=False)
    institution = serializers.CharField()


class ExportApprovalTraceSerializer(serializers.Serializer):
    approval_number = serializers.CharField()
    authority = serializers.CharField()
    approved_on = serializers.DateField()
    expires_on = serializers.DateField()
    document_sha256 = serializers.CharField()


class ShipmentTraceSerializer(serializers.Serializer):
    request = serializers.CharField()
    request_id = serializers.IntegerField()
    request_status = serializers.CharField()
    intended_use = serializers.CharField()
    project_title = serializers.CharField()
    recipient = RecipientSerializer()
    allocated_at = serializers.DateTimeField()
    released_at = serializers.DateTimeField(allow_null=True)
    picked_at = serializers.DateTimeField(allow_null=True)
    courier = serializers.CharField()
    tracking_number = serializers.CharField()
    shipper_type = serializers.CharField()
    shipped_on = serializers.DateField(allow_null=True)
    received_at = serializers.DateTimeField(allow_null=True)
    arrival_condition = serializers.CharField()
    recipient_country = serializers.CharField()
    export_approval = ExportApprovalTraceSerializer(allow_null=True,
                                                    help_text="the export approval valid on the shipping date")


class ForwardShipmentSerializer(ShipmentTraceSerializer):
    vials = serializers.ListField(child=serializers.CharField())
    lots = serializers.ListField(child=serializers.CharField())


class QCResultTraceSerializer(serializers.Serializer):
    test = serializers.CharField()
    name = serializers.CharField()
    value = serializers.DecimalField(max_digits=12, decimal_places=4, allow_null=True)
    outcome = serializers.CharField()
    result = serializers.CharField()
    unit = serializers.CharField()
    passed = serializers.BooleanField(allow_null=True)
    tested_on = serializers.DateField()
    method = serializers.CharField()
    instrument = serializers.CharField()
    entered_by = serializers.CharField()
    retest_of = serializers.IntegerField(allow_null=True)


class PassageTraceSerializer(serializers.Serializer):
    number = serializers.IntegerField()
    passaged_on = serializers.DateField()
    medium = serializers.CharField()
    medium_lot = serializers.CharField()
    reagents = serializers.ListField(child=serializers.DictField())
    viability_pct = serializers.DecimalField(max_digits=5, decimal_places=2, allow_null=True)


class CultureTraceSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    started_on = serializers.DateField()
    source_vial = serializers.CharField(allow_null=True)
    passages = PassageTraceSerializer(many=True)


class LotBriefSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    lot_number = serializers.CharField()
    tier = serializers.CharField()
    status = serializers.CharField()
    passage = serializers.IntegerField()
    frozen_on = serializers.DateField()
    parent_lot = serializers.IntegerField(allow_null=True)
    cryoprotectant = serializers.CharField()
    cryoprotectant_lot = serializers.CharField()
    consent_withdrawn_flagged = serializers.BooleanField()


class LotTraceSerializer(LotBriefSerializer):
    culture = CultureTraceSerializer(allow_null=True)
    qc_results = QCResultTraceSerializer(many=True)


class MoveTraceSerializer(serializers.Serializer):
    kind = serializers.CharField()
    moved_at = serializers.DateTimeField()
    moved_by = serializers.CharField(allow_null=True)
    reason = serializers.CharField()
    from_position = TracePositionSerializer(allow_null=True)
    to_position = TracePositionSerializer(allow_null=True)


class RecallBriefSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    source = serializers.CharField()
    lot = serializers.CharField(allow_null=True)
    reason = serializers.CharField()
    initiated_at = serializers.DateTimeField()
    initiated_by = serializers.CharField()


class DonorRefSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    code = serializers.CharField(help_text="the pseudonymous donor code (never identity)")
    consent_withdrawn_at = serializers.DateTimeField(allow_null=True)


class VialTraceSerializer(serializers.Serializer):
    vial = serializers.DictField()
    donor = DonorRefSerializer()
    collection = serializers.DictField()
    cell_line = serializers.DictField()
    lot = LotTraceSerializer()
    lineage = LotTraceSerializer(many=True, help_text="ancestor lots, nearest first")
    qc_results = QCResultTraceSerializer(many=True)
    storage_moves = MoveTraceSerializer(many=True)
    allocations = ShipmentTraceSerializer(many=True)
    shipment = ShipmentTraceSerializer(allow_null=True)
    recalls = RecallBriefSerializer(many=True)


class ForwardVialSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    barcode = serializers.CharField()
    status = serializers.CharField()
    position = TracePositionSerializer(allow_null=True)
    request = serializers.CharField(allow_null=True)

    class Meta:
        list_serializer_class = PlainRowsListSerializer  # a donor's vials, by the thousand


class ForwardLotSerializer(LotBriefSerializer):
    cell_line = serializers.CharField()
    vial_counts = serializers.DictField(child=serializers.IntegerField())
    vials = ForwardVialSerializer(many=True)


class ForwardLineSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()
    cell_type = serializers.CharField()
    grade = serializers.CharField()
    collection = serializers.CharField()
    parent_line = serializers.IntegerField(allow_null=True)


class ForwardTraceSerializer(serializers.Serializer):
    donor = DonorRefSerializer()
    cell_lines = ForwardLineSerializer(many=True)
    lots = ForwardLotSerializer(many=True)
    shipments = ForwardShipmentSerializer(many=True)
    recipients = RecipientSerializer(many=True)
    recalls = RecallBriefSerializer(many=True)


class LotForwardTraceSerializer(ForwardTraceSerializer):
    lot = LotBriefSerializer()


# --- recall -------------------------------------------------------------------------------------


class RecallCreateSerializer(serializers.Serializer):
    reason = serializers.CharField()
    password = serializers.CharField(trim_whitespace=False, style={"input_type": "password"},
                                     help_text="the signer's password (electronic signature)")
    statement = serializers.CharField(required=False, allow_blank=True, default="")


class RecallNoticeSerializer(serializers.Serializer):
    request = serializers.CharField(source="request.number")
    request_id = serializers.IntegerField()
    recipient = serializers.CharField(source="recipient.username")
    recipient_name = serializers.SerializerMethodField()
    institution = serializers.CharField(source="request.institution")
    vial_barcodes = serializers.ListField(child=serializers.CharField())
    notified_at = serializers.DateTimeField()

    def get_recipient_name(self, obj) -> str:
        return obj.recipient.get_full_name() or obj.recipient.get_username()


class RecallSerializer(serializers.ModelSerializer):
    """A recall and everyone who received its vials (the list QA works through)."""

    lot_number = serializers.CharField(source="lot.lot_number", default=None, read_only=True)
    initiated_by = serializers.SlugRelatedField(slug_field="username", read_only=True)
    notices = RecallNoticeSerializer(many=True, read_only=True)
    signatures = SignaturesField()

    class Meta:
        model = Recall
        fields = ["id", "source", "lot", "lot_number", "donor", "reason", "initiated_at", "initiated_by",
                  "notices", "signatures"]
        read_only_fields = fields
