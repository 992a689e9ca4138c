"""Donors API (API.md "Donors"): parse, check the role, call one service, shape the answer."""

from __future__ import annotations

from django.core.exceptions import ValidationError as DjangoValidationError
from django.shortcuts import get_object_or_404
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import exceptions, status
from rest_framework.generics import GenericAPIView, ListAPIView
from rest_framework.parsers import FormParser, MultiPartParser
from rest_framework.response import Response

from bank import tally
from bank.api.errors import validation_payload
from bank.api.mixins import PageContextMixin
from bank.api.pagination import KeysetPagination
from bank.api.parsers import JSONParser
from bank.api.permissions import HasPerms
from bank.api.schema import KeysetSchema
from bank.api.serializers import DomainErrorSerializer
from donors import services
from donors.api import serializers as s
from donors.api.filters import CollectionFilter, DonorFilter, EthicsApprovalFilter
from donors.choices import HLA_LOCI, OPTIONAL_HLA_LOCI
from donors.crypto import IdentityKeyUnavailable
from donors.models import (
    Collection,
    Consent,
    Donor,
    EthicsApproval,
    HLATyping,
    ScreeningMarker,
    ScreeningResult,
    ScreeningWindow,
)
from donors.queries import (
    PanelConfig,
    can_view_identity,
    derived_lots,
    donor_detail_queryset,
    donor_list,
    eligibility_of,
    hla_versions,
    identity_for,
)

IDENTITY_KEYS = set(services.IDENTITY_FIELDS)
ERRORS = {400: OpenApiResponse(description="Bad input: {field: [message]}"),
          403: DomainErrorSerializer, 409: DomainErrorSerializer}


def run(func, *args, **kwargs):
    """Call a service; a ValidationError on identity fields is reported under ``identity`` as it was sent."""
    try:
        return func(*args, **kwargs)
    except services.ImportRejected:
        raise
    except DjangoValidationError as exc:
        payload = validation_payload(exc)
        nested = {key: payload.pop(key) for key in list(payload) if key in IDENTITY_KEYS}
        if nested:
            payload["identity"] = nested
        raise exceptions.ValidationError(payload)


def identity_key_check(donor: Donor, user) -> None:
    identity = identity_for(donor, user)
    if identity is not None and identity.problem:
        raise IdentityKeyUnavailable(identity.problem, code="identity_key_unavailable")


def _input(serializer_class, request, **kwargs):
    serializer = serializer_class(data=request.data, **kwargs)
    serializer.is_valid(raise_exception=True)
    return serializer.validated_data


class DonorListView(PageContextMixin, ListAPIView):
    """Donors, newest registered first in keyset pages (``?code=`` finds one); identity never appears in a list."""

    permission_classes = [HasPerms]
    required_perms = {"GET": ["donors.view_donor"], "POST": ["donors.add_donor", "donors.add_donoridentity"]}
    serializer_class = s.DonorSerializer
    filterset_class = DonorFilter
    pagination_class = KeysetPagination
    schema = KeysetSchema()
    keyset_ordering = ("-registered_at", "-id")  # donor_list()'s order, on donors_donor_order_idx

    def get_queryset(self):
        return donor_list()

    def kept_count(self, filters: dict[str, list[str]]) -> int | None:
        """Every donor: a kept count (bank/tally.py), as the donors page reads it."""
        return None if filters else tally.total("donors.donor")

    def page_context(self, page):
        # Every row's eligibility read for the page at once (DonorSerializer takes it from ``_eligibility``).
        panel = PanelConfig.load()
        return {"panel": panel, "_eligibility": eligibility_of(page, panel)}

    @extend_schema(request=s.DonorCreateSerializer, responses={201: s.DonorDetailSerializer, **ERRORS})
    def post(self, request):
        data = _input(s.DonorCreateSerializer, request)
        donor = run(services.register_donor, actor=request.user, **data)
        donor = donor_detail_queryset().get(pk=donor.pk)
        return Response(s.DonorDetailSerializer(donor, context=self.get_serializer_context()).data,
                        status=status.HTTP_201_CREATED)


