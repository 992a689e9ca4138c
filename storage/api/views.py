"""Storage API (API.md "Storage"): layout, maps, placement, moves, readings and alarms.

Each view checks the role (``HasPerms``), parses with a serializer, calls one service and shapes the
answer. Refusals come back as 409/403 ``{"detail","code"}`` through the bank's error handler.
"""

from __future__ import annotations

from django.db.models import Count
from django.shortcuts import get_object_or_404
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import exceptions, serializers, status
from rest_framework.generics import GenericAPIView, ListAPIView
from rest_framework.response import Response

from bank.api.mixins import PageContextMixin
from bank.api.pagination import Pagination
from bank.api.permissions import HasPerms
from bank.api.serializers import DomainErrorSerializer, JobSerializer
from bank.api.throttling import SIGNATURE
from bank.jobs import accepted_response
from lots.models import Lot, Vial
from storage import queries, services
from storage.api import filters
from storage.api import serializers as s
from storage.api.pagination import ReadingKeysetPagination
from storage.choices import AlarmKind
from storage.jobs import evacuation_needs_job, start_evacuation
from storage.models import Alarm, Box, Rack, StorageUnit, TemperatureReading, VialMove

ERRORS = {
    400: OpenApiResponse(description="bad input: {field: [messages]}"),
    403: OpenApiResponse(DomainErrorSerializer, description="role not allowed"),
    404: OpenApiResponse(description="not found"),
}
CONFLICT = {409: OpenApiResponse(DomainErrorSerializer, description="refused by a rule; see code")}


class JobAcceptedSerializer(serializers.Serializer):
    job = JobSerializer()


def _int_param(value: str | None, name: str) -> int | None:
    if value in (None, ""):
        return None
    try:
        return int(value)
    except ValueError:
        raise exceptions.ValidationError({name: ["Enter a whole number."]})


class StorageView(GenericAPIView):
    permission_classes = [HasPerms]
    pagination_class = Pagination


class StorageListView(PageContextMixin, ListAPIView):
    """A list of the storage API: generic pagination, the app's FilterSet, per-page facts read in bulk."""

    permission_classes = [HasPerms]
    pagination_class = Pagination


# --- units ------------------------------------------------------------------------------------------------


class UnitListView(StorageListView):
    """Storage units (LN2 tanks, freezers) with their occupancy; admins lay out new ones."""

    queryset = StorageUnit.objects.order_by("name")
    serializer_class = s.UnitSerializer
    filterset_class = filters.UnitFilter
    required_perms = {"GET": ["storage.view_storageunit"], "POST": ["storage.add_storageunit"]}

    def page_context(self, page):
        return {"occupancy": queries.occupancy_by_unit()}

    @extend_schema(responses={200: s.UnitSerializer(many=True), **ERRORS})
    def get(self, request, *args, **kwargs):
        return self.list(request, *args, **kwargs)

    @extend_schema(request=s.UnitCreateSerializer, responses={201: s.UnitSerializer, **ERRORS})
    def post(self, request):
        data = s.UnitCreateSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        unit = services.create_unit(actor=request.user, **data.validated_data)
        return Response(s.UnitSerializer(unit).data, status=status.HTTP_201_CREATED)


class UnitDetailView(StorageView):
    """One storage unit; admins change its settings (PATCH, with a reason)."""

    serializer_class = s.UnitSerializer
    required_perms = {"GET": ["storage.view_storageunit"], "PATCH": ["storage.change_storageunit"]}

    @extend_schema(responses={200: s.UnitSerializer, **ERRORS})
    def get(self, request, pk: int):
        unit = get_object_or_404(StorageUnit, pk=pk)
        return Response(s.UnitSerializer(unit, context={"occupancy": {unit.pk: queries.unit_occupancy(unit)}}).data)

    @extend_schema(request=s.UnitUpdateSerializer, responses={200: s.UnitSerializer, **ERRORS, **CONFLICT})
    def patch(self, request, pk: int):
        unit = get_object_or_404(StorageUnit, pk=pk)
        data = s.UnitUpdateSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        changes = dict(data.validated_data)
        reason = changes.pop("reason")
        unit = services.update_unit(unit, actor=request.user, reason=reason, **changes)
        return Response(s.UnitSerializer(unit, context={"occupancy": {unit.pk: queries.unit_occupancy(unit)}}).data)


