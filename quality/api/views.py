"""Quality management endpoints of API.md ("Quality management"): parse, check the role, call one service,
serialize. QA keeps the records (SOP approval and material release are e-signed); staff read them."""

from __future__ import annotations

from django.shortcuts import get_object_or_404
from django.utils.translation import gettext as _
from drf_spectacular.utils import extend_schema
from rest_framework import status
from rest_framework.exceptions import ValidationError
from rest_framework.generics import GenericAPIView, ListAPIView
from rest_framework.parsers import FormParser, JSONParser, MultiPartParser
from rest_framework.response import Response

from bank.api.mixins import SignedPageMixin
from bank.api.permissions import HasPerms
from bank.api.serializers import DomainErrorSerializer
from bank.api.throttling import SIGNATURE
from quality import queries, services
from quality.api import serializers as s
from quality.models import Calibration, Cleanroom, EnvironmentResult, Equipment, Material, SOPVersion, Training
from storage.models import StorageUnit

REFUSED = {403: DomainErrorSerializer, 409: DomainErrorSerializer}


def _versions():
    return SOPVersion.objects.select_related("sop", "approved_by").order_by("sop__code", "-effective_on", "-id")


class SOPListView(SignedPageMixin, ListAPIView):
    """SOP versions (each QA-approved with an e-signature), by SOP code and newest first. ``POST`` approves a new
    version (or a new SOP): the password signs the approval; the version governs its activities from
    ``effective_on``."""

    permission_classes = [HasPerms]
    required_perms = {"GET": ["quality.view_sopversion"], "POST": ["quality.add_sopversion"]}
    serializer_class = s.SOPVersionSerializer
    parser_classes = [JSONParser, MultiPartParser, FormParser]
    throttle_scope = SIGNATURE

    def get_queryset(self):
        qs = _versions()
        code = self.request.query_params.get("code")
        return qs.filter(sop__code=code) if code else qs

    def get_throttles(self):
        return super().get_throttles() if self.request.method == "POST" else []

    @extend_schema(request={"application/json": s.SOPVersionInputSerializer,
                            "multipart/form-data": s.SOPVersionInputSerializer},
                   responses={201: s.SOPVersionSerializer, **REFUSED})
    def post(self, request):
        data = s.SOPVersionInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        v = data.validated_data
        version = services.approve_sop_version(
            actor=request.user, code=v["code"], title=v["title"], version=v["version"],
            effective_on=v["effective_on"], activities=v["activities"], summary=v["summary"],
            document=v.get("document"), password=v["password"])
        return Response(s.SOPVersionSerializer(_versions().get(pk=version.pk)).data, status=status.HTTP_201_CREATED)


def _trainings():
    return Training.objects.select_related("user", "sop_version__sop", "recorded_by").order_by("-trained_on", "-id")


class TrainingListView(ListAPIView):
    """Training records, newest first (``?user=username``, ``?sop=code``). ``POST`` records one (QA)."""

    permission_classes = [HasPerms]
    required_perms = {"GET": ["quality.view_training"], "POST": ["quality.add_training"]}
    serializer_class = s.TrainingSerializer

    def get_queryset(self):
        qs = _trainings()
        params = self.request.query_params
        if params.get("user"):
            qs = qs.filter(user__username=params["user"])
        if params.get("sop"):
            qs = qs.filter(sop_version__sop__code=params["sop"])
        return qs

    @extend_schema(request=s.TrainingInputSerializer, responses={201: s.TrainingSerializer, **REFUSED})
    def post(self, request):
        data = s.TrainingInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        training = services.record_training(actor=request.user, **data.validated_data)
        return Response(s.TrainingSerializer(_trainings().get(pk=training.pk)).data, status=status.HTTP_201_CREATED)


