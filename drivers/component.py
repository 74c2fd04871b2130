"""Gateway components for the field buses: one ``BusComponent`` per configured bus.

Each component owns its bus through a ``BusScheduler``: it declares its devices in the registry, registers
a writer per device that has write actions (``ctx.io.write(device, "pulse", {...})``), turns polled values
into readings for the pipeline and reports availability. Devices with ``report: on_change`` send only the
values that changed (drivers/report.py); a poll with no change still counts as the device being seen.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Mapping
from typing import TYPE_CHECKING, Any

from drivers.bus import BusScheduler, Link, WriteFailed
from drivers.config import BusConfig, DeviceConfig
from drivers.device import DeviceSpec, resolve_device
from drivers.report import ChangeFilter
from edge.core.io import UnknownDeviceError
from edge.core.types import Command, CommandError, CommandResult, CommandStatus, Reading

if TYPE_CHECKING:
    from edge.config import GatewayConfig
    from edge.core.runtime import Context

log = logging.getLogger(__name__)


class _ContextSink:
    def __init__(self, ctx: Context, filters: Mapping[str, ChangeFilter] | None = None) -> None:
        self.ctx = ctx
        self.filters = filters or {}

    async def values(self, device: str, values: dict[str, Any], ts: float) -> None:
        t_in = time.monotonic()
        change_filter = self.filters.get(device)
        if change_filter is not None:
            values = change_filter.filter(values, t_in)
            if not values:
                self.ctx.devices.seen(device, ts)  # nothing new, but the device answered
                return
        await self.ctx.readings.put_many([Reading(device, key, value, ts, t_in) for key, value in values.items()])

    async def availability(self, device: str, online: bool, reason: str) -> None:
        change_filter = self.filters.get(device)
        if change_filter is not None:
            change_filter.reset()  # back online (or a restarted scheduler): the next poll sends every value
        await self.ctx.devices.set_availability(device, online, reason=reason)


def report_filters(devices: list[DeviceConfig]) -> dict[str, ChangeFilter]:
    """One change filter per device with ``report: on_change``."""
    return {d.id: ChangeFilter(d.report_every_s) for d in devices if d.report == "on_change"}


class BusComponent:
    def __init__(
        self,
        bus: BusConfig,
        devices: list[DeviceSpec],
        *,
        link: Link | None = None,
        report: Mapping[str, ChangeFilter] | None = None,
    ) -> None:
        """``report``: a change filter per device id that reports on change (the others send every poll)."""
        self.name = f"bus:{bus.id}"
        self.bus = bus
        self.devices = devices
        self.report = dict(report or {})
        self._link = link
        self.scheduler: BusScheduler | None = None

    async def run(self, ctx: Context) -> None:
        gauge = ctx.metrics.poll_cycle.labels(self.bus.id)
        sink = _ContextSink(ctx, self.report)
        self.scheduler = scheduler = BusScheduler(self.bus, self.devices, sink, link=self._link, on_cycle=gauge.set)
        for spec in self.devices:
            ctx.devices.declare(spec.id, area=spec.area, profile=spec.profile.name)
            factory = spec.profile.serial
            if not self.bus.is_tcp and (factory.baudrate, factory.parity) != (self.bus.baudrate, self.bus.parity):
                log.info(
                    "device %s: factory setting of %s is %d baud parity %s, bus %s runs %d %s: "
                    "the device must have been reconfigured",
                    spec.id,
                    spec.profile.name,
                    factory.baudrate,
                    factory.parity,
                    self.bus.id,
                    self.bus.baudrate,
                    self.bus.parity,
                )
            if spec.profile.actions:
                models = {name: action.args_model(name) for name, action in spec.profile.actions.items()}
                ctx.io.register(spec.id, self._writer(scheduler, spec.id), args=models)
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
    def _writer(scheduler: BusScheduler, device: str) -> Callable[[str, dict[str, Any]], Awaitable[None]]:
        async def write(action: str, args: dict[str, Any]) -> None:
            await scheduler.write(device, action, args)

        return write


def _register_command(ctx: Context, action: str) -> None:
    """Platform commands ``{target: device, action: reset|pulse|set, args}`` go to the device's writer.

    One handler per action name serves every bus (ctx.io knows which bus owns the target), so the first
    bus component registers it and the others find it there.
    """

    async def handle(command: Command) -> CommandResult:
        owner = ctx.io.owner_of(command.target, command.args)
        if owner is not None:
            channel = command.args.get("channel")
            what = f"{command.target}" + (f" channel {channel}" if channel is not None else "")
            raise CommandError(f"{what} belongs to {owner}: a direct {command.action!r} is refused")
        try:
            await ctx.io.write(command.target, command.action, command.args)
        except (ValueError, WriteFailed, UnknownDeviceError) as exc:
            raise CommandError(str(exc)) from exc
        return CommandResult(command.request_id, CommandStatus.DONE)

    def args_of(command: Command) -> Any:
        # the target's profile defines the arguments; an unknown target is refused by the handler
        return ctx.io.args_model(command.target, command.action)

    if action not in getattr(ctx.commands, "actions", ()):
        ctx.commands.register(action, handle, args=args_of)


def build_components(config: GatewayConfig) -> list[BusComponent]:
    """One component per bus that has devices."""
    components = []
    for bus in config.buses:
        configs = [d for d in config.devices if d.bus == bus.id]
        if configs:
            components.append(BusComponent(bus, [resolve_device(d) for d in configs], report=report_filters(configs)))
    return components
