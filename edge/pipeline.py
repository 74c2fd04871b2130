"""The one-way pipeline: readings -> rule stage -> outbox writer -> (outbox) -> uplink.

- ``ReadingQueue`` is the bounded entry point; drivers await ``put`` (back-pressure, never unbounded memory).
- ``RuleStage`` keeps the last known state of every device, feeds the rule engine, hands alarm updates to the
  alarm book, and passes readings on as telemetry.
- ``OutboxWriter`` turns pending readings and events into messages and stores them in one transaction per
  round (group commit): at a low rate each round carries a reading or two and latency stays at one fsync;
  at a high rate rounds grow and the cost per reading falls. Within a round, a device's telemetry precedes
  its events, so an alarm never overtakes the reading that caused it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import defaultdict, deque
from typing import TYPE_CHECKING

from edge.formats import UplinkFormat
from edge.outbox import Message, Outbox
from edge.types import Event, Reading, Severity

if TYPE_CHECKING:
    from edge.alarms import AlarmBook
    from edge.devices import DeviceRegistry
    from edge.hub import Hub
    from edge.metrics import Metrics
    from edge.rules import RuleEngine

log = logging.getLogger(__name__)

DRAIN_BATCH = 5000
IDLE_TICK_S = 1.0
BACKLOG_DEPTH = 256
BACKLOG_LINGER_S = 0.05


def _no_seq(stream: str) -> int:
    return 0


class ReadingQueue:
    """Bounded FIFO of readings. ``put`` and ``put_many`` wait while it is full (back-pressure).

    A deque with two events rather than asyncio.Queue: a Modbus poll yields a block of readings at once,
    and taking and giving them in blocks keeps the per-reading cost of the hot path low.
    """

    def __init__(self, maxsize: int) -> None:
        self.maxsize = maxsize
        self._items: deque[Reading] = deque()
        self._not_empty = asyncio.Event()
        self._not_full = asyncio.Event()
        self._not_full.set()

    async def put(self, reading: Reading) -> None:
        while len(self._items) >= self.maxsize:
            self._not_full.clear()
            await self._not_full.wait()
        self._items.append(reading)
        self._not_empty.set()

    async def put_many(self, readings: list[Reading]) -> None:
        """Queue a block of readings in order (one poll of a device); waits for room as it goes."""
        i = 0
        while i < len(readings):
            room = self.maxsize - len(self._items)
            if room <= 0:
                self._not_full.clear()
                await self._not_full.wait()
                continue
            self._items.extend(readings[i:i + room])
            i += room
            self._not_empty.set()

    def qsize(self) -> int:
        return len(self._items)

    async def get_batch(self, limit: int = DRAIN_BATCH) -> list[Reading]:
        """Wait for one reading, then take whatever else is already queued (up to ``limit``)."""
        while not self._items:
            self._not_empty.clear()
            await self._not_empty.wait()
        items = self._items
        n = min(limit, len(items))
        batch = [items.popleft() for _ in range(n)]
        self._not_full.set()
        return batch


class OutboxWriter:
    def __init__(
        self, outbox: Outbox, fmt: UplinkFormat, metrics: Metrics, *,
        max_readings_per_message: int, min_write_interval_s: float = 0.0, gateway_id: str = "gateway",
    ) -> None:
        self._outbox = outbox
        self._fmt = fmt
        self._metrics = metrics
        self._max_per_msg = max_readings_per_message
        self._min_interval = min_write_interval_s
        self._last_write = 0.0
        self._telemetry: dict[str, list[Reading]] = defaultdict(list)
        self._events: list[tuple[Event, asyncio.Future[None]]] = []
        self._states: list[Message] = []
        self._wake = asyncio.Event()
        self._urgent = asyncio.Event()
        self._seqs: dict[str, int] = {}
        self._advanced: set[str] = set()  # streams whose seq moved since the last write: only these are stored
        self.alarms: AlarmBook | None = None  # set by the app; raises outbox.full
        self._gateway_id = gateway_id
        self._full = False
        self._pending_readings = 0
        self._space = asyncio.Event()
        self._space.set()
        self.max_pending_readings = 50_000

    def add_readings(self, readings: list[Reading]) -> None:
        tel = self._telemetry
        for r in readings:
            tel[r.device].append(r)
        self._pending_readings += len(readings)
        if self._pending_readings >= self.max_pending_readings:
            self._space.clear()
        self._wake.set()

    async def wait_for_space(self) -> None:
        """Back-pressure for the rule stage while a round is on disk."""
        await self._space.wait()

    async def add_event(self, event: Event) -> None:
        """Queue an event and return once it is on disk (accepted)."""
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._events.append((event, done))
        self._wake.set()
        self._urgent.set()
        await done

    async def _linger(self, seconds: float) -> None:
        if seconds <= 0 or self._events:
            return
        self._urgent.clear()
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(seconds):
                await self._urgent.wait()

    def add_state(self, message: Message) -> None:
        self._states.append(message)
        self._wake.set()

    async def run(self) -> None:
        while True:
            await self._wake.wait()
            if self._outbox.depth > BACKLOG_DEPTH:
                # the uplink is behind: waiting makes fewer, bigger telemetry messages, which then wait
                # in the outbox anyway; an event cuts the wait short, so alarms are never held back
                await self._linger(BACKLOG_LINGER_S)
            else:
                # group commit: what arrives within the interval after a write shares the next one
                await self._linger(self._last_write + self._min_interval - time.monotonic())
            self._wake.clear()
            self._last_write = time.monotonic()
            await self.flush()

    async def flush(self) -> None:
        telemetry, self._telemetry = self._telemetry, defaultdict(list)
        events, self._events = self._events, []
        states, self._states = self._states, []
        self._pending_readings = 0
        self._space.set()
        if not (telemetry or events or states):
            return
        try:
            messages = await self._build(telemetry, [e for e, _ in events], states)
            advanced, self._advanced = self._advanced, set()
            result = await self._outbox.append(messages, {s: self._seqs[s] for s in advanced})
        except BaseException as exc:
            for _, done in events:
                if not done.done():
                    done.set_exception(exc if isinstance(exc, Exception) else RuntimeError("writer stopped"))
            raise
        for _, done in events:
            if not done.done():
                done.set_result(None)
        self._metrics.outbox_depth.set(result.depth)
        if result.evicted or result.dropped:
            self._metrics.outbox_evicted.inc(result.evicted + result.dropped)
        await self._track_bound(result.depth, result.evicted + result.dropped)

    async def _build(self, telemetry: dict[str, list[Reading]], events: list[Event],
                     states: list[Message]) -> list[Message]:
        streams = [e.device for e in events]
        if self._fmt.numbers_telemetry:
            streams += telemetry
        unknown = [s for s in streams if s not in self._seqs]
        if unknown:
            self._seqs.update(await self._outbox.next_stream_seqs(set(unknown)))
        messages: list[Message] = list(states)
        seq = self._next_seq if self._fmt.numbers_telemetry else _no_seq
        batches = [(device, seq(device), readings[i:i + self._max_per_msg])
                   for device, readings in telemetry.items()
                   for i in range(0, len(readings), self._max_per_msg)]
        messages += self._fmt.telemetry_batches(batches)
        for event in events:
            messages.append(self._fmt.event(event, self._next_seq(event.device)))
            self._metrics.events.labels(event.kind).inc()
        return messages

    def _next_seq(self, stream: str) -> int:
        self._seqs[stream] += 1
        self._advanced.add(stream)
        return self._seqs[stream]

    async def _track_bound(self, depth: int, lost: int) -> None:
        bound = self._outbox.max_messages
        if self.alarms is None:
            return
        if not self._full and (lost or depth >= bound):
            self._full = True
            asyncio.get_running_loop().create_task(self.alarms.update(
                self._gateway_id, "outbox.full", active=True, severity=Severity.MAJOR,
                details={"max_messages": bound, "depth": depth, "evicted": lost},
            ))
        elif self._full and depth < 0.9 * bound:
            self._full = False
            asyncio.get_running_loop().create_task(
                self.alarms.update(self._gateway_id, "outbox.full", active=False)
            )


class RuleStage:
    def __init__(
        self, queue: ReadingQueue, rules: RuleEngine, alarms: AlarmBook, devices: DeviceRegistry, hub: Hub,
        writer: OutboxWriter, metrics: Metrics, *, telemetry: bool = True,
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
