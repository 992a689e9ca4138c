"""Cordblood API: parse, check the role, call one service, answer."""

from __future__ import annotations

import abc

from django.core.exceptions import ValidationError
from django.shortcuts import get_object_or_404
from django.utils.translation import gettext as _
from drf_spectacular.utils import extend_schema
from rest_framework import status
from rest_framework.generics import GenericAPIView
from rest_framework.response import Response

from bank import tally
from bank.api.permissions import HasPerms
from bank.exports import stream_csv
from bank.roles import has_role
from cordblood import export, queries, services
from cordblood.api import serializers as s
from cordblood.models import CollectionSite, Collector, CordBloodUnit, FamilyContract, InfantDonation
from donors.models import Donor

VIEW_UNIT = "cordblood.view_cordbloodunit"
PROCESS = "cordblood.process_cordbloodunit"
LIST = "cordblood.list_cordbloodunit"


def _input(serializer_class, request):
    serializer = serializer_class(data=request.data)
    serializer.is_valid(raise_exception=True)
    return serializer.validated_data


def _unit_context(request) -> dict:
    return {"bank_user": has_role(request.user, *queries.BANK_ROLES), "request": request}


class SiteListView(GenericAPIView):
    """Collection sites with their collectors; coordinators add sites."""

    permission_classes = [HasPerms]
    required_perms = {"GET": ["cordblood.view_collectionsite"], "POST": ["cordblood.add_collectionsite"]}
    serializer_class = s.SiteSerializer

    @extend_schema(operation_id="cordblood_sites_list")
    def get(self, request):
        page = self.paginate_queryset(CollectionSite.objects.prefetch_related("collectors").order_by("code"))
        return self.get_paginated_response(s.SiteSerializer(page, many=True).data)

    @extend_schema(request=s.SiteInputSerializer, responses={201: s.SiteSerializer})
    def post(self, request):
        data = _input(s.SiteInputSerializer, request)
        site = services.create_site(actor=request.user, code=data.get("code", ""), name=data.get("name", ""),
                                    city=data.get("city", ""), agreement_until=data.get("agreement_until"))
        return Response(s.SiteSerializer(site).data, status=status.HTTP_201_CREATED)


class SiteDetailView(GenericAPIView):
    permission_classes = [HasPerms]
    required_perms = {"GET": ["cordblood.view_collectionsite"], "PATCH": ["cordblood.change_collectionsite"]}
    serializer_class = s.SiteSerializer

    def get(self, request, pk: int):
        return Response(s.SiteSerializer(get_object_or_404(CollectionSite, pk=pk)).data)

    @extend_schema(request=s.SiteInputSerializer)
    def patch(self, request, pk: int):
        site = get_object_or_404(CollectionSite, pk=pk)
        data = _input(s.SiteInputSerializer, request)
        data.pop("code", None)
        site = services.update_site(site, actor=request.user, **data)
        return Response(s.SiteSerializer(site).data)


class CollectorCreateView(GenericAPIView):
    permission_classes = [HasPerms]
    required_perms = {"POST": ["cordblood.add_collector"]}
    serializer_class = s.CollectorSerializer

    @extend_schema(request=s.CollectorInputSerializer, responses={201: s.CollectorSerializer})
    def post(self, request, pk: int):
        site = get_object_or_404(CollectionSite, pk=pk)
        data = _input(s.CollectorInputSerializer, request)
        collector = services.add_collector(site, actor=request.user, name=data["name"],
                                           trained_on=data.get("trained_on"))
        return Response(s.CollectorSerializer(collector).data, status=status.HTTP_201_CREATED)


class MotherCreateView(GenericAPIView):
    """Register a mother (a donor with her identity); her consent and screening go through /donors/."""

    permission_classes = [HasPerms]
    required_perms = {"POST": ["donors.add_donor", "cordblood.add_infantdonation"]}
    serializer_class = s.MotherInputSerializer

    def post(self, request):
        data = _input(s.MotherInputSerializer, request)
        donor = services.register_mother(actor=request.user, birth_year=data["birth_year"],
                                         identity=data["identity"], population=data.get("population", ""))
        return Response({"id": donor.pk, "code": donor.code}, status=status.HTTP_201_CREATED)


