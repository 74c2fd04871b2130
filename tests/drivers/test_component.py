"""The bus component against a Context assembled from the core pieces (no broker): readings, availability,
writers in ctx.io, platform commands, and recovery from an unexpected error inside the scheduler."""

from __future__ import annotations

import asyncio
import contextlib
from pathlib import Path

import pytest

from drivers.component import BusComponent, build_components
from drivers.config import BusConfig, DeviceConfig
from drivers.device import resolve_device
from drivers.link import ModbusLink
from edge.core.hub import Hub
from edge.core.io import IoRouter
from edge.core.metrics import Metrics
from edge.core.runtime import Context
from edge.core.types import Command, CommandError, CommandStatus, Event
from edge.pipeline.alarm_book import AlarmBook
from edge.pipeline.devices import DeviceRegistry
from edge.pipeline.queue import ReadingQueue
from simulators.model import SimBus, SimDevice
from simulators.rtu import RtuSimulator
from tests.support import async_wait_for, make_config


class Commands:
    def __init__(self) -> None:
        self.handlers: dict = {}

    @property
    def actions(self) -> list[str]:
        return sorted(self.handlers)

    def register(self, action: str, handler, *, args=None) -> None:  # noqa: ANN001
        if action in self.handlers:
            raise ValueError(f"action {action!r} already has a handler")
        self.handlers[action] = handler


def context(config, tmp_path: Path) -> tuple[Context, list[Event]]:  # noqa: ANN001
    events: list[Event] = []

    async def emit(event: Event) -> None:
        events.append(event)

    alarms = AlarmBook(emit)
    ctx = Context(
        config=config,
        readings=ReadingQueue(1000),
        alarms=alarms,
        devices=DeviceRegistry(alarms),
        commands=Commands(),
        hub=Hub(),
        io=IoRouter(),
        metrics=Metrics(),
        data_dir=tmp_path,
        emit=emit,
    )
    return ctx, events


class FlakyLink(ModbusLink):
    """A real link whose first read blows up with an error no one expects."""

    failed = False

    async def read(self, unit, table, address, count):  # noqa: ANN001, ANN201
        if not self.failed:
            self.failed = True
            raise RuntimeError("boom")
        return await super().read(unit, table, address, count)


def drain(ctx: Context) -> dict[tuple[str, str], object]:
    values = {}
    while ctx.readings.qsize():
        r = ctx.readings._items.popleft()
        values[(r.device, r.key)] = r.value
    return values


async def test_component_feeds_the_context_and_survives_an_unexpected_error(tmp_path) -> None:
    devices = [
        DeviceConfig(id="smoke", bus="b", profile="uniguard_smoke", unit_id=1, poll_s=0.05),
        DeviceConfig(id="relay", bus="b", profile="relay_board", unit_id=2, poll_s=0.05),
    ]
    specs = [resolve_device(d) for d in devices]
    async with RtuSimulator(SimBus([SimDevice(s) for s in specs]), baudrate=115200) as sim:
        bus = BusConfig(id="b", url=str(sim.path), baudrate=115200, timeout_s=0.1, reconnect_s=0.1)
        config = make_config(
            tmp_path, 1883, buses=[bus.model_dump()], devices=[d.model_dump(exclude_none=True) for d in devices]
        )
        ctx, _ = context(config, tmp_path)
        component = BusComponent(bus, specs, link=FlakyLink(bus))
        task = asyncio.create_task(component.run(ctx))
        try:
            sim.bus.devices["smoke"].set("smoke", True)
            seen: dict = {}
            await async_wait_for(
                lambda: seen.update(drain(ctx)) or seen.get(("smoke", "smoke")) is True,
                what="smoke reading after the scheduler restarted",
            )
            assert component._link.failed, "the first read blew up"
            assert ctx.devices.get("smoke").online and ctx.devices.get("smoke").profile == "uniguard_smoke"
            assert ctx.io.has("smoke") and ctx.io.has("relay")
            # platform command -> ctx.io -> the bus
            result = await ctx.commands.handlers["reset"](Command("r1", "smoke", "reset", {}, 0, 1e12))
            assert result.status is CommandStatus.DONE
            sim.bus.devices["smoke"].set("smoke", False)
            await ctx.commands.handlers["reset"](Command("r2", "smoke", "reset", {}, 0, 1e12))
            assert sim.bus.devices["smoke"].get("smoke") is False
            with pytest.raises(CommandError, match="no action 'reset'"):
                await ctx.commands.handlers["reset"](Command("r3", "relay", "reset", {}, 0, 1e12))
            with pytest.raises(CommandError, match="no writable device 'nobody'"):
                await ctx.commands.handlers["pulse"](Command("r4", "nobody", "pulse", {"channel": 1}, 0, 1e12))
            await async_wait_for(lambda: component.scheduler.last_cycle_s is not None, what="a cycle")
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        assert not ctx.io.has("smoke"), "writers are unregistered when the component stops"


def test_build_components_one_per_bus_with_devices(tmp_path) -> None:
    config = make_config(
        tmp_path,
        1883,
        buses=[
            {"id": "a", "url": "/dev/ttyUSB0"},
            {"id": "b", "url": "tcp://127.0.0.1:502"},
            {"id": "empty", "url": "/dev/ttyUSB1"},
        ],
        devices=[
            {"id": "s1", "bus": "a", "profile": "uniguard_smoke", "unit_id": 1},
            {"id": "g1", "bus": "b", "profile": "generic_holding", "unit_id": 1},
            {"id": "g2", "bus": "b", "profile": "generic_holding", "unit_id": 2},
        ],
    )
    components = build_components(config)
    assert [(c.name, [d.id for d in c.devices]) for c in components] == [("bus:a", ["s1"]), ("bus:b", ["g1", "g2"])]
