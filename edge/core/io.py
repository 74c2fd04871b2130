"""Routes device write actions (unlock pulse, door hold, alarm reset) to the driver that owns the device.

Drivers register one writer per device; gates, lifts and platform commands call ``write`` by device id and
never see which bus or protocol is behind it.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

DeviceWriter = Callable[[str, dict[str, Any]], Awaitable[None]]


class UnknownDeviceError(LookupError):
    pass


class IoRouter:
    def __init__(self) -> None:
        self._writers: dict[str, DeviceWriter] = {}

    def register(self, device: str, writer: DeviceWriter) -> None:
        if device in self._writers:
            raise ValueError(f"device {device!r} already has a writer")
        self._writers[device] = writer

    def unregister(self, device: str) -> None:
        self._writers.pop(device, None)

    def has(self, device: str) -> bool:
        return device in self._writers

    async def write(self, device: str, action: str, args: dict[str, Any] | None = None) -> None:
        """Run ``action`` on ``device``; raises UnknownDeviceError, or the driver's error if the write fails."""
        writer = self._writers.get(device)
        if writer is None:
            raise UnknownDeviceError(f"no writable device {device!r}")
        await writer(action, dict(args or {}))
