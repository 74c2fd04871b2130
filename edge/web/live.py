"""The console's live feed: in-process state turned into JSON topics that browsers receive by SSE.

The feed reads the alarm book and the device registry directly, never the broker, so the guard room
keeps working while the uplink is down. Each topic (``alarms``, ``devices``, ``access``) holds its latest
JSON text and a sequence number; a browser stream sends whatever changed since it last looked. A slow
browser therefore skips intermediate states instead of queueing them, and the gateway never blocks on it.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import functools
import json
import logging
import math
import time
from collections import deque
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from edge.core.types import Event
from edge.web.pictures import AlarmPictures
from edge.web.present import Presenter
from edge.web.views import AccessEntry, device_health, is_access_event

if TYPE_CHECKING:
    from edge.core.runtime import Context
    from edge.web.config import WebConfig

log = logging.getLogger(__name__)

TOPICS = ("alarms", "devices", "access")
TEXT_CACHE = 500


def _rounded(value: float | None) -> float | None:
    return None if value is None else round(value, 3)


def json_safe(value: Any) -> Any:
    """``value`` with NaN and infinities as None: browsers reject them in JSON, and one would break a topic."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [json_safe(v) for v in value]
    return value


class Topics:
    """Latest JSON text per topic with a global sequence number; waiters wake on any change."""

    def __init__(self) -> None:
        self._seq = 0
        self._latest: dict[str, tuple[int, str]] = {}
        self._changed = asyncio.Event()
        self.closed = False

    @property
    def seq(self) -> int:
        return self._seq

    def publish(self, topic: str, data: Any) -> bool:
        """Store ``data`` as the topic's value; False (and nobody woken) if it did not change."""
        text = json.dumps(json_safe(data), separators=(",", ":"), allow_nan=False)
        current = self._latest.get(topic)
        if current is not None and current[1] == text:
            return False
        self._seq += 1
        self._latest[topic] = (self._seq, text)
        self._wake()
        return True

    def since(self, seq: int) -> Iterator[tuple[str, int, str]]:
        """(topic, seq, json text) of every topic changed after ``seq``, oldest change first."""
        changed = [(s, t, text) for t, (s, text) in self._latest.items() if s > seq]
        for s, topic, text in sorted(changed):
            yield topic, s, text

    def latest(self, topic: str) -> str | None:
        entry = self._latest.get(topic)
        return entry[1] if entry else None

    async def wait(self, seq: int, within: float) -> None:
        """Return when something newer than ``seq`` exists, the feed closes, or ``within`` seconds pass."""
        if self._seq > seq or self.closed:
            return
        event = self._changed
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(within):
                await event.wait()

    def close(self) -> None:
        self.closed = True
        self._wake()

    def _wake(self) -> None:
        self._changed.set()
        self._changed = asyncio.Event()


