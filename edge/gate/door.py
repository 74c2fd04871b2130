"""The door of a gate: a self-releasing unlock pulse, and the door contact watched for forced and held-open doors.

- ``unlock()`` sends the relay board's timed ``pulse`` (Waveshare-type boards: the "flash" command, on for
  a time then off by itself), so a lost "off" can never leave the door unlocked.
- ``watch(ctx)`` follows the door contact (``ctx.hub.readings(device, key)``): an opening while not
  unlocked (plus ``open_grace_s`` for someone slow to push) raises ``door.forced``; a door open longer
  than ``held_open_s`` raises ``door.held_open``. Both clear when the door closes (``ctx.alarms.update``
  is level-triggered: the alarm book sends raised once and cleared once).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable

from edge.core.kinds import DOOR_FORCED, DOOR_HELD_OPEN
from edge.core.runtime import Context
from edge.core.types import JsonValue, Severity
from edge.gate.config import DoorConfig

log = logging.getLogger(__name__)

FORCED = DOOR_FORCED
HELD_OPEN = DOOR_HELD_OPEN


class UnlockError(Exception):
    """The lock could not be driven; the message says why."""


class Door:
    def __init__(
        self,
        gate: str,
        config: DoorConfig,
        *,
        clock: Callable[[], float] = time.monotonic,
        picture: Callable[[], bytes | None] = lambda: None,
    ) -> None:
        self.gate = gate
        self.config = config
        self._clock = clock
        self._picture = picture  # the gate camera's latest snapshot, for the forced-door alarm
        self._unlocked_until = float("-inf")
        self.is_open: bool | None = None

    @property
    def unlocked(self) -> bool:
        return self._clock() <= self._unlocked_until

    async def unlock(self, ctx: Context) -> None:
        """Pulse the lock relay for ``unlock_s``; raises UnlockError when no relay is wired or it fails."""
        cfg = self.config
        if cfg.relay_device is None:
            raise UnlockError(f"gate {self.gate} has no lock relay configured (door.relay_device)")
        # the contact may open as soon as the relay clicks: count the door as unlocked from now
        self._unlocked_until = self._clock() + cfg.unlock_s + cfg.open_grace_s
        try:
            await ctx.io.write(cfg.relay_device, "pulse", {"channel": cfg.relay_channel, "seconds": cfg.unlock_s})
        except Exception as exc:  # the driver's error, whatever its type: the caller reports it
            self._unlocked_until = float("-inf")
            raise UnlockError(f"relay {cfg.relay_device} channel {cfg.relay_channel}: {exc}") from exc

    def _is_open_value(self, value: JsonValue) -> bool:
        return bool(value) == self.config.contact_open_value

    async def watch(self, ctx: Context) -> None:
        """Follow the door contact forever (if one is configured)."""
        cfg = self.config
        if cfg.contact_device is None:
            return
        readings = ctx.hub.readings(cfg.contact_device, cfg.contact_key)
        opened_at: float | None = None
        held_raised = False
        while True:
            timeout = None
            if opened_at is not None and not held_raised:
                timeout = max(0.0, opened_at + cfg.held_open_s - self._clock())
            try:
                reading = await asyncio.wait_for(readings.get(), timeout)
            except TimeoutError:
                held_raised = True
                await ctx.alarms.update(
                    self.gate,
                    HELD_OPEN,
                    active=True,
                    severity=Severity.WARNING,
                    details={"gate": self.gate, "held_open_s": cfg.held_open_s},
                )
                continue
            is_open = self._is_open_value(reading.value)
            if is_open == self.is_open:
                continue
            first, self.is_open = self.is_open is None, is_open
            if is_open:
                opened_at = self._clock()
                if not first and not self.unlocked:  # a door already open at start-up is not forced
                    log.warning("gate %s: door forced (opened without an unlock)", self.gate)
                    await ctx.alarms.update(
                        self.gate,
                        FORCED,
                        active=True,
                        severity=Severity.MAJOR,
                        details={"gate": self.gate, "contact": cfg.contact_device},
                        snapshot=self._picture(),
                    )
            else:
                opened_at, held_raised = None, False
                await ctx.alarms.update(self.gate, FORCED, active=False)
                await ctx.alarms.update(self.gate, HELD_OPEN, active=False)
