"""The alarm history: every step stored with who and when, search filters, CSV, retention, per-day summary,
and a real gateway recording while its uplink is down."""

from __future__ import annotations

import csv
import io
import sqlite3
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry

from edge.app import Gateway
from edge.core.types import Event, Severity
from edge.pipeline.alarm_book import AlarmBook
from edge.pipeline.alarm_history import AlarmHistory, HistoryQuery
from tests.support import async_wait_for, free_port, make_config

EVENT_SCHEMA_TEXT = (Path(__file__).resolve().parents[2] / "docs" / "schemas" / "v1" / "event.json").read_text()


class Clock:
    def __init__(self) -> None:
        self.now = 1_800_000_000.0  # 2027-01-15 08:00 UTC

    def __call__(self) -> float:
        return self.now


def wired(tmp_path: Path, **kwargs) -> tuple[AlarmBook, AlarmHistory, Clock]:
    clock = Clock()
    areas = {"smoke-b3": "block 3", "gate-n": "north gate", "bin-a": "bin yard"}
    history = AlarmHistory(tmp_path / "history.db", area_of=areas.get, clock=clock, **kwargs)

    async def emit(event: Event) -> None:
        history.record(event)

    return AlarmBook(emit, clock=clock, response_targets={Severity.CRITICAL: 60.0}), history, clock


async def test_every_step_is_stored_with_who_and_when(tmp_path: Path) -> None:
    book, history, clock = wired(tmp_path)
    alarm = await book.update("smoke-b3", "smoke", active=True, severity=Severity.CRITICAL, details={"value": 684})
    clock.now += 61
    await book.resend_due()  # escalates (target 60 s)
    await book.acknowledge(alarm.alarm_id, by="console:guard")
    clock.now += 30
    await book.start_handling(alarm.alarm_id, by="console:guard", note="sent Li to block 3")
    await book.add_note(alarm.alarm_id, by="console:chief", note="fire brigade called")
    await book.update("smoke-b3", "smoke", active=False)
    clock.now += 300
    await book.resolve(alarm.alarm_id, by="console:guard", note="burnt toast, flat 302")
    history.record_action(
        user="guard",
        role="installer",
        action="reset",
        target="smoke-b3",
        alarm_id=alarm.alarm_id,
        reason="detector latched",
        result="done",
    )

    steps = history.steps(alarm.alarm_id)
    assert [s.step for s in steps] == [
        "raised",
        "escalated",
        "acknowledged",
        "in_handling",
        "note",
        "cleared",
        "resolved",
        "reset",
    ]
    assert steps[3].by == "console:guard" and steps[3].note == "sent Li to block 3"
    assert steps[4].by == "console:chief"
    record = history.get(alarm.alarm_id)
    assert record.area == "block 3" and record.state == "resolved" and record.closed_at == clock.now
    assert record.response_s == 61.0 and record.handling_s == 330.0
    assert record.escalated_at is not None and record.details == {"value": 684}
    assert history.audit()[0].action == "reset" and history.audit()[0].reason == "detector latched"
    # the file is its own SQLite database in WAL mode
    assert sqlite3.connect(tmp_path / "history.db").execute("PRAGMA journal_mode").fetchone()[0] == "wal"


async def test_search_filters_by_time_area_kind_severity_and_state(tmp_path: Path) -> None:
    book, history, clock = wired(tmp_path)
    smoke = await book.update("smoke-b3", "smoke", active=True, severity=Severity.CRITICAL)
    clock.now += 3600
    forced = await book.update("gate-n", "door.forced", active=True, severity=Severity.MAJOR)
    await book.acknowledge(forced.alarm_id, by="g")
    await book.update("gate-n", "door.forced", active=False)
    clock.now += 3600
    full = await book.update("bin-a", "bin_full", active=True, severity=Severity.WARNING)

    def ids(**filters) -> list[str]:
        return [r.alarm_id for r in history.search(HistoryQuery(**filters))]

    assert ids() == [full.alarm_id, forced.alarm_id, smoke.alarm_id]  # newest first
    assert ids(area="north gate") == [forced.alarm_id]
    assert ids(kind="smoke") == [smoke.alarm_id]
    assert ids(severity="warning") == [full.alarm_id]
    assert ids(state="closed") == [forced.alarm_id]
    assert ids(state="open") == [full.alarm_id, smoke.alarm_id]
    assert ids(state="raised") == [full.alarm_id, smoke.alarm_id]
    assert ids(since=smoke.raised_at + 1, until=full.raised_at) == [forced.alarm_id]
    assert ids(limit=1, offset=1) == [forced.alarm_id]
    assert history.count(HistoryQuery(state="open")) == 2
    with pytest.raises(ValueError, match="state must be one of"):
        HistoryQuery(state="burning")
    with pytest.raises(ValueError, match="limit"):
        HistoryQuery(limit=0)


async def test_csv_export_has_a_row_per_alarm_in_site_time(tmp_path: Path) -> None:
    book, history, clock = wired(tmp_path)
    alarm = await book.update(
        "smoke-b3",
        "smoke_concentration",
        active=True,
        severity=Severity.CRITICAL,
        details={"field": "concentration", "value": 684, "threshold": 300},
    )
    clock.now += 42
    await book.acknowledge(alarm.alarm_id, by="console:王")
    text = history.export_csv(HistoryQuery(), timezone="Asia/Shanghai")
    rows = list(csv.DictReader(io.StringIO(text)))
    assert len(rows) == 1
    row = rows[0]
    assert row["alarm_id"] == alarm.alarm_id and row["acknowledged_by"] == "console:王"
    assert row["raised_at"] == "2027-01-15T16:00:00+08:00"  # 08:00 UTC in Shanghai
    assert row["response_s"] == "42.0" and row["area"] == "block 3"
    assert '"threshold": 300' in row["details"]


