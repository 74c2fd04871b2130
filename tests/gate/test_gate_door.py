"""The door: forced and held-open alarms from the contact, through the core's hub and alarm book."""

from __future__ import annotations

import asyncio
import contextlib

from edge.core.types import AlarmState, Reading, Severity
from edge.gate.config import DoorConfig
from edge.gate.door import FORCED, HELD_OPEN, Door
from tests.edge.gwrun import running
from tests.support import async_wait_for, free_port, make_config


class Relay:
    def __init__(self) -> None:
        self.writes: list[tuple[str, dict]] = []

    async def __call__(self, action: str, args: dict) -> None:
        self.writes.append((action, args))


@contextlib.asynccontextmanager
async def door_watching(tmp_path, **door):
    config = make_config(tmp_path, free_port())
    cfg = DoorConfig(relay_device="relay1", contact_device="door1", contact_key="open", **door)
    async with running(config) as gw:
        relay = Relay()
        gw.io.register("relay1", relay)
        d = Door("main", cfg)
        task = asyncio.create_task(d.watch(gw.ctx))
        await asyncio.sleep(0)  # let watch() subscribe to the contact
        try:
            yield gw, d, relay
        finally:
            task.cancel()


def contact(gw, value) -> None:
    gw.hub.publish_reading(Reading("door1", "open", value))


def open_alarms(gw) -> dict[str, AlarmState]:
    return {a.kind: a.state for a in gw.alarms.active() if a.device == "main"}


async def test_door_opened_without_unlock_is_forced(tmp_path) -> None:
    async with door_watching(tmp_path) as (gw, door, relay):
        contact(gw, False)
        contact(gw, True)
        await async_wait_for(lambda: FORCED in open_alarms(gw), 5, "forced-door alarm")
        alarm = next(a for a in gw.alarms.active() if a.kind == FORCED)
        assert alarm.severity is Severity.MAJOR and alarm.details["gate"] == "main"
        contact(gw, False)
        await async_wait_for(lambda: FORCED not in open_alarms(gw), 5, "forced-door alarm cleared")
        assert relay.writes == []


async def test_unlocked_door_is_not_forced_but_held_open_alarms(tmp_path) -> None:
    async with door_watching(tmp_path, held_open_s=1, unlock_s=2) as (gw, door, relay):
        contact(gw, False)
        await door.unlock(gw.ctx)
        assert relay.writes == [("pulse", {"channel": 0, "seconds": 2.0})]
        contact(gw, 1)  # the driver may report ints
        await async_wait_for(lambda: HELD_OPEN in open_alarms(gw), 5, "held-open alarm")
        assert FORCED not in open_alarms(gw)
        contact(gw, 0)
        await async_wait_for(lambda: not open_alarms(gw), 5, "alarms cleared on close")


async def test_inverted_contact_and_door_open_at_start(tmp_path) -> None:
    async with door_watching(tmp_path, contact_open_value=False, held_open_s=30) as (gw, door, relay):
        contact(gw, False)  # open at start-up: not forced
        await async_wait_for(lambda: door.is_open is True, 5)
        assert FORCED not in open_alarms(gw)
        contact(gw, True)  # closed
        contact(gw, False)  # opened again without unlock: forced
        await async_wait_for(lambda: FORCED in open_alarms(gw), 5, "forced-door alarm")
