"""The bus scheduler: the one owner of an RS-485 line (or a Modbus TCP endpoint).

- one transaction at a time, and the 3.5-character silence (plus configured turnaround) after each;
- each device read in the fewest transactions its profile allows (blocks planned in drivers/profile/blocks.py);
- per-device poll intervals, earliest due first (round robin when several are due);
- a device that fails ``offline_after`` polls in a row is offline: it is then tried once (no retries)
  with a doubling back-off, so a dead unit costs the live ones almost nothing;
- writes (commands) go between polls: at most one write action, then the next due poll, so a burst of
  commands cannot starve polling and polling cannot delay a command by more than one device poll;
- a port that disappears is reopened every ``reconnect_s``; its devices go offline meanwhile.

The scheduler talks to the rest of the gateway through a ``PollSink`` (values, availability), so it is
tested without the core, and the component (drivers/component.py) plugs it into the Context.
"""

from __future__ import annotations

import asyncio
import functools
import heapq
import logging
import time
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Protocol, TypeVar

from drivers.config import BusConfig
from drivers.device import DeviceSpec, Write
from drivers.link import DeviceException, LinkError, ModbusLink, NoAnswer
from drivers.modbus import silence
from drivers.profile import DecodeError

log = logging.getLogger(__name__)
T = TypeVar("T")


class PollSink(Protocol):
    async def values(self, device: str, values: dict[str, Any], ts: float) -> None: ...

    async def availability(self, device: str, online: bool, reason: str) -> None: ...


class Link(Protocol):
    @property
    def connected(self) -> bool: ...

    async def connect(self) -> bool: ...

    def close(self) -> None: ...

    async def read(self, unit: int, table: Any, address: int, count: int) -> list[int]: ...

    async def write(self, unit: int, table: Any, address: int, value: int) -> None: ...


class WriteFailed(Exception):
    """A device write action failed; the message says which device and why."""


@dataclass
class DeviceState:
    spec: DeviceSpec
    index: int = 0  # position in the bus's device list: breaks ties between devices due at the same time
    next_due: float = 0.0
    failures: int = 0
    online: bool | None = None
    backoff: float = 0.0
    polls: int = 0
    failed_polls: int = 0
    last_poll: float | None = None
    last_error: str = ""
    faults: dict[str, str | None] = field(default_factory=dict)


@dataclass
class PendingWrite:
    device: str
    action: str
    writes: list[Write]
    done: asyncio.Future[None]


@dataclass
class BusStats:
    transactions: int = 0
    timeouts: int = 0
    writes: int = 0
    reconnects: int = 0