class DonorDetailView(GenericAPIView):
    """One donor with eligibility, missing markers, consents, screenings, HLA, collections (identity if allowed)."""

    permission_classes = [HasPerms]
    required_perms = {"GET": ["donors.view_donor"], "PATCH": ["donors.change_donor"]}
    serializer_class = s.DonorDetailSerializer

    def get_object(self):
        return get_object_or_404(donor_detail_queryset(), pk=self.kwargs["pk"])

    def get(self, request, pk: int):
        return Response(s.DonorDetailSerializer(self.get_object(), context=self.get_serializer_context()).data)

    @extend_schema(request=s.DonorUpdateSerializer, responses={200: s.DonorDetailSerializer, **ERRORS})
    def patch(self, request, pk: int):
        donor = get_object_or_404(Donor, pk=pk)
        data = dict(_input(s.DonorUpdateSerializer, request))
        identity = data.pop("identity", None)
        if identity is not None and not request.user.has_perm("donors.change_donoridentity"):
            raise exceptions.PermissionDenied()
        reason = data.pop("reason")
        if can_view_identity(request.user):
            # The answer shows the identity: say now, before changing anything, if it cannot be read.
            identity_key_check(donor, request.user)
        run(services.update_donor, donor, actor=request.user, reason=reason, identity=identity, **data)
        return Response(s.DonorDetailSerializer(self.get_object(), context=self.get_serializer_context()).data)


class DonorEraseIdentityView(GenericAPIView):
    """Erase the donor's identity on their request (crypto-shredding; coordinator or admin, password again):
    the name, national ID and phone become unreadable for good, in the table and in every history row; the
    donor code, consents, screening, lots and the audit trail stay. 409 ``no_identity``, ``identity_erased``."""

    permission_classes = [HasPerms]
    required_perms = {"POST": ["donors.erase_donoridentity", "donors.view_donoridentity"]}
    serializer_class = s.IdentityErasureSerializer

    @extend_schema(request=s.EraseIdentitySerializer, responses={200: s.IdentityErasureSerializer, **ERRORS})
    def post(self, request, pk: int):
        donor = get_object_or_404(Donor, pk=pk)
        data = _input(s.EraseIdentitySerializer, request)
        identity = run(services.erase_identity, donor, actor=request.user, reason=data["reason"],
                       password=data["password"])
        return Response(s.IdentityErasureSerializer(s.identity_erasure(donor, identity)).data)


class DonorConsentsView(GenericAPIView):
    """The donor's consents (newest first); POST records a signed consent or a re-consent."""

    permission_classes = [HasPerms]
    required_perms = {"GET": ["donors.view_consent"], "POST": ["donors.add_consent"]}
    serializer_class = s.ConsentSerializer
    pagination_class = None

    def get(self, request, pk: int):
        donor = get_object_or_404(Donor, pk=pk)
        consents = donor.consents.select_related("recorded_by", "withdrawn_by").order_by("-signed_on", "-id")
        return Response(s.ConsentSerializer(consents, many=True).data)

    @extend_schema(request=s.ConsentCreateSerializer, responses={201: s.ConsentSerializer, **ERRORS})
    def post(self, request, pk: int):
        donor = get_object_or_404(Donor, pk=pk)
        data = _input(s.ConsentCreateSerializer, request)
        consent = run(services.record_consent, donor, actor=request.user, **data)
        return Response(s.ConsentSerializer(consent).data, status=status.HTTP_201_CREATED)


class ConsentDetailView(GenericAPIView):
    """One consent with its scopes and, once withdrawn, who withdrew it, when and why."""

    permission_classes = [HasPerms]
    required_perms = {"GET": ["donors.view_consent"]}
    serializer_class = s.ConsentSerializer

    def get(self, request, pk: int):
        consent = get_object_or_404(Consent.objects.select_related("recorded_by", "withdrawn_by"), pk=pk)
        return Response(s.ConsentSerializer(consent).data)


class ConsentWithdrawView(GenericAPIView):
    """The donor withdraws consent: every derived lot is flagged and returned; nothing is deleted."""

    permission_classes = [HasPerms]
    required_perms = {"POST": ["donors.withdraw_consent"]}
    serializer_class = s.WithdrawalSerializer

    @extend_schema(request=s.WithdrawSerializer, responses={200: s.WithdrawalSerializer, **ERRORS})
    def post(self, request, pk: int):
        consent = get_object_or_404(Consent, pk=pk)
        data = _input(s.WithdrawSerializer, request)
        result = run(services.withdraw_consent, consent, actor=request.user, reason=data["reason"])
        return Response(s.WithdrawalSerializer({
            "consent": result.consent,
            "donor": result.donor.pk,
            "donor_code": result.donor.code,
            "withdrawn_at": result.donor.consent_withdrawn_at,
            "withdrawn_consents": [c.pk for c in result.withdrawn_consents],
            "affected_lots": [lot.pk for lot in result.affected_lots],
            "affected_lot_numbers": [lot.lot_number for lot in result.affected_lots],
        }).data)


