"""Device health and access entries: pure functions, from tables."""

from __future__ import annotations

import pytest

from edge.core.types import Event, Severity
from edge.web.views import AccessEntry, Health, alarm_sort_key, device_health, fmt_age, is_access_event


@pytest.mark.parametrize(
    ("online", "values", "kinds", "status", "battery", "low", "faults"),
    [
        (None, {}, [], Health.UNKNOWN, None, False, ()),
        (True, {"fill_pct": 40}, [], Health.ONLINE, None, False, ()),
        (False, {"fault": True}, ["device.offline"], Health.OFFLINE, None, False, ("fault",)),
        (True, {"service_alarm": True}, [], Health.FAULT, None, False, ("service_alarm",)),
        (True, {"service_alarm": False, "smoke": True}, ["smoke"], Health.ONLINE, None, False, ()),
        (True, {"mounted": False}, [], Health.FAULT, None, False, ("not mounted",)),
        (True, {"mounted": True}, [], Health.ONLINE, None, False, ()),
        (True, {"tamper": 1}, [], Health.FAULT, None, False, ("tamper",)),
        (True, {"battery_pct": 81}, [], Health.ONLINE, (81.0, "%"), False, ()),
        (True, {"battery_v": 2.38}, ["low_battery"], Health.ONLINE, (2.38, "V"), True, ()),
        (True, {"low_battery": True}, [], Health.ONLINE, None, True, ()),
        (True, {}, ["sensor_fault"], Health.FAULT, None, False, ("sensor_fault",)),
        (True, {"battery": True}, [], Health.ONLINE, None, False, ()),  # a flag, not a level
        (
            True,
            {"distance": None, "distance_fault": "no_echo"},
            [],
            Health.FAULT,
            None,
            False,
            ("distance_fault=no_echo",),
        ),
        (True, {"distance": 80, "distance_fault": None}, [], Health.ONLINE, None, False, ()),
    ],
)
def test_device_health(online, values, kinds, status, battery, low, faults) -> None:
    health = device_health(online, values, kinds)
    assert health.status is status
    assert (health.battery, health.battery_unit) == (battery or (None, None))
    assert health.low_battery is low
    assert health.faults == faults


def test_access_entries_from_gate_events() -> None:
    event = Event(
        kind="access.denied",
        device="gate-east",
        severity=Severity.WARNING,
        details={"distance": 0.71, "result": "stranger"},
        snapshot_jpeg=b"\xff\xd8" + b"x" * 100,
    )
    entry = AccessEntry.from_event(event, max_snapshot=1000)
    assert (entry.gate, entry.result, entry.person, entry.distance) == ("gate-east", "stranger", None, 0.71)
    assert entry.to_dict()["snapshot"] is True and entry.to_dict()["reason"] is None
    assert AccessEntry.from_event(event, max_snapshot=50).snapshot is None  # too large to keep
    named = AccessEntry.from_fields(
        id="1",
        ts=0,
        device="cam",
        kind="access.granted",
        severity="info",
        details={"gate": "gate-west", "person": "Ada", "distance": True, "reason": "resident"},
    )
    assert (named.gate, named.result, named.person, named.distance) == ("gate-west", "granted", "Ada", None)
    assert named.reason == "resident"


@pytest.mark.parametrize(
    ("kind", "state", "expected"),
    [
        ("access.granted", None, True),
        ("gate.decision", None, True),
        ("access.forced", "raised", False),
        ("smoke", None, False),
    ],
)
def test_access_events_are_facts_from_gates(kind, state, expected) -> None:
    assert is_access_event(kind, state) is expected


def test_alarms_sort_most_severe_then_oldest() -> None:
    rows = [("warning", 1.0), ("critical", 5.0), ("critical", 2.0), ("bogus", 0.0), ("info", 0.5)]
    assert sorted(rows, key=lambda r: alarm_sort_key(*r)) == [
        ("critical", 2.0),
        ("critical", 5.0),
        ("warning", 1.0),
        ("info", 0.5),
        ("bogus", 0.0),
    ]


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        (-3, "0s"),
        (42.9, "42s"),
        (303, "5m03s"),
        (7800, "2h10m"),
        (273600, "3d04h"),
    ],
)
def test_ages(seconds: float, text: str) -> None:
    assert fmt_age(seconds) == text


def test_topics_carry_no_nan_or_infinity() -> None:
    from edge.web.live import Topics

    topics = Topics()
    topics.publish("alarms", [{"details": {"level": float("nan"), "tilt": float("inf"), "ok": 1.5}}])
    assert topics.latest("alarms") == '[{"details":{"level":null,"tilt":null,"ok":1.5}}]'


def test_access_snapshots_stay_within_their_memory_budget(tmp_path) -> None:
    from types import SimpleNamespace

    from edge.web.config import WebConfig
    from edge.web.live import LiveFeed
    from edge.web.pictures import AlarmPictures

    config = WebConfig(access_log_size=10, snapshot_max_bytes=4096, snapshot_budget_bytes=10_000)
    feed = LiveFeed(SimpleNamespace(), config, AlarmPictures(tmp_path, max_count=5, max_bytes=10_000))
    for n in range(5):
        feed.take(
            Event(
                kind="access.granted",
                device="gate",
                severity=Severity.INFO,
                details={"person": str(n)},
                snapshot_jpeg=bytes([n]) * 3000,
            )
        )
    feed.take(Event(kind="access.denied", device="gate", severity=Severity.INFO, snapshot_jpeg=b"x" * 5000))
    kept = [e.snapshot is not None for e in feed.access]
    # 3 x 3000 bytes fit the budget; the 2 oldest lost theirs, the newest was over snapshot_max_bytes
    assert kept == [False, False, True, True, True, False]
    assert sum(len(e.snapshot) for e in feed.access if e.snapshot) <= 10_000
    assert feed.snapshot_of(feed.access[4].id) == bytes([4]) * 3000
    assert [e.person for e in feed.access][:5] == ["0", "1", "2", "3", "4"]  # the log lines all remain
