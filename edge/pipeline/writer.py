"""The outbox writer, the pipeline stage between the rule stage and the outbox.

``OutboxWriter`` turns pending readings and events into messages and stores them in one transaction per
  round (group commit): at a low rate each round carries a reading or two and latency stays at one fsync;
  at a high rate rounds grow and the cost per reading falls. Within a round, a device's telemetry precedes
  its events, so an alarm never overtakes the reading that caused it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import defaultdict
from typing import TYPE_CHECKING, Any

from edge.core.kinds import DISK_FULL, OUTBOX_FULL
from edge.core.types import Event, Reading, Severity
from edge.pipeline.formats import UplinkFormat
from edge.pipeline.outbox import DiskFull, Kind, Message, Outbox

if TYPE_CHECKING:
    from edge.core.metrics import Metrics
    from edge.pipeline.alarm_book import AlarmBook

log = logging.getLogger(__name__)

BACKLOG_DEPTH = 256
BACKLOG_LINGER_S = 0.05


def _no_seq(stream: str) -> int:
    return 0


class OutboxWriter:
    def __init__(
        self,
        outbox: Outbox,
        fmt: UplinkFormat,
        metrics: Metrics,
        *,
        max_readings_per_message: int,
        min_write_interval_s: float = 0.0,
        gateway_id: str = "gateway",
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
        # built messages that found the disk full: written first, in order, once there is room again
        self._carry: list[Message] = []
        self._carry_seqs: dict[str, int] = {}
        self._carry_events: list[asyncio.Future[None]] = []
        self.disk_full = False
        self.retry_s = 1.0

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
            if self.disk_full:  # retry the carried batch even if nothing new arrives
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(self.retry_s):
                        await self._wake.wait()
            else:
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
        if not (telemetry or events or states or self._carry):
            return
        try:
            messages = self._carry + await self._build(telemetry, [e for e, _ in events], states)
            advanced, self._advanced = self._advanced, set()
            seqs = {**self._carry_seqs, **{s: self._seqs[s] for s in advanced}}
            waiting = self._carry_events + [done for _, done in events]
            result = await self._outbox.append(messages, seqs)
        except DiskFull as exc:
            await self._disk_full(messages, seqs, waiting, exc)
            return
        except BaseException as exc:
            for _, done in events:
                if not done.done():
                    done.set_exception(exc if isinstance(exc, Exception) else RuntimeError("writer stopped"))
            raise
        self._carry, self._carry_seqs, self._carry_events = [], {}, []
        if self.disk_full:
            self.disk_full = False
            log.warning("outbox: the disk has room again; %d messages written", len(messages))
            self._alarm(DISK_FULL, False, {})
        for done in waiting:
            if not done.done():
                done.set_result(None)
        self._metrics.outbox_depth.set(result.depth)
        if result.evicted or result.dropped:
            self._metrics.outbox_evicted.inc(result.evicted + result.dropped)
        await self._track_bound(result.depth, result.evicted + result.dropped)

    async def _disk_full(
        self, messages: list[Message], seqs: dict[str, int], waiting: list[asyncio.Future[None]], exc: Exception
    ) -> None:
        """Keep what is not telemetry in memory, in order, and retry; new telemetry is refused and counted.
        The events' emitters keep waiting: an event counts as accepted only once it is on disk."""
        kept = [m for m in messages if m.kind is not Kind.TELEMETRY]
        refused = len(messages) - len(kept)
        if refused:
            self._metrics.outbox_refused.inc(refused)
        self._carry, self._carry_seqs, self._carry_events = kept, seqs, waiting
        if not self.disk_full:
            self.disk_full = True
            log.error("outbox: the disk is full (%s); %d messages held in memory, telemetry refused", exc, len(kept))
            self._alarm(DISK_FULL, True, {"path": str(self._outbox.path), "error": str(exc)})

    def _alarm(self, kind: str, active: bool, details: dict[str, Any]) -> None:
        if self.alarms is not None:  # a task: the alarm's own event waits for the disk like the others
            asyncio.get_running_loop().create_task(
                self.alarms.update(self._gateway_id, kind, active=active, severity=Severity.CRITICAL, details=details)
            )

    async def _build(
        self, telemetry: dict[str, list[Reading]], events: list[Event], states: list[Message]
    ) -> list[Message]:
        streams = [e.device for e in events]
        if self._fmt.numbers_telemetry:
            streams += telemetry
        unknown = [s for s in streams if s not in self._seqs]
        if unknown:
            self._seqs.update(await self._outbox.next_stream_seqs(set(unknown)))
        messages: list[Message] = list(states)
        seq = self._next_seq if self._fmt.numbers_telemetry else _no_seq
        batches = [
            (device, seq(device), readings[i : i + self._max_per_msg])
            for device, readings in telemetry.items()
            for i in range(0, len(readings), self._max_per_msg)
        ]
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
            asyncio.get_running_loop().create_task(
                self.alarms.update(
                    self._gateway_id,
                    OUTBOX_FULL,
                    active=True,
                    severity=Severity.MAJOR,
                    details={"max_messages": bound, "depth": depth, "evicted": lost},
                )
            )
        elif self._full and depth < 0.9 * bound:
            self._full = False
            asyncio.get_running_loop().create_task(self.alarms.update(self._gateway_id, OUTBOX_FULL, active=False))