class DonorDerivedLotsView(GenericAPIView):
    """Every lot derived from the donor with vial counts: what a consent withdrawal would flag."""

    permission_classes = [HasPerms]
    required_perms = {"GET": ["donors.view_donor", "lots.view_lot"]}
    serializer_class = s.DerivedLotSerializer
    pagination_class = None

    def get(self, request, pk: int):
        donor = get_object_or_404(Donor, pk=pk)
        return Response(s.DerivedLotSerializer(derived_lots(donor), many=True).data)


class DonorScreeningsView(GenericAPIView):
    """The donor's screening samples with their results; POST records a sample and its results."""

    permission_classes = [HasPerms]
    required_perms = {"GET": ["donors.view_screening"],
                      "POST": ["donors.add_screening", "donors.add_screeningresult"]}
    serializer_class = s.ScreeningSerializer
    pagination_class = None

    def get(self, request, pk: int):
        donor = get_donor_with_screenings(pk)
        return Response(s.ScreeningSerializer(donor.screenings.all(), many=True).data)

    @extend_schema(request=s.ScreeningCreateSerializer, responses={201: s.ScreeningSerializer, **ERRORS})
    def post(self, request, pk: int):
        donor = get_object_or_404(Donor, pk=pk)
        data = _input(s.ScreeningCreateSerializer, request)
        screening = run(services.record_screening, donor, actor=request.user,
                        sample_drawn_on=data["sample_drawn_on"], results=[dict(r) for r in data["results"]],
                        maternal_sample=data["maternal_sample"], laboratory=data["laboratory"])
        donor = get_donor_with_screenings(pk)
        created = next(x for x in donor.screenings.all() if x.pk == screening.pk)
        return Response(s.ScreeningSerializer(created).data, status=status.HTTP_201_CREATED)


def get_donor_with_screenings(pk: int) -> Donor:
    return get_object_or_404(donor_detail_queryset(), pk=pk)


class ResultCorrectView(GenericAPIView):
    """Correct a screening result: a new result naming the old one and the reason (the old one stays)."""

    permission_classes = [HasPerms]
    required_perms = {"POST": ["donors.add_screeningresult"]}
    serializer_class = s.ScreeningResultSerializer

    @extend_schema(request=s.CorrectionSerializer, responses={201: s.ScreeningResultSerializer, **ERRORS})
    def post(self, request, pk: int):
        original = get_object_or_404(ScreeningResult, pk=pk)
        data = _input(s.CorrectionSerializer, request)
        correction = run(services.correct_result, original, actor=request.user, **data)
        return Response(s.ScreeningResultSerializer(correction).data, status=status.HTTP_201_CREATED)


def _hla_with_history(typing: HLATyping) -> dict:
    data = dict(s.HLASerializer(typing).data)
    data["history"] = hla_versions(typing)
    return data


class DonorHLAView(GenericAPIView):
    """The donor's registration HLA typing (A, B, C, DRB1, DQB1 and optionally DPB1) with its earlier versions
    (``history``); PUT records or replaces it (the replaced version stays in the history; a PUT without DPB1 keeps
    the DPB1 on file)."""

    permission_classes = [HasPerms]
    required_perms = {"GET": ["donors.view_hlatyping"],
                      "PUT": ["donors.add_hlatyping", "donors.change_hlatyping"]}
    serializer_class = s.HLAOutputSchema
    queryset = Donor.objects.all()  # the typed donor: OPTIONS (DRF's metadata) looks the object up for PUT

    def get(self, request, pk: int):
        typing = get_object_or_404(HLATyping.objects.select_related("recorded_by"), donor_id=pk)
        return Response(_hla_with_history(typing))

    @extend_schema(request=s.HLAInputSerializer, responses={200: s.HLAOutputSchema, **ERRORS})
    def put(self, request, pk: int):
        donor = get_object_or_404(Donor, pk=pk)
        data = dict(_input(s.HLAInputSerializer, request))
        alleles = {locus: data.pop(locus) for locus in HLA_LOCI}
        alleles.update({locus: data.pop(locus) for locus in OPTIONAL_HLA_LOCI if locus in data})
        typing = run(services.set_hla, donor, actor=request.user, alleles=alleles, **data)
        return Response(_hla_with_history(typing))


