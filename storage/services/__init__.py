"""Every write of the storage app: layout, placement, moves, readings and alarms.

``remove_from_storage`` is shared: shipping (distribution) and thawing for QC (qc) take vials out of
their positions through it, so every exit lands in the chain of custody.

Locking (so concurrent technicians, sensors and the scheduler never deadlock or double-book):
lot → vials → boxes for placements and vial moves; racks → boxes for box moves and evacuation;
units alone for readings and alarms. Rows of one kind are always locked in primary-key order.
A vial's position is also guarded by the ``lots_vial_unique_position`` constraint: should a write
ever slip past the box lock, the database refuses it and the caller gets ``position_occupied``.

One module per sub-domain; import from the package (``from storage.services import store_lot``),
which re-exports every public name:

- ``layout.py``: units, racks and boxes (``create_unit``, ``update_unit``, ``create_rack``, ``create_box``).
- ``placement_rules.py``: where material may be stored (``check_segregation``, units in service, the
  mirror-storage rule for MCBs).
- ``placement.py``: vials into, between and out of positions (``store_lot``, ``relocate_lot``,
  ``move_vial``, ``remove_from_storage``) and the box locks (``_lock_boxes``).
- ``boxes.py``: whole boxes (``move_box``, ``evacuate_unit``, ``check_evacuation_target``, ``EvacuationResult``).
- ``readings.py``: temperature readings (``record_reading``, ``record_readings``).
- ``rollups.py``: hourly and daily summaries of the readings, kept in the readings' transaction
  (``add_to_rollups``) or rebuilt from them (``rebuild_rollups``).
- ``retention.py``: raw readings past ``READINGS_RAW_RETENTION_DAYS`` deleted, never an alarm's
  (``purge_expired_readings``, ``purge_unit_readings``).
- ``sensors.py``: which sensor accounts post for which unit (``bind_sensors``, ``check_sensor_bound``,
  ``unit_sensors``).
- ``alarms.py``: excursions, silent sensors, acknowledgement and notifications (``silent_units``,
  ``raise_silent_sensor_alarms``, ``acknowledge_alarm``, ``send_alarm_notifications``).
- ``rackscan.py``: 2D rack scans against the database (``compare_scan``, ``ScanComparison``) and storing or
  moving the scanned tubes into the scanned positions (``apply_scan``); the file formats are ``storage.rackscan``.
- ``batch.py``: many vials into one box at once (``batch_vials``, ``batch_move``) and a rack into another unit
  (``move_rack``).
- ``_common.py``: the required reason and the ``VialMove`` record (``_move_record``) that placement
  and box moves share.
"""

from ._common import _move_record
from .alarms import acknowledge_alarm, raise_silent_sensor_alarms, send_alarm_notifications, silent_units
from .batch import BATCH_MOVE_MAX, batch_move, batch_vials, move_rack
from .boxes import EvacuationResult, check_evacuation_target, evacuate_unit, move_box
from .layout import PRESETS, UNIT_FIELDS, create_box, create_rack, create_unit, update_unit
from .placement import _lock_boxes, move_vial, relocate_lot, remove_from_storage, store_lot
from .placement_rules import check_segregation
from .rackscan import ScanComparison, ScanStoreResult, apply_scan, compare_scan
from .readings import MAX_TEMPERATURE_C, MIN_TEMPERATURE_C, READING_CLOCK_SKEW, record_reading, record_readings
from .retention import purge_expired_readings, purge_unit_readings
from .rollups import add_to_rollups, rebuild_rollups
from .sensors import bind_sensors, check_sensor_bound, unit_sensors

__all__ = [
    # _common.py
    "_move_record",
    # alarms.py
    "acknowledge_alarm",
    "raise_silent_sensor_alarms",
    "send_alarm_notifications",
    "silent_units",
    # batch.py
    "BATCH_MOVE_MAX",
    "batch_move",
    "batch_vials",
    "move_rack",
    # boxes.py
    "EvacuationResult",
    "check_evacuation_target",
    "evacuate_unit",
    "move_box",
    # layout.py
    "PRESETS",
    "UNIT_FIELDS",
    "create_box",
    "create_rack",
    "create_unit",
    "update_unit",
    # placement.py
    "move_vial",
    "relocate_lot",
    "remove_from_storage",
    "store_lot",
    "_lock_boxes",
    # placement_rules.py
    "check_segregation",
    # rackscan.py
    "ScanComparison",
    "ScanStoreResult",
    "apply_scan",
    "compare_scan",
    # readings.py
    "MAX_TEMPERATURE_C",
    "MIN_TEMPERATURE_C",
    "READING_CLOCK_SKEW",
    "record_reading",
    "record_readings",
    # retention.py
    "purge_expired_readings",
    "purge_unit_readings",
    # rollups.py
    "add_to_rollups",
    "rebuild_rollups",
    # sensors.py
    "bind_sensors",
    "check_sensor_bound",
    "unit_sensors",
]