class LiveFeed:
    """Keeps the topics current from the hub's events and a periodic look at the device registry."""

    def __init__(self, ctx: Context, config: WebConfig, pictures: AlarmPictures) -> None:
        self._ctx = ctx
        self._config = config
        self.topics = Topics()
        self.access: deque[AccessEntry] = deque(maxlen=config.access_log_size)
        self.started = time.time()
        self.followers = 0  # open browser streams; with none, topics are computed only when asked for
        self.pictures = pictures  # alarm id -> the picture its raised event carried, on disk
        self._texts: dict[str, dict[str, str]] = {}  # alarm id -> its details as sentences

    @functools.cached_property
    def present(self) -> Presenter:
        return Presenter(self._ctx.config)

    def snapshot_of(self, entry_id: str) -> bytes | None:
        return next((e.snapshot for e in self.access if e.id == entry_id), None)

    def refresh(self) -> None:
        """Recompute every topic from the current state (cheap; unchanged topics wake nobody)."""
        self.topics.publish("alarms", self.alarms_view())
        self.topics.publish("devices", self.devices_view())
        self.topics.publish("access", [e.to_dict() for e in reversed(self.access)])

    def alarms_view(self) -> list[dict[str, Any]]:
        book = self._ctx.alarms
        present = self.present
        return [
            {
                "alarm_id": a.alarm_id,
                "device": a.device,
                "device_name": present.device_name(a.device),
                "kind": a.kind,
                "severity": a.severity.value,
                "state": a.state.value,
                "raised_at": round(a.raised_at, 3),
                "acknowledged_at": _rounded(a.acknowledged_at),
                "acknowledged_by": a.acknowledged_by,
                "handling_by": a.handling_by,
                "handling_note": a.handling_note,
                "resolved_note": a.resolved_note,
                "cleared_at": _rounded(a.cleared_at),
                "escalated_at": _rounded(a.escalated_at),
                "target_s": book.response_target(a.severity),
                "area": (area := self._area(a.device)),
                "area_name": present.area_name(area),
                "details": a.details,
                "text": self._text_of(a.alarm_id, a.device, a.details),
                "snapshot": a.alarm_id in self.pictures,
            }
            for a in book.listed()
        ]

    def _text_of(self, alarm_id: str, device: str, details: dict[str, Any]) -> dict[str, str]:
        """The details as sentences, computed once per alarm (an alarm's details do not change)."""
        text = self._texts.get(alarm_id)
        if text is None:
            if len(self._texts) > 4 * TEXT_CACHE:
                listed = {a.alarm_id for a in self._ctx.alarms.listed()}
                self._texts = {k: v for k, v in self._texts.items() if k in listed}
            text = self._texts[alarm_id] = self.present.details(device, details)
        return text

    def devices_view(self) -> list[dict[str, Any]]:
        """Devices grouped by site area, areas in name order, devices without an area last."""
        kinds: dict[str, list[str]] = {}
        for alarm in self._ctx.alarms.active():
            kinds.setdefault(alarm.device, []).append(alarm.kind)
        areas: dict[str, list[dict[str, Any]]] = {}
        for d in self._ctx.devices.snapshot():
            health = device_health(d.online, d.values, kinds.get(d.id, ()))
            areas.setdefault(d.area or "", []).append(
                {
                    "id": d.id,
                    "name": self.present.device_name(d.id),
                    "profile": d.profile,
                    # a camera (no profile) reports by availability, not by readings: no stale "seen" age
                    "last_seen": round(d.last_seen, 1) if d.last_seen and (d.profile or not d.online) else None,
                    "reason": d.offline_reason,
                    **health.to_dict(),
                }
            )
        ordered = sorted(areas.items(), key=lambda item: (item[0] == "", item[0]))
        return [
            {
                "area": area or "unassigned",
                "area_name": self.present.area_name(area) if area else None,
                "devices": devices,
            }
            for area, devices in ordered
        ]

    def _area(self, device: str) -> str | None:
        state = self._ctx.devices.get(device)
        return state.area if state and state.area else self._ctx.config.area_of(device)

    def take(self, event: Event) -> None:
        self._keep_picture(event)
        if not is_access_event(event.kind, event.state):
            return
        self.access.append(AccessEntry.from_event(event, max_snapshot=self._config.snapshot_max_bytes))
        # bounded memory: past the budget, the oldest entries keep their line but lose their snapshot
        used = sum(len(e.snapshot) for e in self.access if e.snapshot)
        for i, entry in enumerate(self.access):
            if used <= self._config.snapshot_budget_bytes:
                break
            if entry.snapshot:
                used -= len(entry.snapshot)
                self.access[i] = dataclasses.replace(entry, snapshot=None)

    def _keep_picture(self, event: Event) -> None:
        """Keep an alarm's picture on disk, once (a re-sent alarm carries the same one again)."""
        alarm_id, jpeg = event.alarm_id, event.snapshot_jpeg
        if alarm_id and jpeg and len(jpeg) <= self._config.snapshot_max_bytes and alarm_id not in self.pictures:
            self.pictures.put(alarm_id, jpeg)

    async def run(self) -> None:
        """Follow the hub until cancelled; events in a burst are applied together, then topics refreshed."""
        self.refresh()
        async with asyncio.TaskGroup() as tg, self._ctx.hub.subscribe_events() as queue:
            tg.create_task(self._tick(), name="web.refresh")
            while True:
                self.take(await queue.get())
                while not queue.empty():
                    self.take(queue.get_nowait())
                if self.followers:
                    self.refresh()

    async def _tick(self) -> None:
        # device values (battery, last seen) change without events; look at them now and then
        while True:
            await asyncio.sleep(self._config.refresh_s)
            if self.followers:
                self.refresh()
