"""The alarm book: lifecycle of every alarm (raised -> acknowledged -> cleared).

Sources report alarm *conditions* level-triggered (``update(device, kind, active=...)``); the book turns
them into lifecycle events, once per change: a condition that stays active raises one alarm, not one per
reading. An acknowledged alarm stays open until its condition clears; a cleared alarm that was never
acknowledged is still reported as cleared. Unacknowledged critical alarms are re-sent every
``resend_s`` so a platform that missed one hears it again.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field, replace
from typing import Any

from edge.core.types import AlarmState, Event, Severity, new_id


@dataclass(slots=True, frozen=True)
class AlarmUpdate:
    """A condition reported by a rule or a component: ``active`` True while it holds."""

    device: str
    kind: str
    active: bool
    severity: Severity = Severity.WARNING
    details: dict[str, Any] = field(default_factory=dict)


@dataclass(slots=True)
class Alarm:
    alarm_id: str
    device: str
    kind: str
    severity: Severity
    state: AlarmState
    raised_at: float
    details: dict[str, Any]
    acknowledged_at: float | None = None
    acknowledged_by: str | None = None
    last_sent: float = 0.0
    reminders: int = 0

    def event(self, state: AlarmState, *, ts: float, snapshot: bytes | None = None, **extra: Any) -> Event:
        return Event(
            kind=self.kind,
            device=self.device,
            severity=self.severity,
            state=state,
            details={**self.details, **extra},
            alarm_id=self.alarm_id,
            ts=ts,
            raised_at=self.raised_at,
            acknowledged_at=self.acknowledged_at,
            acknowledged_by=self.acknowledged_by,
            cleared_at=ts if state is AlarmState.CLEARED else None,
            snapshot_jpeg=snapshot,
        )


Emit = Callable[[Event], Awaitable[None]]


class AlarmBook:
    def __init__(self, emit: Emit, *, resend_s: float = 300.0, clock: Callable[[], float] = time.time) -> None:
        self._emit = emit
        self._resend_s = resend_s
        self._clock = clock
        self._open: dict[tuple[str, str], Alarm] = {}

    def active(self) -> list[Alarm]:
        """Open alarms (raised or acknowledged), most severe and oldest first."""
        order = list(Severity)
        return sorted(self._open.values(), key=lambda a: (-order.index(a.severity), a.raised_at))

    def get(self, alarm_id: str) -> Alarm | None:
        return next((a for a in self._open.values() if a.alarm_id == alarm_id), None)

    async def apply(self, updates: list[AlarmUpdate]) -> None:
        for u in updates:
            await self.update(u.device, u.kind, active=u.active, severity=u.severity, details=u.details)

    async def update(
        self,
        device: str,
        kind: str,
        *,
        active: bool,
        severity: Severity = Severity.WARNING,
        details: dict[str, Any] | None = None,
        snapshot: bytes | None = None,
    ) -> Alarm | None:
        key = (device, kind)
        alarm = self._open.get(key)
        now = self._clock()
        if active and alarm is None:
            alarm = Alarm(new_id(), device, kind, severity, AlarmState.RAISED, now, dict(details or {}), last_sent=now)
            self._open[key] = alarm
            await self._emit(alarm.event(AlarmState.RAISED, ts=now, snapshot=snapshot))
        elif not active and alarm is not None:
            del self._open[key]
            await self._emit(alarm.event(AlarmState.CLEARED, ts=now))
            return None
        return alarm

    async def acknowledge(self, alarm_id: str, *, by: str) -> bool:
        """Acknowledge an open alarm; False if no such alarm is open. Acknowledging twice is harmless."""
        alarm = self.get(alarm_id)
        if alarm is None:
            return False
        if alarm.state is AlarmState.ACKNOWLEDGED:
            return True
        now = self._clock()
        alarm.state, alarm.acknowledged_at, alarm.acknowledged_by = AlarmState.ACKNOWLEDGED, now, by
        await self._emit(alarm.event(AlarmState.ACKNOWLEDGED, ts=now))
        return True

    async def resend_due(self) -> int:
        """Re-send unacknowledged critical alarms whose last message is older than ``resend_s``."""
        now = self._clock()
        due = [
            a for a in self._open.values()
            if a.severity is Severity.CRITICAL and a.state is AlarmState.RAISED and now - a.last_sent >= self._resend_s
        ]
        for alarm in due:
            alarm.last_sent, alarm.reminders = now, alarm.reminders + 1
            await self._emit(replace(alarm.event(AlarmState.RAISED, ts=now, reminder=alarm.reminders)))
        return len(due)