class UnitRacksView(StorageListView):
    """The racks (canisters) of a unit; admins add racks."""

    serializer_class = s.RackSerializer
    required_perms = {"GET": ["storage.view_rack"], "POST": ["storage.add_rack"]}

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):
            return Rack.objects.none()
        unit = get_object_or_404(StorageUnit, pk=self.kwargs["pk"])
        return unit.racks.annotate(box_count=Count("boxes")).order_by("position", "name")

    @extend_schema(responses={200: s.RackSerializer(many=True), **ERRORS})
    def get(self, request, *args, **kwargs):
        return self.list(request, *args, **kwargs)

    @extend_schema(request=s.RackCreateSerializer, responses={201: s.RackSerializer, **ERRORS, **CONFLICT})
    def post(self, request, pk: int):
        unit = get_object_or_404(StorageUnit, pk=pk)
        data = s.RackCreateSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        rack = services.create_rack(unit, actor=request.user, **data.validated_data)
        return Response(s.RackSerializer(rack).data, status=status.HTTP_201_CREATED)


class UnitReadingsView(StorageListView):
    """Temperature readings of a unit, newest first, in keyset pages (``next`` carries a ``cursor``; no
    ``count``), over a ``range`` (24h, 7d, 30d, 1y) or ``since``/``until``. A sensor account (or admin) posts
    them; an out-of-range reading raises an ``excursion`` alarm at once (its id is in ``alarm``). A repeated
    post of the same ``recorded_at`` is answered 200 with the reading already stored."""

    serializer_class = s.ReadingSerializer
    filterset_class = filters.ReadingFilter
    pagination_class = ReadingKeysetPagination
    required_perms = {"GET": ["storage.view_temperaturereading"], "POST": ["storage.add_temperaturereading"]}

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):
            return TemperatureReading.objects.none()
        unit = get_object_or_404(StorageUnit, pk=self.kwargs["pk"])
        return queries.readings_page(unit)

    def page_context(self, page):
        return {"alarms": dict(Alarm.objects.filter(reading__in=page).values_list("reading_id", "id"))}

    @extend_schema(responses={200: s.ReadingSerializer(many=True), **ERRORS})
    def get(self, request, *args, **kwargs):
        return self.list(request, *args, **kwargs)

    @extend_schema(request=s.ReadingRequestSerializer,
                   responses={201: s.ReadingSerializer, 200: s.ReadingSerializer, **ERRORS})
    def post(self, request, pk: int):
        unit = get_object_or_404(StorageUnit, pk=pk)
        data = s.ReadingRequestSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        reading, created = services.record_reading(
            unit, temperature_c=data.validated_data["temperature_c"],
            recorded_at=data.validated_data.get("recorded_at"), actor=request.user,
        )
        alarm = Alarm.objects.filter(reading=reading, kind=AlarmKind.EXCURSION).values_list("id", flat=True).first()
        body = s.ReadingSerializer(reading, context={"alarms": {reading.pk: alarm}}).data
        return Response(body, status=status.HTTP_201_CREATED if created else status.HTTP_200_OK)


class UnitEvacuateView(StorageView):
    """Emergency: move every box of this unit into the racks of another unit, keeping positions."""

    serializer_class = s.EvacuateResultSerializer
    required_perms = {"POST": ["storage.add_vialmove"]}

    @extend_schema(request=s.EvacuateRequestSerializer, responses={
        200: s.EvacuateResultSerializer,
        202: OpenApiResponse(JobAcceptedSerializer, description="a unit of STORAGE_EVACUATE_JOB_BOXES boxes or more, "
                                                                "or background: the job to poll"),
        **ERRORS, **CONFLICT})
    def post(self, request, pk: int):
        unit = get_object_or_404(StorageUnit, pk=pk)
        data = s.EvacuateRequestSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        target = StorageUnit.objects.filter(pk=data.validated_data["unit"]).first()
        if target is None:
            raise exceptions.ValidationError({"unit": ["No such storage unit."]})
        # A full tank goes to the worker by the page's own rule (evacuation_needs_job), whatever the client asked:
        # moving thousands of boxes would outlast the request. The rules then run in the job, which fails with the
        # refusal's message (the job's ``error``) instead of a 409 here.
        if data.validated_data.get("background") or evacuation_needs_job(unit):
            job = start_evacuation(unit, target, actor=request.user, reason=data.validated_data["reason"])
            return accepted_response(job, request)
        result = services.evacuate_unit(unit, target, actor=request.user, reason=data.validated_data["reason"])
        return Response({"boxes": [b.pk for b in result.boxes], "vials": result.vials,
                         "mirror_broken": result.mirror_broken})