class CollectionListView(ListAPIView):
    """Collections, newest first (``?donor=`` id, ``?code=``); POST receives a collection (technician or
    coordinator): 409 ``no_active_consent`` without an active consent; with ``REQUIRE_ETHICS_APPROVAL`` on, 409
    ``no_ethics_approval`` when no approval is in force on the collection date (the single one in force is cited
    when ``ethics_approval`` is left out)."""

    permission_classes = [HasPerms]
    required_perms = {"GET": ["donors.view_collection"], "POST": ["donors.add_collection"]}
    serializer_class = s.CollectionSerializer
    filterset_class = CollectionFilter
    queryset = Collection.objects.select_related("donor", "ethics_approval", "received_by").order_by(
        "-collected_at", "-id")

    @extend_schema(request=s.CollectionCreateSerializer, responses={201: s.CollectionDetailSerializer, **ERRORS})
    def post(self, request):
        data = _input(s.CollectionCreateSerializer, request)
        collection = run(services.record_collection, actor=request.user, **data)
        return Response(s.CollectionDetailSerializer(collection).data, status=status.HTTP_201_CREATED)


class CollectionDetailView(GenericAPIView):
    """One collection with its transport time flag and the donor's eligibility for it."""

    permission_classes = [HasPerms]
    required_perms = {"GET": ["donors.view_collection"]}
    serializer_class = s.CollectionDetailSerializer

    def get(self, request, pk: int):
        collection = get_object_or_404(
            Collection.objects.select_related("donor", "ethics_approval", "received_by"), pk=pk)
        return Response(s.CollectionDetailSerializer(collection).data)


class CollectionHandoversView(GenericAPIView):
    """A collection's chain of custody, in time order; POST records a hand-over (technician or coordinator).
    Outside the tissue's transport limits (``COLLECTION_TRANSPORT_LIMITS``) it is marked ``within_limits: false``
    and qc opens a deviation for QA."""

    permission_classes = [HasPerms]
    required_perms = {"GET": ["donors.view_collection", "donors.view_custodyhandover"],
                      "POST": ["donors.add_custodyhandover"]}
    serializer_class = s.HandoverSerializer
    queryset = Collection.objects.all()  # the path's id is the collection's
    pagination_class = None

    @extend_schema(responses={200: s.HandoverSerializer(many=True)})
    def get(self, request, pk: int):
        collection = get_object_or_404(Collection, pk=pk)
        handovers = collection.handovers.select_related("recorded_by").order_by("at", "id")
        return Response(s.HandoverSerializer(handovers, many=True).data)

    @extend_schema(request=s.HandoverInputSerializer, responses={201: s.HandoverSerializer, **ERRORS})
    def post(self, request, pk: int):
        collection = get_object_or_404(Collection, pk=pk)
        data = _input(s.HandoverInputSerializer, request)
        handover = run(services.record_handover, collection, actor=request.user, **data)
        return Response(s.HandoverSerializer(handover).data, status=status.HTTP_201_CREATED)


class EthicsApprovalListView(ListAPIView):
    """Ethics committee approvals (``?valid_on=`` a day); POST records one (coordinator)."""

    permission_classes = [HasPerms]
    required_perms = {"GET": ["donors.view_ethicsapproval"], "POST": ["donors.add_ethicsapproval"]}
    serializer_class = s.EthicsApprovalSerializer
    filterset_class = EthicsApprovalFilter
    queryset = EthicsApproval.objects.select_related("withdrawn_by").order_by("-valid_from", "-id")

    @extend_schema(request=s.EthicsApprovalInputSerializer, responses={201: s.EthicsApprovalSerializer, **ERRORS})
    def post(self, request):
        data = _input(s.EthicsApprovalInputSerializer, request)
        approval = run(services.create_ethics_approval, actor=request.user, **data)
        return Response(s.EthicsApprovalSerializer(approval).data, status=status.HTTP_201_CREATED)


