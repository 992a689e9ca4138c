"""Serializers of the storage API: they shape input and output only (the services decide)."""

from __future__ import annotations

from decimal import ROUND_HALF_EVEN

from django.utils.translation import gettext_lazy as _
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from bank.api import fields as bank_fields
from bank.api.serializers import SignaturesField
from bank.models import SignatureMeaning
from lots.api.serializers import PositionSerializer
from storage.choices import AlarmKind, AlarmStatus, BoxPreset, MoveKind, UnitKind
from storage.models import MAX_GRID, Alarm, Box, Rack, StorageUnit, TemperatureReading, VialMove


class OccupancySerializer(serializers.Serializer):
    used = serializers.IntegerField()
    capacity = serializers.IntegerField()
    free = serializers.IntegerField()
    pct = serializers.FloatField()
    warning = serializers.BooleanField(help_text="past STORAGE_CAPACITY_WARNING_PCT")


class UnitSerializer(serializers.ModelSerializer):
    """A unit; in lists ``occupancy`` is the figure counted by the beat (at most a minute old)."""

    silent_after_minutes = serializers.IntegerField(source="silent_minutes", read_only=True)
    occupancy = serializers.SerializerMethodField()

    class Meta:
        model = StorageUnit
        fields = ["id", "name", "kind", "site", "room", "min_temperature_c", "max_temperature_c", "quarantine",
                  "sensor_silent_minutes", "silent_after_minutes", "active", "last_reading_at", "created_at",
                  "occupancy"]

    @extend_schema_field(OccupancySerializer)
    def get_occupancy(self, unit):
        from storage.queries import Occupancy

        occ = self.context.get("occupancy", {}).get(unit.pk, Occupancy())
        return {"used": occ.used, "capacity": occ.capacity, "free": occ.free, "pct": occ.pct, "warning": occ.warning}


class UnitCreateSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=80)
    kind = serializers.ChoiceField(choices=UnitKind.choices)
    site = serializers.CharField(max_length=120, required=False, allow_blank=True, default="")
    room = serializers.CharField(max_length=120, required=False, allow_blank=True, default="")
    min_temperature_c = serializers.DecimalField(max_digits=6, decimal_places=1, rounding=ROUND_HALF_EVEN)
    max_temperature_c = serializers.DecimalField(max_digits=6, decimal_places=1, rounding=ROUND_HALF_EVEN)
    quarantine = serializers.BooleanField(required=False, default=False)
    sensor_silent_minutes = serializers.IntegerField(min_value=1, max_value=10080, required=False, allow_null=True,
                                                     default=None)


class UnitUpdateSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=80, required=False)
    site = serializers.CharField(max_length=120, required=False, allow_blank=True)
    room = serializers.CharField(max_length=120, required=False, allow_blank=True)
    min_temperature_c = serializers.DecimalField(max_digits=6, decimal_places=1, rounding=ROUND_HALF_EVEN,
                                                 required=False)
    max_temperature_c = serializers.DecimalField(max_digits=6, decimal_places=1, rounding=ROUND_HALF_EVEN,
                                                 required=False)
    quarantine = serializers.BooleanField(required=False)
    sensor_silent_minutes = serializers.IntegerField(min_value=1, max_value=10080, required=False, allow_null=True)
    active = serializers.BooleanField(required=False)
    reason = serializers.CharField(max_length=100)


class RackSerializer(serializers.ModelSerializer):
    box_count = serializers.IntegerField(read_only=True, required=False)

    class Meta:
        model = Rack
        fields = ["id", "unit", "name", "position", "capacity", "box_count"]


class RackCreateSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=80)
    position = serializers.IntegerField(min_value=1, max_value=1000, required=False)
    capacity = serializers.IntegerField(min_value=1, max_value=1000, required=False, allow_null=True)


class BoxSerializer(serializers.ModelSerializer):
    unit = serializers.IntegerField(source="rack.unit_id", read_only=True)
    capacity = serializers.IntegerField(read_only=True)

    class Meta:
        model = Box
        fields = ["id", "rack", "unit", "name", "barcode", "rows", "cols", "capacity", "occupied", "position",
                  "created_at"]


class BoxCreateSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=80)
    rows = serializers.IntegerField(min_value=1, max_value=MAX_GRID, required=False)
    cols = serializers.IntegerField(min_value=1, max_value=MAX_GRID, required=False)
    preset = serializers.ChoiceField(choices=BoxPreset.choices, required=False,
                                     help_text="9x9, 10x10, 5x5; or give rows and cols (free-form)")
    position = serializers.IntegerField(min_value=1, max_value=1000, required=False)

    def validate(self, attrs):
        if not attrs.get("preset") or attrs.get("preset") == BoxPreset.CUSTOM:
            missing = {f: [_("Give rows and cols, or a preset.")] for f in ("rows", "cols") if f not in attrs}
            if missing:
                raise serializers.ValidationError(missing)
        return attrs


class MapVialSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    barcode = serializers.CharField()
    status = serializers.CharField()
    lot = serializers.IntegerField()
    lot_number = serializers.CharField()
    lot_status = serializers.CharField()
    tier = serializers.CharField()
    cell_line = serializers.CharField()
    lot_ancestor_recalled = serializers.BooleanField(help_text="the lot was made from a recalled lot")
    do_not_use = serializers.BooleanField(help_text="the lot is recalled, rejected or made from a recalled lot")


class MapCellSerializer(serializers.Serializer):
    row = serializers.IntegerField(min_value=1)
    col = serializers.IntegerField(min_value=1)
    label = serializers.CharField(help_text="row letter and column number, e.g. B3")
    vial = MapVialSerializer(allow_null=True)


class BoxMapSerializer(serializers.Serializer):
    box = BoxSerializer()
    rows = serializers.IntegerField()
    cols = serializers.IntegerField()
    used = serializers.IntegerField()
    cells = MapCellSerializer(many=True)


class StoredVialSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    barcode = serializers.CharField()
    position = PositionSerializer()


class StoreRequestSerializer(serializers.Serializer):
    boxes = serializers.ListField(child=serializers.IntegerField(min_value=1), allow_empty=False, max_length=500,
                                  help_text="box ids, filled in this order")
    reason = serializers.CharField(max_length=300, required=False, allow_blank=True)


class StoreResultSerializer(serializers.Serializer):
    lot = serializers.IntegerField()
    stored = serializers.IntegerField()
    vials = StoredVialSerializer(many=True)


class MoveVialRequestSerializer(serializers.Serializer):
    box = serializers.IntegerField(min_value=1)
    row = serializers.IntegerField(min_value=1, max_value=MAX_GRID)
    col = serializers.IntegerField(min_value=1, max_value=MAX_GRID)
    reason = serializers.CharField(max_length=300)


class MoveBoxRequestSerializer(serializers.Serializer):
    rack = serializers.IntegerField(min_value=1)
    reason = serializers.CharField(max_length=300)


class EvacuateRequestSerializer(serializers.Serializer):
    unit = serializers.IntegerField(min_value=1, help_text="the unit whose racks take the boxes")
    reason = serializers.CharField(max_length=300)
    background = serializers.BooleanField(
        required=False, default=False,
        help_text="run as a job in the worker: 202 with the job to poll. A unit with STORAGE_EVACUATE_JOB_BOXES boxes "
                  "or more always runs as a job; false does not keep it in the request")


class EvacuateResultSerializer(serializers.Serializer):
    boxes = serializers.ListField(child=serializers.IntegerField())
    vials = serializers.IntegerField()
    mirror_broken = serializers.ListField(child=serializers.CharField(),
                                          help_text="MCB lots now in one unit only (mirror storage)")


class VialMoveSerializer(serializers.ModelSerializer):
    kind = serializers.ChoiceField(choices=MoveKind.choices)
    moved_by = serializers.SlugRelatedField(slug_field="username", read_only=True)

    class Meta:
        model = VialMove
        fields = ["id", "vial", "kind", "from_box", "from_row", "from_col", "from_rack", "to_box", "to_row", "to_col",
                  "to_rack", "moved_at", "moved_by", "reason"]


class ReadingRequestSerializer(serializers.Serializer):
    temperature_c = serializers.FloatField(min_value=-273.15, max_value=150,
                                           help_text="°C; stored with two decimals")
    recorded_at = bank_fields.DateTimeField(required=False, help_text="ISO 8601 with zone; now when left out")


