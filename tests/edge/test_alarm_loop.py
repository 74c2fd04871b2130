"""The closed loop in the alarm book: acknowledged -> in handling -> resolved, lingering cleared alarms,
response targets and escalation, every step an event with who and when."""

from __future__ import annotations

import pytest

from edge.core.types import AlarmState, Event, Severity
from edge.pipeline.alarm_book import ESCALATED_KIND, NOTE_KIND, AlarmBook, AlarmError


class Clock:
    def __init__(self) -> None:
        self.now = 1_800_000_000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def book() -> tuple[AlarmBook, list[Event], Clock]:
    events: list[Event] = []
    clock = Clock()

    async def emit(event: Event) -> None:
        events.append(event)

    return AlarmBook(emit, clock=clock, response_targets={Severity.CRITICAL: 300.0}), events, clock


async def test_a_critical_alarm_that_clears_itself_stays_listed_until_acknowledged(book) -> None:
    alarms, events, clock = book
    alarm = await alarms.update("smoke-1", "smoke_concentration", active=True, severity=Severity.CRITICAL)
    clock.now += 3
    await alarms.update("smoke-1", "smoke_concentration", active=False)
    assert alarms.active() == []  # the condition is gone ...
    listed = alarms.listed()  # ... but the guard still sees it
    assert [a.alarm_id for a in listed] == [alarm.alarm_id]
    assert listed[0].cleared_at == clock.now and listed[0].state is AlarmState.RAISED
    assert events[-1].state is AlarmState.CLEARED and events[-1].closed is False
    clock.now += 10
    assert await alarms.acknowledge(alarm.alarm_id, by="console:guard")
    assert alarms.listed() == []
    ack = events[-1]
    assert ack.state is AlarmState.ACKNOWLEDGED and ack.closed is True and ack.by == "console:guard"
    assert ack.acknowledged_at - ack.raised_at == 13


async def test_a_warning_that_clears_leaves_the_list_at_once(book) -> None:
    alarms, events, _ = book
    await alarms.update("bin-1", "bin_full", active=True, severity=Severity.WARNING)
    await alarms.update("bin-1", "bin_full", active=False)
    assert alarms.listed() == []
    assert events[-1].closed is True


async def test_in_handling_then_resolved_with_notes_and_who(book) -> None:
    alarms, events, clock = book
    alarm = await alarms.update("gate-1", "door.forced", active=True, severity=Severity.MAJOR)
    clock.now += 20
    await alarms.start_handling(alarm.alarm_id, by="console:guard", note="  sent   Wang to the north gate ")
    # handling acknowledges first when nobody had
    assert [e.state for e in events] == [AlarmState.RAISED, AlarmState.ACKNOWLEDGED, AlarmState.IN_HANDLING]
    assert events[-1].note == "sent Wang to the north gate"
    # the condition clears while Wang is on the way: the alarm stays until it is resolved
    await alarms.update("gate-1", "door.forced", active=False)
    assert [a.alarm_id for a in alarms.listed()] == [alarm.alarm_id]
    await alarms.add_note(alarm.alarm_id, by="console:guard", note="Wang is there")
    assert events[-1].kind == NOTE_KIND and events[-1].alarm_id == alarm.alarm_id and events[-1].state is None
    clock.now += 100
    await alarms.resolve(alarm.alarm_id, by="console:guard", note="a resident forgot the card; door closed")
    assert alarms.listed() == []
    resolved = events[-1]
    assert resolved.state is AlarmState.RESOLVED and resolved.closed is True
    assert resolved.to_dict()["by"] == "console:guard"


async def test_resolved_while_the_condition_holds_closes_when_it_clears(book) -> None:
    alarms, events, _ = book
    alarm = await alarms.update("smoke-2", "smoke", active=True, severity=Severity.CRITICAL)
    await alarms.resolve(alarm.alarm_id, by="g", note="false alarm: cooking")
    assert events[-1].closed is False and alarms.listed()
    await alarms.update("smoke-2", "smoke", active=False)
    assert events[-1].state is AlarmState.CLEARED and events[-1].closed is True
    assert alarms.listed() == []


async def test_steps_need_a_note_and_an_open_alarm(book) -> None:
    alarms, _, _ = book
    alarm = await alarms.update("smoke-3", "smoke", active=True, severity=Severity.CRITICAL)
    with pytest.raises(AlarmError, match="note is required"):
        await alarms.start_handling(alarm.alarm_id, by="g", note="   ")
    with pytest.raises(AlarmError, match="no open alarm"):
        await alarms.resolve("nope", by="g", note="x")
    with pytest.raises(AlarmError, match="longer than"):
        await alarms.add_note(alarm.alarm_id, by="g", note="x" * 501)


async def test_a_missed_response_target_escalates_once(book) -> None:
    alarms, events, clock = book
    alarm = await alarms.update("btn-1", "emergency_button", active=True, severity=Severity.CRITICAL)
    warning = await alarms.update("bin-2", "bin_full", active=True, severity=Severity.WARNING)
    clock.now += 299
    assert await alarms.escalate_due() == []
    clock.now += 1
    late = await alarms.escalate_due()
    assert [a.alarm_id for a in late] == [alarm.alarm_id]
    escalated = events[-1]
    assert escalated.kind == ESCALATED_KIND and escalated.alarm_id == alarm.alarm_id
    assert escalated.details["target_s"] == 300 and escalated.details["alarm_kind"] == "emergency_button"
    clock.now += 600
    assert await alarms.escalate_due() == []  # once
    assert warning.escalated_at is None  # no target for warnings


async def test_an_acknowledged_alarm_is_not_escalated(book) -> None:
    alarms, _, clock = book
    alarm = await alarms.update("btn-2", "emergency_button", active=True, severity=Severity.CRITICAL)
    await alarms.acknowledge(alarm.alarm_id, by="g")
    clock.now += 1000
    assert await alarms.escalate_due() == []