class EthicsApprovalDetailView(GenericAPIView):
    """One approval; PATCH corrects or extends it (with a reason)."""

    permission_classes = [HasPerms]
    required_perms = {"GET": ["donors.view_ethicsapproval"], "PATCH": ["donors.change_ethicsapproval"]}
    serializer_class = s.EthicsApprovalSerializer

    def get(self, request, pk: int):
        return Response(s.EthicsApprovalSerializer(get_object_or_404(EthicsApproval, pk=pk)).data)

    @extend_schema(request=s.EthicsApprovalUpdateSerializer, responses={200: s.EthicsApprovalSerializer, **ERRORS})
    def patch(self, request, pk: int):
        approval = get_object_or_404(EthicsApproval, pk=pk)
        data = dict(_input(s.EthicsApprovalUpdateSerializer, request))
        reason = data.pop("reason")
        approval = run(services.update_ethics_approval, approval, actor=request.user, reason=reason, **data)
        return Response(s.EthicsApprovalSerializer(approval).data)


class EthicsApprovalWithdrawView(GenericAPIView):
    """Record the committee's withdrawal of an approval (coordinator), with a reason: from ``withdrawn_on`` (default
    today) it covers no collection, and the lines derived under it are flagged for QA on the dashboard. 409
    ``already_withdrawn`` the second time."""

    permission_classes = [HasPerms]
    required_perms = {"POST": ["donors.withdraw_ethicsapproval"]}
    serializer_class = s.EthicsApprovalSerializer

    @extend_schema(request=s.EthicsWithdrawSerializer, responses={200: s.EthicsApprovalSerializer, **ERRORS})
    def post(self, request, pk: int):
        approval = get_object_or_404(EthicsApproval, pk=pk)
        data = _input(s.EthicsWithdrawSerializer, request)
        approval = run(services.withdraw_ethics_approval, approval, actor=request.user, **data)
        return Response(s.EthicsApprovalSerializer(approval).data)


class ScreeningMarkerListView(GenericAPIView):
    """The markers the bank records; ``required`` ones form the eligibility panel (``tissues`` [] = all)."""

    permission_classes = [HasPerms]
    required_perms = {"GET": ["donors.view_screeningmarker"]}
    serializer_class = s.ScreeningMarkerSerializer
    pagination_class = None

    def get(self, request):
        return Response(s.ScreeningMarkerSerializer(ScreeningMarker.objects.order_by("order", "code"),
                                                    many=True).data)


class ScreeningWindowListView(GenericAPIView):
    """Days before/after a collection a screening sample may be drawn, per tissue ('' = default)."""

    permission_classes = [HasPerms]
    required_perms = {"GET": ["donors.view_screeningwindow"]}
    serializer_class = s.ScreeningWindowSerializer
    pagination_class = None

    def get(self, request):
        return Response(s.ScreeningWindowSerializer(ScreeningWindow.objects.order_by("tissue"), many=True).data)


class DonorImportView(GenericAPIView):
    """Import donors with identity, optional consent and screening results from CSV: every row or none."""

    permission_classes = [HasPerms]
    required_perms = {"POST": ["donors.add_donor", "donors.add_donoridentity", "donors.add_consent",
                               "donors.add_screening", "donors.add_screeningresult"]}
    serializer_class = s.ImportResultSerializer
    parser_classes = [MultiPartParser, FormParser, JSONParser]

    @extend_schema(request={"multipart/form-data": s.ImportSerializer},
                   responses={201: s.ImportResultSerializer, 400: s.ImportErrorSerializer})
    def post(self, request):
        upload = _input(s.ImportSerializer, request)["file"]
        if upload.size > 5 * 1024 * 1024:
            raise exceptions.ValidationError({"file": ["Import at most 5 MB per file."]})
        try:
            result = run(services.import_donors_csv, upload.read(), actor=request.user, filename=upload.name)
        except services.ImportRejected as exc:
            return Response({"rows": exc.rows}, status=status.HTTP_400_BAD_REQUEST)
        return Response({"imported": len(result.donors), "codes": [d.code for d in result.donors],
                         "screenings": result.screenings, "results": result.results, "consents": result.consents},
                        status=status.HTTP_201_CREATED)