class ReadingSerializer(serializers.ModelSerializer):
    temperature_c = serializers.DecimalField(max_digits=8, decimal_places=2, coerce_to_string=False)
    alarm = serializers.SerializerMethodField()

    class Meta:
        model = TemperatureReading
        fields = ["id", "unit", "temperature_c", "recorded_at", "received_at", "alarm"]

    @extend_schema_field(serializers.IntegerField(allow_null=True,
                                                  help_text="the excursion alarm this reading raised"))
    def get_alarm(self, reading):
        return self.context.get("alarms", {}).get(reading.pk)


class AlarmReadingSerializer(serializers.Serializer):
    temperature_c = serializers.DecimalField(max_digits=8, decimal_places=2, coerce_to_string=False)
    recorded_at = serializers.DateTimeField()


class AlarmSerializer(serializers.ModelSerializer):
    kind = serializers.ChoiceField(choices=AlarmKind.choices)
    status = serializers.ChoiceField(choices=AlarmStatus.choices)
    unit_name = serializers.CharField(source="unit.name", read_only=True)
    reading = AlarmReadingSerializer(allow_null=True, read_only=True)
    peak_temperature_c = serializers.DecimalField(max_digits=8, decimal_places=2, coerce_to_string=False,
                                                  allow_null=True)
    acknowledged_by = serializers.SlugRelatedField(slug_field="username", read_only=True)
    affected_vials = serializers.IntegerField(source="vial_count", read_only=True,
                                              help_text="vials in the unit when an excursion was raised "
                                                        "(0 until vials_recorded_at: the worker lists them)")
    snapshot_job = serializers.PrimaryKeyRelatedField(
        read_only=True, help_text="the job listing an excursion's vials (GET /jobs/{id}/ for its owner and admins); "
                                  "null for other alarms")

    class Meta:
        model = Alarm
        fields = ["id", "unit", "unit_name", "kind", "status", "raised_at", "message", "reading", "peak_temperature_c",
                  "acknowledged_at", "acknowledged_by", "acknowledgement_reason", "affected_vials",
                  "vials_recorded_at", "snapshot_job"]


class AlarmDetailSerializer(AlarmSerializer):
    signatures = SignaturesField()

    class Meta(AlarmSerializer.Meta):
        fields = AlarmSerializer.Meta.fields + ["signatures"]


class AcknowledgeRequestSerializer(serializers.Serializer):
    reason = serializers.CharField(max_length=2000, help_text="what was found and done")
    password = serializers.CharField(trim_whitespace=False, style={"input_type": "password"})
    meaning = serializers.ChoiceField(
        choices=[(m.value, m.label) for m in (SignatureMeaning.ACKNOWLEDGEMENT, SignatureMeaning.REVIEW)],
        required=False, default=SignatureMeaning.ACKNOWLEDGEMENT,
    )


class SpaceBoxSerializer(serializers.Serializer):
    box = BoxSerializer()
    unit_name = serializers.CharField()
    free = serializers.IntegerField()
    take = serializers.IntegerField()


class FindSpaceSerializer(serializers.Serializer):
    needed = serializers.IntegerField()
    quarantine = serializers.BooleanField()
    mirror = serializers.BooleanField()
    enough = serializers.BooleanField()
    boxes = SpaceBoxSerializer(many=True)


class UnitSensorsSerializer(serializers.Serializer):
    """The sensor accounts bound to a unit (``PUT`` replaces them all)."""

    sensors = serializers.ListField(child=serializers.CharField(max_length=150), max_length=100, allow_empty=True)
    reason = serializers.CharField(max_length=300, required=False, allow_blank=True, write_only=True)


# --- rack scans and batch moves (issue 17) ----------------------------------------------------------------------


class RackScanRequestSerializer(serializers.Serializer):
    file = serializers.FileField(help_text="the rack scanner's CSV export (Ziath DataPaq or Azenta/FluidX; detected)")
    box = serializers.IntegerField(min_value=1, required=False,
                                   help_text="the box scanned, when the file names no rack (else the rack barcode "
                                             "read by the scanner is the box barcode)")


class RackScanStoreRequestSerializer(RackScanRequestSerializer):
    reason = serializers.CharField(max_length=300)


class ScanVialSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    barcode = serializers.CharField()
    status = serializers.CharField()
    lot = serializers.IntegerField()
    lot_number = serializers.CharField()
    lot_status = serializers.CharField()


