"""The alarm book: lifecycle of every alarm, to its close (closed loop).

Sources report alarm *conditions* level-triggered (``update(device, kind, active=...)``); the book turns
them into lifecycle events, once per change: a condition that stays active raises one alarm, not one per
reading. People then take it through the loop:

    raised -> acknowledged -> in_handling (note: who was sent) -> resolved (note)

and the condition clears on its own (``cleared``). An alarm leaves the active list when its condition has
cleared and it is acknowledged (or resolved); one in handling stays until it is resolved. Alarms of the
severities in ``keep_until_acknowledged`` (critical and major by default) that clear before anyone
acknowledged them stay listed, marked cleared, until someone does: nothing vanishes unseen. Lower severities
leave the list when they clear, as before.

Unacknowledged critical alarms are re-sent every ``resend_s`` (``details.reminder`` counts up). An alarm
not acknowledged within its severity's response target is escalated once: an ``alarm.escalated`` event
(a fact carrying the ``alarm_id``). Notes are ``alarm.note`` facts. Every step's event carries ``by`` and
``note`` where a person took it, and ``closed`` (True when the step took the alarm off the list).
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from edge.core.types import AlarmState, Event, Severity, new_id

ESCALATED_KIND = "alarm.escalated"
NOTE_KIND = "alarm.note"
NOTE_MAX = 500
SEVERITY_RANK = {s: i for i, s in enumerate(Severity)}


class AlarmError(Exception):
    """A person's step that cannot be taken (no such open alarm, wrong order, empty note)."""


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
    state: AlarmState  # where people are in the loop: raised, acknowledged, in_handling, resolved
    raised_at: float
    details: dict[str, Any]
    acknowledged_at: float | None = None
    acknowledged_by: str | None = None
    handling_at: float | None = None
    handling_by: str | None = None
    handling_note: str | None = None
    resolved_at: float | None = None
    resolved_by: str | None = None
    resolved_note: str | None = None
    cleared_at: float | None = None  # the condition ended (None while it holds)
    escalated_at: float | None = None
    last_sent: float = 0.0
    reminders: int = 0

    @property
    def condition_active(self) -> bool:
        return self.cleared_at is None

    @property
    def acknowledged(self) -> bool:
        return self.state is not AlarmState.RAISED

    def event(
        self,
        state: AlarmState,
        *,
        ts: float,
        snapshot: bytes | None = None,
        by: str | None = None,
        note: str | None = None,
        closed: bool = False,
        **extra: Any,
    ) -> Event:
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
            cleared_at=self.cleared_at,
            by=by,
            note=note,
            closed=closed,
            snapshot_jpeg=snapshot,
        )

    def fact(self, kind: str, *, ts: float, by: str | None = None, note: str | None = None, **details: Any) -> Event:
        """A fact about this alarm (escalated, a note): it does not change the alarm's state."""
        return Event(
            kind=kind,
            device=self.device,
            severity=self.severity,
            state=None,
            details={"alarm_kind": self.kind, **details},
            alarm_id=self.alarm_id,
            ts=ts,
            raised_at=self.raised_at,
            by=by,
            note=note,
        )


Emit = Callable[[Event], Awaitable[None]]

DEFAULT_TARGETS = {Severity.CRITICAL: 300.0, Severity.MAJOR: 900.0}
DEFAULT_KEEP = (Severity.CRITICAL, Severity.MAJOR)