class BusScheduler:
    def __init__(
        self,
        cfg: BusConfig,
        devices: list[DeviceSpec],
        sink: PollSink,
        *,
        link: Link | None = None,
        on_cycle: Callable[[float], None] | None = None,
    ) -> None:
        self.cfg = cfg
        self.sink = sink
        self.link: Link = link or ModbusLink(cfg)
        self.devices = {d.id: DeviceState(d, i) for i, d in enumerate(devices)}
        # due times of the devices; an entry whose time is no longer its device's next_due is stale, skipped
        self._due: list[tuple[float, int, DeviceState]] = [(s.next_due, s.index, s) for s in self.devices.values()]
        heapq.heapify(self._due)
        self.stats = BusStats()
        self._silence = 0.0 if cfg.is_tcp else silence(cfg.baudrate)
        self._quiet_until = 0.0
        self._writes: deque[PendingWrite] = deque()
        self._waiter: asyncio.Future[None] | None = None  # set while idle; a write or the due time ends it
        self._port_down_logged = False
        self._on_cycle = on_cycle
        self._cycle_start = 0.0
        self._cycle_left: set[str] = set()
        self.last_cycle_s: float | None = None

    # --- public API -----------------------------------------------------------------------------------

    async def write(self, device: str, action: str, args: dict[str, Any]) -> None:
        """Run a profile write action on ``device`` between polls; raises ValueError or WriteFailed."""
        state = self.devices.get(device)
        if state is None:
            raise ValueError(f"device {device!r} is not on bus {self.cfg.id!r}")
        writes = state.spec.writes(action, args)
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._writes.append(PendingWrite(device, action, writes, done))
        self._wake_up()
        await done

    async def run(self) -> None:
        try:
            while True:
                if not self.link.connected and not await self._reconnect():
                    continue
                did_write = False
                if self._writes:
                    await self._do_write(self._writes.popleft())
                    did_write = True
                state = self._next_due()
                if state is not None and state.next_due <= time.monotonic():
                    await self._poll(state)
                elif not did_write:
                    await self._idle(state)
        finally:
            self.link.close()
            for pending in self._writes:
                if not pending.done.done():
                    pending.done.set_exception(WriteFailed(f"bus {self.cfg.id} stopped"))

    # --- scheduling -----------------------------------------------------------------------------------

    def _next_due(self) -> DeviceState | None:
        """The device due first (the first in list order among those due at the same time)."""
        due = self._due
        while due:
            at, _, state = due[0]
            if at == state.next_due:
                return state
            heapq.heappop(due)
        return None

    def _set_due(self, state: DeviceState, at: float) -> None:
        state.next_due = at
        heapq.heappush(self._due, (at, state.index, state))

    def _wake_up(self) -> None:
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    async def _idle(self, state: DeviceState | None) -> None:
        """Wait until the next device is due or a write arrives.

        A future and a timer rather than wait_for: this runs once per poll cycle of every bus, and
        wait_for's task, cancellation and TimeoutError cost more than the wait itself.
        """
        if self._writes:
            return
        loop = asyncio.get_running_loop()
        self._waiter = waiter = loop.create_future()
        timer = None
        if state is not None:
            timer = loop.call_later(max(0.0, state.next_due - time.monotonic()), self._wake_up)
        try:
            await waiter
        finally:
            self._waiter = None
            if timer is not None:
                timer.cancel()

    async def _reconnect(self) -> bool:
        self.link.close()
        if await self.link.connect():
            if self._port_down_logged:
                log.info("bus %s: port %s is back", self.cfg.id, self.cfg.url)
            self._port_down_logged = False
            self.stats.reconnects += 1
            return True
        if not self._port_down_logged:
            log.warning(
                "bus %s: cannot open %s; retrying every %.1f s", self.cfg.id, self.cfg.url, self.cfg.reconnect_s
            )
            self._port_down_logged = True
        now = time.monotonic()
        for state in self.devices.values():
            if state.next_due <= now:
                await self._failed(state, f"port {self.cfg.url} unavailable", now)
        while self._writes:
            pending = self._writes.popleft()
            if not pending.done.done():
                pending.done.set_exception(WriteFailed(f"bus {self.cfg.id}: port {self.cfg.url} unavailable"))
        await asyncio.sleep(self.cfg.reconnect_s)
        return False

    # --- transactions ---------------------------------------------------------------------------------

    async def _transaction(self, call: Callable[[], Awaitable[T]], *, retries: int) -> T:
        """Run ``call()`` (one request) keeping the silence; retries on NoAnswer only."""
        attempt = 0
        while True:
            wait = self._quiet_until - time.monotonic()
            if wait > 0:
                await asyncio.sleep(wait)
            self.stats.transactions += 1
            try:
                return await call()
            except NoAnswer:
                self.stats.timeouts += 1
                if attempt >= retries or not self.link.connected:
                    raise
                attempt += 1
            finally:
                self._quiet_until = time.monotonic() + self._silence + self.cfg.turnaround_s

    async def _poll(self, state: DeviceState) -> None:
        spec = state.spec
        start = time.monotonic()
        if state.last_poll is not None and spec.poll_s > 0:
            self._set_due(state, max(state.next_due + spec.poll_s, start))
        else:
            self._set_due(state, start + spec.poll_s)
        state.last_poll = start
        state.polls += 1
        retries = self.cfg.retries if state.online is not False else 0
        values: dict[str, Any] = {}
        error: str | None = None
        for block in spec.blocks:
            unit = spec.units[block.part]
            try:
                words = await self._transaction(
                    functools.partial(self.link.read, unit, block.table, block.address, block.count), retries=retries
                )
                keys = block.word_keys
                if keys is not None and len(words) == len(keys):
                    values.update(zip(keys, words, strict=True))  # one plain register per field: nothing to decode
                    continue
                decoded = spec.decode(block, words)
            except NoAnswer as exc:
                error = f"unit {unit} ({block.part}) did not answer: {exc}"
                break
            except DeviceException as exc:
                log.warning("device %s: %s reading %s %d+%d", spec.id, exc, block.table, block.address, block.count)
                continue
            except DecodeError as exc:
                log.warning("device %s: %s", spec.id, exc)
                continue
            for key, d in decoded.items():
                values[key] = d.value
                if d.fault != state.faults.get(key) and (d.fault or key in state.faults):
                    state.faults[key] = d.fault
                    values[f"{key}_fault"] = d.fault
        ts = time.time()
        if values:
            try:
                values.update(spec.derive(values))
            except DecodeError as exc:
                log.warning("device %s: %s", spec.id, exc)
        if error is not None:
            await self._failed(state, error, time.monotonic())
        else:
            await self._succeeded(state)
        self._count_cycle(spec.id, start)
        if values:
            await self.sink.values(spec.id, values, ts)

    def _count_cycle(self, device: str, start: float) -> None:
        """A cycle ends when every online device has been polled once since it began."""
        if not self._cycle_left:
            if self._cycle_start and self.devices[device].online:
                self.last_cycle_s = start - self._cycle_start
                if self._on_cycle is not None:
                    self._on_cycle(self.last_cycle_s)
            self._cycle_start = start
            self._cycle_left = {d for d, s in self.devices.items() if s.online is not False}
        self._cycle_left.discard(device)

    async def _succeeded(self, state: DeviceState) -> None:
        state.failures, state.backoff = 0, 0.0
        if state.online is not True:
            if state.online is False:
                log.info("device %s is back online", state.spec.id)
            state.online = True
            self._set_due(state, min(state.next_due, time.monotonic() + state.spec.poll_s))
            await self.sink.availability(state.spec.id, True, "")

    async def _failed(self, state: DeviceState, reason: str, now: float) -> None:
        state.failures += 1
        state.failed_polls += 1
        state.last_error = reason
        if state.failures < self.cfg.offline_after:
            self._set_due(state, max(state.next_due, now))  # keep its normal rate until declared offline
            return
        state.backoff = (
            self.cfg.backoff_initial_s if state.backoff == 0 else min(2 * state.backoff, self.cfg.backoff_max_s)
        )
        self._set_due(state, now + state.backoff)
        if state.online is not False:
            log.warning("device %s is offline after %d failed polls: %s", state.spec.id, state.failures, reason)
            state.online = False
            await self.sink.availability(state.spec.id, False, reason)

    async def _do_write(self, pending: PendingWrite) -> None:
        if pending.done.done():  # the caller gave up
            return
        self.stats.writes += 1
        try:
            for w in pending.writes:
                await self._transaction(
                    functools.partial(self.link.write, w.unit, w.table, w.address, w.value), retries=self.cfg.retries
                )
        except LinkError as exc:
            pending.done.set_exception(WriteFailed(f"device {pending.device}: {pending.action} failed: {exc}"))
        else:
            pending.done.set_result(None)
