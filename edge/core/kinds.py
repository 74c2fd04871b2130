"""Alarm kinds that the runtime's own areas raise, named once so that other parts (the Home Assistant bridge, the
console's labels) can list them without importing the area that raises them. Rule-driven kinds of Modbus devices
come from their profiles (drivers/profiles/*.yaml)."""

from __future__ import annotations

DOOR_FORCED = "door.forced"
DOOR_HELD_OPEN = "door.held_open"
EBIKE_IN_LIFT = "ebike_in_lift"
FALL_DETECTED = "fall_detected"
OUTBOX_FULL = "outbox.full"
UPLINK_REFUSED = "uplink.refused"  # the broker refuses publishes (edge/pipeline/refusals.py)
COMMANDS_UNAVAILABLE = "commands.unavailable"  # the broker refused the command subscription
CLOCK_BEHIND = "clock.behind"  # the wall clock is earlier than the persisted mark (edge/pipeline/clock.py)
DISK_FULL = "disk.full"  # the outbox's file system is full (edge/pipeline/outbox.py)

GATE_ALARM_KINDS = frozenset({DOOR_FORCED, DOOR_HELD_OPEN})
LIFT_ALARM_KINDS = frozenset({EBIKE_IN_LIFT})
FALL_ALARM_KINDS = frozenset({FALL_DETECTED})