class AlarmBook:
    def __init__(
        self,
        emit: Emit,
        *,
        resend_s: float = 300.0,
        clock: Callable[[], float] = time.time,
        response_targets: dict[Severity, float] | None = None,
        keep_until_acknowledged: Iterable[Severity] = DEFAULT_KEEP,
    ) -> None:
        self._emit = emit
        self._resend_s = resend_s
        self._clock = clock
        self._targets = dict(DEFAULT_TARGETS if response_targets is None else response_targets)
        self._keep = frozenset(keep_until_acknowledged)
        self._open: dict[tuple[str, str], Alarm] = {}  # condition still active
        self._lingering: dict[str, Alarm] = {}  # condition cleared, loop not closed; by alarm id

    def active(self) -> list[Alarm]:
        """Alarms whose condition holds (raised, acknowledged, in handling), most severe and oldest first."""
        return _by_severity(self._open.values())

    def listed(self) -> list[Alarm]:
        """What a guard must see: ``active()`` plus alarms whose condition cleared but whose loop is open."""
        return _by_severity([*self._open.values(), *self._lingering.values()])

    def get(self, alarm_id: str) -> Alarm | None:
        lingering = self._lingering.get(alarm_id)
        if lingering is not None:
            return lingering
        return next((a for a in self._open.values() if a.alarm_id == alarm_id), None)

    def response_target(self, severity: Severity) -> float | None:
        return self._targets.get(severity)

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
            alarm.cleared_at = now
            closes = self._closes_on_clear(alarm)
            if not closes:
                self._lingering[alarm.alarm_id] = alarm
            await self._emit(alarm.event(AlarmState.CLEARED, ts=now, closed=closes))
            return None
        return alarm

    def _closes_on_clear(self, alarm: Alarm) -> bool:
        if alarm.state is AlarmState.IN_HANDLING:
            return False  # someone is on the way: the loop closes when they resolve it
        return alarm.acknowledged or alarm.severity not in self._keep

    def _close_if_done(self, alarm: Alarm) -> bool:
        """Take a lingering alarm off the list once its loop is closed; True if it went."""
        if alarm.condition_active or alarm.state is AlarmState.IN_HANDLING:
            return False
        return self._lingering.pop(alarm.alarm_id, None) is not None

    def _require(self, alarm_id: str) -> Alarm:
        alarm = self.get(alarm_id)
        if alarm is None:
            raise AlarmError(f"no open alarm {alarm_id}")
        return alarm

    async def acknowledge(self, alarm_id: str, *, by: str) -> bool:
        """Acknowledge a listed alarm; False if no such alarm is listed. Acknowledging twice is harmless."""
        alarm = self.get(alarm_id)
        if alarm is None:
            return False
        if alarm.acknowledged:
            return True
        now = self._clock()
        alarm.state, alarm.acknowledged_at, alarm.acknowledged_by = AlarmState.ACKNOWLEDGED, now, by
        closed = self._close_if_done(alarm)
        await self._emit(alarm.event(AlarmState.ACKNOWLEDGED, ts=now, by=by, closed=closed))
        return True

    async def start_handling(self, alarm_id: str, *, by: str, note: str) -> Alarm:
        """Someone was sent: acknowledges first if nobody had, then ``in_handling`` with the note."""
        alarm = self._require(alarm_id)
        note = _note(note)
        if alarm.state is AlarmState.RESOLVED:
            raise AlarmError(f"alarm {alarm_id} is already resolved")
        if not alarm.acknowledged:
            await self.acknowledge(alarm_id, by=by)
        now = self._clock()
        alarm.state, alarm.handling_at, alarm.handling_by, alarm.handling_note = AlarmState.IN_HANDLING, now, by, note
        if alarm.alarm_id not in self._lingering and not alarm.condition_active:
            self._lingering[alarm.alarm_id] = alarm  # acknowledged and cleared in one go, then sent: keep it
        await self._emit(alarm.event(AlarmState.IN_HANDLING, ts=now, by=by, note=note))
        return alarm

    async def resolve(self, alarm_id: str, *, by: str, note: str) -> Alarm:
        """Handled: ``resolved`` with the note; closes the alarm if its condition has cleared."""
        alarm = self._require(alarm_id)
        note = _note(note)
        if not alarm.acknowledged:
            await self.acknowledge(alarm_id, by=by)
        now = self._clock()
        alarm.state, alarm.resolved_at, alarm.resolved_by, alarm.resolved_note = AlarmState.RESOLVED, now, by, note
        closed = self._close_if_done(alarm)
        await self._emit(alarm.event(AlarmState.RESOLVED, ts=now, by=by, note=note, closed=closed))
        return alarm

    async def add_note(self, alarm_id: str, *, by: str, note: str) -> Alarm:
        alarm = self._require(alarm_id)
        await self._emit(alarm.fact(NOTE_KIND, ts=self._clock(), by=by, note=_note(note)))
        return alarm

    async def resend_due(self) -> int:
        """Re-send unacknowledged critical alarms whose last message is older than ``resend_s``; escalate
        alarms past their response target. Returns the number of reminders sent."""
        now = self._clock()
        due = [
            a
            for a in self._open.values()
            if a.severity is Severity.CRITICAL and a.state is AlarmState.RAISED and now - a.last_sent >= self._resend_s
        ]
        for alarm in due:
            alarm.last_sent, alarm.reminders = now, alarm.reminders + 1
            await self._emit(alarm.event(AlarmState.RAISED, ts=now, reminder=alarm.reminders))
        await self.escalate_due()
        return len(due)

    async def escalate_due(self) -> list[Alarm]:
        """Escalate, once each, listed alarms not acknowledged within their severity's response target."""
        now = self._clock()
        late = []
        for alarm in self.listed():
            target = self._targets.get(alarm.severity)
            if target is None or alarm.acknowledged or alarm.escalated_at is not None:
                continue
            if now - alarm.raised_at >= target:
                alarm.escalated_at = now
                late.append(alarm)
                await self._emit(
                    alarm.fact(ESCALATED_KIND, ts=now, target_s=target, waited_s=round(now - alarm.raised_at, 1))
                )
        return late


def _by_severity(alarms: Iterable[Alarm]) -> list[Alarm]:
    return sorted(alarms, key=lambda a: (-SEVERITY_RANK[a.severity], a.raised_at))


def _note(text: str) -> str:
    note = " ".join(str(text).split())
    if not note:
        raise AlarmError("a note is required (who was sent, what was found)")
    if len(note) > NOTE_MAX:
        raise AlarmError(f"the note is longer than {NOTE_MAX} characters")
    return note