async def test_retention_deletes_old_closed_alarms_only(tmp_path: Path) -> None:
    book, history, clock = wired(tmp_path, retention_days=1)
    old = await book.update("bin-a", "bin_full", active=True)
    await book.update("bin-a", "bin_full", active=False)
    still_open = await book.update("smoke-b3", "smoke", active=True, severity=Severity.CRITICAL)
    clock.now += 2 * 86_400
    assert history.prune() == 1
    assert history.get(old.alarm_id) is None and history.steps(old.alarm_id) == []
    assert history.get(still_open.alarm_id) is not None


async def test_the_history_survives_a_restart_and_bounds_its_size(tmp_path: Path) -> None:
    book, history, clock = wired(tmp_path)
    for i in range(5):
        clock.now += 1
        await book.update(f"d{i}", "bin_full", active=True)
        await book.update(f"d{i}", "bin_full", active=False)
    history.close()
    reopened = AlarmHistory(tmp_path / "history.db", max_alarms=1000, clock=clock)
    assert reopened.count(HistoryQuery()) == 5
    reopened._max_alarms = 3
    assert reopened.prune() == 2
    assert reopened.count(HistoryQuery()) == 3


async def test_daily_summary_and_response_metrics(tmp_path: Path) -> None:
    registry = CollectorRegistry()
    book, history, clock = wired(tmp_path, registry=registry)
    a = await book.update("smoke-b3", "smoke", active=True, severity=Severity.CRITICAL)
    clock.now += 30
    await book.acknowledge(a.alarm_id, by="g")
    b = await book.update("gate-n", "door.forced", active=True, severity=Severity.CRITICAL)
    clock.now += 90
    await book.acknowledge(b.alarm_id, by="g")
    await book.resolve(b.alarm_id, by="g", note="closed the door")
    days = history.daily_summary(days=2, timezone="Asia/Shanghai")
    assert [d.day for d in days] == ["2027-01-15"]
    day = days[0]
    assert (day.alarms, day.acknowledged, day.resolved) == (2, 2, 1)
    assert day.mean_response_s == 60.0 and day.max_response_s == 90.0 and day.mean_handling_s == 0.0
    assert registry.get_sample_value("edge_alarm_response_seconds_count", {"severity": "critical"}) == 2
    assert registry.get_sample_value("edge_alarm_response_seconds_sum", {"severity": "critical"}) == 120
    assert registry.get_sample_value("edge_alarm_handling_seconds_count", {"severity": "critical"}) == 1


async def test_a_gateway_records_history_while_its_uplink_is_down(tmp_path: Path) -> None:
    config = make_config(tmp_path, free_port())  # nothing listens there
    gateway = Gateway(config)
    import asyncio

    task = asyncio.create_task(gateway.run())
    try:
        await async_wait_for(lambda: gateway.started.is_set(), 10, "the gateway to start")
        alarm = await gateway.alarms.update("smoke-1", "smoke", active=True, severity=Severity.CRITICAL)
        await gateway.alarms.acknowledge(alarm.alarm_id, by="platform")
        assert not gateway.uplink.connected.is_set()
        record = gateway.history.get(alarm.alarm_id)
        assert record is not None and record.state == "acknowledged"
        assert gateway.history.path == config.data_dir / "history.db"
    finally:
        gateway.stop()
        await asyncio.wait_for(task, 30)


async def test_every_loop_step_on_the_wire_matches_the_event_schema(tmp_path: Path, mosquitto) -> None:
    import asyncio
    import json

    import jsonschema

    from tests.support import Subscriber

    schema = json.loads(EVENT_SCHEMA_TEXT)
    config = make_config(tmp_path, mosquitto.port, alarms={"response_target_s": {"critical": 1}})
    sub = Subscriber(mosquitto.host, mosquitto.port, ["ce/v1/site1/gw1/events/#"]).start()
    gateway = Gateway(config)
    task = asyncio.create_task(gateway.run())
    try:
        await async_wait_for(lambda: gateway.started.is_set(), 10, "the gateway to start")
        book = gateway.alarms
        alarm = await book.update("smoke-1", "smoke", active=True, severity=Severity.CRITICAL, details={"value": 1})
        await async_wait_for(lambda: book.get(alarm.alarm_id).escalated_at, 10, "the escalation (target 1 s)")
        await book.start_handling(alarm.alarm_id, by="console:guard", note="派小王")
        await book.add_note(alarm.alarm_id, by="console:guard", note="已到场")
        await book.update("smoke-1", "smoke", active=False)
        await book.resolve(alarm.alarm_id, by="console:guard", note="误报")
        wanted = ["raised", "alarm.escalated", "acknowledged", "in_handling", "alarm.note", "cleared", "resolved"]

        def steps() -> list[str]:
            return [
                m.json()["state"] or m.json()["kind"]
                for m in sub.snapshot()
                if m.json().get("alarm_id") == alarm.alarm_id
            ]

        await async_wait_for(lambda: steps() == wanted, 15, f"the steps {wanted} on the broker")
        for message in sub.snapshot():
            jsonschema.validate(message.json(), schema)
        resolved = [m.json() for m in sub.snapshot() if m.json().get("state") == "resolved"][0]
        assert resolved["closed"] is True and resolved["note"] == "误报" and resolved["by"] == "console:guard"
        assert gateway.history.get(alarm.alarm_id).closed_at is not None
    finally:
        sub.stop()
        gateway.stop()
        await asyncio.wait_for(task, 30)
