"""Gateway components for the field buses: one ``BusComponent`` per configured bus.

Each component owns its bus through a ``BusScheduler``: it declares its devices in the registry, registers
a writer per device that has write actions (``ctx.io.write(device, "pulse", {...})``), turns polled values
into readings for the pipeline and reports availability.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import TYPE_CHECKING, Any

from drivers.bus import BusScheduler, Link, WriteFailed
from drivers.config import BusConfig
from drivers.device import DeviceSpec, resolve_device
from edge.io import UnknownDeviceError
from edge.types import Command, CommandError, CommandResult, CommandStatus, Reading

if TYPE_CHECKING:
    from edge.config import GatewayConfig
    from edge.runtime import Context

log = logging.getLogger(__name__)


class _ContextSink:
    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx

    async def values(self, device: str, values: dict[str, Any], ts: float) -> None:
        t_in = time.monotonic()
        await self.ctx.readings.put_many([Reading(device, key, value, ts, t_in) for key, value in values.items()])

    async def availability(self, device: str, online: bool, reason: str) -> None:
        await self.ctx.devices.set_availability(device, online, reason=reason)


class BusComponent:
    def __init__(self, bus: BusConfig, devices: list[DeviceSpec], *, link: Link | None = None) -> None:
        self.name = f"bus:{bus.id}"
        self.bus = bus
        self.devices = devices
        self._link = link
        self.scheduler: BusScheduler | None = None

    async def run(self, ctx: Context) -> None:
        gauge = ctx.metrics.poll_cycle.labels(self.bus.id)
        self.scheduler = scheduler = BusScheduler(self.bus, self.devices, _ContextSink(ctx), link=self._link,
                                                  on_cycle=gauge.set)
        for spec in self.devices:
            ctx.devices.declare(spec.id, area=spec.area, profile=spec.profile.name)
            factory = spec.profile.serial
            if not self.bus.is_tcp and (factory.baudrate, factory.parity) != (self.bus.baudrate, self.bus.parity):
                log.info("device %s: factory setting of %s is %d baud parity %s, bus %s runs %d %s: "
                         "the device must have been reconfigured", spec.id, spec.profile.name, factory.baudrate,
                         factory.parity, self.bus.id, self.bus.baudrate, self.bus.parity)
            if spec.profile.actions:
                ctx.io.register(spec.id, self._writer(scheduler, spec.id))
            for action in spec.profile.actions:
                _register_command(ctx, action)
        try:
            while True:
                try:
                    await scheduler.run()
                except Exception:
                    # a bug or an unexpected library error must not take the gateway down: log, pause, resume
                    log.exception("bus %s: scheduler failed; restarting in %.1f s", self.bus.id, self.bus.reconnect_s)
                    await asyncio.sleep(self.bus.reconnect_s)
        finally:
            for spec in self.devices:
                if spec.profile.actions:
                    ctx.io.unregister(spec.id)

    @staticmethod
    def _writer(scheduler: BusScheduler, device: str):  # noqa: ANN205
        async def write(action: str, args: dict[str, Any]) -> None:
            await scheduler.write(device, action, args)

        return write


def _register_command(ctx: Context, action: str) -> None:
    """Platform commands ``{target: device, action: reset|pulse|set, args}`` go to the device's writer.

    One handler per action name serves every bus (ctx.io knows which bus owns the target), so the first
    bus component registers it and the others find it there.
    """

    async def handle(command: Command) -> CommandResult:
        try:
            await ctx.io.write(command.target, command.action, command.args)
        except (ValueError, WriteFailed, UnknownDeviceError) as exc:
            raise CommandError(str(exc)) from exc
        return CommandResult(command.request_id, CommandStatus.DONE)

    if action not in getattr(ctx.commands, "actions", ()):
        ctx.commands.register(action, handle)


def build_components(config: GatewayConfig) -> list[BusComponent]:
    """One component per bus that has devices."""
    components = []
    for bus in config.buses:
        devices = [resolve_device(d) for d in config.devices if d.bus == bus.id]
        if devices:
            components.append(BusComponent(bus, devices))
    return components
