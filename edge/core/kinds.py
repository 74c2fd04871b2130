"""Alarm kinds that the runtime's own areas raise, named once so that other parts (the Home Assistant bridge, the
console's labels) can list them without importing the area that raises them. Rule-driven kinds of Modbus devices
come from their profiles (drivers/profiles/*.yaml)."""

from __future__ import annotations

DOOR_FORCED = "door.forced"
DOOR_HELD_OPEN = "door.held_open"
EBIKE_IN_LIFT = "ebike_in_lift"
FALL_DETECTED = "fall_detected"
OUTBOX_FULL = "outbox.full"

GATE_ALARM_KINDS = frozenset({DOOR_FORCED, DOOR_HELD_OPEN})
LIFT_ALARM_KINDS = frozenset({EBIKE_IN_LIFT})
FALL_ALARM_KINDS = frozenset({FALL_DETECTED})
