"""In-process fan-out: components that watch a device field (a door contact) and views that watch events.

Subscriptions are bounded queues; a slow subscriber loses its oldest items, never blocks the pipeline.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import defaultdict
from collections.abc import AsyncIterator
from typing import Any

from edge.core.types import Event, Reading

SUBSCRIBER_QUEUE = 1000


def _offer(queue: asyncio.Queue[Any], item: object) -> None:
    if queue.full():
        with contextlib.suppress(asyncio.QueueEmpty):
            queue.get_nowait()
    queue.put_nowait(item)


class Hub:
    def __init__(self) -> None:
        self._field_watchers: dict[tuple[str, str], list[asyncio.Queue[Reading]]] = defaultdict(list)
        self._event_watchers: list[asyncio.Queue[Event]] = []

    def readings(self, device: str, key: str) -> asyncio.Queue[Reading]:
        """A queue that receives every reading of ``device``'s field ``key`` from now on."""
        queue: asyncio.Queue[Reading] = asyncio.Queue(SUBSCRIBER_QUEUE)
        self._field_watchers[(device, key)].append(queue)
        return queue

    def publish_reading(self, reading: Reading) -> None:
        watchers = self._field_watchers.get((reading.device, reading.key))
        if watchers:
            for queue in watchers:
                _offer(queue, reading)

    @contextlib.asynccontextmanager
    async def subscribe_events(self) -> AsyncIterator[asyncio.Queue[Event]]:
        queue: asyncio.Queue[Event] = asyncio.Queue(SUBSCRIBER_QUEUE)
        self._event_watchers.append(queue)
        try:
            yield queue
        finally:
            self._event_watchers.remove(queue)

    def publish_event(self, event: Event) -> None:
        for queue in self._event_watchers:
            _offer(queue, event)
