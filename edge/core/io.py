"""Routes device write actions (unlock pulse, door hold, alarm reset) to the driver that owns the device.

Drivers register one writer per device; gates, lifts and platform commands call ``write`` by device id and
never see which bus or protocol is behind it.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from typing import Any

DeviceWriter = Callable[[str, dict[str, Any]], Awaitable[None]]


class UnknownDeviceError(LookupError):
    pass


class IoRouter:
    def __init__(self) -> None:
        self._writers: dict[str, DeviceWriter] = {}
        self._args: dict[str, Mapping[str, Any]] = {}
        self._owners: dict[tuple[str, int | None], str] = {}

    def register(self, device: str, writer: DeviceWriter, *, args: Mapping[str, Any] | None = None) -> None:
        """``args``: the arguments model of each of the device's actions (what a platform command must give)."""
        if device in self._writers:
            raise ValueError(f"device {device!r} already has a writer")
        self._writers[device] = writer
        self._args[device] = dict(args or {})

    def unregister(self, device: str) -> None:
        self._writers.pop(device, None)
        self._args.pop(device, None)

    def args_model(self, device: str, action: str) -> Any:
        """The model of ``action``'s arguments on ``device``, or None (unknown device or action)."""
        return self._args.get(device, {}).get(action)

    def reserve(self, device: str, channel: int | None, owner: str) -> None:
        """``owner`` (e.g. "gate 'main' (its unlock command)") alone drives ``channel`` of ``device`` (None: all of
        it): direct platform writes to it are refused (``owner_of``)."""
        self._owners[(device, channel)] = owner

    def owner_of(self, device: str, args: Mapping[str, Any]) -> str | None:
        """Who owns what a direct write with ``args`` would drive, or None if nobody does."""
        channel = args.get("channel")
        return self._owners.get((device, None)) or (
            self._owners.get((device, channel)) if isinstance(channel, int) else None
        )

    def has(self, device: str) -> bool:
        return device in self._writers

    async def write(self, device: str, action: str, args: dict[str, Any] | None = None) -> None:
        """Run ``action`` on ``device``; raises UnknownDeviceError, or the driver's error if the write fails."""
        writer = self._writers.get(device)
        if writer is None:
            raise UnknownDeviceError(f"no writable device {device!r}")
        await writer(action, dict(args or {}))
