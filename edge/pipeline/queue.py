"""The pipeline's entry: a bounded queue of readings that drivers await (back-pressure, never unbounded memory)."""

from __future__ import annotations

import asyncio
from collections import deque

from edge.core.types import Reading

DRAIN_BATCH = 5000


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
            self._items.extend(readings[i : i + room])
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
