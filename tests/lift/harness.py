"""A Context assembled from the core's own parts (alarm book, device registry, hub, io router, metrics),
for driving lift components without the uplink."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from edge.config import GatewayConfig
from edge.core.hub import Hub
from edge.core.io import IoRouter
from edge.core.metrics import Metrics
from edge.core.runtime import CommandHandler, Context
from edge.core.types import Event
from edge.lift.config import LiftConfig
from edge.pipeline.alarm_book import AlarmBook
from edge.pipeline.devices import DeviceRegistry
from edge.pipeline.queue import ReadingQueue


class Commands:
    def __init__(self) -> None:
        self.handlers: dict[str, CommandHandler] = {}

    def register(self, action: str, handler: CommandHandler, *, args: object = None) -> None:
        if action in self.handlers:
            raise ValueError(f"action {action!r} already has a handler")
        self.handlers[action] = handler


class Relay:
    """The relay board's writer as the io router sees it; records writes, fails on demand."""

    def __init__(self) -> None:
        self.writes: list[tuple[str, dict[str, Any]]] = []
        self.channels: dict[int, bool] = {}
        self.fail: Exception | None = None

    async def __call__(self, action: str, args: dict[str, Any]) -> None:
        if self.fail is not None:
            raise self.fail
        self.writes.append((action, args))
        if action == "set":
            self.channels[args["channel"]] = args["on"]


class Harness:
    def __init__(self, tmp_path: Path, *lifts: LiftConfig) -> None:
        self.events: list[Event] = []
        self.alarms = AlarmBook(self.emit)
        self.devices = DeviceRegistry(self.alarms)
        self.hub = Hub()
        self.io = IoRouter()
        self.relay = Relay()
        self.io.register("relay-1", self.relay)
        self.commands = Commands()
        config = GatewayConfig(site_id="s1", gateway_id="g1", data_dir=tmp_path, lifts=list(lifts))
        self.ctx = Context(
            config=config,
            readings=ReadingQueue(100),
            alarms=self.alarms,
            devices=self.devices,
            commands=self.commands,
            hub=self.hub,
            io=self.io,
            metrics=Metrics(),
            data_dir=tmp_path,
            emit=self.emit,
        )

    async def emit(self, event: Event) -> None:
        self.events.append(event)
        self.hub.publish_event(event)

    def kinds(self) -> list[str]:
        return [e.kind if e.state is None else f"{e.kind}:{e.state.value}" for e in self.events]