class EquipmentListView(ListAPIView):
    """The equipment register, most urgent calibration first (``?state=attention`` or ``overdue``). ``POST`` adds
    an instrument (QA)."""

    permission_classes = [HasPerms]
    required_perms = {"GET": ["quality.view_equipment"], "POST": ["quality.add_equipment"]}
    serializer_class = s.EquipmentSerializer

    def get_queryset(self):
        return queries.equipment_list(self.request.query_params.get("state", ""))

    @extend_schema(request=s.EquipmentInputSerializer, responses={201: s.EquipmentSerializer, **REFUSED})
    def post(self, request):
        data = s.EquipmentInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        v = dict(data.validated_data)
        unit_id = v.pop("storage_unit")
        unit = None
        if unit_id is not None:
            unit = StorageUnit.objects.filter(pk=unit_id).first()
            if unit is None:
                raise ValidationError({"storage_unit": [_("No such storage unit.")]})
        equipment = services.register_equipment(actor=request.user, storage_unit=unit, **v)
        return Response(s.EquipmentSerializer(equipment).data, status=status.HTTP_201_CREATED)


class EquipmentDetailView(GenericAPIView):
    """One instrument of the register."""

    permission_classes = [HasPerms]
    required_perms = {"GET": ["quality.view_equipment"]}
    serializer_class = s.EquipmentSerializer

    def get(self, request, pk: int):
        return Response(s.EquipmentSerializer(get_object_or_404(Equipment, pk=pk)).data)


class CalibrationListView(ListAPIView):
    """An instrument's calibrations and maintenance, newest first. ``POST`` records one (QA): the latest
    calibration sets the instrument's verdict and next due date."""

    permission_classes = [HasPerms]
    required_perms = {"GET": ["quality.view_calibration"], "POST": ["quality.add_calibration"]}
    serializer_class = s.CalibrationSerializer

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):
            return Calibration.objects.none()
        equipment = get_object_or_404(Equipment, pk=self.kwargs["pk"])
        return (Calibration.objects.filter(equipment=equipment).select_related("equipment", "recorded_by")
                .order_by("-performed_on", "-id"))

    @extend_schema(request=s.CalibrationInputSerializer, responses={201: s.CalibrationSerializer, **REFUSED})
    def post(self, request, pk: int):
        equipment = get_object_or_404(Equipment, pk=pk)
        data = s.CalibrationInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        calibration = services.record_calibration(equipment, actor=request.user, **data.validated_data)
        return Response(s.CalibrationSerializer(calibration).data, status=status.HTTP_201_CREATED)


class MaterialListView(SignedPageMixin, ListAPIView):
    """Material lots, newest received first (``?status=quarantine|released|rejected|expired``, ``?q=`` lot number or
    name). ``POST`` receives a lot into quarantine (QA)."""

    permission_classes = [HasPerms]
    required_perms = {"GET": ["quality.view_material"], "POST": ["quality.add_material"]}
    serializer_class = s.MaterialSerializer

    def get_queryset(self):
        params = self.request.query_params
        return queries.material_list(params.get("status", ""), params.get("q", ""))

    @extend_schema(request=s.MaterialInputSerializer, responses={201: s.MaterialSerializer, **REFUSED})
    def post(self, request):
        data = s.MaterialInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        material = services.receive_material(actor=request.user, **data.validated_data)
        return Response(s.MaterialSerializer(material).data, status=status.HTTP_201_CREATED)


class MaterialReleaseView(GenericAPIView):
    """QA's e-signed release of a quarantined material lot (password)."""

    permission_classes = [HasPerms]
    required_perms = {"POST": ["quality.release_material"]}
    serializer_class = s.MaterialReleaseSerializer
    throttle_scope = SIGNATURE

    @extend_schema(request=s.MaterialReleaseSerializer, responses={200: s.MaterialSerializer, **REFUSED})
    def post(self, request, pk: int):
        material = get_object_or_404(Material, pk=pk)
        data = s.MaterialReleaseSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        material = services.release_material(material, actor=request.user, **data.validated_data)
        return Response(s.MaterialSerializer(material).data)


