"""Transplant API: parse, check the role, call one service. A clinician's lists and records are their centre's
only (another centre's record is 404); ids in a body are checked by the service (403 ``not_your_centre``)."""

from __future__ import annotations

from django.utils.translation import gettext as _
from drf_spectacular.utils import extend_schema
from rest_framework import mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import PermissionDenied
from rest_framework.response import Response

from bank.api.permissions import HasPerms
from bank.api.serializers import DomainErrorSerializer
from bank.api.throttling import SIGNATURE
from lots.models import Vial
from transplant import queries, services
from transplant.api import serializers as s
from transplant.models import AdverseEvent, FollowUp, Order, Patient, Reservation, TransplantCentre, TypingRequest
from transplant.services import safety

REFUSED = {403: DomainErrorSerializer, 409: DomainErrorSerializer}


class _Scoped(viewsets.GenericViewSet):
    permission_classes = [HasPerms]

    def filter_queryset(self, queryset):
        return queryset


class CentreViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, _Scoped):
    """Qualified transplant centres (a clinician sees their own)."""

    serializer_class = s.CentreSerializer
    required_perms = {"list": ["transplant.view_transplantcentre"], "retrieve": ["transplant.view_transplantcentre"]}
    queryset = TransplantCentre.objects.none()

    def get_queryset(self):
        qs = TransplantCentre.objects.order_by("code")
        if queries.is_clinician(self.request.user):
            centre = queries.centre_of(self.request.user)
            return qs.filter(pk=centre.pk) if centre else qs.none()
        return qs


class PatientViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, _Scoped):
    """A centre's pseudonymous patients, and the unit search for one of them."""

    serializer_class = s.PatientSerializer
    queryset = Patient.objects.none()
    required_perms = {"list": ["transplant.view_patient"], "retrieve": ["transplant.view_patient"],
                      "create": ["transplant.add_patient"], "search": ["transplant.search_units"],
                      "partial_update": ["transplant.change_patient"], "hla_history": ["transplant.view_patient"]}

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):
            return Patient.objects.none()
        return queries.patients_visible_to(self.request.user).order_by("centre_id", "code")

    @extend_schema(request=s.PatientCreateSerializer, responses={201: s.PatientSerializer, 400: None, **REFUSED})
    def create(self, request):
        data = s.PatientCreateSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        patient = services.register_patient(actor=request.user, **data.validated_data)
        return Response(s.PatientSerializer(patient).data, status=status.HTTP_201_CREATED)

    @extend_schema(request=s.PatientUpdateSerializer, responses={200: s.PatientSerializer, 400: None, **REFUSED},
                   description="The patient's centre's clinician corrects the details; a change of hla needs a "
                               "reason (the earlier typing stays in the history).")
    def partial_update(self, request, pk=None):
        patient = self.get_object()
        data = s.PatientUpdateSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        values = {"diagnosis": patient.diagnosis, "weight_kg": patient.weight_kg, "abo": patient.abo,
                  "rh": patient.rh, "hla": patient.hla, **data.validated_data}
        services.update_patient(patient, actor=request.user, **values)
        return Response(s.PatientSerializer(self.get_queryset().get(pk=patient.pk)).data)

    @extend_schema(responses=s.HLAVersionSerializer(many=True))
    @action(detail=True, methods=["get"], url_path="hla-history")
    def hla_history(self, request, pk=None):
        return Response(s.HLAVersionSerializer(services.patient_hla_history(self.get_object()), many=True).data)

    @extend_schema(parameters=[s.SearchParamsSerializer], responses=s.SearchResultSerializer(many=True),
                   description="Public, released units listed available, ranked by HLA mismatches (A, B antigen; "
                               "DRB1 allele), then TNC/kg and CD34/kg. Family units never appear.")
    @action(detail=True, methods=["get"])
    def search(self, request, pk=None):
        params = s.SearchParamsSerializer(data=request.query_params)
        params.is_valid(raise_exception=True)
        results = queries.search_units(self.get_object(), queries.SearchFilters(**params.validated_data))
        page = self.paginate_queryset(results)
        return self.get_paginated_response(s.SearchResultSerializer(page, many=True).data)


class TypingRequestViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, _Scoped):
    """Confirmatory typing requests with their turnaround clock."""

    serializer_class = s.TypingRequestSerializer
    queryset = TypingRequest.objects.none()
    required_perms = {"list": ["transplant.view_typingrequest"], "retrieve": ["transplant.view_typingrequest"],
                      "create": ["transplant.add_typingrequest"], "complete": ["transplant.complete_typingrequest"],
                      "cancel": ["transplant.add_typingrequest"]}

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):
            return TypingRequest.objects.none()
        return queries.typing_requests_visible_to(self.request.user)

    @extend_schema(request=s.TypingRequestCreateSerializer, responses={201: s.TypingRequestSerializer, **REFUSED})
    def create(self, request):
        data = s.TypingRequestCreateSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        ct = services.request_typing(data.validated_data["unit"], data.validated_data["patient"], actor=request.user)
        return Response(s.TypingRequestSerializer(self.get_queryset().get(pk=ct.pk)).data,
                        status=status.HTTP_201_CREATED)

    @extend_schema(request=s.TypingCompleteSerializer, responses={200: s.TypingRequestSerializer, **REFUSED})
    @action(detail=True, methods=["post"])
    def complete(self, request, pk=None):
        data = s.TypingCompleteSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        values = dict(data.validated_data)
        barcode = values.pop("sample")
        sample = None
        if barcode:
            sample = Vial.objects.filter(barcode=barcode.strip()).first()
            if sample is None:
                return Response({"sample": [_("No container with this barcode.")]},
                                status=status.HTTP_400_BAD_REQUEST)
        ct = services.complete_typing(self.get_object(), actor=request.user, sample=sample, **values)
        return Response(s.TypingRequestSerializer(self.get_queryset().get(pk=ct.pk)).data)

    @extend_schema(request=s.ReasonSerializer, responses={200: s.TypingRequestSerializer, **REFUSED},
                   description="The requesting centre's clinician withdraws the request while it is open; 409 "
                               "invalid_transition once completed or cancelled.")
    @action(detail=True, methods=["post"])
    def cancel(self, request, pk=None):
        data = s.ReasonSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        ct = services.cancel_typing(self.get_object(), actor=request.user, **data.validated_data)
        return Response(s.TypingRequestSerializer(self.get_queryset().get(pk=ct.pk)).data)


class ReservationViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, _Scoped):
    """Units reserved for a patient until a date; an order holds the unit for its infusion date."""

    serializer_class = s.ReservationSerializer
    queryset = Reservation.objects.none()
    required_perms = {"list": ["transplant.view_reservation"], "retrieve": ["transplant.view_reservation"],
                      "create": ["transplant.add_reservation"], "cancel": ["transplant.change_reservation"],
                      "order": ["transplant.add_order"]}

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):
            return Reservation.objects.none()
        return queries.reservations_visible_to(self.request.user)

    @extend_schema(request=s.ReservationCreateSerializer, responses={201: s.ReservationSerializer, 400: None,
                                                                      **REFUSED})
    def create(self, request):
        data = s.ReservationCreateSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        reservation = services.reserve_unit(data.validated_data["unit"], data.validated_data["patient"],
                                            until=data.validated_data["until"], actor=request.user)
        return Response(s.ReservationSerializer(self.get_queryset().get(pk=reservation.pk)).data,
                        status=status.HTTP_201_CREATED)

    @extend_schema(request=s.OptionalReasonSerializer, responses={200: s.ReservationSerializer, **REFUSED})
    @action(detail=True, methods=["post"])
    def cancel(self, request, pk=None):
        data = s.OptionalReasonSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        reservation = services.cancel_reservation(self.get_object(), actor=request.user, **data.validated_data)
        return Response(s.ReservationSerializer(self.get_queryset().get(pk=reservation.pk)).data)

    @extend_schema(request=s.OrderCreateSerializer, responses={201: s.OrderSerializer, **REFUSED})
    @action(detail=True, methods=["post"])
    def order(self, request, pk=None):
        data = s.OrderCreateSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        order = services.place_order(self.get_object(), actor=request.user, **data.validated_data)
        return Response(s.OrderSerializer(queries.orders_visible_to(request.user).get(pk=order.pk)).data,
                        status=status.HTTP_201_CREATED)


class OrderViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, _Scoped):
    """A unit ordered for an infusion date: release for administration, shipment, receipt, thaw report."""

    serializer_class = s.OrderSerializer
    queryset = Order.objects.none()
    required_perms = {"list": ["transplant.view_order"], "retrieve": ["transplant.view_order"],
                      "release": ["transplant.release_order"], "acknowledge": ["transplant.receive_order"],
                      "ship": ["transplant.ship_order"], "receive": ["transplant.receive_order"],
                      "thaw_report": ["transplant.add_thawreport"], "cancel": ["transplant.view_order"],
                      "adverse_events": ["transplant.view_order", "transplant.receive_order"]}

    def get_throttles(self):
        if self.action in ("release", "acknowledge"):
            self.throttle_scope = SIGNATURE
        return super().get_throttles()

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):
            return Order.objects.none()
        return queries.orders_with_outcome(self.request.user)

    def _respond(self, order):
        return Response(s.OrderSerializer(self.get_queryset().get(pk=order.pk)).data)

    @extend_schema(request=s.OrderReleaseSerializer, responses={200: s.OrderSerializer, **REFUSED},
                   description="The medical director's e-signature. 409 justification_required (exceptional), "
                               "lot_blocked, invalid_transition; 403 signature_invalid.")
    @action(detail=True, methods=["post"])
    def release(self, request, pk=None):
        data = s.OrderReleaseSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        return self._respond(services.release_order(self.get_object(), actor=request.user, **data.validated_data))

    @extend_schema(request=s.PasswordSerializer, responses={200: s.OrderSerializer, **REFUSED},
                   description="The centre's clinician acknowledges an exceptional release (e-signature).")
    @action(detail=True, methods=["post"])
    def acknowledge(self, request, pk=None):
        data = s.PasswordSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        return self._respond(services.acknowledge_release(self.get_object(), actor=request.user,
                                                          **data.validated_data))

    @extend_schema(request={"multipart/form-data": s.OrderShipSerializer},
                   responses={200: s.OrderSerializer, **REFUSED},
                   description="409 release_not_signed, acknowledgement_required, wrong_vial (not the bag), "
                               "shipper_not_validated, lot_blocked.")
    @action(detail=True, methods=["post"])
    def ship(self, request, pk=None):
        data = s.OrderShipSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        values = dict(data.validated_data)
        upload = values.pop("temperature_log")
        return self._respond(services.ship_order(
            self.get_object(), actor=request.user, logger_name=upload.name, logger_content=upload.read(),
            logger_content_type=getattr(upload, "content_type", "") or "", **values))

    @extend_schema(request=s.OrderReceiveSerializer, responses={200: s.OrderSerializer, **REFUSED})
    @action(detail=True, methods=["post"])
    def receive(self, request, pk=None):
        data = s.OrderReceiveSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        return self._respond(services.receive_order(self.get_object(), actor=request.user, **data.validated_data))

    @extend_schema(request=s.ThawReportCreateSerializer, responses={200: s.OrderSerializer, **REFUSED})
    @action(detail=True, methods=["post"], url_path="thaw-report")
    def thaw_report(self, request, pk=None):
        data = s.ThawReportCreateSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        services.record_thaw_report(self.get_object(), actor=request.user, **data.validated_data)
        return self._respond(self.get_object())

    @extend_schema(request=s.ReasonSerializer, responses={200: s.OrderSerializer, **REFUSED})
    @action(detail=True, methods=["post"])
    def cancel(self, request, pk=None):
        if not queries.may_cancel_order(request.user):
            raise PermissionDenied()
        data = s.ReasonSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        return self._respond(services.cancel_order(self.get_object(), actor=request.user, **data.validated_data))

    @extend_schema(request=s.AdverseEventCreateSerializer, responses={201: s.AdverseEventSerializer, 400: None,
                                                                      **REFUSED},
                   description="The centre reports an adverse event once the unit has shipped (409 "
                               "invalid_transition before); QA and the medical director are alerted.")
    @action(detail=True, methods=["post"], url_path="adverse-events")
    def adverse_events(self, request, pk=None):
        data = s.AdverseEventCreateSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        event = safety.report_adverse_event(self.get_object(), actor=request.user, **data.validated_data)
        return Response(s.AdverseEventSerializer(queries.adverse_events_visible_to(request.user).get(pk=event.pk)).data,
                        status=status.HTTP_201_CREATED)


class AdverseEventViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, _Scoped):
    """Adverse events the centres reported after shipment; QA links one to the recall it started."""

    serializer_class = s.AdverseEventSerializer
    queryset = AdverseEvent.objects.none()
    required_perms = {"list": ["transplant.view_order"], "retrieve": ["transplant.view_order"],
                      "recall": ["transplant.view_order", "distribution.add_recall"]}

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):
            return AdverseEvent.objects.none()
        return queries.adverse_events_visible_to(self.request.user).order_by("-reported_at", "-pk")

    @extend_schema(request=s.AdverseEventRecallSerializer, responses={200: s.AdverseEventSerializer, 400: None,
                                                                       **REFUSED})
    @action(detail=True, methods=["post"])
    def recall(self, request, pk=None):
        from distribution.models import Recall

        data = s.AdverseEventRecallSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        recall = Recall.objects.filter(pk=data.validated_data["recall"]).first()
        if recall is None:
            return Response({"recall": [_("No such recall.")]}, status=status.HTTP_400_BAD_REQUEST)
        event = safety.link_adverse_event(self.get_object(), recall, actor=request.user)
        return Response(s.AdverseEventSerializer(self.get_queryset().get(pk=event.pk)).data)


class FollowUpViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, _Scoped):
    """Outcome follow-ups at day 100 and one year."""

    serializer_class = s.FollowUpSerializer
    queryset = FollowUp.objects.none()
    required_perms = {"list": ["transplant.view_followup"], "retrieve": ["transplant.view_followup"],
                      "record": ["transplant.change_followup"]}

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):
            return FollowUp.objects.none()
        return queries.follow_ups_visible_to(self.request.user)

    @extend_schema(request=s.FollowUpRecordSerializer, responses={200: s.FollowUpSerializer, **REFUSED})
    @action(detail=True, methods=["post"])
    def record(self, request, pk=None):
        data = s.FollowUpRecordSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        follow_up = services.record_follow_up(self.get_object(), actor=request.user, **data.validated_data)
        return Response(s.FollowUpSerializer(self.get_queryset().get(pk=follow_up.pk)).data)