class UnitSensorsView(StorageView):
    """The sensor accounts that may post readings for this unit. ``PUT`` (admin) replaces them: a sensor posting
    for a unit it is not bound to is refused with 403 ``sensor_not_bound``."""

    serializer_class = s.UnitSensorsSerializer
    queryset = StorageUnit.objects.all()  # DRF's OPTIONS looks the unit up to describe PUT
    required_perms = {"GET": ["storage.view_storageunit"],
                      "PUT": ["storage.add_sensorbinding", "storage.delete_sensorbinding"]}

    @extend_schema(responses={200: s.UnitSensorsSerializer, **ERRORS})
    def get(self, request, pk: int):
        unit = get_object_or_404(StorageUnit, pk=pk)
        return Response({"sensors": services.unit_sensors(unit)})

    @extend_schema(request=s.UnitSensorsSerializer, responses={200: s.UnitSensorsSerializer, **ERRORS})
    def put(self, request, pk: int):
        unit = get_object_or_404(StorageUnit, pk=pk)
        data = s.UnitSensorsSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        sensors = services.bind_sensors(unit, data.validated_data["sensors"], actor=request.user,
                                        reason=data.validated_data.get("reason", ""))
        return Response({"sensors": sensors})


# --- racks and boxes -----------------------------------------------------------------------------------------


class RackListView(StorageListView):
    """Every rack, with the number of boxes it holds (``?unit=`` filters)."""

    queryset = Rack.objects.annotate(box_count=Count("boxes")).order_by("unit_id", "position", "name")
    serializer_class = s.RackSerializer
    filterset_class = filters.RackFilter
    required_perms = {"GET": ["storage.view_rack"]}

    @extend_schema(responses={200: s.RackSerializer(many=True), **ERRORS})
    def get(self, request, *args, **kwargs):
        return self.list(request, *args, **kwargs)


class RackDetailView(StorageView):
    serializer_class = s.RackSerializer
    required_perms = {"GET": ["storage.view_rack"]}

    @extend_schema(responses={200: s.RackSerializer, **ERRORS})
    def get(self, request, pk: int):
        rack = get_object_or_404(Rack.objects.annotate(box_count=Count("boxes")), pk=pk)
        return Response(s.RackSerializer(rack).data)


class RackBoxesView(StorageListView):
    """The boxes of a rack; admins add a box (preset 9x9, 10x10, 5x5, or rows × cols) → with a new barcode."""

    serializer_class = s.BoxSerializer
    required_perms = {"GET": ["storage.view_box"], "POST": ["storage.add_box"]}

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):
            return Box.objects.none()
        rack = get_object_or_404(Rack, pk=self.kwargs["pk"])
        return rack.boxes.select_related("rack").order_by("position", "name")

    @extend_schema(responses={200: s.BoxSerializer(many=True), **ERRORS})
    def get(self, request, *args, **kwargs):
        return self.list(request, *args, **kwargs)

    @extend_schema(request=s.BoxCreateSerializer, responses={201: s.BoxSerializer, **ERRORS, **CONFLICT})
    def post(self, request, pk: int):
        rack = get_object_or_404(Rack, pk=pk)
        data = s.BoxCreateSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        box = services.create_box(rack, actor=request.user, **data.validated_data)
        return Response(s.BoxSerializer(box).data, status=status.HTTP_201_CREATED)


class BoxListView(StorageListView):
    """Boxes; ``?barcode=`` finds the box a scanner read, ``?rack=`` / ``?unit=`` filter."""

    queryset = Box.objects.select_related("rack").order_by("rack_id", "position", "name")
    serializer_class = s.BoxSerializer
    filterset_class = filters.BoxFilter
    required_perms = {"GET": ["storage.view_box"]}

    @extend_schema(responses={200: s.BoxSerializer(many=True), **ERRORS})
    def get(self, request, *args, **kwargs):
        return self.list(request, *args, **kwargs)


class BoxDetailView(StorageView):
    serializer_class = s.BoxSerializer
    required_perms = {"GET": ["storage.view_box"]}

    @extend_schema(responses={200: s.BoxSerializer, **ERRORS})
    def get(self, request, pk: int):
        return Response(s.BoxSerializer(get_object_or_404(Box.objects.select_related("rack"), pk=pk)).data)