class MaterialRejectView(GenericAPIView):
    """QA's e-signed rejection of a quarantined material lot that failed incoming inspection (password, reason)."""

    permission_classes = [HasPerms]
    required_perms = {"POST": ["quality.release_material"]}
    serializer_class = s.MaterialRejectSerializer
    throttle_scope = SIGNATURE

    @extend_schema(request=s.MaterialRejectSerializer, responses={200: s.MaterialSerializer, **REFUSED})
    def post(self, request, pk: int):
        material = get_object_or_404(Material, pk=pk)
        data = s.MaterialRejectSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        material = services.reject_material(material, actor=request.user, **data.validated_data)
        return Response(s.MaterialSerializer(material).data)


class MaterialTraceView(GenericAPIView):
    """Forward trace of a material lot: the passages and lots that cited it, every lot made from them, their vials
    by status and the shipments (recipients) that carried them."""

    permission_classes = [HasPerms]
    required_perms = {"GET": ["quality.view_materialuse", "distribution.view_trace"]}
    serializer_class = s.MaterialTraceSerializer

    def get(self, request, pk: int):
        trace = queries.forward_trace(get_object_or_404(Material, pk=pk))
        body = {
            "material": s.MaterialSerializer(trace["material"]).data,
            "passages": [{"id": u.passage.pk, "culture": u.passage.culture_id, "number": u.passage.number,
                          "cell_line": u.passage.culture.cell_line.name, "used_on": u.used_on.isoformat()}
                         for u in trace["uses"] if u.passage_id],
            "cultures": [c.pk for c in trace["cultures"]],
            "lots": [{"lot": row["lot"].lot_number, "lot_id": row["lot"].pk, "cell_line": row["lot"].cell_line.name,
                      "status": row["lot"].status, "vials": row["vials"]} for row in trace["lots"]],
            "shipments": [{"request": sh["request"], "recipient": sh["recipient"]["username"],
                           "institution": sh["recipient"]["institution"], "vials": sh["vials"],
                           "shipped_on": sh["shipped_on"].isoformat() if sh["shipped_on"] else None}
                          for sh in trace["shipments"]],
        }
        return Response(body)


class CleanroomListView(ListAPIView):
    """Cleanrooms and their GMP grades. ``POST`` adds one (QA)."""

    permission_classes = [HasPerms]
    required_perms = {"GET": ["quality.view_cleanroom"], "POST": ["quality.add_cleanroom"]}
    serializer_class = s.CleanroomSerializer
    queryset = Cleanroom.objects.order_by("code")

    @extend_schema(request=s.CleanroomInputSerializer, responses={201: s.CleanroomSerializer, **REFUSED})
    def post(self, request):
        data = s.CleanroomInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        room = services.register_cleanroom(actor=request.user, **data.validated_data)
        return Response(s.CleanroomSerializer(room).data, status=status.HTTP_201_CREATED)


class EnvironmentResultListView(ListAPIView):
    """A room's monitoring results, newest first. ``POST`` records one (QA): judged against the grade's alert and
    action limits; above the action limit a deviation opens on each lot processed in the room that day."""

    permission_classes = [HasPerms]
    required_perms = {"GET": ["quality.view_environmentresult"], "POST": ["quality.add_environmentresult"]}
    serializer_class = s.EnvironmentResultSerializer

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):
            return EnvironmentResult.objects.none()
        room = get_object_or_404(Cleanroom, pk=self.kwargs["pk"])
        return EnvironmentResult.objects.filter(room=room).select_related("room").order_by("-sampled_on", "-id")

    @extend_schema(request=s.EnvironmentResultInputSerializer, responses={201: s.EnvironmentResultSerializer,
                                                                          **REFUSED})
    def post(self, request, pk: int):
        room = get_object_or_404(Cleanroom, pk=pk)
        data = s.EnvironmentResultInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        result = services.record_environment_result(room, actor=request.user, **data.validated_data)
        return Response(s.EnvironmentResultSerializer(result).data, status=status.HTTP_201_CREATED)