class ScanStoredAtSerializer(serializers.Serializer):
    box = serializers.IntegerField()
    box_name = serializers.CharField()
    box_barcode = serializers.CharField()
    label = serializers.CharField()


class RackScanCellSerializer(serializers.Serializer):
    row = serializers.IntegerField()
    col = serializers.IntegerField()
    label = serializers.CharField()
    state = serializers.ChoiceField(choices=["tube", "empty", "no_read"], help_text="what the scanner saw")
    tube = serializers.CharField(allow_null=True, help_text="the barcode read")
    line = serializers.IntegerField(allow_null=True, help_text="the file's line for this position")
    outcome = serializers.ChoiceField(choices=["match", "misplaced", "unplaced", "unknown", "missing", "no_read",
                                               "empty"])
    expected = ScanVialSerializer(allow_null=True, help_text="the vial the database places here")
    vial = ScanVialSerializer(allow_null=True, help_text="the bank's vial with the barcode read")
    stored_at = ScanStoredAtSerializer(allow_null=True, help_text="where the database places a misplaced vial")


class ScanMissingSerializer(ScanVialSerializer):
    label = serializers.CharField(help_text="where the database places it")
    found = serializers.CharField(allow_null=True, help_text="the tube the scanner read there instead, if any")


class ScanBoxSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    barcode = serializers.CharField()
    name = serializers.CharField()
    rows = serializers.IntegerField()
    cols = serializers.IntegerField()
    rack = serializers.IntegerField()
    unit = serializers.IntegerField()


class RackScanResultSerializer(serializers.Serializer):
    format = serializers.ChoiceField(choices=["ziath_datapaq", "ziath_datapaq_grid", "fluidx"])
    rack_barcode = serializers.CharField(allow_blank=True)
    box = ScanBoxSerializer()
    consistent = serializers.BooleanField(help_text="nothing misplaced, unplaced, unknown or missing")
    counts = serializers.DictField(child=serializers.IntegerField(), help_text="positions per outcome")
    cells = RackScanCellSerializer(many=True)
    missing = ScanMissingSerializer(many=True)


class RackScanStoreResultSerializer(RackScanResultSerializer):
    moved = serializers.ListField(child=serializers.CharField(), help_text="barcodes moved into the box")
    placed = serializers.ListField(child=serializers.CharField(), help_text="barcodes placed (had no position)")


class BatchMoveRequestSerializer(serializers.Serializer):
    vials = serializers.ListField(child=serializers.IntegerField(min_value=1), required=False, max_length=1000,
                                  help_text="vial ids, in filling order")
    barcodes = serializers.ListField(child=serializers.CharField(max_length=100), required=False, max_length=1000,
                                     help_text="vial barcodes as scanned, in filling order")
    boxes = serializers.ListField(child=serializers.IntegerField(min_value=1), required=False, max_length=50,
                                  help_text="move every vial of these boxes")
    racks = serializers.ListField(child=serializers.IntegerField(min_value=1), required=False, max_length=10,
                                  help_text="move every vial of these racks")
    box = serializers.IntegerField(min_value=1, help_text="the box the vials go into")
    start = serializers.CharField(max_length=8, required=False, allow_blank=True,
                                  help_text="first position to fill, e.g. B3 (default: the first free one)")
    reason = serializers.CharField(max_length=300)

    def validate_start(self, value):
        from storage.forms import parse_position

        if not value:
            return None
        parsed = parse_position(value)
        if parsed is None:
            raise serializers.ValidationError(_("Give a position such as B3."))
        return parsed

    def validate(self, attrs):
        if not any(attrs.get(k) for k in ("vials", "barcodes", "boxes", "racks")):
            raise serializers.ValidationError({"vials": [_("Name the vials to move (ids, barcodes, boxes or racks).")]})
        return attrs


class BatchMoveResultSerializer(serializers.Serializer):
    box = serializers.IntegerField()
    moved = serializers.IntegerField()
    vials = StoredVialSerializer(many=True)


class MoveRackRequestSerializer(serializers.Serializer):
    unit = serializers.IntegerField(min_value=1, help_text="the unit the rack goes into")
    reason = serializers.CharField(max_length=300)