class DonationListView(GenericAPIView):
    """Infant donations (``?mother=<donor id>``); a coordinator registers one per baby (twins: one each)."""

    permission_classes = [HasPerms]
    required_perms = {"GET": ["cordblood.view_infantdonation"], "POST": ["cordblood.add_infantdonation"]}
    serializer_class = s.DonationSerializer

    def known_count(self, request) -> int | None:
        return None if request.query_params.get("mother") else tally.total("cordblood.donation")

    @extend_schema(operation_id="cordblood_donations_list")
    def get(self, request):
        qs = queries.donations_list()
        mother = request.query_params.get("mother")
        if mother and mother.isdigit():
            qs = qs.filter(mother_id=int(mother))
        page = self.paginate_queryset(qs)
        return self.get_paginated_response(s.DonationSerializer(page, many=True).data)

    @extend_schema(request=s.DonationInputSerializer, responses={201: s.DonationSerializer})
    def post(self, request):
        data = dict(_input(s.DonationInputSerializer, request))
        mother = Donor.objects.filter(pk=data.pop("mother")).first()
        site = CollectionSite.objects.filter(pk=data.pop("site")).first()
        collector_id = data.pop("collector", None)
        collector = Collector.objects.filter(pk=collector_id).first() if collector_id is not None else None
        # An id that names nothing is an input error, never silently dropped (a collector left out of the record).
        unknown = {name: [_("No record has this id.")] for name, missing in (
            ("mother", mother is None), ("collector", collector_id is not None and collector is None)) if missing}
        if unknown:
            raise ValidationError(unknown)
        donation = services.register_infant_donation(mother, actor=request.user, site=site, collector=collector,
                                                     **data)
        return Response(s.DonationSerializer(donation).data, status=status.HTTP_201_CREATED)


class DonationDetailView(GenericAPIView):
    permission_classes = [HasPerms]
    required_perms = {"GET": ["cordblood.view_infantdonation"]}
    serializer_class = s.DonationSerializer

    def get(self, request, pk: int):
        return Response(s.DonationSerializer(get_object_or_404(queries.donations_list(), pk=pk)).data)


class MaternalScreeningView(GenericAPIView):
    """The mother's infectious-disease sample for this birth, counted for each baby of it."""

    permission_classes = [HasPerms]
    required_perms = {"POST": ["donors.add_screening"]}
    serializer_class = s.ScreeningInputSerializer

    def post(self, request, pk: int):
        donation = get_object_or_404(InfantDonation, pk=pk)
        data = _input(s.ScreeningInputSerializer, request)
        screenings = services.record_maternal_screening(donation, actor=request.user, **data)
        return Response({"screenings": [x.pk for x in screenings]}, status=status.HTTP_201_CREATED)


class UnitListView(GenericAPIView):
    """Units (``?ownership=&acceptance=&listing_status=&din=&mother=&ready_to_list=1``). Outside the bank only
    listed public units are visible: family units never are."""

    permission_classes = [HasPerms]
    required_perms = {"GET": [VIEW_UNIT]}
    serializer_class = s.CordBloodUnitSerializer

    def known_count(self, request) -> int | None:
        return queries.unit_count(request.user, request.query_params)

    @extend_schema(operation_id="cordblood_units_list")
    def get(self, request):
        qs = queries.filter_units(queries.units_visible_to(request.user), request.query_params, user=request.user)
        page = self.paginate_queryset(qs)
        data = s.CordBloodUnitSerializer(page, many=True, context=_unit_context(request)).data
        return self.get_paginated_response(data)


def _unit(request, pk: int) -> CordBloodUnit:
    return get_object_or_404(queries.units_visible_to(request.user), pk=pk)


class UnitDetailView(GenericAPIView):
    permission_classes = [HasPerms]
    required_perms = {"GET": [VIEW_UNIT]}
    serializer_class = s.CordBloodUnitSerializer

    def get(self, request, pk: int):
        return Response(s.CordBloodUnitSerializer(_unit(request, pk), context=_unit_context(request)).data)


class _UnitAction(GenericAPIView, metaclass=abc.ABCMeta):
    """POST an action on a unit: the input serializer, the service, the unit back."""

    permission_classes = [HasPerms]
    serializer_class = s.CordBloodUnitSerializer
    input_class = None

    @abc.abstractmethod
    def act(self, request, unit, data):
        """Call the unit's service with the parsed input; return the unit."""

    def post(self, request, pk: int):
        unit = _unit(request, pk)
        data = _input(self.input_class, request)
        unit = self.act(request, unit, data)
        unit = queries.units_visible_to(request.user).get(pk=unit.pk)
        return Response(s.CordBloodUnitSerializer(unit, context=_unit_context(request)).data)


class AcceptView(_UnitAction):
    required_perms = {"POST": [PROCESS]}
    input_class = s.AcceptInputSerializer

    @extend_schema(request=s.AcceptInputSerializer)
    def post(self, request, pk: int):
        return super().post(request, pk)

    def act(self, request, unit, data):
        return services.accept_unit(unit, actor=request.user, **data)


class DiscardView(_UnitAction):
    required_perms = {"POST": [PROCESS]}
    input_class = s.DiscardInputSerializer

    @extend_schema(request=s.DiscardInputSerializer)
    def post(self, request, pk: int):
        return super().post(request, pk)

    def act(self, request, unit, data):
        return services.discard_unit(unit, actor=request.user, reason=data["reason"], note=data.get("note", ""))


class DivertView(_UnitAction):
    required_perms = {"POST": [PROCESS]}
    input_class = s.DivertInputSerializer

    @extend_schema(request=s.DivertInputSerializer)
    def post(self, request, pk: int):
        return super().post(request, pk)

    def act(self, request, unit, data):
        return services.divert_to_research(unit, actor=request.user, note=data.get("note", ""))