class BoxMapView(StorageView):
    """The freezer map of a box: every position, 1-based, row by row, with the vial there or null.
    Two queries whatever the box size (the box, then its vials with lot and line)."""

    serializer_class = s.BoxMapSerializer
    required_perms = {"GET": ["storage.view_box", "lots.view_vial"]}

    @extend_schema(responses={200: s.BoxMapSerializer, **ERRORS})
    def get(self, request, pk: int):
        box = get_object_or_404(Box.objects.select_related("rack__unit"), pk=pk)
        data = queries.box_map(box)  # plain JSON-ready dicts: no per-cell serializer on the hot path
        data["box"] = s.BoxSerializer(box).data
        return Response(data)


class BoxMoveView(StorageView):
    """Move a whole box to another rack (vials keep their positions; each gets a custody record)."""

    serializer_class = s.BoxSerializer
    required_perms = {"POST": ["storage.add_vialmove"]}

    @extend_schema(request=s.MoveBoxRequestSerializer, responses={200: s.BoxSerializer, **ERRORS, **CONFLICT})
    def post(self, request, pk: int):
        box = get_object_or_404(Box, pk=pk)
        data = s.MoveBoxRequestSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        rack = Rack.objects.filter(pk=data.validated_data["rack"]).first()
        if rack is None:
            raise exceptions.ValidationError({"rack": ["No such rack."]})
        box = services.move_box(box, rack, actor=request.user, reason=data.validated_data["reason"])
        return Response(s.BoxSerializer(box).data)


class FindSpaceView(StorageView):
    """Boxes proposed for a lot's unplaced vials (segregation and mirror storage respected)."""

    serializer_class = s.FindSpaceSerializer
    required_perms = {"GET": ["storage.view_box"]}

    @extend_schema(parameters=[OpenApiParameter("lot", int, required=True),
                               OpenApiParameter("count", int, required=False,
                                                description="vials to place (default: the lot's unplaced vials)")],
                   responses={200: s.FindSpaceSerializer, **ERRORS})
    def get(self, request):
        lot_id = _int_param(request.query_params.get("lot"), "lot")
        if lot_id is None:
            raise exceptions.ValidationError({"lot": ["Give the lot id."]})
        count = _int_param(request.query_params.get("count"), "count")
        if count is not None and not 1 <= count <= 100_000:
            raise exceptions.ValidationError({"count": ["Give a count between 1 and 100000."]})
        lot = get_object_or_404(Lot, pk=lot_id)
        proposal = queries.find_space(lot, count=count)
        return Response(s.FindSpaceSerializer({
            "needed": proposal.needed, "quarantine": proposal.quarantine, "mirror": proposal.mirror,
            "enough": proposal.enough,
            "boxes": [{"box": box, "unit_name": box.rack.unit.name, "free": free, "take": take}
                      for box, free, take in proposal.boxes],
        }).data)


# --- placement and vial moves --------------------------------------------------------------------------------


def _stored(vials) -> list[dict]:
    return [{"id": v.pk, "barcode": v.barcode, "position": queries.position_of(v)} for v in vials]


class LotStoreView(StorageView):
    """Put the lot's unplaced vials into free positions of the boxes, in the order given.
    409 ``insufficient_space``, ``quarantine_segregation``, ``mirror_storage``, ``nothing_to_store``."""

    serializer_class = s.StoreResultSerializer
    required_perms = {"POST": ["storage.add_vialmove"]}

    @extend_schema(request=s.StoreRequestSerializer, responses={200: s.StoreResultSerializer, **ERRORS, **CONFLICT})
    def post(self, request, pk: int):
        lot = get_object_or_404(Lot, pk=pk)
        data = s.StoreRequestSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        placed = services.store_lot(lot, data.validated_data["boxes"], actor=request.user,
                                    reason=data.validated_data.get("reason", ""))
        return Response({"lot": lot.pk, "stored": len(placed), "vials": _stored(placed)})


