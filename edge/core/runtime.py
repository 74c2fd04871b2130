"""What a component (a bus driver, a gate, a lift camera, the web console) gets from the core.

A component is anything with ``name`` and ``async run(ctx)``; the app starts each one as a named task in
one TaskGroup and cancels it on shutdown. Components talk to the core only through ``Context``:

- ``ctx.readings.put(reading)`` / ``put_many(readings)``: readings into the pipeline (await while the queue
  is full: back-pressure); ``put_many`` for the block of readings one poll gives;
- ``ctx.emit(event)``: a fact event (access decision, hold started) straight to the durable outbox;
- ``ctx.alarms.update(device, kind, active=..., severity=..., details=...)``: level-triggered alarm;
  the alarm book raises, re-sends and clears it (lifecycle raised -> acknowledged -> cleared);
- ``ctx.devices.set_availability(device, online, reason)``: online / offline events and retained topic;
- ``ctx.commands.register(action, handler)``: handle a verified platform command;
- ``ctx.hub``: watch one device field (``hub.readings(device, key)``) or every event (``hub.subscribe_events()``);
- ``ctx.io.write(device, action, args)``: a write action of a device's profile (unlock pulse, door hold, reset);
- ``ctx.metrics``: the prometheus registry (``edge.core.metrics``).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from edge.core.types import Command, CommandResult, Event

if TYPE_CHECKING:
    from edge.config import GatewayConfig
    from edge.core.hub import Hub
    from edge.core.io import IoRouter
    from edge.core.metrics import Metrics
    from edge.pipeline.alarm_book import AlarmBook
    from edge.pipeline.devices import DeviceRegistry
    from edge.pipeline.queue import ReadingQueue

CommandHandler = Callable[[Command], Awaitable[CommandResult]]


class CommandRegistry(Protocol):
    def register(self, action: str, handler: CommandHandler) -> None: ...


class Component(Protocol):
    name: str

    async def run(self, ctx: Context) -> None: ...


@dataclass(slots=True)
class Context:
    config: GatewayConfig
    readings: ReadingQueue
    alarms: AlarmBook
    devices: DeviceRegistry
    commands: CommandRegistry
    hub: Hub
    io: IoRouter
    metrics: Metrics
    data_dir: Path
    emit: Callable[[Event], Awaitable[None]]