class ProcessingView(_UnitAction):
    required_perms = {"POST": [PROCESS]}
    input_class = s.ProcessingInputSerializer

    @extend_schema(request=s.ProcessingInputSerializer)
    def post(self, request, pk: int):
        return super().post(request, pk)

    def act(self, request, unit, data):
        return services.record_processing(unit, actor=request.user, **data)


class FreezeView(_UnitAction):
    required_perms = {"POST": [PROCESS, "lots.add_lot"]}
    input_class = s.FreezeInputSerializer

    @extend_schema(request=s.FreezeInputSerializer)
    def post(self, request, pk: int):
        return super().post(request, pk)

    def act(self, request, unit, data):
        return services.freeze_unit(unit, actor=request.user, **data)


class ListingView(_UnitAction):
    required_perms = {"POST": [LIST]}
    input_class = s.ListingInputSerializer

    @extend_schema(request=s.ListingInputSerializer)
    def post(self, request, pk: int):
        return super().post(request, pk)

    def act(self, request, unit, data):
        return services.set_listing_by_qa(unit, data["status"], reason=data["reason"], until=data["until"],
                                          actor=request.user)


class ContractCreateView(GenericAPIView):
    """The family storage contract of a family unit (its owner: the mother)."""

    permission_classes = [HasPerms]
    required_perms = {"POST": ["cordblood.add_familycontract"]}
    serializer_class = s.ContractSerializer

    @extend_schema(request=s.ContractInputSerializer, responses={201: s.ContractSerializer})
    def post(self, request, pk: int):
        unit = _unit(request, pk)
        data = _input(s.ContractInputSerializer, request)
        contract = services.create_contract(unit, actor=request.user, **data)
        return Response(s.ContractSerializer(contract).data, status=status.HTTP_201_CREATED)


class ContractDetailView(GenericAPIView):
    permission_classes = [HasPerms]
    required_perms = {"GET": ["cordblood.view_familycontract"]}
    serializer_class = s.ContractSerializer

    def get(self, request, pk: int):
        contract = get_object_or_404(FamilyContract.objects.select_related("owner").prefetch_related("payments"),
                                     pk=pk)
        return Response(s.ContractSerializer(contract).data)


class PaymentView(GenericAPIView):
    permission_classes = [HasPerms]
    required_perms = {"POST": ["cordblood.add_contractpayment"]}
    serializer_class = s.PaymentSerializer

    @extend_schema(request=s.PaymentInputSerializer, responses={201: s.PaymentSerializer})
    def post(self, request, pk: int):
        contract = get_object_or_404(FamilyContract, pk=pk)
        payment = services.record_payment(contract, actor=request.user, **_input(s.PaymentInputSerializer, request))
        return Response(s.PaymentSerializer(payment).data, status=status.HTTP_201_CREATED)


class ReleaseRequestView(GenericAPIView):
    permission_classes = [HasPerms]
    required_perms = {"POST": ["cordblood.change_familycontract"]}
    serializer_class = s.ContractSerializer

    @extend_schema(request=s.NoteInputSerializer)
    def post(self, request, pk: int):
        contract = get_object_or_404(FamilyContract, pk=pk)
        contract = services.request_release(contract, actor=request.user,
                                            note=_input(s.NoteInputSerializer, request)["note"])
        return Response(s.ContractSerializer(contract).data)


class DonateView(GenericAPIView):
    permission_classes = [HasPerms]
    required_perms = {"POST": ["cordblood.change_familycontract"]}
    serializer_class = s.ContractSerializer

    @extend_schema(request=s.ReasonInputSerializer)
    def post(self, request, pk: int):
        contract = get_object_or_404(FamilyContract, pk=pk)
        contract = services.donate_to_public(contract, actor=request.user,
                                             reason=_input(s.ReasonInputSerializer, request)["reason"])
        return Response(s.ContractSerializer(contract).data)


class DiscardCountView(GenericAPIView):
    permission_classes = [HasPerms]
    required_perms = {"GET": [VIEW_UNIT]}
    serializer_class = s.DiscardCountSerializer

    def get(self, request):
        return Response(s.DiscardCountSerializer(queries.discards_by_reason(), many=True).data)


class InventoryExportView(GenericAPIView):
    """The public inventory in WMDA/EMDIS cord blood unit fields, as CSV (``?since=YYYY-MM-DD``: differential)."""

    permission_classes = [HasPerms]
    required_perms = {"GET": [LIST]}

    @extend_schema(responses={(200, "text/csv"): str})
    def get(self, request):
        since = export.parse_since(request.query_params.get("since"))
        # Streamed (issue 13): a national inventory is a million rows, never built whole.
        return stream_csv(export.filename(since), export.COLUMNS, export.inventory_rows(since=since))