class VialMoveView(StorageView):
    """Move a vial to (box, row, col) with a reason. 409 ``position_occupied``, ``quarantine_segregation``,
    ``mirror_storage``, ``vial_unavailable``."""

    serializer_class = s.StoredVialSerializer
    required_perms = {"POST": ["storage.add_vialmove"]}

    @extend_schema(request=s.MoveVialRequestSerializer, responses={200: s.StoredVialSerializer, **ERRORS,
                                                                   **CONFLICT})
    def post(self, request, pk: int):
        vial = get_object_or_404(Vial, pk=pk)
        data = s.MoveVialRequestSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        box = Box.objects.filter(pk=data.validated_data["box"]).first()
        if box is None:
            raise exceptions.ValidationError({"box": ["No such box."]})
        moved = services.move_vial(vial, box, data.validated_data["row"], data.validated_data["col"],
                                   actor=request.user, reason=data.validated_data["reason"])
        moved = Vial.objects.select_related("box__rack__unit").get(pk=moved.pk)
        return Response(_stored([moved])[0])


class VialCustodyView(StorageListView):
    """A vial's chain of custody: every placement, move and removal, oldest first."""

    serializer_class = s.VialMoveSerializer
    required_perms = {"GET": ["storage.view_vialmove"]}

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):
            return VialMove.objects.none()
        return queries.custody(get_object_or_404(Vial, pk=self.kwargs["pk"]))

    @extend_schema(responses={200: s.VialMoveSerializer(many=True), **ERRORS})
    def get(self, request, *args, **kwargs):
        return self.list(request, *args, **kwargs)


# --- alarms -----------------------------------------------------------------------------------------------------


def _alarm_qs():
    return (Alarm.objects.select_related("unit", "reading", "acknowledged_by")
            .annotate(vial_count=Count("alarmvial")).order_by("-raised_at", "-id"))


class AlarmListView(StorageListView):
    """Excursion and silent-sensor alarms, newest first; ``?active=true`` for the ones not acknowledged."""

    serializer_class = s.AlarmSerializer
    filterset_class = filters.AlarmFilter
    required_perms = {"GET": ["storage.view_alarm"]}

    def get_queryset(self):
        return _alarm_qs()

    @extend_schema(responses={200: s.AlarmSerializer(many=True), **ERRORS})
    def get(self, request, *args, **kwargs):
        return self.list(request, *args, **kwargs)


class AlarmDetailView(StorageView):
    serializer_class = s.AlarmDetailSerializer
    required_perms = {"GET": ["storage.view_alarm"]}

    @extend_schema(responses={200: s.AlarmDetailSerializer, **ERRORS})
    def get(self, request, pk: int):
        return Response(s.AlarmDetailSerializer(get_object_or_404(_alarm_qs(), pk=pk)).data)


class AlarmAcknowledgeView(StorageView):
    """Acknowledge an alarm with a reason and an electronic signature (password again).
    403 ``signature_invalid``; 409 ``alarm_not_active``."""

    serializer_class = s.AlarmDetailSerializer
    required_perms = {"POST": ["storage.change_alarm"]}
    throttle_scope = SIGNATURE

    @extend_schema(request=s.AcknowledgeRequestSerializer, responses={200: s.AlarmDetailSerializer, **ERRORS,
                                                                      **CONFLICT})
    def post(self, request, pk: int):
        alarm = get_object_or_404(Alarm, pk=pk)
        data = s.AcknowledgeRequestSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        services.acknowledge_alarm(alarm, actor=request.user, password=data.validated_data["password"],
                                   reason=data.validated_data["reason"], meaning=data.validated_data["meaning"])
        return Response(s.AlarmDetailSerializer(get_object_or_404(_alarm_qs(), pk=pk)).data)


# --- rack scans, batch moves, rack moves (issue 17) -----------------------------------------------------------------


def _read_scan(data) -> tuple:
    """The parsed scan and the chosen box (if any) of a rack-scan request; 400 ``{"file"|"box": [...]}``."""
    from storage.rackscan import MAX_FILE_BYTES, parse_rack_scan

    upload = data.validated_data["file"]
    if upload.size is not None and upload.size > MAX_FILE_BYTES:
        raise exceptions.ValidationError({"file": ["The file is larger than a rack scan can be."]})
    scan = parse_rack_scan(upload.read(MAX_FILE_BYTES + 1))
    box = None
    if data.validated_data.get("box"):
        box = Box.objects.filter(pk=data.validated_data["box"]).first()
        if box is None:
            raise exceptions.ValidationError({"box": ["No such box."]})
    return scan, box


