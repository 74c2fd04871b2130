"""The device registry: last known state of every device, and its availability (online / offline).

Availability changes are events (``device.offline`` is a warning alarm that clears when the device comes
back) and are published as retained per-device availability by the uplink.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from edge.core.types import JsonValue, Reading, Severity
from edge.pipeline.alarm_book import AlarmBook


@dataclass(slots=True)
class DeviceState:
    id: str
    area: str | None = None
    profile: str | None = None
    online: bool | None = None  # None until the first poll tells
    last_seen: float | None = None
    offline_reason: str | None = None
    values: dict[str, JsonValue] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "area": self.area,
            "profile": self.profile,
            "online": self.online,
            "last_seen": self.last_seen,
            "offline_reason": self.offline_reason,
            "values": dict(self.values),
        }


AvailabilityListener = Callable[[str, bool], None]


class DeviceRegistry:
    def __init__(self, alarms: AlarmBook) -> None:
        self._alarms = alarms
        self._devices: dict[str, DeviceState] = {}
        self._listeners: list[AvailabilityListener] = []

    def declare(self, device: str, *, area: str | None = None, profile: str | None = None) -> DeviceState:
        state = self._devices.get(device)
        if state is None:
            state = self._devices[device] = DeviceState(device, area, profile)
        return state

    def on_availability(self, listener: AvailabilityListener) -> None:
        self._listeners.append(listener)

    def observe(self, reading: Reading) -> None:
        state = self._devices.get(reading.device) or self.declare(reading.device)
        state.values[reading.key] = reading.value
        state.last_seen = reading.ts

    def seen(self, device: str, ts: float) -> None:
        """The device answered at ``ts`` with nothing new (a poll filtered by ``report: on_change``)."""
        state = self._devices.get(device) or self.declare(device)
        if state.last_seen is None or ts > state.last_seen:
            state.last_seen = ts

    def get(self, device: str) -> DeviceState | None:
        return self._devices.get(device)

    def snapshot(self) -> list[DeviceState]:
        return sorted(self._devices.values(), key=lambda d: ((d.area or ""), d.id))

    async def set_availability(self, device: str, online: bool, *, reason: str = "") -> None:
        state = self.declare(device)
        if state.online is online:
            return
        state.online = online
        state.offline_reason = None if online else (reason or "no answer")
        if online:
            state.last_seen = time.time()
        for listener in self._listeners:
            listener(device, online)
        await self._alarms.update(
            device,
            "device.offline",
            active=not online,
            severity=Severity.WARNING,
            details={"reason": state.offline_reason} if not online else {},
        )
