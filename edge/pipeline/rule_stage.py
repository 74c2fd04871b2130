"""The rule stage: takes readings off the queue, keeps each device's last state, feeds the rule engine, hands alarm
updates to the alarm book and passes readings on to the outbox writer as telemetry."""

from __future__ import annotations

import asyncio
import contextlib
import time
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from edge.core.hub import Hub
    from edge.core.metrics import Metrics
    from edge.pipeline.alarm_book import AlarmBook
    from edge.pipeline.devices import DeviceRegistry
    from edge.pipeline.queue import ReadingQueue
    from edge.pipeline.rules import RuleEngine
    from edge.pipeline.writer import OutboxWriter

IDLE_TICK_S = 1.0


class RuleStage:
    def __init__(
        self,
        queue: ReadingQueue,
        rules: RuleEngine,
        alarms: AlarmBook,
        devices: DeviceRegistry,
        hub: Hub,
        writer: OutboxWriter,
        metrics: Metrics,
        *,
        telemetry: bool = True,
    ) -> None:
        self._queue, self._rules, self._alarms = queue, rules, alarms
        self._devices, self._hub, self._writer, self._metrics = devices, hub, writer, metrics
        self._telemetry = telemetry
        self._wake_tick = asyncio.Event()
        self._tick_at = 0.0

    async def run(self) -> None:
        while True:
            batch = await self._queue.get_batch()
            now = time.time()
            updates = []
            observe, publish, feed = self._devices.observe, self._hub.publish_reading, self._rules.feed
            for reading in batch:
                observe(reading)
                publish(reading)
                found = feed(reading, now)
                if found:
                    updates.extend(found)
            self._metrics.readings.inc(len(batch))
            if self._telemetry:
                self._writer.add_readings(batch)
            if updates:
                await self._alarms.apply(updates)
            deadline = self._rules.next_deadline()
            if deadline is not None and deadline < self._tick_at:
                self._wake_tick.set()  # a hold started that ends before the tick would wake
            await self._writer.wait_for_space()

    async def tick(self) -> None:
        """Hold times elapse without new readings; unacknowledged critical alarms are re-sent.

        Sleeps until the earliest pending hold ends (at most IDLE_TICK_S), so an idle gateway stays idle.
        """
        while True:
            deadline = self._rules.next_deadline()
            now = time.time()
            delay = IDLE_TICK_S if deadline is None else min(IDLE_TICK_S, max(0.0, deadline - now))
            self._tick_at = now + delay
            self._wake_tick.clear()
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(delay):  # not wait_for: in 3.11 it can swallow a cancellation
                    await self._wake_tick.wait()
            updates = self._rules.tick(time.time())
            if updates:
                await self._alarms.apply(updates)
            await self._alarms.resend_due()
            self._metrics.reading_queue_depth.set(self._queue.qsize())