class RackScanView(StorageView):
    """Check a box against the database with a 2D rack-scanner file (multipart ``file``; Ziath DataPaq or
    Azenta/FluidX CSV, detected): every position with its outcome (``match``, ``misplaced``, ``unplaced``,
    ``unknown``, ``missing``, ``no_read``, ``empty``) and the vials missing from the box. Nothing is written.
    400 ``{"file": ["Line n: …"]}`` for a file that cannot be read."""

    serializer_class = s.RackScanResultSerializer
    required_perms = {"POST": ["storage.view_box", "lots.view_vial"]}

    @extend_schema(request={"multipart/form-data": s.RackScanRequestSerializer},
                   responses={200: s.RackScanResultSerializer, **ERRORS})
    def post(self, request):
        data = s.RackScanRequestSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        scan, box = _read_scan(data)
        return Response(services.compare_scan(scan, box).as_dict())


class RackScanStoreView(StorageView):
    """Store or move every scanned tube into the position the scanner read it at (one transaction, one reason,
    each step in the chain of custody); answers the comparison after the move. 409 ``unknown_vials``,
    ``vial_unavailable``, ``position_occupied``, ``quarantine_segregation``, ``unit_out_of_service``,
    ``mirror_storage``, ``nothing_to_store``."""

    serializer_class = s.RackScanStoreResultSerializer
    required_perms = {"POST": ["storage.add_vialmove", "lots.view_vial"]}

    @extend_schema(request={"multipart/form-data": s.RackScanStoreRequestSerializer},
                   responses={200: s.RackScanStoreResultSerializer, **ERRORS, **CONFLICT})
    def post(self, request):
        data = s.RackScanStoreRequestSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        scan, box = _read_scan(data)
        result = services.apply_scan(scan, box, actor=request.user, reason=data.validated_data["reason"])
        body = services.compare_scan(scan, result.box).as_dict()
        body.update(moved=[v.barcode for v in result.moved], placed=[v.barcode for v in result.placed])
        return Response(body)


class BatchMoveView(StorageView):
    """Move many vials at once (ids, scanned barcodes, or every vial of boxes or racks) into the free positions of
    one box, row by row from ``start``, with one reason, in one transaction: all or nothing. 409
    ``insufficient_space``, ``vial_unavailable``, ``quarantine_segregation``, ``unit_out_of_service``,
    ``mirror_storage``, ``nothing_to_store``."""

    serializer_class = s.BatchMoveResultSerializer
    required_perms = {"POST": ["storage.add_vialmove"]}

    @extend_schema(request=s.BatchMoveRequestSerializer, responses={200: s.BatchMoveResultSerializer, **ERRORS,
                                                                    **CONFLICT})
    def post(self, request):
        data = s.BatchMoveRequestSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        values = data.validated_data
        box = Box.objects.filter(pk=values["box"]).first()
        if box is None:
            raise exceptions.ValidationError({"box": ["No such box."]})
        ids = services.batch_vials(barcodes=values.get("barcodes", ()), vial_ids=values.get("vials", ()),
                                   boxes=values.get("boxes", ()), racks=values.get("racks", ()))
        moved = services.batch_move(ids, box, start=values.get("start"), actor=request.user, reason=values["reason"])
        return Response({"box": box.pk, "moved": len(moved), "vials": _stored(moved)})


class RackMoveView(StorageView):
    """Move a rack (canister) with its boxes into another unit; boxes and vials keep their places in it, each vial
    gets a ``rack_moved`` custody step. 409 ``quarantine_segregation`` (any lot in the rack),
    ``unit_out_of_service``, ``rack_name_taken``, ``mirror_storage``."""

    serializer_class = s.RackSerializer
    required_perms = {"POST": ["storage.add_vialmove"]}

    @extend_schema(request=s.MoveRackRequestSerializer, responses={200: s.RackSerializer, **ERRORS, **CONFLICT})
    def post(self, request, pk: int):
        rack = get_object_or_404(Rack, pk=pk)
        data = s.MoveRackRequestSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        unit = StorageUnit.objects.filter(pk=data.validated_data["unit"]).first()
        if unit is None:
            raise exceptions.ValidationError({"unit": ["No such storage unit."]})
        rack = services.move_rack(rack, unit, actor=request.user, reason=data.validated_data["reason"])
        rack = Rack.objects.annotate(box_count=Count("boxes")).get(pk=rack.pk)
        return Response(s.RackSerializer(rack).data)
